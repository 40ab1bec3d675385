//! The fragmented MP4 writer against real encoders and real players: H.264 and H.265 GOPs
//! from GStreamer's encoders, written as fragments, read back by ffprobe/ffmpeg; a file cut in
//! the middle of its last fragment still plays up to the fragment before.

use std::path::Path;
use std::process::Command;

mod common;

use common::{Encoded, encode_clip};
use vigie::record::fmp4::{Fmp4Writer, Sample, TrackConfig, VideoCodec, complete_length, scan};

fn probe(path: &Path) -> String {
    let out = Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-count_frames",
            "-select_streams",
            "v:0",
            "-show_entries",
            "stream=codec_name,width,height,nb_read_frames",
            "-of",
            "csv=p=0",
        ])
        .arg(path)
        .output()
        .expect("ffprobe runs (ffmpeg package)");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

fn write_and_check(codec: VideoCodec, name: &str) {
    let Encoded {
        decoder_config,
        units,
    } = encode_clip(codec, 75, 25);
    assert_eq!(units.len(), 75);
    assert!(
        units[0].1 && units[25].1 && units[50].1,
        "keyframes every 25"
    );
    let dir = std::env::temp_dir().join(format!("vigie-fmp4-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let path = dir.join("segment.mp4");
    let track = TrackConfig {
        codec,
        width: 320,
        height: 240,
        decoder_config,
    };
    let mut writer =
        Fmp4Writer::new(std::fs::File::create(&path).expect("file"), &track).expect("init");
    let mut fragment_starts = Vec::new();
    for gop in units.chunks(25) {
        fragment_starts.push(writer.bytes());
        let samples: Vec<Sample<'_>> = gop
            .iter()
            .map(|(d, k)| Sample {
                data: d,
                duration_90k: 3600,
                keyframe: *k,
            })
            .collect();
        writer.write_fragment(&samples).expect("fragment");
    }
    assert_eq!(writer.duration_90k(), 75 * 3600);
    let keys: Vec<u64> = writer.keyframes().iter().map(|k| k.0).collect();
    assert_eq!(keys, [0, 90_000, 180_000]);
    drop(writer.into_inner());

    let codec_name = if codec == VideoCodec::H264 {
        "h264"
    } else {
        "hevc"
    };
    assert_eq!(probe(&path), format!("{codec_name},320,240,75"));
    let errors = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(&path)
        .args(["-f", "null", "-"])
        .output()
        .expect("ffmpeg");
    assert!(
        errors.status.success() && errors.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&errors.stderr)
    );

    // A crash in the middle of the last fragment's data: the complete fragments play.
    let full = std::fs::read(&path).expect("read");
    let cut = dir.join("cut.mp4");
    std::fs::write(&cut, &full[..full.len() - 500]).expect("write");
    let frames: u32 = probe(&cut)
        .rsplit(',')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(
        frames >= 50,
        "{frames} frames play from a file cut in its last mdat"
    );
    // A crash anywhere, even inside a moof: truncated to its complete prefix, it plays exactly
    // the complete fragments.
    for cut_at in [
        fragment_starts[2] as usize + 20,
        fragment_starts[2] as usize + 300,
        full.len() - 1,
    ] {
        let keep = complete_length(&full[..cut_at]) as usize;
        assert_eq!(keep as u64, fragment_starts[2], "cut at {cut_at}");
        std::fs::write(&cut, &full[..keep]).expect("write");
        assert_eq!(
            probe(&cut),
            format!("{codec_name},320,240,50"),
            "cut at {cut_at}"
        );
    }
    assert_eq!(complete_length(&full), full.len() as u64);
    // What a recorder reads back from a file it finds without an index row.
    let found = scan(&full[..full.len() - 500]).expect("scan");
    assert_eq!(found.codec, codec);
    assert_eq!(found.complete_len, fragment_starts[2]);
    assert_eq!(found.duration_90k, 50 * 3600);
    assert_eq!(
        found.keyframes,
        [(0, fragment_starts[0]), (90_000, fragment_starts[1])]
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn h264_fragments_play_and_survive_a_cut() {
    write_and_check(VideoCodec::H264, "h264");
}

#[test]
fn h265_fragments_play_and_survive_a_cut() {
    write_and_check(VideoCodec::H265, "h265");
}
