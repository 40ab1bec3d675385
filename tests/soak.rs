//! The soak run, not part of the normal suite (`packaging/soak.sh` runs it): a site server
//! recording 32 simulated cameras for an hour while a camera is restarted every 30 s, the
//! server is killed with SIGKILL every 5 minutes and started again, the data volume is
//! filled to the disk reserve twice and the wall clock is stepped an hour forward and back.
//! At the end `vigie check --hash` must be clean, every stretch missing from the index must
//! be one the recorder wrote a gap for, and the footage lost to each kill must stay within
//! one segment. It prints the figures the README quotes.
//!
//! `VIGIE_SOAK_MINUTES` shortens it (kills every 5 minutes whatever the length). Needs root
//! (the data volume is a tmpfs of its own).

mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use vigie::config::CamerasFile;
use vigie::sim::{CamSim, CamSimOptions, EncodeMode};
use vigie::store::{INDEX_FILE, Store};

const CAMERAS: u32 = 32;
const SEGMENT_S: u64 = 10;
const RESERVE_MB: u64 = 400;
const VOLUME_MB: u64 = 4096;

struct Volume(PathBuf);

impl Drop for Volume {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

struct Soak {
    data: PathBuf,
    cameras: PathBuf,
    clock: PathBuf,
    log: PathBuf,
}

impl Soak {
    fn server(&self) -> Child {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("log");
        Command::new(env!("CARGO_BIN_EXE_vigie"))
            .args(["server", "--listen", "127.0.0.1:0", "--segment-seconds"])
            .arg(SEGMENT_S.to_string())
            .arg("--reserve-mb")
            .arg(RESERVE_MB.to_string())
            .arg("--data")
            .arg(&self.data)
            .arg("--cameras")
            .arg(&self.cameras)
            .arg("--clock-offset-file")
            .arg(&self.clock)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("the server starts")
    }

    fn offset_ms(&self) -> i64 {
        std::fs::read_to_string(&self.clock)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0)
    }

    /// The server's clock now.
    fn now_ns(&self) -> i64 {
        vigie::time::now_utc_ns() + self.offset_ms() * 1_000_000
    }

    fn free_bytes(&self) -> u64 {
        // SAFETY: statvfs fills the struct given; the path is a valid C string.
        unsafe {
            let mut s: libc::statvfs = std::mem::zeroed();
            let path =
                std::ffi::CString::new(self.data.as_os_str().as_encoded_bytes()).expect("path");
            assert_eq!(libc::statvfs(path.as_ptr(), &mut s), 0, "statvfs");
            s.f_bavail as u64 * s.f_frsize as u64
        }
    }
}

/// The server running now; killed if the run fails.
struct Running(Option<Child>);

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(c) = self.0.take() {
            kill9(c);
        }
    }
}

/// SIGKILL, as a crash or the OOM killer would.
fn kill9(mut child: Child) {
    // SAFETY: signals the child this test started, by its id.
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    let _ = child.wait();
}

/// What one kill cost each camera: from the end of its footage before the kill to the start
/// of its footage after the restart, in seconds.
fn lost_to_kill(store: &Store, camera: &str, killed_ns: i64) -> Option<f64> {
    let segments = store
        .segments(
            camera,
            killed_ns - 600_000_000_000,
            killed_ns + 600_000_000_000,
        )
        .ok()?;
    let before = segments
        .iter()
        .filter(|s| s.row.start_utc_ns < killed_ns)
        .map(|s| s.row.end_utc_ns)
        .max()?;
    let after = segments
        .iter()
        .filter(|s| s.row.start_utc_ns >= killed_ns)
        .map(|s| s.row.start_utc_ns)
        .min()?;
    Some((after - before) as f64 / 1e9)
}

