//! Which decoder element decodes a stream, chosen at run time from what this machine has.

use gstreamer as gst;

/// Compressed video formats Vigie decodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum VideoCodec {
    H264,
    H265,
}

impl VideoCodec {
    /// From an RTP `encoding-name` (case-insensitive).
    pub fn from_encoding_name(name: &str) -> Option<VideoCodec> {
        match name.to_ascii_uppercase().as_str() {
            "H264" => Some(VideoCodec::H264),
            "H265" => Some(VideoCodec::H265),
            _ => None,
        }
    }

    pub(crate) fn depayloader(self) -> &'static str {
        match self {
            VideoCodec::H264 => "rtph264depay",
            VideoCodec::H265 => "rtph265depay",
        }
    }

    pub(crate) fn parser(self) -> &'static str {
        match self {
            VideoCodec::H264 => "h264parse",
            VideoCodec::H265 => "h265parse",
        }
    }

    /// Caps of whole access units in MP4 form (length-prefixed NAL units) with their
    /// `avcC`/`hvcC` record: what an appsrc feeding the parser says it sends.
    pub(crate) fn au_caps(self, decoder_config: &[u8]) -> gst::Caps {
        match self {
            VideoCodec::H264 => gst::Caps::builder("video/x-h264").field("stream-format", "avc"),
            VideoCodec::H265 => gst::Caps::builder("video/x-h265").field("stream-format", "hvc1"),
        }
        .field("alignment", "au")
        .field(
            "codec_data",
            gst::Buffer::from_slice(decoder_config.to_vec()),
        )
        .build()
    }

    /// Decoders in order of preference: on Linux NVIDIA, VA-API, then libav on the CPU.
    #[cfg(not(windows))]
    pub fn decoder_preference(self) -> &'static [&'static str] {
        match self {
            VideoCodec::H264 => &["nvh264dec", "vah264dec", "avdec_h264"],
            VideoCodec::H265 => &["nvh265dec", "vah265dec", "avdec_h265"],
        }
    }

    /// Decoders in order of preference: on Windows Direct3D 12, Direct3D 11 (any GPU vendor),
    /// then libav on the CPU.
    #[cfg(windows)]
    pub fn decoder_preference(self) -> &'static [&'static str] {
        match self {
            VideoCodec::H264 => &["d3d12h264dec", "d3d11h264dec", "avdec_h264"],
            VideoCodec::H265 => &["d3d12h265dec", "d3d11h265dec", "avdec_h265"],
        }
    }
}

/// The decoders to try for `codec`, best first, leaving out those in `failed`. The environment
/// variable `VIGIE_DECODER` (an element name) forces one.
pub fn decoder_candidates(codec: VideoCodec, failed: &[String]) -> Vec<&'static str> {
    let forced = std::env::var("VIGIE_DECODER").ok();
    codec
        .decoder_preference()
        .iter()
        .copied()
        .filter(|name| forced.as_deref().is_none_or(|f| f == *name))
        .filter(|name| !failed.iter().any(|f| f == name))
        .filter(|name| gst::ElementFactory::find(name).is_some())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_software_decoder_is_always_a_candidate() {
        gst::init().expect("gstreamer");
        let c = decoder_candidates(VideoCodec::H264, &[]);
        assert_eq!(c.last(), Some(&"avdec_h264"));
        assert_eq!(
            decoder_candidates(VideoCodec::H265, &[]).last(),
            Some(&"avdec_h265")
        );
        assert!(
            !decoder_candidates(VideoCodec::H264, &["avdec_h264".into()]).contains(&"avdec_h264")
        );
        assert_eq!(
            VideoCodec::from_encoding_name("h265"),
            Some(VideoCodec::H265)
        );
        assert_eq!(VideoCodec::from_encoding_name("JPEG"), None);
    }
}
