//! Command-line front: parses arguments, sets up logging, runs one command, and turns errors
//! into a message on stderr and a non-zero exit status. `anyhow` lives here and nowhere below.

mod alarms;
mod bench;
mod bench_api;
mod bench_events;
mod evidence;
mod server;

use std::io::BufRead;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::{Parser, Subcommand, ValueEnum};

use crate::config::{CamerasFile, Credential, Layout, builtin_layouts, redact_url, split_userinfo};
use crate::events::service::TlsOptions;
use crate::ingest::{IngestTimings, LiveStream, StreamManager, StreamSource, Transport};
use crate::media::{FrameSlot, StreamState};
use crate::render::{FULL_UV, Offscreen, StreamId, TileDraw};
use crate::sim::{CamSim, CamSimOptions, Codec, EncodeMode};
use crate::ui::LiveWorkspace;

#[derive(Parser)]
#[command(
    name = "vigie",
    version,
    about = "Vigie: control-room video client (live wall, camera simulator, tools)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Starts the camera simulator with the demo city and opens the live wall on it.
    Demo {
        /// Cameras to simulate (the demo city has 217).
        #[arg(long, default_value_t = 217)]
        cameras: u32,
        /// How many of them are encoded live (exact clock); the others loop a clip.
        #[arg(long, default_value_t = 4)]
        live_cameras: u32,
        #[arg(long, default_value = "127.0.0.1:8554")]
        listen: SocketAddr,
        /// The recorder (its own process) records this many cameras' main streams.
        #[arg(long, default_value_t = 4)]
        record_cameras: u32,
        /// The recorder's data folder (default: $XDG_DATA_HOME/vigie/demo or
        /// ~/.local/share/vigie/demo).
        #[arg(long)]
        data: Option<PathBuf>,
        /// No simulated smart-camera events, alert-button presses or patrol cars (the event
        /// service still runs and takes events posted to it).
        #[arg(long)]
        no_simulated_events: bool,
    },
    /// Opens the live wall on the cameras of a cameras file.
    Live {
        /// Cameras file (TOML), with --data; without them the cameras come from the site
        /// server (--server, or client.toml), with their addresses and credentials.
        #[arg(long, requires = "data")]
        cameras: Option<PathBuf>,
        /// Layout: a layout file, or the name of a built-in one ("4x4", "12x8", "1 large + 12 small").
        #[arg(long)]
        layout: Option<String>,
        #[arg(long, value_enum, default_value_t = TransportArg::Tcp)]
        transport: TransportArg,
        /// The installation's data folder (its users sign in; "Review…" opens its recordings),
        /// on the server's machine as its user, instead of the site server.
        #[arg(long, requires = "cameras", conflicts_with_all = ["server", "server_ca"])]
        data: Option<PathBuf>,
        #[command(flatten)]
        conn: server::ServerConn,
        /// A workstation profile: a file, or a shipped one ("Supervisor wall", "Operator
        /// station"). Its screens open as windows, each with its layout and cameras.
        #[arg(long, conflicts_with = "layout")]
        workstation: Option<String>,
        /// This workstation's name, where the site's other workstations send wall commands
        /// (`vigie wall-send --to`); default: the machine's name.
        #[arg(long)]
        name: Option<String>,
        /// The map's background: an XYZ tile URL (http://gis/{z}/{x}/{y}.png, cached on disk),
        /// an .mbtiles file, or a .png with --map-bounds. Without it: a projected grid.
        #[arg(long)]
        map: Option<String>,
        /// SOUTH,WEST,NORTH,EAST in degrees: where a --map image lies.
        #[arg(long, value_delimiter = ',', num_args = 4)]
        map_bounds: Option<Vec<f64>>,
        /// The site's own CA (PEM), trusted for an https tile service besides the system's.
        #[arg(long)]
        map_ca: Option<PathBuf>,
        /// Motion zones (TOML, `[[motion]] camera, zone, sensitivity`): motion detection on
        /// the sub streams shown, events posted to --events. Off without it.
        #[arg(long, requires = "events")]
        motion: Option<PathBuf>,
        /// `vigie events` address, where motion events go.
        #[arg(long)]
        events: Option<SocketAddr>,
    },
    /// Sends a camera to a tile, or a layout, to a screen of another workstation of the site,
    /// through the site server (which checks and logs it); or lists the walls signed in.
    WallSend {
        #[command(flatten)]
        conn: server::ServerConn,
        /// The workstation's name (its `vigie live --name`, else its machine's).
        #[arg(long, required_unless_present = "list")]
        to: Option<String>,
        /// The screen's name there.
        #[arg(long, required_unless_present = "list")]
        screen: Option<String>,
        #[arg(long)]
        camera: Option<String>,
        /// 1-based tile (default: the screen's selected tile).
        #[arg(long, requires = "camera")]
        tile: Option<usize>,
        #[arg(long)]
        layout: Option<String>,
        /// Lists the workstations whose walls take commands now.
        #[arg(long, conflicts_with_all = ["to", "screen", "camera", "tile", "layout"])]
        list: bool,
        #[command(flatten)]
        login: Login,
    },
    /// Takes events (smart cameras, alert buttons) and patrol positions, and makes alarms:
    /// POST /v1/events, POST /v1/positions, GET /v1/health; positions also over UDP.
    Events {
        /// The installation's data folder (alarms go to its index).
        #[arg(long)]
        data: PathBuf,
        /// Cameras file: where each camera is, to link the nearest ones to an alarm.
        #[arg(long)]
        cameras: PathBuf,
        /// HTTP address (loopback by default: put a TLS proxy in front to open it wider).
        #[arg(long, default_value = "127.0.0.1:8610")]
        listen: SocketAddr,
        /// UDP address for vehicle positions, one JSON report per datagram.
        #[arg(long)]
        udp: Option<SocketAddr>,
        /// Alarm rules, alert buttons and event sources (TOML); built-in rules without it.
        #[arg(long)]
        rules: Option<PathBuf>,
        /// Also listens here with HTTPS, for senders on the network.
        #[arg(long, requires_all = ["tls_cert", "tls_key"])]
        tls_listen: Option<SocketAddr>,
        /// The HTTPS certificate chain (PEM).
        #[arg(long)]
        tls_cert: Option<PathBuf>,
        /// Its private key (PEM).
        #[arg(long)]
        tls_key: Option<PathBuf>,
    },
    /// Serves simulated cameras over RTSP: rtsp://ADDR/camNNN/main and /camNNN/sub.
    ///
    /// Reads commands on standard input: `stop camNNN`, `start camNNN`, `quit`.
    Camsim {
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
    },
    /// Takes the next picture of a stream through the live decode and GPU path into a PNG.
    Still {
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
        conn: server::ServerConn,
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
        #[arg(long, value_enum, default_value_t = TransportArg::Tcp)]
        transport: TransportArg,
    },
    /// The review workspace over a recorder's data folder: synced playback, timelines,
    /// bookmarks and holds.
    Review {
        /// The data folder, read directly (as the server's user), instead of the site server.
        #[arg(long, conflicts_with_all = ["server", "server_ca"])]
        data: Option<PathBuf>,
        #[command(flatten)]
        conn: server::ServerConn,
        /// Cameras to open in the grid, comma-separated ids.
        #[arg(long, value_delimiter = ',')]
        cameras: Vec<String>,
        /// RFC 3339 instant to start at (default: 10 s before the end of the recordings).
        #[arg(long)]
        at: Option<String>,
        /// Grid size: 1 to 4 (1, 2x2, 3x3, 4x4).
        #[arg(long, default_value_t = 2)]
        grid: usize,
    },
    /// Records every camera's main stream into segment files indexed in DIR/index.sqlite3.
    /// Runs until SIGTERM or SIGINT, then closes every segment cleanly and exits 0.
    Recorder {
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
    },
    /// The tamper-evident audit log.
    Audit {
        #[command(subcommand)]
        action: AuditCommand,
    },
    /// Privacy masks: polygons of a camera's picture never shown (administrators).
    Masks {
        #[command(subcommand)]
        action: MasksCommand,
    },
    /// Named user accounts and their roles.
    Users {
        #[command(subcommand)]
        action: UsersCommand,
    },
    /// The register (auditors, administrators): what is recorded per camera, every deletion,
    /// every export and transmission, every citizen's access request.
    Register {
        /// The data folder (as the server's user), instead of the site server.
        #[arg(long, conflicts_with_all = ["server", "server_ca"])]
        data: Option<PathBuf>,
        #[command(flatten)]
        conn: server::ServerConn,
        /// One JSON document instead of text.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        login: Login,
    },
    /// Legal holds: footage that retention and the disk budget never delete.
    Hold {
        #[command(subcommand)]
        action: HoldCommand,
    },
    /// Verifies the recorder's index against its files; exits non-zero naming what is wrong.
    Check {
        #[arg(long)]
        data: PathBuf,
        /// Also recompute every file's SHA-256.
        #[arg(long)]
        hash: bool,
    },
    /// Runs the site server: the recorder, the event service and the HTTPS API every
    /// workstation uses. Run it as the `vigie` system user, alone able to read the data folder.
    Server(server::ServerArgs),
    /// Lists the recorded segments of a camera, from the site server (or, run as the server's
    /// user on its machine, from the data folder).
    Recordings {
        /// The data folder (holds index.sqlite3), instead of asking the server.
        #[arg(long, conflicts_with_all = ["server", "server_ca"])]
        data: Option<PathBuf>,
        #[command(flatten)]
        conn: server::ServerConn,
        #[arg(long)]
        camera: String,
        /// RFC 3339 instant (default: 30 days ago).
        #[arg(long)]
        from: Option<String>,
        /// RFC 3339 instant (default: now).
        #[arg(long)]
        to: Option<String>,
        /// One JSON array instead of a table.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        login: Login,
    },
    /// Exports cameras' footage for a judicial requisition: one MP4 per camera (remuxed, not
    /// re-encoded), a signed manifest, SHA256SUMS and a README saying how to check them.
    Export {
        /// The data folder, instead of the site server (as the server's user).
        #[arg(long, conflicts_with_all = ["server", "server_ca"])]
        data: Option<PathBuf>,
        #[command(flatten)]
        conn: server::ServerConn,
        /// Camera ids, comma-separated.
        #[arg(long, value_delimiter = ',', required = true)]
        camera: Vec<String>,
        /// RFC 3339 instants.
        #[arg(long)]
        from: String,
        #[arg(long)]
        to: String,
        /// The folder to create (it may exist if empty).
        #[arg(long)]
        out: PathBuf,
        /// Requisition (procedure) number.
        #[arg(long)]
        requisition: String,
        /// The officer who asked.
        #[arg(long)]
        officer: String,
        #[arg(long)]
        reason: String,
        #[command(flatten)]
        login: Login,
    },
    /// A citizen's request to see images of themselves: a masked copy (privacy masks painted
    /// in, third parties pixelated, re-encoded) with a signed manifest, or a refusal with its
    /// ground; either way recorded with the identity check.
    AccessRequest {
        /// The data folder (as the server's user), instead of the site server.
        #[arg(long, conflicts_with_all = ["server", "server_ca"])]
        data: Option<PathBuf>,
        #[command(flatten)]
        conn: server::ServerConn,
        #[arg(long, value_delimiter = ',', required = true)]
        camera: Vec<String>,
        /// RFC 3339 instants.
        #[arg(long)]
        from: String,
        #[arg(long)]
        to: String,
        /// The request's reference.
        #[arg(long)]
        reference: String,
        /// Who asks.
        #[arg(long)]
        requester: String,
        /// How the identity was checked ("CNI no. ... seen by ...").
        #[arg(long)]
        identity_check: String,
        /// RFC 3339 instant the request was received (default: now).
        #[arg(long)]
        received: Option<String>,
        #[arg(long)]
        reason: String,
        /// The folder to create for the masked copy.
        #[arg(long, required_unless_present = "refuse", conflicts_with = "refuse")]
        out: Option<PathBuf>,
        /// A region to pixelate, CAMERA:"x,y x,y x,y ..." (picture fractions); repeatable.
        #[arg(long)]
        blur: Vec<String>,
        /// Refuses the request, on this ground.
        #[arg(long)]
        refuse: Option<String>,
        #[command(flatten)]
        login: Login,
    },
    /// Checks an export folder: the manifest's signature, every file against the manifest,
    /// SHA256SUMS; exits non-zero naming what fails.
    Verify {
        dir: PathBuf,
        /// The installation's public key (PEM) the signature must be by.
        #[arg(long, conflicts_with = "data")]
        key: Option<PathBuf>,
        /// Or the installation's data folder, whose public key the signature must be by.
        #[arg(long, conflicts_with = "fingerprint")]
        data: Option<PathBuf>,
        /// Or the SHA-256 of the installation's signing key, as the site publishes it (`vigie
        /// server` prints it at start): the signature must be by that key.
        #[arg(long, conflicts_with = "key")]
        fingerprint: Option<String>,
    },
    /// Benchmarks.
    Bench {
        #[command(subcommand)]
        which: BenchCommand,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Recomputes the chain of the audit log and checks every signed checkpoint; exits
    /// non-zero naming each edited, inserted, deleted or reordered entry and a cut tail.
    Verify {
        /// The data folder (as the server's user), instead of asking the site server.
        #[arg(long, conflicts_with_all = ["server", "server_ca"])]
        data: Option<PathBuf>,
        #[command(flatten)]
        conn: server::ServerConn,
        /// The auditor signing in at the server.
        #[arg(long, required_unless_present = "data")]
        user: Option<String>,
        #[arg(long)]
        password_stdin: bool,
    },
    /// Signs the log's current head into audit-checkpoints.log (the recorder does it every
    /// five minutes).
    Checkpoint {
        #[arg(long)]
        data: PathBuf,
    },
    /// Shows the log's entries (auditors), oldest first: from the site server, or with --data
    /// from the data folder (as the server's user).
    Show {
        #[arg(long, conflicts_with_all = ["server", "server_ca"])]
        data: Option<PathBuf>,
        #[command(flatten)]
        conn: server::ServerConn,
        /// RFC 3339 instants bounding the entries shown.
        #[arg(long)]
        from: Option<String>,
        #[arg(long)]
        to: Option<String>,
        /// Only the entries of this user.
        #[arg(long)]
        of: Option<String>,
        #[command(flatten)]
        login: Login,
    },
    /// Writes the whole log, with its hashes and the chain's verdict, as JSON into FILE and
    /// its Ed25519 signature into FILE.sig (auditors).
    Export {
        /// The data folder (as the server's user), instead of the site server.
        #[arg(long, conflicts_with_all = ["server", "server_ca"])]
        data: Option<PathBuf>,
        #[command(flatten)]
        conn: server::ServerConn,
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        login: Login,
    },
}

