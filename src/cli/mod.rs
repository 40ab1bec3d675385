//! Command-line front: parses arguments, sets up logging, runs one command, and turns errors
//! into a message on stderr and a non-zero exit status. `anyhow` lives here and nowhere below.

mod access_request;
#[cfg(feature = "site")]
mod alarms;
mod audit;
#[cfg(feature = "bench")]
mod bench;
#[cfg(feature = "site")]
mod camsim;
#[cfg(feature = "site")]
mod check;
mod conn;
#[cfg(feature = "site")]
mod demo;
#[cfg(feature = "site")]
mod events;
mod evidence;
mod export;
mod hold;
mod live;
pub mod logfile;
mod masks;
#[cfg(feature = "site")]
mod recorder;
mod recordings;
mod register;
#[cfg(feature = "site")]
mod retention;
mod review;
#[cfg(feature = "site")]
mod server;
mod still;
mod users;
mod verify;
mod wall_send;
mod watch;

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};

use crate::config::{Credential, split_userinfo};
use crate::ingest::Transport;
#[cfg(feature = "site")]
use crate::sim::CamSim;

#[derive(Parser)]
#[command(
    name = "vigie",
    version,
    about = "Vigie: control-room video (live wall, review, evidence exports and their checks)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Starts the camera simulator with the demo city and opens the live wall on it.
    #[cfg(feature = "site")]
    Demo(demo::Args),
    /// Opens the live wall on the cameras of a cameras file.
    Live(live::Args),
    /// Sends a camera to a tile, or a layout, to a screen of another workstation of the site,
    /// through the site server (which checks and logs it); or lists the walls signed in.
    WallSend(wall_send::Args),
    /// Takes events (smart cameras, alert buttons) and patrol positions, and makes alarms:
    /// POST /v1/events, POST /v1/positions, GET /v1/health; positions also over UDP.
    #[cfg(feature = "site")]
    Events(events::Args),
    /// Serves simulated cameras over RTSP: rtsp://ADDR/camNNN/main and /camNNN/sub.
    ///
    /// Reads commands on standard input: `stop camNNN`, `start camNNN`, `quit`.
    #[cfg(feature = "site")]
    Camsim(camsim::Args),
    /// Takes the next picture of a stream through the live decode and GPU path into a PNG.
    Still(still::Args),
    /// Watches cameras live through the site server without a window: pictures decoded,
    /// state, skips and capture time per camera, a line a second and a JSON summary.
    Watch(watch::Args),
    /// The review window on the site server: synced playback, timelines, bookmarks, holds and
    /// exports.
    Review(review::Args),
    /// Records every camera's main stream into segment files indexed in DIR/index.sqlite3.
    /// Runs until SIGTERM or SIGINT, then closes every segment cleanly and exits 0.
    #[cfg(feature = "site")]
    Recorder(recorder::Args),
    /// The tamper-evident audit log.
    Audit(audit::Args),
    /// Privacy masks: polygons of a camera's picture never shown (administrators).
    Masks(masks::Args),
    /// Named user accounts and their roles.
    Users(users::Args),
    /// The register (auditors, administrators): what is recorded per camera, every deletion,
    /// every export and transmission, every citizen's access request.
    Register(register::Args),
    /// Legal holds: footage that retention and the disk budget never delete.
    Hold(hold::Args),
    /// Retention after a clock problem: lets a refused pass delete what it found
    /// (administrators).
    #[cfg(feature = "site")]
    Retention(retention::Args),
    /// Verifies the recorder's index against its files; exits non-zero naming what is wrong.
    #[cfg(feature = "site")]
    Check(check::Args),
    /// Runs the site server: the recorder, the event service and the HTTPS API every
    /// workstation uses. Run it as the `vigie` system user, alone able to read the data folder.
    #[cfg(feature = "site")]
    Server(server::ServerArgs),
    /// Lists the recorded segments of a camera, from the site server (or, run as the server's
    /// user on its machine, from the data folder).
    Recordings(recordings::Args),
    /// Exports cameras' footage for a judicial requisition: one MP4 per camera (remuxed, not
    /// re-encoded), a signed manifest, SHA256SUMS and a README saying how to check them.
    Export(export::Args),
    /// A citizen's request to see images of themselves: a masked copy (privacy masks painted
    /// in, third parties pixelated, re-encoded) with a signed manifest, or a refusal with its
    /// ground; either way recorded with the identity check.
    AccessRequest(access_request::Args),
    /// Checks an export folder: the manifest's signature, every file against the manifest,
    /// SHA256SUMS; exits non-zero naming what fails.
    Verify(verify::Args),
    /// Benchmarks (built with `--features bench`).
    #[cfg(feature = "bench")]
    Bench(bench::Args),
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
    /// Each camera's own (`transport` in the cameras file; TCP then UDP by default).
    Auto,
    Tcp,
    Udp,
}

