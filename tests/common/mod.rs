//! Helpers shared by the integration tests (each test file uses some of them).
#![allow(dead_code)]

use gstreamer as gst;
use gstreamer::prelude::*;
use gstreamer_app as gst_app;
use vigie::record::fmp4::VideoCodec;

/// Encoded pictures.
pub struct Encoded {
    pub decoder_config: Vec<u8>,
    /// Access units (length-prefixed NAL units) and whether each is a keyframe.
    pub units: Vec<(Vec<u8>, bool)>,
}

/// `frames` pictures of 320x240 at 25 fps in GOPs of `gop`.
pub fn encode_clip(codec: VideoCodec, frames: u32, gop: u32) -> Encoded {
    gst::init().expect("gstreamer");
    let (enc, parse, caps) = match codec {
        VideoCodec::H264 => (
            format!("x264enc key-int-max={gop} tune=zerolatency speed-preset=ultrafast"),
            "h264parse",
            "video/x-h264,stream-format=avc,alignment=au",
        ),
        VideoCodec::H265 => (
            format!("x265enc key-int-max={gop} tune=zerolatency speed-preset=ultrafast"),
            "h265parse",
            "video/x-h265,stream-format=hvc1,alignment=au",
        ),
    };
    let launch = format!(
        "videotestsrc num-buffers={frames} pattern=ball ! video/x-raw,format=I420,width=320,height=240,framerate=25/1 ! {enc} ! {parse} ! {caps} ! appsink name=sink sync=false"
    );
    let p = gst::parse::launch(&launch)
        .expect("pipeline")
        .downcast::<gst::Pipeline>()
        .expect("pipeline");
    let sink = p
        .by_name("sink")
        .expect("sink")
        .downcast::<gst_app::AppSink>()
        .expect("appsink");
    p.set_state(gst::State::Playing).expect("play");
    let mut units = Vec::new();
    let mut config = Vec::new();
    while let Ok(sample) = sink.pull_sample() {
        if config.is_empty() {
            let s = sample
                .caps()
                .expect("caps")
                .structure(0)
                .expect("structure")
                .to_owned();
            let cd = s.get::<gst::Buffer>("codec_data").expect("codec_data");
            config = cd.map_readable().expect("map").to_vec();
        }
        let b = sample.buffer().expect("buffer");
        units.push((
            b.map_readable().expect("map").to_vec(),
            !b.flags().contains(gst::BufferFlags::DELTA_UNIT),
        ));
    }
    p.set_state(gst::State::Null).expect("stop");
    Encoded {
        decoder_config: config,
        units,
    }
}

/// A simulator on a free loopback port with `cameras` cameras and a keyframe a second: `live`
/// paints and encodes each picture as it is sent (exact timecodes, 640x360), otherwise it loops
/// pre-encoded 1280x720 clips (cheap).
pub fn camsim(cameras: u32, live: bool) -> vigie::sim::CamSim {
    use vigie::sim::{CamSim, CamSimOptions, EncodeMode};
    let base = CamSimOptions {
        cameras,
        listen: std::net::SocketAddr::from(([127, 0, 0, 1], 0)),
        gop: 25,
        ..CamSimOptions::default()
    };
    CamSim::start(if live {
        CamSimOptions {
            encode: EncodeMode::Live,
            main_size: (640, 360),
            main_kbps: 800,
            ..base
        }
    } else {
        CamSimOptions {
            encode: EncodeMode::Loop,
            ..base
        }
    })
    .expect("camsim")
}

/// An empty folder for one test, named after it and this process.
pub fn test_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("vigie-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("test folder");
    dir
}

/// The simulator's cameras file, written into `dir`.
pub fn cameras_file(sim: &vigie::sim::CamSim, dir: &std::path::Path) -> std::path::PathBuf {
    let file = dir.join("cameras.toml");
    std::fs::write(
        &file,
        vigie::config::CamerasFile::to_toml(&sim.cameras(), None),
    )
    .expect("cameras file");
    file
}

