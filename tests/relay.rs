//! Live video through the site server: one camera session per stream in use whatever the
//! number of workstations, workstations that fall behind, cameras that restart, capture time.

mod common;

use std::collections::HashMap;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use vigie::config::StreamKind;
use vigie::media::{FrameSlot, StreamState};

/// A `vigie watch` of the server at `url` as `user` (as `nobody` when `other_user`), its
/// report read at the end with [`reports`].
fn spawn_watch(
    url: &str,
    ca: &Path,
    home: &Path,
    user: &str,
    other_user: bool,
    args: &[&str],
) -> Child {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let mut cmd = if other_user && root {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(env!("CARGO_BIN_EXE_vigie"));
        c
    } else {
        Command::new(env!("CARGO_BIN_EXE_vigie"))
    };
    cmd.arg("watch")
        .args(["--server", url, "--server-ca"])
        .arg(ca)
        .args(args)
        .args(["--user", user, "--password-stdin"])
        .env("HOME", home)
        .env_remove("XDG_CONFIG_HOME")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("vigie watch starts");
    use std::io::Write;
    let _ = child
        .stdin
        .take()
        .expect("stdin")
        .write_all(format!("{PASSWORD}\n").as_bytes());
    child
}

/// The per-camera reports of a finished `vigie watch`, by camera.
fn reports(child: Child) -> HashMap<String, serde_json::Value> {
    let out = child.wait_with_output().expect("vigie watch ends");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "vigie watch failed: {}\n{stdout}",
        String::from_utf8_lossy(&out.stderr)
    );
    let last = stdout.lines().last().unwrap_or_default();
    let v: Vec<serde_json::Value> = serde_json::from_str(last).expect("a JSON summary");
    v.into_iter()
        .map(|r| (r["camera"].as_str().unwrap_or_default().to_owned(), r))
        .collect()
}

