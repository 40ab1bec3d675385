//! Retention after a clock problem: an administrator lets a refused pass go ahead.

use std::path::PathBuf;

use anyhow::bail;
use clap::Subcommand;

use super::{Login, conn, evidence};

/// `vigie retention`'s arguments.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: RetentionCommand,
}

#[derive(Subcommand)]
enum RetentionCommand {
    /// Lets the retention pass refused after a clock jump (or a long stop) delete what it
    /// found, at its next run. Check the server's clock first.
    Allow {
        /// The data folder (as the server's user), instead of the site server.
        #[arg(long, conflicts_with_all = ["server", "server_ca"])]
        data: Option<PathBuf>,
        #[command(flatten)]
        conn: conn::ServerConn,
        #[command(flatten)]
        login: Login,
    },
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let RetentionCommand::Allow { data, conn, login } = args.action;
    match data {
        Some(data) => {
            let session = evidence::sign_in(&data, &login)?;
            session.require(&data, crate::auth::Action::AllowRetention, &[])?;
            let store = crate::store::Store::open(&data.join(crate::store::INDEX_FILE))?;
            let now = crate::time::now_utc_ns();
            if !crate::record::retention::allow(&store, &session.user, now)? {
                bail!("{}: no refused retention pass is waiting", data.display());
            }
            session.log(&data, "retention allowed", "", None, "", "")?;
        }
        None => {
            let mut api = conn.sign_in(&login)?;
            let r = api.post_empty("/v1/retention/allow", &serde_json::json!({}));
            let _ = api.sign_out();
            r?;
        }
    }
    println!("retention: the refused pass deletes what it found at its next run");
    Ok(())
}
