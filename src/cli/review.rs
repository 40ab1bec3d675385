//! The review workspace over a recorder's data folder: synced playback, timelines,
//! bookmarks and holds.

use std::path::{Path, PathBuf};

use anyhow::bail;

use super::{parse_instant, server};

/// `vigie review`'s arguments.
#[derive(clap::Args)]
pub struct Args {
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
}

pub fn run(args: Args) -> anyhow::Result<()> {
    match args {
        Args {
            data: Some(data),
            cameras,
            at,
            grid,
            ..
        } => review(&data, &cameras, at.as_deref(), grid),
        Args {
            data: None,
            conn,
            cameras,
            at,
            grid,
        } => review_on_server(&conn, &cameras, at.as_deref(), grid),
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
