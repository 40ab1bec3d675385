//! The workstation's live connection to the site server: one WebSocket over TLS (the site CA
//! pinned, the session's token) carrying every live stream the workstation shows.
//!
//! A "live relay" thread runs a small tokio runtime: it connects, sends the subscriptions in
//! force, reads the server's messages and hands each to its stream's channel without waiting
//! (a full channel drops pictures until the stream's next keyframe). A lost connection is
//! made again with backoff (0.5 s to 10 s); every stream is told meanwhile, and its
//! subscriptions are sent again. Requests from the decoders ([`Relay`]) go through a channel.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc::{SyncSender, TrySendError};
use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::sync::mpsc::{UnboundedReceiver, UnboundedSender, unbounded_channel};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

use super::{Api, ClientError};
use crate::config::StreamKind;
use crate::relay::wire::{self, Binary, Control, Notice};
use crate::relay::{Incoming, Relay};

enum Cmd {
    Subscribe(u32, Sub),
    Unsubscribe(u32),
    KeyframesOnly(u32, bool),
    /// Stops reading the connection for a while (a stalled workstation, in tests).
    Pause(Duration),
    Stop,
}

struct Sub {
    camera: String,
    kind: StreamKind,
    keyframes_only: bool,
    to: SyncSender<Incoming>,
    /// Pictures dropped here since the channel was full: until the next keyframe.
    dropping: bool,
    /// A codec configuration that found the channel full: sent before the next keyframe.
    pending_config: Option<wire::CodecConfig>,
    /// The largest (server sending time - local reading time) seen on this connection: the
    /// reading of a picture sent then read with no backlog.
    best_offset_ms: Option<i64>,
    /// Reading behind (a backlog past [`BEHIND_MS`]): pictures dropped until a fresh keyframe.
    behind: bool,
    skips_here: u64,
}

/// A picture read this much later than the freshest reading of the connection: behind.
const BEHIND_MS: i64 = 1000;
/// A keyframe read within this of the freshest reading ends the skip.
const CAUGHT_UP_MS: i64 = 250;

impl Sub {
    fn request(&self, id: u32) -> Control {
        Control::Subscribe {
            id,
            camera: self.camera.clone(),
            stream: self.kind.into(),
            keyframes_only: self.keyframes_only,
        }
    }
}

/// The workstation's live connection. Dropping it closes the connection.
pub struct RelayClient {
    cmds: UnboundedSender<Cmd>,
    next_id: AtomicU32,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl RelayClient {
    /// Starts the connection of a signed-in `api`; `max_kbps` asks the server to keep this
    /// workstation's live video under that rate (a remote room on a slow link).
    pub fn start(api: &Api, max_kbps: Option<u32>) -> Result<RelayClient, ClientError> {
        let token = api
            .token()
            .ok_or_else(|| ClientError::Refused {
                status: 401,
                message: "not signed in".into(),
            })?
            .to_owned();
        let mut url = api.base().clone();
        url.set_scheme("wss")
            .map_err(|_| ClientError::Url(format!("{}: not an https URL", api.base())))?;
        url.set_path("/v1/live");
        if let Some(k) = max_kbps {
            url.set_query(Some(&format!("max_kbps={k}")));
        }
        let tls = Arc::new(super::trust::client_config(api.ca_pem())?);
        let (cmds, rx) = unbounded_channel();
        let thread = std::thread::Builder::new()
            .name("live relay".into())
            .spawn(move || {
                let rt = match tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        tracing::error!("live relay: {e}");
                        return;
                    }
                };
                rt.block_on(run(url, tls, token, rx));
            })
            .map_err(|e| ClientError::Url(format!("cannot start the live relay thread: {e}")))?;
        Ok(RelayClient {
            cmds,
            next_id: AtomicU32::new(1),
            thread: Some(thread),
        })
    }

    /// Stops reading the connection for `d`, as a workstation too slow or frozen would.
    #[doc(hidden)]
    pub fn pause_reading(&self, d: Duration) {
        let _ = self.cmds.send(Cmd::Pause(d));
    }
}

