//! Alarms through the site server: pushed to every signed-in workstation, acted on by requests
//! the server serialises, resumed after a reconnection, and ended with the session.

mod common;

use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{add_user, signed_in, site_cameras};
use vigie::client::alarms::FeedMessage;
use vigie::events::client::EventClient;
use vigie::events::rules::Rules;
use vigie::events::service::ServiceOptions;
use vigie::events::{Event, EventKind, event_json};
use vigie::server::{Server, ServerOptions};
use vigie::store::AlarmRow;

/// The next alarm message matching `want`, waiting up to 10 s.
fn next_alarm(rx: &mpsc::Receiver<FeedMessage>, want: impl Fn(&AlarmRow) -> bool) -> AlarmRow {
    let t0 = Instant::now();
    loop {
        let left = Duration::from_secs(10).saturating_sub(t0.elapsed());
        match rx.recv_timeout(left) {
            Ok(FeedMessage::Alarm(row)) if want(&row) => return *row,
            Ok(FeedMessage::Ended(why)) => panic!("the feed ended: {why}"),
            Ok(_) => {}
            Err(e) => panic!("no such alarm within 10 s: {e}"),
        }
    }
}

/// A server over `data` running the event service; its events address.
fn server_with_events(data: &std::path::Path) -> (Server, std::net::SocketAddr) {
    let s = Server::start(ServerOptions {
        events: Some(ServiceOptions {
            data: data.to_owned(),
            listen: "127.0.0.1:0".parse().expect("addr"),
            udp: None,
            rules: Rules::default(),
            cameras: site_cameras(),
            tls: None,
        }),
        ..common::server_options(data)
    })
    .expect("server");
    let events = s.events_addr().expect("event service");
    (s, events)
}

fn intrusion(events: std::net::SocketAddr, camera: &str) -> i64 {
    let e = Event {
        kind: EventKind::Intrusion,
        at_utc_ns: vigie::time::now_utc_ns(),
        camera: Some(camera.into()),
        button: None,
        confidence: Some(0.9),
        bbox: None,
        location: None,
    };
    let (status, body) = EventClient::new(events, None)
        .post("/v1/events", &event_json(&e))
        .expect("posted");
    assert_eq!(status, 201, "{body}");
    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
    v["alarm"].as_i64().expect("an alarm id")
}

#[test]
fn alarms_are_pushed_to_every_workstation_and_actions_are_serialised() {
    let data = common::test_dir("server-alarms");
    add_user(&data, "op1", "operator", &["*"]);
    add_user(&data, "op2", "operator", &["*"]);
    add_user(&data, "rev", "reviewer", &["*"]);
    let (s, events) = server_with_events(&data);

    // Two workstations signed in, each with its feed.
    let mut op1 = signed_in(&s, &data, "op1");
    let op2 = signed_in(&s, &data, "op2");
    let (tx1, rx1) = mpsc::channel();
    let (tx2, rx2) = mpsc::channel();
    let feed1 = op1.alarm_feed(0, tx1).expect("feed 1");
    let feed2 = op2.alarm_feed(0, tx2).expect("feed 2");
    for rx in [&rx1, &rx2] {
        assert_eq!(
            rx.recv_timeout(Duration::from_secs(10)).expect("connected"),
            FeedMessage::Connected
        );
    }

    // An intrusion on cam001 reaches both.
    let a = intrusion(events, "cam001");
    for rx in [&rx1, &rx2] {
        let row = next_alarm(rx, |r| r.id == a);
        assert_eq!(row.state, "new");
        assert!(row.cameras.contains(&"cam001".to_string()));
    }

    // Taken on one workstation: shown taken on the other.
    let taken = op1.alarm_action(a, "take", "").expect("taken");
    let t0 = Instant::now();
    assert_eq!(taken.owner.as_deref(), Some("op1"));
    let seen = next_alarm(&rx2, |r| r.id == a && r.state == taken.state);
    let latency = t0.elapsed();
    eprintln!("taken on op1, seen on op2 after {latency:?}");
    assert_eq!(seen.owner.as_deref(), Some("op1"));
    assert!(latency < Duration::from_secs(1), "{latency:?}");
    // The other operator may not take it over (a supervisor could): 409 with why.
    let e = op2.alarm_action(a, "take", "").expect_err("held");
    assert_eq!(e.status(), Some(409), "{e}");
    assert!(e.to_string().contains("held by op1"), "{e}");

    // Two acknowledgements at once: exactly one wins, the other is told.
    let b = intrusion(events, "cam002");
    next_alarm(&rx1, |r| r.id == b);
    let (r1, r2) = std::thread::scope(|sc| {
        let h1 = sc.spawn(|| op1.alarm_action(b, "acknowledge", ""));
        let h2 = sc.spawn(|| op2.alarm_action(b, "acknowledge", ""));
        (h1.join().expect("thread"), h2.join().expect("thread"))
    });
    assert!(r1.is_ok() != r2.is_ok(), "{r1:?} / {r2:?}");
    let lost = r1.err().or(r2.err()).expect("one refused");
    assert_eq!(lost.status(), Some(409), "{lost}");
    assert!(lost.to_string().contains("already acknowledged"), "{lost}");

    // A reviewer handles no alarms: 403, and no feed.
    let rev = signed_in(&s, &data, "rev");
    assert_eq!(
        rev.alarm_action(b, "take", "")
            .expect_err("reviewer")
            .status(),
        Some(403)
    );
    let (txr, rxr) = mpsc::channel();
    let _feed_r = rev.alarm_feed(0, txr).expect("feed");
    match rxr.recv_timeout(Duration::from_secs(10)).expect("answer") {
        FeedMessage::Ended(why) => assert!(why.contains("403"), "{why}"),
        other => panic!("a reviewer got {other:?}"),
    }

    // Workstation 2 goes away; alarm A is closed meanwhile; on reconnecting from the last rev it
    // saw, it gets the change it missed (and not the alarms it already had).
    let last_seen = next_alarm(&rx2, |r| r.id == b && r.state == "acknowledged").rev;
    drop(feed2);
    let closed = op1
        .alarm_action(a, "close", "patrol sent, nothing found")
        .expect("closed");
    let (tx3, rx3) = mpsc::channel();
    let _feed3 = op2.alarm_feed(last_seen, tx3).expect("feed again");
    let first = next_alarm(&rx3, |_| true);
    assert_eq!(first.id, a);
    assert_eq!(first.rev, closed.rev);
    assert_eq!(first.state, "closed");

    // Signing out ends the session's feed, with the reason.
    op1.sign_out().expect("sign-out");
    let t0 = Instant::now();
    loop {
        match rx1
            .recv_timeout(Duration::from_secs(5))
            .expect("feed message")
        {
            FeedMessage::Ended(why) => {
                assert!(why.contains("sign in again"), "{why}");
                break;
            }
            _ => assert!(t0.elapsed() < Duration::from_secs(5)),
        }
    }
    drop(feed1);

    // Every action is in the audit log under its author.
    let store =
        vigie::store::Store::open_readonly(&data.join(vigie::store::INDEX_FILE)).expect("index");
    let log: Vec<(String, String)> = store
        .audit_entries()
        .expect("audit")
        .into_iter()
        .map(|(_, e, _, _)| (e.user, e.action))
        .collect();
    for want in [
        ("op1", "alarm taken"),
        ("op1", "alarm closed"),
        ("op2", "alarm feed opened"),
        ("rev", "refused"),
    ] {
        assert!(
            log.iter().any(|(u, a)| u == want.0 && a == want.1),
            "{want:?} not logged"
        );
    }
    s.stop();
    let _ = std::fs::remove_dir_all(&data);
}

