//! Serves simulated cameras over RTSP: rtsp://ADDR/camNNN/main and /camNNN/sub.
//!
//! Reads commands on standard input: `stop camNNN`, `start camNNN`, `quit`.

use std::io::BufRead;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use crate::config::Credential;
use crate::sim::{CamSim, CamSimOptions, Codec, EncodeMode};

use super::{CodecArg, EncodeArg, alarms, write_cameras_file};

/// `vigie camsim`'s arguments.
#[derive(clap::Args)]
pub struct Args {
    #[arg(long, default_value_t = 4)]
    cameras: u32,
    #[arg(long, default_value = "127.0.0.1:8554")]
    listen: SocketAddr,
    /// live: each picture painted and encoded when sent (exact timecodes, costly);
    /// loop: pre-encoded clips sent in a loop (cheap, for many cameras).
    #[arg(long, value_enum, default_value_t = EncodeArg::Live)]
    encode: EncodeArg,
    /// With --encode loop: encode the first K cameras live all the same.
    #[arg(long, default_value_t = 0)]
    live_cameras: u32,
    #[arg(long, value_enum, default_value_t = CodecArg::H264)]
    codec: CodecArg,
    /// Frames per second.
    #[arg(long, default_value_t = 25)]
    fps: u32,
    /// Frames between keyframes.
    #[arg(long, default_value_t = 50)]
    gop: u32,
    /// Main stream size: 720p (1280x720) or 1080p (1920x1080).
    #[arg(long, default_value = "720p")]
    main_resolution: String,
    /// Main stream bitrate, kbit/s.
    #[arg(long, default_value_t = 2000)]
    main_kbps: u32,
    /// Sub stream bitrate, kbit/s.
    #[arg(long, default_value_t = 500)]
    sub_kbps: u32,
    /// Largest RTP packet, bytes. Larger packets cost the simulator less per frame.
    #[arg(long, default_value_t = 1400)]
    mtu: u32,
    /// Asks clients for this user name; the password is read from $VIGIE_CAMSIM_PASSWORD.
    #[arg(long)]
    auth_user: Option<String>,
    /// Writes a cameras file for the cameras served, then keeps serving. With --auth-user,
    /// the credentials go to a `camsim-credentials.toml` beside it (mode 0600).
    #[arg(long)]
    write_config: Option<PathBuf>,
    #[command(flatten)]
    events: alarms::SimEventArgs,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let Args {
        cameras,
        listen,
        encode,
        live_cameras,
        codec,
        fps,
        gop,
        main_resolution,
        main_kbps,
        sub_kbps,
        mtu,
        auth_user,
        write_config,
        events,
    } = args;
    let credential = match auth_user {
        None => None,
        Some(user) => {
            let password = std::env::var("VIGIE_CAMSIM_PASSWORD")
                .context("--auth-user: set the password in $VIGIE_CAMSIM_PASSWORD")?;
            Some(Credential { user, password })
        }
    };
    let main_size = match main_resolution.as_str() {
        "720p" | "1280x720" => (1280, 720),
        "1080p" | "1920x1080" => (1920, 1080),
        other => bail!("--main-resolution: {other:?} is not 720p or 1080p"),
    };
    let opts = CamSimOptions {
        cameras,
        listen,
        encode: match encode {
            EncodeArg::Live => EncodeMode::Live,
            EncodeArg::Loop => EncodeMode::Loop,
        },
        live_cameras,
        codec: match codec {
            CodecArg::H264 => Codec::H264,
            CodecArg::H265 => Codec::H265,
        },
        fps,
        gop,
        main_size,
        sub_size: (640, 360),
        main_kbps,
        sub_kbps,
        mtu,
        credential,
    };
    camsim(opts, write_config.as_deref(), &events)
}

fn camsim(
    opts: CamSimOptions,
    write_config: Option<&Path>,
    events: &alarms::SimEventArgs,
) -> anyhow::Result<()> {
    let n = opts.cameras;
    let credential = opts.credential.clone();
    let sim = CamSim::start(opts)?;
    if let Some(path) = write_config {
        write_cameras_file(path, &sim, credential.as_ref())?;
    }
    let event_sim = events.start(sim.cameras())?;
    eprintln!(
        "camsim: {n} cameras on rtsp://{}/cam001/main .. /cam{n:03}/sub",
        sim.addr()
    );
    eprintln!("camsim: commands on stdin: stop camNNN | start camNNN | press BUTTON | quit");
    let reply = |known: bool| if known { "ok" } else { "unknown camera" };
    // Commands on stdin; when stdin closes the simulator keeps serving until killed.
    for line in std::io::stdin().lock().lines() {
        let Ok(line) = line else { break };
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["stop", id] => println!("{}", reply(sim.stop_camera(id))),
            ["start", id] => println!("{}", reply(sim.restart_camera(id))),
            ["press", id] => println!(
                "{}",
                match &event_sim {
                    Some(e) if e.press(id) => "ok",
                    Some(_) => "unknown button",
                    None => "no event simulation: start with --events ADDR",
                }
            ),
            ["quit"] => return Ok(()),
            [] => {}
            _ => println!("unknown command: stop camNNN | start camNNN | press BUTTON | quit"),
        }
    }
    loop {
        std::thread::park();
    }
}
