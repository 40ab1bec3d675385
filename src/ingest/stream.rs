//! One live stream: an RTSP -> depay -> parse -> decode -> appsink pipeline, supervised by a
//! thread of its own that reconnects with backoff.
//!
//! Threads: the supervisor ("ingest cam001/sub") builds the pipeline, watches its bus and a
//! frame watchdog, and sleeps between attempts; it is the only thread that changes the
//! pipeline's state. GStreamer's streaming thread runs the appsink callback, which wraps the
//! decoded buffer (no copy) and publishes it to the [`FrameSlot`]; it never waits on anyone.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use gstreamer_video as gst_video;
use gstreamer_video::prelude::*;

use super::decoder::{VideoCodec, decoder_candidates};
use crate::config::{Credential, redact_url};
use crate::media::{
    Colorimetry, Frame, FramePlanes, FrameSlot, Matrix, PixelFormat, Range, StreamState,
};

/// RTSP lower transport: TCP, UDP, or TCP then UDP when the camera refuses TCP.
pub use crate::config::Transport;

/// How to reach one stream. `Debug` never shows the password.
#[derive(Clone, Debug)]
pub struct StreamSource {
    /// "cam001/sub": names threads, logs and errors.
    pub label: String,
    pub url: String,
    pub credential: Option<Credential>,
    pub transport: Transport,
}

/// Timings of the supervisor.
#[derive(Clone, Copy, Debug)]
pub struct IngestTimings {
    /// A live stream with no new picture for this long is lost.
    pub stall: Duration,
    /// A connection with no first picture after this long is given up.
    pub first_picture: Duration,
    pub backoff_min: Duration,
    pub backoff_max: Duration,
    /// Receive jitter buffer.
    pub latency_ms: u32,
    /// Bytes that may wait for a relayed stream's decoder (one slower than the stream): past
    /// them, pictures are dropped until a keyframe finds the queue back under half of it.
    pub decoder_backlog_bytes: u64,
}

impl Default for IngestTimings {
    fn default() -> Self {
        IngestTimings {
            stall: Duration::from_millis(2500),
            first_picture: Duration::from_secs(10),
            backoff_min: Duration::from_secs(1),
            backoff_max: Duration::from_secs(30),
            latency_ms: 100,
            decoder_backlog_bytes: 8 << 20,
        }
    }
}

/// Cannot even start a supervisor.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error("GStreamer is not usable: {0}")]
    Init(String),
    #[error("{label}: cannot start its thread: {source}")]
    Thread {
        label: String,
        source: std::io::Error,
    },
}

#[derive(Default)]
pub(crate) struct Stop {
    flag: Mutex<bool>,
    cv: Condvar,
}

impl Stop {
    pub(crate) fn is_set(&self) -> bool {
        *self.flag.lock().unwrap_or_else(|e| e.into_inner())
    }
    fn set(&self) {
        *self.flag.lock().unwrap_or_else(|e| e.into_inner()) = true;
        self.cv.notify_all();
    }
    /// Sleeps up to `d`; true when stopped meanwhile.
    fn sleep(&self, d: Duration) -> bool {
        let guard = self.flag.lock().unwrap_or_else(|e| e.into_inner());
        let (guard, _) = self
            .cv
            .wait_timeout_while(guard, d, |s| !*s)
            .unwrap_or_else(|e| e.into_inner());
        *guard
    }
}

