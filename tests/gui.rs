//! The live workspace as a person sees it, rendered headless with egui_kittest on wgpu
//! (lavapipe): prepared pictures in the slots, a fixed clock, real compositor and shaders.

mod common;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use chrono::{TimeZone, Utc};
use egui_kittest::Harness;
use egui_kittest::kittest::Queryable;
use vigie::config::{Camera, StreamKind};
use vigie::media::{FrameSlot, StreamState};
use vigie::sim::{Painter, demo_cameras};
use vigie::ui::{LiveApp, LiveWorkspace, StreamProvider};

/// Sub-stream slots filled once with camsim pictures (camera 15 has lost its signal, camera
/// 16 refuses its credentials); main-stream slots start empty. Records what was asked for.
struct Prepared {
    cameras: Vec<Camera>,
    slots: Vec<Arc<FrameSlot>>,
    mains: Vec<Arc<FrameSlot>>,
    wanted: Arc<Mutex<HashSet<(String, StreamKind)>>>,
}

impl Prepared {
    fn new(cameras: Vec<Camera>) -> Prepared {
        let slots = (0..cameras.len())
            .map(|i| {
                let slot = FrameSlot::new();
                let frame = Painter::new(i as u32 + 1, 640, 360, 50).frame(12, 1_795_000_000_000);
                slot.set_decoder("avdec_h264");
                match i {
                    14 => {
                        slot.publish(frame.clone());
                        slot.set_state(StreamState::Lost {
                            since_utc_ms: 1_795_000_000_000,
                            reason: "the camera ended the stream".into(),
                        });
                    }
                    15 => slot.set_state(StreamState::Failed {
                        reason: "the camera refused the credentials (401)".into(),
                    }),
                    _ => slot.publish(frame.clone()),
                }
                slot
            })
            .collect();
        let mains = (0..cameras.len()).map(|_| FrameSlot::new()).collect();
        Prepared {
            cameras,
            slots,
            mains,
            wanted: Arc::default(),
        }
    }
}

impl StreamProvider for Prepared {
    fn want(&mut self, camera: &Camera, kind: StreamKind) -> Arc<FrameSlot> {
        let i = self
            .cameras
            .iter()
            .position(|c| c.id == camera.id)
            .unwrap_or(0);
        self.wanted
            .lock()
            .expect("lock")
            .insert((camera.id.clone(), kind));
        match kind {
            StreamKind::Sub => self.slots[i].clone(),
            StreamKind::Main => self.mains[i].clone(),
        }
    }
    fn collect(&mut self) {}
    fn active(&self) -> usize {
        self.slots.len()
    }
    fn set_waker(&mut self, _waker: Arc<dyn Fn() + Send + Sync>) {}
}

type Wanted = Arc<Mutex<HashSet<(String, StreamKind)>>>;

fn harness(cameras: Vec<Camera>) -> Harness<'static, LiveApp> {
    harness_with(cameras).0
}

fn harness_with(cameras: Vec<Camera>) -> (Harness<'static, LiveApp>, Vec<Arc<FrameSlot>>, Wanted) {
    // Overlay clocks show local time: pin the zone so the picture is the same everywhere.
    // SAFETY: set before any other thread of this test reads the environment.
    unsafe { std::env::set_var("TZ", "Europe/Paris") };
    let provider = Prepared::new(cameras.clone());
    let (mains, wanted) = (provider.mains.clone(), provider.wanted.clone());
    let ws = LiveWorkspace::new(cameras, None, Box::new(provider)).with_clock(Box::new(|| {
        Utc.with_ymd_and_hms(2026, 11, 26, 9, 30, 0)
            .single()
            .unwrap_or_default()
    }));
    let h = Harness::builder()
        .with_size([1280.0, 760.0])
        .wgpu()
        .build_eframe(move |cc| LiveApp::new(cc, ws, Vec::new()));
    (h, mains, wanted)
}

