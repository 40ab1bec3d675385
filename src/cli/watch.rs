//! `vigie watch`: live cameras through the site server without a window: subscribes on one
//! live connection, decodes every picture as the live wall does, and prints a line a second
//! per camera (pictures, state, skips, capture time) and a JSON summary at the end. An
//! installer's check of a remote workstation's link; the tests' and benchmarks' workstation.

use std::io::Write;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::client::relay::RelayClient;
use crate::config::StreamKind;
use crate::ingest::{IngestTimings, LiveStream};
use crate::media::{FrameSlot, StreamState, decode_timecode_luma};

use super::{Login, conn};

/// `vigie watch`'s arguments.
#[derive(clap::Args)]
pub struct Args {
    #[command(flatten)]
    conn: conn::ServerConn,
    #[command(flatten)]
    login: Login,
    /// Camera ids, comma-separated.
    #[arg(long, value_delimiter = ',', required = true)]
    cameras: Vec<String>,
    /// Which stream of each camera.
    #[arg(long, value_enum, default_value_t = StreamArg::Sub)]
    stream: StreamArg,
    /// How long to watch, seconds.
    #[arg(long, default_value_t = 10)]
    seconds: u64,
    /// Asks the server to keep this workstation's live video under this rate (kbit/s).
    #[arg(long)]
    max_kbps: Option<u32>,
    /// Reads each picture's timecode stripe (the simulator paints one) and reports how far
    /// the capture time shown is from it.
    #[arg(long)]
    stripe: bool,
    /// Stops reading the connection for SECS, N seconds in (a stalled workstation).
    #[arg(long, num_args = 2, value_names = ["AFTER", "SECS"], hide = true)]
    stall: Option<Vec<u64>>,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum StreamArg {
    Main,
    Sub,
}

/// What one camera's stream did.
#[derive(serde::Serialize, Default)]
struct Report {
    camera: String,
    /// Pictures decoded.
    pictures: u64,
    state: String,
    reason: String,
    skips: u64,
    /// Capture time of the last picture, UTC ms.
    last_capture_utc_ms: i64,
    /// Pictures whose capture time the server took from the camera's clock.
    timed_by_camera: u64,
    /// Largest |capture time - timecode stripe|, ms (with --stripe).
    stripe_max_error_ms: Option<i64>,
    /// Longest time without a new picture after the first, ms.
    longest_wait_ms: u64,
    /// At the end: the server sent keyframes only; the sub stream for the main stream.
    keyframes_only: bool,
    sub_for_main: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    if args.cameras.is_empty() {
        bail!("--cameras: name at least one camera");
    }
    let api = args.conn.sign_in(&args.login)?;
    let relay = Arc::new(RelayClient::start(&api, args.max_kbps).context("live connection")?);
    let kind = match args.stream {
        StreamArg::Main => StreamKind::Main,
        StreamArg::Sub => StreamKind::Sub,
    };
    let streams: Vec<(String, LiveStream)> = args
        .cameras
        .iter()
        .map(|c| {
            let slot = FrameSlot::new();
            LiveStream::relayed(relay.clone(), c, kind, slot, IngestTimings::default())
                .map(|s| (c.clone(), s))
        })
        .collect::<Result<_, _>>()?;
    let mut reports: Vec<Report> = args
        .cameras
        .iter()
        .map(|c| Report {
            camera: c.clone(),
            ..Default::default()
        })
        .collect();
    let mut last_new: Vec<Option<Instant>> = vec![None; streams.len()];
    let start = Instant::now();
    let mut next_line = start + Duration::from_secs(1);
    let mut stalled = false;
    let out = std::io::stdout();
    while start.elapsed() < Duration::from_secs(args.seconds) {
        if let Some(s) = &args.stall
            && !stalled
            && start.elapsed() >= Duration::from_secs(s[0])
        {
            stalled = true;
            relay.pause_reading(Duration::from_secs(s[1]));
        }
        for (i, (_, stream)) in streams.iter().enumerate() {
            let r = &mut reports[i];
            while let Some(f) = stream.slot().take() {
                r.pictures += 1;
                r.last_capture_utc_ms = f.capture_utc_ms;
                if !f.timed_on_arrival {
                    r.timed_by_camera += 1;
                }
                if let Some(t) = last_new[i] {
                    r.longest_wait_ms = r.longest_wait_ms.max(t.elapsed().as_millis() as u64);
                }
                last_new[i] = Some(Instant::now());
                if args.stripe {
                    let stripe = decode_timecode_luma(f.width, f.height, |x, y| f.luma_at(x, y));
                    if stripe > 0 {
                        let e = (f.capture_utc_ms - stripe).abs();
                        r.stripe_max_error_ms = Some(r.stripe_max_error_ms.unwrap_or(0).max(e));
                    }
                }
            }
        }
        if Instant::now() >= next_line {
            next_line += Duration::from_secs(1);
            let mut o = out.lock();
            for (i, (cam, stream)) in streams.iter().enumerate() {
                let st = stream.slot().state();
                let slot = stream.slot();
                let _ = writeln!(
                    o,
                    "{:>5.1} s {cam}: {} pictures, {}{}, {} skips{}{}",
                    start.elapsed().as_secs_f32(),
                    reports[i].pictures,
                    st.label(),
                    reason(&st).map(|r| format!(" ({r})")).unwrap_or_default(),
                    slot.relay_skips(),
                    if slot.relay_sub_for_main() {
                        ", sub stream (bandwidth cap)"
                    } else {
                        ""
                    },
                    if slot.relay_keyframes_only() {
                        ", keyframes only"
                    } else {
                        ""
                    },
                );
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    for (i, (_, stream)) in streams.iter().enumerate() {
        let st = stream.slot().state();
        reports[i].state = st.label().to_owned();
        reports[i].reason = reason(&st).unwrap_or_default();
        reports[i].skips = stream.slot().relay_skips();
        reports[i].keyframes_only = stream.slot().relay_keyframes_only();
        reports[i].sub_for_main = stream.slot().relay_sub_for_main();
    }
    for (_, s) in streams {
        s.stop_and_join();
    }
    println!("{}", serde_json::to_string(&reports)?);
    Ok(())
}

fn reason(s: &StreamState) -> Option<String> {
    match s {
        StreamState::Lost { reason, .. } | StreamState::Failed { reason } => Some(reason.clone()),
        _ => None,
    }
}
