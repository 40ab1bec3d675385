//! The review workspace as a reviewer sees it, rendered headless with egui_kittest on wgpu:
//! two cameras recorded from a deterministic clip (segment files and index rows as the
//! recorder writes them), a gap with its cause, an event, a bookmark, a hold and a selected
//! range on the timelines; the tiles show the recorded pictures for the playhead.

mod common;

use std::time::{Duration, Instant};

use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use vigie::store::{INDEX_FILE, Store};
use vigie::ui::{ReviewApp, ReviewStart};

use common::{CLIP_S as S, CLIP_T0 as T0};

fn recorded(name: &str) -> std::path::PathBuf {
    common::clip_recording(name)
}

/// Clicks the export window's "Export" and waits for its outcome.
fn click_export(h: &mut Harness<'static, ReviewApp>, what: &str) -> Result<String, String> {
    use egui::accesskit::Role;
    h.get_by_role_and_label(Role::Button, "Export").click();
    wait_until(h, what, |app| {
        app.workspace()
            .expect("signed in")
            .export_dialog()
            .outcome
            .is_some()
    });
    h.state_mut()
        .workspace()
        .expect("signed in")
        .export_dialog()
        .outcome
        .clone()
        .expect("outcome")
}

fn wait_until(
    h: &mut Harness<'static, ReviewApp>,
    what: &str,
    ok: impl Fn(&mut ReviewApp) -> bool,
) {
    let t0 = Instant::now();
    loop {
        h.run_steps(1);
        if ok(h.state_mut()) {
            break;
        }
        assert!(t0.elapsed() < Duration::from_secs(20), "{what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn review_workspace_with_timelines_snapshot() {
    let data = recorded("snapshot");
    common::add_user(&data, "rev", "reviewer", &["*"]);
    // The server serves the cameras the index knows.
    let server = common::start_server_with(
        &data,
        vigie::server::indexed_cameras(&data).expect("cameras"),
    );
    let mut ws = common::review_at(&server, &data, "rev", T0 + 2 * S + 500_000_000);
    ws.set_grid(2);
    assert!(ws.assign(0, "cam001"));
    assert!(ws.assign(1, "cam002"));
    assert!(!ws.assign(2, "cam404"), "an unknown camera is refused");
    ws.set_view(T0 - 2 * S, T0 + 18 * S);
    ws.set_selection(Some((T0 + 15 * S, T0 + 16 * S)));
    let mut h = Harness::builder()
        .with_size([1280.0, 760.0])
        .wgpu()
        .build_eframe(move |cc| ReviewApp::new(cc, ws));
    wait_until(&mut h, "the tiles and timelines are ready", |app| {
        app.workspace().expect("signed in").settled()
            && app.workspace().expect("signed in").timelines_ready()
    });
    h.run_steps(2);
    // Both tiles show the picture of the playhead's frame interval (frame 62 of the run).
    let shown = h.state_mut().workspace().expect("signed in").shown();
    for (cam, s) in &shown {
        assert_eq!(
            *s,
            Some((T0 + 62 * 40_000_000, T0 + 63 * 40_000_000)),
            "{cam}"
        );
    }
    h.snapshot("review_workspace_2x2");
    // In the gap: the tiles say so rather than show a stale picture as current.
    h.state_mut()
        .workspace()
        .expect("signed in")
        .seek(T0 + 8 * S);
    wait_until(&mut h, "the gap is reported", |app| {
        app.workspace().expect("signed in").settled()
    });
    assert!(
        h.state_mut()
            .workspace()
            .expect("signed in")
            .shown()
            .iter()
            .all(|(_, s)| s.is_none())
    );
    // A segment file gone: that tile says so and the other plays on; nothing hangs.
    let store = Store::open_readonly(&data.join(INDEX_FILE)).expect("index");
    let lost = store
        .seek("cam002", T0 + 12 * S)
        .expect("seek")
        .expect("segment");
    std::fs::remove_file(data.join(&lost.segment.row.path)).expect("rm");
    h.state_mut()
        .workspace()
        .expect("signed in")
        .seek(T0 + 12 * S);
    wait_until(&mut h, "the damaged segment is reported", |app| {
        app.workspace().expect("signed in").settled()
    });
    let notes = h.state_mut().workspace().expect("signed in").notes();
    assert_eq!(notes[0], ("cam001".to_string(), None));
    assert!(
        notes[1]
            .1
            .as_deref()
            .is_some_and(|n| n.contains("damaged segment")),
        "{notes:?}"
    );
    // A segment crafted to claim four billion pictures in a fragment (its size unchanged):
    // that tile says it is damaged, the other plays on, and nothing is sized by the claim.
    let crafted = store
        .seek("cam002", T0 + 14 * S + 500_000_000)
        .expect("seek")
        .expect("segment");
    assert_ne!(crafted.segment.row.path, lost.segment.row.path);
    let path = data.join(&crafted.segment.row.path);
    let mut bytes = std::fs::read(&path).expect("segment");
    let at = crafted.keyframe.offset as usize;
    let trun = at
        + bytes[at..]
            .windows(4)
            .position(|w| w == b"trun")
            .expect("trun")
        - 4;
    bytes[trun + 12..trun + 16].copy_from_slice(&u32::MAX.to_be_bytes());
    std::fs::write(&path, &bytes).expect("crafted");
    h.state_mut()
        .workspace()
        .expect("signed in")
        .seek(T0 + 14 * S + 500_000_000);
    wait_until(&mut h, "the crafted segment is reported", |app| {
        app.workspace().expect("signed in").settled()
    });
    let ws = h.state_mut().workspace().expect("signed in");
    let notes = ws.notes();
    assert!(
        notes[1]
            .1
            .as_deref()
            .is_some_and(|n| n.contains("damaged segment")),
        "{notes:?}"
    );
    let shown = ws.shown();
    assert!(shown[0].1.is_some(), "{shown:?}");
    let _ = std::fs::remove_dir_all(&data);
}

#[test]
fn the_review_window_on_the_site_server_plays_and_exports() {
    let data = recorded("on-server");
    common::add_user(&data, "rev", "reviewer", &["cam001"]);
    let s = common::start_server(&data);
    let start = ReviewStart {
        server: (common::server_url(&s), common::server_ca(&data)),
        latest: false,
        at_utc_ns: T0 + 2 * S + 500_000_000,
        grid: 2,
        cameras: vec!["cam001".into(), "cam002".into()],
    };
    let mut h = Harness::builder()
        .with_size([1280.0, 760.0])
        .wgpu()
        .build_eframe(move |cc| ReviewApp::sign_in(cc, start));
    h.run_steps(2);
    common::sign_in_ui(&mut h, "rev", common::PASSWORD);
    wait_until(&mut h, "signed in at the server", |app| {
        app.workspace().is_some()
    });
    // The cameras are the server's answer: only the granted one.
    let ws = h.state_mut().workspace().expect("signed in");
    assert_eq!(
        ws.shown()
            .iter()
            .map(|(c, _)| c.as_str())
            .collect::<Vec<_>>(),
        ["cam001"]
    );
    // The tile shows the picture of the playhead, its GOP fetched from the server; the timeline
    // (spans, gap, bookmark, hold) comes from it too.
    wait_until(&mut h, "the picture and the timeline", |app| {
        let ws = app.workspace().expect("signed in");
        ws.timelines_ready()
            && ws.shown()[0]
                .1
                .is_some_and(|(a, b)| a <= T0 + 2 * S + 500_000_000 && T0 + 2 * S + 500_000_000 < b)
    });
    assert!(
        h.state_mut()
            .workspace()
            .expect("ws")
            .tile_frame(0)
            .is_some()
    );

    // An export from the window: made by the server, fetched into the folder chosen here.
    let out = common::test_dir("review-on-server-exports");
    let ws = h.state_mut().workspace().expect("signed in");
    ws.set_selection(Some((T0 + S + 300_000_000, T0 + 4 * S)));
    ws.open_export();
    ws.export_dialog()
        .fill("PV 2026/0100", "Lt. Morel", "vol à l'étalage", &out);
    h.run_steps(2);
    let outcome = click_export(&mut h, "the export is fetched");
    assert!(
        outcome
            .as_ref()
            .is_ok_and(|m| m.contains("Exported 1 file")),
        "{outcome:?}"
    );
    let folder = std::fs::read_dir(&out)
        .expect("exports")
        .map(|e| e.expect("entry").path())
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("PV_2026_0100_"))
        })
        .expect("the export folder");
    let v = vigie::export::verify(&folder, None);
    assert!(v.problems.is_empty() && v.files_ok == 1, "{v:?}");
    assert_eq!(
        v.key_sha256.as_deref(),
        Some(s.signing_fingerprint()),
        "signed by the installation"
    );
    drop(h);
    s.stop();
    // The server logged all of it.
    common::assert_logged(
        &data,
        &[
            "rev login ",
            "rev playback start cam001",
            "rev export cam001",
            "rev playback cam001",
        ],
    );
    for d in [&data, &out] {
        let _ = std::fs::remove_dir_all(d);
    }
}