#[test]
fn a_maximised_tile_switches_to_the_main_stream_without_a_black_frame() {
    let mut cams = demo_cameras();
    cams.truncate(16);
    let (mut h, mains, wanted) = harness_with(cams);
    h.run_steps(2);
    assert_eq!(
        h.state_mut().workspace().tile_stream(0),
        Some(StreamKind::Sub)
    );
    let main_of_cam001 = ("cam001".to_owned(), StreamKind::Main);
    assert!(
        !wanted.lock().expect("lock").contains(&main_of_cam001),
        "small tiles use sub streams"
    );
    h.key_press(egui::Key::Enter);
    h.run_steps(2);
    assert_eq!(h.state_mut().workspace().maximised(), Some(0));
    // Large now: the main stream is asked for, the sub picture stays until main has one.
    assert!(wanted.lock().expect("lock").contains(&main_of_cam001));
    assert_eq!(
        h.state_mut().workspace().tile_stream(0),
        Some(StreamKind::Sub)
    );
    mains[0].publish(Painter::new(1, 1280, 720, 50).frame(0, 0));
    h.run_steps(2);
    assert_eq!(
        h.state_mut().workspace().tile_stream(0),
        Some(StreamKind::Main)
    );
}

#[test]
fn live_workspace_4x4_snapshot() {
    let mut cams = demo_cameras();
    cams.truncate(20);
    let mut h = harness(cams);
    h.run_steps(4);
    assert_eq!(h.state_mut().workspace().layout().name, "4x4");
    h.snapshot("live_workspace_4x4");
}

#[test]
fn keyboard_maximises_and_drag_and_drop_assigns_a_camera() {
    let mut cams = demo_cameras();
    cams.truncate(20);
    for c in &mut cams {
        c.zone = "Centre-ville".into(); // one zone: the tree opens by itself
    }
    let mut h = harness(cams);
    h.run_steps(2);
    h.key_press(egui::Key::ArrowRight);
    h.key_press(egui::Key::Enter);
    h.run_steps(2);
    assert_eq!(h.state_mut().workspace().maximised(), Some(1));
    h.key_press(egui::Key::Escape);
    h.run_steps(2);
    assert_eq!(h.state_mut().workspace().maximised(), None);

    // Drag cam020 from the tree onto the first tile.
    let from = h.get_by_label_contains("cam020").rect().center();
    let to = egui::pos2(400.0, 150.0);
    h.drag_at(from);
    h.run_steps(1);
    h.hover_at(egui::pos2(from.x + 30.0, from.y));
    h.run_steps(1);
    h.hover_at(to);
    h.run_steps(1);
    h.drop_at(to);
    h.run_steps(2);
    assert_eq!(h.state_mut().workspace().tile_camera(0), Some("cam020"));
}

