//! Video-wall control between the workstations of a site: another workstation sends a camera
//! to a tile of one of this workstation's screens, or a layout to a screen.
//!
//! One JSON line per command over TCP, authenticated with HMAC-SHA256 under a key the site's
//! workstations share (a file readable by the vigie group), stamped with the sender's clock
//! (refused when more than 30 s off) and never accepted twice. The listener is opt-in
//! (`vigie live --control-listen ADDR --control-key FILE`); commands reach the UI thread through
//! a channel it drains each frame.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// What a command asks.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WallCommand {
    /// The screen's name on the receiving workstation.
    pub screen: String,
    /// A camera to show, on `tile` (0-based; default: the screen's selected tile).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub camera: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tile: Option<usize>,
    /// A layout to put on the screen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layout: Option<String>,
    /// Who sent it (signed in on the sending workstation).
    pub by: String,
    /// The sender's clock, ms since the epoch.
    pub at_ms: i64,
}

#[derive(Serialize, Deserialize)]
struct Envelope {
    command: WallCommand,
    /// HMAC-SHA256 of the command's JSON, hex.
    mac: String,
}

/// Commands are refused when the sender's clock is further off than this.
const MAX_SKEW_MS: i64 = 30_000;

/// The HMAC-SHA256 of `message` under `key`, ready to give out or to check.
fn hmac_of(key: &[u8], message: &[u8]) -> hmac::Hmac<Sha256> {
    use hmac::Mac;
    // HMAC takes keys of any length: a longer one is hashed, a shorter one padded.
    let mut mac = <hmac::Hmac<Sha256> as hmac::digest::KeyInit>::new_from_slice(key)
        .unwrap_or_else(
            |_| <hmac::Hmac<Sha256> as hmac::digest::KeyInit>::new(&Default::default()),
        );
    mac.update(message);
    mac
}

/// HMAC-SHA256 of `message` under `key`.
fn hmac(key: &[u8], message: &[u8]) -> [u8; 32] {
    use hmac::Mac;
    hmac_of(key, message).finalize().into_bytes().into()
}

/// Reads a site key file (at least 32 bytes).
pub fn read_key(path: &Path) -> Result<Vec<u8>, String> {
    let key = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if key.len() < 32 {
        return Err(format!(
            "{}: a control key has at least 32 bytes (it has {})",
            path.display(),
            key.len()
        ));
    }
    Ok(key)
}

/// Sends `command` to the workstation listening at `to`; returns its answer.
pub fn send(to: SocketAddr, key: &[u8], command: &WallCommand) -> Result<String, String> {
    let body = serde_json::to_vec(command).map_err(|e| e.to_string())?;
    let env = Envelope {
        command: command.clone(),
        mac: crate::export::hex(&hmac(key, &body)),
    };
    let mut s = TcpStream::connect_timeout(&to, Duration::from_secs(5))
        .map_err(|e| format!("{to}: {e}"))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .map_err(|e| e.to_string())?;
    let mut line = serde_json::to_string(&env).map_err(|e| e.to_string())?;
    line.push('\n');
    s.write_all(line.as_bytes())
        .map_err(|e| format!("{to}: {e}"))?;
    let mut answer = String::new();
    BufReader::new(s)
        .read_line(&mut answer)
        .map_err(|e| format!("{to}: {e}"))?;
    let answer = answer.trim().to_owned();
    match answer.strip_prefix("ok") {
        Some(_) => Ok(answer),
        None => Err(format!("{to} refused: {answer}")),
    }
}

/// Checks an envelope's line; the command when it is authentic, fresh and new.
fn check(line: &str, key: &[u8], seen: &Mutex<Vec<(String, i64)>>) -> Result<WallCommand, String> {
    let env: Envelope = serde_json::from_str(line).map_err(|e| format!("not a command: {e}"))?;
    let body = serde_json::to_vec(&env.command).map_err(|e| e.to_string())?;
    let given = crate::auth::audit::unhex(&env.mac).unwrap_or_default();
    // Compared in constant time.
    let same = hmac::Mac::verify_slice(hmac_of(key, &body), &given).is_ok();
    if !same {
        return Err("bad signature (not this site's key)".into());
    }
    let c = env.command;
    let now = crate::time::now_utc_ns() / 1_000_000;
    if (now - c.at_ms).abs() > MAX_SKEW_MS {
        return Err("stale command (the clocks differ by more than 30 s)".into());
    }
    let mut seen = seen.lock().unwrap_or_else(|p| p.into_inner());
    let key_of = (c.by.clone(), c.at_ms);
    if seen.contains(&key_of) {
        return Err("command already received".into());
    }
    seen.retain(|(_, at)| (now - at).abs() <= MAX_SKEW_MS);
    seen.push(key_of);
    Ok(c)
}

/// How the listener wakes the window it serves (set once the window exists).
pub type Waker = Arc<Mutex<Option<Arc<dyn Fn() + Send + Sync>>>>;

/// Listens for commands; each authentic one is handed to the UI thread through the receiver.
pub struct WallListener {
    pub addr: SocketAddr,
    rx: mpsc::Receiver<WallCommand>,
}

impl WallListener {
    pub fn start(addr: SocketAddr, key: Vec<u8>, wake: Waker) -> Result<WallListener, String> {
        let listener = TcpListener::bind(addr).map_err(|e| format!("{addr}: {e}"))?;
        let addr = listener.local_addr().map_err(|e| e.to_string())?;
        let (tx, rx) = mpsc::channel();
        let seen = Arc::new(Mutex::new(Vec::new()));
        std::thread::Builder::new()
            .name("wall control".into())
            .spawn(move || {
                for conn in listener.incoming().flatten() {
                    let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
                    let mut reader = BufReader::new(&conn);
                    let mut line = String::new();
                    if reader.read_line(&mut line).is_err() {
                        continue;
                    }
                    let answer = match check(line.trim(), &key, &seen) {
                        Ok(c) => {
                            tracing::info!(by = %c.by, screen = %c.screen, "wall command");
                            if tx.send(c).is_err() {
                                return;
                            }
                            if let Some(w) = wake.lock().unwrap_or_else(|p| p.into_inner()).as_ref()
                            {
                                w();
                            }
                            "ok".to_owned()
                        }
                        Err(e) => {
                            tracing::warn!("wall command refused: {e}");
                            format!("refused: {e}")
                        }
                    };
                    let _ = (&conn).write_all(format!("{answer}\n").as_bytes());
                }
            })
            .map_err(|e| e.to_string())?;
        Ok(WallListener { addr, rx })
    }

    /// Commands received since the last call.
    pub fn drain(&self) -> Vec<WallCommand> {
        self.rx.try_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_sha256_matches_rfc_4231_case_2() {
        let mac = hmac(b"Jefe", b"what do ya want for nothing?");
        assert_eq!(
            crate::export::hex(&mac),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