#[test]
fn sign_in_then_export_the_selected_range() {
    use egui::accesskit::Role;
    let data = recorded("sign-in");
    common::add_user(&data, "rev", "reviewer", &["cam001"]);
    let server = common::start_server(&data);
    let start = ReviewStart {
        server: (common::server_url(&server), common::server_ca(&data)),
        latest: false,
        at_utc_ns: T0 + 2 * S,
        grid: 2,
        cameras: vec!["cam001".into(), "cam002".into()],
    };
    let mut h = Harness::builder()
        .with_size([1280.0, 760.0])
        .wgpu()
        .build_eframe(move |cc| ReviewApp::sign_in(cc, start));
    h.run_steps(2);
    assert!(
        h.state_mut().workspace().is_none(),
        "nothing before sign-in"
    );
    let sign_in = |h: &mut Harness<'static, ReviewApp>, password: &str| {
        common::sign_in_ui(h, "rev", password);
    };
    sign_in(&mut h, "wrong password!");
    wait_until(&mut h, "the refusal is shown", |_| true);
    let t0 = Instant::now();
    while h.query_by_label_contains("sign-in refused").is_none() {
        assert!(t0.elapsed() < Duration::from_secs(20), "no refusal shown");
        h.run_steps(1);
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(h.state_mut().workspace().is_none());
    // The user field keeps its text; the password field was emptied.
    let user = h.get_by_role_and_label(Role::TextInput, "User");
    user.focus();
    for _ in 0..3 {
        h.key_press(egui::Key::Backspace);
    }
    sign_in(&mut h, common::PASSWORD);
    wait_until(&mut h, "signed in", |app| app.workspace().is_some());
    // Only the granted camera is opened.
    let ws = h.state_mut().workspace().expect("signed in");
    assert_eq!(ws.session().user, "rev");
    assert_eq!(
        ws.shown()
            .iter()
            .map(|(c, _)| c.as_str())
            .collect::<Vec<_>>(),
        ["cam001"]
    );
    ws.set_selection(Some((T0 + S + 300_000_000, T0 + 4 * S)));
    ws.open_export();
    ws.export_dialog().fill(
        "PV 2026/0099",
        "Lt. Morel",
        "agression, parvis de la gare",
        &data.join("exports"),
    );
    h.run_steps(2);
    let outcome = click_export(&mut h, "the export is done");
    assert!(
        outcome
            .as_ref()
            .is_ok_and(|m| m.contains("Exported 1 file")),
        "{outcome:?}"
    );
    let folder = std::fs::read_dir(data.join("exports"))
        .expect("exports")
        .map(|e| e.expect("entry").path())
        .find(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("PV_2026_0099_"))
        })
        .expect("the export folder, named after the requisition");
    let v = vigie::export::verify(&folder, None);
    assert!(v.problems.is_empty() && v.files_ok == 1, "{v:?}");
    drop(h);
    server.stop();

    // The trail: the failed and the good sign-in, what was played, the export.
    common::assert_logged(
        &data,
        &[
            "rev login failed ",
            "rev login ",
            "rev playback start cam001",
            "rev export cam001",
            "rev playback cam001",
        ],
    );
    let _ = std::fs::remove_dir_all(&data);
}