/// The live wall's alarm board on the server: the pushed list, the vehicles asked of it, and the
/// operator's take and dispatch sent as requests the server decides and logs.
#[test]
fn the_walls_alarm_board_lives_on_the_server() {
    use vigie::events::alarm::AlarmAction;
    use vigie::ui::alarms::{AlarmBoard, AlarmCommand};
    let data = common::test_dir("server-alarm-board");
    add_user(&data, "op1", "operator", &["*"]);
    let (s, events) = server_with_events(&data);
    let (status, body) = EventClient::new(events, None)
        .post(
            "/v1/positions",
            &serde_json::json!({
                "vehicle": "PS-12",
                "latitude": 50.3575,
                "longitude": 3.5235,
                "status": "available",
                "time": vigie::time::rfc3339(vigie::time::now_utc_ns()),
            })
            .to_string(),
        )
        .expect("position posted");
    assert!((200..300).contains(&status), "{status} {body}");
    let a = intrusion(events, "cam001");

    let api = std::sync::Arc::new(signed_in(&s, &data, "op1"));
    let session = vigie::auth::Session {
        user: "op1".into(),
        role: vigie::auth::Role::Operator,
        cameras: vec!["*".into()],
    };
    let ctx = egui::Context::default();
    let mut board = AlarmBoard::on_server(api, &session, &ctx);
    let until = |board: &mut AlarmBoard, what: &str, ok: &dyn Fn(&AlarmBoard) -> bool| {
        let t0 = Instant::now();
        loop {
            board.poll();
            if ok(board) {
                return;
            }
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "no {what} within 10 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    };
    until(&mut board, "alarm and vehicle", &|b| {
        b.alarms.contains_key(&a) && b.vehicles.contains_key("PS-12")
    });
    board.send(AlarmCommand::Act {
        id: a,
        action: AlarmAction::Take,
        comment: String::new(),
    });
    until(&mut board, "taken alarm", &|b| {
        b.alarms[&a].owner.as_deref() == Some("op1")
    });
    board.send(AlarmCommand::Dispatch {
        alarm: a,
        vehicle: "PS-12".into(),
        distance_m: 350.0,
        eta_s: 61.0,
    });
    common::wait_for("the dispatch logged", || {
        common::audit_lines(&data)
            .iter()
            .any(|l| l.starts_with("op1 patrol dispatched cam001"))
    });
    common::assert_logged(&data, &["op1 alarm taken cam001,cam002"]);
    drop(board);
    s.stop();
    let _ = std::fs::remove_dir_all(&data);
}
