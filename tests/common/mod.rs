//! Helpers shared by the integration tests.

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use vigie::record::fmp4::VideoCodec;

/// Encoded pictures.
pub struct Encoded {
    pub decoder_config: Vec<u8>,
    /// Access units (length-prefixed NAL units) and whether each is a keyframe.
    pub units: Vec<(Vec<u8>, bool)>,
}

/// `frames` pictures of 320x240 at 25 fps in GOPs of `gop`.
pub fn encode_clip(codec: VideoCodec, frames: u32, gop: u32) -> Encoded {
    gst::init().expect("gstreamer");
    let (enc, parse, caps) = match codec {
        VideoCodec::H264 => (
            format!("x264enc key-int-max={gop} tune=zerolatency speed-preset=ultrafast"),
            "h264parse",
            "video/x-h264,stream-format=avc,alignment=au",
        ),
        VideoCodec::H265 => (
            format!("x265enc key-int-max={gop} tune=zerolatency speed-preset=ultrafast"),
            "h265parse",
            "video/x-h265,stream-format=hvc1,alignment=au",
        ),
    };
    let launch = format!(
        "videotestsrc num-buffers={frames} pattern=ball ! video/x-raw,format=I420,width=320,height=240,framerate=25/1 ! {enc} ! {parse} ! {caps} ! appsink name=sink sync=false"
    );
    let p = gst::parse::launch(&launch)
        .expect("pipeline")
        .downcast::<gst::Pipeline>()
        .expect("pipeline");
    let sink = p
        .by_name("sink")
        .expect("sink")
        .downcast::<gst_app::AppSink>()
        .expect("appsink");
    p.set_state(gst::State::Playing).expect("play");
    let mut units = Vec::new();
    let mut config = Vec::new();
    while let Ok(sample) = sink.pull_sample() {
        if config.is_empty() {
            let s = sample
                .caps()
                .expect("caps")
                .structure(0)
                .expect("structure")
                .to_owned();
            let cd = s.get::<gst::Buffer>("codec_data").expect("codec_data");
            config = cd.map_readable().expect("map").to_vec();
        }
        let b = sample.buffer().expect("buffer");
        units.push((
            b.map_readable().expect("map").to_vec(),
            !b.flags().contains(gst::BufferFlags::DELTA_UNIT),
        ));
    }
    p.set_state(gst::State::Null).expect("stop");
    Encoded {
        decoder_config: config,
        units,
    }
}