impl From<TransportArg> for Transport {
    fn from(t: TransportArg) -> Transport {
        match t {
            TransportArg::Auto => Transport::Auto,
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
    init_logging(cli.command.opens_window());
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("vigie: {e:#}");
            // A window's log file keeps why it ended (standard error has it already).
            tracing::error!(target: EXIT_TARGET, "vigie: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The target of the event that says why a command failed: for the log file only.
const EXIT_TARGET: &str = "vigie::exit";

impl Command {
    /// A window of a workstation (started from a menu as often as from a terminal).
    fn opens_window(&self) -> bool {
        match self {
            Command::Live(_) | Command::Review(_) => true,
            Command::Masks(a) => a.opens_window(),
            _ => false,
        }
    }
}

/// Logs to standard error; a window's log also to the file of the day in the user's log folder
/// ([`logfile`]). A log folder that cannot be made is said on standard error, and the window
/// opens all the same.
fn init_logging(window: bool) {
    use tracing_subscriber::Layer;
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let stderr = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_filter(tracing_subscriber::filter::filter_fn(|m| {
            m.target() != EXIT_TARGET
        }));
    let file = if window {
        let dir = crate::config::dirs::user_logs();
        match logfile::DailyLog::at(&dir) {
            Ok(log) => Some(
                tracing_subscriber::fmt::layer()
                    .with_ansi(false)
                    .with_writer(std::sync::Arc::new(log)),
            ),
            Err(e) => {
                eprintln!("vigie: {}: no log file: {e}", dir.display());
                None
            }
        }
    } else {
        None
    };
    let _ = tracing_subscriber::registry()
        .with(filter)
        .with(stderr)
        .with(file)
        .try_init();
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        #[cfg(feature = "site")]
        Command::Demo(a) => demo::run(a),
        Command::Live(a) => live::run(a),
        Command::WallSend(a) => wall_send::run(a),
        #[cfg(feature = "site")]
        Command::Events(a) => events::run(a),
        #[cfg(feature = "site")]
        Command::Camsim(a) => camsim::run(a),
        Command::Still(a) => still::run(a),
        Command::Watch(a) => watch::run(a),
        Command::Review(a) => review::run(a),
        #[cfg(feature = "site")]
        Command::Recorder(a) => recorder::run(a),
        Command::Audit(a) => audit::run(a),
        Command::Masks(a) => masks::run(a),
        Command::Users(a) => users::run(a),
        Command::Register(a) => register::run(a),
        Command::Hold(a) => hold::run(a),
        #[cfg(feature = "site")]
        Command::Retention(a) => retention::run(a),
        #[cfg(feature = "site")]
        Command::Check(a) => check::run(a),
        #[cfg(feature = "site")]
        Command::Server(args) => server::run(args),
        Command::Recordings(a) => recordings::run(a),
        Command::Export(a) => export::run(a),
        Command::AccessRequest(a) => access_request::run(a),
        Command::Verify(a) => verify::run(a),
        #[cfg(feature = "bench")]
        Command::Bench(a) => bench::run(a),
    }
}

/// A window on a data folder signs in at a server of that folder, run in this process on
/// loopback: its handle (kept while the window is open), URL and CA.
#[cfg(feature = "site")]
fn local_server(
    data: &Path,
    cameras: Option<Vec<crate::config::Camera>>,
) -> anyhow::Result<(Box<dyn std::any::Any>, String, Vec<u8>)> {
    let (s, url, ca) = server::local(data, cameras)?;
    Ok((Box::new(s), url, ca))
}

/// A workstation build has no server to run: windows sign in at the site server.
#[cfg(not(feature = "site"))]
fn local_server(
    data: &Path,
    _cameras: Option<Vec<crate::config::Camera>>,
) -> anyhow::Result<(Box<dyn std::any::Any>, String, Vec<u8>)> {
    anyhow::bail!(
        "--data {}: a data folder is opened on the site server's machine; this workstation \
         build signs in at the site server (--server https://HOST:PORT)",
        data.display()
    )
}

/// A window started from the Start menu on Windows gets a console of its own (`vigie.exe` is a
/// console program, for its commands): the window lets it go, so that only the window shows.
/// Started from a terminal, the console is shared and stays. Elsewhere nothing to do.
fn leave_own_console() {
    #[cfg(windows)]
    {
        #[link(name = "kernel32")]
        unsafe extern "system" {
            fn GetConsoleProcessList(list: *mut u32, count: u32) -> u32;
            fn FreeConsole() -> i32;
        }
        let mut ids = [0u32; 2];
        // SAFETY: the buffer holds the 2 entries the call is told of; FreeConsole takes nothing.
        unsafe {
            if GetConsoleProcessList(ids.as_mut_ptr(), 2) == 1 {
                FreeConsole();
            }
        }
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

/// Writes the cameras file for `sim`, and its credentials file when the simulator asks for one.
#[cfg(feature = "site")]
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
    let text = crate::config::CamerasFile::to_toml(&cameras, credential.map(|_| cred_name));
    std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
    eprintln!("camsim: wrote {}", path.display());
    Ok(())
}

/// Creates `path` readable by its owner only, then writes `text`.
#[cfg(feature = "site")]
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
