//! Segments as the recorder writes them: GOPs in, durable fragmented MP4 files and index rows
//! out; the index then checks clean (hashes included), lists contiguous segments, and every
//! segment plays on its own.

mod common;

use std::process::Command;

use common::encode_clip;
use vigie::record::fmp4::{TrackConfig, VideoCodec};
use vigie::record::segment::SegmentWriter;
use vigie::store::{CameraRow, INDEX_FILE, IndexWriter, Store, TimeSource, WriteOp};

#[test]
fn segments_rotate_on_keyframes_index_contiguously_and_check_clean() {
    let clip = encode_clip(VideoCodec::H264, 150, 25); // 6 s, a keyframe a second
    let dir = std::env::temp_dir().join(format!("vigie-record-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let index = IndexWriter::spawn(&dir.join(INDEX_FILE)).expect("index");
    index.send(WriteOp::Camera(CameraRow::new("cam001", "cam001")));
    let track = TrackConfig {
        codec: VideoCodec::H264,
        width: 320,
        height: 240,
        decoder_config: clip.decoder_config.clone(),
    };
    let t0: i64 = 1_795_687_200 * 1_000_000_000;
    let mut seg =
        SegmentWriter::create(&dir, "cam001", t0, &track, TimeSource::Rtcp).expect("segment");
    let mut rows = Vec::new();
    for (data, key) in &clip.units {
        // Rotate at the first keyframe past 2 s.
        if *key && seg.duration_ns() >= 2_000_000_000 {
            let start = seg.start_utc_ns() + seg.duration_ns();
            let next = SegmentWriter::create(&dir, "cam001", start, &track, TimeSource::Rtcp)
                .expect("segment");
            let row = std::mem::replace(&mut seg, next).finish().expect("finish");
            index.send(WriteOp::Segment(row.clone()));
            rows.push(row);
        }
        seg.push(data, 3600, *key).expect("push");
    }
    let row = seg.finish().expect("finish");
    index.send(WriteOp::Segment(row.clone()));
    rows.push(row);
    assert!(index.flush());
    drop(index);

    assert_eq!(rows.len(), 3);
    for w in rows.windows(2) {
        assert_eq!(w[0].end_utc_ns, w[1].start_utc_ns, "contiguous");
    }
    assert_eq!(rows[2].end_utc_ns - t0, 6_000_000_000);
    let store = Store::open_readonly(&dir.join(INDEX_FILE)).expect("store");
    assert_eq!(
        store
            .segments("cam001", t0, t0 + 6_000_000_000)
            .expect("segments")
            .len(),
        3
    );
    // 3.5 s in: the second segment (2..4 s), its keyframe at 3 s (1 s into it).
    let p = store
        .seek("cam001", t0 + 3_500_000_000)
        .expect("seek")
        .expect("found");
    assert_eq!(p.segment.row.path, rows[1].path);
    assert_eq!(p.keyframe.time_90k, 90_000);

    let check = Command::new(env!("CARGO_BIN_EXE_vigie"))
        .args(["check", "--hash", "--data"])
        .arg(&dir)
        .output()
        .expect("check");
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stdout)
    );
    for r in &rows {
        let out = Command::new("ffprobe")
            .args([
                "-v",
                "error",
                "-count_frames",
                "-show_entries",
                "stream=nb_read_frames",
                "-of",
                "csv=p=0",
            ])
            .arg(dir.join(&r.path))
            .output()
            .expect("ffprobe");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            "50",
            "{}",
            r.path
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