#[test]
fn a_citizens_masked_copy_from_the_review_window() {
    let data = recorded("citizen");
    common::add_user(&data, "rev", "reviewer", &["*"]);
    let server = common::start_server(&data);
    let mut ws = common::review_at(&server, &data, "rev", T0 + 2 * S);
    ws.set_grid(1);
    assert!(ws.assign(0, "cam001"));
    ws.set_selection(Some((T0 + S, T0 + 3 * S)));
    ws.open_export();
    let dialog = ws.export_dialog();
    dialog.fill("DA-2026-007", "", "droit d'accès", &data.join("exports"));
    dialog.citizen("M. Karim Benali", "passeport no. 20AB12345 vu par rev");
    // A passer-by to pixelate, drawn on cam001's picture.
    dialog.draw_blur("cam001");
    for p in [[0.05, 0.05], [0.3, 0.05], [0.3, 0.4], [0.05, 0.4]] {
        dialog.add_blur_point(p);
    }
    dialog.close_blur();
    assert_eq!(dialog.blur_regions("cam001").len(), 1);
    let mut h = Harness::builder()
        .with_size([1280.0, 760.0])
        .wgpu()
        .build_eframe(move |cc| ReviewApp::new(cc, ws));
    h.run_steps(3);
    let outcome = click_export(&mut h, "the copy is made");
    assert!(outcome.is_ok(), "{outcome:?}");
    drop(h);
    let folder = std::fs::read_dir(data.join("exports"))
        .expect("exports")
        .map(|e| e.expect("entry").path())
        .next()
        .expect("the copy's folder");
    assert!(vigie::export::verify(&folder, None).problems.is_empty());
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(folder.join("manifest.json")).expect("manifest"))
            .expect("JSON");
    assert_eq!(manifest["masked"], true);
    assert_eq!(manifest["access_request"]["pixelated_regions"], 1);
    let requests = Store::open_readonly(&data.join(INDEX_FILE))
        .expect("index")
        .access_requests()
        .expect("requests");
    assert_eq!(requests.len(), 1);
    assert_eq!(
        (requests[0].requester.as_str(), requests[0].outcome.as_str()),
        ("M. Karim Benali", "granted")
    );
    common::assert_logged(&data, &["rev citizen access export cam001"]);
    let _ = std::fs::remove_dir_all(&data);
}
