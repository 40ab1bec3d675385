//! Retention with a test clock 31 days ahead: a pass that finds footage expired long ago is
//! refused with an alarm until an administrator allows it; then expired footage goes (file,
//! row, register line), footage under a legal hold stays until the hold is released; holds and
//! allowances through the CLI.

mod common;

use vigie::record::retention::{RetentionPass, apply_retention};
use vigie::store::{
    CameraRow, INDEX_FILE, IndexWriter, SegmentRow, Store, WriteOp, encode_keyframes,
};

const S: i64 = 1_000_000_000;
const DAY: i64 = 86_400 * S;

fn rfc3339(ns: i64) -> String {
    chrono::DateTime::from_timestamp_nanos(ns).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[test]
fn expired_footage_goes_held_footage_stays() {
    let dir = std::env::temp_dir().join(format!("vigie-retention-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("cam001")).expect("dir");
    let w = IndexWriter::spawn(&dir.join(INDEX_FILE)).expect("index");
    w.send(WriteOp::Camera(CameraRow::new("cam001", "cam001")));
    let mut short = CameraRow::new("cam002", "cam002");
    short.retention_days = 7;
    w.send(WriteOp::Camera(short));
    // Four minutes of cam001 a little more than 30 days ago... relative to t0 + 31 days.
    let t0 = chrono::Utc::now().timestamp_nanos_opt().expect("now") - DAY;
    let mut paths = Vec::new();
    for (cam, i) in [
        ("cam001", 0),
        ("cam001", 1),
        ("cam001", 2),
        ("cam001", 3),
        ("cam002", 0),
    ] {
        let rel = format!("cam001/{cam}-{i}.mp4");
        std::fs::write(dir.join(&rel), b"segment").expect("file");
        let start = t0 + i * 60 * S;
        w.send(WriteOp::Segment(SegmentRow {
            camera_id: cam.into(),
            start_utc_ns: start,
            end_utc_ns: start + 60 * S,
            path: rel.clone(),
            bytes: 7,
            sha256: [0; 32],
            codec: "h264".into(),
            keyframes: encode_keyframes(&[]),
            time_source: vigie::store::TimeSource::Rtcp,
        }));
        paths.push(rel);
    }
    assert!(w.flush());
    drop(w);

    // A hold on minute 1 (through the CLI), and one on minute 2 that has lapsed by then.
    common::add_user(&dir, "chef", "supervisor", &["*"]);
    common::add_user(&dir, "op", "operator", &["*"]);
    let vigie = |args: &[&str]| {
        let (ok, out, err) = common::vigie_as(
            "chef",
            args.iter()
                .map(std::ffi::OsString::from)
                .chain(["--data".into(), dir.clone().into_os_string()]),
        );
        (ok, out + &err)
    };
    let (ok, out) = vigie(&[
        "hold",
        "add",
        "--camera",
        "cam001",
        "--from",
        &rfc3339(t0 + 70 * S),
        "--to",
        &rfc3339(t0 + 80 * S),
        "--procedure",
        "PV-2026-0412",
        "--reason",
        "réquisition judiciaire",
        "--expires",
        &rfc3339(t0 + 60 * DAY),
    ]);
    assert!(ok, "{out}");
    let (ok, out) = vigie(&[
        "hold",
        "add",
        "--camera",
        "cam001",
        "--from",
        &rfc3339(t0 + 130 * S),
        "--to",
        &rfc3339(t0 + 140 * S),
        "--procedure",
        "PV-2026-0413",
        "--reason",
        "test",
        "--expires",
        &rfc3339(t0 + 20 * DAY),
    ]);
    assert!(ok, "{out}");
    let (ok, out) = vigie(&[
        "hold",
        "add",
        "--camera",
        "cam404",
        "--from",
        &rfc3339(t0),
        "--to",
        &rfc3339(t0 + S),
        "--procedure",
        "x",
        "--reason",
        "x",
        "--expires",
        &rfc3339(t0 + 2 * DAY),
    ]);
    assert!(!ok && out.contains("cam404"), "{out}");
    let (_, list) = vigie(&["hold", "list"]);
    assert!(
        list.contains("PV-2026-0412") && list.contains("by chef ") && list.contains("in force"),
        "{list}"
    );

    // 31 days later, at once: footage that expired a day ago (cam002's, 24 days ago) is not
    // what a pass finds in normal running. Nothing goes; one alarm says why.
    let mut store = Store::open(&dir.join(INDEX_FILE)).expect("index");
    let now = t0 + 31 * DAY;
    common::add_user(&dir, "admin", "administrator", &[]);
    let refused_alarms = |store: &Store| {
        store
            .alarms_since(0, 100)
            .expect("alarms")
            .into_iter()
            .filter(|a| a.kind == "retention_refused")
            .count()
    };
    for _ in 0..2 {
        let pass = apply_retention(&dir, &mut store, now).expect("retention");
        assert!(
            matches!(&pass, RetentionPass::Refused(why) if why.contains("camera cam002")
                && why.contains("vigie retention allow")),
            "{pass:?}"
        );
    }
    assert_eq!(refused_alarms(&store), 1, "one alarm, however many passes");
    assert!(
        paths.iter().all(|p| dir.join(p).exists()),
        "nothing deleted"
    );
    // An administrator allows it (an operator may not); the next pass deletes.
    let allow = |user: &str| {
        common::vigie_as(
            user,
            [
                "retention".as_ref(),
                "allow".as_ref(),
                "--data".as_ref(),
                dir.as_os_str(),
            ],
        )
    };
    let (ok, _, err) = allow("op");
    assert!(
        !ok && err.contains("may not allow a refused retention pass"),
        "{err}"
    );
    let (ok, out, err) = allow("admin");
    assert!(ok, "{out}{err}");
    assert_eq!(
        apply_retention(&dir, &mut store, now).expect("retention"),
        RetentionPass::Deleted(4)
    );
    let left: Vec<String> = store
        .all_segments()
        .expect("segments")
        .into_iter()
        .map(|s| s.row.path)
        .collect();
    assert_eq!(left, [paths[1].clone()], "only the held minute is left");
    assert!(
        dir.join(&paths[1]).exists()
            && !dir.join(&paths[0]).exists()
            && !dir.join(&paths[4]).exists()
    );
    let register = store.register().expect("register");
    assert_eq!(register.len(), 4);
    assert!(
        register
            .iter()
            .all(|l| l.at_utc_ns == now && l.action == "deleted" && l.reason.contains("retention"))
    );

    // The pass is in the audit log too.
    assert!(
        store
            .audit_entries()
            .expect("audit")
            .iter()
            .any(|(_, e, _, _)| e.action == "deleted"
                && e.user == "vigie recorder"
                && e.detail.starts_with("4 segments")),
        "retention deletions are logged"
    );

    // Released, the held minute is due: a day overdue by this test's clock, so again refused
    // (a new alarm) until allowed.
    let (ok, out) = vigie(&["hold", "release", "--id", "1"]);
    assert!(ok, "{out}");
    assert!(matches!(
        apply_retention(&dir, &mut store, now).expect("retention"),
        RetentionPass::Refused(_)
    ));
    assert_eq!(refused_alarms(&store), 2);
    let (ok, out, err) = allow("admin");
    assert!(ok, "{out}{err}");
    assert_eq!(
        apply_retention(&dir, &mut store, now).expect("retention"),
        RetentionPass::Deleted(1)
    );
    assert!(store.all_segments().expect("segments").is_empty());
    let (ok, _) = vigie(&["hold", "release", "--id", "1"]);
    assert!(!ok, "a released hold cannot be released again");
    // An operator may not place a hold; the refusal is logged with the attempt.
    let (ok, _, err) = common::vigie_as(
        "op",
        [
            "hold",
            "add",
            "--camera",
            "cam001",
            "--from",
            &rfc3339(t0),
            "--to",
            &rfc3339(t0 + S),
            "--procedure",
            "x",
            "--reason",
            "x",
            "--expires",
            &rfc3339(t0 + 60 * DAY),
            "--data",
        ]
        .iter()
        .map(std::ffi::OsString::from)
        .chain([dir.clone().into_os_string()]),
    );
    assert!(
        !ok && err.contains("op (operator) may not place a hold"),
        "{err}"
    );
    let log = Store::open(&dir.join(INDEX_FILE))
        .expect("index")
        .audit_entries()
        .expect("audit");
    let actions: Vec<(String, String)> = log
        .iter()
        .map(|(_, e, _, _)| (e.user.clone(), e.action.clone()))
        .collect();
    for (who, what) in [
        ("chef", "login"),
        ("chef", "hold placed"),
        ("chef", "holds listed"),
        ("chef", "hold released"),
        ("op", "refused"),
    ] {
        assert!(
            actions.iter().any(|(u, a)| u == who && a == what),
            "{who} {what} not in {actions:?}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}
