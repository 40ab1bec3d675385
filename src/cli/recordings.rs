//! Lists the recorded segments of a camera, from the site server (or, run as the server's
//! user on its machine, from the data folder).

use std::path::PathBuf;

use super::{Login, conn, evidence};

/// `vigie recordings`'s arguments.
#[derive(clap::Args)]
pub struct Args {
    /// The data folder (holds index.sqlite3), instead of asking the server.
    #[arg(long, conflicts_with_all = ["server", "server_ca"])]
    data: Option<PathBuf>,
    #[command(flatten)]
    conn: conn::ServerConn,
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
}

pub fn run(args: Args) -> anyhow::Result<()> {
    match args {
        Args {
            data: Some(data),
            camera,
            from,
            to,
            json,
            login,
            ..
        } => evidence::recordings(&data, &camera, from.as_deref(), to.as_deref(), json, &login),
        Args {
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
