//! A full disk, for real: the recorder on a small tmpfs. With a reserve it rolls off the oldest
//! unheld footage and raises an alarm, keeping held footage; with none it meets ENOSPC and
//! neither crashes nor leaves the index inconsistent. Needs root (mount); says so otherwise.

mod common;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use vigie::config::CamerasFile;
use vigie::sim::{CamSim, CamSimOptions, EncodeMode};
use vigie::store::{INDEX_FILE, Store};

struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(name: &str, mb: u32) -> Option<Tmpfs> {
        let dir = std::env::temp_dir().join(format!("vigie-tmpfs-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).ok()?;
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={mb}m"), "tmpfs"])
            .arg(&dir)
            .status()
            .is_ok_and(|s| s.success());
        ok.then_some(Tmpfs(dir))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn camsim() -> CamSim {
    CamSim::start(CamSimOptions {
        cameras: 2,
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        encode: EncodeMode::Loop,
        gop: 25,
        ..CamSimOptions::default()
    })
    .expect("camsim")
}

fn recorder(cameras: &Path, data: &Path, reserve_mb: u32) -> Child {
    recorder_logging(cameras, data, reserve_mb, Stdio::null())
}

/// The recorder with its standard error going to `stderr`.
fn recorder_logging(cameras: &Path, data: &Path, reserve_mb: u32, stderr: Stdio) -> Child {
    Command::new(env!("CARGO_BIN_EXE_vigie"))
        .args([
            "recorder",
            "--segment-seconds",
            "2",
            "--reserve-mb",
            &reserve_mb.to_string(),
            "--cameras",
        ])
        .arg(cameras)
        .arg("--data")
        .arg(data)
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .expect("recorder starts")
}

fn stop(mut child: Child) {
    assert!(
        child.try_wait().expect("status").is_none(),
        "the recorder died"
    );
    // SAFETY: signals the child we started, by its id.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    assert!(
        child.wait().expect("exit").success(),
        "the recorder did not stop cleanly"
    );
}

fn rfc3339(ns: i64) -> String {
    chrono::DateTime::from_timestamp_nanos(ns).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[test]
fn the_reserve_rolls_off_unheld_footage_and_raises_an_alarm() {
    let Some(fs) = Tmpfs::mount("budget", 12) else {
        eprintln!("cannot mount a tmpfs (not root?): disk budget test not run");
        return;
    };
    let sim = camsim();
    let cameras = fs.0.join("cameras.toml");
    std::fs::write(&cameras, CamerasFile::to_toml(&sim.cameras(), None)).expect("cameras file");
    let data = fs.0.join("data");
    let t0 = chrono::Utc::now().timestamp_nanos_opt().expect("now");
    let child = recorder(&cameras, &data, 8);
    std::thread::sleep(Duration::from_secs(3));
    // Hold cam001's first seconds.
    common::add_user(&data, "chef", "supervisor", &["*"]);
    let (ok, _, err) = common::vigie_as(
        "chef",
        [
            "hold",
            "add",
            "--camera",
            "cam001",
            "--from",
            &rfc3339(t0 - 10_000_000_000),
            "--to",
            &rfc3339(t0 + 3_000_000_000),
            "--procedure",
            "PV-1",
            "--reason",
            "test",
            "--expires",
            &rfc3339(t0 + 86_400_000_000_000),
            "--data",
        ]
        .iter()
        .map(std::ffi::OsString::from)
        .chain([data.clone().into_os_string()]),
    );
    assert!(ok, "{err}");
    // The two streams (about 0.75 Mbit/s each: flat pictures) fill the 4 MiB above the reserve
    // in about 22 s.
    std::thread::sleep(Duration::from_secs(35));
    stop(child);
    common::assert_check_clean(&data);
    let store = Store::open_readonly(&data.join(INDEX_FILE)).expect("index");
    let register = store.register().expect("register");
    assert!(
        register.iter().any(|l| l.reason.contains("disk budget")),
        "{register:?}"
    );
    assert!(
        !store
            .events_of_kind("alarm: disk budget")
            .expect("events")
            .is_empty()
    );
    let held = store
        .segments("cam001", t0 - 10_000_000_000, t0 + 3_000_000_000)
        .expect("segments");
    assert!(!held.is_empty(), "held footage was deleted");
    assert!(held.iter().all(|s| data.join(&s.row.path).exists()));
    // cam001's oldest unheld footage went first: what is left of it is recent.
    let left = store.segments("cam002", 0, i64::MAX / 2).expect("segments");
    assert!(
        left.first()
            .is_some_and(|s| s.row.start_utc_ns > t0 + 5_000_000_000),
        "cam002's oldest footage was kept"
    );
}

#[test]
fn enospc_neither_crashes_nor_corrupts() {
    let Some(fs) = Tmpfs::mount("enospc", 4) else {
        eprintln!("cannot mount a tmpfs (not root?): ENOSPC test not run");
        return;
    };
    let sim = camsim();
    let cameras = fs.0.join("cameras.toml");
    std::fs::write(&cameras, CamerasFile::to_toml(&sim.cameras(), None)).expect("cameras file");
    let data = fs.0.join("data");
    // Its log goes outside the full file system.
    let log_path = std::env::temp_dir().join(format!("vigie-enospc-{}.log", std::process::id()));
    let log = std::fs::File::create(&log_path).expect("log file");
    let child = recorder_logging(&cameras, &data, 0, Stdio::from(log));
    std::thread::sleep(Duration::from_secs(35)); // 4 MiB are full after about 22 s
    stop(child);
    // The index is never wrong: every row's file is there, whole. A segment whose row could
    // not be committed on the full disk is only unindexed, for the next start-up.
    let out = Command::new(env!("CARGO_BIN_EXE_vigie"))
        .args(["check", "--hash", "--data"])
        .arg(&data)
        .output()
        .expect("check");
    let report = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        report.lines().all(|l| l.ends_with("is not in the index")),
        "{report}"
    );
    // With room again, start-up reconciliation indexes them and the check is clean.
    assert!(
        Command::new("mount")
            .args(["-o", "remount,size=16m"])
            .arg(&fs.0)
            .status()
            .is_ok_and(|s| s.success())
    );
    let mut store = Store::open(&data.join(INDEX_FILE)).expect("index");
    vigie::record::reconcile::reconcile(&data, &mut store).expect("reconcile");
    drop(store);
    common::assert_check_clean(&data);
    let store = Store::open_readonly(&data.join(INDEX_FILE)).expect("index");
    assert!(!store.all_segments().expect("segments").is_empty());
    let gaps = store
        .timeline("cam001", 0, i64::MAX / 2)
        .expect("timeline")
        .gaps;
    // The lost footage is reported: as a gap naming the cause, or, when the index itself had
    // no room left to commit that gap before the recorder stopped (the other camera took the
    // space the failed segment freed), in the recorder's log.
    let log = std::fs::read_to_string(&log_path).unwrap_or_default();
    let _ = std::fs::remove_file(&log_path);
    assert!(
        gaps.iter()
            .any(|(_, cause)| cause.contains("No space left") || cause.contains("space"))
            || log.contains("No space left"),
        "{gaps:?}\n{log}"
    );
}

/// `mount --bind FROM TO` (or `umount -l TO` with `from` None); whether it worked.
fn bind(from: Option<&Path>, to: &Path) -> bool {
    let mut cmd = match from {
        Some(f) => {
            let mut c = Command::new("mount");
            c.arg("--bind").arg(f);
            c
        }
        None => {
            let mut c = Command::new("umount");
            c.arg("-l");
            c
        }
    };
    cmd.arg(to).status().is_ok_and(|s| s.success())
}

#[test]
fn a_data_volume_gone_from_its_mount_point_stops_recording_with_an_alarm_until_it_is_back() {
    // The volume: a tmpfs, mounted (bound) at the data folder, which sits on the root disk.
    let Some(volume) = Tmpfs::mount("volume", 64) else {
        eprintln!("cannot mount a tmpfs (not root?): data volume test not run");
        return;
    };
    let dir = common::test_dir("volume");
    let data = dir.join("data");
    std::fs::create_dir_all(&data).expect("mount point");
    assert!(bind(Some(&volume.0), &data), "mount --bind");
    let sim = camsim();
    let cameras = dir.join("cameras.toml");
    std::fs::write(&cameras, CamerasFile::to_toml(&sim.cameras(), None)).expect("cameras file");
    let (stderr, log) = {
        let f = std::fs::File::create(dir.join("recorder.log")).expect("log");
        (
            Stdio::from(f.try_clone().expect("log")),
            dir.join("recorder.log"),
        )
    };
    let child = recorder_logging(&cameras, &data, 1, stderr);
    common::wait_for_segments(&data, "cam001", 2, Duration::from_secs(60));

    // The volume unmounted from behind the running recorder (as `umount -l` does, or a
    // mount lost under a process holding files open).
    assert!(bind(None, &data), "umount -l");
    let index = volume.0.join(INDEX_FILE);
    common::wait_for("the data_volume_missing alarm", || {
        Store::open_readonly(&index)
            .and_then(|s| s.alarms_since(0, 100))
            .is_ok_and(|a| a.iter().any(|a| a.kind == "data_volume_missing"))
    });
    let alarm = Store::open_readonly(&index)
        .and_then(|s| s.alarms_since(0, 100))
        .expect("alarms")
        .into_iter()
        .find(|a| a.kind == "data_volume_missing")
        .expect("alarm");
    assert!(
        alarm.instructions.contains("Recording stopped"),
        "{}",
        alarm.instructions
    );
    // Through three segments' time, nothing lands on the disk beneath the mount point.
    let lost_at = Instant::now();
    while lost_at.elapsed() < Duration::from_secs(6) {
        let beneath: Vec<_> = std::fs::read_dir(&data)
            .expect("mount point")
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert!(
            beneath.is_empty(),
            "written beneath the mount point: {beneath:?}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let segments_while_lost = common::segment_count(&volume.0, "cam001");

    // Mounted again: recording resumes on the volume, the time it was missing a gap.
    assert!(bind(Some(&volume.0), &data), "mount --bind again");
    common::wait_for_segments(
        &data,
        "cam001",
        segments_while_lost + 2,
        Duration::from_secs(60),
    );
    stop(child);
    let store = Store::open_readonly(&data.join(INDEX_FILE)).expect("index");
    let tl = store.timeline("cam001", 0, i64::MAX / 2).expect("timeline");
    let (gap, _) = tl
        .gaps
        .iter()
        .find(|(_, cause)| cause == "the data volume was missing")
        .unwrap_or_else(|| panic!("no gap for the missing volume: {:?}", tl.gaps));
    assert!(
        gap.end_utc_ns - gap.start_utc_ns >= 5_000_000_000,
        "a gap of {} ms",
        (gap.end_utc_ns - gap.start_utc_ns) / 1_000_000
    );
    let log = std::fs::read_to_string(&log).expect("log");
    assert!(
        log.contains("recording stopped") && log.contains("recording resumes"),
        "{log}"
    );
    common::assert_check_clean(&data);
    assert!(bind(None, &data), "umount");
    let _ = std::fs::remove_dir_all(&dir);
}
