//! Decoding recorded access units: `appsrc ! parse ! decoder ! appsink`, fed and drained by the
//! caller's thread, one picture out for each access unit in.

use std::sync::Arc;

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use gstreamer_video as gst_video;

use crate::ingest::{GstPlanes, VideoCodec, decoder_candidates, describe};
use crate::media::Frame;

/// How long a decoder may take to give back one picture before it is called stuck.
const PICTURE_TIMEOUT: gst::ClockTime = gst::ClockTime::from_seconds(5);

/// A decoder for one track (codec and decoder configuration record).
pub struct GopDecoder {
    pipeline: gst::Pipeline,
    src: gst_app::AppSrc,
    sink: gst_app::AppSink,
    decoder: String,
}

impl GopDecoder {
    /// A decoder for `codec` whose parameter sets are in `config` (avcC / hvcC).
    pub fn new(codec: VideoCodec, config: &[u8]) -> Result<GopDecoder, String> {
        gst::init().map_err(|e| format!("GStreamer is not usable: {e}"))?;
        let caps = codec.au_caps(config);
        let src = gst_app::AppSrc::builder()
            .caps(&caps)
            .format(gst::Format::Time)
            .is_live(false)
            .max_bytes(0)
            .build();
        let parse = gst::ElementFactory::make(codec.parser())
            .build()
            .map_err(|_| format!("{} is missing", codec.parser()))?;
        let Some(name) = decoder_candidates(codec, &[]).into_iter().next() else {
            return Err(format!("no {codec:?} decoder on this machine"));
        };
        let decoder = gst::ElementFactory::make(name)
            .build()
            .map_err(|_| format!("{name} is missing"))?;
        if decoder.has_property("thread-type") {
            // Slice threads: a picture leaves as soon as it is decoded (frame threads hold
            // several back, which a seek to an exact picture cannot wait for).
            decoder.set_property_from_str("thread-type", "slice");
        }
        let sink = gst_app::AppSink::builder()
            .caps(
                &gst::Caps::builder("video/x-raw")
                    .field("format", gst::List::new(["NV12", "I420"]))
                    .build(),
            )
            .sync(false)
            .build();
        sink.set_property("enable-last-sample", false);
        let pipeline = gst::Pipeline::builder().name("playback").build();
        let chain = [src.upcast_ref(), &parse, &decoder, sink.upcast_ref()];
        pipeline.add_many(chain).map_err(|e| e.to_string())?;
        gst::Element::link_many(chain).map_err(|e| e.to_string())?;
        pipeline
            .set_state(gst::State::Playing)
            .map_err(|e| format!("starting the decoder: {e}"))?;
        Ok(GopDecoder {
            pipeline,
            src,
            sink,
            decoder: name.to_owned(),
        })
    }

    /// The decoder element in use.
    pub fn decoder(&self) -> &str {
        &self.decoder
    }

    /// Decodes access units in order and returns one picture for each, each carrying the
    /// `pts_ns` given with its unit. A unit after which the stream restarts at a keyframe
    /// needs no reset: the keyframe does it.
    pub fn decode(&mut self, units: Vec<(Vec<u8>, u64)>) -> Result<Vec<Frame>, String> {
        let n = units.len();
        for (data, pts) in units {
            let mut buffer = gst::Buffer::from_mut_slice(data);
            if let Some(b) = buffer.get_mut() {
                b.set_pts(gst::ClockTime::from_nseconds(pts));
            }
            self.src
                .push_buffer(buffer)
                .map_err(|e| format!("decoder refused a picture: {e:?}"))?;
        }
        let mut frames = Vec::with_capacity(n);
        let mut cached: Option<(gst::Caps, gst_video::VideoInfo, _, _)> = None;
        while frames.len() < n {
            if let Some(msg) = self
                .pipeline
                .bus()
                .and_then(|b| b.pop_filtered(&[gst::MessageType::Error]))
                && let gst::MessageView::Error(e) = msg.view()
            {
                return Err(format!("decoding: {}", e.error().message()));
            }
            let Some(sample) = self.sink.try_pull_sample(PICTURE_TIMEOUT) else {
                return Err(format!(
                    "{} gave {} of {n} pictures",
                    self.decoder,
                    frames.len()
                ));
            };
            let caps = sample.caps().ok_or("decoded picture without caps")?;
            if cached.as_ref().is_none_or(|(c, ..)| c.as_ref() != caps) {
                cached = describe(caps).map(|(i, f, c)| (caps.to_owned(), i, f, c));
            }
            let (_, info, format, colorimetry) = cached
                .as_ref()
                .ok_or("decoded pictures in an unknown format")?;
            let buffer = sample
                .buffer_owned()
                .ok_or("decoded sample without buffer")?;
            let pts_ns = buffer.pts().map(|t| t.nseconds());
            let vf = gst_video::VideoFrame::from_buffer_readable(buffer, info)
                .map_err(|_| "unmappable decoded picture")?;
            frames.push(Frame {
                width: info.width(),
                height: info.height(),
                format: *format,
                colorimetry: *colorimetry,
                planes: Arc::new(GstPlanes(vf)),
                pts_ns,
                capture_utc_ms: 0,
                timed_on_arrival: false,
            });
        }
        Ok(frames)
    }
}

impl Drop for GopDecoder {
    fn drop(&mut self) {
        let _ = self.pipeline.set_state(gst::State::Null);
    }
}
