//! The server's live streams: one [`Feed`] per camera stream in use, fed by one camera session
//! (the recorder's for a recorded main stream, else one opened on demand), and one bounded
//! queue per subscription of a workstation.
//!
//! A source publishes each access unit once; the feed hands the same `Arc` to every
//! subscription's queue under that queue's own short lock and wakes the workstation's writer.
//! Nothing a source does waits for a workstation. A queue that holds more than its bound (bytes
//! here, bytes of the whole workstation, or pictures older than [`MAX_LAG`]) is emptied and
//! waits for the stream's next keyframe: the skip is counted and told to the workstation.
//!
//! The feed keeps the current GOP (up to [`GOP_CACHE_BYTES`]): a new subscription starts from
//! its keyframe at once instead of waiting for the next one.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use super::wire::{CodecConfig, Notice, State, Unit};
use crate::config::{Camera, StreamKind};

/// Bytes one subscription may hold on the server.
pub const SUBSCRIPTION_BYTES: usize = 3 << 20;
/// Bytes all of one workstation's subscriptions may hold.
pub const CLIENT_BYTES: usize = 8 << 20;
/// A picture waiting longer than this in a queue: the workstation is behind, moved to the next
/// keyframe.
pub const MAX_LAG: Duration = Duration::from_secs(2);
/// The current GOP kept for new subscriptions, at most.
pub const GOP_CACHE_BYTES: usize = 4 << 20;
/// An on-demand camera session with no subscription for this long is closed.
pub const GRACE: Duration = Duration::from_secs(5);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// An access unit with its codec configuration, shared by every queue it is in.
pub struct Relayed {
    pub config: Arc<CodecConfig>,
    pub unit: Unit,
}

/// Starts a source for a feed nobody feeds: a camera session on demand.
pub type Opener = Arc<dyn Fn(Camera, Arc<Feed>) + Send + Sync>;

/// The streams of a site's cameras, as relayed to workstations.
pub struct Hub {
    cameras: HashMap<String, Camera>,
    feeds: Mutex<HashMap<(String, StreamKind), Arc<Feed>>>,
    opener: Mutex<Option<Opener>>,
}

impl Hub {
    pub fn new(cameras: &[Camera]) -> Hub {
        Hub {
            cameras: cameras.iter().map(|c| (c.id.clone(), c.clone())).collect(),
            feeds: Mutex::new(HashMap::new()),
            opener: Mutex::new(None),
        }
    }

    /// What opens a camera session for a feed that no recorder feeds.
    pub fn set_opener(&self, opener: Opener) {
        *lock(&self.opener) = Some(opener);
    }

    /// The stream a camera serves for `kind`: a camera without a sub stream serves its main
    /// stream to both, through one session.
    pub fn stream_of(&self, camera: &str, kind: StreamKind) -> Option<StreamKind> {
        let c = self.cameras.get(camera)?;
        Some(match kind {
            StreamKind::Sub if c.sub_url.is_none() => StreamKind::Main,
            k => k,
        })
    }

    fn feed(&self, camera: &str, kind: StreamKind) -> Option<Arc<Feed>> {
        let kind = self.stream_of(camera, kind)?;
        Some(
            lock(&self.feeds)
                .entry((camera.to_owned(), kind))
                .or_insert_with(|| Arc::new(Feed::new(camera, kind)))
                .clone(),
        )
    }

    /// The feed of a camera's main stream, fed by its recording session from now on (the hub
    /// opens no other session for it).
    pub fn recorded(&self, camera: &str) -> Option<Arc<Feed>> {
        let f = self.feed(camera, StreamKind::Main)?;
        lock(&f.inner).source = Source::Recorder;
        Some(f)
    }