#[test]
#[ignore = "an hour long: packaging/soak.sh"]
fn soak() {
    let minutes: u64 = std::env::var("VIGIE_SOAK_MINUTES")
        .ok()
        .and_then(|m| m.parse().ok())
        .unwrap_or(60);
    let run_for = Duration::from_secs(minutes * 60);
    let dir = common::test_dir("soak");
    let volume = Volume(dir.join("volume"));
    std::fs::create_dir_all(&volume.0).expect("mount point");
    assert!(
        Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={VOLUME_MB}m"), "tmpfs"])
            .arg(&volume.0)
            .status()
            .is_ok_and(|s| s.success()),
        "the soak run needs root: it mounts a tmpfs as the data volume"
    );
    let sim = CamSim::start(CamSimOptions {
        cameras: CAMERAS,
        listen: "127.0.0.1:0".parse().expect("addr"),
        encode: EncodeMode::Loop,
        gop: 25,
        main_kbps: 256,
        sub_kbps: 128,
        ..CamSimOptions::default()
    })
    .expect("camsim");
    let soak = Soak {
        data: volume.0.join("data"),
        cameras: dir.join("cameras.toml"),
        clock: dir.join("clock-offset-ms"),
        log: dir.join("server.log"),
    };
    std::fs::write(&soak.cameras, CamerasFile::to_toml(&sim.cameras(), None)).expect("cameras");
    std::fs::write(&soak.clock, "0").expect("clock");
    let ids: Vec<String> = sim.cameras().iter().map(|c| c.id.clone()).collect();

    let t0 = Instant::now();
    let mut server = Running(Some(soak.server()));
    let (mut next_restart, mut restarted) = (Duration::from_secs(15), 0usize);
    let mut restarts: Vec<(Instant, String)> = Vec::new();
    let mut next_kill = Duration::from_secs(300);
    let mut kills: Vec<(i64, Instant, bool)> = Vec::new();
    // Wall-clock steps in the last quarter: an hour forward, back, back again and forward.
    // The recorder follows a step at each camera's next connection, so a stretch of an hour
    // shows in the stamps at the next kill: kills are measured only before the first step.
    let mut steps: Vec<(Duration, i64)> =
        [(0.76, 3_600_000), (0.80, 0), (0.875, -3_600_000), (0.95, 0)]
            .into_iter()
            .map(|(f, ms)| (run_for.mul_f64(f), ms))
            .collect();
    let mut stepped = false;
    // The volume filled to the reserve at a third and at two thirds of the run.
    let mut fills: Vec<Duration> = vec![run_for / 3, run_for * 2 / 3];
    let mut fill_times: Vec<f64> = Vec::new();
    let mut losses: Vec<f64> = Vec::new();
    let (mut measured_kills, mut unmeasured_kills, mut not_back) = (0usize, 0usize, 0usize);
    while t0.elapsed() < run_for {
        let now = t0.elapsed();
        if now >= next_restart {
            next_restart += Duration::from_secs(30);
            let id = &ids[restarted % ids.len()];
            restarted += 1;
            assert!(sim.restart_camera(id));
            restarts.push((Instant::now(), id.clone()));
        }
        if now >= next_kill {
            next_kill += Duration::from_secs(300);
            let killed_ns = soak.now_ns();
            kill9(server.0.take().expect("running"));
            kills.push((killed_ns, Instant::now(), stepped));
            server.0 = Some(soak.server());
        }
        if let Some(&(at, ms)) = steps.first()
            && now >= at
        {
            steps.remove(0);
            stepped = true;
            std::fs::write(&soak.clock, ms.to_string()).expect("clock");
            eprintln!("soak: {:>5} s: wall clock offset {ms} ms", now.as_secs());
        }
        if fills.first().is_some_and(|at| now >= *at) {
            fills.remove(0);
            // A file takes the free space down into the reserve (by half the reserve, or a
            // quarter of the footage there is); the server rolls off the oldest footage until
            // the reserve is free again.
            let filler = soak.data.join("filler");
            let used = (VOLUME_MB << 20).saturating_sub(soak.free_bytes());
            let into_reserve = (RESERVE_MB << 19).min(used / 4);
            let take = soak.free_bytes().saturating_sub(RESERVE_MB << 20) + into_reserve;
            let filling = Instant::now();
            let f = std::fs::File::create(&filler).expect("filler");
            f.set_len(take).expect("filler size");
            // tmpfs counts pages written, not the length: write it.
            let chunk = vec![0x55u8; 1 << 20];
            let mut w = std::io::BufWriter::new(f);
            for _ in 0..take >> 20 {
                std::io::Write::write_all(&mut w, &chunk).expect("filling");
            }
            drop(w);
            common::wait_for("the reserve freed again", || {
                soak.free_bytes() >= RESERVE_MB << 20
            });
            let freed = filling.elapsed().as_secs_f64();
            fill_times.push(freed);
            std::fs::remove_file(&filler).expect("filler removed");
            eprintln!(
                "soak: {:>5} s: volume filled {} MiB into the reserve, free again {freed:.1} s after the filling began",
                now.as_secs(),
                into_reserve >> 20
            );
        }
        // What the last kill cost, once every camera recorded after it (two minutes at most).
        if let Some(&(killed_ns, when, after_step)) = kills.last()
            && measured_kills + unmeasured_kills < kills.len()
            && when.elapsed() > Duration::from_secs(2 * SEGMENT_S)
        {
            if after_step {
                unmeasured_kills += 1;
            } else {
                let store = Store::open_readonly(&soak.data.join(INDEX_FILE)).expect("index");
                let mut lost = Vec::new();
                let mut waiting = 0;
                for id in &ids {
                    // A camera restarted around the kill is not the kill's doing.
                    let restarted_near = restarts.iter().any(|(t, c)| {
                        c == id
                            && t.checked_duration_since(when)
                                .or_else(|| when.checked_duration_since(*t))
                                .is_some_and(|d| d < Duration::from_secs(20))
                    });
                    if restarted_near {
                        continue;
                    }
                    match lost_to_kill(&store, id, killed_ns) {
                        Some(s) => lost.push(s),
                        None => waiting += 1,
                    }
                }
                if waiting == 0 || when.elapsed() > Duration::from_secs(120) {
                    measured_kills += 1;
                    not_back += waiting;
                    let mean = lost.iter().sum::<f64>() / lost.len().max(1) as f64;
                    let max = lost.iter().cloned().fold(0.0, f64::max);
                    eprintln!(
                        "soak: {:>5} s: kill {}: {} cameras lost {mean:.2} s on average, {max:.2} s at most; {waiting} not recording again within 2 min",
                        t0.elapsed().as_secs(),
                        kills.len(),
                        lost.len()
                    );
                    losses.extend(lost);
                }
            }
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    // A clean stop, then the checks.
    common::terminate(server.0.take().expect("running"));
    common::assert_check_clean(&soak.data);

    let store = Store::open_readonly(&soak.data.join(INDEX_FILE)).expect("index");
    let mut causes: BTreeMap<String, (usize, f64)> = BTreeMap::new();
    let mut unexplained = 0.0;
    let mut clock_steps = 0usize;
    for id in &ids {
        let tl = store.timeline(id, 0, i64::MAX / 2).expect("timeline");
        for (span, cause) in &tl.gaps {
            let e = causes.entry(cause.clone()).or_default();
            e.0 += 1;
            e.1 += (span.end_utc_ns - span.start_utc_ns) as f64 / 1e9;
        }
        // Between consecutive segments: a stretch no gap row covers is footage missing
        // unexplained (a step of the wall clock forward leaves a stretch of its own).
        for w in tl.segments.windows(2) {
            let (end, next) = (w[0].1.end_utc_ns, w[1].1.start_utc_ns);
            if next - end <= 1_000_000_000 {
                continue;
            }
            let covered = tl.gaps.iter().any(|(g, _)| {
                g.start_utc_ns <= end + 1_000_000_000 && g.end_utc_ns >= next - 1_000_000_000
            });
            if covered {
                continue;
            }
            if next - end >= 1_800_000_000_000 {
                clock_steps += 1;
            } else {
                unexplained += (next - end) as f64 / 1e9;
            }
        }
    }
    let mean = losses.iter().sum::<f64>() / losses.len().max(1) as f64;
    let max = losses.iter().cloned().fold(0.0, f64::max);
    println!("soak: {minutes} min, {CAMERAS} cameras, {SEGMENT_S} s segments");
    println!(
        "soak: {} camera restarts, {} kills, {} volume fills (freed in {:?} s), {} stretches of a clock step without a gap row",
        restarts.len(),
        kills.len(),
        fill_times.len(),
        fill_times
            .iter()
            .map(|t| (t * 10.0).round() / 10.0)
            .collect::<Vec<_>>(),
        clock_steps
    );
    println!(
        "soak: footage lost per kill and camera: {mean:.2} s on average, {max:.2} s at most \
         ({} camera-kills over {measured_kills} kills; {unmeasured_kills} after a clock step)",
        losses.len()
    );
    for (cause, (n, s)) in &causes {
        println!("soak: gaps \"{cause}\": {n}, {s:.1} s in all");
    }
    println!("soak: missing from the index without a gap saying why: {unexplained:.1} s");
    println!("soak: vigie check --hash: clean");
    assert!(
        max <= SEGMENT_S as f64,
        "a kill cost {max:.2} s, more than a segment"
    );
    assert!(unexplained < 1.0, "{unexplained:.1} s missing unexplained");
    assert_eq!(
        not_back, 0,
        "cameras not recording again within 2 min of a kill"
    );
    assert!(measured_kills > 0 || minutes < 5, "no kill measured");
    drop(sim);
    let _ = std::fs::remove_dir_all(&dir);
}
