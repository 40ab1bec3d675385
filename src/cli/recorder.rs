//! Records every camera's main stream into segment files indexed in DIR/index.sqlite3.
//! Runs until SIGTERM or SIGINT, then closes every segment cleanly and exits 0.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};

use crate::config::CamerasFile;

/// `vigie recorder`'s arguments.
#[derive(clap::Args)]
pub struct Args {
    #[arg(long)]
    cameras: PathBuf,
    #[arg(long)]
    data: PathBuf,
    /// Segment length (segments end at the first keyframe past it).
    #[arg(long, default_value_t = 60)]
    segment_seconds: u64,
    /// Free space to keep on the data file system, MiB: below it the oldest unheld
    /// footage is deleted and an alarm raised.
    #[arg(long, default_value_t = 1024)]
    reserve_mb: u64,
    /// A camera whose clock (RTCP sender reports) disagrees with the local clock by more
    /// than this is flagged and timed on arrival.
    #[arg(long, default_value_t = 2000)]
    max_clock_skew_ms: u64,
    /// Test clock: a file holding milliseconds added to the wall clock, re-read every
    /// second.
    #[arg(long, hide = true)]
    clock_offset_file: Option<PathBuf>,
    /// Test clock: how often retention runs, in milliseconds (a minute).
    #[arg(long, hide = true, default_value_t = 60_000)]
    retention_every_ms: u64,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let Args {
        cameras,
        data,
        segment_seconds,
        reserve_mb,
        max_clock_skew_ms,
        clock_offset_file,
        retention_every_ms,
    } = args;
    let opts = crate::record::recorder::RecorderOptions {
        segment: Duration::from_secs(segment_seconds),
        reserve_bytes: reserve_mb << 20,
        max_clock_skew: Duration::from_millis(max_clock_skew_ms),
        clock_offset_file,
        retention_every: Duration::from_millis(retention_every_ms.max(100)),
        ..Default::default()
    };
    recorder(&cameras, &data, opts)
}

fn recorder(
    cameras: &Path,
    data: &Path,
    opts: crate::record::recorder::RecorderOptions,
) -> anyhow::Result<()> {
    let segment_seconds = opts.segment.as_secs();
    let file = CamerasFile::load(cameras)?;
    if !(1..=3600).contains(&segment_seconds) {
        bail!("--segment-seconds must be 1 to 3600");
    }
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(sig, stop.clone()).context("installing signal handlers")?;
    }
    let rec = crate::record::recorder::Recorder::start(&file.cameras, data, &opts)?;
    eprintln!(
        "recorder: {} cameras into {}",
        file.cameras.len(),
        data.display()
    );
    while !stop.load(std::sync::atomic::Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!("recorder: stopping, closing segments");
    rec.stop();
    Ok(())
}
