//! The `vigie` binary as installers and scripts use it: camsim with credentials and
//! --write-config, `vigie still` through the decode and GPU path, clear errors.

mod common;

use std::io::Write;
use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use vigie::config::CamerasFile;
use vigie::sim::camera_rgb;

const SECRET: &str = "s3cret-Pw";

struct Sim(Child);
impl Drop for Sim {
    fn drop(&mut self) {
        if let Some(stdin) = self.0.stdin.as_mut() {
            let _ = writeln!(stdin, "quit");
        }
        let t0 = Instant::now();
        while t0.elapsed() < Duration::from_secs(3) {
            if let Ok(Some(_)) = self.0.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn vigie() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_vigie"));
    c.env("RUST_LOG", "debug");
    c
}

fn start_camsim(dir: &Path) -> (Sim, String) {
    let port = TcpListener::bind("127.0.0.1:0")
        .expect("port")
        .local_addr()
        .expect("addr")
        .port();
    let addr = format!("127.0.0.1:{port}");
    let config = dir.join("cameras.toml");
    let child = vigie()
        .args([
            "camsim",
            "--cameras",
            "2",
            "--listen",
            &addr,
            "--encode",
            "live",
            "--auth-user",
            "operator",
        ])
        .args(["--write-config", config.to_str().expect("utf-8 path")])
        .env("VIGIE_CAMSIM_PASSWORD", SECRET)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("camsim starts");
    let sim = Sim(child);
    let t0 = Instant::now();
    while !config.exists() || std::net::TcpStream::connect(&addr).is_err() {
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "camsim did not come up"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(200));
    (sim, addr)
}

fn tempdir(name: &str) -> std::path::PathBuf {
    let d = std::env::temp_dir().join(format!("vigie-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

#[test]
fn camsim_config_and_still_with_credentials() {
    let dir = tempdir("still");
    let (_sim, addr) = start_camsim(&dir);

    // The written cameras file loads, references its credentials and holds no password.
    let text = std::fs::read_to_string(dir.join("cameras.toml")).expect("cameras file");
    assert!(!text.contains(SECRET));
    let file = CamerasFile::load(&dir.join("cameras.toml")).expect("valid cameras file");
    assert_eq!(file.cameras.len(), 2);
    assert_eq!(
        file.cameras[1].main_url,
        format!("rtsp://{addr}/cam002/main")
    );
    assert_eq!(
        file.cameras[1]
            .credential
            .as_ref()
            .map(|c| c.password.as_str()),
        Some(SECRET)
    );

    // A still of cam002's main stream, at the stream's resolution, in cam002's colour.
    let out = dir.join("cam002.png");
    let r = vigie()
        .args([
            "still",
            "--url",
            &format!("rtsp://{addr}/cam002/main"),
            "--camera-user",
            "operator",
            "--out",
        ])
        .arg(&out)
        .env("VIGIE_CAMERA_PASSWORD", SECRET)
        .output()
        .expect("still runs");
    let log = String::from_utf8_lossy(&r.stderr);
    assert!(r.status.success(), "{log}");
    assert!(!log.contains(SECRET), "the password appeared in the log");
    let decoder = png::Decoder::new(std::io::BufReader::new(
        std::fs::File::open(&out).expect("png"),
    ));
    let mut reader = decoder.read_info().expect("png header");
    let mut buf = vec![0; reader.output_buffer_size().expect("size")];
    let info = reader.next_frame(&mut buf).expect("png data");
    assert_eq!((info.width, info.height), (1280, 720));
    let px = |x: usize, y: usize| {
        let i = (y * 1280 + x) * 3;
        [buf[i], buf[i + 1], buf[i + 2]]
    };
    let got = px(640, 200);
    let want = camera_rgb(2);
    for c in 0..3 {
        assert!(
            (got[c] as i32 - want[c] as i32).abs() <= 10,
            "{got:?} vs {want:?}"
        );
    }

    // A wrong password is refused with a clear message that does not echo it.
    let r = vigie()
        .args([
            "still",
            "--url",
            &format!("rtsp://operator:wrong-Pw@{addr}/cam001/sub"),
            "--timeout",
            "10",
            "--out",
        ])
        .arg(dir.join("no.png"))
        .output()
        .expect("still runs");
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(!r.status.success());
    assert!(err.contains("401") && err.contains("credentials"), "{err}");
    assert!(!err.contains("wrong-Pw") && !err.contains(SECRET), "{err}");
    assert!(!dir.join("no.png").exists());
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn bad_input_gets_a_clear_error() {
    let dir = tempdir("bad");
    let bad = dir.join("cams.toml");
    std::fs::write(&bad, "[[camera]]\nid = \"c1\"\nname = \"x\"\nlatitude = 50.0\nlongitude = 3.5\nkind = \"drone\"\nmain_url = \"rtsp://h/x\"\n")
        .expect("write");
    let r = vigie()
        .args(["live", "--cameras"])
        .arg(&bad)
        .arg("--data")
        .arg(&dir)
        .output()
        .expect("runs");
    let err = String::from_utf8_lossy(&r.stderr);
    assert!(!r.status.success());
    assert!(err.contains("cams.toml:6") && err.contains("kind"), "{err}");

    let r = vigie()
        .args(["camsim", "--cameras", "0"])
        .output()
        .expect("runs");
    assert!(!r.status.success());
    assert!(String::from_utf8_lossy(&r.stderr).contains("--cameras"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn recordings_lists_a_cameras_segments_as_json() {
    use vigie::store::{
        CameraRow, INDEX_FILE, IndexWriter, Keyframe, SegmentRow, WriteOp, encode_keyframes,
    };
    let dir = tempdir("recordings");
    let w = IndexWriter::spawn(&dir.join(INDEX_FILE)).expect("index");
    for id in ["cam001", "cam002"] {
        w.send(WriteOp::Camera(CameraRow::new(id, id)));
    }
    // 2026-11-26T10:00:00Z, three 60 s segments of cam001 and one of cam002.
    let t0: i64 = 1_795_687_200 * 1_000_000_000;
    for (cam, i) in [("cam001", 0), ("cam001", 1), ("cam001", 2), ("cam002", 0)] {
        let start = t0 + i * 60_000_000_000;
        w.send(WriteOp::Segment(SegmentRow {
            camera_id: cam.into(),
            start_utc_ns: start,
            end_utc_ns: start + 60_000_000_000,
            path: format!("{cam}/{i}.mp4"),
            bytes: 1000 + i as u64,
            sha256: [0xab; 32],
            codec: "h264".into(),
            keyframes: encode_keyframes(&[Keyframe {
                time_90k: 0,
                offset: 40,
            }]),
            time_source: vigie::store::TimeSource::Rtcp,
        }));
    }
    assert!(w.flush());
    drop(w);
    common::add_user(&dir, "rev", "reviewer", &["cam001"]);
    common::add_user(&dir, "dpo", "auditor", &[]);
    let recordings = |user: &str, args: &[&str]| {
        common::vigie_as(
            user,
            ["recordings"]
                .iter()
                .chain(args)
                .map(std::ffi::OsString::from)
                .chain(["--data".into(), dir.clone().into_os_string()]),
        )
    };
    let (ok, _, err) = recordings(
        "rev",
        &[
            "--camera",
            "cam001",
            "--from",
            "2026-11-26T10:00:30Z",
            "--to",
            "2026-11-26T11:00:00+01:00",
            "--json",
        ],
    );
    // 11:00+01:00 is 10:00Z, before --from: refused, with the reason.
    assert!(!ok);
    assert!(err.contains("--from must be before --to"), "{err}");
    let range = [
        "--from",
        "2026-11-26T10:00:30Z",
        "--to",
        "2026-11-26T10:02:00Z",
        "--json",
    ];
    let (ok, out, err) = recordings("rev", &[&["--camera", "cam001"][..], &range].concat());
    assert!(ok, "{err}");
    let rows: Vec<serde_json::Value> = serde_json::from_str(&out).expect("JSON array");
    let starts: Vec<&str> = rows
        .iter()
        .map(|v| v["start"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(
        starts,
        ["2026-11-26T10:00:00.000Z", "2026-11-26T10:01:00.000Z"]
    );
    assert_eq!(rows[1]["end"], "2026-11-26T10:02:00.000Z");
    assert_eq!(rows[1]["bytes"], 1001);
    assert_eq!(rows[1]["sha256"], "ab".repeat(32));
    assert_eq!(rows[0]["path"], "cam001/0.mp4");
    // The auditor keeps the register: may list; the reviewer may not see cam002.
    let (ok, out, err) = recordings("dpo", &[&["--camera", "cam002"][..], &range].concat());
    assert!(ok, "{err}");
    assert!(out.contains("cam002/0.mp4"), "{out}");
    let (ok, _, err) = recordings("rev", &[&["--camera", "cam002"][..], &range].concat());
    assert!(
        !ok && err.contains("rev may not see camera cam002"),
        "{err}"
    );
    // A wrong password: refused, and the attempt logged.
    let r = vigie()
        .args([
            "recordings",
            "--camera",
            "cam001",
            "--user",
            "rev",
            "--password-stdin",
            "--data",
        ])
        .arg(&dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            writeln!(c.stdin.take().expect("stdin"), "not the password")?;
            c.wait_with_output()
        })
        .expect("runs");
    assert!(!r.status.success());
    assert!(
        String::from_utf8_lossy(&r.stderr).contains("sign-in refused for rev"),
        "{}",
        String::from_utf8_lossy(&r.stderr)
    );

    let (ok, _, err) = recordings("rev", &["--camera", "cam001", "--from", "yesterday"]);
    assert!(!ok);
    assert!(err.contains("--from"), "{err}");
    let log = vigie::store::Store::open(&dir.join(INDEX_FILE))
        .expect("index")
        .audit_entries()
        .expect("audit");
    let seen: Vec<String> = log
        .iter()
        .map(|(_, e, _, _)| format!("{} {} {}", e.user, e.action, e.cameras))
        .collect();
    for want in [
        "rev login ",
        "rev recordings listed cam001",
        "dpo recordings listed cam002",
        "rev refused cam002",
        "rev login failed ",
    ] {
        assert!(seen.iter().any(|l| l == want), "{want:?} not in {seen:?}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn check_finds_every_broken_invariant() {
    use vigie::record::check::sha256_file;
    use vigie::record::fmp4::{Fmp4Writer, Sample, TrackConfig, VideoCodec};
    use vigie::store::{CameraRow, INDEX_FILE, IndexWriter, SegmentRow, WriteOp, encode_keyframes};
    let dir = tempdir("check");
    std::fs::create_dir_all(dir.join("cam001")).expect("dir");
    let w = IndexWriter::spawn(&dir.join(INDEX_FILE)).expect("index");
    w.send(WriteOp::Camera(CameraRow::new("cam001", "cam001")));
    let track = TrackConfig {
        codec: VideoCodec::H264,
        width: 64,
        height: 64,
        decoder_config: vec![1, 0x42, 0, 0x1e, 0xff, 0xe0, 0],
    };
    let t0: i64 = 1_795_687_200 * 1_000_000_000;
    let segment = |w: &IndexWriter, i: i64, start: i64| {
        let rel = format!("cam001/{i}.mp4");
        let mut f = Fmp4Writer::new(std::fs::File::create(dir.join(&rel)).expect("file"), &track)
            .expect("init");
        let data = vec![i as u8; 4000];
        for _ in 0..2 {
            let samples: Vec<Sample<'_>> = (0..25)
                .map(|k| Sample {
                    data: &data,
                    duration_90k: 3600,
                    keyframe: k == 0,
                })
                .collect();
            f.write_fragment(&samples).expect("fragment");
        }
        let bytes = f.bytes();
        drop(f.into_inner());
        w.send(WriteOp::Segment(SegmentRow {
            camera_id: "cam001".into(),
            start_utc_ns: start,
            end_utc_ns: start + 4_000_000_000,
            path: rel.clone(),
            bytes,
            sha256: sha256_file(&dir.join(&rel)).expect("hash"),
            codec: "h264".into(),
            keyframes: encode_keyframes(&[]),
            time_source: vigie::store::TimeSource::Rtcp,
        }));
    };
    for i in 0..3i64 {
        segment(&w, i, t0 + i * 4_000_000_000);
    }
    assert!(w.flush());
    drop(w);
    let run = |hash: bool| {
        let mut c = vigie();
        c.args(["check", "--data"]).arg(&dir);
        if hash {
            c.arg("--hash");
        }
        c.output().expect("runs")
    };
    let ok = run(true);
    assert!(
        ok.status.success(),
        "{}{}",
        String::from_utf8_lossy(&ok.stdout),
        String::from_utf8_lossy(&ok.stderr)
    );

    // Break everything: one file gone, one byte flipped, one cut mid-fragment, one stray file.
    std::fs::remove_file(dir.join("cam001/0.mp4")).expect("rm");
    let mut b = std::fs::read(dir.join("cam001/1.mp4")).expect("read");
    let n = b.len() - 10;
    b[n] ^= 0xff;
    std::fs::write(dir.join("cam001/1.mp4"), &b).expect("write");
    let b = std::fs::read(dir.join("cam001/2.mp4")).expect("read");
    std::fs::write(dir.join("cam001/2.mp4"), &b[..b.len() - 1000]).expect("write");
    std::fs::write(dir.join("cam001/stray.mp4"), b"x").expect("write");
    // And a segment overlapping the third by one second.
    let w = IndexWriter::spawn(&dir.join(INDEX_FILE)).expect("index");
    segment(&w, 3, t0 + 11_000_000_000);
    assert!(w.flush());
    drop(w);

    let r = run(false);
    let out = String::from_utf8_lossy(&r.stdout);
    assert!(!r.status.success());
    assert!(out.contains("cam001/0.mp4 is missing"), "{out}");
    assert!(
        out.contains("cam001/2.mp4 has") && out.contains("incomplete fragment"),
        "{out}"
    );
    assert!(
        out.contains("cam001/stray.mp4 is not in the index"),
        "{out}"
    );
    assert!(
        out.contains("camera cam001: cam001/3.mp4 starts 1000.000 ms before cam001/2.mp4 ends"),
        "{out}"
    );
    assert!(
        !out.contains("1.mp4"),
        "a flipped byte is only seen with --hash: {out}"
    );
    let out = String::from_utf8_lossy(&run(true).stdout).into_owned();
    assert!(
        out.contains("cam001/1.mp4 does not match its indexed SHA-256"),
        "{out}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn users_are_named_hashed_and_disabled_never_deleted() {
    use std::io::Write;
    use std::process::Stdio;
    let dir = tempdir("users");
    let secret = "Valenciennes 2026 !";
    // `signer`: the administrator who signs in (their password first on stdin).
    let add =
        |name: &str, role: &str, password: &str, extra: &[&str], signer: Option<(&str, &str)>| {
            let mut child = vigie()
                .args(["users", "add", name, "--role", role, "--data"])
                .arg(&dir)
                .args(extra)
                .args(signer.map(|(u, _)| ["--user", u]).into_iter().flatten())
                .arg("--password-stdin")
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("runs");
            let mut stdin = child.stdin.take().expect("stdin");
            if let Some((_, pw)) = signer {
                writeln!(stdin, "{pw}").expect("password");
            }
            writeln!(stdin, "{password}").expect("password");
            drop(stdin);
            child.wait_with_output().expect("output")
        };
    let alice = Some(("alice", secret));
    // Before any administrator, only the first administrator can be added.
    let bad = add("bob.op", "operator", "another long pass", &[], None);
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("add the first administrator first"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );
    let ok = add("alice", "administrator", secret, &[], None);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    // From then on, an administrator signs in.
    let bad = add("bob.op", "operator", "another long pass", &[], None);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("an administrator signs in"));
    let ok = add(
        "bob.op",
        "operator",
        "another long pass",
        &["--cameras", "cam001,cam002"],
        alice,
    );
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let bad = add(
        "eve",
        "supervisor",
        "yet another long one",
        &[],
        Some(("bob.op", "another long pass")),
    );
    assert!(
        String::from_utf8_lossy(&bad.stderr).contains("bob.op (operator) may not manage users"),
        "{}",
        String::from_utf8_lossy(&bad.stderr)
    );

    // Refused, each with a clear reason, and nothing added.
    let bad = add("carol", "root", secret, &[], alice);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("one of supervisor, operator"));
    let bad = add("carol", "reviewer", "short", &[], alice);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("at least 12 characters"));
    let bad = add("alice", "auditor", secret, &[], alice);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("alice already exists"));
    let bad = add("no spaces", "auditor", secret, &[], alice);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("user name"));

    let list = vigie()
        .args(["users", "list", "--data"])
        .arg(&dir)
        .output()
        .expect("list");
    let text = String::from_utf8_lossy(&list.stdout).into_owned();
    assert_eq!(
        text.lines().collect::<Vec<_>>(),
        [
            "alice\tadministrator\t-\tenabled",
            "bob.op\toperator\tcam001,cam002\tenabled"
        ]
    );
    // Neither the list nor the index file holds the password; the index holds an Argon2id hash.
    let index = std::fs::read(dir.join(vigie::store::INDEX_FILE)).expect("index");
    let index_text = String::from_utf8_lossy(&index);
    assert!(!index_text.contains(secret) && !text.contains(secret));
    let store =
        vigie::store::Store::open_readonly(&dir.join(vigie::store::INDEX_FILE)).expect("store");
    let (role, hash) = store
        .user_credentials("alice")
        .expect("query")
        .expect("alice");
    assert_eq!(role, "administrator");
    assert!(vigie::auth::verify_password(secret, &hash).expect("verify"));
    assert!(!vigie::auth::verify_password("Valenciennes 2026 ?", &hash).expect("verify"));

    let as_alice = |args: &[&str]| {
        let mut child = vigie()
            .args(args)
            .arg("--data")
            .arg(&dir)
            .args(["--user", "alice", "--password-stdin"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("runs");
        writeln!(child.stdin.take().expect("stdin"), "{secret}").expect("password");
        child.wait_with_output().expect("output")
    };
    let grant = as_alice(&["users", "grant", "bob.op", "--cameras", "cam003"]);
    assert!(
        grant.status.success(),
        "{}",
        String::from_utf8_lossy(&grant.stderr)
    );
    let off = as_alice(&["users", "disable", "bob.op"]);
    assert!(
        off.status.success(),
        "{}",
        String::from_utf8_lossy(&off.stderr)
    );
    assert!(store.user_credentials("bob.op").expect("query").is_none());
    let list = vigie()
        .args(["users", "list", "--data"])
        .arg(&dir)
        .output()
        .expect("list");
    assert!(String::from_utf8_lossy(&list.stdout).contains("bob.op\toperator\tcam003\tdisabled "));
    let log: Vec<String> = store
        .audit_entries()
        .expect("audit")
        .into_iter()
        .map(|(_, e, _, _)| format!("{} {} {}", e.user, e.action, e.detail))
        .collect();
    for want in [
        "alice user added bob.op as operator",
        "bob.op refused bob.op (operator) may not manage users",
        "alice permissions changed bob.op: cameras cam001,cam002 -> cam003",
        "alice user disabled bob.op",
    ] {
        assert!(
            log.iter().any(|l| l.starts_with(want)),
            "{want:?} not in {log:?}"
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// A window started from a menu has no terminal: what it logs, and why it ended, go to the
/// file of the day in the user's log folder as well as to standard error. A command that opens
/// no window writes no log file.
#[test]
fn a_window_keeps_its_log_and_why_it_ended_in_the_users_log_folder() {
    let dir = common::test_dir("window-log");
    let state = dir.join("state");
    let missing_ca = dir.join("no-such-ca.pem");
    let out = vigie()
        .env("XDG_STATE_HOME", &state)
        .args(["review", "--server", "https://127.0.0.1:9", "--server-ca"])
        .arg(&missing_ca)
        .output()
        .expect("vigie review");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let said = stderr
        .lines()
        .find(|l| l.starts_with("vigie: "))
        .unwrap_or_else(|| panic!("no error line: {stderr}"));
    assert!(said.contains("no-such-ca.pem"), "{said}");
    // Once on standard error, not twice.
    assert_eq!(stderr.matches("no-such-ca.pem").count(), 1, "{stderr}");
    let logs = state.join("vigie").join("logs");
    let files: Vec<_> = std::fs::read_dir(&logs)
        .expect("the log folder")
        .flatten()
        .map(|e| e.path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let name = files[0].file_name().unwrap_or_default().to_string_lossy();
    let today = chrono::Local::now()
        .format("vigie-%Y-%m-%d.log")
        .to_string();
    let yesterday = (chrono::Local::now() - chrono::Duration::hours(1))
        .format("vigie-%Y-%m-%d.log")
        .to_string();
    assert!(name == today || name == yesterday, "{name}");
    let text = std::fs::read_to_string(&files[0]).expect("the log file");
    let line = text
        .lines()
        .find(|l| l.contains("no-such-ca.pem"))
        .unwrap_or_else(|| panic!("the log file does not say why: {text}"));
    assert!(line.contains("ERROR") && line.contains(said), "{line}");
    assert!(
        !text.contains('\u{1b}'),
        "colour codes in the file: {text:?}"
    );

    // A command without a window: its error on standard error only, no log file.
    let quiet = dir.join("quiet");
    let out = vigie()
        .env("XDG_STATE_HOME", &quiet)
        .arg("verify")
        .arg(dir.join("no-such-export"))
        .output()
        .expect("vigie verify");
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no-such-export"));
    assert!(!quiet.exists());
}