#[derive(Subcommand)]
enum MasksCommand {
    /// Adds a mask to a camera.
    Add {
        /// The data folder (as the server's user), instead of the site server.
        #[arg(long, conflicts_with_all = ["server", "server_ca"])]
        data: Option<PathBuf>,
        #[command(flatten)]
        conn: server::ServerConn,
        #[arg(long)]
        camera: String,
        /// Points as fractions of the picture's width and height, "x,y x,y x,y ..." (3 to
        /// 64 points, each from 0 to 1), e.g. "0.6,0.1 0.9,0.1 0.9,0.5 0.6,0.5".
        #[arg(long)]
        polygon: String,
        /// What it hides ("windows of no. 12").
        #[arg(long, default_value = "")]
        label: String,
        #[command(flatten)]
        login: Login,
    },
    /// Lists the masks in force.
    List {
        /// The data folder (as the server's user), instead of the site server.
        #[arg(long, conflicts_with_all = ["server", "server_ca"])]
        data: Option<PathBuf>,
        #[command(flatten)]
        conn: server::ServerConn,
        #[command(flatten)]
        login: Login,
    },
    /// Removes a mask (kept in the index as removed).
    Remove {
        /// The data folder (as the server's user), instead of the site server.
        #[arg(long, conflicts_with_all = ["server", "server_ca"])]
        data: Option<PathBuf>,
        #[command(flatten)]
        conn: server::ServerConn,
        #[arg(long)]
        id: i64,
        #[command(flatten)]
        login: Login,
    },
    /// The mask editor window: a still of each camera, its masks drawn over it.
    Edit {
        /// The data folder (as the server's user), instead of the site server.
        #[arg(long, conflicts_with_all = ["server", "server_ca"])]
        data: Option<PathBuf>,
        #[command(flatten)]
        conn: server::ServerConn,
    },
}