impl Drop for RelayClient {
    fn drop(&mut self) {
        let _ = self.cmds.send(Cmd::Stop);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Relay for RelayClient {
    fn subscribe(
        &self,
        camera: &str,
        kind: StreamKind,
        keyframes_only: bool,
        to: SyncSender<Incoming>,
    ) -> u32 {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let _ = self.cmds.send(Cmd::Subscribe(
            id,
            Sub {
                camera: camera.to_owned(),
                kind,
                keyframes_only,
                to,
                dropping: false,
                pending_config: None,
                best_offset_ms: None,
                behind: false,
                skips_here: 0,
            },
        ));
        id
    }

    fn unsubscribe(&self, id: u32) {
        let _ = self.cmds.send(Cmd::Unsubscribe(id));
    }

    fn keyframes_only(&self, id: u32, on: bool) {
        let _ = self.cmds.send(Cmd::KeyframesOnly(id, on));
    }
}

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>;

async fn connect(
    url: &url::Url,
    tls: &Arc<rustls::ClientConfig>,
    token: &str,
) -> Result<Socket, String> {
    let host = url
        .host_str()
        .ok_or("the server URL has no host")?
        .to_owned();
    let port = url.port_or_known_default().unwrap_or(443);
    let tcp = tokio::time::timeout(
        Duration::from_secs(10),
        tokio::net::TcpStream::connect((host.trim_matches(['[', ']']), port)),
    )
    .await
    .map_err(|_| format!("{host}:{port}: no answer in 10 s"))?
    .map_err(|e| format!("{host}:{port}: {e}"))?;
    let _ = tcp.set_nodelay(true);
    let name = rustls_pki_types::ServerName::try_from(host.trim_matches(['[', ']']).to_owned())
        .map_err(|e| format!("{host}: {e}"))?;
    let stream = tokio_rustls::TlsConnector::from(tls.clone())
        .connect(name, tcp)
        .await
        .map_err(|e| format!("TLS with {host}: {e}"))?;
    let mut req = url
        .as_str()
        .into_client_request()
        .map_err(|e| e.to_string())?;
    req.headers_mut().insert(
        "Authorization",
        format!("Bearer {token}")
            .parse()
            .map_err(|_| "the session token is not a header value".to_string())?,
    );
    let (ws, _) = tokio::time::timeout(
        Duration::from_secs(10),
        tokio_tungstenite::client_async(req, stream),
    )
    .await
    .map_err(|_| "the server did not open the live connection in 10 s".to_string())?
    .map_err(|e| match e {
        tokio_tungstenite::tungstenite::Error::Http(r) => {
            let body = r
                .body()
                .as_ref()
                .map(|b| String::from_utf8_lossy(b).to_string())
                .unwrap_or_default();
            let msg = serde_json::from_str::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_owned))
                .unwrap_or(body);
            format!("{} {msg}", r.status())
        }
        e => e.to_string(),
    })?;
    Ok(ws)
}

async fn run(
    url: url::Url,
    tls: Arc<rustls::ClientConfig>,
    token: String,
    mut cmds: UnboundedReceiver<Cmd>,
) {
    let mut subs: HashMap<u32, Sub> = HashMap::new();
    let mut backoff = Duration::from_millis(500);
    loop {
        let why = match connect(&url, &tls, &token).await {
            Ok(ws) => {
                backoff = Duration::from_millis(500);
                match session(ws, &mut subs, &mut cmds).await {
                    Ok(()) => return, // stopped
                    Err(why) => why,
                }
            }
            Err(why) => why,
        };
        tracing::warn!("live connection to the server: {why}");
        for s in subs.values() {
            let _ = s.to.try_send(Incoming::Disconnected(why.clone()));
        }
        // Requests keep coming while waiting to connect again.
        let until = tokio::time::Instant::now() + backoff;
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(until) => break,
                c = cmds.recv() => match c {
                    None | Some(Cmd::Stop) => return,
                    Some(c) => { apply(&mut subs, c); }
                }
            }
        }
        backoff = (backoff * 2).min(Duration::from_secs(10));
    }
}

/// Applies a request to the subscriptions in force; the message to send, if any.
fn apply(subs: &mut HashMap<u32, Sub>, c: Cmd) -> Option<Control> {
    match c {
        Cmd::Subscribe(id, s) => {
            let r = s.request(id);
            subs.insert(id, s);
            Some(r)
        }
        Cmd::Unsubscribe(id) => subs.remove(&id).map(|_| Control::Unsubscribe { id }),
        Cmd::KeyframesOnly(id, on) => {
            let s = subs.get_mut(&id)?;
            s.keyframes_only = on;
            Some(Control::KeyframesOnly { id, on })
        }
        Cmd::Pause(_) | Cmd::Stop => None,
    }
}

