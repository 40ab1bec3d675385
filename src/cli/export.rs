//! Exports cameras' footage for a judicial requisition: one MP4 per camera (remuxed, not
//! re-encoded), a signed manifest, SHA256SUMS and a README saying how to check them.

use std::path::PathBuf;

use super::{Login, conn, evidence, parse_instant};

/// `vigie export`'s arguments.
#[derive(clap::Args)]
pub struct Args {
    /// The data folder, instead of the site server (as the server's user).
    #[arg(long, conflicts_with_all = ["server", "server_ca"])]
    data: Option<PathBuf>,
    #[command(flatten)]
    conn: conn::ServerConn,
    /// Camera ids, comma-separated.
    #[arg(long, value_delimiter = ',', required = true)]
    camera: Vec<String>,
    /// RFC 3339 instants.
    #[arg(long)]
    from: String,
    #[arg(long)]
    to: String,
    /// The folder to create (it may exist if empty).
    #[arg(long)]
    out: PathBuf,
    /// Requisition (procedure) number.
    #[arg(long)]
    requisition: String,
    /// The officer who asked.
    #[arg(long)]
    officer: String,
    #[arg(long)]
    reason: String,
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
            out,
            requisition,
            officer,
            reason,
            login,
            ..
        } => evidence::export(
            &data,
            &login,
            crate::export::Request {
                cameras: camera,
                from_utc_ns: parse_instant("--from", &from)?,
                to_utc_ns: parse_instant("--to", &to)?,
                out,
                requisition,
                officer,
                reason,
                access: None,
            },
            None,
        ),
        Args {
            data: None,
            conn,
            camera,
            from,
            to,
            out,
            requisition,
            officer,
            reason,
            login,
        } => {
            // Checked here first: a wrong instant is named before a password is asked.
            parse_instant("--from", &from)?;
            parse_instant("--to", &to)?;
            evidence::export_from_server(
                &conn,
                &login,
                &crate::client::exports::ExportOrder {
                    cameras: camera,
                    from,
                    to,
                    requisition,
                    officer,
                    reason,
                    access: None,
                },
                &out,
            )
        }
    }
}
