//! The tamper-evident audit log.

use std::path::PathBuf;

use anyhow::bail;

use clap::Subcommand;

use super::{Login, conn, evidence};

/// `vigie audit`'s arguments.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: AuditCommand,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    match args {
        Args {
            action:
                AuditCommand::Verify {
                    data,
                    conn,
                    user,
                    password_stdin,
                },
        } => {
            let v = match data {
                Some(data) => crate::auth::audit::verify(&data)?,
                None => {
                    let mut api = conn.sign_in(&Login {
                        user: user.unwrap_or_default(),
                        password_stdin,
                    })?;
                    let r: Result<serde_json::Value, _> = api.get("/v1/audit/verify");
                    let _ = api.sign_out();
                    let r = r?;
                    crate::auth::audit::Verdict {
                        entries: r["entries"].as_i64().unwrap_or(0),
                        checkpoints: r["checkpoints"].as_u64().unwrap_or(0) as usize,
                        problems: r["problems"]
                            .as_array()
                            .map(|a| {
                                a.iter()
                                    .map(|p| p.as_str().unwrap_or_default().to_owned())
                                    .collect()
                            })
                            .unwrap_or_default(),
                    }
                }
            };
            for p in &v.problems {
                println!("{p}");
            }
            if v.problems.is_empty() {
                eprintln!(
                    "audit: {} entries, {} signed checkpoints: intact",
                    v.entries, v.checkpoints
                );
                Ok(())
            } else {
                bail!(
                    "audit: {} problem(s) in {} entries",
                    v.problems.len(),
                    v.entries
                )
            }
        }
        Args {
            action:
                AuditCommand::Show {
                    data: Some(data),
                    from,
                    to,
                    of,
                    login,
                    ..
                },
        } => evidence::audit_show(&data, from.as_deref(), to.as_deref(), of.as_deref(), &login),
        Args {
            action:
                AuditCommand::Show {
                    data: None,
                    conn,
                    from,
                    to,
                    of,
                    login,
                },
        } => evidence::audit_show_from_server(
            &conn,
            from.as_deref(),
            to.as_deref(),
            of.as_deref(),
            &login,
        ),
        Args {
            action:
                AuditCommand::Export {
                    data: Some(data),
                    out,
                    login,
                    ..
                },
        } => evidence::audit_export(&data, &out, &login),
        Args {
            action:
                AuditCommand::Export {
                    data: None,
                    conn,
                    out,
                    login,
                },
        } => evidence::audit_export_from_server(&conn, &out, &login),
        Args {
            action: AuditCommand::Checkpoint { data },
        } => {
            match crate::auth::audit::checkpoint(&data)? {
                Some(seq) => eprintln!("audit: checkpoint signed at entry {seq}"),
                None => eprintln!("audit: the log is empty"),
            }
            Ok(())
        }
    }
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Recomputes the chain of the audit log and checks every signed checkpoint; exits
    /// non-zero naming each edited, inserted, deleted or reordered entry and a cut tail.
    Verify {
        /// The data folder (as the server's user), instead of asking the site server.
        #[arg(long, conflicts_with_all = ["server", "server_ca"])]
        data: Option<PathBuf>,
        #[command(flatten)]
        conn: conn::ServerConn,
        /// The auditor signing in at the server.
        #[arg(long, required_unless_present = "data")]
        user: Option<String>,
        #[arg(long)]
        password_stdin: bool,
    },
    /// Signs the log's current head into audit-checkpoints.log (the recorder does it every
    /// five minutes).
    Checkpoint {
        #[arg(long)]
        data: PathBuf,
    },
    /// Shows the log's entries (auditors), oldest first: from the site server, or with --data
    /// from the data folder (as the server's user).
    Show {
        #[arg(long, conflicts_with_all = ["server", "server_ca"])]
        data: Option<PathBuf>,
        #[command(flatten)]
        conn: conn::ServerConn,
        /// RFC 3339 instants bounding the entries shown.
        #[arg(long)]
        from: Option<String>,
        #[arg(long)]
        to: Option<String>,
        /// Only the entries of this user.
        #[arg(long)]
        of: Option<String>,
        #[command(flatten)]
        login: Login,
    },
    /// Writes the whole log, with its hashes and the chain's verdict, as JSON into FILE and
    /// its Ed25519 signature into FILE.sig (auditors).
    Export {
        /// The data folder (as the server's user), instead of the site server.
        #[arg(long, conflicts_with_all = ["server", "server_ca"])]
        data: Option<PathBuf>,
        #[command(flatten)]
        conn: conn::ServerConn,
        #[arg(long)]
        out: PathBuf,
        #[command(flatten)]
        login: Login,
    },
}
