//! Exports for requisitions, from footage the recorder wrote off the simulator: ffprobe reads
//! each MP4, its duration is the range asked, its packets are the recording's bytes;
//! `sha256sum -c` and `openssl pkeyutl -verify` pass, and fail on a flipped byte, a removed
//! file or an edited manifest, as `vigie verify` does; refusals and the audit trail.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::{
    add_user, cameras_file, camsim, outside_checks, spawn_recorder, terminate, test_dir, vigie_as,
    wait_for_segments,
};
use vigie::playback::rfc3339;
use vigie::store::{INDEX_FILE, Store};

const S: i64 = 1_000_000_000;

fn run(cmd: &mut Command) -> (bool, String) {
    let out = cmd.output().expect("runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

/// Packet data hashes and flags of a file's video track, as ffprobe reads them.
fn packets(file: &Path) -> Vec<(String, bool)> {
    let (ok, out) = run(Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-select_streams",
            "v:0",
            "-show_data_hash",
            "sha256",
            "-show_entries",
            "packet=flags,data_hash",
            "-of",
            "csv=p=0",
        ])
        .arg(file));
    assert!(ok, "ffprobe {}: {out}", file.display());
    out.lines()
        .filter_map(|l| {
            let (flags, hash) = l.split_once(',')?;
            // csv column order follows ffprobe's own field order (flags before data_hash).
            let (flags, hash) = if hash.starts_with("SHA256:") {
                (flags, hash)
            } else {
                (hash, flags)
            };
            Some((hash.to_owned(), flags.starts_with('K')))
        })
        .collect()
}

fn duration_s(file: &Path) -> f64 {
    let (ok, out) = run(Command::new("ffprobe")
        .args([
            "-v",
            "error",
            "-show_entries",
            "format=duration",
            "-of",
            "csv=p=0",
        ])
        .arg(file));
    assert!(ok, "{out}");
    out.trim().parse().expect("a duration")
}

fn copy_dir(from: &Path, to: &Path) {
    let _ = std::fs::remove_dir_all(to);
    std::fs::create_dir_all(to).expect("copy");
    for e in std::fs::read_dir(from).expect("read") {
        let e = e.expect("entry");
        std::fs::copy(e.path(), to.join(e.file_name())).expect("copy");
    }
}

fn vigie_verify(dir: &Path, data: &Path) -> (bool, String) {
    run(Command::new(env!("CARGO_BIN_EXE_vigie"))
        .arg("verify")
        .arg(dir)
        .arg("--data")
        .arg(data))
}

