//! Recorder timing against camsim: segments start when their first picture was captured (the
//! timecode stripe camsim burns in), wall-clock steps leave no overlap, a camera whose clock
//! disagrees is flagged and timed on arrival, and a camera restarted again and again is
//! recorded after each restart with its gaps.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::Duration;

use common::{cameras_file, camsim, spawn_recorder, terminate, test_dir};
use vigie::media::decode_timecode_luma;
use vigie::sim::CamSim;
use vigie::store::{INDEX_FILE, Segment, Store, TimeSource};

const FRAME_NS: i64 = 40_000_000;

struct Run {
    dir: PathBuf,
    data: PathBuf,
    clock: PathBuf,
    cameras: PathBuf,
}

impl Run {
    fn new(name: &str, sim: &CamSim) -> Run {
        let dir = test_dir(name);
        let cameras = cameras_file(sim, &dir);
        let clock = dir.join("clock-offset-ms");
        std::fs::write(&clock, "0").expect("clock");
        Run {
            data: dir.join("data"),
            dir,
            clock,
            cameras,
        }
    }

    fn recorder(&self) -> Child {
        spawn_recorder(
            &self.cameras,
            &self.data,
            2,
            &["--clock-offset-file".as_ref(), self.clock.as_os_str()],
        )
    }

    /// The recorder on this run's test clock, its retention passes every 300 ms.
    fn recorder_with_quick_retention(&self) -> Child {
        spawn_recorder(
            &self.cameras,
            &self.data,
            2,
            &[
                "--clock-offset-file".as_ref(),
                self.clock.as_os_str(),
                "--retention-every-ms".as_ref(),
                "300".as_ref(),
            ],
        )
    }

    fn set_clock_offset_ms(&self, ms: i64) {
        std::fs::write(&self.clock, ms.to_string()).expect("clock");
    }

