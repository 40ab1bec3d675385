//! `vigie server`: the site server (recorder, event service and HTTPS API in one process), and a
//! server of a data folder for this process only ([`local`]).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::{Context, bail};

use crate::config::CamerasFile;
use crate::server::{Server, ServerOptions, sessions::SessionLimits};

/// Runs the site server until SIGTERM or SIGINT.
#[derive(clap::Args, Debug)]
pub struct ServerArgs {
    /// The data folder: index, segments, keys. Only the server's user may read it (made 0700).
    #[arg(long)]
    pub data: PathBuf,
    /// The site's cameras file (TOML). Without it the server serves the footage already recorded
    /// and records nothing.
    #[arg(long)]
    pub cameras: Option<PathBuf>,
    /// The API's address.
    #[arg(long, default_value = "0.0.0.0:8443")]
    pub listen: SocketAddr,
    /// A host name or address workstations use to reach the server (repeatable); the server's
    /// certificate is made for these. Default: this machine's host name, localhost, 127.0.0.1
    /// and ::1.
    #[arg(long = "name")]
    pub names: Vec<String>,
    /// The site's own certificate chain (PEM, server first) instead of the server's own CA.
    #[arg(long, requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// Its private key (PEM).
    #[arg(long, requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Serve only: do not record the cameras.
    #[arg(long, conflicts_with = "record")]
    pub no_record: bool,
    /// Record only these cameras (ids, comma-separated); default: every camera of the file.
    #[arg(long, value_delimiter = ',')]
    pub record: Vec<String>,
    /// Segment length of the recordings.
    #[arg(long, default_value_t = 60)]
    pub segment_seconds: u64,
    /// Free space to keep on the data folder's disk, MiB (0: no budget).
    #[arg(long, default_value_t = 0)]
    pub reserve_mb: u64,
    /// Also run the event service (alarms from smart cameras, alert buttons, vehicles) here.
    #[arg(long)]
    pub events: Option<SocketAddr>,
    /// Alarm rules for the event service (built-in rules without it).
    #[arg(long, requires = "events")]
    pub rules: Option<PathBuf>,
    /// Vehicle positions over UDP too, one report per datagram (with a MAC line when the rules
    /// declare sources).
    #[arg(long, requires = "events")]
    pub events_udp: Option<SocketAddr>,
    /// Minutes a session may stay unused before the window locks.
    #[arg(long, default_value_t = 15)]
    pub idle_minutes: u64,
    /// Also writes the site CA's certificate (public) to this file, mode 0644, at every start,
    /// for the workstations of this machine to trust (the package uses /run/vigie/site-ca.pem).
    #[arg(long)]
    pub publish_ca: Option<PathBuf>,
    /// Test clock: a file holding milliseconds added to the wall clock, re-read every second.
    #[arg(long, hide = true)]
    pub clock_offset_file: Option<PathBuf>,
}

