//! How a client command reaches the site server: its address and CA, from the flags or the
//! workstation's client configuration, and the sign-in.

use std::path::PathBuf;

use anyhow::Context;

use crate::client::{Api, trust::TrustStore};

/// How a client command reaches the site server.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct ServerConn {
    /// The site server, https://HOST[:PORT] (default: `server` of the user's client.toml, then
    /// of the machine's: ~/.config/vigie and /etc/vigie on Linux, %APPDATA%\Vigie and
    /// %ProgramData%\Vigie on Windows).
    #[arg(long)]
    pub server: Option<String>,
    /// The site's CA certificate (PEM). Without it, the CA pinned on the first connection.
    #[arg(long)]
    pub server_ca: Option<PathBuf>,
}

#[derive(serde::Deserialize, Default)]
struct ClientToml {
    server: Option<String>,
    server_ca: Option<PathBuf>,
}

impl ServerConn {
    /// The address and CA file from the flags, else from the client configuration files.
    pub fn resolved(&self) -> anyhow::Result<Option<(String, Option<PathBuf>)>> {
        if let Some(s) = &self.server {
            return Ok(Some((s.clone(), self.server_ca.clone())));
        }
        let dirs = crate::config::dirs::user_config();
        let files: Vec<PathBuf> = std::iter::once(crate::config::dirs::system_config())
            .chain(dirs)
            .map(|d| d.join("client.toml"))
            .collect();
        let mut found = None;
        for f in files.iter().rev() {
            let Ok(text) = std::fs::read_to_string(f) else {
                continue;
            };
            let t: ClientToml = toml::from_str(&text)
                .with_context(|| format!("{}: not a Vigie client configuration", f.display()))?;
            if let Some(s) = t.server {
                found = Some((s, self.server_ca.clone().or(t.server_ca)));
                break;
            }
        }
        Ok(found)
    }

    /// The server's URL and the CA to trust for it (the file given, else the pinned one,
    /// confirmed on the terminal the first time), before a window opens.
    pub fn trusted(&self) -> anyhow::Result<(String, Vec<u8>)> {
        let (url, ca) = self
            .resolved()?
            .context("no server: pass --server https://HOST:PORT or set it in client.toml")?;
        let pem = match ca {
            Some(f) => std::fs::read(&f).with_context(|| format!("--server-ca {}", f.display()))?,
            None => {
                let store = TrustStore::default_location()
                    .context("no HOME: cannot keep the server's pinned CA; pass --server-ca")?;
                store.pinned_or_ask(
                    &crate::client::parse_server_url(&url)?,
                    &confirm_on_terminal,
                )?
            }
        };
        Ok((url, pem))
    }

    /// Connects (asking on the terminal to confirm a new server's CA) and signs `user` in.
    pub fn sign_in(&self, login: &super::Login) -> anyhow::Result<Api> {
        let (url, ca) = self
            .resolved()?
            .context("no server: pass --server https://HOST:PORT or set it in client.toml")?;
        let store = TrustStore::default_location()
            .context("no HOME: cannot keep the server's pinned CA; pass --server-ca")?;
        let mut api = Api::connect(&url, ca.as_deref(), &store, &confirm_on_terminal)?;
        let password = super::read_password(
            &format!("Vigie password for {} on {url}: ", login.user),
            login.password_stdin,
        )?;
        api.sign_in(&login.user, &password)?;
        Ok(api)
    }
}

/// Asks the person at the terminal whether `fingerprint` is the server's.
fn confirm_on_terminal(server: &str, fingerprint: &str) -> bool {
    use std::io::{BufRead, IsTerminal, Write};
    if !std::io::stdin().is_terminal() {
        eprintln!(
            "vigie: {server} is not known to this workstation; its CA's SHA-256 is {fingerprint}. \
             Pass --server-ca with the site's CA file, or confirm it on a terminal."
        );
        return false;
    }
    eprint!(
        "The server {server} is not known to this workstation.\nIts certificate authority's \
         SHA-256 fingerprint is\n  {fingerprint}\nCompare it with the one the server printed at \
         its first start. Trust it? [yes/no] "
    );
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    let _ = std::io::stdin().lock().read_line(&mut line);
    matches!(line.trim().to_ascii_lowercase().as_str(), "yes" | "y")
}
