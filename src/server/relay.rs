//! `GET /v1/live` (WebSocket): a workstation's one live connection. It subscribes to camera
//! streams (text requests, [`Control`]); the server sends each subscription's access units as
//! binary messages and its state as text notices ([`crate::relay::wire`]).
//!
//! One task per connection: it reads requests, and writes whatever the subscriptions' queues
//! hold, one message per subscription in turn. The queues are filled by the camera sessions
//! ([`crate::relay::hub`]) and bounded there; a workstation that stops reading only holds up
//! this task. Live views start and stop in the audit log as the server starts and stops
//! sending a camera to the session; a camera not granted is refused and the refusal logged.
//!
//! A bandwidth cap (`?max_kbps=N`, set in a remote workstation's configuration) is kept by
//! the server: measured each second over the connection; over it, the cameras' sub streams are
//! sent for the main streams asked, then keyframes only; back a step when the rate leaves room;
//! each notice says what is in force.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Query, State};
use axum::response::Response;
use futures_util::{SinkExt, StreamExt};
use serde::Deserialize;

use super::api::{ApiError, ApiState, Caller, with_store};
use crate::auth::{Action, audit};
use crate::config::StreamKind;
use crate::relay::hub::{self, ClientQueue, Out, Subscription};
use crate::relay::wire::{self, Control, Notice, State as WireState};

type Shared = Arc<ApiState>;

/// The live views being sent, per connection: what a stopping server logs as stopped. The
/// list is also kept in `DATA/live-views.json` as it changes (at each view started or
/// stopped, never per picture), so that a server killed or crashed logs their stop at its
/// next start ([`LiveViews::recover`]).
#[derive(Default)]
pub struct LiveViews {
    next: std::sync::atomic::AtomicU64,
    open: std::sync::Mutex<HashMap<u64, (audit::Entry, std::collections::BTreeSet<String>)>>,
    /// Where the list is kept; None: in memory only.
    file: Option<std::path::PathBuf>,
}

/// A view still open, as kept on disk.
#[derive(serde::Serialize, serde::Deserialize)]
struct KeptView {
    user: String,
    role: String,
    detail: String,
    cameras: Vec<String>,
}

/// The file of the views open, in the data folder.
pub const LIVE_VIEWS_FILE: &str = "live-views.json";

impl LiveViews {
    /// Keeps the list of open views in `data`.
    pub fn at(data: &std::path::Path) -> LiveViews {
        LiveViews {
            file: Some(data.join(LIVE_VIEWS_FILE)),
            ..Default::default()
        }
    }