/// `vigie recorder` with segments of `segment_seconds`, its output discarded, and `extra`
/// arguments.
pub fn spawn_recorder(
    cameras: &std::path::Path,
    data: &std::path::Path,
    segment_seconds: u32,
    extra: &[&std::ffi::OsStr],
) -> std::process::Child {
    std::process::Command::new(env!("CARGO_BIN_EXE_vigie"))
        .args([
            "recorder",
            "--segment-seconds",
            &segment_seconds.to_string(),
            "--cameras",
        ])
        .arg(cameras)
        .arg("--data")
        .arg(data)
        .args(extra)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("recorder starts")
}

/// How many closed segments of `camera` the index in `data` holds (0 before it exists).
pub fn segment_count(data: &std::path::Path, camera: &str) -> usize {
    vigie::store::Store::open_readonly(&data.join(vigie::store::INDEX_FILE))
        .and_then(|store| store.segments(camera, 0, i64::MAX / 2))
        .map_or(0, |s| s.len())
}

/// Waits until the index in `data` holds at least `n` closed segments of `camera`, checking
/// every 200 ms; panics naming the camera after `limit` (a loaded machine starts cameras late).
pub fn wait_for_segments(
    data: &std::path::Path,
    camera: &str,
    n: usize,
    limit: std::time::Duration,
) {
    let t0 = std::time::Instant::now();
    loop {
        let have = segment_count(data, camera);
        if have >= n {
            return;
        }
        assert!(
            t0.elapsed() < limit,
            "{camera}: {have} of {n} segments within {limit:?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

/// SIGTERM to a recorder this test started; it must close its segments and exit 0.
pub fn terminate(mut child: std::process::Child) {
    // SAFETY: signals the child this test started, by its id.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().expect("recorder exits");
    assert!(status.success(), "recorder exit status {status}");
}

/// The password of every user the tests add.
pub const PASSWORD: &str = "a long test password";

/// Adds `name` with `role` and the cameras `cameras` (ids or `*`) to the index at `data`.
pub fn add_user(data: &std::path::Path, name: &str, role: &str, cameras: &[&str]) {
    std::fs::create_dir_all(data).expect("data folder");
    let store =
        vigie::store::Store::open(&data.join(vigie::store::INDEX_FILE)).expect("index opens");
    let hash = vigie::auth::hash_password(PASSWORD).expect("hash");
    let cameras: Vec<String> = cameras.iter().map(|c| c.to_string()).collect();
    store
        .add_user(name, role, &hash, &cameras, 0)
        .expect("user added");
}

/// `vigie ARGS --user USER --password-stdin`, the password written on its standard input:
/// (success, stdout, stderr).
pub fn vigie_as<I, S>(user: &str, args: I) -> (bool, String, String)
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_vigie"));
    cmd.args(args).args(["--user", user, "--password-stdin"]);
    run_with_input(&mut cmd, &format!("{PASSWORD}\n"))
}

/// Runs `cmd` with `input` on its standard input; (success, stdout, stderr).
pub fn run_with_input(cmd: &mut std::process::Command, input: &str) -> (bool, String, String) {
    use std::io::Write;
    let mut child = cmd
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the command runs");
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(input.as_bytes());
    }
    let out = child.wait_with_output().expect("the command exits");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// One second, in nanoseconds.
pub const CLIP_S: i64 = 1_000_000_000;
/// 2026-11-26 09:30:00 UTC (10:30 in Paris): where [`clip_recording`] starts.
pub const CLIP_T0: i64 = 1_795_685_400 * CLIP_S;

/// A recording as the recorder writes it, from a deterministic clip (320x240, a white disc moving
/// on black, 25 fps, a keyframe a second) from [`CLIP_T0`]: two cameras, cam001 and cam002,
/// with 6 s of the clip in 2 s segments, a 4 s gap, then 6 s more; an event, a bookmark and a
/// hold.
pub fn clip_recording(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("vigie-review-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    let clip = encode_clip(vigie::record::fmp4::VideoCodec::H264, 150, 25);
    let track = vigie::record::fmp4::TrackConfig {
        codec: vigie::record::fmp4::VideoCodec::H264,
        width: 320,
        height: 240,
        decoder_config: clip.decoder_config.clone(),
    };
    let index =
        vigie::store::IndexWriter::spawn(&dir.join(vigie::store::INDEX_FILE)).expect("index");
    for (cam, name) in [
        ("cam001", "Place d'Armes - nord"),
        ("cam002", "Rue Delsaux"),
    ] {
        let mut row = vigie::store::CameraRow::new(cam, name);
        row.zone = "Centre-ville".into();
        index.send(vigie::store::WriteOp::Camera(row));
        for (run_start, units) in [
            (CLIP_T0, &clip.units[..150]),
            (CLIP_T0 + 10 * CLIP_S, &clip.units[..150]),
        ] {
            let mut seg = None::<vigie::record::segment::SegmentWriter>;
            for (i, (data, key)) in units.iter().enumerate() {
                let at = run_start + i as i64 * 40_000_000;
                if *key && seg.as_ref().is_none_or(|s| s.duration_ns() >= 2 * CLIP_S) {
                    if let Some(s) = seg.take() {
                        index.send(vigie::store::WriteOp::Segment(s.finish().expect("finish")));
                    }
                    seg = Some(
                        vigie::record::segment::SegmentWriter::create(
                            &dir,
                            cam,
                            at,
                            &track,
                            vigie::store::TimeSource::Rtcp,
                        )
                        .expect("segment"),
                    );
                }
                if let Some(s) = seg.as_mut() {
                    s.push(data, 3600, *key).expect("push");
                }
            }
            if let Some(s) = seg.take() {
                index.send(vigie::store::WriteOp::Segment(s.finish().expect("finish")));
            }
        }
        index.send(vigie::store::WriteOp::Gap {
            camera_id: cam.into(),
            span: vigie::store::Span {
                start_utc_ns: CLIP_T0 + 6 * CLIP_S,
                end_utc_ns: CLIP_T0 + 10 * CLIP_S,
            },
            cause: "no data for 5 s".into(),
        });
        index.send(vigie::store::WriteOp::Event {
            camera_id: Some(cam.into()),
            at_utc_ns: CLIP_T0 + 12 * CLIP_S,
            kind: "motion".into(),
            detail: String::new(),
        });
    }
    assert!(index.flush());
    drop(index);
    let store = vigie::store::Store::open(&dir.join(vigie::store::INDEX_FILE)).expect("store");
    store
        .add_bookmark(&vigie::store::Bookmark {
            id: 0,
            camera_id: "cam001".into(),
            at_utc_ns: CLIP_T0 + 3 * CLIP_S,
            note: "person at the door".into(),
            author: "reviewer".into(),
            created_utc_ns: CLIP_T0 + 100 * CLIP_S,
        })
        .expect("bookmark");
    store
        .add_hold(&vigie::store::Hold {
            id: 0,
            camera_id: "cam001".into(),
            span: vigie::store::Span {
                start_utc_ns: CLIP_T0 + 11 * CLIP_S,
                end_utc_ns: CLIP_T0 + 14 * CLIP_S,
            },
            procedure: "PV 2026/1234".into(),
            reason: "requisition".into(),
            author: "reviewer".into(),
            created_utc_ns: CLIP_T0 + 100 * CLIP_S,
            expires_utc_ns: CLIP_T0 + 400 * 86_400 * CLIP_S,
            released_utc_ns: None,
        })
        .expect("hold");
    dir
}

/// The audit log of the index at `data`, one "user action cameras" line per entry.
pub fn audit_lines(data: &std::path::Path) -> Vec<String> {
    vigie::store::Store::open_readonly(&data.join(vigie::store::INDEX_FILE))
        .expect("index")
        .audit_entries()
        .expect("audit")
        .into_iter()
        .map(|(_, e, _, _)| format!("{} {} {}", e.user, e.action, e.cameras))
        .collect()
}

/// Each of `want` ("user action cameras") is an entry of the audit log at `data`.
pub fn assert_logged(data: &std::path::Path, want: &[&str]) {
    let log = audit_lines(data);
    for w in want {
        assert!(log.iter().any(|l| l == w), "{w:?} not in {log:?}");
    }
}

/// Types `user` and `password` into a sign-in screen and presses "Sign in".
pub fn sign_in_ui<S>(h: &mut egui_kittest::Harness<'_, S>, user: &str, password: &str) {
    use egui::accesskit::Role;
    use egui_kittest::kittest::Queryable;
    let field = h.get_by_role_and_label(Role::TextInput, "User");
    field.focus();
    field.type_text(user);
    h.run_steps(1);
    let pw = h.get_by_role_and_label(Role::PasswordInput, "Password");
    pw.focus();
    pw.type_text(password);
    h.run_steps(1);
    h.get_by_role_and_label(Role::Button, "Sign in").click();
    h.run_steps(2);
}

/// Streams for the live workspace without a network: each camera's slot, given (the cameras'
/// order); a camera not listed gets the first.
pub struct Slots(
    pub Vec<vigie::config::Camera>,
    pub Vec<std::sync::Arc<vigie::media::FrameSlot>>,
);

impl vigie::ui::StreamProvider for Slots {
    fn want(
        &mut self,
        camera: &vigie::config::Camera,
        _kind: vigie::config::StreamKind,
    ) -> std::sync::Arc<vigie::media::FrameSlot> {
        let i = self.0.iter().position(|c| c.id == camera.id).unwrap_or(0);
        self.1[i].clone()
    }
    fn collect(&mut self) {}
    fn active(&self) -> usize {
        self.1.len()
    }
    fn set_waker(&mut self, _waker: std::sync::Arc<dyn Fn() + Send + Sync>) {}
}

/// Three simulated cameras (addresses that answer nothing): what a test server serves.
pub fn site_cameras() -> Vec<vigie::config::Camera> {
    let demo = vigie::sim::demo_cameras();
    (1..=3)
        .map(|n| vigie::sim::sim_camera(n, "127.0.0.1:9", &demo))
        .collect()
}

/// The options of a test server on a free loopback port, without recorder or event service.
pub fn server_options(data: &std::path::Path) -> vigie::server::ServerOptions {
    vigie::server::ServerOptions {
        data: data.to_owned(),
        cameras: site_cameras(),
        record: false,
        record_only: Vec::new(),
        recorder: Default::default(),
        listen: "127.0.0.1:0".parse().expect("addr"),
        names: vec!["localhost".into(), "127.0.0.1".into()],
        tls: None,
        events: None,
        sessions: vigie::server::sessions::SessionLimits::default(),
    }
}

/// A site server over `data` (see [`server_options`]).
pub fn start_server(data: &std::path::Path) -> vigie::server::Server {
    vigie::server::Server::start(server_options(data)).expect("server starts")
}

pub fn server_url(s: &vigie::server::Server) -> String {
    format!("https://127.0.0.1:{}", s.addr().port())
}

/// The site CA the server made in `data`.
pub fn server_ca(data: &std::path::Path) -> Vec<u8> {
    std::fs::read(data.join(vigie::server::pki::CA_FILE)).expect("CA file")
}

/// A client of `s`, `user` signed in with [`PASSWORD`].
pub fn signed_in(
    s: &vigie::server::Server,
    data: &std::path::Path,
    user: &str,
) -> vigie::client::Api {
    let mut api = vigie::client::Api::new(&server_url(s), &server_ca(data)).expect("client");
    api.sign_in(user, PASSWORD).expect("sign-in");
    api
}

/// The independent checks an export's README describes: (`sha256sum -c SHA256SUMS`, `openssl
/// pkeyutl -verify` of the manifest's signature by the key shipped beside it).
pub fn outside_checks(dir: &std::path::Path) -> (bool, bool) {
    let run = |cmd: &mut std::process::Command| {
        let out = cmd.output().expect("runs");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
        )
    };
    let sums = run(std::process::Command::new("sha256sum")
        .args(["-c", "--quiet", "SHA256SUMS"])
        .current_dir(dir))
    .0;
    let (sig, out) = run(std::process::Command::new("openssl")
        .args([
            "pkeyutl",
            "-verify",
            "-pubin",
            "-inkey",
            "signing-key.pub.pem",
            "-rawin",
            "-in",
            "manifest.json",
            "-sigfile",
            "manifest.json.sig",
        ])
        .current_dir(dir));
    (sums, sig && out.contains("Signature Verified Successfully"))
}

/// `vigie ARGS --user USER --password-stdin` run as the unprivileged `nobody` (when this test
/// runs as root): a workstation's user, who cannot read the server's data folder. `home` is
/// its HOME. Answers (success, stdout, stderr).
pub fn vigie_as_nobody<I, S>(home: &std::path::Path, user: &str, args: I) -> (bool, String, String)
where
    I: IntoIterator<Item = S>,
    S: AsRef<std::ffi::OsStr>,
{
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    let mut cmd = if root {
        let mut c = std::process::Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(env!("CARGO_BIN_EXE_vigie"));
        c
    } else {
        std::process::Command::new(env!("CARGO_BIN_EXE_vigie"))
    };
    cmd.args(args)
        .args(["--user", user, "--password-stdin"])
        .env("HOME", home)
        .env_remove("XDG_CONFIG_HOME");
    run_with_input(&mut cmd, &format!("{PASSWORD}\n"))
}

/// Waits until `cond` holds, checking every 50 ms; panics naming `what` after 30 s.
pub fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let t0 = std::time::Instant::now();
    while !cond() {
        assert!(
            t0.elapsed() < std::time::Duration::from_secs(30),
            "no {what} within 30 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// A site server over `data` serving `cameras` (see [`server_options`]).
pub fn start_server_with(
    data: &std::path::Path,
    cameras: Vec<vigie::config::Camera>,
) -> vigie::server::Server {
    vigie::server::Server::start(vigie::server::ServerOptions {
        cameras,
        ..server_options(data)
    })
    .expect("server starts")
}

/// `user` signed in at `s` with [`PASSWORD`]: the connection and the session the server gave.
pub fn session_at(
    s: &vigie::server::Server,
    data: &std::path::Path,
    user: &str,
) -> (std::sync::Arc<vigie::client::Api>, vigie::auth::Session) {
    let mut api = vigie::client::Api::new(&server_url(s), &server_ca(data)).expect("client");
    let info = api.sign_in(user, PASSWORD).expect("sign-in");
    let session = vigie::auth::Session {
        user: info.user,
        role: vigie::auth::Role::parse(&info.role).expect("a known role"),
        cameras: info.cameras,
    };
    (std::sync::Arc::new(api), session)
}

/// Signs `wall` in at `s` as `user`, keeping the wall's own cameras.
pub fn wall_signed_in(
    wall: &mut vigie::ui::LiveWorkspace,
    s: &vigie::server::Server,
    data: &std::path::Path,
    user: &str,
) {
    let (api, session) = session_at(s, data, user);
    wall.sign_in_at_server(session, api, Vec::new())
        .expect("the wall signs in");
}

/// The review workspace on `s` for `user`, the playhead at `at_utc_ns`.
pub fn review_at(
    s: &vigie::server::Server,
    data: &std::path::Path,
    user: &str,
    at_utc_ns: i64,
) -> vigie::ui::ReviewWorkspace {
    let (api, session) = session_at(s, data, user);
    let cameras = api.cameras().expect("cameras");
    vigie::ui::ReviewWorkspace::on_server(api, cameras, Some(at_utc_ns), session)
        .expect("the review opens")
}

/// `vigie check --hash` over `data` passes: every row's file there, whole, hashes matching,
/// no file without a row.
pub fn assert_check_clean(data: &std::path::Path) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_vigie"))
        .args(["check", "--hash", "--data"])
        .arg(data)
        .output()
        .expect("check");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}