/// A folder every user may read, holding the server's CA.
fn public_ca(dir: &Path, data: &Path) -> std::path::PathBuf {
    use std::os::unix::fs::PermissionsExt;
    let pubdir = dir.join("public");
    std::fs::create_dir_all(&pubdir).expect("folder");
    let ca = pubdir.join("ca.pem");
    std::fs::write(&ca, server_ca(data)).expect("CA copy");
    for p in [dir, &pubdir] {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    std::fs::set_permissions(&ca, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let home = pubdir.join("home");
    std::fs::create_dir_all(&home).expect("home");
    std::fs::set_permissions(&home, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    ca
}

#[test]
fn four_workstations_and_the_recorder_are_one_session_per_stream_at_the_camera() {
    let sim = camsim(8, false);
    let dir = test_dir("relay-four");
    let data = dir.join("data");
    add_user(&data, "op1", "operator", &["*"]);
    add_user(&data, "op2", "operator", &["*"]);
    add_user(&data, "sup", "supervisor", &["*"]);
    add_user(&data, "police", "operator", &["*"]);
    let server = vigie::server::Server::start(vigie::server::ServerOptions {
        cameras: sim.cameras(),
        record: true,
        recorder: vigie::record::recorder::RecorderOptions {
            segment: Duration::from_secs(4),
            ..Default::default()
        },
        ..server_options(&data)
    })
    .expect("server starts");
    let url = server_url(&server);
    let ca = public_ca(&dir, &data);
    let home = ca.parent().expect("dir").join("home");
    let ids: Vec<String> = (1..=8).map(|n| format!("cam{n:03}")).collect();
    let cams = ids.join(",");
    // The supervisor's wall shows the main streams (those the recorder reads), the others the
    // sub streams; one of them runs as another Unix user.
    let watches = [
        ("sup", false, "main"),
        ("op1", false, "sub"),
        ("op2", false, "sub"),
        ("police", true, "sub"),
    ]
    .map(|(user, other, stream)| {
        spawn_watch(
            &url,
            &ca,
            &home,
            user,
            other,
            &["--cameras", &cams, "--stream", stream, "--seconds", "14"],
        )
    });
    // Everyone subscribed: the hub relays 16 streams.
    wait_for("every stream relayed", || {
        let r = server.relayed();
        r.len() == 16
            && r.iter()
                .all(|(_, k, n)| *n == if *k == StreamKind::Main { 1 } else { 3 })
    });
    // What the cameras see: the recorder's session on each main stream, one session on each
    // sub stream, nothing more.
    let mut want: HashMap<String, usize> = HashMap::new();
    for id in &ids {
        want.insert(format!("/{id}/main"), 1);
        want.insert(format!("/{id}/sub"), 1);
    }
    wait_for("one session per stream at the simulator", || {
        sim.playing() == want
    });
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(sim.playing(), want, "sessions at the cameras");
    for w in watches {
        let r = reports(w);
        for id in &ids {
            let c = &r[id];
            assert!(
                c["pictures"].as_u64().unwrap_or(0) > 50,
                "{id}: {c} (fewer than 50 pictures in 14 s)"
            );
            assert_eq!(c["state"], "live", "{id}: {c}");
        }
    }
    // Nobody watches the sub streams any more: their sessions close after the grace period;
    // the recorder's stay.
    wait_for("sub sessions closed", || {
        sim.playing().keys().all(|p| p.ends_with("/main"))
    });
    assert_eq!(sim.playing().len(), 8);
    // The server logged each user's live views of the cameras, start and stop.
    let lines = audit_lines(&data);
    for user in ["sup", "op1", "op2", "police"] {
        for action in ["live view start", "live view stop"] {
            let n = lines
                .iter()
                .filter(|l| l.contains(user) && l.contains(action) && l.contains("cam005"))
                .count();
            assert_eq!(n, 1, "{user} {action} cam005 once:\n{}", lines.join("\n"));
        }
    }
    server.stop();
    assert_check_clean(&data);
}

/// Resident memory of process `pid`, bytes.
fn rss(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .unwrap_or(0)
        * 1024
}

#[test]
fn a_workstation_that_stops_reading_holds_up_nobody_and_resumes_at_a_keyframe() {
    let sim = camsim(2, true);
    let dir = test_dir("relay-stall");
    let data = dir.join("data");
    add_user(&data, "op1", "operator", &["*"]);
    add_user(&data, "op2", "operator", &["*"]);
    let cameras = cameras_file(&sim, &dir);
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port");
        l.local_addr().expect("addr").port()
    };
    let ca_pub = dir.join("ca.pem");
    let mut server = Command::new(env!("CARGO_BIN_EXE_vigie"))
        .arg("server")
        .arg("--data")
        .arg(&data)
        .arg("--cameras")
        .arg(&cameras)
        .args(["--listen", &format!("127.0.0.1:{port}")])
        .args(["--segment-seconds", "4", "--publish-ca"])
        .arg(&ca_pub)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("server starts");
    let url = format!("https://127.0.0.1:{port}");
    wait_for("the server's CA", || ca_pub.exists());
    wait_for("the server listening", || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    let home = dir.join("home");
    std::fs::create_dir_all(&home).expect("home");
    let rss_before = rss(server.id());
    // Both watch the main streams (the recorder's sessions); the second stops reading for 10 s
    // after 4 s.
    let args = [
        "--cameras",
        "cam001,cam002",
        "--stream",
        "main",
        "--seconds",
        "22",
    ];
    let quick = spawn_watch(&url, &ca_pub, &home, "op1", false, &args);
    let mut stall_args = args.to_vec();
    stall_args.extend(["--stall", "4", "10"]);
    let slow = spawn_watch(&url, &ca_pub, &home, "op2", false, &stall_args);
    let t0 = Instant::now();
    let mut rss_max = 0;
    while t0.elapsed() < Duration::from_secs(16) {
        rss_max = rss_max.max(rss(server.id()));
        std::thread::sleep(Duration::from_millis(200));
    }
    let (q, s) = (reports(quick), reports(slow));
    for cam in ["cam001", "cam002"] {
        // The one reading lost no picture: never more than a few frame intervals without one.
        let c = &q[cam];
        assert!(c["pictures"].as_u64().unwrap_or(0) > 20 * 25, "{cam}: {c}");
        assert!(
            c["longest_wait_ms"].as_u64().unwrap_or(u64::MAX) < 500,
            "{cam}: {c}"
        );
        assert_eq!(c["skips"], 0, "{cam}: {c}");
        // The stalled one was moved to a keyframe, and is live again.
        let c = &s[cam];
        assert!(c["skips"].as_u64().unwrap_or(0) >= 1, "{cam}: {c}");
        assert_eq!(c["state"], "live", "{cam}: {c}");
        assert!(c["pictures"].as_u64().unwrap_or(0) > 10 * 25, "{cam}: {c}");
    }
    // What the stalled workstation cost the server: its bounded queues, not ten seconds of
    // video.
    let grown = rss_max.saturating_sub(rss_before);
    assert!(
        grown < 64 << 20,
        "server memory grew by {} MiB",
        grown >> 20
    );
    // SAFETY: signals the server this test started, by its id.
    unsafe { libc::kill(server.id() as i32, libc::SIGTERM) };
    assert!(server.wait().expect("server exits").success());
    // The recording lost nothing either.
    for cam in ["cam001", "cam002"] {
        let store = vigie::store::Store::open_readonly(&data.join(vigie::store::INDEX_FILE))
            .expect("index");
        let t = store.timeline(cam, 0, i64::MAX / 2).expect("timeline");
        assert!(
            t.gaps.iter().all(|(_, cause)| !cause.contains("no data")),
            "{cam}: {:?}",
            t.gaps
        );
    }
    assert_check_clean(&data);
}

/// A relayed stream of `camera` through a live connection of `api`.
fn relayed(
    relay: &Arc<vigie::client::relay::RelayClient>,
    camera: &str,
    kind: StreamKind,
) -> vigie::ingest::LiveStream {
    vigie::ingest::LiveStream::relayed(
        relay.clone(),
        camera,
        kind,
        FrameSlot::new(),
        vigie::ingest::IngestTimings::default(),
    )
    .expect("stream")
}

#[test]
fn a_restarted_camera_is_lost_then_live_again_on_every_workstation_within_5_s() {
    let sim = camsim(2, true);
    let dir = test_dir("relay-restart");
    let data = dir.join("data");
    add_user(&data, "op1", "operator", &["*"]);
    add_user(&data, "op2", "operator", &["cam001"]);
    let server = start_server_with(&data, sim.cameras());
    let walls: Vec<_> = ["op1", "op1"]
        .iter()
        .map(|u| {
            let api = signed_in(&server, &data, u);
            Arc::new(vigie::client::relay::RelayClient::start(&api, None).expect("live"))
        })
        .collect();
    let streams: Vec<_> = walls
        .iter()
        .map(|w| relayed(w, "cam002", StreamKind::Sub))
        .collect();
    let live = |s: &vigie::ingest::LiveStream| s.slot().state() == StreamState::Live;
    wait_for("both walls live", || streams.iter().all(live));
    assert!(sim.stop_camera("cam002"));
    wait_for("both walls say lost", || {
        streams
            .iter()
            .all(|s| matches!(s.slot().state(), StreamState::Lost { .. }))
    });
    assert!(sim.restart_camera("cam002"));
    let t = Instant::now();
    wait_for("both walls live again", || streams.iter().all(live));
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "live again after {:?}",
        t.elapsed()
    );
    // A camera not granted is refused, by the server, with the reason on the tile.
    let api = signed_in(&server, &data, "op2");
    let limited = Arc::new(vigie::client::relay::RelayClient::start(&api, None).expect("live"));
    let refused = relayed(&limited, "cam002", StreamKind::Sub);
    wait_for(
        "the refusal",
        || matches!(refused.slot().state(), StreamState::Failed { reason } if reason.contains("cam002")),
    );
    assert_logged(&data, &["op2 refused cam002"]);
    // A grant withdrawn while the camera is shown: the server stops sending it and says why.
    let allowed = relayed(&limited, "cam001", StreamKind::Sub);
    wait_for("cam001 live for op2", || live(&allowed));
    vigie::store::Store::open(&data.join(vigie::store::INDEX_FILE))
        .expect("index")
        .set_user_cameras("op2", &[])
        .expect("grant withdrawn");
    wait_for(
        "cam001 no longer granted",
        || matches!(allowed.slot().state(), StreamState::Failed { reason } if reason.contains("no longer granted")),
    );
    // The stop is written by the connection's audit task, maybe just after the notice.
    wait_for("the withdrawn view's stop in the audit log", || {
        audit_lines(&data)
            .iter()
            .any(|l| l == "op2 live view stop cam001")
    });
    assert_logged(&data, &["op2 live view start cam001"]);
    allowed.stop_and_join();
    for s in streams {
        s.stop_and_join();
    }
    refused.stop_and_join();
}

/// One live-painted camera, a server of it, and operator op1's live connection to it.
fn one_camera_site(
    name: &str,
) -> (
    vigie::sim::CamSim,
    vigie::server::Server,
    Arc<vigie::client::relay::RelayClient>,
) {
    let sim = camsim(1, true);
    let data = test_dir(name).join("data");
    add_user(&data, "op1", "operator", &["*"]);
    let server = start_server_with(&data, sim.cameras());
    let api = signed_in(&server, &data, "op1");
    let relay = Arc::new(vigie::client::relay::RelayClient::start(&api, None).expect("live"));
    (sim, server, relay)
}

#[test]
fn the_capture_time_shown_is_the_pictures_timecode_within_one_frame_interval() {
    let (_sim, _server, relay) = one_camera_site("relay-time");
    let stream = relayed(&relay, "cam001", StreamKind::Main);
    let mut checked = 0;
    let mut worst = 0;
    let t0 = Instant::now();
    while checked < 100 {
        assert!(
            t0.elapsed() < Duration::from_secs(40),
            "{checked} pictures timed by the camera in 40 s"
        );
        let Some(f) = stream.slot().take() else {
            std::thread::sleep(Duration::from_millis(5));
            continue;
        };
        if f.timed_on_arrival {
            continue;
        }
        let stripe = vigie::media::decode_timecode_luma(f.width, f.height, |x, y| f.luma_at(x, y));
        worst = worst.max((f.capture_utc_ms - stripe).abs());
        checked += 1;
    }
    // 25 pictures a second: one interval is 40 ms.
    assert!(worst <= 40, "capture time off the stripe by {worst} ms");
    stream.stop_and_join();
}

#[test]
fn a_capped_workstation_gets_sub_streams_then_keyframes_only_and_its_tiles_say_so() {
    let sim = camsim(1, true);
    let dir = test_dir("relay-cap");
    let data = dir.join("data");
    add_user(&data, "police", "operator", &["*"]);
    let server = start_server_with(&data, sim.cameras());
    let api = signed_in(&server, &data, "police");
    // 150 kbit/s: less than the main stream (800) and the sub stream.
    let relay = Arc::new(vigie::client::relay::RelayClient::start(&api, Some(150)).expect("live"));
    let stream = relayed(&relay, "cam001", StreamKind::Main);
    wait_for(
        "the sub stream sent for the main stream, keyframes only",
        || stream.slot().relay_sub_for_main() && stream.slot().relay_keyframes_only(),
    );
    // What is shown then is the sub stream's keyframes: about one a second.
    while stream.slot().take().is_some() {}
    let t0 = Instant::now();
    let mut sizes = Vec::new();
    while t0.elapsed() < Duration::from_secs(5) {
        if let Some(f) = stream.slot().take() {
            sizes.push((f.width, f.height));
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(!sizes.is_empty() && sizes.len() <= 12, "{sizes:?}");
    // The server relays cam001's sub stream only: its main stream's session is not even open.
    assert_eq!(
        server.relayed(),
        vec![("cam001".to_string(), StreamKind::Sub, 1)]
    );
    stream.stop_and_join();
}

/// A workstation's decoder that stops taking pictures (here: its output held) lets at most
/// its backlog of pictures wait; past it the stream skips to a keyframe, the tile counts the
/// skip, and pictures come again once the decoder takes them.
#[test]
fn a_decoder_that_stops_taking_pictures_holds_a_bounded_backlog_and_resumes_at_a_keyframe() {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    let (_sim, _server, relay) = one_camera_site("relay-decoder-behind");
    let slot = FrameSlot::new();
    // The decoder's output is held while `held`: its thread (GStreamer's, not the stream's
    // "ingest" supervisor, which calls the waker too) waits in the slot's waker, so the
    // pictures pile up before the decoder.
    let held = Arc::new(AtomicBool::new(false));
    let shown = Arc::new(AtomicU64::new(0));
    let (h, n) = (held.clone(), shown.clone());
    slot.set_waker(Some(Arc::new(move || {
        if std::thread::current()
            .name()
            .is_some_and(|t| t.starts_with("ingest"))
        {
            return;
        }
        n.fetch_add(1, Ordering::SeqCst);
        while h.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(5));
        }
    })));
    let stream = vigie::ingest::LiveStream::relayed(
        relay.clone(),
        "cam001",
        StreamKind::Main,
        slot.clone(),
        vigie::ingest::IngestTimings {
            // About 2 s of this 800 kbit/s stream.
            decoder_backlog_bytes: 200_000,
            ..Default::default()
        },
    )
    .expect("stream");
    wait_for("pictures", || shown.load(Ordering::SeqCst) > 10);
    assert_eq!(slot.relay_skips(), 0, "no skip while the decoder keeps up");
    held.store(true, Ordering::SeqCst);
    wait_for("a skip counted on the tile", || slot.relay_skips() >= 1);
    let skips = slot.relay_skips();
    held.store(false, Ordering::SeqCst);
    let before = shown.load(Ordering::SeqCst);
    wait_for("pictures again", || {
        shown.load(Ordering::SeqCst) > before + 25 && slot.state() == StreamState::Live
    });
    // Decoding goes on from the keyframe: no further skip once the decoder keeps up.
    let now = shown.load(Ordering::SeqCst);
    wait_for("another second of pictures", || {
        shown.load(Ordering::SeqCst) > now + 25
    });
    assert_eq!(slot.relay_skips(), skips);
    stream.stop_and_join();
}
