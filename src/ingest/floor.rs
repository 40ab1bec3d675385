//! The decode floor for benchmarks: the same streams through
//! `rtspsrc ! depay ! parse ! avdec ! fakesink`, with nothing after the decoder. What Vigie
//! spends above this is the cost of its own live path.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use gstreamer as gst;
use gstreamer::prelude::*;

use super::IngestError;

/// Running floor pipelines, one per URL.
pub struct DecodeFloor {
    pipelines: Vec<gst::Pipeline>,
    frames: Vec<Arc<AtomicU64>>,
}

impl DecodeFloor {
    /// Starts one H.264 decoding pipeline per URL over RTSP/TCP.
    pub fn start(urls: &[String]) -> Result<DecodeFloor, IngestError> {
        Self::start_with(urls, "rtph264depay ! h264parse ! avdec_h264")
    }

    /// Starts one pipeline per URL that receives the RTP packets and throws them away (a
    /// client that costs the server as much as a real one and almost nothing itself).
    pub fn receive_only(urls: &[String]) -> Result<DecodeFloor, IngestError> {
        Self::start_with(urls, "identity")
    }

    fn start_with(urls: &[String], middle: &str) -> Result<DecodeFloor, IngestError> {
        gst::init().map_err(|e| IngestError::Init(e.to_string()))?;
        let mut pipelines = Vec::new();
        let mut frames = Vec::new();
        for url in urls {
            let launch = format!(
                "rtspsrc location={url} protocols=tcp latency=100 drop-on-latency=true ! {middle} \
                 ! fakesink name=sink sync=false"
            );
            let p = gst::parse::launch(&launch)
                .map_err(|e| IngestError::Init(e.to_string()))?
                .downcast::<gst::Pipeline>()
                .map_err(|_| IngestError::Init("not a pipeline".into()))?;
            let counter = Arc::new(AtomicU64::new(0));
            if let Some(pad) = p.by_name("sink").and_then(|s| s.static_pad("sink")) {
                let c = counter.clone();
                pad.add_probe(gst::PadProbeType::BUFFER, move |_, _| {
                    c.fetch_add(1, Ordering::Relaxed);
                    gst::PadProbeReturn::Ok
                });
            }
            p.set_state(gst::State::Playing)
                .map_err(|e| IngestError::Init(e.to_string()))?;
            pipelines.push(p);
            frames.push(counter);
        }
        Ok(DecodeFloor { pipelines, frames })
    }

    /// Buffers that reached each pipeline's sink so far (frames, or packets when receiving only).
    pub fn frames(&self) -> Vec<u64> {
        self.frames
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .collect()
    }
}

impl Drop for DecodeFloor {
    fn drop(&mut self) {
        for p in &self.pipelines {
            let _ = p.set_state(gst::State::Null);
        }
    }
}
