//! Live ingest: RTSP streams decoded by GStreamer into [`FrameSlot`]s.
//!
//! Contract: one pipeline per stream in use, whatever number of tiles show it
//! ([`StreamManager`]); the decoder is chosen at run time (NVIDIA, VA-API, libav). Decoded
//! NV12/I420 planes leave through an appsink holding one buffer (`drop=true`), so the
//! streaming thread never blocks; there is no colour conversion here. Only this layer (with
//! `sim`, `playback` and `record`) touches GStreamer; it knows nothing of egui or wgpu.

pub mod budget;
mod decoder;
mod floor;
mod relayed;
pub mod sound;
mod stream;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use decoder::{VideoCodec, decoder_candidates};
pub use floor::DecodeFloor;
pub(crate) use stream::{GstPlanes, describe};
pub use stream::{IngestError, IngestTimings, LiveStream, StreamSource, Transport};

use crate::config::{Camera, StreamKind};
use crate::media::FrameSlot;

/// Identifies a stream: a camera and which of its encodings.
pub type StreamKey = (String, StreamKind);

struct Entry {
    stream: LiveStream,
    last_wanted: Instant,
}

/// The streams the screens need, each opened once. Owned by one thread (the UI's); opening
/// and stopping only signal supervisor threads, they never wait for the network.
pub struct StreamManager {
    timings: IngestTimings,
    /// `Auto`: each camera's own transport; otherwise this one for every camera.
    transport: Transport,
    /// A stream nobody asked for during this long is stopped.
    grace: Duration,
    streams: HashMap<StreamKey, Entry>,
    waker: Option<Arc<dyn Fn() + Send + Sync>>,
    /// The site server's live connection: every stream through it, none from a camera.
    relay: Option<Arc<dyn crate::relay::Relay>>,
}

impl StreamManager {
    pub fn new(timings: IngestTimings, transport: Transport) -> StreamManager {
        StreamManager {
            timings,
            transport,
            grace: Duration::from_secs(3),
            streams: HashMap::new(),
            waker: None,
            relay: None,
        }
    }

    /// Streams opened from now on come through the site server's live connection.
    pub fn set_relay(&mut self, relay: Arc<dyn crate::relay::Relay>) {
        self.relay = Some(relay);
    }

    /// True when streams come through the site server.
    pub fn relayed(&self) -> bool {
        self.relay.is_some()
    }

    /// Called after each new frame or state change of any stream (a repaint request).
    pub fn set_waker(&mut self, waker: Arc<dyn Fn() + Send + Sync>) {
        self.waker = Some(waker);
    }

    /// The slot of `camera`'s `kind` stream, opening it if needed; marks it as still wanted.
    pub fn want(&mut self, camera: &Camera, kind: StreamKind) -> Arc<FrameSlot> {
        let now = Instant::now();
        let key = (camera.id.clone(), kind);
        if let Some(e) = self.streams.get_mut(&key) {
            e.last_wanted = now;
            return e.stream.slot().clone();
        }
        let slot = FrameSlot::new();
        slot.set_waker(self.waker.clone());
        // Through the site server's live connection, or straight from the camera.
        let opened = match &self.relay {
            Some(relay) => {
                LiveStream::relayed(relay.clone(), &camera.id, kind, slot.clone(), self.timings)
            }
            None => {
                let source = StreamSource {
                    label: format!("{}/{}", camera.id, kind.as_str()),
                    url: camera.url(kind).to_owned(),
                    credential: camera.credential.clone(),
                    transport: match self.transport {
                        Transport::Auto => camera.transport,
                        forced => forced,
                    },
                };
                LiveStream::open(source, slot.clone(), self.timings)
            }
        };
        match opened {
            Ok(stream) => {
                self.streams.insert(
                    key,
                    Entry {
                        stream,
                        last_wanted: now,
                    },
                );
            }
            Err(e) => slot.set_state(crate::media::StreamState::Failed {
                reason: e.to_string(),
            }),
        }
        slot
    }

    /// The slot of a stream already open.
    pub fn slot(&self, camera_id: &str, kind: StreamKind) -> Option<&Arc<FrameSlot>> {
        self.streams
            .get(&(camera_id.to_owned(), kind))
            .map(|e| e.stream.slot())
    }

    /// Stops the streams nobody wanted for the grace period.
    pub fn collect(&mut self) {
        let grace = self.grace;
        self.streams.retain(|_, e| e.last_wanted.elapsed() < grace);
    }

    /// Number of streams being decoded.
    pub fn active(&self) -> usize {
        self.streams.len()
    }

    /// Keys of the streams being decoded.
    pub fn keys(&self) -> impl Iterator<Item = &StreamKey> {
        self.streams.keys()
    }

    /// Stops everything and waits for the pipelines to close.
    pub fn shutdown(&mut self) {
        for (_, e) in self.streams.drain() {
            e.stream.stop_and_join();
        }
    }
}