pub fn run(args: ServerArgs) -> anyhow::Result<()> {
    let cameras = match &args.cameras {
        Some(f) => CamerasFile::load(f)?.cameras,
        None => Vec::new(),
    };
    if !(1..=3600).contains(&args.segment_seconds) {
        bail!("--segment-seconds must be 1 to 3600");
    }
    if !(1..=24 * 60).contains(&args.idle_minutes) {
        bail!("--idle-minutes must be 1 to 1440");
    }
    if let Some(id) = args
        .record
        .iter()
        .find(|id| !cameras.iter().any(|c| &c.id == *id))
    {
        bail!("--record: no camera {id} in the cameras file");
    }
    let names = if args.names.is_empty() {
        default_names()
    } else {
        args.names.clone()
    };
    let events = match args.events {
        Some(listen) => Some(crate::events::service::ServiceOptions {
            data: args.data.clone(),
            listen,
            udp: args.events_udp,
            rules: match &args.rules {
                Some(p) => crate::events::rules::Rules::load(p)?,
                None => crate::events::rules::Rules::default(),
            },
            cameras: cameras.clone(),
            tls: None,
        }),
        None => None,
    };
    let stop = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(sig, stop.clone()).context("installing signal handlers")?;
    }
    let server = Server::start(ServerOptions {
        data: args.data.clone(),
        record: !args.no_record,
        record_only: args.record.clone(),
        recorder: crate::record::recorder::RecorderOptions {
            segment: Duration::from_secs(args.segment_seconds),
            reserve_bytes: args.reserve_mb << 20,
            clock_offset_file: args.clock_offset_file.clone(),
            ..Default::default()
        },
        cameras,
        listen: args.listen,
        names,
        tls: args.tls_cert.clone().zip(args.tls_key.clone()),
        events,
        sessions: SessionLimits {
            idle: Duration::from_secs(args.idle_minutes * 60),
            ..SessionLimits::default()
        },
    })?;
    eprintln!(
        "vigie server: API on https://{}/v1/ ; site CA SHA-256 {} ; workstations trust {}",
        server.addr(),
        server.fingerprint(),
        args.data.join(crate::server::pki::CA_FILE).display()
    );
    eprintln!(
        "vigie server: exports signed by key SHA-256 {} (publish it for vigie verify --fingerprint)",
        server.signing_fingerprint()
    );
    if let Some(to) = &args.publish_ca {
        publish_ca(&args.data.join(crate::server::pki::CA_FILE), to)?;
        eprintln!("vigie server: site CA published at {}", to.display());
    }
    if let Some(a) = server.events_addr() {
        eprintln!("vigie server: events on http://{a}/v1/events");
    }
    while !stop.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(100));
    }
    eprintln!("vigie server: stopping, closing segments");
    server.stop();
    Ok(())
}

/// Copies the CA certificate `ca` to `to` (0644), whole or not at all.
fn publish_ca(ca: &std::path::Path, to: &std::path::Path) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    let pem = std::fs::read(ca).with_context(|| {
        format!(
            "--publish-ca: {} (the server's own CA; with --tls-cert, give workstations the \
             site's CA instead)",
            ca.display()
        )
    })?;
    let tmp = to.with_extension("pem.tmp");
    std::fs::write(&tmp, &pem).with_context(|| format!("--publish-ca {}", tmp.display()))?;
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o644))
        .with_context(|| format!("--publish-ca {}", tmp.display()))?;
    std::fs::rename(&tmp, to).with_context(|| format!("--publish-ca {}", to.display()))?;
    Ok(())
}

fn default_names() -> Vec<String> {
    let mut names = Vec::new();
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname NUL-terminates within it.
    if unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) } == 0 {
        let end = buf.iter().position(|b| *b == 0).unwrap_or(buf.len());
        if let Ok(h) = std::str::from_utf8(&buf[..end])
            && !h.is_empty()
        {
            names.push(h.to_owned());
        }
    }
    for n in ["localhost", "127.0.0.1", "::1"] {
        if !names.iter().any(|x| x == n) {
            names.push(n.to_owned());
        }
    }
    names
}

/// A window opened on a data folder (as the server's user, on its machine): a server of that
/// folder for this process only, on loopback, which the window signs in at like any other; its
/// URL and CA. `cameras`: those of a cameras file, else the index's.
pub fn local(
    data: &Path,
    cameras: Option<Vec<crate::config::Camera>>,
) -> anyhow::Result<(Server, String, Vec<u8>)> {
    let index = data.join(crate::store::INDEX_FILE);
    if !index.exists() {
        bail!(
            "{}: no recording index here ({} is missing)",
            data.display(),
            crate::store::INDEX_FILE
        );
    }
    let users = crate::store::Store::open_readonly(&index)?.users()?;
    if users.is_empty() {
        bail!(
            "{}: no account yet; make the first administrator with: vigie users add NAME \
             --role administrator --data {}",
            data.display(),
            data.display()
        );
    }
    let cameras = match cameras {
        Some(c) => c,
        None => crate::server::indexed_cameras(data)?,
    };
    let server = Server::start(ServerOptions::local(data, cameras))
        .with_context(|| format!("a server of {}", data.display()))?;
    let ca = std::fs::read(data.join(crate::server::pki::CA_FILE))
        .with_context(|| format!("{}: the local CA", data.display()))?;
    let url = server.local_url();
    Ok((server, url, ca))
}
