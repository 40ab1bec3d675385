//! `vigie recorder` against camsim: segments of every camera, a gap when a camera stops, a
//! clean `vigie check --hash` after SIGTERM, every segment playable on its own; a second
//! recorder on the same folder refused.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{
    cameras_file, camsim, segment_count, spawn_recorder, terminate, test_dir, wait_for_segments,
};
use vigie::store::{INDEX_FILE, Store};

#[test]
fn recorder_records_segments_and_gaps_and_stops_cleanly() {
    let sim = camsim(2, false);
    let dir = test_dir("recorder");
    let cameras = cameras_file(&sim, &dir);
    let data = dir.join("data");
    let child = spawn_recorder(&cameras, &data, 2, &[]);
    let limit = Duration::from_secs(90);
    wait_for_segments(&data, "cam002", 2, limit);
    // One owner per data folder: a second recorder is refused before it touches anything.
    let second = Command::new(env!("CARGO_BIN_EXE_vigie"))
        .args(["recorder", "--cameras"])
        .arg(&cameras)
        .arg("--data")
        .arg(&data)
        .output()
        .expect("second recorder");
    let err = String::from_utf8_lossy(&second.stderr);
    assert!(
        !second.status.success()
            && err.contains("already records into this folder")
            && err.contains(&format!("(process {})", child.id())),
        "{err}"
    );
    assert!(sim.stop_camera("cam002"));
    // A three-second outage (the camera is away; nothing to wait for).
    std::thread::sleep(Duration::from_secs(3));
    assert!(sim.restart_camera("cam002"));
    // Two segments after the outage.
    let before = segment_count(&data, "cam002");
    wait_for_segments(&data, "cam002", before + 2, limit);
    wait_for_segments(&data, "cam001", 4, limit);
    terminate(child);

    common::assert_check_clean(&data);

    let store = Store::open_readonly(&data.join(INDEX_FILE)).expect("index");
    let (from, to) = (0, i64::MAX / 2);
    for cam in ["cam001", "cam002"] {
        let segs = store.segments(cam, from, to).expect("segments");
        assert!(segs.len() >= 4, "{cam}: {} segments", segs.len());
        for s in &segs {
            let out = Command::new("ffprobe")
                .args([
                    "-v",
                    "error",
                    "-count_frames",
                    "-show_entries",
                    "stream=codec_name,width,nb_read_frames",
                    "-of",
                    "csv=p=0",
                ])
                .arg(data.join(&s.row.path))
                .output()
                .expect("ffprobe");
            let text = String::from_utf8_lossy(&out.stdout).trim().to_owned();
            assert!(text.starts_with("h264,1280,"), "{}: {text}", s.row.path);
            let frames: u64 = text
                .rsplit(',')
                .next()
                .and_then(|n| n.parse().ok())
                .unwrap_or(0);
            let expected = (s.row.end_utc_ns - s.row.start_utc_ns) as u64 / 40_000_000;
            // Loop-mode pictures are timestamped when sent, so intervals jitter a little.
            assert!(
                frames.abs_diff(expected) <= 1 + expected / 20,
                "{}: {frames} frames for {expected} frame intervals",
                s.row.path
            );
        }
        for w in segs.windows(2) {
            assert!(
                w[0].row.end_utc_ns <= w[1].row.start_utc_ns,
                "{cam}: segments overlap"
            );
        }
    }
    let tl = store.timeline("cam002", from, to).expect("timeline");
    assert_eq!(
        tl.gaps.len(),
        1,
        "one gap for the stopped camera: {:?}",
        tl.gaps
    );
    let (gap, cause) = &tl.gaps[0];
    assert!(
        gap.end_utc_ns - gap.start_utc_ns >= 2_000_000_000,
        "gap of {} ms",
        (gap.end_utc_ns - gap.start_utc_ns) / 1_000_000
    );
    assert!(!cause.is_empty());
    assert!(
        store
            .timeline("cam001", from, to)
            .expect("timeline")
            .gaps
            .is_empty()
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn kill_9_at_random_moments_loses_at_most_the_last_fragment() {
    let sim = camsim(2, false);
    let dir = test_dir("recorder-kill");
    let cameras = cameras_file(&sim, &dir);
    let data = dir.join("data");
    let start = || spawn_recorder(&cameras, &data, 2, &[]);
    let mut rng = fastrand::Rng::with_seed(9);
    let kills = 5;
    for _ in 0..kills {
        let mut child = start();
        std::thread::sleep(Duration::from_millis(rng.u64(2500..5000)));
        child.kill().expect("kill -9");
        child.wait().expect("reaped");
    }
    // A last run reconciles what the kills left, records a little, and stops cleanly.
    let child = start();
    std::thread::sleep(Duration::from_secs(4));
    terminate(child);

    common::assert_check_clean(&data);
    let store = Store::open_readonly(&data.join(INDEX_FILE)).expect("index");
    for cam in ["cam001", "cam002"] {
        let segs = store.segments(cam, 0, i64::MAX / 2).expect("segments");
        // Every run recorded at least one segment, and every indexed segment plays.
        assert!(
            segs.len() > kills,
            "{cam}: {} segments after {kills} kills",
            segs.len()
        );
        for (i, s) in segs.iter().enumerate() {
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
                .arg(data.join(&s.row.path))
                .output()
                .expect("ffprobe");
            let frames: u64 = String::from_utf8_lossy(&out.stdout)
                .trim()
                .parse()
                .unwrap_or(0);
            // Each segment holds at least a GOP, but the one SIGTERM ended may be shorter.
            let least = if i + 1 == segs.len() { 1 } else { 20 };
            assert!(frames >= least, "{}: {frames} frames", s.row.path);
        }
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn an_altered_segment_is_quarantined_never_indexed_again() {
    let sim = camsim(1, false);
    let dir = test_dir("recorder-launder");
    let cameras = cameras_file(&sim, &dir);
    let data = dir.join("data");
    let child = spawn_recorder(&cameras, &data, 2, &[]);
    wait_for_segments(&data, "cam001", 3, Duration::from_secs(90));
    terminate(child);
    let store = Store::open_readonly(&data.join(INDEX_FILE)).expect("index");
    let segs = store.segments("cam001", 0, i64::MAX / 2).expect("segments");
    drop(store);
    let (altered, copied) = (segs[1].row.path.clone(), segs[2].row.path.clone());

    // An insider changes one byte of a picture and appends 17 bytes; copies a good segment
    // where the recorder never writes; and links another in under a segment's name.
    let path = data.join(&altered);
    let mut bytes = std::fs::read(&path).expect("segment");
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x5a;
    bytes.extend_from_slice(&[0u8; 17]);
    std::fs::write(&path, &bytes).expect("altered");
    std::fs::copy(data.join(&copied), data.join("cam001/stray.mp4")).expect("copy");
    let day_dir = data.join(&copied).parent().expect("day").to_owned();
    let linked = day_dir.join("cam001-1000.mp4");
    std::os::unix::fs::symlink(data.join(&copied), &linked).expect("link");

    // The next start quarantines the altered file and indexes neither the copy nor the link.
    let child = spawn_recorder(&cameras, &data, 2, &[]);
    wait_for_segments(&data, "cam001", segs.len() + 1, Duration::from_secs(90));
    terminate(child);
    let quarantined = data.join("quarantine").join(altered.replace('/', "_"));
    assert_eq!(
        std::fs::read(&quarantined).expect("in quarantine"),
        bytes,
        "moved aside as found"
    );
    assert!(!path.exists());
    assert!(data.join("lost+found/cam001_stray.mp4").exists());
    let store = Store::open_readonly(&data.join(INDEX_FILE)).expect("index");
    let paths: Vec<String> = store
        .segments("cam001", 0, i64::MAX / 2)
        .expect("segments")
        .into_iter()
        .map(|s| s.row.path)
        .collect();
    assert!(!paths.contains(&altered), "the altered file is not indexed");
    assert!(
        paths
            .iter()
            .all(|p| !p.ends_with("stray.mp4") && !p.ends_with("-1000.mp4"))
    );
    let register = store.register().expect("register");
    assert!(
        register
            .iter()
            .any(|l| l.span.start_utc_ns == segs[1].row.start_utc_ns
                && l.reason.starts_with("quarantined at start-up: file has")),
        "{register:?}"
    );
    let alarm = store
        .alarms_since(0, 100)
        .expect("alarms")
        .into_iter()
        .find(|a| a.kind == "footage_quarantined")
        .expect("an alarm");
    assert!(alarm.instructions.contains(&altered) && alarm.cameras == ["cam001"]);
    drop(store);
    common::assert_check_clean(&data);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_gop_past_its_memory_bound_is_cut_with_a_gap_and_the_rest_recorded() {
    // The bound made smaller than the simulator's GOPs (2 s): each is cut after its first
    // pictures, as a camera that stopped sending keyframes would be after 32 MiB.
    let sim = camsim(1, false);
    let dir = test_dir("recorder-gop-bound");
    let data = dir.join("data");
    let bound = 64 << 10;
    let opts = vigie::record::recorder::RecorderOptions {
        segment: Duration::from_secs(2),
        gop_bound_bytes: bound,
        ..Default::default()
    };
    let rec = vigie::record::recorder::Recorder::start(&sim.cameras()[..1], &data, &opts)
        .expect("recorder");
    let cuts = || {
        Store::open_readonly(&data.join(INDEX_FILE))
            .and_then(|s| s.timeline("cam001", 0, i64::MAX / 2))
            .map(|t| {
                t.gaps
                    .iter()
                    .filter(|(_, cause)| cause.starts_with("no keyframe within 0.1 MiB"))
                    .count()
            })
            .unwrap_or(0)
    };
    common::wait_for("three cuts", || cuts() >= 3);
    rec.stop();
    let store = Store::open_readonly(&data.join(INDEX_FILE)).expect("index");
    let segs = store.segments("cam001", 0, i64::MAX / 2).expect("segments");
    assert!(segs.len() >= 3, "{} segments", segs.len());
    for s in &segs {
        // What was gathered up to the bound, and the picture that passed it: no more.
        assert!(
            s.row.bytes < 4 * bound as u64,
            "{}: {} bytes",
            s.row.path,
            s.row.bytes
        );
    }
    common::assert_check_clean(&data);
    let _ = std::fs::remove_dir_all(&dir);
}
