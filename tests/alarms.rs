//! Events to alarms, end to end: the HTTP endpoint of `vigie events` (real sockets), the index,
//! the live workspace's alarm list and alarm screen (egui_kittest on wgpu), the replay of the
//! recorder's footage before the alarm, and the audit log.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{CLIP_S, CLIP_T0};
use egui_kittest::Harness;
use vigie::config::Camera;
use vigie::events::client::EventClient;
use vigie::events::rules::Rules;
use vigie::events::service::{EventService, ServiceOptions};
use vigie::events::{AlarmAction, Event, EventKind, event_json};
use vigie::media::FrameSlot;
use vigie::sim::{Painter, demo_cameras};
use vigie::ui::alarms::AlarmCommand;
use vigie::ui::{LiveApp, LiveWorkspace};

fn service(data: &std::path::Path, rules: Rules, cameras: Vec<Camera>) -> EventService {
    EventService::start(ServiceOptions {
        data: data.to_owned(),
        listen: "127.0.0.1:0".parse().expect("addr"),
        udp: Some("127.0.0.1:0".parse().expect("addr")),
        rules,
        cameras,
        tls: None,
    })
    .expect("the event service starts")
}

fn until<S>(
    h: &mut Harness<'static, S>,
    what: &str,
    mut done: impl FnMut(&mut Harness<'static, S>) -> bool,
) {
    let t0 = Instant::now();
    while !done(h) {
        h.run_steps(1);
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "{what}: not within 30 s"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn an_alert_button_alarm_is_listed_its_cameras_shown_and_its_handling_audited() {
    // The recorder's footage of cam001 and cam002 from CLIP_T0 (a disc moving on black).
    let data = common::clip_recording("alarms");
    let cams: Vec<Camera> = demo_cameras().into_iter().take(4).collect();
    let svc = service(&data, Rules::default(), cams.clone());
    let slots: Vec<Arc<FrameSlot>> = (0..4)
        .map(|i| {
            let slot = FrameSlot::new();
            slot.publish(Painter::new(i + 1, 640, 360, 50).frame(3, 1_795_000_000_000));
            slot
        })
        .collect();
    let mut wall = LiveWorkspace::new(
        cams.clone(),
        None,
        Box::new(common::Slots(cams.clone(), slots)),
    );
    // The wall signs in at the site server, which pushes the alarms the event service raises.
    common::add_user(&data, "op1", "operator", &["*"]);
    common::add_user(&data, "rev", "reviewer", &["*"]);
    let server = common::start_server_with(&data, cams.clone());
    common::wall_signed_in(&mut wall, &server, &data, "op1");
    let mut h = Harness::builder()
        .with_size([1400.0, 800.0])
        .wgpu()
        .build_eframe(move |cc| LiveApp::new(cc, wall, Vec::new()));
    h.run_steps(3);

    // A citizen presses the button by cam001, 4 s into the recording.
    let at = CLIP_T0 + 4 * CLIP_S;
    let mut client = EventClient::new(svc.addr(), None);
    let press = Event {
        kind: EventKind::AlertButton,
        at_utc_ns: at,
        camera: None,
        button: Some("btn-place-armes".into()),
        confidence: None,
        bbox: None,
        location: Some((cams[0].latitude, cams[0].longitude)),
    };
    let (status, body) = client
        .post("/v1/events", &event_json(&press))
        .expect("posted");
    assert_eq!(status, 201, "{body}");
    let answer: serde_json::Value = serde_json::from_str(&body).expect("json");
    let id = answer["alarm"].as_i64().expect("an alarm id");

    until(&mut h, "the alarm on the alarm screen", |h| {
        h.state_mut().workspace().alarm_on_screen().map(|a| a.0) == Some(id)
    });
    let ws = h.state_mut().workspace();
    let alarm = ws.alarm_board().expect("board").alarms[&id].clone();
    assert_eq!(
        (
            alarm.kind.as_str(),
            alarm.priority,
            alarm.state.as_str(),
            alarm.comment_required
        ),
        ("alert_button", 1, "new", true)
    );
    assert_eq!(
        alarm.cameras[0], "cam001",
        "the camera at the button first: {:?}",
        alarm.cameras
    );
    let screen = ws.alarm_on_screen().expect("shown").1;
    let tiles = ws.screen_tiles(screen);
    let n = alarm.cameras.len();
    for (k, cam) in alarm.cameras.iter().enumerate() {
        assert_eq!(tiles[k], Some((cam.clone(), false)), "live tile {k}");
        assert_eq!(
            tiles[n + k],
            Some((cam.clone(), true)),
            "replay tile {}",
            n + k
        );
    }
    // The replays show recorded pictures from the ten seconds before the alarm.
    until(&mut h, "replayed pictures", |h| {
        let r = h.state_mut().workspace().alarm_replays();
        r.iter().filter(|(_, _, shown)| shown.is_some()).count() == 2
    });
    for (cam, (from, to), shown) in h.state_mut().workspace().alarm_replays() {
        assert_eq!((from, to), (at - 10 * CLIP_S, at + 2 * CLIP_S), "{cam}");
        if cam == "cam001" || cam == "cam002" {
            let (start, end) = shown.expect("a picture");
            assert!(
                start >= CLIP_T0 && end <= at + 2 * CLIP_S + 40_000_000,
                "{cam}: {start}..{end}"
            );
        } else {
            assert_eq!(shown, None, "{cam} was never recorded");
        }
    }
    // The list draws it.
    until(&mut h, "the alarm drawn in the list", |h| {
        h.state_mut()
            .workspace()
            .alarm_board()
            .is_some_and(|b| b.first_drawn().contains(&id))
            || h.state_mut()
                .workspace()
                .alarm_board()
                .is_some_and(|b| b.selected == Some(id))
    });

    // The operator acknowledges it; closing without a comment is refused; with one, done.
    let act = |h: &mut Harness<'static, LiveApp>, action: AlarmAction, comment: &str| {
        h.state_mut()
            .workspace()
            .alarm_board()
            .expect("board")
            .send(AlarmCommand::Act {
                id,
                action,
                comment: comment.into(),
            });
    };
    act(&mut h, AlarmAction::Acknowledge, "");
    until(&mut h, "acknowledged", |h| {
        h.state_mut()
            .workspace()
            .alarm_board()
            .expect("board")
            .alarms[&id]
            .state
            == "acknowledged"
    });
    // Two patrols report; the nearest available one is sent, and the dispatch is logged.
    for (v, lat, lon, status) in [
        (
            "PM-7",
            cams[0].latitude + 0.002,
            cams[0].longitude,
            "available",
        ),
        ("PM-8", cams[0].latitude + 0.0005, cams[0].longitude, "busy"),
    ] {
        let body = format!(
            r#"{{"vehicle":"{v}","latitude":{lat},"longitude":{lon},"status":"{status}","time":"2026-11-26T22:00:00Z"}}"#
        );
        assert_eq!(client.post("/v1/positions", &body).expect("posted").0, 202);
    }
    until(&mut h, "two vehicles", |h| {
        h.state_mut()
            .workspace()
            .alarm_board()
            .expect("board")
            .vehicles
            .len()
            == 2
    });
    let board = h.state_mut().workspace().alarm_board().expect("board");
    let ranked: Vec<(String, f64)> = board
        .candidates(id)
        .iter()
        .map(|(v, d, _)| (v.id.clone(), *d))
        .collect();
    assert_eq!(
        ranked[0].0, "PM-7",
        "available first, though farther: {ranked:?}"
    );
    assert!((ranked[0].1 - 222.4).abs() < 2.0, "{ranked:?}");
    let (_, d, eta) = board.candidates(id)[0];
    board.send(AlarmCommand::Dispatch {
        alarm: id,
        vehicle: "PM-7".into(),
        distance_m: d,
        eta_s: eta,
    });
    until(&mut h, "PM-7 dispatched", |h| {
        h.state_mut()
            .workspace()
            .alarm_board()
            .expect("board")
            .vehicles["PM-7"]
            .status
            == "dispatched"
    });
    act(&mut h, AlarmAction::Close, "");
    act(&mut h, AlarmAction::Take, "");
    until(&mut h, "in progress", |h| {
        h.state_mut()
            .workspace()
            .alarm_board()
            .expect("board")
            .alarms[&id]
            .state
            == "in progress"
    });
    act(
        &mut h,
        AlarmAction::Close,
        "PM-2 sur place : chute d'un cycliste, secours appelés",
    );
    until(&mut h, "closed", |h| {
        h.state_mut()
            .workspace()
            .alarm_board()
            .expect("board")
            .alarms[&id]
            .state
            == "closed"
    });
    let a = h
        .state_mut()
        .workspace()
        .alarm_board()
        .expect("board")
        .alarms[&id]
        .clone();
    assert_eq!(a.owner.as_deref(), Some("op1"));
    common::assert_logged(
        &data,
        &[
            &format!("vigie-events alarm raised {}", a.cameras.join(",")),
            &format!("op1 alarm acknowledged {}", a.cameras.join(",")),
            &format!("op1 alarm taken {}", a.cameras.join(",")),
            &format!("op1 alarm closed {}", a.cameras.join(",")),
            &format!("op1 alarm replay {}", a.cameras.join(",")),
            &format!("op1 patrol dispatched {}", a.cameras.join(",")),
        ],
    );
    // The refused close left the alarm as it was: three notes, the last with the comment.
    let store = vigie::store::Store::open(&data.join(vigie::store::INDEX_FILE)).expect("index");
    let notes: Vec<_> = store
        .alarm_notes_since(0)
        .expect("notes")
        .into_iter()
        .filter(|n| n.alarm_id == id)
        .collect();
    let states: Vec<&str> = notes.iter().map(|n| n.state.as_str()).collect();
    assert_eq!(states, ["acknowledged", "in progress", "closed"]);
    assert!(notes[2].comment.contains("cycliste"));
    // The review timeline of cam001 marks it.
    let marks = store
        .alarms_of_camera("cam001", CLIP_T0, CLIP_T0 + 20 * CLIP_S)
        .expect("marks");
    assert_eq!(marks, [(id, at, 1, "alert_button".to_owned())]);
    drop(h);
    // The review room's timeline of cam001 carries the mark.
    let mut review = common::review_at(&server, &data, "rev", at);
    assert!(review.assign(0, "cam001"));
    review.set_view(CLIP_T0 - 2 * CLIP_S, CLIP_T0 + 18 * CLIP_S);
    let mut h = Harness::builder()
        .with_size([1200.0, 700.0])
        .wgpu()
        .build_eframe(move |cc| vigie::ui::ReviewApp::new(cc, review));
    until(&mut h, "the review timeline", |h| {
        h.state_mut()
            .workspace()
            .expect("signed in")
            .timelines_ready()
    });
    assert_eq!(
        h.state_mut()
            .workspace()
            .expect("signed in")
            .timeline_alarms("cam001"),
        [(id, at, 1, "alert_button".to_owned())]
    );
    drop(h);
    drop(svc);
    let _ = std::fs::remove_dir_all(&data);
}

/// Sends raw bytes and reads the status of the answer.
fn raw(addr: std::net::SocketAddr, bytes: &[u8]) -> u16 {
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let _ = s.write_all(bytes);
    let _ = s.shutdown(std::net::Shutdown::Write);
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out.split(' ')
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0)
}

/// The UDP key of the test sources, and its hexadecimal form as alarms.toml gives it.
const UDP_KEY: [u8; 32] = [0x5a; 32];
const UDP_KEY_HEX: &str = "5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a";

#[test]
fn positions_over_udp_need_their_sources_mac_and_replays_are_dropped() {
    let dir = common::test_dir("alarm-udp-mac");
    let data = dir.join("data");
    std::fs::create_dir_all(&data).expect("data folder");
    let rules_file = dir.join("alarms.toml");
    std::fs::write(
        &rules_file,
        format!(
            "[[source]]\nname = \"patrols\"\ntoken_sha256 = \"930bbdc51b6aed5c2a5678fd6e28dee7a05e8a4b643cfc0b4427c3efb86c0d94\"\nmay = [\"PM-*\"]\nudp_key = \"{UDP_KEY_HEX}\"\n\n[[source]]\nname = \"buses\"\ntoken_sha256 = \"{}\"\nmay = [\"BUS-*\"]\nudp_key = \"{}\"\n",
            "00".repeat(32),
            "11".repeat(32)
        ),
    )
    .expect("rules file");
    // A file holding keys that every user can read is refused, naming the file and the fix.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&rules_file, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let e = Rules::load(&rules_file)
        .expect_err("world-readable keys")
        .to_string();
    assert!(
        e.contains("alarms.toml:5:") && e.contains("udp_key") && e.contains("chmod o-r"),
        "{e}"
    );
    std::fs::set_permissions(&rules_file, std::fs::Permissions::from_mode(0o640)).expect("chmod");
    let rules = Rules::load(&rules_file).expect("rules");
    let svc = service(&data, rules, demo_cameras().into_iter().take(4).collect());
    let udp = svc.udp_addr().expect("udp address");
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").expect("udp");
    let report = |vehicle: &str, status: &str, at: i64| {
        vigie::events::position_json(&vigie::events::Position {
            vehicle: vehicle.into(),
            latitude: 50.36,
            longitude: 3.52,
            heading_deg: None,
            speed_kmh: None,
            status: vigie::events::VehicleStatus::parse(status).expect("status"),
            at_utc_ns: at,
        })
    };
    // A minute ago, to the millisecond (what a report's time carries).
    let t = (vigie::time::now_utc_ns() - 60_000_000_000) / 1_000_000 * 1_000_000;
    let refused = || {
        svc.stats()
            .refused
            .load(std::sync::atomic::Ordering::Relaxed)
    };
    let taken = || {
        svc.stats()
            .positions
            .load(std::sync::atomic::Ordering::Relaxed)
    };
    let send = |d: &[u8]| {
        sock.send_to(d, udp).expect("sent");
    };
    let first =
        vigie::events::signed_datagram("patrols", &UDP_KEY, report("PM-1", "busy", t).as_bytes());
    // Refused: no MAC, another key, a source that may not speak for the vehicle, a source
    // not declared, a report changed after signing.
    send(report("PM-1", "available", t).as_bytes());
    send(&vigie::events::signed_datagram(
        "patrols",
        &[1; 32],
        report("PM-1", "available", t).as_bytes(),
    ));
    send(&vigie::events::signed_datagram(
        "buses",
        &[0x11; 32],
        report("PM-1", "available", t).as_bytes(),
    ));
    send(&vigie::events::signed_datagram(
        "nobody",
        &UDP_KEY,
        report("PM-1", "available", t).as_bytes(),
    ));
    let mut changed = first.clone();
    let at = changed
        .windows(5)
        .position(|w| w == b"50.36")
        .expect("latitude");
    changed[at..at + 5].copy_from_slice(b"50.37");
    send(&changed);
    common::wait_for("five refusals", || refused() == 5);
    assert_eq!(taken(), 0);
    // Taken: the patrol's signed report; then a newer one; then the first again (a replay).
    send(&first);
    common::wait_for("the first report", || taken() == 1);
    send(&vigie::events::signed_datagram(
        "patrols",
        &UDP_KEY,
        report("PM-1", "dispatched", t + 1_000_000_000).as_bytes(),
    ));
    common::wait_for("the newer report", || taken() == 2);
    send(&first);
    common::wait_for("the replay refused", || refused() == 6);
    let store = vigie::store::Store::open(&data.join(vigie::store::INDEX_FILE)).expect("index");
    common::wait_for("the vehicle stored", || {
        store
            .vehicles_since(0)
            .expect("vehicles")
            .iter()
            .any(|v| v.id == "PM-1" && v.status == "dispatched")
    });
    let pm1 = store.vehicles_since(0).expect("vehicles");
    assert_eq!(pm1.len(), 1);
    assert_eq!(
        (pm1[0].status.as_str(), pm1[0].at_utc_ns),
        ("dispatched", t + 1_000_000_000)
    );
    // The simulator's patrol cars, speaking as the declared source, are taken.
    let sim = vigie::sim::EventSim::start(
        vigie::sim::EventSimOptions {
            events: svc.addr(),
            positions_udp: Some(udp),
            event_every_s: 0.0,
            button_every_s: 0.0,
            patrol_cars: 2,
            seed: 7,
            source: Some(vigie::sim::SimSource {
                name: "patrols".into(),
                token: "secret-token".into(),
                udp_key: Some(UDP_KEY),
            }),
        },
        demo_cameras().into_iter().take(4).collect(),
    )
    .expect("simulator");
    common::wait_for("the simulated cars' positions", || {
        store
            .vehicles_since(0)
            .expect("vehicles")
            .iter()
            .any(|v| v.id == "PM-2")
    });
    assert_eq!(
        refused(),
        6,
        "a signed datagram of the simulator was refused"
    );
    drop(sim);
    drop(svc);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_and_unauthenticated_input_gets_4xx_and_no_valid_event_is_lost() {
    let data = common::test_dir("alarm-input");
    let cams: Vec<Camera> = demo_cameras().into_iter().take(20).collect();
    // A source with a token (SHA-256 of "secret-token") that may speak for cam00x only.
    let rules = Rules::parse(
        std::path::Path::new("alarms.toml"),
        &format!("[[source]]\nname = \"analytics\"\ntoken_sha256 = \"930bbdc51b6aed5c2a5678fd6e28dee7a05e8a4b643cfc0b4427c3efb86c0d94\"\nmay = [\"cam00*\", \"PM-*\"]\nudp_key = \"{UDP_KEY_HEX}\"\n"),
    )
    .expect("rules");
    use sha2::Digest;
    let token = "secret-token";
    assert_eq!(
        sha2::Sha256::digest(token.as_bytes())
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>(),
        "930bbdc51b6aed5c2a5678fd6e28dee7a05e8a4b643cfc0b4427c3efb86c0d94"
    );
    let svc = service(&data, rules, cams);
    let addr = svc.addr();
    let good = |n: u32| {
        event_json(&Event {
            kind: EventKind::Intrusion,
            at_utc_ns: vigie::time::now_utc_ns(),
            camera: Some(format!("cam00{}", n % 9 + 1)),
            button: None,
            confidence: Some(0.9),
            bbox: None,
            location: None,
        })
    };
    let mut anon = EventClient::new(addr, None);
    let mut wrong = EventClient::new(addr, Some("guess".into()));
    let mut ok = EventClient::new(addr, Some(token.into()));
    assert_eq!(anon.post("/v1/events", &good(1)).expect("answer").0, 401);
    assert_eq!(wrong.post("/v1/events", &good(1)).expect("answer").0, 401);
    let (s, msg) = ok
        .post(
            "/v1/events",
            r#"{"type":"intrusion","camera":"cam015","time":"2026-11-26T22:00:00Z"}"#,
        )
        .expect("answer");
    assert_eq!(s, 403, "{msg}");
    assert!(msg.contains("cam015"), "{msg}");
    let (s, msg) = ok
        .post(
            "/v1/events",
            r#"{"type":"intrusion","camera":"cam001","time":"yesterday"}"#,
        )
        .expect("answer");
    assert_eq!(s, 400);
    assert!(msg.contains("time"), "{msg}");
    // Dated a minute ahead of the service's clock: refused, naming the sender's clock.
    let ahead = event_json(&Event {
        kind: EventKind::Intrusion,
        at_utc_ns: vigie::time::now_utc_ns() + 60_000_000_000,
        camera: Some("cam001".into()),
        button: None,
        confidence: Some(0.9),
        bbox: None,
        location: None,
    });
    let (s, msg) = ok.post("/v1/events", &ahead).expect("answer");
    assert_eq!(s, 400, "{msg}");
    assert!(msg.contains("the sender's clock is wrong"), "{msg}");
    assert_eq!(raw(addr, b"GARBAGE\r\n\r\n"), 400);
    assert_eq!(
        raw(
            addr,
            b"POST /v1/events HTTP/1.1\r\nContent-Length: 999999\r\n\r\n"
        ),
        413
    );
    assert_eq!(raw(addr, b"POST /v1/events HTTP/1.1\r\n\r\n"), 411);
    assert_eq!(raw(addr, b"DELETE /v1/events HTTP/1.1\r\n\r\n"), 405);

    // Valid events interleaved with fuzzed ones from several connections: every valid one is
    // stored, every other gets a 4xx, and the service keeps answering.
    let mut threads = Vec::new();
    for t in 0..4u64 {
        threads.push(std::thread::spawn(move || {
            let mut rng = fastrand::Rng::with_seed(t);
            let mut client = EventClient::new(addr, Some(token.into()));
            let (mut stored, mut refused) = (0, 0);
            for n in 0..200u32 {
                let body = good(n);
                if n % 2 == 0 {
                    let (s, msg) = client.post("/v1/events", &body).expect("answer");
                    assert_eq!(s, 201, "{msg}");
                    stored += 1;
                } else {
                    let mut b = body.into_bytes();
                    for _ in 0..rng.usize(1..4) {
                        let at = rng.usize(..b.len());
                        b[at] = rng.u8(..);
                    }
                    let text = String::from_utf8_lossy(&b).into_owned();
                    let (s, _) = client.post("/v1/events", &text).expect("answer");
                    if s == 201 {
                        stored += 1;
                    } else {
                        assert!((400..500).contains(&s), "status {s} for {text:?}");
                        refused += 1;
                    }
                }
            }
            (stored, refused)
        }));
    }
    let mut stored = 0;
    for t in threads {
        stored += t.join().expect("sender").0;
    }
    let store = vigie::store::Store::open(&data.join(vigie::store::INDEX_FILE)).expect("index");
    assert_eq!(store.alarm_event_count().expect("count"), stored);
    // Positions over UDP and HTTP reach the vehicle table.
    let sock = std::net::UdpSocket::bind("127.0.0.1:0").expect("udp");
    let udp = svc.udp_addr().expect("udp address");
    sock.send_to(b"{not json", udp).expect("sent");
    sock.send_to(
        &vigie::events::signed_datagram(
            "analytics",
            &UDP_KEY,
            br#"{"vehicle":"PM-1","latitude":50.36,"longitude":3.52,"heading":90,"speed_kmh":30,"status":"available","time":"2026-11-26T22:00:00Z"}"#,
        ),
        udp,
    )
    .expect("sent");
    let (s, _) = ok
        .post(
            "/v1/positions",
            r#"{"vehicle":"PM-2","latitude":50.35,"longitude":3.53,"status":"busy","time":"2026-11-26T22:00:01Z"}"#,
        )
        .expect("answer");
    assert_eq!(s, 202);
    let t0 = Instant::now();
    loop {
        let v = store.vehicles_since(0).expect("vehicles");
        if v.len() == 2 {
            let pm1 = v.iter().find(|x| x.id == "PM-1").expect("PM-1 by UDP");
            assert_eq!(
                (pm1.status.as_str(), pm1.heading_deg),
                ("available", Some(90.0))
            );
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(10), "{v:?}");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(raw(addr, b"GET /v1/health HTTP/1.1\r\n\r\n"), 200);
    drop(svc);
    let _ = std::fs::remove_dir_all(&data);
}

/// 2026-11-26 22:14:00 UTC (23:14 in Paris).
const NOW: i64 = 1_795_731_240 * CLIP_S;

/// Three alarms (an alert button still new, an intrusion held by an operator, a closed
/// loitering), and four patrol cars around Place d'Armes.
fn scene() -> (Vec<vigie::store::AlarmRow>, Vec<vigie::store::VehicleRow>) {
    let cams = demo_cameras();
    let alarm = |id: i64,
                 kind: &str,
                 source: &str,
                 p: u8,
                 state: &str,
                 owner: Option<&str>,
                 at: (f64, f64)| {
        vigie::store::AlarmRow {
            id,
            rev: id,
            created_utc_ns: NOW - (10 - id) * 60 * CLIP_S,
            at_utc_ns: NOW - (10 - id) * 60 * CLIP_S,
            kind: kind.into(),
            source: source.into(),
            rule: kind.into(),
            priority: p,
            zone: "Centre-ville".into(),
            cameras: vec!["cam001".into(), "cam002".into()],
            instructions: "Look at the linked cameras, send the nearest patrol.".into(),
            sound: "alert".into(),
            location: Some(at),
            state: state.into(),
            owner: owner.map(str::to_owned),
            comment_required: kind == "alert_button",
            escalate_utc_ns: None,
            escalated: false,
            events: 1,
            last_event_utc_ns: NOW,
            closed_utc_ns: None,
        }
    };
    let at = |i: usize| (cams[i].latitude, cams[i].longitude);
    let alarms = vec![
        alarm(
            7,
            "alert_button",
            "btn-place-armes",
            1,
            "new",
            None,
            (50.35740, 3.52590),
        ),
        alarm(
            6,
            "intrusion",
            "cam004",
            2,
            "in progress",
            Some("operateur"),
            at(3),
        ),
        alarm(
            5,
            "loitering",
            "cam003",
            3,
            "closed",
            Some("superviseur"),
            at(2),
        ),
    ];
    let vehicle = |id: &str, lat: f64, lon: f64, h: f32, status: &str| vigie::store::VehicleRow {
        id: id.into(),
        rev: 1,
        latitude: lat,
        longitude: lon,
        heading_deg: Some(h),
        speed_kmh: Some(30.0),
        status: status.into(),
        at_utc_ns: NOW,
    };
    let vehicles = vec![
        vehicle("PM-1", 50.3590, 3.5230, 120.0, "available"),
        vehicle("PM-2", 50.3555, 3.5300, 300.0, "available"),
        vehicle("PM-3", 50.3600, 3.5290, 200.0, "busy"),
        vehicle("PM-4", 50.3530, 3.5180, 45.0, "available"),
    ];
    (alarms, vehicles)
}

#[test]
fn alarm_list_snapshot() {
    let (alarms, vehicles) = scene();
    let mut board = vigie::ui::alarms::AlarmBoard::from_rows(
        alarms,
        Vec::new(),
        vehicles,
        Some(("operateur", false)),
    );
    board.filter.all_states = true;
    board.selected = Some(7);
    let mut h = Harness::builder()
        .with_size([420.0, 640.0])
        .wgpu()
        .build_ui_state(
            |ui, board: &mut vigie::ui::alarms::AlarmBoard| {
                ui.ctx().set_visuals(egui::Visuals::dark());
                board.show(ui, NOW);
            },
            board,
        );
    h.run_steps(2);
    // Open alarms first, the alert button on top; the closed one last.
    let order: Vec<i64> = h.state().open_alarms().iter().map(|a| a.id).collect();
    assert_eq!(order, [7, 6]);
    h.snapshot("alarm_list");
}

#[test]
fn map_snapshot_with_cameras_an_alarm_and_vehicles() {
    let (alarms, vehicles) = scene();
    let board = vigie::ui::alarms::AlarmBoard::from_rows(
        alarms,
        Vec::new(),
        vehicles,
        Some(("operateur", false)),
    );
    // The vehicles ranked for the alert button: available ones first, by distance.
    let ranked: Vec<&str> = board
        .candidates(7)
        .iter()
        .map(|(v, _, _)| v.id.as_str())
        .collect();
    assert_eq!(ranked, ["PM-1", "PM-2", "PM-4", "PM-3"]);
    let cams: Vec<Camera> = demo_cameras().into_iter().take(24).collect();
    let mut map = vigie::ui::map::MapView::default();
    map.center_on(50.3572, 3.5245);
    map.focus_alarm = Some(7);
    let mut h = Harness::builder()
        .with_size([1000.0, 640.0])
        .wgpu()
        .build_ui_state(
        move |ui, (map, board): &mut (vigie::ui::map::MapView, vigie::ui::alarms::AlarmBoard)| {
            ui.ctx().set_visuals(egui::Visuals::dark());
            map.show(ui, &cams, Some(board), NOW);
        },
        (map, board),
    );
    h.run_steps(4);
    h.snapshot("map_alarm_vehicles");
}

#[test]
fn motion_seen_on_a_shown_sub_stream_raises_a_motion_alarm() {
    // A live simulated camera: its picture has a moving square. Its sub stream is decoded for
    // the wall; motion detection looks at those pictures, and posts to `vigie events`.
    let sim = common::camsim(2, true);
    let data = common::test_dir("alarm-motion");
    let cams = sim.cameras();
    let svc = service(&data, Rules::default(), cams.clone());
    let streams = vigie::ingest::StreamManager::new(
        vigie::ingest::IngestTimings::default(),
        vigie::ingest::Transport::Tcp,
    );
    let mut wall = LiveWorkspace::new(cams.clone(), None, Box::new(streams)).with_motion(
        vec![vigie::events::motion::MotionZone {
            camera: "cam001".into(),
            polygon: Vec::new(),
            sensitivity: 0.7,
        }],
        svc.addr(),
    );
    assert!(wall.set_layout("2x2"));
    common::add_user(&data, "op1", "operator", &["*"]);
    let server = common::start_server_with(&data, cams.clone());
    common::wall_signed_in(&mut wall, &server, &data, "op1");
    let mut h = Harness::builder()
        .with_size([1000.0, 700.0])
        .wgpu()
        .build_eframe(move |cc| LiveApp::new(cc, wall, Vec::new()));
    until(&mut h, "a motion alarm for cam001", |h| {
        h.state_mut().workspace().alarm_board().is_some_and(|b| {
            b.alarms
                .values()
                .any(|a| a.kind == "motion" && a.source == "cam001")
        })
    });
    drop(h);
    // Only the camera with a zone: cam002 moves too, and raised nothing.
    let store = vigie::store::Store::open(&data.join(vigie::store::INDEX_FILE)).expect("index");
    let alarms = store.alarms_since(0, 100).expect("alarms");
    assert!(
        alarms
            .iter()
            .all(|a| a.kind == "motion" && a.source == "cam001"),
        "{alarms:?}"
    );
    drop(svc);
    let _ = std::fs::remove_dir_all(&data);
}

#[test]
fn events_over_https_with_the_sites_certificate() {
    use rustls::pki_types::pem::PemObject;
    let data = common::test_dir("alarm-tls");
    let (cert, key) = (data.join("events.crt"), data.join("events.key"));
    let made = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args(["-nodes", "-days", "2", "-subj", "/CN=vigie-events"])
        .args(["-addext", "subjectAltName=IP:127.0.0.1"])
        .args(["-addext", "basicConstraints=critical,CA:FALSE", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl runs");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let tls = |cert: &std::path::Path, key: &std::path::Path| vigie::events::service::TlsOptions {
        listen: "127.0.0.1:0".parse().expect("addr"),
        cert: cert.to_owned(),
        key: key.to_owned(),
    };
    // A key that is not one: the error names the file.
    let err = EventService::start(ServiceOptions {
        data: data.clone(),
        listen: "127.0.0.1:0".parse().expect("addr"),
        udp: None,
        rules: Rules::default(),
        cameras: demo_cameras(),
        tls: Some(tls(&cert, &cert)),
    })
    .err()
    .expect("refused")
    .to_string();
    assert!(
        err.contains("events.crt") && err.contains("private key"),
        "{err}"
    );
    let svc = EventService::start(ServiceOptions {
        data: data.clone(),
        listen: "127.0.0.1:0".parse().expect("addr"),
        udp: None,
        rules: Rules::default(),
        cameras: demo_cameras(),
        tls: Some(tls(&cert, &key)),
    })
    .expect("starts with TLS");
    let at = svc.tls_addr().expect("an HTTPS address");

    // A client trusting the site's certificate posts an event over TLS.
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls::pki_types::CertificateDer::pem_file_iter(&cert).expect("pem") {
        roots.add(c.expect("cert")).expect("root");
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").expect("name");
    let conn = rustls::ClientConnection::new(Arc::new(config), name).expect("client");
    let mut s = rustls::StreamOwned::new(conn, TcpStream::connect(at).expect("connect"));
    let body = r#"{"type":"intrusion","camera":"cam001","time":"2026-11-26T22:00:00Z"}"#;
    write!(
        s,
        "POST /v1/events HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("sent");
    let mut answer = Vec::new();
    let mut buf = [0u8; 1024];
    while let Ok(n) = s.read(&mut buf) {
        if n == 0 {
            break;
        }
        answer.extend_from_slice(&buf[..n]);
    }
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
    // Plain HTTP on the TLS port gets no HTTP answer, and the service goes on.
    assert_eq!(raw(at, b"GET /v1/health HTTP/1.1\r\n\r\n"), 0);
    assert_eq!(raw(svc.addr(), b"GET /v1/health HTTP/1.1\r\n\r\n"), 200);
    let store = vigie::store::Store::open(&data.join(vigie::store::INDEX_FILE)).expect("index");
    assert_eq!(store.alarm_event_count().expect("count"), 1);
    drop(svc);
    let _ = std::fs::remove_dir_all(&data);
}

#[test]
fn a_sender_that_stops_reading_its_answers_is_cut_off() {
    use vigie::events::service::WRITE_WITHIN;
    let data = common::test_dir("alarm-stalled");
    let svc = service(
        &data,
        Rules::default(),
        demo_cameras().into_iter().take(4).collect(),
    );
    let addr = svc.addr();
    // Requests sent back to back, answers never read: the service's writes back up.
    let c = TcpStream::connect(addr).expect("connect");
    let mut writer = c.try_clone().expect("clone");
    let t0 = Instant::now();
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let requests = b"GET /v1/health HTTP/1.1\r\nHost: events\r\n\r\n".repeat(1000);
        while writer.write_all(&requests).is_ok() {}
        let _ = done_tx.send(());
    });
    // The service closes it once it has waited WRITE_WITHIN for the sender to read.
    common::wait_for("the stalled connection closed", || {
        done_rx.try_recv().is_ok()
    });
    assert!(
        t0.elapsed() >= WRITE_WITHIN,
        "closed after {:?}",
        t0.elapsed()
    );
    drop(c);
    // Meanwhile and after, the others are answered.
    assert_eq!(raw(addr, b"GET /v1/health HTTP/1.1\r\n\r\n"), 200);
    drop(svc);
    let _ = std::fs::remove_dir_all(&data);
}

#[test]
fn idle_connections_from_one_address_never_keep_an_alert_from_being_answered() {
    use vigie::events::service::MAX_CONNECTIONS_PER_ADDRESS;
    let data = common::test_dir("alarm-idle");
    let cams: Vec<Camera> = demo_cameras().into_iter().take(4).collect();
    let svc = service(&data, Rules::default(), cams.clone());
    let addr = svc.addr();
    // 1,100 connections opened from 127.0.0.2 and left idle.
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let idle: Vec<TcpStream> = rt.block_on(async {
        let mut open = Vec::new();
        for _ in 0..1_100 {
            let sock = tokio::net::TcpSocket::new_v4().expect("socket");
            sock.bind("127.0.0.2:0".parse().expect("addr"))
                .expect("bind");
            let s = sock.connect(addr).await.expect("connect");
            open.push(s.into_std().expect("std"));
        }
        open
    });
    // An alert button pressed meanwhile is answered.
    let press = Event {
        kind: EventKind::AlertButton,
        at_utc_ns: vigie::time::now_utc_ns(),
        camera: None,
        button: Some("btn-place-armes".into()),
        confidence: None,
        bbox: None,
        location: Some((cams[0].latitude, cams[0].longitude)),
    };
    let mut client = EventClient::new(addr, None);
    let (status, body) = client
        .post("/v1/events", &event_json(&press))
        .expect("answered");
    assert_eq!(status, 201, "{body}");
    // The service kept the allowed number of them and closed the others at once.
    let mut kept = 0;
    for mut s in idle {
        s.set_nonblocking(false).expect("blocking");
        s.set_read_timeout(Some(Duration::from_millis(50)))
            .expect("timeout");
        let mut b = [0u8; 1];
        // Closed: end of stream (or reset); kept: nothing to read yet.
        if matches!(s.read(&mut b), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock
            || e.kind() == std::io::ErrorKind::TimedOut)
        {
            kept += 1;
        }
    }
    assert_eq!(kept, MAX_CONNECTIONS_PER_ADDRESS);
    drop(svc);
    let _ = std::fs::remove_dir_all(&data);
}
