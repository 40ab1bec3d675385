//! One live stream relayed by the site server: access units from the workstation's live
//! connection -> appsrc -> parser -> decoder -> appsink -> the stream's [`FrameSlot`].
//!
//! The supervisor thread ("ingest cam001/sub", as for RTSP) subscribes, feeds the pipeline
//! from its channel (built at the first keyframe after each codec configuration), turns the
//! server's notices into the slot's state, asks for keyframes only while the decode budget
//! does, and unsubscribes when stopped. Each picture keeps its capture time: the appsrc buffer's PTS is
//! the capture time less the pipeline's base, read back by the appsink callback.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, sync_channel};
use std::time::{Duration, Instant};

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;

use super::decoder::{VideoCodec, decoder_candidates};
use super::stream::{IngestTimings, Stop, frame_sink};
use crate::config::StreamKind;
use crate::media::{FrameSlot, StreamState};
use crate::relay::wire::{Codec, CodecConfig, Notice, State, Unit};
use crate::relay::{Incoming, Relay};

/// Messages that may wait between the connection and the decoder.
const CHANNEL_DEPTH: usize = 256;

/// Capture times go into PTS relative to a base this far before the first picture (a picture
/// of the primed GOP may be a little older than the one that set the base).
const PTS_MARGIN_NS: i64 = 60_000_000_000;

struct Pipe {
    pipeline: gst::Pipeline,
    src: gst_app::AppSrc,
    decoder: String,
    /// UTC ns of PTS zero.
    base: Arc<AtomicI64>,
    /// Milliseconds since the supervisor's start of the last picture out; -1 before one.
    last_frame_ms: Arc<AtomicI64>,
}

impl Drop for Pipe {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}

fn codec(c: Codec) -> VideoCodec {
    match c {
        Codec::H264 => VideoCodec::H264,
        Codec::H265 => VideoCodec::H265,
    }
}

fn build(
    config: &CodecConfig,
    slot: &Arc<FrameSlot>,
    failed: &[String],
    started: Instant,
    on_arrival: &Arc<AtomicBool>,
    backlog: u64,
) -> Result<Pipe, String> {
    let vc = codec(config.codec);
    let caps = vc.au_caps(&config.decoder_config);
    let src = gst_app::AppSrc::builder()
        .caps(&caps)
        .format(gst::Format::Time)
        .is_live(true)
        .max_bytes(backlog)
        .block(false)
        .build();
    let parse = gst::ElementFactory::make(vc.parser())
        .build()
        .map_err(|_| format!("GStreamer element {} is missing", vc.parser()))?;
    let Some(name) = decoder_candidates(vc, failed).first().copied() else {
        return Err(format!("no working {vc:?} decoder on this machine"));
    };
    let decoder = gst::ElementFactory::make(name)
        .name("decoder")
        .build()
        .map_err(|_| format!("GStreamer element {name} is missing"))?;
    let base = Arc::new(AtomicI64::new(i64::MIN));
    let last_frame_ms = Arc::new(AtomicI64::new(-1));
    let (slot2, base2, last2, arrival2) = (
        slot.clone(),
        base.clone(),
        last_frame_ms.clone(),
        on_arrival.clone(),
    );
    // The capture time comes back from the PTS the access unit was given.
    let sink = frame_sink(move |mut frame| {
        let capture_ns = base2.load(Ordering::Relaxed) + frame.pts_ns.unwrap_or(0) as i64;
        frame.capture_utc_ms = capture_ns.div_euclid(1_000_000);
        frame.timed_on_arrival = arrival2.load(Ordering::Relaxed);
        slot2.publish(frame);
        last2.store(started.elapsed().as_millis() as i64, Ordering::Relaxed);
    });
    let pipeline = gst::Pipeline::builder().name("relayed").build();
    let chain = [src.upcast_ref(), &parse, &decoder, &sink];
    pipeline.add_many(chain).map_err(|e| e.to_string())?;
    gst::Element::link_many(chain).map_err(|e| e.to_string())?;
    pipeline
        .set_state(gst::State::Playing)
        .map_err(|e| format!("starting the decoder: {e}"))?;
    slot.set_decoder(name);
    Ok(Pipe {
        pipeline,
        src,
        decoder: name.to_owned(),
        base,
        last_frame_ms,
    })
}