/// A running stream. Dropping it asks the supervisor to stop without waiting for it.
pub struct LiveStream {
    slot: Arc<FrameSlot>,
    stop: Arc<Stop>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl LiveStream {
    /// Starts decoding `source` into `slot`.
    pub fn open(
        source: StreamSource,
        slot: Arc<FrameSlot>,
        timings: IngestTimings,
    ) -> Result<LiveStream, IngestError> {
        gst::init().map_err(|e| IngestError::Init(e.to_string()))?;
        let stop = Arc::new(Stop::default());
        let label = source.label.clone();
        let (s, st) = (slot.clone(), stop.clone());
        let thread = std::thread::Builder::new()
            .name(format!("ingest {label}"))
            .spawn(move || supervise(&source, &s, &st, timings))
            .map_err(|source| IngestError::Thread { label, source })?;
        Ok(LiveStream {
            slot,
            stop,
            thread: Some(thread),
        })
    }

    /// Decodes a camera stream relayed by the site server into `slot`.
    pub fn relayed(
        relay: Arc<dyn crate::relay::Relay>,
        camera: &str,
        kind: crate::config::StreamKind,
        slot: Arc<FrameSlot>,
        timings: IngestTimings,
    ) -> Result<LiveStream, IngestError> {
        gst::init().map_err(|e| IngestError::Init(e.to_string()))?;
        let stop = Arc::new(Stop::default());
        let thread = super::relayed::spawn(
            relay,
            camera.to_owned(),
            kind,
            slot.clone(),
            stop.clone(),
            timings,
        )
        .map_err(|source| IngestError::Thread {
            label: format!("{camera}/{}", kind.as_str()),
            source,
        })?;
        Ok(LiveStream {
            slot,
            stop,
            thread: Some(thread),
        })
    }

    pub fn slot(&self) -> &Arc<FrameSlot> {
        &self.slot
    }

    /// Stops and waits until the pipeline is torn down (tests, benchmarks, shutdown).
    pub fn stop_and_join(mut self) {
        self.stop.set();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl Drop for LiveStream {
    fn drop(&mut self) {
        self.stop.set();
    }
}

/// Why one attempt ended.
enum Ended {
    Stopped,
    /// Transient: the camera went away, the network dropped, nothing arrives.
    Lost(String),
    /// The configuration is wrong for this camera: credentials, path, codec.
    Failed(String),
    /// The camera refused the lower transport asked (461 Unsupported Transport).
    TransportRefused,
}

fn supervise(source: &StreamSource, slot: &Arc<FrameSlot>, stop: &Stop, timings: IngestTimings) {
    let mut failed_decoders: Vec<String> = Vec::new();
    let mut backoff = timings.backoff_min;
    let mut lost_since: Option<i64> = None;
    let mut ever_live = false;
    let mut last_report = String::new();
    slot.set_state(StreamState::Connecting);
    // RTP over TCP first unless told UDP; "auto" moves to UDP for good when TCP is refused.
    let mut lower = source.transport.first();
    loop {
        let (ended, was_live) = attempt(source, lower, slot, stop, timings, &mut failed_decoders);
        if was_live {
            ever_live = true;
            backoff = timings.backoff_min;
            lost_since = None;
        }
        let state = match ended {
            Ended::Stopped => break,
            Ended::TransportRefused => match source.transport.after_refusal(lower) {
                Some(next) => {
                    tracing::info!(stream = %source.label, "the camera refuses RTP over TCP: RTP over UDP from now on");
                    lower = next;
                    continue;
                }
                None => StreamState::Failed {
                    reason: Transport::refused(lower),
                },
            },
            // A camera that worked and now refuses is lost, not misconfigured.
            Ended::Failed(reason) if !ever_live => StreamState::Failed { reason },
            Ended::Failed(reason) | Ended::Lost(reason) => {
                let since =
                    *lost_since.get_or_insert_with(|| chrono::Utc::now().timestamp_millis());
                StreamState::Lost {
                    since_utc_ms: since,
                    reason,
                }
            }
        };
        let report = match &state {
            StreamState::Failed { reason } | StreamState::Lost { reason, .. } => reason.clone(),
            _ => String::new(),
        };
        // Log a state once, not at every retry.
        if report != last_report {
            tracing::warn!(stream = %source.label, url = %redact_url(&source.url), "{}: {report}", state.label());
            last_report = report;
        }
        slot.set_state(state);
        let jitter = 0.8 + 0.4 * fastrand::f64();
        if stop.sleep(backoff.mul_f64(jitter)) {
            break;
        }
        backoff = (backoff * 2).min(timings.backoff_max);
    }
    slot.set_state(StreamState::Stopped);
}

/// Shared between the supervisor and GStreamer's threads during one attempt.
struct AttemptState {
    started: Instant,
    /// Milliseconds since `started` of the last published frame; -1 before the first.
    last_frame_ms: AtomicI64,
    decoder: Mutex<Option<String>>,
    fatal: Mutex<Option<String>>,
    unlinked_video: AtomicBool,
}

fn attempt(
    source: &StreamSource,
    lower: Transport,
    slot: &Arc<FrameSlot>,
    stop: &Stop,
    timings: IngestTimings,
    failed_decoders: &mut Vec<String>,
) -> (Ended, bool) {
    let st = Arc::new(AttemptState {
        started: Instant::now(),
        last_frame_ms: AtomicI64::new(-1),
        decoder: Mutex::new(None),
        fatal: Mutex::new(None),
        unlinked_video: AtomicBool::new(true),
    });
    let pipeline = match build(source, lower, slot, &st, timings, failed_decoders) {
        Ok(p) => p,
        Err(reason) => return (Ended::Failed(reason), false),
    };
    let outcome = watch(&pipeline, source, stop, &st, timings);
    let _ = pipeline.set_state(gst::State::Null);
    let was_live = st.last_frame_ms.load(Ordering::Relaxed) >= 0;
    if let Ended::Lost(reason) = &outcome
        && reason.starts_with("decoder ")
        && let Some(d) = st.decoder.lock().unwrap_or_else(|e| e.into_inner()).clone()
    {
        failed_decoders.push(d);
    }
    (outcome, was_live)
}

fn make(factory: &str, name: Option<&str>) -> Result<gst::Element, String> {
    let mut b = gst::ElementFactory::make(factory);
    if let Some(n) = name {
        b = b.name(n);
    }
    b.build()
        .map_err(|_| format!("GStreamer element {factory} is missing"))
}

fn build(
    source: &StreamSource,
    lower: Transport,
    slot: &Arc<FrameSlot>,
    st: &Arc<AttemptState>,
    timings: IngestTimings,
    failed_decoders: &[String],
) -> Result<gst::Pipeline, String> {
    let pipeline = gst::Pipeline::builder()
        .name(format!("live {}", source.label))
        .build();
    let src = make("rtspsrc", Some("src"))?;
    src.set_property("location", &source.url);
    src.set_property("latency", timings.latency_ms);
    src.set_property("drop-on-latency", true);
    src.set_property_from_str(
        "protocols",
        match lower {
            Transport::Udp => "udp",
            Transport::Auto | Transport::Tcp => "tcp",
        },
    );
    if let Some(c) = &source.credential {
        src.set_property("user-id", &c.user);
        src.set_property("user-pw", &c.password);
    }
    pipeline.add(&src).map_err(|e| e.to_string())?;

    let pipeline_weak = pipeline.downgrade();
    let st2 = st.clone();
    let slot = slot.clone();
    let failed: Vec<String> = failed_decoders.to_vec();
    let label = source.label.clone();
    src.connect_pad_added(move |_, pad| {
        let Some(pipeline) = pipeline_weak.upgrade() else {
            return;
        };
        if let Err(reason) = link_video(&pipeline, pad, &slot, &st2, &failed) {
            tracing::debug!(stream = %label, "pad not used: {reason}");
            *st2.fatal.lock().unwrap_or_else(|e| e.into_inner()) = Some(reason);
        }
    });
    Ok(pipeline)
}

fn link_video(
    pipeline: &gst::Pipeline,
    pad: &gst::Pad,
    slot: &Arc<FrameSlot>,
    st: &Arc<AttemptState>,
    failed: &[String],
) -> Result<(), String> {
    let caps = pad.current_caps().ok_or("pad without caps")?;
    let s = caps.structure(0).ok_or("empty caps")?;
    let media = s.get::<&str>("media").unwrap_or("");
    if media != "video" || !st.unlinked_video.load(Ordering::SeqCst) {
        // Audio, metadata or a second video track: consume it quietly.
        let sink = make("fakesink", None)?;
        sink.set_property("sync", false);
        pipeline.add(&sink).map_err(|e| e.to_string())?;
        sink.sync_state_with_parent().map_err(|e| e.to_string())?;
        pad.link(&sink.static_pad("sink").ok_or("fakesink without pad")?)
            .map_err(|e| e.to_string())?;
        return Ok(());
    }
    let encoding = s.get::<&str>("encoding-name").unwrap_or("?");
    let Some(codec) = VideoCodec::from_encoding_name(encoding) else {
        return Err(format!(
            "unsupported codec {encoding} (Vigie decodes H.264 and H.265)"
        ));
    };
    let Some(decoder_name) = decoder_candidates(codec, failed).first().copied() else {
        return Err(format!("no working {codec:?} decoder on this machine"));
    };
    let depay = make(codec.depayloader(), None)?;
    let parse = make(codec.parser(), None)?;
    let decoder = make(decoder_name, Some("decoder"))?;
    let (slot2, st2) = (slot.clone(), st.clone());
    let sink = frame_sink(move |frame| {
        st2.last_frame_ms
            .store(st2.started.elapsed().as_millis() as i64, Ordering::Relaxed);
        slot2.publish(frame);
    });
    // Nothing reaches the decoder before the first keyframe: joining a stream mid-GOP would
    // otherwise show grey or smeared pictures. The same gate serves the decode budget: while
    // the slot asks for keyframes only, pictures that depend on others are dropped before the
    // decoder, and after that, full decoding resumes at the next keyframe.
    if let Some(pad) = parse.static_pad("src") {
        let need_keyframe = AtomicBool::new(true);
        let slot3 = slot.clone();
        pad.add_probe(gst::PadProbeType::BUFFER, move |_, info| {
            let Some(b) = info.buffer() else {
                return gst::PadProbeReturn::Ok;
            };
            if !b.flags().contains(gst::BufferFlags::DELTA_UNIT) {
                need_keyframe.store(false, Ordering::Relaxed);
                return gst::PadProbeReturn::Ok;
            }
            if slot3.keyframes_only() {
                need_keyframe.store(true, Ordering::Relaxed);
            }
            if need_keyframe.load(Ordering::Relaxed) {
                gst::PadProbeReturn::Drop
            } else {
                gst::PadProbeReturn::Ok
            }
        });
    }
    let chain = [&depay, &parse, &decoder, &sink];
    pipeline.add_many(chain).map_err(|e| e.to_string())?;
    gst::Element::link_many(chain).map_err(|e| e.to_string())?;
    for e in chain {
        e.sync_state_with_parent().map_err(|e| e.to_string())?;
    }
    pad.link(&depay.static_pad("sink").ok_or("depayloader without pad")?)
        .map_err(|e| format!("{e:?}"))?;
    st.unlinked_video.store(false, Ordering::SeqCst);
    slot.set_decoder(decoder_name);
    *st.decoder.lock().unwrap_or_else(|e| e.into_inner()) = Some(decoder_name.to_owned());
    Ok(())
}

/// An appsink taking decoded NV12/I420 pictures (one waiting, older ones dropped, never
/// blocking the streaming thread), each mapped without a copy into a [`Frame`] timed on its
/// arrival and handed to `on_frame`.
pub(crate) fn frame_sink(mut on_frame: impl FnMut(Frame) + Send + 'static) -> gst::Element {
    let sink = gst_app::AppSink::builder()
        .caps(
            &gst::Caps::builder("video/x-raw")
                .field("format", gst::List::new(["NV12", "I420"]))
                .build(),
        )
        .max_buffers(1)
        .drop(true)
        .sync(false)
        .build();
    sink.set_property("enable-last-sample", false);
    let mut cached: Option<(gst::Caps, gst_video::VideoInfo, PixelFormat, Colorimetry)> = None;
    sink.set_callbacks(
        gst_app::AppSinkCallbacks::builder()
            .new_sample(move |sink| {
                let sample = sink.pull_sample().map_err(|_| gst::FlowError::Eos)?;
                let caps = sample.caps().ok_or(gst::FlowError::NotNegotiated)?;
                if cached.as_ref().is_none_or(|(c, ..)| c.as_ref() != caps) {
                    cached = describe(caps).map(|(i, f, c)| (caps.to_owned(), i, f, c));
                }
                let (_, info, format, colorimetry) =
                    cached.as_ref().ok_or(gst::FlowError::NotNegotiated)?;
                let buffer = sample.buffer_owned().ok_or(gst::FlowError::Error)?;
                let pts_ns = buffer.pts().map(|t| t.nseconds());
                let vf = gst_video::VideoFrame::from_buffer_readable(buffer, info)
                    .map_err(|_| gst::FlowError::Error)?;
                on_frame(Frame {
                    width: info.width(),
                    height: info.height(),
                    format: *format,
                    colorimetry: *colorimetry,
                    planes: Arc::new(GstPlanes(vf)),
                    pts_ns,
                    capture_utc_ms: chrono::Utc::now().timestamp_millis(),
                    timed_on_arrival: true,
                });
                Ok(gst::FlowSuccess::Ok)
            })
            .build(),
    );
    sink.upcast()
}

/// Pixel layout and colorimetry of decoded caps (what the compositor needs to draw them).
pub(crate) fn describe(
    caps: &gst::CapsRef,
) -> Option<(gst_video::VideoInfo, PixelFormat, Colorimetry)> {
    let info = gst_video::VideoInfo::from_caps(caps).ok()?;
    let format = match info.format() {
        gst_video::VideoFormat::Nv12 => PixelFormat::Nv12,
        gst_video::VideoFormat::I420 => PixelFormat::I420,
        _ => return None,
    };
    let c = info.colorimetry();
    let matrix = match c.matrix() {
        gst_video::VideoColorMatrix::Bt601
        | gst_video::VideoColorMatrix::Smpte240m
        | gst_video::VideoColorMatrix::Fcc => Matrix::Bt601,
        gst_video::VideoColorMatrix::Bt709 => Matrix::Bt709,
        // Unknown/RGB/BT.2020: SD sizes are BT.601 by convention, HD BT.709.
        _ if info.height() < 720 => Matrix::Bt601,
        _ => Matrix::Bt709,
    };
    let range = match c.range() {
        gst_video::VideoColorRange::Range0_255 => Range::Full,
        _ => Range::Limited,
    };
    Some((info, format, Colorimetry { matrix, range }))
}

/// Planes of a mapped decoded buffer: the frame reaches the GPU upload with no CPU copy.
pub(crate) struct GstPlanes(pub(crate) gst_video::VideoFrame<gst_video::video_frame::Readable>);

impl FramePlanes for GstPlanes {
    fn plane(&self, index: usize) -> &[u8] {
        self.0.plane_data(index as u32).unwrap_or(&[])
    }
    fn stride(&self, index: usize) -> usize {
        self.0
            .plane_stride()
            .get(index)
            .copied()
            .unwrap_or(0)
            .max(0) as usize
    }
}

fn watch(
    pipeline: &gst::Pipeline,
    source: &StreamSource,
    stop: &Stop,
    st: &AttemptState,
    timings: IngestTimings,
) -> Ended {
    if pipeline.set_state(gst::State::Playing).is_err() {
        return Ended::Lost("cannot start the pipeline".into());
    }
    let Some(bus) = pipeline.bus() else {
        return Ended::Lost("pipeline without bus".into());
    };
    loop {
        if stop.is_set() {
            return Ended::Stopped;
        }
        if let Some(reason) = st.fatal.lock().unwrap_or_else(|e| e.into_inner()).take() {
            return Ended::Failed(reason);
        }
        let elapsed = st.started.elapsed();
        let last = st.last_frame_ms.load(Ordering::Relaxed);
        if last < 0 && elapsed > timings.first_picture {
            return Ended::Lost(format!(
                "no picture {} s after connecting",
                timings.first_picture.as_secs()
            ));
        }
        if last >= 0 && elapsed.saturating_sub(Duration::from_millis(last as u64)) > timings.stall {
            return Ended::Lost(format!(
                "no picture for {:.1} s",
                timings.stall.as_secs_f32()
            ));
        }
        let Some(msg) = bus.timed_pop_filtered(
            gst::ClockTime::from_mseconds(200),
            &[gst::MessageType::Error, gst::MessageType::Eos],
        ) else {
            continue;
        };
        match msg.view() {
            gst::MessageView::Eos(_) => return Ended::Lost("the camera ended the stream".into()),
            gst::MessageView::Error(e) => {
                // A stream we refused (codec) errors out as unlinked: say why it was refused.
                if let Some(reason) = st.fatal.lock().unwrap_or_else(|e| e.into_inner()).take() {
                    return Ended::Failed(reason);
                }
                let from_decoder = msg.src().is_some_and(|s| s.name() == "decoder");
                let debug = e.debug().map(|d| d.to_string()).unwrap_or_default();
                if !from_decoder && transport_refused(&e.error(), &debug) {
                    return Ended::TransportRefused;
                }
                return classify(&e.error(), from_decoder, source);
            }
            _ => {}
        }
    }
}

/// Whether rtspsrc's error says the camera refused the lower transport: SETUP answered 461
/// Unsupported Transport for every stream, which rtspsrc reports as "no supported stream"
/// from its stream set-up (the function named in the debug text; the message itself may be
/// translated).
fn transport_refused(err: &gst::glib::Error, debug: &str) -> bool {
    let text = format!("{} {debug}", err.message()).to_ascii_lowercase();
    text.contains("461")
        || text.contains("unsupported transport")
        || (err.matches(gst::StreamError::CodecNotFound)
            && text.contains("gst_rtspsrc_setup_streams"))
}

/// Turns a GStreamer error into a message fit for a tile: no URL, no credentials.
fn classify(err: &gst::glib::Error, from_decoder: bool, source: &StreamSource) -> Ended {
    use gst::ResourceError as R;
    if from_decoder {
        return Ended::Lost(format!("decoder error: {}", err.message()));
    }
    if let Some(r) = err.kind::<R>() {
        return match r {
            R::NotAuthorized => Ended::Failed("the camera refused the credentials (401)".into()),
            R::NotFound => Ended::Failed("no such stream on the camera (404)".into()),
            R::OpenRead | R::OpenReadWrite | R::Read | R::Write => {
                Ended::Lost("cannot reach the camera".into())
            }
            R::Settings => Ended::Failed("the camera refused the transport or settings".into()),
            _ => Ended::Lost(format!("network error ({r:?})")),
        };
    }
    if let Some(gst::CoreError::MissingPlugin) = err.kind::<gst::CoreError>() {
        return Ended::Failed("a GStreamer plugin is missing for this stream".into());
    }
    if let Some(
        gst::StreamError::Format | gst::StreamError::CodecNotFound | gst::StreamError::WrongType,
    ) = err.kind::<gst::StreamError>()
    {
        return Ended::Failed("unsupported stream format".into());
    }
    let _ = source;
    Ended::Lost(format!("stream error: {}", err.message()))
}