    /// Subscribes `client`'s subscription `id` to a camera stream; opens the camera session
    /// when none feeds it. None: no such camera.
    pub fn subscribe(
        &self,
        client: &Arc<ClientQueue>,
        id: u32,
        camera: &str,
        kind: StreamKind,
        keyframes_only: bool,
    ) -> Option<Arc<Subscription>> {
        let feed = self.feed(camera, kind)?;
        let sub = Arc::new(Subscription {
            id,
            feed: feed.clone(),
            client: client.clone(),
            q: Mutex::new(Queue {
                items: VecDeque::new(),
                bytes: 0,
                need_key: true,
                keyframes_only,
                skips: 0,
                notice_due: true,
                sub_for_main: false,
                sent_config: None,
            }),
        });
        let start = {
            let mut inner = lock(&feed.inner);
            // The current GOP first: the picture shows without waiting for a keyframe.
            {
                let mut q = lock(&sub.q);
                let now = Instant::now();
                for r in &inner.gop {
                    if q.keyframes_only && !r.unit.keyframe {
                        continue;
                    }
                    q.need_key = false;
                    q.push(&sub.client, r.clone(), now);
                }
            }
            inner.subs.push(sub.clone());
            inner.idle_since = None;
            feed.watchers.store(inner.subs.len(), Ordering::Relaxed);
            let start = inner.source == Source::None;
            if start {
                inner.source = Source::OnDemand;
            }
            start
        };
        feed.wake.notify_waiters();
        client.notify.notify_one();
        if start {
            let opener = lock(&self.opener).clone();
            match (opener, self.cameras.get(camera)) {
                (Some(open), Some(cam)) => open(cam.clone(), feed.clone()),
                _ => {
                    lock(&feed.inner).source = Source::None;
                    feed.set_state(State::Failed, "the server does not relay this camera");
                }
            }
        }
        Some(sub)
    }

    /// Feeds with at least one subscription (camera, stream).
    pub fn watched(&self) -> Vec<(String, StreamKind, usize)> {
        let mut v: Vec<_> = lock(&self.feeds)
            .values()
            .filter(|f| f.watchers() > 0)
            .map(|f| (f.camera.clone(), f.kind, f.watchers()))
            .collect();
        v.sort();
        v
    }
}

/// Who feeds a feed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Source {
    None,
    /// The recorder's session of the camera.
    Recorder,
    /// A session the hub opened for its subscriptions; it ends after [`GRACE`] without any.
    OnDemand,
}

struct FeedInner {
    subs: Vec<Arc<Subscription>>,
    state: State,
    reason: String,
    since_utc_ms: Option<i64>,
    source: Source,
    idle_since: Option<Instant>,
    /// From the last keyframe (empty once over [`GOP_CACHE_BYTES`], until the next).
    gop: Vec<Arc<Relayed>>,
    gop_bytes: usize,
}

/// One camera stream relayed.
pub struct Feed {
    pub camera: String,
    pub kind: StreamKind,
    inner: Mutex<FeedInner>,
    seq: AtomicU64,
    watchers: AtomicUsize,
    /// Woken when a subscription arrives (a source waiting to be watched).
    pub wake: tokio::sync::Notify,
}

impl Feed {
    fn new(camera: &str, kind: StreamKind) -> Feed {
        Feed {
            camera: camera.to_owned(),
            kind,
            inner: Mutex::new(FeedInner {
                subs: Vec::new(),
                state: State::Connecting,
                reason: String::new(),
                since_utc_ms: None,
                source: Source::None,
                idle_since: Some(Instant::now()),
                gop: Vec::new(),
                gop_bytes: 0,
            }),
            seq: AtomicU64::new(0),
            watchers: AtomicUsize::new(0),
            wake: tokio::sync::Notify::new(),
        }
    }

    /// Subscriptions now (one relaxed load: the recorder asks it at every turn).
    pub fn watchers(&self) -> usize {
        self.watchers.load(Ordering::Relaxed)
    }