impl Pipe {
    fn push(&self, u: Unit) -> Result<(), String> {
        if self.base.load(Ordering::Relaxed) == i64::MIN {
            self.base
                .store(u.capture_utc_ns - PTS_MARGIN_NS, Ordering::Relaxed);
        }
        let pts = (u.capture_utc_ns - self.base.load(Ordering::Relaxed)).max(0) as u64;
        let mut buffer = gst::Buffer::from_mut_slice(u.data);
        if let Some(b) = buffer.get_mut() {
            b.set_pts(gst::ClockTime::from_nseconds(pts));
            b.set_dts(gst::ClockTime::from_nseconds(pts));
            if !u.keyframe {
                b.set_flags(gst::BufferFlags::DELTA_UNIT);
            }
        }
        self.src
            .push_buffer(buffer)
            .map(|_| ())
            .map_err(|e| format!("the decoder refused a picture: {e:?}"))
    }

    /// A decoder's error, if its pipeline reported one.
    fn error(&self) -> Option<String> {
        let msg = self
            .pipeline
            .bus()?
            .pop_filtered(&[gst::MessageType::Error])?;
        match msg.view() {
            gst::MessageView::Error(e) => Some(format!("decoder error: {}", e.error().message())),
            _ => None,
        }
    }
}

/// Runs one relayed stream until `stop` is set.
pub(crate) fn supervise(
    relay: &dyn Relay,
    camera: &str,
    kind: StreamKind,
    slot: &Arc<FrameSlot>,
    stop: &Stop,
    timings: IngestTimings,
) {
    let (tx, rx) = sync_channel(CHANNEL_DEPTH);
    let mut keyframes_only = slot.keyframes_only();
    slot.set_state(StreamState::Connecting);
    let id = relay.subscribe(camera, kind, keyframes_only, tx);
    let mut run = Run {
        slot: slot.clone(),
        started: Instant::now(),
        config: None,
        pipe: None,
        failed: Vec::new(),
        on_arrival: Arc::new(AtomicBool::new(true)),
        server_state: State::Connecting,
        lost_since: None,
        last_notice: None,
        skips_here: 0,
        decoder_skips: 0,
        decoder_behind: false,
        backlog: timings.decoder_backlog_bytes,
    };
    while !stop.is_set() {
        if slot.keyframes_only() != keyframes_only {
            keyframes_only = !keyframes_only;
            relay.keyframes_only(id, keyframes_only);
        }
        if !run.turn(&rx, timings) {
            break;
        }
    }
    relay.unsubscribe(id);
    run.pipe = None;
    slot.set_state(StreamState::Stopped);
}

struct Run {
    slot: Arc<FrameSlot>,
    started: Instant,
    config: Option<CodecConfig>,
    pipe: Option<Pipe>,
    failed: Vec<String>,
    on_arrival: Arc<AtomicBool>,
    server_state: State,
    lost_since: Option<i64>,
    last_notice: Option<Notice>,
    /// Skips to a keyframe made on this side (the connection's backlog).
    skips_here: u64,
    /// Skips to a keyframe because the decoder fell behind.
    decoder_skips: u64,
    /// Dropping pictures until a keyframe: the decoder is behind.
    decoder_behind: bool,
    /// Bytes that may wait for the decoder ([`IngestTimings::decoder_backlog_bytes`]).
    backlog: u64,
}

