//! The register (auditors, administrators): what is recorded per camera, every deletion,
//! every export and transmission, every citizen's access request.

use std::path::PathBuf;

use super::{Login, conn, evidence};

/// `vigie register`'s arguments.
#[derive(clap::Args)]
pub struct Args {
    /// The data folder (as the server's user), instead of the site server.
    #[arg(long, conflicts_with_all = ["server", "server_ca"])]
    data: Option<PathBuf>,
    #[command(flatten)]
    conn: conn::ServerConn,
    /// One JSON document instead of text.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    login: Login,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    match args {
        Args {
            data: Some(data),
            json,
            login,
            ..
        } => evidence::register(&data, json, &login),
        Args {
            data: None,
            conn,
            json,
            login,
        } => evidence::register_from_server(&conn, json, &login),
    }
}