#[test]
fn the_wall_opens_after_sign_in_with_only_the_granted_cameras_and_logs_views() {
    use egui::accesskit::Role;
    let data = std::env::temp_dir().join(format!("vigie-live-sign-in-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data);
    common::add_user(&data, "op", "operator", &["cam002", "cam003"]);
    common::add_user(&data, "rev", "reviewer", &["*"]);
    let mut cams = demo_cameras();
    cams.truncate(4);
    let provider = Prepared::new(cams.clone());
    let wanted = provider.wanted.clone();
    let ws = LiveWorkspace::new(cams.clone(), None, Box::new(provider));
    let server = common::start_server_with(&data, cams);
    let login = vigie::ui::login::LoginScreen::server(
        &common::server_url(&server),
        &common::server_ca(&data),
        "Vigie · Live",
    );
    let mut h = Harness::builder()
        .with_size([1280.0, 760.0])
        .wgpu()
        .build_eframe(move |cc| LiveApp::signing_in_with(cc, ws, login, Vec::new()));
    let sign_in = |h: &mut Harness<'static, LiveApp>, user: &str, answer: &str| {
        common::sign_in_ui(h, user, common::PASSWORD);
        let t0 = std::time::Instant::now();
        while h.state_mut().workspace().session().is_none()
            && h.query_by_label_contains(answer).is_none()
        {
            assert!(t0.elapsed().as_secs() < 20, "no answer to the sign-in");
            h.run_steps(1);
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    };
    h.run_steps(2);
    assert!(
        wanted.lock().expect("lock").is_empty(),
        "nothing decoded before sign-in"
    );
    // A reviewer has no live view.
    sign_in(&mut h, "rev", "may not");
    assert!(
        h.query_by_label_contains("rev (reviewer) may not view live video")
            .is_some()
    );
    assert!(h.state_mut().workspace().session().is_none());
    // An operator sees the cameras granted, and only those are decoded.
    let field = h.get_by_role_and_label(Role::TextInput, "User");
    field.focus();
    for _ in 0..3 {
        h.key_press(egui::Key::Backspace);
    }
    sign_in(&mut h, "op", "no such text");
    h.run_steps(3);
    assert_eq!(h.state_mut().workspace().tile_camera(0), Some("cam002"));
    assert_eq!(h.state_mut().workspace().tile_camera(1), Some("cam003"));
    assert_eq!(h.state_mut().workspace().tile_camera(2), None);
    let asked: HashSet<String> = wanted
        .lock()
        .expect("lock")
        .iter()
        .map(|(c, _)| c.clone())
        .collect();
    assert_eq!(
        asked,
        HashSet::from(["cam002".to_string(), "cam003".to_string()])
    );
    drop(h);
    common::assert_logged(
        &data,
        &[
            "rev login ",
            "op login ",
            "op live view start cam002,cam003",
            "op live view stop cam002,cam003",
        ],
    );
    let _ = std::fs::remove_dir_all(&data);
}

/// Remembers every camera a wall asks a stream of, as it was handed over.
struct Asked(Arc<Mutex<Vec<Camera>>>, Arc<Mutex<bool>>);

impl StreamProvider for Asked {
    fn want(&mut self, camera: &Camera, _kind: StreamKind) -> Arc<FrameSlot> {
        self.0.lock().expect("lock").push(camera.clone());
        FrameSlot::new()
    }
    fn collect(&mut self) {}
    fn active(&self) -> usize {
        0
    }
    fn set_waker(&mut self, _waker: Arc<dyn Fn() + Send + Sync>) {}
    fn use_relay(&mut self, _relay: Arc<dyn vigie::relay::Relay>) {
        *self.1.lock().expect("lock") = true;
    }
    fn relayed(&self) -> bool {
        *self.1.lock().expect("lock")
    }
}

#[test]
fn a_wall_signed_in_at_the_server_takes_its_cameras_and_never_their_addresses_or_passwords() {
    let data = common::test_dir("live-on-server");
    common::add_user(&data, "op", "operator", &["cam002", "cam003"]);
    let mut cams = common::site_cameras();
    cams[1].credential = Some(vigie::config::Credential {
        user: "viewer".into(),
        password: "s3cret-camera-pass".into(),
    });
    let s = vigie::server::Server::start(vigie::server::ServerOptions {
        cameras: cams,
        ..common::server_options(&data)
    })
    .expect("server");
    let asked = Arc::new(Mutex::new(Vec::new()));
    let relayed = Arc::new(Mutex::new(false));
    // No cameras file on this workstation: they come from the server at sign-in.
    let ws = LiveWorkspace::new(
        Vec::new(),
        None,
        Box::new(Asked(asked.clone(), relayed.clone())),
    )
    .cameras_from_server();
    let login = vigie::ui::login::LoginScreen::server(
        &common::server_url(&s),
        &common::server_ca(&data),
        "Vigie · Live",
    );
    let mut h = Harness::builder()
        .with_size([1280.0, 760.0])
        .wgpu()
        .build_eframe(move |cc| LiveApp::signing_in_with(cc, ws, login, Vec::new()));
    h.run_steps(2);
    common::sign_in_ui(&mut h, "op", common::PASSWORD);
    let t0 = std::time::Instant::now();
    while h.state_mut().workspace().session().is_none() {
        assert!(t0.elapsed().as_secs() < 20, "not signed in at the server");
        h.run_steps(1);
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    h.run_steps(3);
    // The granted cameras only, on the first tiles.
    assert_eq!(h.state_mut().workspace().tile_camera(0), Some("cam002"));
    assert_eq!(h.state_mut().workspace().tile_camera(1), Some("cam003"));
    assert_eq!(h.state_mut().workspace().tile_camera(2), None);
    // Its streams come through the server's live connection: no camera address, no
    // credential reaches the workstation.
    assert!(*relayed.lock().expect("lock"), "streams through the server");
    let seen = asked.lock().expect("lock").clone();
    let cam002 = seen
        .iter()
        .find(|c| c.id == "cam002")
        .expect("cam002 asked");
    assert!(cam002.credential.is_none(), "a credential handed");
    assert_eq!(cam002.main_url, vigie::server::live::RELAYED);
    assert!(!format!("{seen:?}").contains("127.0.0.1:9"), "{seen:?}");
    assert!(seen.iter().all(|c| c.id == "cam002" || c.id == "cam003"));
    drop(h);
    s.stop();
    // The views are the server's to log (as it sends them), not the wall's to report.
    common::assert_logged(&data, &["op login "]);
    assert!(
        !common::audit_lines(&data)
            .iter()
            .any(|l| l.contains("live view") || l.contains("addresses handed")),
        "{:?}",
        common::audit_lines(&data)
    );
    let store =
        vigie::store::Store::open_readonly(&data.join(vigie::store::INDEX_FILE)).expect("index");
    for (_, e, _, _) in store.audit_entries().expect("audit") {
        assert!(
            !format!("{e:?}").contains("s3cret"),
            "a password in the log: {e:?}"
        );
    }
    let _ = std::fs::remove_dir_all(&data);
}

#[test]
fn a_workstations_screens_share_one_decode_per_camera() {
    // Two screens of 16 tiles showing the same 16 cameras: 16 streams, not 32.
    let dir = std::env::temp_dir().join(format!("vigie-ws-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("dir");
    let profile = dir.join("twin.toml");
    std::fs::write(
        &profile,
        "name = \"Twin\"\n[[screen]]\nname = \"Left\"\nlayout = \"4x4\"\n[[screen]]\nname = \"Right\"\nlayout = \"4x4\"\nfirst_camera = 1\n",
    )
    .expect("profile");
    let ws_profile = vigie::config::Workstation::load(&profile).expect("profile parses");
    let mut cams = demo_cameras();
    cams.truncate(20);
    let provider = Prepared::new(cams.clone());
    let wanted = provider.wanted.clone();
    let (ws, unknown) =
        LiveWorkspace::new(cams, None, Box::new(provider)).with_workstation(&ws_profile);
    assert!(unknown.is_empty());
    assert_eq!(ws.screen_count(), 2);
    let mut h = Harness::builder()
        .with_size([1280.0, 760.0])
        .wgpu()
        .build_eframe(move |cc| LiveApp::new(cc, ws, Vec::new()));
    h.run_steps(3);
    let w = h.state_mut().workspace();
    assert!(w.set_active(1));
    assert_eq!(w.tile_camera(0), Some("cam001"));
    assert_eq!(w.tile_camera(15), Some("cam016"));
    assert_eq!(
        w.tile_stream(15),
        Some(StreamKind::Sub),
        "the second screen was drawn (a window of its own, or embedded where there is none)"
    );
    assert_eq!(
        w.streams_shown(),
        16,
        "the second screen drew the same 16 streams"
    );
    let asked: HashSet<String> = wanted
        .lock()
        .expect("lock")
        .iter()
        .map(|(c, _)| c.clone())
        .collect();
    assert_eq!(asked.len(), 16, "one stream per camera for both screens");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_salvo_saved_by_a_user_puts_its_cameras_back_on_every_screen() {
    let data = std::env::temp_dir().join(format!("vigie-salvo-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&data);
    common::add_user(&data, "sup", "supervisor", &["*"]);
    let profile = vigie::config::builtin_workstations()
        .into_iter()
        .find(|w| w.name == "Operator station")
        .expect("shipped profile");
    let mut cams = demo_cameras();
    cams.truncate(40);
    // The views are kept by the site server, per user.
    let server = common::start_server_with(&data, cams.clone());
    let make = |cams: Vec<Camera>| {
        let provider = Prepared::new(cams.clone());
        let (mut ws, _) =
            LiveWorkspace::new(cams, None, Box::new(provider)).with_workstation(&profile);
        common::wall_signed_in(&mut ws, &server, &data, "sup");
        let mut h = Harness::builder()
            .with_size([1280.0, 760.0])
            .wgpu()
            .build_eframe(move |cc| LiveApp::new(cc, ws, Vec::new()));
        h.run_steps(2);
        h
    };
    let mut h = make(cams.clone());
    let w = h.state_mut().workspace();
    assert!(w.set_active(1));
    assert!(w.assign(0, "cam033"));
    w.save_view("Incident gare", true).expect("saved");
    // Somebody rearranges both screens...
    assert!(w.assign(0, "cam001"));
    assert!(w.set_active(0));
    assert!(w.assign(5, "cam040"));
    let t0 = std::time::Instant::now();
    while h.state_mut().workspace().saved_views().is_empty() {
        assert!(t0.elapsed().as_secs() < 10, "the salvo was not saved");
        h.run_steps(1);
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    drop(h);
    // ...and later, in another session, one action puts everything back.
    let mut h = make(cams);
    let t0 = std::time::Instant::now();
    while h.state_mut().workspace().saved_views().is_empty() {
        assert!(t0.elapsed().as_secs() < 10, "the salvo was not read back");
        h.run_steps(1);
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let w = h.state_mut().workspace();
    let salvo = w.saved_views().remove(0);
    assert!(salvo.is_salvo() && salvo.name == "Incident gare");
    assert!(w.apply_view(&salvo).is_empty());
    assert!(w.set_active(1));
    assert_eq!(w.tile_camera(0), Some("cam033"));
    assert_eq!(w.layout().name, "1 large + 12 small");
    assert!(w.set_active(0));
    assert_eq!(w.tile_camera(5), Some("cam006"));
    drop(h);
    let _ = std::fs::remove_dir_all(&data);
}

#[test]
fn wall_commands_and_saved_views_go_through_the_server() {
    use vigie::client::wall::WallCommand;
    let data = common::test_dir("wall-on-server");
    common::add_user(&data, "op", "operator", &["cam002", "cam003"]);
    common::add_user(&data, "chef", "supervisor", &["*"]);
    common::add_user(&data, "op2", "operator", &["cam001"]);
    let s = common::start_server(&data);
    let profile = vigie::config::builtin_workstations()
        .into_iter()
        .find(|w| w.name == "Operator station")
        .expect("shipped profile");
    // The operator's desk: the shipped profile, on the cameras the server hands its user.
    let ws = LiveWorkspace::new(
        Vec::new(),
        None,
        Box::new(Asked(Arc::default(), Arc::default())),
    )
    .cameras_from_server()
    .with_profile(&profile)
    .named("poste-2");
    let login = vigie::ui::login::LoginScreen::server(
        &common::server_url(&s),
        &common::server_ca(&data),
        "Vigie · Live",
    );
    let mut h = Harness::builder()
        .with_size([1280.0, 760.0])
        .wgpu()
        .build_eframe(move |cc| LiveApp::signing_in_with(cc, ws, login, Vec::new()));
    h.run_steps(2);
    common::sign_in_ui(&mut h, "op", common::PASSWORD);
    let t0 = std::time::Instant::now();
    while !h.state_mut().workspace().takes_wall_commands() {
        assert!(
            t0.elapsed().as_secs() < 20,
            "the wall does not take commands"
        );
        h.run_steps(1);
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // The supervisor, on another workstation, sees the desk and sends it a camera and a layout.
    let chef = common::signed_in(&s, &data, "chef");
    let walls = chef.connected_walls().expect("walls");
    assert_eq!(
        walls
            .iter()
            .map(|w| (w.workstation.as_str(), w.user.as_str()))
            .collect::<Vec<_>>(),
        [("poste-2", "op")]
    );
    let command = WallCommand {
        screen: "Incident".into(),
        camera: Some("cam003".into()),
        tile: Some(0),
        layout: Some("2x2".into()),
        by: String::new(),
    };
    assert_eq!(
        chef.send_wall_command("poste-2", &command)
            .expect("sent")
            .delivered,
        1
    );
    let t0 = std::time::Instant::now();
    loop {
        h.run_steps(1);
        let w = h.state_mut().workspace();
        assert!(w.set_active(1));
        if w.tile_camera(0) == Some("cam003") {
            assert_eq!(w.layout().name, "2x2");
            break;
        }
        assert!(t0.elapsed().as_secs() < 10, "the command was not applied");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    // Refused: a camera the desk's user may not see; a workstation not signed in; a sender
    // not granted the camera.
    let refused = |api: &vigie::client::Api, to: &str, camera: &str| {
        let e = api
            .send_wall_command(
                to,
                &WallCommand {
                    camera: Some(camera.into()),
                    ..command.clone()
                },
            )
            .expect_err("refused");
        (e.status(), e.to_string())
    };
    let (status, e) = refused(&chef, "poste-2", "cam001");
    assert_eq!(status, Some(403), "{e}");
    assert!(e.contains("may not see"), "{e}");
    let (status, e) = refused(&chef, "poste-9", "cam002");
    assert_eq!(status, Some(404), "{e}");
    assert!(e.contains("poste-9"), "{e}");
    let op2 = common::signed_in(&s, &data, "op2");
    let (status, e) = refused(&op2, "poste-2", "cam002");
    assert_eq!(status, Some(403), "{e}");
    // A saved view goes to the server and comes back from it.
    let w = h.state_mut().workspace();
    w.save_view("Gare", false).expect("saved");
    let t0 = std::time::Instant::now();
    while h.state_mut().workspace().saved_views().is_empty() {
        assert!(t0.elapsed().as_secs() < 10, "the view was not read back");
        h.run_steps(1);
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let op = common::signed_in(&s, &data, "op");
    let views: Vec<vigie::client::views::SavedView> = op.get("/v1/views").expect("views");
    assert_eq!(views.len(), 1);
    assert_eq!(views[0].name, "Gare");
    assert_eq!(views[0].screens[0].screen, "Incident");
    assert_eq!(views[0].screens[0].cameras[0].as_deref(), Some("cam003"));
    // Each user has their own.
    let theirs: Vec<vigie::client::views::SavedView> = chef.get("/v1/views").expect("views");
    assert!(theirs.is_empty());
    drop(h);
    s.stop();
    common::assert_logged(
        &data,
        &[
            "op wall control opened ",
            "chef wall command sent cam003",
            "op wall command received cam003",
            "chef refused cam001",
            "op2 refused cam002",
        ],
    );
    let _ = std::fs::remove_dir_all(&data);
}

#[test]
fn a_minimised_screen_asks_for_no_video() {
    let mut cams = demo_cameras();
    cams.truncate(16);
    let provider = Prepared::new(cams.clone());
    let ws = LiveWorkspace::new(cams, None, Box::new(provider));
    let mut h = Harness::builder()
        .with_size([1280.0, 760.0])
        .wgpu()
        .build_eframe(move |cc| LiveApp::new(cc, ws, Vec::new()));
    h.run_steps(2);
    assert_eq!(h.state_mut().workspace().streams_shown(), 16);
    h.input_mut()
        .viewports
        .entry(egui::ViewportId::ROOT)
        .or_default()
        .minimized = Some(true);
    h.run_steps(2);
    assert_eq!(
        h.state_mut().workspace().streams_shown(),
        0,
        "minimised: no stream is asked for (the stream manager stops them after its grace)"
    );
    h.input_mut()
        .viewports
        .entry(egui::ViewportId::ROOT)
        .or_default()
        .minimized = Some(false);
    h.run_steps(2);
    assert_eq!(h.state_mut().workspace().streams_shown(), 16);
}
