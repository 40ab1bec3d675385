//! Legal holds: footage that retention and the disk budget never delete.

use std::path::PathBuf;

use clap::Subcommand;

use super::{Login, conn, evidence};

/// `vigie hold`'s arguments.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: HoldCommand,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let Args { action } = args;
    evidence::hold(action)
}

#[derive(Subcommand)]
pub(super) enum HoldCommand {
    /// Holds a camera's range for a procedure.
    Add {
        /// The data folder (as the server's user), instead of the site server.
        #[arg(long, conflicts_with_all = ["server", "server_ca"])]
        data: Option<PathBuf>,
        #[command(flatten)]
        conn: conn::ServerConn,
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
        conn: conn::ServerConn,
        #[command(flatten)]
        login: Login,
    },
    /// Ends a hold before it lapses.
    Release {
        /// The data folder (as the server's user), instead of the site server.
        #[arg(long, conflicts_with_all = ["server", "server_ca"])]
        data: Option<PathBuf>,
        #[command(flatten)]
        conn: conn::ServerConn,
        #[arg(long)]
        id: i64,
        #[command(flatten)]
        login: Login,
    },
}