#[test]
fn an_export_is_the_recording_remuxed_and_anyone_can_verify_it() {
    let sim = camsim(3, true);
    let dir = test_dir("export");
    let cameras = cameras_file(&sim, &dir);
    let data = dir.join("data");
    let child = spawn_recorder(&cameras, &data, 3, &[]);
    // Closed segments of both cameras: the asked span crosses a boundary of cam001's and lies
    // within cam002's footage (a loaded machine may connect cam002 a little later).
    wait_for_segments(&data, "cam001", 4, Duration::from_secs(90));
    wait_for_segments(&data, "cam002", 3, Duration::from_secs(90));
    terminate(child);
    add_user(&data, "rev", "reviewer", &["cam001", "cam002"]);
    add_user(&data, "op", "operator", &["*"]);

    let store = Store::open_readonly(&data.join(INDEX_FILE)).expect("index");
    let segs = store.segments("cam001", 0, i64::MAX / 2).expect("segments");
    let cam002_from = store.segments("cam002", 0, i64::MAX / 2).expect("segments")[0]
        .row
        .start_utc_ns;
    // From 1.3 s into a segment (mid-GOP) to 4.5 s later, across a segment boundary: the first
    // segment of cam001 that starts once cam002 records too.
    // (On a whole millisecond: the command line takes RFC 3339 with milliseconds.)
    let first = segs
        .iter()
        .position(|s| s.row.start_utc_ns + 1_300_000_000 >= cam002_from)
        .expect("a segment of cam001 after cam002 started");
    let segs = &segs[first..];
    assert!(segs.len() >= 2, "{} segments", segs.len());
    let from = (segs[0].row.start_utc_ns + 1_300_000_000) / 1_000_000 * 1_000_000;
    let to = from + 4_500_000_000;
    assert!(to < segs[1].row.end_utc_ns && to > segs[1].row.start_utc_ns);
    let out = dir.join("PV-2026-0077");
    let export = |user: &str, cameras: &str, out: &Path, reason: &str| {
        vigie_as(
            user,
            [
                "export".as_ref(),
                "--data".as_ref(),
                data.as_os_str(),
                "--camera".as_ref(),
                std::ffi::OsStr::new(cameras),
                "--from".as_ref(),
                std::ffi::OsStr::new(&rfc3339(from)),
                "--to".as_ref(),
                std::ffi::OsStr::new(&rfc3339(to)),
                "--out".as_ref(),
                out.as_os_str(),
                "--requisition".as_ref(),
                "PV-2026-0077".as_ref(),
                "--officer".as_ref(),
                "Lt. Martin, commissariat central".as_ref(),
                "--reason".as_ref(),
                std::ffi::OsStr::new(reason),
            ],
        )
    };
    let (ok, stdout, err) = export("rev", "cam001,cam002", &out, "vol à l'arraché, rue X");
    assert!(ok, "{err}");
    assert!(stdout.lines().count() == 2, "{stdout}");

    // The folder.
    let mut names: Vec<String> = std::fs::read_dir(&out)
        .expect("export folder")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let videos: Vec<PathBuf> = names
        .iter()
        .filter(|n| n.ends_with(".mp4"))
        .map(|n| out.join(n))
        .collect();
    assert_eq!(videos.len(), 2, "{names:?}");
    for f in [
        "README.txt",
        "SHA256SUMS",
        "manifest.json",
        "manifest.json.sig",
        "signing-key.pub.pem",
    ] {
        assert!(names.iter().any(|n| n == f), "{f} missing from {names:?}");
    }
    assert_eq!(
        std::fs::metadata(out.join("manifest.json.sig"))
            .expect("sig")
            .len(),
        64
    );
    assert!(
        !std::fs::read_dir(&dir).expect("dir").any(|e| e
            .expect("e")
            .file_name()
            .to_string_lossy()
            .contains("partial")),
        "no staging folder is left"
    );

    // The manifest says what the requisition needs.
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("manifest.json")).expect("manifest"))
            .expect("JSON");
    assert_eq!(manifest["requisition"], "PV-2026-0077");
    assert_eq!(manifest["officer"], "Lt. Martin, commissariat central");
    assert_eq!(manifest["exported_by"]["user"], "rev");
    assert_eq!(manifest["range"]["from_utc"], rfc3339(from));
    assert!(
        manifest["range"]["from_paris"]
            .as_str()
            .is_some_and(|t| t.ends_with("+01:00") || t.ends_with("+02:00"))
    );
    assert_eq!(manifest["cameras"][0]["id"], "cam001");
    assert_eq!(manifest["cameras"][1]["name"], sim.cameras()[1].name);

    // ffprobe: the range's duration (within one GOP: 1 s), a keyframe first, and the packets
    // are the recording's own bytes.
    for (i, video) in videos.iter().enumerate() {
        let d = duration_s(video);
        assert!(
            (d - 4.5).abs() < 1.0,
            "{}: {d} s for a 4.5 s range",
            video.display()
        );
        eprintln!("{}: {d:.3} s", video.display());
        // Every picture decodes, without a complaint from the decoder.
        let (ok, said) = run(Command::new("ffmpeg")
            .args(["-v", "error", "-i"])
            .arg(video)
            .args(["-f", "null", "-"]));
        assert!(ok && said.trim().is_empty(), "ffmpeg decode: {said}");
        let exported = packets(video);
        assert!(exported[0].1, "the file starts on a keyframe");
        let cam = format!("cam00{}", i + 1);
        let recorded: Vec<(String, bool)> = store
            .segments(&cam, from, to)
            .expect("segments")
            .iter()
            .flat_map(|s| packets(&data.join(&s.row.path)))
            .collect();
        let at = recorded
            .iter()
            .position(|p| p == &exported[0])
            .expect("the first exported packet is a recorded one");
        assert_eq!(
            &recorded[at..at + exported.len()],
            &exported[..],
            "{cam}: the exported samples are the recorded samples, in order"
        );
        // 4.5 s plus the lead from the keyframe before the start (under 1 s) at 25 fps.
        assert!(
            (112..=138).contains(&exported.len()),
            "{} packets",
            exported.len()
        );
    }

    // The README's checks pass, and `vigie verify` agrees.
    assert_eq!(outside_checks(&out), (true, true));
    let (ok, said) = vigie_verify(&out, &data);
    assert!(ok && said.contains("OK: 2 files intact"), "{said}");

    // One flipped byte in a video.
    let flipped = dir.join("flipped");
    copy_dir(&out, &flipped);
    let victim = flipped.join(videos[0].file_name().expect("name"));
    let mut bytes = std::fs::read(&victim).expect("video");
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x01;
    std::fs::write(&victim, bytes).expect("write");
    assert!(
        !outside_checks(&flipped).0,
        "sha256sum -c sees the flipped byte"
    );
    let (ok, said) = vigie_verify(&flipped, &data);
    let name = victim
        .file_name()
        .expect("n")
        .to_string_lossy()
        .into_owned();
    assert!(
        !ok && said.contains(&format!("{name}: its SHA-256 differs")),
        "{said}"
    );
    // A removed video.
    let removed = dir.join("removed");
    copy_dir(&out, &removed);
    std::fs::remove_file(removed.join(&name)).expect("remove");
    assert!(!outside_checks(&removed).0);
    let (ok, said) = vigie_verify(&removed, &data);
    assert!(!ok && said.contains(&format!("{name}: missing")), "{said}");
    // An edited manifest: the signature fails too.
    let edited = dir.join("edited");
    copy_dir(&out, &edited);
    let text = std::fs::read_to_string(edited.join("manifest.json")).expect("manifest");
    std::fs::write(
        edited.join("manifest.json"),
        text.replace("Lt. Martin", "Lt. Dupont"),
    )
    .expect("write");
    assert_eq!(outside_checks(&edited), (false, false));
    let (ok, said) = vigie_verify(&edited, &data);
    assert!(
        !ok && said.contains("manifest.json: the signature does not match"),
        "{said}"
    );

    // Refusals: an operator may not export; a reviewer only their cameras; a reason is
    // required; a destination with files in it is refused. Nothing is written.
    let (ok, _, err) = export("op", "cam001", &dir.join("x1"), "test");
    assert!(
        !ok && err.contains("op (operator) may not export footage"),
        "{err}"
    );
    let (ok, _, err) = export("rev", "cam001,cam003", &dir.join("x2"), "test");
    assert!(
        !ok && err.contains("rev may not see camera cam003"),
        "{err}"
    );
    let (ok, _, err) = export("rev", "cam001", &dir.join("x3"), "  ");
    assert!(!ok && err.contains("the reason is required"), "{err}");
    let (ok, _, err) = export("rev", "cam001", &out, "again");
    assert!(!ok && err.contains("not empty"), "{err}");
    for x in ["x1", "x2", "x3"] {
        assert!(!dir.join(x).exists(), "{x} was created");
    }

    // Traced: the audit log and the register.
    let log = store.audit_entries().expect("audit");
    let exports: Vec<_> = log
        .iter()
        .filter(|(_, e, _, _)| e.action == "export")
        .collect();
    assert_eq!(exports.len(), 1);
    let e = &exports[0].1;
    assert_eq!(
        (e.user.as_str(), e.cameras.as_str(), e.range),
        ("rev", "cam001,cam002", Some((from, to)))
    );
    assert_eq!(e.reason, "vol à l'arraché, rue X");
    assert!(e.detail.contains("PV-2026-0077"), "{}", e.detail);
    let register: Vec<_> = store
        .register()
        .expect("register")
        .into_iter()
        .filter(|l| l.action == "exported")
        .collect();
    assert_eq!(register.len(), 2);
    assert!(register.iter().all(|l| l.author == "rev"
        && l.reason.contains("PV-2026-0077")
        && l.span.start_utc_ns == from));
    assert!(
        log.iter()
            .any(|(_, e, _, _)| e.action == "refused" && e.user == "op"),
        "refusals are logged"
    );

    // A cancelled export leaves nothing behind.
    let session = vigie::auth::login(&data, "rev", common::PASSWORD).expect("login");
    let cancelled = dir.join("cancelled");
    let mut calls = 0;
    let r = vigie::export::export(
        &data,
        &session,
        &vigie::export::Request {
            cameras: vec!["cam001".into()],
            from_utc_ns: from,
            to_utc_ns: to + 2 * S,
            out: cancelled.clone(),
            requisition: "PV-1".into(),
            officer: "x".into(),
            reason: "x".into(),
            access: None,
        },
        &mut |_| {
            calls += 1;
            calls < 2
        },
    );
    assert!(
        matches!(r, Err(vigie::export::ExportError::Cancelled)),
        "{r:?}"
    );
    assert!(!cancelled.exists());
    assert!(
        !std::fs::read_dir(&dir).expect("dir").any(|e| e
            .expect("e")
            .file_name()
            .to_string_lossy()
            .contains("partial")),
        "no staging folder is left"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
