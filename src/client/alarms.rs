//! The workstation's alarm feed: the server's server-sent event stream of alarm changes, read
//! on a thread of its own ("alarm feed") and handed to the window through a channel.
//!
//! The feed remembers the `rev` of the last alarm it passed on; after a broken connection it
//! reconnects (0.2 s, doubling to 5 s) asking for what changed after it, so nothing is missed and
//! nothing comes twice. It stops for good when the server ends the session (the message says
//! why) or when [`AlarmFeed`] is dropped.

use std::io::BufRead;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::Duration;

use super::ClientError;
use crate::store::AlarmRow;

/// What the feed hands the window.
#[derive(Clone, Debug, PartialEq)]
pub enum FeedMessage {
    /// An alarm, new or changed.
    Alarm(Box<AlarmRow>),
    /// The connection broke; the feed is reconnecting.
    Reconnecting(String),
    /// Connected (again): what follows is complete.
    Connected,
    /// The server ended the session (signed out, disabled, idle, expired): sign in again.
    Ended(String),
}

/// A running feed; dropping it stops the thread (within its read timeout).
pub struct AlarmFeed {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl AlarmFeed {
    pub fn start(
        base: url::Url,
        ca_pem: &[u8],
        token: String,
        after: i64,
        out: mpsc::Sender<FeedMessage>,
    ) -> Result<AlarmFeed, ClientError> {
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
            .name("alarm feed".into())
            .spawn(move || run(&http, &base, &token, after, &out, &flag))
            .map_err(|e| ClientError::Unreachable {
                url: "alarm feed".into(),
                why: e.to_string(),
            })?;
        Ok(AlarmFeed {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for AlarmFeed {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // The thread notices at its next line or keep-alive; it is not waited for, so that the
        // caller never blocks.
        self.thread.take();
    }
}

fn run(
    http: &reqwest::blocking::Client,
    base: &url::Url,
    token: &str,
    mut last: i64,
    out: &mpsc::Sender<FeedMessage>,
    stop: &AtomicBool,
) {
    let mut backoff = Duration::from_millis(200);
    while !stop.load(Ordering::SeqCst) {
        let url = match base.join(&format!("/v1/alarms/feed?after={last}")) {
            Ok(u) => u,
            Err(e) => {
                let _ = out.send(FeedMessage::Ended(e.to_string()));
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
                if out.send(FeedMessage::Connected).is_err() {
                    return;
                }
                match read_events(r, &mut last, out, stop) {
                    Outcome::Ended(why) => {
                        let _ = out.send(FeedMessage::Ended(why));
                        return;
                    }
                    Outcome::Stopped => return,
                    Outcome::Broken(why) => why,
                }
            }
            Ok(r) if r.status().as_u16() == 401 || r.status().as_u16() == 403 => {
                let status = r.status().as_u16();
                let text = r.text().unwrap_or_default();
                let msg = serde_json::from_str::<serde_json::Value>(&text)
                    .ok()
                    .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_owned))
                    .unwrap_or(text);
                let _ = out.send(FeedMessage::Ended(format!("{msg} (HTTP {status})")));
                return;
            }
            Ok(r) => format!("HTTP {}", r.status()),
            Err(e) => e.to_string(),
        };
        if out.send(FeedMessage::Reconnecting(why)).is_err() {
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

/// Reads server-sent events until the stream ends; alarms are passed on in order.
fn read_events(
    r: reqwest::blocking::Response,
    last: &mut i64,
    out: &mpsc::Sender<FeedMessage>,
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
            Ok(0) => return Outcome::Broken("the server closed the feed".into()),
            Ok(_) => {}
            Err(e) => return Outcome::Broken(e.to_string()),
        }
        let l = line.trim_end_matches(['\r', '\n']);
        if l.is_empty() {
            // End of one event.
            match event.as_str() {
                "alarm" => match serde_json::from_str::<AlarmRow>(&data) {
                    Ok(row) => {
                        if row.rev > *last {
                            *last = row.rev;
                            if out.send(FeedMessage::Alarm(Box::new(row))).is_err() {
                                return Outcome::Stopped;
                            }
                        }
                    }
                    Err(e) => tracing::warn!("alarm feed: an unreadable alarm: {e}"),
                },
                "ended" => return Outcome::Ended(data.clone()),
                _ => {}
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
        // `id:` is the alarm's rev, also inside the data; `:` lines are keep-alives.
    }
}