#[derive(Subcommand)]
enum UsersCommand {
    /// Adds a named user. The password is asked on the terminal (twice), or read from
    /// standard input with --password-stdin; never from the command line. Once an
    /// administrator exists, an administrator signs in with --user (with --password-stdin,
    /// their password is the first line and the new user's the second); before, only the
    /// first administrator can be added, at set-up.
    Add {
        name: String,
        /// supervisor, operator, reviewer, administrator or auditor.
        #[arg(long)]
        role: String,
        /// The data folder (the first administrator at set-up, as the server's user), instead
        /// of the site server.
        #[arg(long, conflicts_with_all = ["server", "server_ca"])]
        data: Option<PathBuf>,
        #[command(flatten)]
        conn: server::ServerConn,
        /// Cameras the user may see: comma-separated ids, or * for all (default: none).
        #[arg(long, value_delimiter = ',')]
        cameras: Vec<String>,
        #[arg(long)]
        password_stdin: bool,
        /// The administrator signing in.
        #[arg(long)]
        user: Option<String>,
    },
    /// Sets the cameras a user may see (replacing the previous grant).
    Grant {
        name: String,
        /// The data folder, instead of asking the site server (as the server's user).
        #[arg(long, conflicts_with_all = ["server", "server_ca"])]
        data: Option<PathBuf>,
        #[command(flatten)]
        conn: server::ServerConn,
        /// Comma-separated ids, or * for all; empty for none.
        #[arg(long, value_delimiter = ',')]
        cameras: Vec<String>,
        #[command(flatten)]
        login: Login,
    },
    /// Lists users, their roles, cameras and state (never password hashes).
    List {
        /// The data folder (as the server's user), instead of the site server.
        #[arg(long, conflicts_with_all = ["server", "server_ca"])]
        data: Option<PathBuf>,
        #[command(flatten)]
        conn: server::ServerConn,
        /// The administrator signing in at the server.
        #[arg(long, required_unless_present = "data")]
        user: Option<String>,
        #[arg(long)]
        password_stdin: bool,
    },
    /// Disables a user (accounts are kept: the audit log names them).
    Disable {
        name: String,
        /// The data folder, instead of asking the site server (as the server's user).
        #[arg(long, conflicts_with_all = ["server", "server_ca"])]
        data: Option<PathBuf>,
        #[command(flatten)]
        conn: server::ServerConn,
        #[command(flatten)]
        login: Login,
    },
}

#[derive(Subcommand)]
enum HoldCommand {
    /// Holds a camera's range for a procedure.
    Add {
        /// The data folder (as the server's user), instead of the site server.
        #[arg(long, conflicts_with_all = ["server", "server_ca"])]
        data: Option<PathBuf>,
        #[command(flatten)]
        conn: server::ServerConn,
        #[arg(long)]
        camera: String,
        /// RFC 3339 instants.
        #[arg(long)]
        from: String,
        #[arg(long)]
        to: String,
        /// Procedure (requisition) number.
        #[arg(long)]
        procedure: String,
        #[arg(long)]
        reason: String,
        /// RFC 3339 instant when the hold lapses.
        #[arg(long)]
        expires: String,
        #[command(flatten)]
        login: Login,
    },
    /// Lists holds, newest first.
    List {
        /// The data folder (as the server's user), instead of the site server.
        #[arg(long, conflicts_with_all = ["server", "server_ca"])]
        data: Option<PathBuf>,
        #[command(flatten)]
        conn: server::ServerConn,
        #[command(flatten)]
        login: Login,
    },
    /// Ends a hold before it lapses.
    Release {
        /// The data folder (as the server's user), instead of the site server.
        #[arg(long, conflicts_with_all = ["server", "server_ca"])]
        data: Option<PathBuf>,
        #[command(flatten)]
        conn: server::ServerConn,
        #[arg(long)]
        id: i64,
        #[command(flatten)]
        login: Login,
    },
}

