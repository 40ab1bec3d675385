//! `vigie recorder`: every camera's main stream remuxed into segment files and indexed.
//!
//! Threads: one per camera ("record cam001") pulls access units from a receive-only pipeline
//! (`rtspsrc ! depay ! parse ! appsink`, no decoder), feeds a [`SegmentWriter`], rotates at the
//! first keyframe past the segment length, and sends each finished segment's row (after the
//! file and folder are fsynced) and each gap to the [`IndexWriter`]. A lost camera closes its
//! segment, reconnects with backoff (1 s to 30 s, jittered) and records the gap with its cause.
//!
//! Frame times: the first picture of a connection is timed on arrival (wall clock) and the
//! following ones by their stream timestamps from there. RTCP sender-report timing and the
//! lean recording path (ARCHITECTURE.md, status: proposed) replace this.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;

use super::fmp4::{TrackConfig, VideoCodec};
use super::reconcile::{Repairs, reconcile};
use super::retention::{apply_disk_budget, apply_retention};
use super::segment::SegmentWriter;
use crate::config::{Camera, StreamKind, redact_url};
use crate::store::{CameraRow, INDEX_FILE, IndexWriter, Span, Store, StoreError, WriteOp};

/// Why the recorder could not start.
#[derive(Debug, thiserror::Error)]
pub enum RecorderError {
    #[error("GStreamer is not usable: {0}")]
    Init(String),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// A running recorder. [`Recorder::stop`] closes every segment cleanly.
pub struct Recorder {
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
    index: Arc<IndexWriter>,
}

impl Recorder {
    /// Starts recording `cameras` into `data` with segments of about `segment` length.
    pub fn start(
        cameras: &[Camera],
        data: &Path,
        segment: Duration,
        reserve_bytes: u64,
    ) -> Result<Recorder, RecorderError> {
        gst::init().map_err(|e| RecorderError::Init(e.to_string()))?;
        std::fs::create_dir_all(data).map_err(|source| RecorderError::Io {
            path: data.to_owned(),
            source,
        })?;
        // Cameras first, then the index is brought in line with the files (a previous run may
        // have died mid-segment), then recording starts.
        let store = Store::open(&data.join(INDEX_FILE))?;
        for cam in cameras {
            let mut row = CameraRow::new(&cam.id, &cam.name);
            row.zone = cam.zone.clone();
            row.latitude = Some(cam.latitude);
            row.longitude = Some(cam.longitude);
            row.retention_days = cam.retention_days.unwrap_or(30);
            store.apply(&WriteOp::Camera(row))?;
        }
        let repairs = reconcile(data, &store)?;
        if repairs != Repairs::default() {
            tracing::warn!(
                removed = repairs.rows_removed.len(),
                indexed = repairs.indexed.len(),
                moved_aside = repairs.moved_aside.len(),
                "index reconciled with the files"
            );
        }
        drop(store);
        let index = Arc::new(IndexWriter::spawn(&data.join(INDEX_FILE))?);
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        for cam in cameras {
            let name = format!("record {}", cam.id);
            let (cam, data, index, stop) =
                (cam.clone(), data.to_owned(), index.clone(), stop.clone());
            let t = std::thread::Builder::new()
                .name(name.clone())
                .spawn(move || record_camera(&cam, &data, segment, &index, &stop))
                .map_err(|source| RecorderError::Io {
                    path: PathBuf::from(name),
                    source,
                })?;
            threads.push(t);
        }
        // Retention runs beside recording, on a connection of its own.
        let (rdata, rstop) = (data.to_owned(), stop.clone());
        let t = std::thread::Builder::new()
            .name("retention".into())
            .spawn(move || retention_loop(&rdata, reserve_bytes, &rstop))
            .map_err(|source| RecorderError::Io {
                path: PathBuf::from("retention thread"),
                source,
            })?;
        threads.push(t);
        Ok(Recorder {
            stop,
            threads,
            index,
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
        self.index.flush();
    }
}

/// Applies the disk budget every two seconds and retention every minute until stopped.
fn retention_loop(data: &Path, reserve_bytes: u64, stop: &AtomicBool) {
    let mut next_retention = Instant::now();
    let mut next_budget = Instant::now();
    while !stop.load(Ordering::SeqCst) {
        let now = chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0);
        let (retention, budget) = (
            Instant::now() >= next_retention,
            Instant::now() >= next_budget,
        );
        if retention || budget {
            match Store::open(&data.join(INDEX_FILE)) {
                Ok(mut store) => {
                    if budget {
                        next_budget = Instant::now() + Duration::from_secs(2);
                        if let Err(e) = apply_disk_budget(data, &mut store, now, reserve_bytes) {
                            tracing::error!("disk budget pass failed: {e}");
                        }
                    }
                    if retention {
                        next_retention = Instant::now() + Duration::from_secs(60);
                        if let Err(e) = apply_retention(data, &mut store, now) {
                            tracing::error!("retention pass failed: {e}");
                        }
                    }
                }
                Err(e) => tracing::error!("retention: {e}"),
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The stream's time base for this connection: wall time of the first picture and its PTS.
struct Clock {
    utc0: i64,
    pts0: u64,
}

fn record_camera(
    cam: &Camera,
    data: &Path,
    segment: Duration,
    index: &IndexWriter,
    stop: &AtomicBool,
) {
    let mut backoff = Duration::from_secs(1);
    let mut gap_since: Option<(i64, String)> = None;
    while !stop.load(Ordering::SeqCst) {
        let outcome = connection(cam, data, segment, index, stop, &mut gap_since);
        let now = chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0);
        match outcome {
            Ok(true) => backoff = Duration::from_secs(1),
            Ok(false) => {}
            Err(cause) => {
                tracing::warn!(camera = %cam.id, url = %redact_url(cam.url(StreamKind::Main)), "recording interrupted: {cause}");
                gap_since.get_or_insert((now, cause));
            }
        }
        if stop.load(Ordering::SeqCst) {
            break;
        }
        gap_since.get_or_insert((now, "the camera stopped sending".into()));
        let deadline = Instant::now() + backoff.mul_f64(0.8 + 0.4 * fastrand::f64());
        while Instant::now() < deadline && !stop.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(50));
        }
        backoff = (backoff * 2).min(Duration::from_secs(30));
    }
    // A gap still open at shutdown is recorded up to now.
    if let Some((since, cause)) = gap_since {
        let now = chrono::Utc::now().timestamp_nanos_opt().unwrap_or(since);
        index.send(WriteOp::Gap {
            camera_id: cam.id.clone(),
            span: Span {
                start_utc_ns: since,
                end_utc_ns: now.max(since),
            },
            cause,
        });
    }
}

/// One connection: returns Ok(true) if it recorded something, Err(cause) when it failed.
fn connection(
    cam: &Camera,
    data: &Path,
    segment: Duration,
    index: &IndexWriter,
    stop: &AtomicBool,
    gap_since: &mut Option<(i64, String)>,
) -> Result<bool, String> {
    let pipeline = gst::Pipeline::builder()
        .name(format!("record {}", cam.id))
        .build();
    let src = gst::ElementFactory::make("rtspsrc")
        .build()
        .map_err(|_| "rtspsrc is missing".to_string())?;
    src.set_property("location", cam.url(StreamKind::Main));
    src.set_property_from_str("protocols", "tcp");
    src.set_property("latency", 200u32);
    if let Some(c) = &cam.credential {
        src.set_property("user-id", &c.user);
        src.set_property("user-pw", &c.password);
    }
    let sink = gst_app::AppSink::builder()
        .caps(
            &gst::Caps::builder("video/x-h264")
                .field("stream-format", "avc")
                .field("alignment", "au")
                .build()
                .iter()
                .chain(
                    gst::Caps::builder("video/x-h265")
                        .field("stream-format", "hvc1")
                        .field("alignment", "au")
                        .build()
                        .iter(),
                )
                .map(|s| s.to_owned())
                .collect::<gst::Caps>(),
        )
        .max_buffers(500)
        .sync(false)
        .build();
    pipeline
        .add_many([&src, sink.upcast_ref()])
        .map_err(|e| e.to_string())?;
    let pw = pipeline.downgrade();
    let sink_el: gst::Element = sink.clone().upcast();
    src.connect_pad_added(move |_, pad| {
        let Some(pipeline) = pw.upgrade() else { return };
        let Some(caps) = pad.current_caps() else {
            return;
        };
        let Some(s) = caps.structure(0) else { return };
        if s.get::<&str>("media").ok() != Some("video") {
            if let Ok(f) = gst::ElementFactory::make("fakesink").build() {
                let _ = pipeline.add(&f);
                let _ = f.sync_state_with_parent();
                if let Some(p) = f.static_pad("sink") {
                    let _ = pad.link(&p);
                }
            }
            return;
        }
        let (depay, parse) = match s.get::<&str>("encoding-name").unwrap_or("") {
            "H264" => ("rtph264depay", "h264parse"),
            "H265" => ("rtph265depay", "h265parse"),
            _ => return,
        };
        let (Ok(d), Ok(p)) = (
            gst::ElementFactory::make(depay).build(),
            gst::ElementFactory::make(parse).build(),
        ) else {
            return;
        };
        if pipeline.add_many([&d, &p]).is_err()
            || gst::Element::link_many([&d, &p, &sink_el]).is_err()
        {
            return;
        }
        let _ = d.sync_state_with_parent();
        let _ = p.sync_state_with_parent();
        if let Some(sp) = d.static_pad("sink") {
            let _ = pad.link(&sp);
        }
    });
    pipeline
        .set_state(gst::State::Playing)
        .map_err(|e| e.to_string())?;
    let result = pump(cam, data, segment, index, stop, &sink, &pipeline, gap_since);
    let _ = pipeline.set_state(gst::State::Null);
    result
}

#[allow(clippy::too_many_arguments)]
fn pump(
    cam: &Camera,
    data: &Path,
    segment: Duration,
    index: &IndexWriter,
    stop: &AtomicBool,
    sink: &gst_app::AppSink,
    pipeline: &gst::Pipeline,
    gap_since: &mut Option<(i64, String)>,
) -> Result<bool, String> {
    let bus = pipeline.bus().ok_or("pipeline without bus")?;
    let mut writer: Option<SegmentWriter> = None;
    let mut clock: Option<Clock> = None;
    let mut pending: Option<(gst::Buffer, bool)> = None;
    let mut track: Option<TrackConfig> = None;
    let mut last_sample = Instant::now();
    let mut recorded = false;
    let close = |w: SegmentWriter| {
        let rel = w.rel_path().to_owned();
        let span = Span {
            start_utc_ns: w.start_utc_ns(),
            end_utc_ns: w.start_utc_ns() + w.duration_ns(),
        };
        match w.finish() {
            Ok(row) => {
                index.send(WriteOp::Segment(row));
            }
            Err(e) => {
                // Typically a full disk: the segment is dropped whole rather than left
                // unindexed; the gap that follows says why.
                tracing::error!(camera = %cam.id, segment = %rel, "closing a segment failed, segment dropped: {e}");
                let _ = std::fs::remove_file(data.join(&rel));
                index.send(WriteOp::Gap {
                    camera_id: cam.id.clone(),
                    span,
                    cause: format!("segment lost: {e}"),
                });
            }
        }
    };
    let result = loop {
        if stop.load(Ordering::SeqCst) {
            break Ok(recorded);
        }
        if let Some(msg) = bus.pop_filtered(&[gst::MessageType::Error, gst::MessageType::Eos]) {
            break Err(match msg.view() {
                gst::MessageView::Error(e) => format!("stream error: {}", e.error().message()),
                _ => "the camera ended the stream".into(),
            });
        }
        let Some(sample) = sink.try_pull_sample(gst::ClockTime::from_mseconds(200)) else {
            if last_sample.elapsed() > Duration::from_secs(5) {
                break Err("no data for 5 s".into());
            }
            continue;
        };
        last_sample = Instant::now();
        let (Some(buffer), Some(caps)) = (sample.buffer_owned(), sample.caps()) else {
            continue;
        };
        let Some(pts) = buffer.pts().map(|t| t.nseconds()) else {
            continue;
        };
        let keyframe = !buffer.flags().contains(gst::BufferFlags::DELTA_UNIT);
        if track.is_none() {
            if !keyframe {
                continue; // start at a keyframe
            }
            track = track_config(caps);
            if track.is_none() {
                break Err("unsupported stream (H.264 or H.265 expected)".into());
            }
        }
        let clk = clock.get_or_insert_with(|| Clock {
            utc0: chrono::Utc::now().timestamp_nanos_opt().unwrap_or(0),
            pts0: pts,
        });
        let at_utc = clk.utc0 + pts.saturating_sub(clk.pts0) as i64;
        // The previous access unit's duration is known now.
        if let Some((prev, prev_key)) = pending.take() {
            let prev_pts = prev.pts().map(|t| t.nseconds()).unwrap_or(pts);
            let dur_90k = (pts.saturating_sub(prev_pts) as u128 * 90_000 / 1_000_000_000) as u32;
            if let Some(w) = writer.as_mut() {
                let map = prev
                    .map_readable()
                    .map_err(|_| "unreadable buffer".to_string())?;
                if let Err(e) = w.push(&map, dur_90k.max(1), prev_key) {
                    break Err(format!("writing {}: {e}", w.rel_path()));
                }
            }
        }
        if keyframe {
            let rotate = writer
                .as_ref()
                .is_some_and(|w| w.duration_ns() >= segment.as_nanos() as i64);
            if writer.is_none() || rotate {
                if let Some(w) = writer.take() {
                    close(w);
                }
                if let Some((since, cause)) = gap_since.take() {
                    index.send(WriteOp::Gap {
                        camera_id: cam.id.clone(),
                        span: Span {
                            start_utc_ns: since,
                            end_utc_ns: at_utc.max(since),
                        },
                        cause,
                    });
                }
                let Some(t) = track.as_ref() else { continue };
                match SegmentWriter::create(data, &cam.id, at_utc, t) {
                    Ok(w) => writer = Some(w),
                    Err(e) => break Err(format!("creating a segment: {e}")),
                }
                recorded = true;
            }
        }
        pending = Some((buffer, keyframe));
    };
    if let Some((prev, prev_key)) = pending.take()
        && let Some(w) = writer.as_mut()
        && let Ok(map) = prev.map_readable()
    {
        let _ = w.push(&map, 3600, prev_key);
    }
    if let Some(w) = writer.take() {
        close(w);
    }
    result
}

/// The track described by parsed caps (`avc` / `hvc1` with `codec_data`).
fn track_config(caps: &gst::CapsRef) -> Option<TrackConfig> {
    let s = caps.structure(0)?;
    let codec = match s.name().as_str() {
        "video/x-h264" => VideoCodec::H264,
        "video/x-h265" => VideoCodec::H265,
        _ => return None,
    };
    let config = s.get::<gst::Buffer>("codec_data").ok()?;
    let decoder_config = config.map_readable().ok()?.to_vec();
    Some(TrackConfig {
        codec,
        width: s.get::<i32>("width").ok()?.clamp(0, u16::MAX as i32) as u16,
        height: s.get::<i32>("height").ok()?.clamp(0, u16::MAX as i32) as u16,
        decoder_config,
    })
}
