//! The review window on the site server: synced playback, timelines, bookmarks, holds and
//! exports, all through the server's API.

use std::path::PathBuf;

use super::{conn, parse_instant};

/// `vigie review`'s arguments.
#[derive(clap::Args)]
pub struct Args {
    /// The data folder (as the server's user, on its machine): the window signs in at a server
    /// of that folder started for it, instead of the site server.
    #[arg(long, conflicts_with_all = ["server", "server_ca"])]
    data: Option<PathBuf>,
    #[command(flatten)]
    conn: conn::ServerConn,
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
    let Args {
        data,
        conn,
        cameras,
        at,
        grid,
    } = args;
    // With a data folder, the window still signs in at a server: one of that folder, in this
    // process, on loopback. Otherwise the site server's CA is the file given, or the one pinned
    // for it (confirmed on the terminal the first time).
    let (server, keep): (_, Vec<Box<dyn std::any::Any>>) = match &data {
        Some(data) => {
            let (local, url, ca) = super::local_server(data, None)?;
            ((url, ca), vec![local])
        }
        None => (conn.trusted()?, Vec::new()),
    };
    let at_ns = at
        .as_deref()
        .map(|t| parse_instant("--at", t))
        .transpose()?;
    let start = crate::ui::ReviewStart {
        server,
        // Without --at: the latest footage, asked of the server once signed in.
        latest: at_ns.is_none(),
        at_utc_ns: at_ns.unwrap_or_else(crate::time::now_utc_ns),
        grid,
        cameras,
    };
    super::leave_own_console();
    crate::ui::run_review(start, keep, "Vigie — review")
        .map_err(|e| anyhow::anyhow!("the review window failed: {e}"))
}