#[derive(Subcommand)]
enum BenchCommand {
    /// The site server's API on a city-sized index: camera-day timelines, alarms pushed to
    /// workstations under 1,000 events/s, idle workstations' cost. Last line: JSON.
    Api(bench_api::ApiBenchArgs),
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

/// Who runs a command that touches footage.
#[derive(clap::Args, Clone, Debug)]
struct Login {
    /// Vigie user name. The password is asked on the terminal, or read from the first line of
    /// standard input with --password-stdin; never from the command line.
    #[arg(long)]
    user: String,
    #[arg(long)]
    password_stdin: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum TransportArg {
    Tcp,
    Udp,
}

impl From<TransportArg> for Transport {
    fn from(t: TransportArg) -> Transport {
        match t {
            TransportArg::Tcp => Transport::Tcp,
            TransportArg::Udp => Transport::Udp,
        }
    }
}

#[derive(Clone, Copy, ValueEnum)]
enum EncodeArg {
    Live,
    Loop,
}

#[derive(Clone, Copy, ValueEnum)]
enum CodecArg {
    H264,
    H265,
}

/// Entry point of the binary.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vigie: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Demo {
            cameras,
            live_cameras,
            listen,
            record_cameras,
            data,
            no_simulated_events,
        } => demo(
            cameras,
            live_cameras,
            listen,
            record_cameras,
            data,
            !no_simulated_events,
        ),
        Command::Live {
            cameras,
            layout,
            transport,
            data,
            conn,
            workstation,
            name,
            map,
            map_bounds,
            map_ca,
            motion,
            events,
        } => live(
            match (cameras, data) {
                (Some(c), Some(d)) => LiveSource::Folder(c, d),
                _ => LiveSource::Server(conn),
            },
            layout.as_deref(),
            transport.into(),
            workstation.as_deref(),
            LiveExtras {
                name,
                map: map_background(map.as_deref(), map_bounds, map_ca)?,
                motion: match (motion, events) {
                    (Some(m), Some(e)) => Some((crate::events::motion::load_zones(&m)?, e)),
                    _ => None,
                },
            },
        ),
        Command::WallSend {
            conn,
            to,
            screen,
            camera,
            tile,
            layout,
            list,
            login,
        } => {
            let api = conn.sign_in(&login)?;
            if list {
                for w in api.connected_walls()? {
                    println!(
                        "{}\t{}\tsince {}",
                        w.workstation,
                        w.user,
                        crate::time::paris_rfc3339(w.since_utc_ns)
                    );
                }
                return Ok(());
            }
            let (Some(to), Some(screen)) = (to, screen) else {
                bail!("--to and --screen name the workstation and its screen");
            };
            if camera.is_none() && layout.is_none() {
                bail!("--camera or --layout: say what to put on screen {screen:?}");
            }
            if tile == Some(0) {
                bail!("--tile: tiles are numbered from 1");
            }
            let command = crate::client::wall::WallCommand {
                screen,
                camera,
                tile: tile.map(|t| t - 1),
                layout,
                by: String::new(),
            };
            let sent = api.send_wall_command(&to, &command)?;
            println!("sent to {to} ({} wall(s))", sent.delivered);
            Ok(())
        }
        Command::Camsim {
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
        } => {
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
        Command::Events {
            data,
            cameras,
            listen,
            udp,
            rules,
            tls_listen,
            tls_cert,
            tls_key,
        } => alarms::events(
            &data,
            &cameras,
            (listen, udp),
            rules.as_deref(),
            match (tls_listen, tls_cert, tls_key) {
                (Some(listen), Some(cert), Some(key)) => Some(TlsOptions { listen, cert, key }),
                _ => None,
            },
        ),
        Command::Still {
            url: Some(url),
            out,
            camera_user: user,
            timeout,
            transport,
            ..
        } => still(
            &url,
            &out,
            user,
            Duration::from_secs(timeout),
            transport.into(),
        ),
        Command::Still {
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
        Command::Still {
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
        Command::Still { .. } => Err(anyhow::anyhow!(
            "still: give --url, or --server (or --data) with --camera, --at and --user"
        )),
        Command::Bench {
            which:
                BenchCommand::Live {
                    cameras,
                    seconds,
                    composite_tiles,
                },
        } => bench::live(cameras, Duration::from_secs(seconds), composite_tiles),
        Command::Bench {
            which:
                BenchCommand::Camsim {
                    cameras,
                    seconds,
                    mtu,
                },
        } => bench::camsim(cameras, Duration::from_secs(seconds), mtu),
        Command::Bench {
            which:
                BenchCommand::Wall {
                    cameras,
                    screens,
                    tiles,
                    seconds,
                    fps,
                },
        } => bench::wall(cameras, screens, tiles, Duration::from_secs(seconds), fps),
        Command::Bench {
            which:
                BenchCommand::Events {
                    rate,
                    seconds,
                    senders,
                },
        } => bench_events::events(rate, seconds, senders),
        Command::Bench {
            which: BenchCommand::Api(args),
        } => bench_api::run(args),
        Command::Bench {
            which: BenchCommand::Index { cameras, days, dir },
        } => bench::index(cameras, days, dir.as_deref()),
        Command::Bench {
            which: BenchCommand::Record { cameras, seconds },
        } => bench::record(cameras, Duration::from_secs(seconds)),
        Command::Bench {
            which:
                BenchCommand::Seek {
                    data,
                    camera,
                    seeks,
                    through_server,
                },
        } => bench::seek(&data, camera.as_deref(), seeks, through_server),
        Command::Check { data, hash } => check(&data, hash),
        Command::Review {
            data: Some(data),
            cameras,
            at,
            grid,
            ..
        } => review(&data, &cameras, at.as_deref(), grid),
        Command::Review {
            data: None,
            conn,
            cameras,
            at,
            grid,
        } => review_on_server(&conn, &cameras, at.as_deref(), grid),
        Command::Hold { action } => evidence::hold(action),
        Command::Export {
            data: Some(data),
            camera,
            from,
            to,
            out,
            requisition,
            officer,
            reason,
            login,
            ..
        } => evidence::export(
            &data,
            &login,
            crate::export::Request {
                cameras: camera,
                from_utc_ns: parse_instant("--from", &from)?,
                to_utc_ns: parse_instant("--to", &to)?,
                out,
                requisition,
                officer,
                reason,
                access: None,
            },
            None,
        ),
        Command::Export {
            data: None,
            conn,
            camera,
            from,
            to,
            out,
            requisition,
            officer,
            reason,
            login,
        } => {
            // Checked here first: a wrong instant is named before a password is asked.
            parse_instant("--from", &from)?;
            parse_instant("--to", &to)?;
            evidence::export_from_server(
                &conn,
                &login,
                &crate::client::exports::ExportOrder {
                    cameras: camera,
                    from,
                    to,
                    requisition,
                    officer,
                    reason,
                    access: None,
                },
                &out,
            )
        }
        Command::AccessRequest {
            data,
            conn,
            camera,
            from,
            to,
            reference,
            requester,
            identity_check,
            received,
            reason,
            out,
            blur,
            refuse,
            login,
        } => {
            let mut regions = Vec::new();
            for b in &blur {
                let Some((cam, poly)) = b.split_once(':') else {
                    bail!("--blur {b:?}: CAMERA:\"x,y x,y x,y\"");
                };
                if !camera.iter().any(|c| c == cam) {
                    bail!("--blur: camera {cam} is not one of --camera");
                }
                regions.push((cam.to_owned(), evidence::parse_polygon(poly)?));
            }
            let received = match received {
                Some(t) => parse_instant("--received", &t)?,
                None => crate::time::now_utc_ns(),
            };
            let Some(data) = data else {
                // Through the site server: it makes the masked copy (fetched here) or records
                // the refusal, and logs.
                parse_instant("--from", &from)?;
                parse_instant("--to", &to)?;
                let order = crate::client::exports::ExportOrder {
                    cameras: camera,
                    from,
                    to,
                    requisition: reference,
                    officer: String::new(),
                    reason,
                    access: Some(crate::client::exports::AccessOrder {
                        requester,
                        identity_check,
                        received: Some(received.to_string()),
                        blur: regions
                            .into_iter()
                            .map(|(camera, points)| crate::client::exports::BlurZone {
                                camera,
                                points,
                            })
                            .collect(),
                    }),
                };
                return match (refuse, out) {
                    (Some(ground), _) => {
                        evidence::refuse_through_server(&conn, &login, order, &ground)
                    }
                    (None, Some(out)) => evidence::export_from_server(&conn, &login, &order, &out),
                    (None, None) => bail!("--out or --refuse"),
                };
            };
            let req = crate::export::Request {
                cameras: camera,
                from_utc_ns: parse_instant("--from", &from)?,
                to_utc_ns: parse_instant("--to", &to)?,
                out: out.unwrap_or_default(),
                requisition: reference,
                officer: String::new(),
                reason,
                access: Some(crate::export::CitizenAccess {
                    requester,
                    identity_check,
                    received_utc_ns: received,
                    blur: regions,
                }),
            };
            evidence::access_request(&data, &login, req, refuse.as_deref())
        }
        Command::Verify {
            dir,
            key,
            data,
            fingerprint,
        } => evidence::verify(
            &dir,
            key.as_deref(),
            data.as_deref(),
            fingerprint.as_deref(),
        ),
        Command::Users { action } => users(action),
        Command::Masks { action } => evidence::masks(action),
        Command::Audit {
            action:
                AuditCommand::Verify {
                    data,
                    conn,
                    user,
                    password_stdin,
                },
        } => {
            let v = match data {
                Some(data) => crate::auth::audit::verify(&data)?,
                None => {
                    let mut api = conn.sign_in(&Login {
                        user: user.unwrap_or_default(),
                        password_stdin,
                    })?;
                    let r: Result<serde_json::Value, _> = api.get("/v1/audit/verify");
                    let _ = api.sign_out();
                    let r = r?;
                    crate::auth::audit::Verdict {
                        entries: r["entries"].as_i64().unwrap_or(0),
                        checkpoints: r["checkpoints"].as_u64().unwrap_or(0) as usize,
                        problems: r["problems"]
                            .as_array()
                            .map(|a| {
                                a.iter()
                                    .map(|p| p.as_str().unwrap_or_default().to_owned())
                                    .collect()
                            })
                            .unwrap_or_default(),
                    }
                }
            };
            for p in &v.problems {
                println!("{p}");
            }
            if v.problems.is_empty() {
                eprintln!(
                    "audit: {} entries, {} signed checkpoints: intact",
                    v.entries, v.checkpoints
                );
                Ok(())
            } else {
                bail!(
                    "audit: {} problem(s) in {} entries",
                    v.problems.len(),
                    v.entries
                )
            }
        }
        Command::Audit {
            action:
                AuditCommand::Show {
                    data: Some(data),
                    from,
                    to,
                    of,
                    login,
                    ..
                },
        } => evidence::audit_show(&data, from.as_deref(), to.as_deref(), of.as_deref(), &login),
        Command::Audit {
            action:
                AuditCommand::Show {
                    data: None,
                    conn,
                    from,
                    to,
                    of,
                    login,
                },
        } => evidence::audit_show_from_server(
            &conn,
            from.as_deref(),
            to.as_deref(),
            of.as_deref(),
            &login,
        ),
        Command::Audit {
            action:
                AuditCommand::Export {
                    data: Some(data),
                    out,
                    login,
                    ..
                },
        } => evidence::audit_export(&data, &out, &login),
        Command::Audit {
            action:
                AuditCommand::Export {
                    data: None,
                    conn,
                    out,
                    login,
                },
        } => evidence::audit_export_from_server(&conn, &out, &login),
        Command::Register {
            data: Some(data),
            json,
            login,
            ..
        } => evidence::register(&data, json, &login),
        Command::Register {
            data: None,
            conn,
            json,
            login,
        } => evidence::register_from_server(&conn, json, &login),
        Command::Audit {
            action: AuditCommand::Checkpoint { data },
        } => {
            match crate::auth::audit::checkpoint(&data)? {
                Some(seq) => eprintln!("audit: checkpoint signed at entry {seq}"),
                None => eprintln!("audit: the log is empty"),
            }
            Ok(())
        }
        Command::Recorder {
            cameras,
            data,
            segment_seconds,
            reserve_mb,
            max_clock_skew_ms,
            clock_offset_file,
        } => recorder(
            &cameras,
            &data,
            segment_seconds,
            reserve_mb,
            max_clock_skew_ms,
            clock_offset_file,
        ),
        Command::Server(args) => server::run(args),
        Command::Recordings {
            data: Some(data),
            camera,
            from,
            to,
            json,
            login,
            ..
        } => evidence::recordings(&data, &camera, from.as_deref(), to.as_deref(), json, &login),
        Command::Recordings {
            data: None,
            conn,
            camera,
            from,
            to,
            json,
            login,
        } => evidence::recordings_from_server(
            &conn,
            &camera,
            from.as_deref(),
            to.as_deref(),
            json,
            &login,
        ),
    }
}

/// Parses an RFC 3339 instant given for `flag` into UTC nanoseconds.
fn parse_instant(flag: &str, text: &str) -> anyhow::Result<i64> {
    let t = chrono::DateTime::parse_from_rfc3339(text).with_context(|| {
        format!("{flag}: {text:?} is not an RFC 3339 instant (like 2026-11-26T14:03:00Z)")
    })?;
    t.timestamp_nanos_opt()
        .with_context(|| format!("{flag}: {text:?} is out of range"))
}

use crate::time::rfc3339;

static STOP_REQUESTED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

extern "C" fn on_stop_signal(_: libc::c_int) {
    STOP_REQUESTED.store(true, std::sync::atomic::Ordering::SeqCst);
}

fn recorder(
    cameras: &Path,
    data: &Path,
    segment_seconds: u64,
    reserve_mb: u64,
    max_clock_skew_ms: u64,
    clock_offset_file: Option<PathBuf>,
) -> anyhow::Result<()> {
    let file = CamerasFile::load(cameras)?;
    if !(1..=3600).contains(&segment_seconds) {
        bail!("--segment-seconds must be 1 to 3600");
    }
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        libc::signal(
            libc::SIGTERM,
            on_stop_signal as *const () as libc::sighandler_t,
        );
        libc::signal(
            libc::SIGINT,
            on_stop_signal as *const () as libc::sighandler_t,
        );
    }
    let opts = crate::record::recorder::RecorderOptions {
        segment: Duration::from_secs(segment_seconds),
        reserve_bytes: reserve_mb << 20,
        max_clock_skew: Duration::from_millis(max_clock_skew_ms),
        clock_offset_file,
    };
    let rec = crate::record::recorder::Recorder::start(&file.cameras, data, &opts)?;
    eprintln!(
        "recorder: {} cameras into {}",
        file.cameras.len(),
        data.display()
    );
    while !STOP_REQUESTED.load(std::sync::atomic::Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!("recorder: stopping, closing segments");
    rec.stop();
    Ok(())
}

fn check(data: &Path, hash: bool) -> anyhow::Result<()> {
    if !data.join(crate::store::INDEX_FILE).exists() {
        bail!(
            "{}: no recording index here ({} is missing)",
            data.display(),
            crate::store::INDEX_FILE
        );
    }
    let report = crate::record::check::check(data, hash)?;
    for p in &report.problems {
        println!("{p}");
    }
    let what = if hash {
        "sizes, fragments and hashes"
    } else {
        "sizes and fragments"
    };
    if report.problems.is_empty() {
        eprintln!(
            "check: {} segments, {} bytes: {what} all good",
            report.segments, report.bytes
        );
        Ok(())
    } else {
        bail!(
            "{} problem(s) in {} segments ({what} checked)",
            report.problems.len(),
            report.segments
        )
    }
}

/// The demo's site server: `vigie server` in a process of its own (a crash of the window never
/// stops recording), recording the first cameras and running the event service, stopped with
/// SIGTERM when the window closes.
struct DemoServer {
    child: std::process::Child,
    data: PathBuf,
    /// https://127.0.0.1:PORT
    url: String,
    ca_pem: Vec<u8>,
    events: SocketAddr,
}

impl DemoServer {
    fn start(sim: &CamSim, record: u32, data: &Path) -> anyhow::Result<DemoServer> {
        use std::io::BufRead;
        let data = data.to_owned();
        let cameras = sim.cameras();
        let file = data.join("demo-cameras.toml");
        std::fs::write(&file, CamerasFile::to_toml(&cameras, None))
            .with_context(|| format!("writing {}", file.display()))?;
        let exe = std::env::current_exe().context("finding the vigie binary")?;
        let mut cmd = std::process::Command::new(exe);
        cmd.args(["server", "--listen", "127.0.0.1:0", "--name", "127.0.0.1"])
            .args(["--events", "127.0.0.1:0", "--cameras"])
            .arg(&file)
            .arg("--data")
            .arg(&data)
            .stdin(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        let recorded: Vec<String> = cameras
            .iter()
            .take(record as usize)
            .map(|c| c.id.clone())
            .collect();
        if recorded.is_empty() {
            cmd.arg("--no-record");
        } else {
            cmd.arg("--record").arg(recorded.join(","));
        }
        // The demo's server follows the demo: whatever way the demo ends, it gets SIGTERM and
        // closes its segments. (The installed server is a service of its own.)
        // SAFETY: prctl is async-signal-safe and touches only the child being set up.
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut cmd, || {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                Ok(())
            });
        }
        let mut child = cmd.spawn().context("starting the site server")?;
        let stderr = child.stderr.take().context("the server's output")?;
        let mut lines = std::io::BufReader::new(stderr);
        let (mut url, mut events) = (None, None);
        let mut line = String::new();
        while url.is_none() || events.is_none() {
            line.clear();
            if lines.read_line(&mut line).unwrap_or(0) == 0 {
                let status = child.wait().ok();
                bail!("the demo's server stopped before serving ({status:?})");
            }
            eprint!("{line}");
            if let Some(rest) = line.split("API on https://").nth(1) {
                url = rest.split('/').next().map(|a| format!("https://{a}"));
            }
            if let Some(rest) = line.split("events on http://").nth(1) {
                events = rest.split('/').next().and_then(|a| a.parse().ok());
            }
        }
        // The rest of its log goes on to the demo's.
        let _ = std::thread::Builder::new()
            .name("demo server log".into())
            .spawn(move || {
                let _ = std::io::copy(&mut lines, &mut std::io::stderr());
            });
        let ca_pem = std::fs::read(data.join(crate::server::pki::CA_FILE))
            .context("reading the demo server's CA")?;
        eprintln!(
            "vigie demo: recording {} cameras into {}",
            recorded.len(),
            data.display()
        );
        Ok(DemoServer {
            child,
            data,
            url: url.unwrap_or_default(),
            ca_pem,
            events: events.context("no event service")?,
        })
    }
}

impl Drop for DemoServer {
    fn drop(&mut self) {
        // SAFETY: signals the child this process started, by its id.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let _ = self.child.wait();
    }
}

fn demo(
    cameras: u32,
    live_cameras: u32,
    listen: SocketAddr,
    record_cameras: u32,
    data: Option<PathBuf>,
    simulate_events: bool,
) -> anyhow::Result<()> {
    let opts = CamSimOptions {
        cameras,
        listen,
        encode: EncodeMode::Loop,
        live_cameras,
        ..CamSimOptions::default()
    };
    let sim = match CamSim::start(opts.clone()) {
        Ok(s) => s,
        // The usual port is taken (another simulator?): take any free one.
        Err(crate::sim::SimError::Listen { .. }) => CamSim::start(CamSimOptions {
            listen: SocketAddr::new(listen.ip(), 0),
            ..opts
        })
        .context("starting the camera simulator")?,
        Err(e) => return Err(e).context("starting the camera simulator"),
    };
    eprintln!(
        "vigie demo: {} simulated cameras on rtsp://{}/camNNN/{{main,sub}}",
        cameras,
        sim.addr()
    );
    let data = match data {
        Some(d) => d,
        None => std::env::var_os("XDG_DATA_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
            .context("no HOME: pass --data")?
            .join("vigie/demo"),
    };
    std::fs::create_dir_all(&data).with_context(|| format!("creating {}", data.display()))?;
    demo_users(&data)?;
    let server = DemoServer::start(&sim, record_cameras.min(cameras), &data)?;
    let events = alarms::demo_event_sim(server.events, sim.cameras(), simulate_events)?;
    let streams = StreamManager::new(IngestTimings::default(), Transport::Tcp);
    let mut ws = LiveWorkspace::new(sim.cameras(), None, Box::new(streams));
    if record_cameras > 0 {
        ws = ws.with_review(&server.data).with_review_server(
            &server.url,
            Some(&server.data.join(crate::server::pki::CA_FILE)),
        );
    }
    let at = (server.url.clone(), server.ca_pem.clone());
    crate::ui::run_live(
        ws,
        &data,
        Some(at),
        vec![Box::new(sim), Box::new(events), Box::new(server)],
        "Vigie — live wall (demo)",
    )
    .map_err(|e| anyhow::anyhow!("the window could not open: {e}"))
}

/// The demo's password for its accounts (demo data folders only).
const DEMO_PASSWORD: &str = "vigie-demo-2026";

/// A demo data folder's accounts, made on its first run: one per role, every camera.
fn demo_users(data: &Path) -> anyhow::Result<()> {
    let store = crate::store::Store::open(&data.join(crate::store::INDEX_FILE))?;
    if store.users()?.is_empty() {
        let now = crate::time::now_utc_ns();
        for (name, role, cams) in [
            ("superviseur", "supervisor", "*"),
            ("operateur", "operator", "*"),
            ("relecteur", "reviewer", "*"),
            ("admin", "administrator", ""),
            ("dpo", "auditor", ""),
        ] {
            let cams: Vec<String> = [cams]
                .iter()
                .filter(|c| !c.is_empty())
                .map(|c| c.to_string())
                .collect();
            store.add_user(
                name,
                role,
                &crate::auth::hash_password(DEMO_PASSWORD)?,
                &cams,
                now,
            )?;
            audit_admin(
                data,
                "user added",
                &cams.join(","),
                &format!("{name} as {role} (demo)"),
            )?;
        }
    }
    eprintln!(
        "vigie demo: sign in as superviseur (live wall) or relecteur (review), password {DEMO_PASSWORD}"
    );
    Ok(())
}

/// What `vigie live` adds to the wall: the map's background, motion detection.
struct LiveExtras {
    name: Option<String>,
    map: crate::tiles::Background,
    motion: Option<(Vec<crate::events::motion::MotionZone>, SocketAddr)>,
}

/// Where a live wall's cameras and sign-in come from.
enum LiveSource {
    /// A cameras file and the data folder (the server's machine, as its user).
    Folder(PathBuf, PathBuf),
    /// The site server.
    Server(server::ServerConn),
}

fn live(
    source: LiveSource,
    layout: Option<&str>,
    transport: Transport,
    workstation: Option<&str>,
    extras: LiveExtras,
) -> anyhow::Result<()> {
    let LiveExtras { name, map, motion } = extras;
    let layout = match layout {
        None => None,
        Some(name) => Some(find_layout(name)?),
    };
    let streams = StreamManager::new(IngestTimings::default(), transport);
    let (cameras, data) = match source {
        LiveSource::Folder(cameras, data) => (cameras, data),
        LiveSource::Server(conn) => {
            let (url, ca) = conn.trusted()?;
            let ca_file = conn.resolved()?.and_then(|(_, f)| f);
            let mut ws = LiveWorkspace::new(Vec::new(), layout, Box::new(streams))
                .cameras_from_server()
                .with_review_server(&url, ca_file.as_deref())
                .with_map(crate::ui::map::MapView::new(map));
            if let Some((zones, events)) = motion {
                ws = ws.with_motion(zones, events);
            }
            if let Some(profile) = workstation {
                ws = ws.with_profile(&find_workstation(profile)?);
            }
            if let Some(name) = &name {
                ws = ws.named(name);
            }
            return crate::ui::run_live(
                ws,
                Path::new("/var/lib/vigie"),
                Some((url, ca)),
                Vec::new(),
                "Vigie — live wall",
            )
            .map_err(|e| anyhow::anyhow!("the window could not open: {e}"));
        }
    };
    let (cameras, data) = (cameras.as_path(), data.as_path());
    let file = CamerasFile::load(cameras)?;
    if file.cameras.is_empty() {
        bail!("{}: declares no camera", cameras.display());
    }
    let mut ws = LiveWorkspace::new(file.cameras, layout, Box::new(streams))
        .with_review(data)
        .with_map(crate::ui::map::MapView::new(map));
    if let Some((zones, events)) = motion {
        ws = ws.with_motion(zones, events);
    }
    if let Some(name) = workstation {
        let (with, unknown) = ws.with_workstation(&find_workstation(name)?);
        if !unknown.is_empty() {
            eprintln!(
                "vigie live: {}: cameras not in {}: {}",
                name,
                cameras.display(),
                unknown.join(", ")
            );
        }
        ws = with;
    }
    crate::ui::run_live(ws, data, None, Vec::new(), "Vigie — live wall")
        .map_err(|e| anyhow::anyhow!("the window could not open: {e}"))
}

/// The map background of `--map` and `--map-bounds`; tiles are cached under
/// $XDG_CACHE_HOME/vigie/tiles (or ~/.cache/vigie/tiles).
fn map_background(
    spec: Option<&str>,
    bounds: Option<Vec<f64>>,
    ca: Option<PathBuf>,
) -> anyhow::Result<crate::tiles::Background> {
    let Some(spec) = spec else {
        return Ok(crate::tiles::Background::Grid);
    };
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(std::env::temp_dir)
        .join("vigie/tiles");
    let bounds = bounds.map(|b| [b[0], b[1], b[2], b[3]]);
    let mut bg =
        crate::tiles::Background::parse(spec, bounds, &cache).map_err(anyhow::Error::msg)?;
    if let crate::tiles::Background::Xyz { ca: site_ca, .. } = &mut bg {
        *site_ca = ca;
    }
    Ok(bg)
}

/// A built-in workstation profile by name, or a profile file.
fn find_workstation(name: &str) -> anyhow::Result<crate::config::Workstation> {
    match crate::config::builtin_workstations()
        .into_iter()
        .find(|w| w.name == name)
    {
        Some(w) => Ok(w),
        None => Ok(crate::config::Workstation::load(Path::new(name))?),
    }
}

fn find_layout(name: &str) -> anyhow::Result<Layout> {
    let path = Path::new(name);
    if path.exists() {
        return Ok(Layout::load(path)?);
    }
    let all = builtin_layouts();
    all.iter()
        .find(|l| l.name == name)
        .cloned()
        .with_context(|| {
            let names: Vec<_> = all.iter().map(|l| l.name.as_str()).collect();
            format!(
                "--layout: {name:?} is neither a file nor a built-in layout ({})",
                names.join(", ")
            )
        })
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

/// Writes the cameras file for `sim`, and its credentials file when the simulator asks for one.
fn write_cameras_file(
    path: &Path,
    sim: &CamSim,
    credential: Option<&Credential>,
) -> anyhow::Result<()> {
    let mut cameras = sim.cameras();
    let cred_name = "camsim-credentials.toml";
    if let Some(c) = credential {
        let cpath = path.parent().unwrap_or(Path::new(".")).join(cred_name);
        let mut entry = toml::Table::new();
        entry.insert("user".into(), c.user.clone().into());
        entry.insert("password".into(), c.password.clone().into());
        let mut table = toml::Table::new();
        table.insert("camsim".into(), entry.into());
        let text = toml::to_string(&table).context("encoding the credentials")?;
        write_private(&cpath, &text).with_context(|| format!("writing {}", cpath.display()))?;
        for cam in &mut cameras {
            cam.credentials = Some("camsim".into());
        }
    }
    let text = CamerasFile::to_toml(&cameras, credential.map(|_| cred_name));
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
    eprintln!("camsim: wrote {}", path.display());
    Ok(())
}

/// Creates `path` readable by its owner only, then writes `text`.
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(text.as_bytes())
}

/// Splits `user:password@` out of a URL; the password may come from the environment.
fn url_credentials(url: &str, user: Option<String>) -> (String, Option<Credential>) {
    let env_pw = || std::env::var("VIGIE_CAMERA_PASSWORD").unwrap_or_default();
    let (clean, userinfo) = split_userinfo(url);
    let cred = match (user, userinfo) {
        (Some(user), _) => Some(Credential {
            user,
            password: env_pw(),
        }),
        (None, Some(info)) => {
            let (u, p) = info.split_once(':').unwrap_or((info, ""));
            let password = if p.is_empty() { env_pw() } else { p.to_owned() };
            Some(Credential {
                user: u.to_owned(),
                password,
            })
        }
        (None, None) => None,
    };
    (clean, cred)
}

/// Reads a password: the first line of standard input, or from the terminal with echo off.
fn read_password(prompt: &str, from_stdin: bool) -> anyhow::Result<String> {
    use std::io::BufRead;
    let line = if from_stdin {
        let mut line = String::new();
        std::io::stdin().lock().read_line(&mut line)?;
        line
    } else {
        // On the terminal, echo off (rpassword opens /dev/tty itself).
        rpassword::prompt_password(prompt)
            .context("no terminal to ask the password on: use --password-stdin")?
    };
    Ok(line.trim_end_matches(['\n', '\r']).to_owned())
}

/// An entry of the audit log for an administration command run on this machine (before any
/// login exists, the person is the system account that ran it).
fn audit_admin(data: &Path, action: &str, cameras: &str, detail: &str) -> anyhow::Result<()> {
    let who = std::env::var("SUDO_USER")
        .or_else(|_| std::env::var("USER"))
        .unwrap_or_else(|_| "unknown".into());
    crate::auth::audit::append(
        data,
        &crate::auth::audit::Entry {
            at_utc_ns: chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0),
            user: format!("system:{who}"),
            role: "administrator".into(),
            action: action.into(),
            cameras: cameras.into(),
            range: None,
            reason: String::new(),
            detail: detail.into(),
        },
    )?;
    Ok(())
}

/// One account as `users list` prints it: name, role, cameras (or "-"), state.
fn user_line(name: &str, role: &str, cameras: &[String], state: &str) -> String {
    let cameras = if cameras.is_empty() {
        "-".to_string()
    } else {
        cameras.join(",")
    };
    format!("{name}\t{role}\t{cameras}\t{state}")
}

fn users(action: UsersCommand) -> anyhow::Result<()> {
    use crate::auth::{Role, hash_password};
    let now = chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0);
    let open = |data: &Path| -> anyhow::Result<crate::store::Store> {
        std::fs::create_dir_all(data).with_context(|| format!("creating {}", data.display()))?;
        Ok(crate::store::Store::open(
            &data.join(crate::store::INDEX_FILE),
        )?)
    };
    match action {
        UsersCommand::Add {
            name,
            role,
            data: None,
            conn,
            cameras,
            password_stdin,
            user,
        } => {
            let Some(admin) = user else {
                bail!("an administrator signs in at the server to add users: --user NAME");
            };
            let mut api = conn.sign_in(&Login {
                user: admin,
                password_stdin,
            })?;
            let added = (|| -> anyhow::Result<crate::client::ApiUser> {
                let password = read_password(&format!("Password for {name}: "), password_stdin)?;
                if !password_stdin && read_password("Again: ", false)? != password {
                    bail!("the two passwords differ");
                }
                Ok(api.post(
                    "/v1/users",
                    &crate::server::api::NewUser {
                        name: name.clone(),
                        role,
                        cameras,
                        password,
                    },
                )?)
            })();
            let _ = api.sign_out();
            let u = added?;
            eprintln!("users: {} added as {}", u.name, u.role);
            Ok(())
        }
        UsersCommand::Add {
            name,
            role,
            data: Some(data),
            cameras,
            password_stdin,
            user,
            ..
        } => {
            if !crate::auth::valid_user_name(&name) {
                bail!("user name {name:?}: 1 to 64 letters, digits, '.', '_' or '-'");
            }
            let Some(role) = Role::parse(&role) else {
                let all: Vec<&str> = Role::ALL.iter().map(|r| r.as_str()).collect();
                bail!("--role {role:?}: one of {}", all.join(", "));
            };
            let store = open(&data)?;
            let admins = store
                .users()?
                .into_iter()
                .any(|u| u.role == Role::Administrator.as_str() && u.disabled_utc_ns.is_none());
            // Who adds: an administrator signed in, or the set-up adding the first one.
            let by = match (&user, admins) {
                (Some(u), _) => {
                    let session = evidence::sign_in(
                        &data,
                        &Login {
                            user: u.clone(),
                            password_stdin,
                        },
                    )?;
                    session.require(&data, crate::auth::Action::ManageUsers, &[])?;
                    Some(session)
                }
                (None, false) if role == Role::Administrator => None,
                (None, false) => bail!(
                    "add the first administrator first (--role administrator); then an administrator signs in with --user to add the others"
                ),
                (None, true) => bail!("an administrator signs in to add users: --user NAME"),
            };
            if store.users()?.iter().any(|u| u.name == name) {
                bail!("user {name} already exists");
            }
            let password = read_password(&format!("Password for {name}: "), password_stdin)?;
            if !password_stdin && read_password("Again: ", false)? != password {
                bail!("the two passwords differ");
            }
            let hash = hash_password(&password)?;
            store.add_user(&name, role.as_str(), &hash, &cameras, now)?;
            let detail = format!("{name} as {role}");
            match &by {
                Some(s) => {
                    s.log(&data, "user added", &cameras.join(","), None, "", &detail)?;
                }
                None => audit_admin(
                    &data,
                    "user added",
                    &cameras.join(","),
                    &format!("{detail} (first administrator, at set-up)"),
                )?,
            }
            eprintln!("users: {name} added as {role}");
            Ok(())
        }
        UsersCommand::List {
            data: Some(data), ..
        } => {
            let store = open(&data)?;
            for u in store.users()? {
                let state = match u.disabled_utc_ns {
                    Some(t) => format!("disabled {}", rfc3339(t)),
                    None => "enabled".into(),
                };
                println!("{}", user_line(&u.name, &u.role, &u.cameras, &state));
            }
            Ok(())
        }
        UsersCommand::List {
            data: None,
            conn,
            user,
            password_stdin,
        } => {
            let mut api = conn.sign_in(&Login {
                user: user.unwrap_or_default(),
                password_stdin,
            })?;
            let listed: Result<Vec<crate::client::ApiUser>, _> = api.get("/v1/users");
            let _ = api.sign_out();
            for u in listed? {
                let state = if u.disabled { "disabled" } else { "enabled" };
                println!("{}", user_line(&u.name, &u.role, &u.cameras, state));
            }
            Ok(())
        }
        UsersCommand::Disable {
            name,
            data: None,
            conn,
            login,
        } => {
            let mut api = conn.sign_in(&login)?;
            let path = format!("/v1/users/{}/disable", crate::client::path_segment(&name));
            let r = api.post_empty(&path, &serde_json::json!({}));
            let _ = api.sign_out();
            r?;
            eprintln!("users: {name} disabled; their sessions are closed");
            Ok(())
        }
        UsersCommand::Grant {
            name,
            data: None,
            conn,
            cameras,
            login,
        } => {
            let mut api = conn.sign_in(&login)?;
            let path = format!("/v1/users/{}/cameras", crate::client::path_segment(&name));
            let r: Result<crate::client::ApiUser, _> =
                api.post(&path, &serde_json::json!({ "cameras": cameras }));
            let _ = api.sign_out();
            let u = r?;
            eprintln!(
                "users: {} may see {}",
                u.name,
                if u.cameras.is_empty() {
                    "no camera".to_string()
                } else {
                    u.cameras.join(",")
                }
            );
            Ok(())
        }
        UsersCommand::Disable {
            name,
            data: Some(data),
            login,
            ..
        } => {
            let session = evidence::sign_in(&data, &login)?;
            session.require(&data, crate::auth::Action::ManageUsers, &[])?;
            if name == session.user {
                bail!("{name}: an administrator does not disable their own account");
            }
            let store = open(&data)?;
            if !store.disable_user(&name, now)? {
                bail!("no enabled user {name}");
            }
            session.log(&data, "user disabled", "", None, "", &name)?;
            eprintln!("users: {name} disabled");
            Ok(())
        }
        UsersCommand::Grant {
            name,
            data: Some(data),
            cameras,
            login,
            ..
        } => {
            let session = evidence::sign_in(&data, &login)?;
            session.require(&data, crate::auth::Action::ManageUsers, &[])?;
            let store = open(&data)?;
            let before = store
                .users()?
                .into_iter()
                .find(|u| u.name == name)
                .with_context(|| format!("no user {name}"))?
                .cameras;
            store.set_user_cameras(&name, &cameras)?;
            session.log(
                &data,
                "permissions changed",
                &cameras.join(","),
                None,
                "",
                &format!(
                    "{name}: cameras {} -> {}",
                    if before.is_empty() {
                        "none".to_string()
                    } else {
                        before.join(",")
                    },
                    if cameras.is_empty() {
                        "none".to_string()
                    } else {
                        cameras.join(",")
                    }
                ),
            )?;
            eprintln!(
                "users: {name} may see {}",
                if cameras.is_empty() {
                    "no camera".to_string()
                } else {
                    cameras.join(",")
                }
            );
            Ok(())
        }
    }
}

