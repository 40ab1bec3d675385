//! `vigie events`, and the simulator's events, buttons and patrol cars.

use std::net::SocketAddr;
use std::path::Path;

use anyhow::Context;

use crate::config::{Camera, CamerasFile};
use crate::events::rules::Rules;
use crate::events::service::{EventService, ServiceOptions, TlsOptions};
use crate::sim::{EventSim, EventSimOptions};

/// The simulator's event options.
#[derive(clap::Args, Clone, Debug)]
pub struct SimEventArgs {
    /// Sends simulated smart-camera events, alert-button presses and patrol positions to
    /// `vigie events` at this address.
    #[arg(long)]
    pub events: Option<SocketAddr>,
    /// Sends positions over UDP to this address instead of HTTP.
    #[arg(long, requires = "events")]
    pub positions_udp: Option<SocketAddr>,
    /// A smart-camera event every this many seconds on average.
    #[arg(long, default_value_t = 20.0)]
    pub event_every_s: f64,
    /// An alert-button press every this many seconds on average (0: only `press BUTTON`).
    #[arg(long, default_value_t = 180.0)]
    pub button_every_s: f64,
    #[arg(long, default_value_t = 6)]
    pub patrol_cars: u32,
    /// Speaks as a declared source: a TOML file (not readable by every user) with `name`,
    /// `token` (its bearer token) and `udp_key` (64 hexadecimal digits, for signed position
    /// datagrams).
    #[arg(long, requires = "events")]
    pub source: Option<std::path::PathBuf>,
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SourceFile {
    name: String,
    token: String,
    udp_key: Option<String>,
}

/// Reads the simulator's `--source` file; errors name the file.
fn load_source(path: &Path) -> anyhow::Result<crate::sim::SimSource> {
    let shown = path.display();
    if let Some(mode) = crate::config::readable_by_all(path).with_context(|| format!("{shown}"))? {
        anyhow::bail!(
            "{shown}: readable by every user (mode {mode:o}) and holds a token: chmod o-r"
        );
    }
    let text = std::fs::read_to_string(path).with_context(|| format!("{shown}"))?;
    let f: SourceFile = toml::from_str(&text).with_context(|| format!("{shown}"))?;
    let udp_key = match &f.udp_key {
        None => None,
        Some(k) => Some(
            crate::auth::audit::unhex32(k)
                .with_context(|| format!("{shown}: udp_key: must be 64 hexadecimal digits"))?,
        ),
    };
    Ok(crate::sim::SimSource {
        name: f.name,
        token: f.token,
        udp_key,
    })
}

impl SimEventArgs {
    pub fn start(&self, cameras: Vec<Camera>) -> anyhow::Result<Option<EventSim>> {
        let Some(events) = self.events else {
            return Ok(None);
        };
        let sim = EventSim::start(
            EventSimOptions {
                events,
                positions_udp: self.positions_udp,
                event_every_s: self.event_every_s,
                button_every_s: self.button_every_s,
                patrol_cars: self.patrol_cars,
                seed: crate::time::now_utc_ns() as u64,
                source: self.source.as_deref().map(load_source).transpose()?,
            },
            cameras,
        )
        .context("starting the event simulation")?;
        eprintln!(
            "camsim: events to http://{events}, {} patrol cars; buttons: {}",
            self.patrol_cars,
            crate::sim::BUTTONS.map(|b| b.0).join(", ")
        );
        Ok(Some(sim))
    }
}

/// Runs the event service until killed.
pub fn events(
    data: &Path,
    cameras: &Path,
    (listen, udp): (SocketAddr, Option<SocketAddr>),
    rules: Option<&Path>,
    tls: Option<TlsOptions>,
) -> anyhow::Result<()> {
    let cameras = CamerasFile::load(cameras)?.cameras;
    let rules = match rules {
        Some(p) => Rules::load(p)?,
        None => Rules::default(),
    };
    let open = rules.sources.is_empty();
    let service = EventService::start(ServiceOptions {
        data: data.to_owned(),
        listen,
        udp,
        rules,
        cameras,
        tls,
    })?;
    eprintln!(
        "vigie events: http://{}/v1/events{}{}{}",
        service.addr(),
        service
            .tls_addr()
            .map(|a| format!(", https://{a}/v1/events"))
            .unwrap_or_default(),
        service
            .udp_addr()
            .map(|u| format!(", positions on udp://{u}"))
            .unwrap_or_default(),
        if open {
            " (no sources declared: no token asked)"
        } else {
            ""
        }
    );
    loop {
        std::thread::park();
    }
}

/// The demo's event service and simulation: built-in rules, any free port if 8610 is taken.
/// Unless `simulate` is false, simulated smart-camera events, alert buttons and patrol cars
/// sent to the event service at `events` (the demo's server runs it).
pub fn demo_event_sim(
    events: SocketAddr,
    cameras: Vec<Camera>,
    simulate: bool,
) -> anyhow::Result<Option<EventSim>> {
    eprintln!("vigie demo: events on http://{events}/v1/events");
    if !simulate {
        return Ok(None);
    }
    let sim = SimEventArgs {
        events: Some(events),
        positions_udp: None,
        event_every_s: 45.0,
        button_every_s: 240.0,
        patrol_cars: 6,
        source: None,
    }
    .start(cameras)?
    .context("no event simulation")?;
    Ok(Some(sim))
}
