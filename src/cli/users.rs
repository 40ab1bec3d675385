//! Named user accounts and their roles.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

use clap::Subcommand;

use crate::time::rfc3339;

use super::{Login, audit_admin, conn, evidence, read_password};

/// `vigie users`'s arguments.
#[derive(clap::Args)]
pub struct Args {
    #[command(subcommand)]
    action: UsersCommand,
}

pub fn run(args: Args) -> anyhow::Result<()> {
    let Args { action } = args;
    users(action)
}

#[derive(Subcommand)]
enum UsersCommand {
    /// Adds a named user. The password is asked on the terminal (twice), or read from
    /// standard input with --password-stdin; never from the command line. Once an
    /// administrator exists, an administrator signs in with --user (with --password-stdin,
    /// their password is the first line and the new user's the second); before, only the
    /// first administrator can be added, at set-up.
    Add {
        name: String,
        /// supervisor, operator, reviewer, administrator or auditor.
        #[arg(long)]
        role: String,
        /// The data folder (the first administrator at set-up, as the server's user), instead
        /// of the site server.
        #[arg(long, conflicts_with_all = ["server", "server_ca"])]
        data: Option<PathBuf>,
        #[command(flatten)]
        conn: conn::ServerConn,
        /// Cameras the user may see: comma-separated ids, or * for all (default: none).
        #[arg(long, value_delimiter = ',')]
        cameras: Vec<String>,
        #[arg(long)]
        password_stdin: bool,
        /// The administrator signing in.
        #[arg(long)]
        user: Option<String>,
    },
    /// Sets the cameras a user may see (replacing the previous grant).
    Grant {
        name: String,
        /// The data folder, instead of asking the site server (as the server's user).
        #[arg(long, conflicts_with_all = ["server", "server_ca"])]
        data: Option<PathBuf>,
        #[command(flatten)]
        conn: conn::ServerConn,
        /// Comma-separated ids, or * for all; empty for none.
        #[arg(long, value_delimiter = ',')]
        cameras: Vec<String>,
        #[command(flatten)]
        login: Login,
    },
    /// Lists users, their roles, cameras and state (never password hashes).
    List {
        /// The data folder (as the server's user), instead of the site server.
        #[arg(long, conflicts_with_all = ["server", "server_ca"])]
        data: Option<PathBuf>,
        #[command(flatten)]
        conn: conn::ServerConn,
        /// The administrator signing in at the server.
        #[arg(long, required_unless_present = "data")]
        user: Option<String>,
        #[arg(long)]
        password_stdin: bool,
    },
    /// Disables a user (accounts are kept: the audit log names them).
    Disable {
        name: String,
        /// The data folder, instead of asking the site server (as the server's user).
        #[arg(long, conflicts_with_all = ["server", "server_ca"])]
        data: Option<PathBuf>,
        #[command(flatten)]
        conn: conn::ServerConn,
        #[command(flatten)]
        login: Login,
    },
}

/// One account as `users list` prints it: name, role, cameras (or "-"), state.
fn user_line(name: &str, role: &str, cameras: &[String], state: &str) -> String {
    let cameras = if cameras.is_empty() {
        "-".to_string()
    } else {
        cameras.join(",")
    };
    format!("{name}\t{role}\t{cameras}\t{state}")
}

