//! Pre-encoded clips for `--encode loop`: painted and encoded once, then sent in a loop.

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;

use super::{Codec, Painter, StreamSpec};
use crate::config::Camera;

/// The access units of a clip that starts with a keyframe and loops seamlessly.
pub(crate) struct Clip {
    units: Vec<gst::Buffer>,
}

impl Clip {
    /// Paints and encodes whole GOPs (at least two seconds) of camera `number`.
    pub fn encode(number: u32, camera: &Camera, spec: StreamSpec) -> Result<Clip, String> {
        let frames = (2 * spec.fps).max(spec.gop).div_ceil(spec.gop) * spec.gop;
        let (parse, caps) = match spec.codec {
            Codec::H264 => (
                "h264parse",
                "video/x-h264,stream-format=byte-stream,alignment=au",
            ),
            Codec::H265 => (
                "h265parse",
                "video/x-h265,stream-format=byte-stream,alignment=au",
            ),
        };
        let launch = format!(
            "appsrc name=src format=time caps=\"{}\" ! textoverlay name=text halignment=left valignment=bottom \
             shaded-background=true font-desc=\"Sans {}\" ! {} ! {parse} config-interval=-1 ! {caps} \
             ! appsink name=sink sync=false",
            spec.raw_caps(),
            (spec.height / 30).max(8),
            spec.encoder(),
        );
        let pipeline = gst::parse::launch(&launch)
            .map_err(|e| e.to_string())?
            .downcast::<gst::Pipeline>()
            .map_err(|_| "not a pipeline".to_string())?;
        let result = Self::run(&pipeline, number, camera, spec, frames);
        let _ = pipeline.set_state(gst::State::Null);
        result
    }

    fn run(
        pipeline: &gst::Pipeline,
        number: u32,
        camera: &Camera,
        spec: StreamSpec,
        frames: u32,
    ) -> Result<Clip, String> {
        let by_name = |n: &str| pipeline.by_name(n).ok_or_else(|| format!("no element {n}"));
        by_name("text")?.set_property("text", format!("{} {} (loop)", camera.id, camera.name));
        let src = by_name("src")?
            .downcast::<gst_app::AppSrc>()
            .map_err(|_| "src is not an appsrc")?;
        let sink = by_name("sink")?
            .downcast::<gst_app::AppSink>()
            .map_err(|_| "sink is not an appsink")?;
        pipeline
            .set_state(gst::State::Playing)
            .map_err(|e| e.to_string())?;

        let painter = Painter::new(number, spec.width, spec.height, frames);
        let frame_ns = 1_000_000_000 / spec.fps as u64;
        for i in 0..frames as u64 {
            let mut data = vec![0u8; painter.frame_bytes()];
            painter.paint(i, (i * frame_ns / 1_000_000) as i64, &mut data);
            let mut buf = gst::Buffer::from_mut_slice(data);
            if let Some(b) = buf.get_mut() {
                b.set_pts(gst::ClockTime::from_nseconds(i * frame_ns));
                b.set_duration(gst::ClockTime::from_nseconds(frame_ns));
            }
            src.push_buffer(buf)
                .map_err(|e| format!("encoding the clip: {e:?}"))?;
        }
        src.end_of_stream().map_err(|e| format!("{e:?}"))?;

        let mut units = Vec::with_capacity(frames as usize);
        while let Ok(sample) = sink.pull_sample() {
            let Some(buf) = sample.buffer_owned() else {
                continue;
            };
            let mut buf = buf.copy();
            if let Some(b) = buf.get_mut() {
                b.set_pts(gst::ClockTime::NONE);
                b.set_dts(gst::ClockTime::NONE);
                b.set_duration(gst::ClockTime::from_nseconds(frame_ns));
            }
            units.push(buf);
        }
        if units.len() != frames as usize {
            return Err(format!(
                "the encoder gave {} access units for {frames} pictures",
                units.len()
            ));
        }
        Ok(Clip { units })
    }

    /// The access unit to send as frame `index` (timestamps left for the source to set).
    pub fn access_unit(&self, index: u64) -> gst::Buffer {
        self.units[(index % self.units.len() as u64) as usize].clone()
    }
}