    /// Hands one access unit to every subscription. Never waits for a workstation.
    pub fn publish(
        &self,
        config: &Arc<CodecConfig>,
        keyframe: bool,
        timed_on_arrival: bool,
        capture_utc_ns: i64,
        data: Vec<u8>,
    ) {
        let r = Arc::new(Relayed {
            config: config.clone(),
            unit: Unit {
                keyframe,
                timed_on_arrival,
                capture_utc_ns,
                seq: self.seq.fetch_add(1, Ordering::Relaxed),
                sent_ms: 0,
                data,
            },
        });
        let now = Instant::now();
        let mut inner = lock(&self.inner);
        if inner.state != State::Live {
            inner.state = State::Live;
            inner.reason.clear();
            inner.since_utc_ms = None;
            for s in &inner.subs {
                lock(&s.q).notice_due = true;
            }
        }
        let len = r.unit.data.len();
        if keyframe {
            inner.gop.clear();
            inner.gop_bytes = 0;
        }
        if (keyframe || !inner.gop.is_empty()) && inner.gop_bytes + len <= GOP_CACHE_BYTES {
            inner.gop.push(r.clone());
            inner.gop_bytes += len;
        } else {
            inner.gop.clear();
            inner.gop_bytes = 0;
        }
        for s in &inner.subs {
            let mut q = lock(&s.q);
            if q.offer(&s.client, &r, now) {
                drop(q);
                s.client.notify.notify_one();
            }
        }
    }

    /// The stream's state changed (connecting, lost, failed); every subscription is told.
    pub fn set_state(&self, state: State, reason: &str) {
        let mut inner = lock(&self.inner);
        if inner.state == state && inner.reason == reason {
            return;
        }
        if state == State::Lost && inner.state != State::Lost {
            inner.since_utc_ms = Some(crate::time::now_utc_ns() / 1_000_000);
        }
        if state != State::Lost {
            inner.since_utc_ms = None;
        }
        inner.state = state;
        inner.reason = reason.to_owned();
        // A new connection starts a new GOP.
        inner.gop.clear();
        inner.gop_bytes = 0;
        for s in &inner.subs {
            let mut q = lock(&s.q);
            q.notice_due = true;
            q.need_key = true;
            drop(q);
            s.client.notify.notify_one();
        }
    }

    /// For an on-demand source: true when nobody subscribed for [`GRACE`], in which case the
    /// feed is released (a later subscription opens a new session).
    pub fn release_if_idle(&self, grace: Duration) -> bool {
        let mut inner = lock(&self.inner);
        let idle = inner.subs.is_empty()
            && inner
                .idle_since
                .is_some_and(|t: Instant| t.elapsed() >= grace);
        if idle {
            inner.source = Source::None;
            inner.state = State::Connecting;
            inner.gop.clear();
            inner.gop_bytes = 0;
        }
        idle
    }

    fn remove(&self, sub: &Subscription) {
        let mut inner = lock(&self.inner);
        inner.subs.retain(|s| !std::ptr::eq(s.as_ref(), sub));
        self.watchers.store(inner.subs.len(), Ordering::Relaxed);
        if inner.subs.is_empty() {
            inner.idle_since = Some(Instant::now());
        }
    }

    fn notice(&self, id: u32, q: &Queue) -> Notice {
        let inner = lock(&self.inner);
        Notice {
            id,
            state: inner.state,
            reason: inner.reason.clone(),
            since_utc_ms: inner.since_utc_ms,
            skips: q.skips,
            keyframes_only: q.keyframes_only,
            sub_for_main: q.sub_for_main,
        }
    }
}

/// One workstation's share: its writer's wake-up and the bytes its queues hold.
#[derive(Default)]
pub struct ClientQueue {
    pub notify: tokio::sync::Notify,
    bytes: AtomicUsize,
}

impl ClientQueue {
    pub fn new() -> Arc<ClientQueue> {
        Arc::new(ClientQueue::default())
    }

    /// Bytes waiting in this workstation's queues.
    pub fn bytes(&self) -> usize {
        self.bytes.load(Ordering::Relaxed)
    }
}

struct Queue {
    items: VecDeque<(Instant, Arc<Relayed>)>,
    bytes: usize,
    /// Behind, or just subscribed: nothing until the next keyframe.
    need_key: bool,
    keyframes_only: bool,
    skips: u64,
    notice_due: bool,
    /// Sent in place of the main stream asked (a bandwidth cap).
    sub_for_main: bool,
    /// The configuration the workstation has for this subscription.
    sent_config: Option<Arc<CodecConfig>>,
}