    fn lock(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<u64, (audit::Entry, std::collections::BTreeSet<String>)>>
    {
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Writes the list (under its lock: the file follows the changes in order).
    fn keep(&self, open: &HashMap<u64, (audit::Entry, std::collections::BTreeSet<String>)>) {
        let Some(file) = &self.file else { return };
        let views: Vec<KeptView> = open
            .values()
            .filter(|(_, cams)| !cams.is_empty())
            .map(|(e, cams)| KeptView {
                user: e.user.clone(),
                role: e.role.clone(),
                detail: e.detail.clone(),
                cameras: cams.iter().cloned().collect(),
            })
            .collect();
        let tmp = file.with_extension("json.tmp");
        let written = serde_json::to_vec(&views)
            .map_err(std::io::Error::other)
            .and_then(|text| std::fs::write(&tmp, text))
            .and_then(|()| std::fs::rename(&tmp, file));
        if let Err(e) = written {
            tracing::error!(
                "{}: the open live views could not be kept: {e}",
                file.display()
            );
        }
    }

    fn open(&self, template: audit::Entry) -> u64 {
        let id = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.lock().insert(id, (template, Default::default()));
        id
    }

    fn set(&self, id: u64, camera: &str, shown: bool) {
        let mut open = self.lock();
        if let Some((_, cams)) = open.get_mut(&id) {
            let changed = if shown {
                cams.insert(camera.to_owned())
            } else {
                cams.remove(camera)
            };
            if changed {
                self.keep(&open);
            }
        }
    }

    fn close(&self, id: u64) {
        let mut open = self.lock();
        if open.remove(&id).is_some_and(|(_, cams)| !cams.is_empty()) {
            self.keep(&open);
        }
    }

    /// Logs every view still open as stopped (the server stops).
    pub fn stop_all(&self, store: &crate::store::Store) {
        let mut open = self.lock();
        for (_, (template, cams)) in open.drain() {
            for cam in cams {
                let mut e = template.clone();
                e.at_utc_ns = crate::time::now_utc_ns();
                e.action = "live view stop".into();
                e.cameras = cam;
                e.detail = format!("{} (the server stopped)", e.detail)
                    .trim()
                    .to_owned();
                if let Err(err) = audit::append_with(store, &e) {
                    tracing::error!("a live view's stop could not be logged: {err}");
                }
            }
        }
        self.keep(&open);
    }

    /// At a server's start: the views a server that ended without stopping them (killed, a
    /// crash, a power cut) left open are logged as stopped now, saying so. Returns how many.
    pub fn recover(data: &std::path::Path, store: &crate::store::Store) -> usize {
        let file = data.join(LIVE_VIEWS_FILE);
        let Ok(text) = std::fs::read(&file) else {
            return 0;
        };
        let views: Vec<KeptView> = match serde_json::from_slice(&text) {
            Ok(v) => v,
            Err(e) => {
                tracing::error!(
                    "{}: not a list of live views ({e}); the views it held are not closed in the audit log",
                    file.display()
                );
                let _ = std::fs::remove_file(&file);
                return 0;
            }
        };
        let mut n = 0;
        for v in views {
            for cam in v.cameras {
                let e = audit::Entry {
                    at_utc_ns: crate::time::now_utc_ns(),
                    user: v.user.clone(),
                    role: v.role.clone(),
                    action: "live view stop".into(),
                    cameras: cam,
                    range: None,
                    reason: String::new(),
                    detail: format!(
                        "{} (the server ended without stopping it; logged at its next start)",
                        v.detail
                    )
                    .trim()
                    .to_owned(),
                };
                match audit::append_with(store, &e) {
                    Ok(_) => n += 1,
                    Err(err) => {
                        // Kept for the next start.
                        tracing::error!("a live view's stop could not be logged: {err}");
                        return n;
                    }
                }
            }
        }
        let _ = std::fs::remove_file(&file);
        n
    }
}

/// A workstation's requests are small.
const MAX_REQUEST: usize = 4096;
/// Subscriptions one connection may hold (16 screens of up to 96 tiles, main and sub).
const MAX_SUBSCRIPTIONS: usize = 4096;
/// A workstation that takes no byte for this long is cut off.
const WRITE_STALL: Duration = Duration::from_secs(30);
/// How often the user's camera grants are read again (a grant withdrawn stops its cameras).
const GRANTS_EVERY: Duration = Duration::from_secs(2);
/// The least time between two writes to one workstation. Pictures that arrive meanwhile leave
/// together, in one TLS write: a workstation showing many cameras costs the server at most a
/// write per this time, not one per picture. A picture waits at most this long (plus the
/// timer's millisecond) for a write; one arriving when the connection is idle leaves at once.
const COALESCE: Duration = Duration::from_millis(1);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LiveQuery {
    /// The most this workstation may receive, kilobits a second.
    pub max_kbps: Option<u32>,
}

/// `GET /v1/live`: upgrades to the live connection (live right needed; refusal logged).
pub async fn live(
    State(st): State<Shared>,
    c: Caller,
    q: Result<Query<LiveQuery>, axum::extract::rejection::QueryRejection>,
    ws: WebSocketUpgrade,
) -> Result<Response, ApiError> {
    let max_kbps = q
        .map_err(|e| ApiError::new(axum::http::StatusCode::BAD_REQUEST, e.body_text()))?
        .0
        .max_kbps;
    let c = with_store(&st, move |_, s| {
        c.require(s, Action::ViewLive, &[])?;
        Ok(c)
    })
    .await?;
    // The connection runs on the relay's runtime, beside the camera sessions that feed it: a
    // picture published wakes its writers on the same thread, not across runtimes.
    let relay_rt = st.relay_runtime.get().cloned();
    Ok(ws
        .max_message_size(MAX_REQUEST)
        .on_upgrade(move |socket| async move {
            match relay_rt {
                Some(h) => {
                    let _ = h.spawn(serve(socket, st, c, max_kbps)).await;
                }
                None => serve(socket, st, c, max_kbps).await,
            }
        }))
}

/// Lets the tasks already woken in this turn of the runtime run first: the task wakes itself
/// and goes to the back of the queue. (`tokio::task::yield_now` also waits for the runtime to
/// poll its sockets, a system call each time.)
struct BackOfQueue(bool);

impl std::future::Future for BackOfQueue {
    type Output = ();

    fn poll(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<()> {
        if self.0 {
            return std::task::Poll::Ready(());
        }
        self.0 = true;
        cx.waker().wake_by_ref();
        std::task::Poll::Pending
    }
}

/// What one connection sends, and to whom the audit entries go.
struct Conn {
    st: Shared,
    caller: Arc<Caller>,
    client: Arc<ClientQueue>,
    subs: HashMap<u32, Arc<Subscription>>,
    /// `subs` as the writer walks them; rebuilt when they change.
    order: Option<Vec<Arc<Subscription>>>,
    /// Subscriptions per camera: a camera's view starts with its first and stops with its last.
    shown: HashMap<String, usize>,
    /// Audit entries, written in order by one task.
    audit: tokio::sync::mpsc::UnboundedSender<audit::Entry>,
    cap: Option<Cap>,
    /// What the workstation asked for each subscription.
    asked: HashMap<u32, Asked>,
    /// When the connection opened: access units carry their sending time from it.
    opened: Instant,
    /// When the user's grants were last read.
    grants_read: Instant,
    /// Said to the workstation before anything else (subscriptions ended by the server).
    notices: Vec<Notice>,
    /// This connection in the server's list of live views.
    views_id: u64,
}

/// A subscription as the workstation asked it.
struct Asked {
    camera: String,
    kind: StreamKind,
    keyframes_only: bool,
}

/// The bandwidth cap's measure and what it imposes.
struct Cap {
    bits_per_s: u64,
    window: Instant,
    bytes: u64,
    /// 0: nothing; 1: sub streams for the main streams asked; 2: and keyframes only.
    level: u8,
}

async fn serve(socket: WebSocket, st: Shared, caller: Caller, max_kbps: Option<u32>) {
    let (mut tx, mut rx) = socket.split();
    // Requests are read by a task of their own, woken only when the socket has something: a
    // read tried at each picture sent would cost far more than the picture.
    let (ctl_tx, mut ctl_rx) = tokio::sync::mpsc::channel::<String>(64);
    let reader = tokio::spawn(async move {
        while let Some(Ok(m)) = rx.next().await {
            let sent = match m {
                Message::Text(t) => ctl_tx.send(t.as_str().to_owned()).await.is_ok(),
                Message::Close(_) => false,
                _ => true,
            };
            if !sent {
                break;
            }
        }
    });
    let (audit_tx, mut audit_rx) = tokio::sync::mpsc::unbounded_channel::<audit::Entry>();
    let ast = st.clone();
    let writer = tokio::spawn(async move {
        while let Some(e) = audit_rx.recv().await {
            let mut batch = vec![e];
            while let Ok(e) = audit_rx.try_recv() {
                batch.push(e);
            }
            let r = with_store(&ast, move |_, s| {
                for e in &batch {
                    audit::append_with(s, e).map_err(ApiError::internal)?;
                }
                Ok(())
            })
            .await;
            if let Err(e) = r {
                tracing::error!("live views could not be logged: {}", e.message.clone());
            }
        }
    });
    let mut conn = Conn {
        st: st.clone(),
        caller: Arc::new(caller),
        client: ClientQueue::new(),
        subs: HashMap::new(),
        order: None,
        shown: HashMap::new(),
        audit: audit_tx,
        cap: max_kbps.map(|k| Cap {
            bits_per_s: k as u64 * 1000,
            window: Instant::now(),
            bytes: 0,
            level: 0,
        }),
        asked: HashMap::new(),
        opened: Instant::now(),
        grants_read: Instant::now(),
        notices: Vec::new(),
        views_id: 0,
    };
    conn.views_id = st
        .live_views
        .open(conn.caller.entry("live view stop", "", None));
    let mut check = tokio::time::interval(Duration::from_millis(250));
    let mut last_write = Instant::now();
    let ended: Option<String> = loop {
        // Whatever waits, one message per subscription in turn.
        match tokio::time::timeout(WRITE_STALL, conn.send_waiting(&mut tx)).await {
            Ok(Ok(wrote)) => {
                if wrote {
                    last_write = Instant::now();
                }
            }
            Ok(Err(())) => break None,
            Err(_) => {
                tracing::info!(user = %conn.caller.who.user, "live connection cut: nothing read for {} s", WRITE_STALL.as_secs());
                break None;
            }
        }
        tokio::select! {
            _ = conn.client.notify.notified() => {
                // The other sessions with pictures ready in this turn publish first: their
                // pictures leave in the same write; and within [`COALESCE`] of the last write,
                // what arrives until then leaves with it.
                let next = last_write + COALESCE;
                if Instant::now() < next {
                    tokio::time::sleep_until(next.into()).await;
                } else {
                    BackOfQueue(false).await;
                }
            }
            m = ctl_rx.recv() => match m {
                None => break None,
                Some(t) => {
                    if let Err(why) = conn.control(&t).await {
                        let _ = tx.send(Message::Text(why.into())).await;
                    }
                }
            },
            _ = check.tick() => {
                if let Err(why) = st.sessions.alive(&conn.caller.token, Instant::now()) {
                    break Some(why.message());
                }
                conn.keep_cap();
                if conn.grants_read.elapsed() >= GRANTS_EVERY {
                    conn.grants_read = Instant::now();
                    conn.keep_granted().await;
                }
            }
        }
    };
    if let Some(why) = ended {
        let _ = tx
            .send(Message::Close(Some(CloseFrame {
                code: 4001,
                reason: why.chars().take(120).collect::<String>().into(),
            })))
            .await;
    }
    let ids: Vec<u32> = conn.subs.keys().copied().collect();
    for id in ids {
        conn.drop_sub(id);
    }
    st.live_views.close(conn.views_id);
    reader.abort();
    drop(conn);
    let _ = writer.await;
}

impl Conn {
    /// Sends what waits; true when something was written.
    async fn send_waiting<S>(&mut self, tx: &mut S) -> Result<bool, ()>
    where
        S: futures_util::Sink<Message> + Unpin,
    {
        let mut wrote = !self.notices.is_empty();
        for n in std::mem::take(&mut self.notices) {
            let text = serde_json::to_string(&n).unwrap_or_default();
            tx.feed(Message::Text(text.into())).await.map_err(|_| ())?;
        }
        let subs = match self.order.take() {
            Some(o) => o,
            None => self.subs.values().cloned().collect(),
        };
        let sent_ms = self.opened.elapsed().as_millis() as u32;
        loop {
            let mut any = false;
            for s in &subs {
                let Some(out) = s.pop() else { continue };
                any = true;
                let mut bytes = 0;
                match out {
                    Out::Notice(n) => {
                        let text = serde_json::to_string(&n).unwrap_or_default();
                        tx.feed(Message::Text(text.into())).await.map_err(|_| ())?;
                    }
                    Out::Unit(config, r) => {
                        if let Some(c) = config {
                            let m = wire::encode_config(s.id, &c);
                            bytes += m.len();
                            tx.feed(Message::Binary(m.into())).await.map_err(|_| ())?;
                        }
                        let m = wire::encode_unit(s.id, &r.unit, sent_ms);
                        bytes += m.len();
                        tx.feed(Message::Binary(m.into())).await.map_err(|_| ())?;
                    }
                }
                if let Some(cap) = &mut self.cap {
                    cap.bytes += bytes as u64;
                }
            }
            if !any {
                break;
            }
            wrote = true;
        }
        self.order = Some(subs);
        if wrote {
            tx.flush().await.map_err(|_| ())?;
        }
        Ok(wrote)
    }

    /// One request of the workstation; the error is a line to send back.
    async fn control(&mut self, text: &str) -> Result<(), String> {
        let c: Control =
            serde_json::from_str(text).map_err(|e| format!("request not understood: {e}"))?;
        match c {
            Control::Subscribe {
                id,
                camera,
                stream,
                keyframes_only,
            } => {
                if self.subs.contains_key(&id) {
                    self.drop_sub(id);
                }
                if self.subs.len() >= MAX_SUBSCRIPTIONS {
                    return Err(format!(
                        "subscription {id}: at most {MAX_SUBSCRIPTIONS} on one connection"
                    ));
                }
                let refused = |reason: String| Notice {
                    id,
                    state: WireState::Refused,
                    reason,
                    since_utc_ms: None,
                    skips: 0,
                    keyframes_only: false,
                    sub_for_main: false,
                };
                let caller = self.caller.clone();
                let cam = camera.clone();
                // A camera not granted: the refusal is logged, as any other (the store is asked
                // only then).
                let granted = crate::auth::allowed(caller.who.role, Action::ViewLive)
                    && caller.may_see(&camera);
                let allowed = if granted {
                    Ok(())
                } else {
                    with_store(&self.st, move |_, s| {
                        caller.require(s, Action::ViewLive, &[cam.as_str()])
                    })
                    .await
                };
                if let Err(e) = allowed {
                    return Err(
                        serde_json::to_string(&refused(e.message.clone())).unwrap_or_default()
                    );
                }
                if self.st.relay.stream_of(&camera, stream.into()).is_none() {
                    return Err(serde_json::to_string(&refused(format!(
                        "no camera {camera} on this server"
                    )))
                    .unwrap_or_default());
                }
                self.asked.insert(
                    id,
                    Asked {
                        camera: camera.clone(),
                        kind: stream.into(),
                        keyframes_only,
                    },
                );
                self.place(id);
                let n = self.shown.entry(camera.clone()).or_insert(0);
                *n += 1;
                if *n == 1 {
                    self.st.live_views.set(self.views_id, &camera, true);
                    let mut e = self.caller.entry("live view start", &camera, None);
                    e.detail = format!("{} (through the server)", e.detail)
                        .trim()
                        .to_owned();
                    let _ = self.audit.send(e);
                }
            }
            Control::Unsubscribe { id } => self.drop_sub(id),
            Control::KeyframesOnly { id, on } => {
                if let Some(a) = self.asked.get_mut(&id) {
                    a.keyframes_only = on;
                    self.place(id);
                }
            }
        }
        Ok(())
    }

    /// Reads the user's grants again; the cameras no longer granted stop (their views logged as
    /// stopped, the workstation told why).
    async fn keep_granted(&mut self) {
        let name = self.caller.who.user.clone();
        let Ok(Some(row)) = with_store(&self.st, move |_, s| {
            s.user(&name).map_err(ApiError::internal)
        })
        .await
        else {
            return;
        };
        if row.cameras == self.caller.cameras {
            return;
        }
        self.caller = Arc::new(Caller {
            who: self.caller.who.clone(),
            cameras: row.cameras,
            token: self.caller.token.clone(),
            peer: self.caller.peer,
        });
        let withdrawn: Vec<(u32, String)> = self
            .asked
            .iter()
            .filter(|(_, a)| !self.caller.may_see(&a.camera))
            .map(|(id, a)| (*id, a.camera.clone()))
            .collect();
        for (id, camera) in withdrawn {
            self.drop_sub(id);
            self.notices.push(Notice {
                id,
                state: WireState::Refused,
                reason: format!("{camera} is no longer granted to {}", self.caller.who.user),
                since_utc_ms: None,
                skips: 0,
                keyframes_only: false,
                sub_for_main: false,
            });
        }
    }

    fn drop_sub(&mut self, id: u32) {
        let Some(sub) = self.subs.remove(&id) else {
            return;
        };
        self.order = None;
        self.asked.remove(&id);
        hub::unsubscribe(&sub);
        let camera = sub.feed.camera.clone();
        if let Some(n) = self.shown.get_mut(&camera) {
            *n -= 1;
            if *n == 0 {
                self.shown.remove(&camera);
                self.st.live_views.set(self.views_id, &camera, false);
                let _ = self
                    .audit
                    .send(self.caller.entry("live view stop", &camera, None));
            }
        }
    }

    /// Subscribes `id` as asked, under the cap's level: the camera's sub stream in place of
    /// its main stream from level 1, keyframes only at level 2.
    fn place(&mut self, id: u32) {
        let Some(a) = self.asked.get(&id) else { return };
        let level = self.cap.as_ref().map_or(0, |c| c.level);
        let hub = &self.st.relay;
        let stand_in = level >= 1
            && a.kind == StreamKind::Main
            && hub.stream_of(&a.camera, StreamKind::Sub) == Some(StreamKind::Sub);
        let kind = if stand_in { StreamKind::Sub } else { a.kind };
        let keyframes_only = a.keyframes_only || level >= 2;
        let Some(want) = hub.stream_of(&a.camera, kind) else {
            return;
        };
        match self.subs.get(&id) {
            Some(s) if s.feed.kind == want => s.set_keyframes_only(keyframes_only),
            _ => {
                if let Some(old) = self.subs.remove(&id) {
                    hub::unsubscribe(&old);
                }
                self.order = None;
                if let Some(sub) = hub.subscribe(&self.client, id, &a.camera, kind, keyframes_only)
                {
                    sub.set_sub_for_main(stand_in);
                    self.subs.insert(id, sub);
                }
            }
        }
    }

    /// Each second: over the cap, a level up (sub streams for main streams, then keyframes
    /// only); a level down when the last second's rate leaves room (four times for keyframes,
    /// eight for main streams, whose rate is several times their sub stream's).
    fn keep_cap(&mut self) {
        let Some(cap) = &mut self.cap else { return };
        let elapsed = cap.window.elapsed();
        if elapsed < Duration::from_secs(1) {
            return;
        }
        let rate = cap.bytes * 8 * 1000 / elapsed.as_millis().max(1) as u64;
        cap.window = Instant::now();
        cap.bytes = 0;
        let level = match cap.level {
            l if rate > cap.bits_per_s => (l + 1).min(2),
            2 if rate * 4 <= cap.bits_per_s => 1,
            1 if rate * 8 <= cap.bits_per_s => 0,
            l => l,
        };
        if level == cap.level {
            return;
        }
        tracing::info!(user = %self.caller.who.user, "bandwidth cap {} kbit/s ({} kbit/s sent): {}",
            cap.bits_per_s / 1000, rate / 1000,
            ["every stream as asked", "sub streams for main streams", "keyframes only"][level as usize]);
        cap.level = level;
        let ids: Vec<u32> = self.asked.keys().copied().collect();
        for id in ids {
            self.place(id);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(user: &str) -> audit::Entry {
        audit::Entry {
            at_utc_ns: 0,
            user: user.into(),
            role: "operator".into(),
            action: "live view stop".into(),
            cameras: String::new(),
            range: None,
            reason: String::new(),
            detail: "from 10.0.0.7".into(),
        }
    }

    #[test]
    fn views_left_open_by_a_killed_server_are_logged_stopped_at_its_next_start() {
        let dir = std::env::temp_dir().join(format!("vigie-live-views-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("folder");
        let store = crate::store::Store::open(&dir.join(crate::store::INDEX_FILE)).expect("index");
        let stops = |store: &crate::store::Store| -> Vec<(String, String, String)> {
            store
                .audit_entries()
                .expect("audit")
                .into_iter()
                .filter(|(_, e, _, _)| e.action == "live view stop")
                .map(|(_, e, _, _)| (e.user, e.cameras, e.detail))
                .collect()
        };
        {
            let views = LiveViews::at(&dir);
            let a = views.open(entry("bob.op"));
            let b = views.open(entry("eve.sup"));
            views.set(a, "cam001", true);
            views.set(a, "cam002", true);
            views.set(b, "cam003", true);
            views.set(a, "cam002", false); // stopped while the server ran: logged then
            views.close(b); // the connection ended: its stops were logged by it
            // The server is killed here: nothing logs the view of cam001.
        }
        assert!(dir.join(LIVE_VIEWS_FILE).exists());
        assert!(stops(&store).is_empty());
        assert_eq!(LiveViews::recover(&dir, &store), 1);
        let logged = stops(&store);
        assert_eq!(logged.len(), 1, "{logged:?}");
        assert_eq!(
            (logged[0].0.as_str(), logged[0].1.as_str()),
            ("bob.op", "cam001")
        );
        assert!(
            logged[0]
                .2
                .starts_with("from 10.0.0.7 (the server ended without stopping it"),
            "{}",
            logged[0].2
        );
        // Once: the list is gone, a second start logs nothing more.
        assert!(!dir.join(LIVE_VIEWS_FILE).exists());
        assert_eq!(LiveViews::recover(&dir, &store), 0);
        // A server stopped cleanly leaves nothing to recover.
        let views = LiveViews::at(&dir);
        let c = views.open(entry("bob.op"));
        views.set(c, "cam004", true);
        views.stop_all(&store);
        assert_eq!(LiveViews::recover(&dir, &store), 0);
        assert_eq!(stops(&store).len(), 2);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
