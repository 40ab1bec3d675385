//! `vigie recorder`: every camera's main stream remuxed into segment files and indexed.
//!
//! The lean path: one process, one small async runtime, one task per camera. Each task speaks
//! RTSP itself (interleaved over TCP, through the `retina` client), takes the depacketised
//! access units (length-prefixed NAL units, parameter sets in the `avcC`/`hvcC` record) and
//! feeds them to a [`SegmentWriter`]; nothing is decoded and no media framework runs. A
//! segment ends at the first keyframe past the segment length or when the stream's parameters
//! change; closing it (fsync of file and folder) runs on the blocking pool and only then is its
//! row sent to the [`IndexWriter`]. A lost camera closes its segment, reconnects with backoff
//! (1 s to 30 s, jittered) and records the gap with its cause.
//!
//! Frame times come from [`super::timing`]: the camera's RTCP sender reports, checked against
//! the local clock, else arrival time; wall-clock steps are recorded as `clock_step` events and
//! never make segments of a camera overlap.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use futures_util::{FutureExt, StreamExt};
use retina::codec::{CodecItem, ParametersRef, VideoFrame};
use tokio::sync::watch;

use super::fmp4::TrackConfig;
use super::live::{
    Playing, RTCP_BYE, SILENCE_TIMEOUT, describe_error, live_time, relay_config, track_config,
};
use super::reconcile::{Repairs, reconcile};
use super::retention::{RetentionClock, RetentionPass, apply_disk_budget, apply_retention};
use super::segment::SegmentWriter;
use super::timing::{self, Anchor, AnchorNote, LocalClock, SenderReport};
use super::volume::{Change, DataVolume};
use crate::config::{Camera, StreamKind, redact_url};
use crate::relay::hub::{Feed, Hub};
use crate::relay::wire::{CodecConfig, State};
use crate::store::{CameraRow, INDEX_FILE, IndexWriter, Span, Store, StoreError, WriteOp};