impl Queue {
    fn push(&mut self, client: &ClientQueue, r: Arc<Relayed>, now: Instant) {
        let len = r.unit.data.len();
        self.bytes += len;
        client.bytes.fetch_add(len, Ordering::Relaxed);
        self.items.push_back((now, r));
    }

    fn clear(&mut self, client: &ClientQueue) {
        client.bytes.fetch_sub(self.bytes, Ordering::Relaxed);
        self.bytes = 0;
        self.items.clear();
    }

    /// Takes `r` if this subscription wants it; true when the writer has something new.
    fn offer(&mut self, client: &ClientQueue, r: &Arc<Relayed>, now: Instant) -> bool {
        let key = r.unit.keyframe;
        if (self.keyframes_only || self.need_key) && !key {
            return false;
        }
        let len = r.unit.data.len();
        let behind = self.bytes + len > SUBSCRIPTION_BYTES
            || client.bytes() + len > CLIENT_BYTES
            || self
                .items
                .front()
                .is_some_and(|(t, _)| now.saturating_duration_since(*t) > MAX_LAG);
        if behind {
            self.clear(client);
            self.skips += 1;
            self.notice_due = true;
            if !key {
                self.need_key = true;
                return true; // the notice
            }
        }
        self.need_key = false;
        self.push(client, r.clone(), now);
        true
    }
}

/// What a subscription's writer sends next.
pub enum Out {
    Notice(Notice),
    /// The codec configuration first when it is new to the workstation.
    Unit(Option<Arc<CodecConfig>>, Arc<Relayed>),
}

/// One workstation's subscription to one camera stream. Dropping it unsubscribes.
pub struct Subscription {
    pub id: u32,
    pub feed: Arc<Feed>,
    client: Arc<ClientQueue>,
    q: Mutex<Queue>,
}

impl Subscription {
    /// The next thing to send, if any.
    pub fn pop(&self) -> Option<Out> {
        let mut q = lock(&self.q);
        if q.notice_due {
            q.notice_due = false;
            return Some(Out::Notice(self.feed.notice(self.id, &q)));
        }
        let (_, r) = q.items.pop_front()?;
        let len = r.unit.data.len();
        q.bytes -= len;
        self.client.bytes.fetch_sub(len, Ordering::Relaxed);
        let config = match &q.sent_config {
            Some(c) if Arc::ptr_eq(c, &r.config) || **c == *r.config => None,
            _ => {
                q.sent_config = Some(r.config.clone());
                Some(r.config.clone())
            }
        };
        Some(Out::Unit(config, r))
    }

    /// Keyframes only (the workstation's decode budget, or a bandwidth cap) or all pictures.
    pub fn set_keyframes_only(&self, on: bool) {
        let mut q = lock(&self.q);
        if q.keyframes_only != on {
            q.keyframes_only = on;
            q.notice_due = true;
            if on {
                // What waits is dropped down to its keyframes.
                let client = self.client.clone();
                let kept: VecDeque<_> =
                    q.items.drain(..).filter(|(_, r)| r.unit.keyframe).collect();
                let bytes: usize = kept.iter().map(|(_, r)| r.unit.data.len()).sum();
                client.bytes.fetch_sub(q.bytes - bytes, Ordering::Relaxed);
                q.bytes = bytes;
                q.items = kept;
            }
            drop(q);
            self.client.notify.notify_one();
        }
    }

    /// Marks this subscription as the sub stream sent for a main stream asked.
    pub fn set_sub_for_main(&self, on: bool) {
        let mut q = lock(&self.q);
        if q.sub_for_main != on {
            q.sub_for_main = on;
            q.notice_due = true;
            drop(q);
            self.client.notify.notify_one();
        }
    }

    /// Times this subscription was moved to a keyframe for falling behind.
    pub fn skips(&self) -> u64 {
        lock(&self.q).skips
    }

    /// Bytes waiting for the workstation.
    pub fn queued_bytes(&self) -> usize {
        lock(&self.q).bytes
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let mut q = lock(&self.q);
        q.clear(&self.client);
    }
}