fn review(data: &Path, cameras: &[String], at: Option<&str>, grid: usize) -> anyhow::Result<()> {
    if !data.join(crate::store::INDEX_FILE).exists() {
        bail!(
            "{}: no recording index here ({} is missing)",
            data.display(),
            crate::store::INDEX_FILE
        );
    }
    let store = crate::store::Store::open_readonly(&data.join(crate::store::INDEX_FILE))?;
    let at_ns = match at {
        Some(t) => parse_instant("--at", t)?,
        None => {
            let mut last = None;
            for c in store.cameras()? {
                last = last.max(store.last_segment_end(&c.id)?);
            }
            last.map(|end| end - 10_000_000_000)
                .unwrap_or_else(|| chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0))
        }
    };
    let start = crate::ui::ReviewStart {
        data: data.to_owned(),
        server: None,
        latest: false,
        at_utc_ns: at_ns,
        grid,
        cameras: cameras.to_vec(),
    };
    crate::ui::run_review(start, "Vigie — review")
        .map_err(|e| anyhow::anyhow!("the review window failed: {e}"))
}

/// `vigie review --server`: the review window on the site server (sign-in, cameras, timelines,
/// footage, masks, bookmarks, holds and exports all through it). The server's CA is the file
/// given, or the one pinned for it (confirmed on the terminal the first time).
fn review_on_server(
    conn: &server::ServerConn,
    cameras: &[String],
    at: Option<&str>,
    grid: usize,
) -> anyhow::Result<()> {
    let (url, ca_pem) = conn.trusted()?;
    let at_ns = at.map(|t| parse_instant("--at", t)).transpose()?;
    let start = crate::ui::ReviewStart {
        data: PathBuf::from("/var/lib/vigie"),
        server: Some((url, ca_pem)),
        // Without --at: the latest footage, asked of the server once signed in.
        latest: at_ns.is_none(),
        at_utc_ns: at_ns.unwrap_or_else(crate::time::now_utc_ns),
        grid,
        cameras: cameras.to_vec(),
    };
    crate::ui::run_review(start, "Vigie — review")
        .map_err(|e| anyhow::anyhow!("the review window failed: {e}"))
}

