//! A server-sent event stream of the API, read on a thread of its own: reconnects after a
//! broken connection (0.2 s, doubling to 5 s), stops for good when the server ends the session
//! (an `ended` event, or 401/403) or when the [`Feed`] is dropped. What the events mean is the
//! caller's ([`Events`]): the alarm feed and the wall's command feed are two of them.

use std::io::BufRead;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use super::ClientError;

/// The state of the connection, as the caller is told it.
#[derive(Clone, Debug, PartialEq)]
pub enum Link {
    /// Connected (again): what follows is complete.
    Connected,
    /// The connection broke; the feed is reconnecting.
    Reconnecting(String),
    /// The server ended the session (signed out, disabled, idle, expired), or refused the
    /// stream: sign in again.
    Ended(String),
}

/// What one event stream means.
pub trait Events: Send + 'static {
    /// The path (and query) to ask for now: after a reconnection it may resume from what was
    /// passed on.
    fn path(&self) -> String;
    /// One event (`event:` name, joined `data:` lines); false when nobody listens any more.
    fn event(&mut self, name: &str, data: &str) -> bool;
    /// The connection's state changed; false when nobody listens any more.
    fn link(&mut self, link: Link) -> bool;
}

/// A running stream; dropping it stops the thread (within a keep-alive) without waiting.
pub struct Feed {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Feed {
    pub fn start(
        base: url::Url,
        ca_pem: &[u8],
        token: String,
        name: &str,
        events: impl Events,
    ) -> Result<Feed, ClientError> {
        let config = super::trust::client_config(ca_pem)?;
        // No overall timeout: the stream lasts as long as the session. The server sends a
        // keep-alive every 15 s; TCP keep-alives find a connection whose peer vanished.
        let http = reqwest::blocking::Client::builder()
            .tls_backend_preconfigured(config)
            .connect_timeout(Duration::from_secs(5))
            .tcp_keepalive(Some(Duration::from_secs(20)))
            .timeout(None)
            .build()
            .map_err(|e| ClientError::Trust(format!("TLS client set-up: {e}")))?;
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || run(&http, &base, &token, events, &flag))
            .map_err(|e| ClientError::Unreachable {
                url: name.into(),
                why: e.to_string(),
            })?;
        Ok(Feed {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for Feed {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // The thread notices at its next line or keep-alive; it is not waited for, so that the
        // caller never blocks.
        self.thread.take();
    }
}

/// The message of an API error body (`{"error": ...}`), or the body itself.
fn error_message(text: String) -> String {
    serde_json::from_str::<serde_json::Value>(&text)
        .ok()
        .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_owned))
        .unwrap_or(text)
}

fn run(
    http: &reqwest::blocking::Client,
    base: &url::Url,
    token: &str,
    mut events: impl Events,
    stop: &AtomicBool,
) {
    let mut backoff = Duration::from_millis(200);
    while !stop.load(Ordering::SeqCst) {
        let url = match base.join(&events.path()) {
            Ok(u) => u,
            Err(e) => {
                events.link(Link::Ended(e.to_string()));
                return;
            }
        };
        let resp = http
            .get(url)
            .bearer_auth(token)
            .header("Accept", "text/event-stream")
            .send();
        let why = match resp {
            Ok(r) if r.status().is_success() => {
                backoff = Duration::from_millis(200);
                if !events.link(Link::Connected) {
                    return;
                }
                match read_events(r, &mut events, stop) {
                    Outcome::Ended(why) => {
                        events.link(Link::Ended(why));
                        return;
                    }
                    Outcome::Stopped => return,
                    Outcome::Broken(why) => why,
                }
            }
            Ok(r) if matches!(r.status().as_u16(), 400 | 401 | 403 | 404) => {
                // Asking again would be answered the same.
                let status = r.status().as_u16();
                let msg = error_message(r.text().unwrap_or_default());
                events.link(Link::Ended(format!("{msg} (HTTP {status})")));
                return;
            }
            Ok(r) => format!("HTTP {}", r.status()),
            Err(e) => e.to_string(),
        };
        if !events.link(Link::Reconnecting(why)) {
            return;
        }
        std::thread::sleep(backoff);
        backoff = (backoff * 2).min(Duration::from_secs(5));
    }
}

enum Outcome {
    Ended(String),
    Stopped,
    Broken(String),
}

/// Reads events until the stream ends, passing each on in order.
fn read_events(
    r: reqwest::blocking::Response,
    events: &mut impl Events,
    stop: &AtomicBool,
) -> Outcome {
    let mut reader = std::io::BufReader::new(r);
    let mut event = String::new();
    let mut data = String::new();
    let mut line = String::new();
    loop {
        if stop.load(Ordering::SeqCst) {
            return Outcome::Stopped;
        }
        line.clear();
        match reader.read_line(&mut line) {
            Ok(0) => return Outcome::Broken("the server closed the stream".into()),
            Ok(_) => {}
            Err(e) => return Outcome::Broken(e.to_string()),
        }
        let l = line.trim_end_matches(['\r', '\n']);
        if l.is_empty() {
            // End of one event.
            if event == "ended" {
                return Outcome::Ended(data.clone());
            }
            if !event.is_empty() && !events.event(&event, &data) {
                return Outcome::Stopped;
            }
            event.clear();
            data.clear();
        } else if let Some(v) = l.strip_prefix("event:") {
            event = v.trim_start().to_owned();
        } else if let Some(v) = l.strip_prefix("data:") {
            if !data.is_empty() {
                data.push('\n');
            }
            data.push_str(v.strip_prefix(' ').unwrap_or(v));
        }
        // `id:` lines repeat what the data holds; `:` lines are keep-alives.
    }
}