/// Why the recorder could not start.
#[derive(Debug, thiserror::Error)]
pub enum RecorderError {
    #[error("cannot start the recorder's runtime: {0}")]
    Init(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Owner(#[from] super::owner::OwnerError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// How the recorder runs.
#[derive(Clone, Debug)]
pub struct RecorderOptions {
    /// Segments end at the first keyframe past this length.
    pub segment: Duration,
    /// Free space the disk budget keeps (0: no budget).
    pub reserve_bytes: u64,
    /// A camera whose clock disagrees with the local one by more than this is timed on
    /// arrival instead.
    pub max_clock_skew: Duration,
    /// A test clock: a file holding milliseconds added to the wall clock.
    pub clock_offset_file: Option<PathBuf>,
    /// How often retention runs (a minute; tests shorten it).
    pub retention_every: Duration,
    /// The most a GOP may hold in memory: a camera whose keyframe does not come before is cut
    /// there (the GOP written, the segment closed, a gap until its next keyframe).
    pub gop_bound_bytes: usize,
}

impl Default for RecorderOptions {
    fn default() -> Self {
        RecorderOptions {
            segment: Duration::from_secs(60),
            reserve_bytes: 0,
            max_clock_skew: Duration::from_secs(2),
            clock_offset_file: None,
            retention_every: Duration::from_secs(60),
            gop_bound_bytes: 32 << 20,
        }
    }
}

/// A running recorder. [`Recorder::stop`] closes every segment cleanly.
pub struct Recorder {
    stop: Arc<AtomicBool>,
    /// Its own runtime, or none when it runs on one it was given.
    runtime: Option<tokio::runtime::Runtime>,
    handle: tokio::runtime::Handle,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    threads: Vec<std::thread::JoinHandle<()>>,
    index: Arc<IndexWriter>,
    /// The data folder, held as long as the recorder runs.
    _owner: super::owner::Owner,
}

/// What every camera task shares.
struct Shared {
    data: PathBuf,
    opts: RecorderOptions,
    index: Arc<IndexWriter>,
    clock: Arc<LocalClock>,
    /// Origin of the beat on which every camera's connection is read.
    epoch: Instant,
    /// The data folder's volume: no segment is started while it is missing.
    volume: Arc<DataVolume>,
}

impl Recorder {
    /// Starts recording `cameras` into `data`.
    pub fn start(
        cameras: &[Camera],
        data: &Path,
        opts: &RecorderOptions,
    ) -> Result<Recorder, RecorderError> {
        Self::start_relaying(cameras, data, opts, None, None)
    }

    /// Starts recording, each camera's main-stream session also feeding its stream in `hub`
    /// (the one session live viewers of that stream get), on `runtime` when given (the
    /// relay's: a picture wakes its viewers' writers on the same thread), else on its own.
    pub fn start_relaying(
        cameras: &[Camera],
        data: &Path,
        opts: &RecorderOptions,
        hub: Option<&Hub>,
        runtime: Option<tokio::runtime::Handle>,
    ) -> Result<Recorder, RecorderError> {
        std::fs::create_dir_all(data).map_err(|source| RecorderError::Io {
            path: data.to_owned(),
            source,
        })?;
        // One process records into a folder: a second recorder or server is refused here,
        // before it touches the index or a file.
        let owner = super::owner::Owner::take(data)?;
        let volume = Arc::new(DataVolume::at(data).map_err(|source| RecorderError::Io {
            path: data.to_owned(),
            source,
        })?);
        // Cameras first, then the index is brought in line with the files (a previous run may
        // have died mid-segment), then recording starts.
        let mut store = Store::open(&data.join(INDEX_FILE))?;
        for cam in cameras {
            let mut row = CameraRow::new(&cam.id, &cam.name);
            row.zone = cam.zone.clone();
            row.latitude = Some(cam.latitude);
            row.longitude = Some(cam.longitude);
            row.retention_days = cam.retention_days.unwrap_or(30);
            store.apply(&WriteOp::Camera(row))?;
        }
        let repairs = reconcile(data, &mut store)?;
        if repairs != Repairs::default() {
            tracing::warn!(
                removed = repairs.rows_removed.len(),
                quarantined = repairs.quarantined.len(),
                unchecked = repairs.unchecked.len(),
                indexed = repairs.indexed.len(),
                moved_aside = repairs.moved_aside.len(),
                "index reconciled with the files"
            );
        }
        // Where each camera's footage ends: nothing recorded from now on goes before it.
        let mut last_ends = Vec::with_capacity(cameras.len());
        for cam in cameras {
            last_ends.push(store.last_segment_end(&cam.id)?);
        }
        // Kept open for the alarm a missing volume raises (the index is on that volume: a
        // connection opened then would make a new one on the disk beneath).
        let alarm_store = store;
        let index = Arc::new(IndexWriter::spawn(&data.join(INDEX_FILE))?);
        let clock = Arc::new(LocalClock::new(opts.clock_offset_file.clone()));
        let shared = Arc::new(Shared {
            data: data.to_owned(),
            opts: opts.clone(),
            index: index.clone(),
            clock: clock.clone(),
            epoch: Instant::now(),
            volume: volume.clone(),
        });
        let stop = Arc::new(AtomicBool::new(false));
        // One worker: receiving and remuxing a camera costs a few microseconds a picture, and
        // one thread polling every socket wakes far less than several stealing work; fsyncs
        // go to the blocking pool.
        let (runtime, handle) = match runtime {
            Some(h) => (None, h),
            None => {
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(1)
                    .thread_name("recorder")
                    .enable_all()
                    .build()
                    .map_err(|e| RecorderError::Init(e.to_string()))?;
                let h = rt.handle().clone();
                (Some(rt), h)
            }
        };
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut tasks = Vec::new();
        for (cam, last_end) in cameras.iter().zip(last_ends) {
            let (cam, shared, stop_rx) = (cam.clone(), shared.clone(), stop_rx.clone());
            let feed = hub.and_then(|h| h.recorded(&cam.id));
            tasks.push(handle.spawn(async move {
                record_camera(&cam, &shared, last_end, feed, stop_rx).await;
            }));
        }
        let mut threads = Vec::new();
        // The stop flag (set by signal handlers) wakes the tasks; the wall clock and the data
        // volume are watched.
        let (wstop, wclock, windex, wvolume) =
            (stop.clone(), clock.clone(), index.clone(), volume.clone());
        threads.push(spawn_thread("clock watch", move || {
            let mut next_check = Instant::now();
            while !wstop.load(Ordering::SeqCst) {
                if Instant::now() >= next_check {
                    next_check += Duration::from_secs(1);
                    if let Some(step) = wclock.check() {
                        clock_stepped(&windex, wclock.now_ns(), step);
                    }
                    if let Some(change) = wvolume.check() {
                        volume_changed(&alarm_store, &windex, wclock.now_ns(), change);
                    }
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            let _ = stop_tx.send(true);
        })?);
        // Retention runs beside recording, on a connection of its own.
        let (rdata, rstop, rclock) = (data.to_owned(), stop.clone(), clock);
        let (reserve, every) = (opts.reserve_bytes, opts.retention_every);
        threads.push(spawn_thread("retention", move || {
            retention_loop(&rdata, reserve, every, &rstop, &rclock, &volume)
        })?);
        Ok(Recorder {
            stop,
            runtime,
            handle,
            tasks,
            threads,
            index,
            _owner: owner,
        })
    }

    /// A flag that stops the recorder when set (signal handlers set it).
    pub fn stop_flag(&self) -> Arc<AtomicBool> {
        self.stop.clone()
    }

    /// Closes every open segment, indexes it, and waits for the index to commit.
    pub fn stop(self) {
        self.stop.store(true, Ordering::SeqCst);
        for t in self.threads {
            let _ = t.join();
        }
        let tasks = self.tasks;
        self.handle.block_on(async {
            for t in tasks {
                let _ = t.await;
            }
        });
        if let Some(rt) = self.runtime {
            rt.shutdown_timeout(Duration::from_secs(30));
        }
        self.index.flush();
    }
}

fn spawn_thread(
    name: &str,
    f: impl FnOnce() + Send + 'static,
) -> Result<std::thread::JoinHandle<()>, RecorderError> {
    std::thread::Builder::new()
        .name(name.into())
        .spawn(f)
        .map_err(|source| RecorderError::Io {
            path: PathBuf::from(name),
            source,
        })
}

fn clock_stepped(index: &IndexWriter, now_ns: i64, step_ns: i64) {
    let detail = format!(
        "the local wall clock stepped by {:+.3} s; recording continues on the stream clocks",
        step_ns as f64 / 1e9
    );
    tracing::warn!("{detail}");
    index.send(WriteOp::Event {
        camera_id: None,
        at_utc_ns: now_ns,
        kind: "clock_step".into(),
        detail,
    });
}

/// Says that the data volume went missing (an alarm, through the connection opened at
/// start) or came back (an event).
fn volume_changed(alarms: &Store, index: &IndexWriter, now_ns: i64, change: Change) {
    match change {
        Change::Lost(why) => {
            tracing::error!("recording stopped: {why}");
            let instructions = format!(
                "Recording stopped: {why}. Nothing is recorded until the data volume is mounted \
                 again; recording then resumes by itself. Check the disk and its mount."
            );
            if let Err(e) = alarms.system_alarm(
                "data_volume_missing",
                "recorder",
                &[],
                &instructions,
                now_ns,
            ) {
                tracing::error!("the data volume's alarm could not be written: {e}");
            }
        }
        Change::Back => {
            tracing::warn!("the data volume is back: recording resumes");
            index.send(WriteOp::Event {
                camera_id: None,
                at_utc_ns: now_ns,
                kind: "data_volume_back".into(),
                detail: "the data volume is mounted again: recording resumes".into(),
            });
        }
    }
}

/// How often the audit log's head is signed.
const CHECKPOINT_EVERY: Duration = Duration::from_secs(300);

/// Applies the disk budget every two seconds and retention every `retention_every`, and signs
/// the audit log's head every five minutes, until stopped. Deletions are judged at the
/// [`RetentionClock`]'s instant: a wall clock stepped forward deletes nothing early.
fn retention_loop(
    data: &Path,
    reserve_bytes: u64,
    retention_every: Duration,
    stop: &AtomicBool,
    clock: &LocalClock,
    volume: &DataVolume,
) {
    let mut next_retention = Instant::now();
    let mut next_budget = Instant::now();
    let mut store: Option<Store> = None;
    let mut next_checkpoint = Instant::now() + CHECKPOINT_EVERY;
    let judge = RetentionClock::new(clock.now_ns());
    while !stop.load(Ordering::SeqCst) {
        let at = Instant::now();
        let now = judge.judge_at(clock.at_ns(at), at);
        let (retention, budget) = (
            Instant::now() >= next_retention,
            Instant::now() >= next_budget,
        );
        // Nothing is judged on a folder that is not the data volume.
        if volume.lost() {
            store = None;
            std::thread::sleep(Duration::from_millis(200));
            continue;
        }
        if (retention || budget) && store.is_none() {
            match Store::open_existing(&data.join(INDEX_FILE)) {
                Ok(s) => store = Some(s),
                Err(e) => tracing::error!("retention: {e}"),
            }
        }
        if let Some(s) = store.as_mut() {
            let mut failed = false;
            if budget {
                next_budget = Instant::now() + Duration::from_secs(2);
                if let Err(e) = apply_disk_budget(data, s, now, reserve_bytes) {
                    tracing::error!("disk budget pass failed: {e}");
                    failed = true;
                }
            }
            if Instant::now() >= next_checkpoint {
                // The audit log's head, signed outside the database.
                next_checkpoint = Instant::now() + CHECKPOINT_EVERY;
                if let Err(e) = crate::auth::audit::checkpoint(data) {
                    tracing::error!("audit checkpoint failed: {e}");
                }
            }
            if retention {
                next_retention = Instant::now() + retention_every;
                match apply_retention(data, s, now) {
                    Ok(RetentionPass::Deleted(_)) => {}
                    // Logged and raised once by the pass; it waits for an administrator.
                    Ok(RetentionPass::Refused(_)) => {}
                    Err(e) => {
                        tracing::error!("retention pass failed: {e}");
                        failed = true;
                    }
                }
            }
            if failed {
                store = None; // opened afresh next time
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// What a camera's task keeps across connections.
struct CameraState {
    /// End of the camera's last segment: footage never starts before it.
    last_end: Option<i64>,
    /// An open gap: since when, and why.
    gap: Option<(i64, String)>,
    /// Segments being closed on the blocking pool.
    closing: Vec<tokio::task::JoinHandle<()>>,
    /// The camera refused RTP over TCP once ("auto"): UDP from then on.
    over_udp: bool,
    /// A connection of this camera recorded something.
    ever_recorded: bool,
}

async fn record_camera(
    cam: &Camera,
    shared: &Arc<Shared>,
    last_end: Option<i64>,
    feed: Option<Arc<Feed>>,
    mut stop: watch::Receiver<bool>,
) {
    let mut st = CameraState {
        last_end,
        gap: None,
        closing: Vec::new(),
        over_udp: false,
        ever_recorded: false,
    };
    if let Some(end) = last_end {
        // The recorder was not running since the camera's last segment.
        st.gap = Some((end, "the recorder was not running".into()));
    }
    let mut backoff = Duration::from_secs(1);
    while !*stop.borrow() {
        let (recorded, outcome) = connection(cam, shared, &feed, &mut st, &mut stop).await;
        let now = shared.clock.now_ns();
        if recorded {
            backoff = Duration::from_secs(1);
            st.ever_recorded = true;
        }
        match outcome {
            Ok(()) => {}
            Err(cause) => {
                tracing::warn!(camera = %cam.id, url = %redact_url(cam.url(StreamKind::Main)), "recording interrupted: {cause}");
                if let Some(f) = &feed {
                    let failed = super::live::is_config_error(&cause) && !st.ever_recorded;
                    f.set_state(if failed { State::Failed } else { State::Lost }, &cause);
                }
                st.gap
                    .get_or_insert((st.last_end.unwrap_or(now).min(now), cause));
            }
        }
        if *stop.borrow() {
            break;
        }
        st.gap.get_or_insert((
            st.last_end.unwrap_or(now).min(now),
            "the camera stopped sending".into(),
        ));
        let wait = backoff.mul_f64(0.8 + 0.4 * fastrand::f64());
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = stop.changed() => break,
        }
        backoff = (backoff * 2).min(Duration::from_secs(30));
    }
    if let Some(f) = &feed {
        f.set_state(State::Lost, "the recorder stopped");
    }
    for h in st.closing.drain(..) {
        let _ = h.await;
    }
    // A gap still open at shutdown is recorded up to now.
    if let Some((since, cause)) = st.gap.take() {
        let now = shared.clock.now_ns();
        if now > since {
            shared.index.send(WriteOp::Gap {
                camera_id: cam.id.clone(),
                span: Span {
                    start_utc_ns: since,
                    end_utc_ns: now,
                },
                cause,
            });
        }
    }
}

/// One connection: whether it recorded something, and why it ended if not by a stop.
async fn connection(
    cam: &Camera,
    shared: &Arc<Shared>,
    feed: &Option<Arc<Feed>>,
    st: &mut CameraState,
    stop: &mut watch::Receiver<bool>,
) -> (bool, Result<(), String>) {
    let mut rec = Recording::new(cam, shared);
    rec.feed = feed.clone();
    let mut result = play(cam, &mut rec, st, stop).await;
    // Pictures still waiting for a sender report are timed as they can be and kept.
    if rec.anchor.is_none() && !rec.early.is_empty() {
        rec.settle(st);
        if let Err(e) = rec.flush_early(st) {
            result = result.and(Err(e));
        }
    }
    let recorded = rec.recorded;
    rec.close(st);
    st.closing.retain(|h| !h.is_finished());
    (recorded, result)
}

async fn play(
    cam: &Camera,
    rec: &mut Recording<'_>,
    st: &mut CameraState,
    stop: &mut watch::Receiver<bool>,
) -> Result<(), String> {
    let Playing { mut demuxed, video } =
        super::live::open(cam, StreamKind::Main, &mut st.over_udp, "recorder").await?;
    let mut last_rx = Instant::now();
    loop {
        // Everything the camera sent since the last turn, without waiting.
        let mut received = false;
        while let Some(item) = demuxed.next().now_or_never() {
            received = true;
            take(item, &demuxed, video, rec, st)?;
        }
        if received {
            last_rx = Instant::now();
        } else if last_rx.elapsed() > SILENCE_TIMEOUT {
            return Err(format!("no data for {} s", SILENCE_TIMEOUT.as_secs()));
        }
        rec.tick(st)?;
        let beat = tokio::time::sleep_until(next_beat(rec.shared.epoch).into());
        if let Some(feed) = rec.feed.clone()
            && feed.watchers() > 0
        {
            // Relayed to workstations: each picture as it arrives, not a beat later; the beat
            // still ends the turn (one timer a beat, not one a picture).
            tokio::pin!(beat);
            while feed.watchers() > 0 {
                let item = tokio::select! {
                    biased;
                    _ = stop.changed() => return Ok(()),
                    item = demuxed.next() => item,
                    _ = &mut beat => break,
                };
                take(item, &demuxed, video, rec, st)?;
                last_rx = Instant::now();
            }
        } else {
            // Every camera's task wakes on the same beat, so the whole recorder wakes once a
            // beat whatever the number of cameras; meanwhile the kernel buffers what arrives.
            // A workstation subscribing wakes it at once.
            let wake = async {
                match &rec.feed {
                    Some(f) => f.wake.notified().await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                biased;
                _ = stop.changed() => return Ok(()),
                _ = wake => {}
                _ = beat => {}
            }
        }
    }
}

/// One item of the camera's stream, recorded (and relayed when watched).
fn take(
    item: Option<Result<CodecItem, retina::Error>>,
    demuxed: &retina::client::Demuxed,
    video: usize,
    rec: &mut Recording<'_>,
    st: &mut CameraState,
) -> Result<(), String> {
    match item {
        None => Err("the camera ended the stream".to_string()),
        Some(Err(e)) => Err(format!("stream: {}", describe_error(&e))),
        Some(Ok(CodecItem::VideoFrame(f))) => {
            let params = if f.has_new_parameters() || rec.track.is_none() {
                match demuxed.streams()[video].parameters() {
                    Some(ParametersRef::Video(v)) => track_config(v),
                    _ => None,
                }
            } else {
                None
            };
            rec.frame(f, params, st)
        }
        Some(Ok(CodecItem::Rtcp(r))) => rec.rtcp(&r, st),
        Some(Ok(_)) => Ok(()),
    }
}

/// How often the recorder reads its cameras' connections.
const BEAT: Duration = Duration::from_millis(100);

/// The next beat after now, beats counted from `epoch`.
fn next_beat(epoch: Instant) -> Instant {
    let beats = (epoch.elapsed().as_nanos() / BEAT.as_nanos()) as u32 + 1;
    epoch + BEAT * beats
}

/// An access unit waiting for its duration (known when the next one arrives).
struct Pending {
    data: Vec<u8>,
    rtp: i64,
    keyframe: bool,
    /// Local UTC of its arrival.
    arrival_ns: i64,
    /// The stream's parameters changed at this picture.
    new_track: Option<TrackConfig>,
}

/// One connection's recording: timing, the open segment, the picture awaiting its duration.
struct Recording<'a> {
    cam: &'a Camera,
    shared: &'a Arc<Shared>,
    track: Option<TrackConfig>,
    anchor: Option<Anchor>,
    report: Option<SenderReport>,
    clock_rate: u32,
    /// Pictures received before the connection's time base was known.
    early: Vec<Pending>,
    pending: Option<Pending>,
    writer: Option<SegmentWriter>,
    /// Last picture duration (90 kHz), for the final picture of a segment.
    last_duration_90k: u32,
    /// Ticks given to pictures stamped alike, to take back from the following durations.
    owed_90k: i64,
    recorded: bool,
    /// The camera's main stream as relayed to workstations, and its configuration.
    feed: Option<Arc<Feed>>,
    relay_config: Option<Arc<CodecConfig>>,
}

impl<'a> Recording<'a> {
    fn new(cam: &'a Camera, shared: &'a Arc<Shared>) -> Recording<'a> {
        Recording {
            cam,
            shared,
            track: None,
            anchor: None,
            report: None,
            clock_rate: 90_000,
            early: Vec::new(),
            pending: None,
            writer: None,
            last_duration_90k: 3_600,
            owed_90k: 0,
            recorded: false,
            feed: None,
            relay_config: None,
        }
    }

    fn rtcp(
        &mut self,
        pkt: &retina::rtcp::ReceivedCompoundPacket,
        st: &mut CameraState,
    ) -> Result<(), String> {
        if pkt.pkts().any(|p| p.payload_type() == RTCP_BYE) {
            return Err("the camera ended the stream (RTCP BYE)".into());
        }
        let Some(rtp) = pkt.rtp_timestamp() else {
            return Ok(());
        };
        let Some(Ok(Some(sr))) = pkt.pkts().next().map(|p| p.as_sender_report()) else {
            return Ok(());
        };
        self.report = Some(SenderReport {
            rtp: rtp.timestamp(),
            utc_ns: timing::ntp_to_utc_ns(sr.ntp_timestamp().0),
        });
        if self.anchor.is_none() && !self.early.is_empty() {
            self.settle(st);
            return self.flush_early(st);
        }
        Ok(())
    }

    /// Waits for a sender report no longer than [`timing::SR_WAIT`].
    fn tick(&mut self, st: &mut CameraState) -> Result<(), String> {
        if self.anchor.is_none()
            && let Some(first) = self.early.first()
            && self.shared.clock.now_ns() - first.arrival_ns >= timing::SR_WAIT.as_nanos() as i64
        {
            self.settle(st);
            return self.flush_early(st);
        }
        Ok(())
    }

    fn frame(
        &mut self,
        f: VideoFrame,
        params: Option<TrackConfig>,
        st: &mut CameraState,
    ) -> Result<(), String> {
        let ts = f.timestamp();
        self.clock_rate = ts.clock_rate().get();
        let arrival_ns = self.shared.clock.at_ns(f.start_ctx().received());
        let keyframe = f.is_random_access_point();
        if let Some(t) = &params {
            self.track = Some(t.clone());
        }
        if self.track.is_none() {
            return Ok(()); // no parameters yet: nothing can be written
        }
        if let Some(feed) = &self.feed
            && feed.watchers() > 0
            && let Some(t) = &self.track
        {
            if self.relay_config.is_none() || params.is_some() {
                self.relay_config = Some(relay_config(t));
            }
            let (at, on_arrival) = match self.anchor {
                Some(a) => (
                    a.utc_ns(ts.timestamp()),
                    a.source == timing::TimeSource::Arrival,
                ),
                None => live_time(
                    ts.timestamp(),
                    self.clock_rate,
                    arrival_ns,
                    self.report,
                    self.shared.opts.max_clock_skew.as_nanos() as i64,
                ),
            };
            if let Some(c) = &self.relay_config {
                feed.publish(c, keyframe, on_arrival, at, f.data().to_vec());
            }
        }
        let p = Pending {
            rtp: ts.timestamp(),
            keyframe,
            arrival_ns,
            new_track: params,
            data: f.into_data(),
        };
        if self.anchor.is_none() {
            if self.early.is_empty() && !p.keyframe {
                return Ok(()); // a recording starts at a keyframe
            }
            self.early.push(p);
            if self.report.is_some() {
                self.settle(st);
                return self.flush_early(st);
            }
            return Ok(());
        }
        self.push(p, st)
    }

    /// Fixes the connection's time base on its first picture.
    fn settle(&mut self, st: &mut CameraState) {
        let Some(first) = self.early.first() else {
            return;
        };
        let max_skew = self.shared.opts.max_clock_skew.as_nanos() as i64;
        let (mut anchor, note) = timing::anchor(
            first.rtp,
            self.clock_rate,
            first.arrival_ns,
            self.report,
            max_skew,
        );
        let cam = &self.cam.id;
        let first_ns = anchor.utc_ns(first.rtp);
        match note {
            AnchorNote::Reported => {
                tracing::debug!(camera = %cam, "timed by the camera's sender reports")
            }
            AnchorNote::NoReports => {
                let detail = format!(
                    "no RTCP sender report within {} s: timed on arrival",
                    timing::SR_WAIT.as_secs()
                );
                self.event("camera_clock", first_ns, detail);
            }
            AnchorNote::ClockOff { skew_ns } => {
                let detail = format!(
                    "the camera's clock is {:+.3} s off the local clock (bound {:.3} s): timed on arrival",
                    skew_ns as f64 / 1e9,
                    max_skew as f64 / 1e9
                );
                self.event("camera_clock", first_ns, detail);
            }
        }
        let moved = timing::clamp_after(&mut anchor, first.rtp, st.last_end);
        if moved > 0 {
            let detail = format!(
                "footage placed {:.3} s later than its clock says, after the previous segment (the clock went back)",
                moved as f64 / 1e9
            );
            self.event("clock_clamp", anchor.utc_ns(first.rtp), detail);
        }
        self.anchor = Some(anchor);
    }

    fn event(&self, kind: &str, at_ns: i64, detail: String) {
        tracing::warn!(camera = %self.cam.id, "{detail}");
        self.shared.index.send(WriteOp::Event {
            camera_id: Some(self.cam.id.clone()),
            at_utc_ns: at_ns,
            kind: kind.into(),
            detail,
        });
    }

    fn flush_early(&mut self, st: &mut CameraState) -> Result<(), String> {
        for p in std::mem::take(&mut self.early) {
            self.push(p, st)?;
        }
        Ok(())
    }

    /// Writes the pending picture (its duration now known) and makes `p` pending, opening a
    /// new segment first when `p` starts one.
    fn push(&mut self, p: Pending, st: &mut CameraState) -> Result<(), String> {
        let Some(anchor) = self.anchor else {
            return Ok(());
        };
        if let Some(prev) = self.pending.take() {
            let ticks = p.rtp - prev.rtp;
            let d90k = (ticks as i128 * 90_000 / self.clock_rate as i128) as i64;
            let d90k = if (0..=900_000).contains(&d90k) {
                // Two pictures stamped (nearly) alike get a tick each, taken back from the
                // next ones, so that the file's times stay those of the camera.
                let owed = self.owed_90k.min((d90k - 1).max(0));
                self.owed_90k += (1 - d90k).max(0) - owed;
                let d = (d90k - owed).max(1);
                if d90k > 0 {
                    self.last_duration_90k = d90k as u32;
                }
                d as u32
            } else {
                // A jump backwards or of more than 10 s is a discontinuity of the camera's
                // timestamps: the picture gets the last normal duration.
                self.owed_90k = 0;
                self.last_duration_90k
            };
            self.write(prev, d90k)?;
        }
        // A GOP that never ends (a camera that stopped sending keyframes, or garbage) is cut
        // at the bound: memory stays bounded, and the gap says why until the next keyframe.
        let bound = self.shared.opts.gop_bound_bytes;
        if !p.keyframe
            && let Some(w) = &self.writer
            && w.gathered_bytes() > bound
        {
            self.close(st);
            if let Some(since) = st.last_end {
                let cause = format!(
                    "no keyframe within {:.1} MiB: cut until the camera's next keyframe",
                    bound as f64 / 1_048_576.0
                );
                self.event("stream_cut", since, cause.clone());
                st.gap = Some((since, cause));
            }
        }
        // Half a picture of slack: a keyframe due at the segment length (its timestamp a
        // hair early) ends the segment rather than the next one.
        let slack = timing::ticks_to_ns(self.last_duration_90k as i64 / 2, 90_000);
        let rotate = self.writer.as_ref().is_none_or(|w| {
            w.duration_ns() + slack >= self.shared.opts.segment.as_nanos() as i64
                || p.new_track.is_some()
        });
        // The data volume missing: the open segment ends and none starts until it is back
        // (a gap says why), rather than footage written to the disk beneath its mount point.
        if self.shared.volume.lost()
            || (p.keyframe && rotate && self.shared.volume.present().is_err())
        {
            if self.writer.is_some() {
                self.close(st);
            }
            if st.gap.is_none()
                && let Some(since) = st.last_end
            {
                st.gap = Some((since, "the data volume was missing".into()));
            }
            return Ok(());
        }
        if p.keyframe && rotate {
            self.close(st);
            let start = anchor.utc_ns(p.rtp).max(st.last_end.unwrap_or(i64::MIN));
            if let Some((since, cause)) = st.gap.take()
                && start > since
            {
                self.shared.index.send(WriteOp::Gap {
                    camera_id: self.cam.id.clone(),
                    span: Span {
                        start_utc_ns: since,
                        end_utc_ns: start,
                    },
                    cause,
                });
            }
            let Some(track) = self.track.as_ref() else {
                return Ok(());
            };
            let w =
                SegmentWriter::create(&self.shared.data, &self.cam.id, start, track, anchor.source)
                    .map_err(|e| format!("creating a segment: {e}"))?;
            self.writer = Some(w);
            self.recorded = true;
        }
        if self.writer.is_some() {
            self.pending = Some(p);
        }
        Ok(())
    }

    fn write(&mut self, p: Pending, duration_90k: u32) -> Result<(), String> {
        if let Some(w) = self.writer.as_mut()
            && let Err(e) = w.push_owned(p.data, duration_90k, p.keyframe)
        {
            let msg = format!("writing {}: {e}", w.rel_path());
            // The segment cannot be completed: what it holds up to its last complete fragment
            // is kept and indexed; the rest is a gap that says why.
            if let Some(w) = self.writer.take() {
                let failed = Failed::of(&w);
                drop(w);
                failed.keep_what_was_written(self.shared, &self.cam.id, &e);
            }
            return Err(msg);
        }
        Ok(())
    }

    /// Ends the open segment: the pending picture gets the last duration, then the file is
    /// made durable and indexed on the blocking pool.
    fn close(&mut self, st: &mut CameraState) {
        if let Some(p) = self.pending.take()
            && self.write(p, self.last_duration_90k).is_err()
        {
            return;
        }
        let Some(w) = self.writer.take() else {
            return;
        };
        let end = w.start_utc_ns() + w.duration_ns().max(1);
        st.last_end = Some(st.last_end.map_or(end, |e| e.max(end)));
        let (shared, cam) = (self.shared.clone(), self.cam.id.clone());
        st.closing.retain(|h| !h.is_finished());
        st.closing.push(tokio::task::spawn_blocking(move || {
            let failed = Failed::of(&w);
            match w.finish() {
                Ok(row) => {
                    shared.index.send(WriteOp::Segment(row));
                }
                Err(e) => {
                    // Typically a full disk.
                    tracing::error!(camera = %cam, segment = %failed.rel, "closing a segment failed: {e}");
                    failed.keep_what_was_written(&shared, &cam, &e);
                }
            }
        }));
    }
}

/// A segment whose write or close failed.
struct Failed {
    rel: String,
    start: i64,
    end: i64,
    time_source: crate::store::TimeSource,
}

impl Failed {
    fn of(w: &SegmentWriter) -> Failed {
        Failed {
            rel: w.rel_path().to_owned(),
            start: w.start_utc_ns(),
            end: w.start_utc_ns() + w.duration_ns().max(1),
            time_source: w.time_source(),
        }
    }

    /// Keeps and indexes what the file holds up to its last complete fragment (the file
    /// removed when none is); the rest is a gap that says why.
    fn keep_what_was_written(self, shared: &Shared, camera: &str, e: &dyn std::fmt::Display) {
        let kept = super::reconcile::complete_row(
            &shared.data,
            Path::new(&self.rel),
            camera,
            self.start,
            self.time_source,
        );
        let (lost_from, cause) = match kept {
            Ok(Some(row)) => {
                let to = row.end_utc_ns;
                shared.index.send(WriteOp::Segment(row));
                (
                    to,
                    format!("segment cut: {e}; kept up to its last complete fragment"),
                )
            }
            outcome => {
                if let Err(k) = outcome {
                    tracing::error!(segment = %self.rel, "cannot keep what was written: {k}");
                }
                let _ = std::fs::remove_file(shared.data.join(&self.rel));
                (self.start, format!("segment lost: {e}"))
            }
        };
        if lost_from < self.end {
            shared.index.send(WriteOp::Gap {
                camera_id: camera.to_owned(),
                span: Span {
                    start_utc_ns: lost_from,
                    end_utc_ns: self.end,
                },
                cause,
            });
        }
    }
}