    /// SIGTERM, a clean exit, and a clean `vigie check --hash`.
    fn stop_and_check(&self, child: Child) -> Store {
        terminate(child);
        common::assert_check_clean(&self.data);
        Store::open_readonly(&self.data.join(INDEX_FILE)).expect("index")
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Frames in a segment file, decoded in full.
fn decoded_frames(path: &Path) -> u64 {
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
        .arg(path)
        .output()
        .expect("ffprobe");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .unwrap_or(0)
}

/// The capture time (ms) in the stripe of a segment file's first picture.
fn first_stripe_ms(path: &Path, (w, h): (u32, u32)) -> i64 {
    let out = Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(path)
        .args(["-frames:v", "1", "-f", "rawvideo", "-pix_fmt", "gray", "-"])
        .output()
        .expect("ffmpeg");
    assert_eq!(out.stdout.len(), (w * h) as usize, "{}", path.display());
    decode_timecode_luma(w, h, |x, y| out.stdout[(y * w + x) as usize])
}

fn segments(store: &Store, cam: &str) -> Vec<Segment> {
    store.segments(cam, 0, i64::MAX / 2).expect("segments")
}

#[test]
fn segments_start_at_their_first_pictures_capture_time_through_clock_steps() {
    let sim = camsim(2, true);
    let run = Run::new("rec-timing", &sim);
    let child = run.recorder();
    std::thread::sleep(Duration::from_secs(9));
    // The local wall clock is set an hour ahead, then back.
    run.set_clock_offset_ms(3_600_000);
    std::thread::sleep(Duration::from_secs(5));
    run.set_clock_offset_ms(0);
    std::thread::sleep(Duration::from_secs(6));
    let store = run.stop_and_check(child);

    for cam in ["cam001", "cam002"] {
        let segs = segments(&store, cam);
        // About ten at 2 s each; fewer when a loaded machine slows the live simulator. What
        // matters is checked on each of them.
        assert!(segs.len() >= 5, "{cam}: {} segments", segs.len());
        for s in &segs {
            let path = run.data.join(&s.row.path);
            assert_eq!(s.row.time_source, TimeSource::Rtcp, "{}", s.row.path);
            // Every segment decodes in full: one picture per frame interval.
            let expected = (s.row.end_utc_ns - s.row.start_utc_ns) / FRAME_NS;
            let frames = decoded_frames(&path) as i64;
            assert!(
                (frames - expected).abs() <= 1,
                "{}: {frames} frames decoded for {expected} frame intervals",
                s.row.path
            );
            // Its indexed start is its first picture's capture time, within a frame interval.
            let stripe_ns = first_stripe_ms(&path, (640, 360)) * 1_000_000;
            assert!(
                (stripe_ns - s.row.start_utc_ns).abs() <= FRAME_NS,
                "{}: indexed start {} ms, first picture captured at {} ms",
                s.row.path,
                s.row.start_utc_ns / 1_000_000,
                stripe_ns / 1_000_000
            );
        }
        // One connection: contiguous, whatever the local clock did.
        for w in segs.windows(2) {
            let gap = w[1].row.start_utc_ns - w[0].row.end_utc_ns;
            assert!(
                (0..=1_000_000).contains(&gap),
                "{cam}: {} then {}: {gap} ns apart",
                w[0].row.path,
                w[1].row.path
            );
        }
    }
    let steps = store.events_of_kind("clock_step").expect("events");
    assert_eq!(steps.len(), 2, "two clock steps logged: {steps:?}");
    let details: Vec<&str> = steps.iter().map(|s| s.2.as_str()).collect();
    assert!(
        details.iter().any(|d| d.contains("by +3600.")),
        "{details:?}"
    );
    assert!(
        details.iter().any(|d| d.contains("by -3600.")),
        "{details:?}"
    );
}

#[test]
fn a_camera_whose_clock_disagrees_is_flagged_and_timed_on_arrival() {
    let sim = camsim(1, false);
    let run = Run::new("rec-skew", &sim);
    // Here it is an hour later than the camera says.
    run.set_clock_offset_ms(3_600_000);
    let child = run.recorder();
    std::thread::sleep(Duration::from_secs(6));
    let store = run.stop_and_check(child);
    let segs = segments(&store, "cam001");
    assert!(!segs.is_empty());
    let hour_ahead = chrono::Utc::now().timestamp_nanos_opt().unwrap() + 3_590_000_000_000;
    for s in &segs {
        assert_eq!(s.row.time_source, TimeSource::Arrival, "{}", s.row.path);
        assert!(
            s.row.start_utc_ns > hour_ahead - 20_000_000_000,
            "timed on local arrival"
        );
    }
    let flags = store.events_of_kind("camera_clock").expect("events");
    assert_eq!(flags.len(), 1, "{flags:?}");
    assert!(
        flags[0].2.contains("-3600.") && flags[0].2.contains("timed on arrival"),
        "{}",
        flags[0].2
    );
}

#[test]
fn a_camera_restarted_again_and_again_is_recorded_after_each_restart() {
    let sim = camsim(1, false);
    let run = Run::new("rec-restarts", &sim);
    let child = run.recorder();
    let restarts = 4;
    let mut restarted_at = Vec::new();
    std::thread::sleep(Duration::from_secs(4));
    for _ in 0..restarts {
        assert!(sim.stop_camera("cam001"));
        std::thread::sleep(Duration::from_secs(2));
        assert!(sim.restart_camera("cam001"));
        restarted_at.push(chrono::Utc::now().timestamp_nanos_opt().unwrap());
        std::thread::sleep(Duration::from_secs(9));
    }
    let store = run.stop_and_check(child);
    let segs = segments(&store, "cam001");
    let tl = store.timeline("cam001", 0, i64::MAX / 2).expect("timeline");
    assert_eq!(
        tl.gaps.len(),
        restarts,
        "one gap per failure: {:?}",
        tl.gaps
    );
    for (i, (gap, cause)) in tl.gaps.iter().enumerate() {
        assert!(!cause.is_empty());
        // The gap covers the time the camera was down, and recording resumed after it.
        assert!(
            gap.end_utc_ns > restarted_at[i] - 1_000_000_000,
            "gap {i}: {gap:?}"
        );
        assert!(
            segs.iter().any(|s| s.row.start_utc_ns == gap.end_utc_ns),
            "recording resumes where gap {i} ends"
        );
    }
    for w in segs.windows(2) {
        assert!(w[0].row.end_utc_ns <= w[1].row.start_utc_ns, "overlap");
    }
    // Every segment decodes in full, one picture per frame interval (one cut short by a
    // stop may hold only a few).
    for s in &segs {
        let frames = decoded_frames(&run.data.join(&s.row.path)) as i64;
        let expected = (s.row.end_utc_ns - s.row.start_utc_ns) / FRAME_NS;
        assert!(
            frames >= 1 && (frames - expected).abs() <= 1,
            "{}: {frames} pictures decoded, {expected} expected",
            s.row.path
        );
    }
}

#[test]
fn the_recorder_deletes_expired_footage_by_its_own_clock() {
    let sim = camsim(1, false);
    let run = Run::new("rec-retention", &sim);
    let child = run.recorder();
    std::thread::sleep(Duration::from_secs(5));
    let recorded = segments(&run.stop_and_check(child), "cam001");
    assert!(!recorded.is_empty());
    // The recorder comes back 31 days later (by its clock): the footage expired a day ago,
    // more than a pass finds in normal running, so the pass waits for an administrator.
    run.set_clock_offset_ms(31 * 86_400_000);
    let child = run.recorder_with_quick_retention();
    common::wait_for("the refusal's alarm", || {
        Store::open_readonly(&run.data.join(INDEX_FILE))
            .and_then(|s| s.alarms_since(0, 100))
            .is_ok_and(|a| a.iter().any(|a| a.kind == "retention_refused"))
    });
    assert!(recorded.iter().all(|s| run.data.join(&s.row.path).exists()));
    // Allowed: the 30-day-old footage goes at the next pass.
    common::add_user(&run.data, "admin", "administrator", &[]);
    let (ok, out, err) = common::vigie_as(
        "admin",
        [
            "retention".as_ref(),
            "allow".as_ref(),
            "--data".as_ref(),
            run.data.as_os_str(),
        ],
    );
    assert!(ok, "{out}{err}");
    common::wait_for("the expired footage deleted", || {
        recorded
            .iter()
            .all(|s| !run.data.join(&s.row.path).exists())
    });
    let store = run.stop_and_check(child);
    let left = segments(&store, "cam001");
    for s in &recorded {
        assert!(
            !left.iter().any(|l| l.row.path == s.row.path),
            "{} kept",
            s.row.path
        );
        assert!(
            !run.data.join(&s.row.path).exists(),
            "{} still on disk",
            s.row.path
        );
    }
    let register = store.register().expect("register");
    let deleted: Vec<_> = register.iter().filter(|l| l.action == "deleted").collect();
    assert_eq!(deleted.len(), recorded.len(), "{register:?}");
    assert!(
        deleted
            .iter()
            .all(|l| l.camera_id == "cam001" && !l.reason.is_empty())
    );
}

/// Paths of a camera's indexed segments.
fn segment_paths(data: &Path, cam: &str) -> Vec<String> {
    let store = Store::open_readonly(&data.join(INDEX_FILE)).expect("index");
    segments(&store, cam)
        .into_iter()
        .map(|s| s.row.path)
        .collect()
}

#[test]
fn a_wall_clock_stepped_400_days_ahead_deletes_no_footage() {
    let sim = camsim(1, true);
    let run = Run::new("rec-clock-jump", &sim);
    let child = run.recorder_with_quick_retention();
    common::wait_for_segments(&run.data, "cam001", 3, Duration::from_secs(60));
    // A legal hold on the first segments, lapsing in 30 days.
    let first = segment_paths(&run.data, "cam001");
    {
        let store = Store::open(&run.data.join(INDEX_FILE)).expect("index");
        let segs = segments(&store, "cam001");
        let now = chrono::Utc::now().timestamp_nanos_opt().expect("now");
        store
            .add_hold(&vigie::store::Hold {
                id: 0,
                camera_id: "cam001".into(),
                span: vigie::store::Span {
                    start_utc_ns: segs[0].row.start_utc_ns,
                    end_utc_ns: segs[1].row.end_utc_ns,
                },
                procedure: "PV-2026-0500".into(),
                reason: "test".into(),
                author: "chef".into(),
                created_utc_ns: now,
                expires_utc_ns: now + 30 * 86_400 * 1_000_000_000,
                released_utc_ns: None,
            })
            .expect("hold");
    }
    let all_there = |paths: &[String]| {
        let indexed = segment_paths(&run.data, "cam001");
        paths
            .iter()
            .all(|p| indexed.contains(p) && run.data.join(p).exists())
    };

    // The wall clock steps 400 days ahead while recording: the recorder sees the step, and the
    // passes that run while two more segments are recorded delete nothing.
    run.set_clock_offset_ms(400 * 86_400_000);
    common::wait_for("the clock step seen", || {
        Store::open_readonly(&run.data.join(INDEX_FILE))
            .and_then(|s| s.events_of_kind("clock_step"))
            .is_ok_and(|e| !e.is_empty())
    });
    let seen = segment_paths(&run.data, "cam001").len();
    common::wait_for("two more segments", || {
        segment_paths(&run.data, "cam001").len() >= seen + 2
    });
    assert!(all_there(&first), "footage deleted after the step");

    // Restarted with the clock still wrong: the first pass finds the whole recording expired
    // a year ago, deletes nothing and raises an alarm that says what to do.
    terminate(child);
    let before = segment_paths(&run.data, "cam001");
    let child = run.recorder_with_quick_retention();
    let alarm = || {
        Store::open_readonly(&run.data.join(INDEX_FILE))
            .and_then(|s| s.alarms_since(0, 100))
            .ok()
            .and_then(|a| a.into_iter().find(|a| a.kind == "retention_refused"))
    };
    common::wait_for("the refusal's alarm", || alarm().is_some());
    let a = alarm().expect("alarm");
    assert!(
        a.instructions.contains("camera cam001")
            && a.instructions.contains("Nothing was deleted")
            && a.instructions.contains("vigie retention allow"),
        "{}",
        a.instructions
    );
    let store = run.stop_and_check(child);
    assert!(all_there(&before), "footage deleted after the restart");
    assert!(store.register().expect("register").is_empty());
}