/// One connection: Ok when stopped, else why it ended.
async fn session(
    ws: Socket,
    subs: &mut HashMap<u32, Sub>,
    cmds: &mut UnboundedReceiver<Cmd>,
) -> Result<(), String> {
    let (mut tx, mut rx) = ws.split();
    let opened = std::time::Instant::now();
    for s in subs.values_mut() {
        s.best_offset_ms = None;
        s.behind = false;
    }
    let send = |c: &Control| Message::Text(serde_json::to_string(c).unwrap_or_default().into());
    for (id, s) in subs.iter() {
        tx.feed(send(&s.request(*id)))
            .await
            .map_err(|e| e.to_string())?;
    }
    tx.flush().await.map_err(|e| e.to_string())?;
    loop {
        tokio::select! {
            c = cmds.recv() => match c {
                None | Some(Cmd::Stop) => {
                    let _ = tx.send(Message::Close(None)).await;
                    return Ok(());
                }
                Some(Cmd::Pause(d)) => tokio::time::sleep(d).await,
                Some(c) => {
                    if let Some(m) = apply(subs, c) {
                        tx.send(send(&m)).await.map_err(|e| e.to_string())?;
                    }
                }
            },
            m = rx.next() => match m {
                None => return Err("the server closed the connection".into()),
                Some(Err(e)) => return Err(e.to_string()),
                Some(Ok(Message::Binary(b))) => {
                    match wire::decode(&b) {
                        Ok(m) => route(subs, m, opened.elapsed().as_millis() as i64),
                        Err(e) => tracing::warn!("live connection: {e}"),
                    }
                }
                Some(Ok(Message::Text(t))) => {
                    match serde_json::from_str::<Notice>(t.as_str()) {
                        Ok(n) => {
                            if let Some(s) = subs.get(&n.id) {
                                let _ = s.to.try_send(Incoming::Notice(n));
                            }
                        }
                        Err(_) => tracing::warn!("live connection: the server says {t}"),
                    }
                }
                Some(Ok(Message::Close(f))) => {
                    return Err(f
                        .map(|f| f.reason.to_string())
                        .filter(|r| !r.is_empty())
                        .unwrap_or_else(|| "the server closed the connection".into()));
                }
                Some(Ok(_)) => {}
            },
        }
    }
}

/// Hands a message to its stream, `read_ms` after the connection opened.
fn route(subs: &mut HashMap<u32, Sub>, m: Binary, read_ms: i64) {
    let (id, incoming, key, sent_ms) = match m {
        Binary::Config(id, c) => (id, Incoming::Config(c), None, None),
        Binary::Unit(id, u) => {
            let (k, sent) = (u.keyframe, u.sent_ms);
            (id, Incoming::Unit(u), Some(k), Some(sent as i64))
        }
    };
    let Some(s) = subs.get_mut(&id) else { return };
    // How far behind the freshest reading this picture is read: a backlog in the connection
    // (a workstation that stalled) is skipped to a fresh keyframe, not played late.
    if let Some(sent) = sent_ms {
        let offset = sent - read_ms;
        let best = *s
            .best_offset_ms
            .insert(s.best_offset_ms.unwrap_or(offset).max(offset));
        let late = best - offset;
        if !s.behind && late > BEHIND_MS {
            s.behind = true;
            s.skips_here += 1;
            let _ = s.to.try_send(Incoming::Behind(s.skips_here));
        }
        if s.behind {
            if key == Some(true) && late <= CAUGHT_UP_MS {
                s.behind = false;
            } else {
                return;
            }
        }
    }
    if key == Some(true)
        && let Some(c) = s.pending_config.take()
        && let Err(TrySendError::Full(Incoming::Config(c))) = s.to.try_send(Incoming::Config(c))
    {
        s.pending_config = Some(c);
        s.dropping = true;
        return;
    }
    if s.dropping && key == Some(false) {
        return;
    }
    match s.to.try_send(incoming) {
        Ok(()) => {
            if key == Some(true) {
                s.dropping = false;
            }
        }
        Err(TrySendError::Full(m)) => {
            if let Incoming::Config(c) = m {
                s.pending_config = Some(c);
            }
            s.dropping = true;
        }
        Err(TrySendError::Disconnected(_)) => {}
    }
}
