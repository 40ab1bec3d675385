//! Takes the next picture of a stream through the live decode and GPU path into a PNG.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use crate::config::redact_url;
use crate::ingest::{IngestTimings, LiveStream, StreamSource, Transport};
use crate::media::{FrameSlot, StreamState};
use crate::render::{FULL_UV, Offscreen, StreamId, TileDraw};

use super::{Login, TransportArg, conn, evidence, url_credentials};

/// `vigie still`'s arguments.
#[derive(clap::Args)]
pub struct Args {
    /// rtsp:// URL (a live picture, for installers checking a camera; no index is
    /// involved). Credentials: --camera-user, and the password in $VIGIE_CAMERA_PASSWORD.
    #[arg(long, required_unless_present_any = ["data", "server"], conflicts_with_all = ["data", "server"])]
    url: Option<String>,
    /// A recorder's data folder (as the server's user): the recorded picture of --camera
    /// shown at --at, for the signed-in --user (logged in the audit log).
    #[arg(long, requires_all = ["camera", "at", "user"], conflicts_with = "server")]
    data: Option<PathBuf>,
    /// Or the site server (--server URL [--server-ca FILE]): the same picture, its GOP
    /// fetched over HTTPS and decoded and drawn here; the server checks and logs the still.
    #[command(flatten)]
    conn: conn::ServerConn,
    #[arg(long)]
    camera: Option<String>,
    /// RFC 3339 instant: the picture whose frame interval contains it.
    #[arg(long)]
    at: Option<String>,
    #[arg(long)]
    out: PathBuf,
    /// The camera's user name, with --url.
    #[arg(long)]
    camera_user: Option<String>,
    /// Vigie user, with --data: the password is asked, or read with --password-stdin.
    #[arg(long)]
    user: Option<String>,
    #[arg(long)]
    password_stdin: bool,
    /// Seconds to wait for a picture.
    #[arg(long, default_value_t = 15)]
    timeout: u64,
    #[arg(long, value_enum, default_value_t = TransportArg::Auto)]
    transport: TransportArg,
    /// With --url: converts the decoded picture to RGB on the CPU instead of drawing it
    /// through the GPU (a machine, or an emulator, without a usable GPU).
    #[arg(long, requires = "url")]
    no_gpu: bool,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    match args {
        Args {
            url: Some(url),
            out,
            camera_user: user,
            timeout,
            transport,
            no_gpu,
            ..
        } => still(
            &url,
            &out,
            user,
            Duration::from_secs(timeout),
            transport.into(),
            no_gpu,
        ),
        Args {
            data: Some(data),
            camera: Some(camera),
            at: Some(at),
            out,
            user: Some(user),
            password_stdin,
            ..
        } => evidence::recorded_still(
            &data,
            &camera,
            &at,
            &out,
            &Login {
                user,
                password_stdin,
            },
        ),
        Args {
            conn,
            camera: Some(camera),
            at: Some(at),
            out,
            user: Some(user),
            password_stdin,
            ..
        } if conn.server.is_some() => evidence::recorded_still_from_server(
            &conn,
            &camera,
            &at,
            &out,
            &Login {
                user,
                password_stdin,
            },
        ),
        Args { .. } => Err(anyhow::anyhow!(
            "still: give --url, or --server (or --data) with --camera, --at and --user"
        )),
    }
}

/// Draws `frame` alone at its own size through the compositor and writes it as a PNG;
/// returns the GPU adapter's name.
pub(super) fn write_still(
    frame: &crate::media::Frame,
    masks: &[crate::render::Polygon],
    out: &Path,
) -> anyhow::Result<String> {
    let mut gpu = Offscreen::new()?;
    gpu.upload(StreamId(0), frame);
    gpu.set_masks(StreamId(0), masks);
    let img = gpu.render(
        frame.width,
        frame.height,
        &[TileDraw {
            stream: StreamId(0),
            rect: [0.0, 0.0, 1.0, 1.0],
            uv: FULL_UV,
            brightness: 1.0,
        }],
    )?;
    img.write_png(out)
        .with_context(|| format!("writing {}", out.display()))?;
    Ok(gpu.adapter_name().to_owned())
}

fn still(
    url: &str,
    out: &Path,
    user: Option<String>,
    timeout: Duration,
    transport: Transport,
    no_gpu: bool,
) -> anyhow::Result<()> {
    let (clean, credential) = url_credentials(url, user);
    let shown = redact_url(url);
    let slot = FrameSlot::new();
    let source = StreamSource {
        label: "still".into(),
        url: clean,
        credential,
        transport,
    };
    let timings = IngestTimings {
        first_picture: timeout,
        ..IngestTimings::default()
    };
    let stream = LiveStream::open(source, slot.clone(), timings)?;
    let t0 = Instant::now();
    // A loss is retried (the supervisor reconnects) until the timeout, then said.
    let mut lost: Option<String> = None;
    let frame = loop {
        if let Some(f) = slot.take() {
            break f;
        }
        match slot.state() {
            StreamState::Failed { reason } => {
                stream.stop_and_join();
                bail!("{shown}: {reason}");
            }
            StreamState::Lost { reason, .. } => lost = Some(reason),
            _ => {}
        }
        if t0.elapsed() > timeout {
            stream.stop_and_join();
            match lost {
                Some(reason) => bail!("{shown}: {reason}"),
                None => bail!("{shown}: no picture within {} s", timeout.as_secs()),
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let decoder = slot.decoder();
    stream.stop_and_join();
    let adapter = if no_gpu {
        crate::render::RgbaImage {
            width: frame.width,
            height: frame.height,
            pixels: frame.to_rgba(),
        }
        .write_png(out)
        .with_context(|| format!("writing {}", out.display()))?;
        "converted on the CPU, no GPU".to_owned()
    } else {
        write_still(&frame, &[], out)?
    };
    eprintln!(
        "still: wrote {} ({}x{}, {decoder}, {adapter})",
        out.display(),
        frame.width,
        frame.height,
    );
    Ok(())
}
