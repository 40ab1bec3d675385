//! Starts the camera simulator with the demo city and opens the live wall on it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use crate::config::CamerasFile;
use crate::ingest::{IngestTimings, StreamManager, Transport};
use crate::sim::{CamSim, CamSimOptions, EncodeMode};
use crate::ui::LiveWorkspace;

use super::{alarms, audit_admin};

/// `vigie demo`'s arguments.
#[derive(clap::Args)]
pub struct Args {
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
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let Args {
        cameras,
        live_cameras,
        listen,
        record_cameras,
        data,
        no_simulated_events,
    } = args;
    demo(
        cameras,
        live_cameras,
        listen,
        record_cameras,
        data,
        !no_simulated_events,
    )
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
    let streams = StreamManager::new(IngestTimings::default(), Transport::Auto);
    let mut ws = LiveWorkspace::new(sim.cameras(), None, Box::new(streams));
    if record_cameras > 0 {
        ws = ws.with_review_server(
            &server.url,
            Some(&server.data.join(crate::server::pki::CA_FILE)),
        );
    }
    let at = (server.url.clone(), server.ca_pem.clone());
    crate::ui::run_live(
        ws,
        at,
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