/// Draws `frame` alone at its own size through the compositor and writes it as a PNG;
/// returns the GPU adapter's name.
fn write_still(
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
    let frame = loop {
        if let Some(f) = slot.take() {
            break f;
        }
        match slot.state() {
            StreamState::Failed { reason } => {
                stream.stop_and_join();
                bail!("{shown}: {reason}");
            }
            StreamState::Lost { reason, .. } => {
                stream.stop_and_join();
                bail!("{shown}: {reason}");
            }
            _ => {}
        }
        if t0.elapsed() > timeout {
            stream.stop_and_join();
            bail!("{shown}: no picture within {} s", timeout.as_secs());
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let decoder = slot.decoder();
    stream.stop_and_join();
    let adapter = write_still(&frame, &[], out)?;
    eprintln!(
        "still: wrote {} ({}x{}, {decoder}, {adapter})",
        out.display(),
        frame.width,
        frame.height,
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inline_credentials_leave_the_url() {
        let (url, cred) = url_credentials("rtsp://admin:pw@10.1.2.3:554/s", None);
        assert_eq!(url, "rtsp://10.1.2.3:554/s");
        let cred = cred.expect("credential");
        assert_eq!(
            (cred.user.as_str(), cred.password.as_str()),
            ("admin", "pw")
        );
        assert_eq!(
            url_credentials("rtsp://h/s", None),
            ("rtsp://h/s".to_owned(), None)
        );
    }
}
