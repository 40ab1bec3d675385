//! Opens the live wall on the cameras of a cameras file.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use crate::config::{CamerasFile, Layout, builtin_layouts};
use crate::ingest::{IngestTimings, StreamManager, Transport};
use crate::ui::LiveWorkspace;

use super::{TransportArg, conn};

/// `vigie live`'s arguments.
#[derive(clap::Args)]
pub struct Args {
    /// Cameras file (TOML), with --data; without them the cameras come from the site
    /// server (--server, or client.toml), with their addresses and credentials.
    #[arg(long, requires = "data")]
    cameras: Option<PathBuf>,
    /// Layout: a layout file, or the name of a built-in one ("4x4", "12x8", "1 large + 12 small").
    #[arg(long)]
    layout: Option<String>,
    #[arg(long, value_enum, default_value_t = TransportArg::Auto)]
    transport: TransportArg,
    /// The installation's data folder (its users sign in; "Review…" opens its recordings),
    /// on the server's machine as its user, instead of the site server.
    #[arg(long, requires = "cameras", conflicts_with_all = ["server", "server_ca"])]
    data: Option<PathBuf>,
    #[command(flatten)]
    conn: conn::ServerConn,
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
    /// The most live video this workstation receives, kbit/s (a remote room on a slow link):
    /// the server sends keyframes only while over it, and the tiles say so.
    #[arg(long)]
    max_kbps: Option<u32>,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let Args {
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
        max_kbps,
    } = args;
    live(
        match (cameras, data) {
            (Some(c), Some(d)) => LiveSource::Folder(c, d),
            _ => LiveSource::Server(conn),
        },
        layout.as_deref(),
        transport.into(),
        workstation.as_deref(),
        LiveExtras {
            name,
            max_kbps,
            map: map_background(map.as_deref(), map_bounds, map_ca)?,
            motion: match (motion, events) {
                (Some(m), Some(e)) => Some((crate::events::motion::load_zones(&m)?, e)),
                _ => None,
            },
        },
    )
}

/// What `vigie live` adds to the wall: the map's background, motion detection.
struct LiveExtras {
    name: Option<String>,
    max_kbps: Option<u32>,
    map: crate::tiles::Background,
    motion: Option<(Vec<crate::events::motion::MotionZone>, SocketAddr)>,
}

/// Where a live wall's cameras and sign-in come from.
enum LiveSource {
    /// A cameras file and the data folder (the server's machine, as its user).
    Folder(PathBuf, PathBuf),
    /// The site server.
    Server(conn::ServerConn),
}

fn live(
    source: LiveSource,
    layout: Option<&str>,
    transport: Transport,
    workstation: Option<&str>,
    extras: LiveExtras,
) -> anyhow::Result<()> {
    let LiveExtras {
        name,
        max_kbps,
        map,
        motion,
    } = extras;
    let layout = match layout {
        None => None,
        Some(name) => Some(find_layout(name)?),
    };
    let streams = StreamManager::new(IngestTimings::default(), transport);
    // With a data folder, the window still signs in at a server: one of that folder, in this
    // process, on loopback.
    let (local, url, ca, ca_file) = match source {
        LiveSource::Folder(cameras, data) => {
            let file = CamerasFile::load(&cameras)?;
            if file.cameras.is_empty() {
                bail!("{}: declares no camera", cameras.display());
            }
            let (s, url, ca) = super::local_server(&data, Some(file.cameras))?;
            (
                Some(s),
                url,
                ca,
                Some(data.join(crate::server::pki::CA_FILE)),
            )
        }
        LiveSource::Server(conn) => {
            let (url, ca) = conn.trusted()?;
            let ca_file = conn.resolved()?.and_then(|(_, f)| f);
            (None, url, ca, ca_file)
        }
    };
    let mut ws = LiveWorkspace::new(Vec::new(), layout, Box::new(streams))
        .cameras_from_server()
        .with_bandwidth_cap(max_kbps)
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
    let keep: Vec<Box<dyn std::any::Any>> = local.into_iter().collect();
    super::leave_own_console();
    crate::ui::run_live(ws, (url, ca), keep, "Vigie — live wall")
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
    let cache = crate::config::dirs::user_cache().join("tiles");
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
