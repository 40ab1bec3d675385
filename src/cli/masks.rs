//! Privacy masks: polygons of a camera's picture never shown (administrators).

use std::path::PathBuf;

use clap::Subcommand;

use super::{Login, conn, evidence};

/// `vigie masks`'s arguments.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: MasksCommand,
}

impl Args {
    /// The mask editor is a window.
    pub(super) fn opens_window(&self) -> bool {
        matches!(self.action, MasksCommand::Edit { .. })
    }
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let Args { action } = args;
    evidence::masks(action)
}

#[derive(Subcommand)]
pub(super) enum MasksCommand {
    /// Adds a mask to a camera.
    Add {
        /// The data folder (as the server's user), instead of the site server.
        #[arg(long, conflicts_with_all = ["server", "server_ca"])]
        data: Option<PathBuf>,
        #[command(flatten)]
        conn: conn::ServerConn,
        #[arg(long)]
        camera: String,
        /// Points as fractions of the picture's width and height, "x,y x,y x,y ..." (3 to
        /// 64 points, each from 0 to 1), e.g. "0.6,0.1 0.9,0.1 0.9,0.5 0.6,0.5".
        #[arg(long)]
        polygon: String,
        /// What it hides ("windows of no. 12").
        #[arg(long, default_value = "")]
        label: String,
        #[command(flatten)]
        login: Login,
    },
    /// Lists the masks in force.
    List {
        /// The data folder (as the server's user), instead of the site server.
        #[arg(long, conflicts_with_all = ["server", "server_ca"])]
        data: Option<PathBuf>,
        #[command(flatten)]
        conn: conn::ServerConn,
        #[command(flatten)]
        login: Login,
    },
    /// Removes a mask (kept in the index as removed).
    Remove {
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
    /// The mask editor window: a still of each camera, its masks drawn over it.
    Edit {
        /// The data folder (as the server's user), instead of the site server.
        #[arg(long, conflicts_with_all = ["server", "server_ca"])]
        data: Option<PathBuf>,
        #[command(flatten)]
        conn: conn::ServerConn,
    },
}