/// Ends a subscription: the feed forgets it (its queue is freed when the last `Arc` goes).
pub fn unsubscribe(sub: &Subscription) {
    sub.feed.remove(sub);
    lock(&sub.q).clear(&sub.client);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::relay::wire::Codec;

    fn cams() -> Vec<Camera> {
        let file = crate::config::CamerasFile::parse(
            std::path::Path::new("cameras.toml"),
            r#"
[[camera]]
id = "cam001"
name = "Gare"
latitude = 48.0
longitude = 2.0
kind = "fixed"
main_url = "rtsp://127.0.0.1:8554/cam001/main"
sub_url = "rtsp://127.0.0.1:8554/cam001/sub"

[[camera]]
id = "cam002"
name = "Place"
latitude = 48.0
longitude = 2.0
kind = "fixed"
main_url = "rtsp://127.0.0.1:8554/cam002/main"
"#,
        )
        .unwrap();
        file.cameras
    }

    fn config() -> Arc<CodecConfig> {
        Arc::new(CodecConfig {
            codec: Codec::H264,
            width: 640,
            height: 360,
            decoder_config: vec![1, 0x64, 0, 0x1f],
        })
    }

    fn drain(sub: &Subscription) -> Vec<Out> {
        std::iter::from_fn(|| sub.pop()).collect()
    }

    fn units(outs: &[Out]) -> Vec<(u64, bool)> {
        outs.iter()
            .filter_map(|o| match o {
                Out::Unit(_, r) => Some((r.unit.seq, r.unit.keyframe)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn one_session_for_every_subscription_and_a_camera_without_sub_stream() {
        let hub = Hub::new(&cams());
        let opened = Arc::new(Mutex::new(Vec::new()));
        let o = opened.clone();
        hub.set_opener(Arc::new(move |c: Camera, f: Arc<Feed>| {
            lock(&o).push((c.id, f.kind))
        }));
        let (a, b) = (ClientQueue::new(), ClientQueue::new());
        let _s1 = hub
            .subscribe(&a, 1, "cam001", StreamKind::Sub, false)
            .unwrap();
        let _s2 = hub
            .subscribe(&b, 1, "cam001", StreamKind::Sub, false)
            .unwrap();
        // cam002 has no sub stream: its main stream serves both, through one session.
        let _s3 = hub
            .subscribe(&a, 2, "cam002", StreamKind::Sub, false)
            .unwrap();
        let _s4 = hub
            .subscribe(&b, 2, "cam002", StreamKind::Main, false)
            .unwrap();
        assert!(
            hub.subscribe(&a, 3, "cam999", StreamKind::Sub, false)
                .is_none()
        );
        assert_eq!(
            *lock(&opened),
            vec![
                ("cam001".to_string(), StreamKind::Sub),
                ("cam002".to_string(), StreamKind::Main)
            ]
        );
        // A recorded camera's main stream is never opened again.
        let rec = hub.recorded("cam001").unwrap();
        let _s5 = hub
            .subscribe(&a, 4, "cam001", StreamKind::Main, false)
            .unwrap();
        assert_eq!(lock(&opened).len(), 2);
        assert_eq!(rec.watchers(), 1);
    }

    #[test]
    fn a_new_subscription_starts_from_the_current_gop() {
        let hub = Hub::new(&cams());
        let feed = hub.recorded("cam001").unwrap();
        let c = config();
        feed.publish(&c, false, false, 1, vec![0; 10]); // before any keyframe: not cached
        feed.publish(&c, true, false, 2, vec![0; 10]);
        feed.publish(&c, false, false, 3, vec![0; 10]);
        let a = ClientQueue::new();
        let s = hub
            .subscribe(&a, 1, "cam001", StreamKind::Main, false)
            .unwrap();
        feed.publish(&c, false, false, 4, vec![0; 10]);
        let outs = drain(&s);
        assert!(matches!(&outs[0], Out::Notice(n) if n.state == State::Live));
        assert_eq!(units(&outs), vec![(1, true), (2, false), (3, false)]);
        // The configuration goes once, with the first picture.
        let configs = outs
            .iter()
            .filter(|o| matches!(o, Out::Unit(Some(_), _)))
            .count();
        assert_eq!(configs, 1);
        assert_eq!(a.bytes(), 0);
    }

    #[test]
    fn a_stalled_subscription_is_bounded_and_resumes_at_a_keyframe() {
        let hub = Hub::new(&cams());
        let feed = hub.recorded("cam001").unwrap();
        let c = config();
        let (slow, quick) = (ClientQueue::new(), ClientQueue::new());
        let s = hub
            .subscribe(&slow, 1, "cam001", StreamKind::Main, false)
            .unwrap();
        let q = hub
            .subscribe(&quick, 1, "cam001", StreamKind::Main, false)
            .unwrap();
        let mut got_quick = Vec::new();
        // 100 KB pictures, a keyframe every 10: far past the bounds for the one not reading.
        for i in 0..200u64 {
            feed.publish(&c, i % 10 == 0, false, i as i64, vec![0; 100_000]);
            got_quick.extend(units(&drain(&q)));
            assert!(s.queued_bytes() <= SUBSCRIPTION_BYTES);
            assert!(slow.bytes() <= CLIENT_BYTES);
        }
        // Whatever it holds now, it resumes at the next keyframe.
        feed.publish(&c, true, false, 200, vec![0; 100_000]);
        got_quick.extend(units(&drain(&q)));
        // The one reading lost nothing.
        assert_eq!(got_quick.len(), 201);
        assert!(got_quick.windows(2).all(|w| w[1].0 == w[0].0 + 1));
        // The stalled one skipped, and what it has starts at a keyframe.
        assert!(s.skips() > 0);
        let outs = drain(&s);
        let got = units(&outs);
        assert!(got[0].1, "resumes at a keyframe: {got:?}");
        assert!(got.windows(2).all(|w| w[1].0 == w[0].0 + 1));
        assert!(
            outs.iter()
                .any(|o| matches!(o, Out::Notice(n) if n.skips == s.skips()))
        );
        unsubscribe(&s);
        assert_eq!(slow.bytes(), 0);
    }

    #[test]
    fn keyframes_only_and_states_reach_the_subscription() {
        let hub = Hub::new(&cams());
        let feed = hub.recorded("cam001").unwrap();
        let c = config();
        let a = ClientQueue::new();
        let s = hub
            .subscribe(&a, 1, "cam001", StreamKind::Main, true)
            .unwrap();
        for i in 0..20u64 {
            feed.publish(&c, i % 5 == 0, false, i as i64, vec![0; 10]);
        }
        assert_eq!(
            units(&drain(&s)),
            vec![(0, true), (5, true), (10, true), (15, true)]
        );
        s.set_keyframes_only(false);
        feed.publish(&c, false, false, 20, vec![0; 10]);
        assert_eq!(units(&drain(&s)), vec![(20, false)]);
        feed.set_state(State::Lost, "the camera ended the stream");
        let outs = drain(&s);
        assert!(
            matches!(&outs[..], [Out::Notice(n)] if n.state == State::Lost
            && n.reason == "the camera ended the stream" && n.since_utc_ms.is_some())
        );
        // After a loss, nothing before the next keyframe.
        feed.publish(&c, false, false, 21, vec![0; 10]);
        feed.publish(&c, true, false, 22, vec![0; 10]);
        let outs = drain(&s);
        assert!(matches!(&outs[0], Out::Notice(n) if n.state == State::Live));
        assert_eq!(units(&outs), vec![(22, true)]);
    }

    #[test]
    fn an_on_demand_feed_is_released_after_the_grace_only_without_subscriptions() {
        let hub = Hub::new(&cams());
        hub.set_opener(Arc::new(|_, _| {}));
        let a = ClientQueue::new();
        let s = hub
            .subscribe(&a, 1, "cam001", StreamKind::Sub, false)
            .unwrap();
        assert!(!s.feed.release_if_idle(Duration::ZERO));
        unsubscribe(&s);
        assert!(s.feed.release_if_idle(Duration::ZERO));
        assert_eq!(hub.watched(), vec![]);
    }
}