impl Run {
    /// One message or 100 ms; false when the connection is gone for good.
    fn turn(&mut self, rx: &Receiver<Incoming>, timings: IngestTimings) -> bool {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(Incoming::Config(c)) => {
                if self.config.as_ref() != Some(&c) {
                    self.pipe = None;
                    self.config = Some(c);
                }
            }
            Ok(Incoming::Unit(u)) => self.unit(u),
            Ok(Incoming::Notice(n)) => self.notice(n),
            Ok(Incoming::Behind(n)) => {
                self.skips_here = n;
                self.show_notes();
            }
            Ok(Incoming::Disconnected(why)) => {
                // The pipeline is rebuilt at the first keyframe after the reconnection.
                self.pipe = None;
                self.lost(format!("no connection to the server: {why}"));
            }
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return false,
        }
        if let Some(p) = &self.pipe
            && let Some(e) = p.error()
        {
            tracing::warn!("{e}: {} is set aside", p.decoder);
            self.failed.push(p.decoder.clone());
            self.pipe = None;
        }
        // The server says live but no picture comes out: lost here.
        if let Some(p) = &self.pipe
            && self.server_state == State::Live
        {
            let last = p.last_frame_ms.load(Ordering::Relaxed);
            let quiet = self.started.elapsed().as_millis() as i64 - last;
            if last >= 0 && quiet > timings.stall.as_millis() as i64 {
                self.lost(format!(
                    "no picture for {:.1} s",
                    timings.stall.as_secs_f32()
                ));
            }
        }
        true
    }

    fn unit(&mut self, u: Unit) {
        if self.pipe.is_none() {
            if !u.keyframe {
                return;
            }
            let Some(c) = &self.config else { return };
            match build(
                c,
                &self.slot,
                &self.failed,
                self.started,
                &self.on_arrival,
                self.backlog,
            ) {
                Ok(p) => self.pipe = Some(p),
                Err(reason) => {
                    self.slot.set_state(StreamState::Failed { reason });
                    return;
                }
            }
        }
        self.on_arrival.store(u.timed_on_arrival, Ordering::Relaxed);
        self.lost_since = None;
        if let Some(p) = &self.pipe {
            let waiting = p.src.current_level_bytes();
            if self.decoder_behind || waiting > self.backlog {
                if !u.keyframe || waiting > self.backlog / 2 {
                    if !self.decoder_behind {
                        self.decoder_behind = true;
                        self.decoder_skips += 1;
                        tracing::debug!(
                            "{}: the decoder is behind ({waiting} bytes wait): to the next keyframe",
                            p.decoder
                        );
                        self.show_notes();
                    }
                    return;
                }
                self.decoder_behind = false;
            }
        }
        if let Some(p) = &self.pipe
            && let Err(e) = p.push(u)
        {
            tracing::debug!("{e}");
            self.pipe = None;
        }
    }

    fn lost(&mut self, reason: String) {
        let since = *self
            .lost_since
            .get_or_insert_with(|| chrono::Utc::now().timestamp_millis());
        self.slot.set_state(StreamState::Lost {
            since_utc_ms: since,
            reason,
        });
    }

    /// The tile's note: skips (the server's, the connection's, the decoder's) and the cap.
    fn show_notes(&self) {
        let last = self.last_notice.as_ref();
        self.slot.set_relay_notes(
            last.map_or(0, |l| l.skips) + self.skips_here + self.decoder_skips,
            last.is_some_and(|l| l.keyframes_only),
            last.is_some_and(|l| l.sub_for_main),
        );
    }

    fn notice(&mut self, n: Notice) {
        self.server_state = n.state;
        self.slot.set_relay_notes(
            n.skips + self.skips_here + self.decoder_skips,
            n.keyframes_only,
            n.sub_for_main,
        );
        match n.state {
            State::Connecting | State::Live => {}
            State::Lost => {
                self.lost_since = n.since_utc_ms.or(self.lost_since);
                self.lost(n.reason.clone());
            }
            State::Failed | State::Refused => self.slot.set_state(StreamState::Failed {
                reason: n.reason.clone(),
            }),
        }
        self.last_notice = Some(n);
    }
}

/// A running relayed stream's thread, stopped through `stop`.
pub(crate) fn spawn(
    relay: Arc<dyn Relay>,
    camera: String,
    kind: StreamKind,
    slot: Arc<FrameSlot>,
    stop: Arc<Stop>,
    timings: IngestTimings,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name(format!("ingest {camera}/{}", kind.as_str()))
        .spawn(move || supervise(relay.as_ref(), &camera, kind, &slot, &stop, timings))
}