fn users(action: UsersCommand) -> anyhow::Result<()> {
    use crate::auth::{Role, hash_password};
    let now = chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0);
    let open = |data: &Path| -> anyhow::Result<crate::store::Store> {
        std::fs::create_dir_all(data).with_context(|| format!("creating {}", data.display()))?;
        Ok(crate::store::Store::open(
            &data.join(crate::store::INDEX_FILE),
        )?)
    };
    match action {
        UsersCommand::Add {
            name,
            role,
            data: None,
            conn,
            cameras,
            password_stdin,
            user,
        } => {
            let Some(admin) = user else {
                bail!("an administrator signs in at the server to add users: --user NAME");
            };
            let mut api = conn.sign_in(&Login {
                user: admin,
                password_stdin,
            })?;
            let added = (|| -> anyhow::Result<crate::client::ApiUser> {
                let password = read_password(&format!("Password for {name}: "), password_stdin)?;
                if !password_stdin && read_password("Again: ", false)? != password {
                    bail!("the two passwords differ");
                }
                Ok(api.post(
                    "/v1/users",
                    &crate::server::api::NewUser {
                        name: name.clone(),
                        role,
                        cameras,
                        password,
                    },
                )?)
            })();
            let _ = api.sign_out();
            let u = added?;
            eprintln!("users: {} added as {}", u.name, u.role);
            Ok(())
        }
        UsersCommand::Add {
            name,
            role,
            data: Some(data),
            cameras,
            password_stdin,
            user,
            ..
        } => {
            if !crate::auth::valid_user_name(&name) {
                bail!("user name {name:?}: 1 to 64 letters, digits, '.', '_' or '-'");
            }
            let Some(role) = Role::parse(&role) else {
                let all: Vec<&str> = Role::ALL.iter().map(|r| r.as_str()).collect();
                bail!("--role {role:?}: one of {}", all.join(", "));
            };
            let store = open(&data)?;
            let admins = store
                .users()?
                .into_iter()
                .any(|u| u.role == Role::Administrator.as_str() && u.disabled_utc_ns.is_none());
            // Who adds: an administrator signed in, or the set-up adding the first one.
            let by = match (&user, admins) {
                (Some(u), _) => {
                    let session = evidence::sign_in(
                        &data,
                        &Login {
                            user: u.clone(),
                            password_stdin,
                        },
                    )?;
                    session.require(&data, crate::auth::Action::ManageUsers, &[])?;
                    Some(session)
                }
                (None, false) if role == Role::Administrator => None,
                (None, false) => bail!(
                    "add the first administrator first (--role administrator); then an administrator signs in with --user to add the others"
                ),
                (None, true) => bail!("an administrator signs in to add users: --user NAME"),
            };
            if store.users()?.iter().any(|u| u.name == name) {
                bail!("user {name} already exists");
            }
            let password = read_password(&format!("Password for {name}: "), password_stdin)?;
            if !password_stdin && read_password("Again: ", false)? != password {
                bail!("the two passwords differ");
            }
            let hash = hash_password(&password)?;
            store.add_user(&name, role.as_str(), &hash, &cameras, now)?;
            let detail = format!("{name} as {role}");
            match &by {
                Some(s) => {
                    s.log(&data, "user added", &cameras.join(","), None, "", &detail)?;
                }
                None => audit_admin(
                    &data,
                    "user added",
                    &cameras.join(","),
                    &format!("{detail} (first administrator, at set-up)"),
                )?,
            }
            eprintln!("users: {name} added as {role}");
            Ok(())
        }
        UsersCommand::List {
            data: Some(data), ..
        } => {
            let store = open(&data)?;
            for u in store.users()? {
                let state = match u.disabled_utc_ns {
                    Some(t) => format!("disabled {}", rfc3339(t)),
                    None => "enabled".into(),
                };
                println!("{}", user_line(&u.name, &u.role, &u.cameras, &state));
            }
            Ok(())
        }
        UsersCommand::List {
            data: None,
            conn,
            user,
            password_stdin,
        } => {
            let mut api = conn.sign_in(&Login {
                user: user.unwrap_or_default(),
                password_stdin,
            })?;
            let listed: Result<Vec<crate::client::ApiUser>, _> = api.get("/v1/users");
            let _ = api.sign_out();
            for u in listed? {
                let state = if u.disabled { "disabled" } else { "enabled" };
                println!("{}", user_line(&u.name, &u.role, &u.cameras, state));
            }
            Ok(())
        }
        UsersCommand::Disable {
            name,
            data: None,
            conn,
            login,
        } => {
            let mut api = conn.sign_in(&login)?;
            let path = format!("/v1/users/{}/disable", crate::client::path_segment(&name));
            let r = api.post_empty(&path, &serde_json::json!({}));
            let _ = api.sign_out();
            r?;
            eprintln!("users: {name} disabled; their sessions are closed");
            Ok(())
        }
        UsersCommand::Grant {
            name,
            data: None,
            conn,
            cameras,
            login,
        } => {
            let mut api = conn.sign_in(&login)?;
            let path = format!("/v1/users/{}/cameras", crate::client::path_segment(&name));
            let r: Result<crate::client::ApiUser, _> =
                api.post(&path, &serde_json::json!({ "cameras": cameras }));
            let _ = api.sign_out();
            let u = r?;
            eprintln!(
                "users: {} may see {}",
                u.name,
                if u.cameras.is_empty() {
                    "no camera".to_string()
                } else {
                    u.cameras.join(",")
                }
            );
            Ok(())
        }
        UsersCommand::Disable {
            name,
            data: Some(data),
            login,
            ..
        } => {
            let session = evidence::sign_in(&data, &login)?;
            session.require(&data, crate::auth::Action::ManageUsers, &[])?;
            if name == session.user {
                bail!("{name}: an administrator does not disable their own account");
            }
            let store = open(&data)?;
            if !store.disable_user(&name, now)? {
                bail!("no enabled user {name}");
            }
            session.log(&data, "user disabled", "", None, "", &name)?;
            eprintln!("users: {name} disabled");
            Ok(())
        }
        UsersCommand::Grant {
            name,
            data: Some(data),
            cameras,
            login,
            ..
        } => {
            let session = evidence::sign_in(&data, &login)?;
            session.require(&data, crate::auth::Action::ManageUsers, &[])?;
            let store = open(&data)?;
            let before = store
                .users()?
                .into_iter()
                .find(|u| u.name == name)
                .with_context(|| format!("no user {name}"))?
                .cameras;
            store.set_user_cameras(&name, &cameras)?;
            session.log(
                &data,
                "permissions changed",
                &cameras.join(","),
                None,
                "",
                &format!(
                    "{name}: cameras {} -> {}",
                    if before.is_empty() {
                        "none".to_string()
                    } else {
                        before.join(",")
                    },
                    if cameras.is_empty() {
                        "none".to_string()
                    } else {
                        cameras.join(",")
                    }
                ),
            )?;
            eprintln!(
                "users: {name} may see {}",
                if cameras.is_empty() {
                    "no camera".to_string()
                } else {
                    cameras.join(",")
                }
            );
            Ok(())
        }
    }
}
