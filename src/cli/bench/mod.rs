//! Benchmarks.

use std::path::PathBuf;
use std::time::Duration;

use clap::Subcommand;

mod api;
mod events;
mod pipeline;
mod relay;

/// `vigie bench`'s arguments.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    which: BenchCommand,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    match args {
        Args {
            which:
                BenchCommand::Live {
                    cameras,
                    seconds,
                    composite_tiles,
                    direct,
                },
        } => pipeline::live(
            cameras,
            Duration::from_secs(seconds),
            composite_tiles,
            direct,
        ),
        Args {
            which:
                BenchCommand::Relay {
                    cameras,
                    clients,
                    seconds,
                    scale_cameras,
                    scale_fps,
                },
        } => relay::relay(
            cameras,
            clients,
            Duration::from_secs(seconds),
            scale_cameras,
            scale_fps,
        ),
        Args {
            which:
                BenchCommand::Camsim {
                    cameras,
                    seconds,
                    mtu,
                },
        } => pipeline::camsim(cameras, Duration::from_secs(seconds), mtu),
        Args {
            which:
                BenchCommand::Wall {
                    cameras,
                    screens,
                    tiles,
                    seconds,
                    fps,
                },
        } => pipeline::wall(cameras, screens, tiles, Duration::from_secs(seconds), fps),
        Args {
            which:
                BenchCommand::Events {
                    rate,
                    seconds,
                    senders,
                },
        } => events::events(rate, seconds, senders),
        Args {
            which: BenchCommand::Api(args),
        } => api::run(args),
        Args {
            which: BenchCommand::Index { cameras, days, dir },
        } => pipeline::index(cameras, days, dir.as_deref()),
        Args {
            which:
                BenchCommand::Record {
                    cameras,
                    seconds,
                    segment_seconds,
                },
        } => pipeline::record(
            cameras,
            Duration::from_secs(seconds),
            Duration::from_secs(segment_seconds.clamp(1, 3600)),
        ),
        Args {
            which:
                BenchCommand::Seek {
                    data,
                    camera,
                    seeks,
                    through_server,
                },
        } => pipeline::seek(&data, camera.as_deref(), seeks, through_server),
    }
}

#[derive(Subcommand)]
enum BenchCommand {
    /// The site server's API on a city-sized index: camera-day timelines, alarms pushed to
    /// workstations under 1,000 events/s, idle workstations' cost. Last line: JSON.
    Api(api::ApiBenchArgs),
    /// Event-to-alarm latency, a sustained event rate with none lost, and the live UI's frame
    /// time under it against the same UI idle (`vigie events` in process). Last line: JSON.
    Events {
        /// Events a second during the load phase.
        #[arg(long, default_value_t = 1000)]
        rate: u32,
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// Connections the events are sent over.
        #[arg(long, default_value_t = 8)]
        senders: u32,
    },
    /// N sub streams decoded and composited offscreen in one grid, against the decode floor
    /// (the same streams through rtspsrc..avdec..fakesink). Last line: JSON.
    Live {
        #[arg(long, default_value_t = 16)]
        cameras: u32,
        #[arg(long, default_value_t = 20)]
        seconds: u64,
        /// Also time the compositor alone with this many tiles (CPU per frame).
        #[arg(long, default_value_t = 96)]
        composite_tiles: u32,
        /// Straight from the simulator instead of through a site server.
        #[arg(long)]
        direct: bool,
    },
    /// The recording index: insert rate, seek lookups and camera-day timelines over a
    /// synthetic index of N cameras x D days of 60 s segments. Last line: JSON.
    Index {
        #[arg(long, default_value_t = 217)]
        cameras: u32,
        #[arg(long, default_value_t = 30)]
        days: u32,
        /// Where to build the index (default: a temporary folder, removed afterwards).
        #[arg(long)]
        dir: Option<PathBuf>,
    },
    /// The recorder's CPU against ffmpeg's stream copy on the same N main streams. Last
    /// line: JSON.
    Record {
        #[arg(long, default_value_t = 8)]
        cameras: u32,
        #[arg(long, default_value_t = 20)]
        seconds: u64,
        /// Segment length on both sides: short segments make many index commits (each one
        /// fsynced, the index being at synchronous=FULL).
        #[arg(long, default_value_t = 60)]
        segment_seconds: u64,
    },
    /// Random seeks over recorded footage against the decode of one GOP, and scrubbing. Last
    /// line: JSON.
    Seek {
        #[arg(long)]
        data: PathBuf,
        /// Camera to seek in (default: the first with recordings).
        #[arg(long)]
        camera: Option<String>,
        #[arg(long, default_value_t = 200)]
        seeks: usize,
        /// Also the same seeks through a site server started on the folder (loopback, TLS).
        #[arg(long)]
        through_server: bool,
    },
    /// A workstation's screens full of tiles, offscreen: unique decodes, render-thread CPU per
    /// round of all screens, GPU memory and RSS per stream, CPU per stream against one screen
    /// showing each stream once. Last line: JSON.
    Wall {
        #[arg(long, default_value_t = 217)]
        cameras: u32,
        #[arg(long, default_value_t = 16)]
        screens: u32,
        #[arg(long, default_value_t = 96)]
        tiles: u32,
        #[arg(long, default_value_t = 20)]
        seconds: u64,
        /// Pictures per second of the simulated sub streams (software decoding of 217 streams
        /// at 25 fps does not fit two cores).
        #[arg(long, default_value_t = 2)]
        fps: u32,
    },
    /// The simulator's own CPU when every camera's sub stream is played (looped clips).
    /// Live relay: the server's CPU per stream relayed for each workstation past the first
    /// against receiving it once, what a stream's being watched costs once, the latency the
    /// relay adds against a direct RTSP connection, and (--scale-cameras) the city's streams
    /// recorded and sent to four workstations.
    Relay {
        #[arg(long, default_value_t = 8)]
        cameras: u32,
        /// Workstations of the last relaying phase (at least 2: each past the first is what
        /// one more workstation costs).
        #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(2..))]
        clients: u32,
        #[arg(long, default_value_t = 15)]
        seconds: u64,
        /// Cameras of the scale phase (0: none).
        #[arg(long, default_value_t = 0)]
        scale_cameras: u32,
        /// Pictures a second of the scale phase's cameras.
        #[arg(long, default_value_t = 5)]
        scale_fps: u32,
    },
    Camsim {
        #[arg(long, default_value_t = 217)]
        cameras: u32,
        #[arg(long, default_value_t = 10)]
        seconds: u64,
        /// Largest RTP packet the simulator sends.
        #[arg(long, default_value_t = 1400)]
        mtu: u32,
    },
}
