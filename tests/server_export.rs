//! Exports through the site server: ordered by `vigie export --server` run as a Unix user who
//! cannot read the data folder, made by the server (sources re-hashed, manifest signed with the
//! installation's key), fetched with each file checked, then checked as an outsider would:
//! `sha256sum -c`, the README's openssl command, and `vigie verify --fingerprint` against the
//! fingerprint the server publishes; a copy signed by another key fails that last check.
//! Refusals are answered and logged, and a cancelled fetch leaves nothing on either side.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::{
    CLIP_S, CLIP_T0, add_user, assert_logged, clip_recording, outside_checks, server_ca,
    server_url, signed_in, start_server, test_dir, vigie_as_nobody,
};
use vigie::client::exports::{ExportOrder, FetchError, Stage, fetch};
use vigie::time::rfc3339;

fn verify(dir: &Path, fingerprint: &str) -> (bool, String) {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_vigie"))
        .arg("verify")
        .arg(dir)
        .args(["--fingerprint", fingerprint])
        .output()
        .expect("vigie verify runs");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .expect("folder")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

fn exports_left(data: &Path) -> Vec<String> {
    std::fs::read_dir(data.join(vigie::server::exports::EXPORTS_DIR))
        .map(|d| {
            d.map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn an_export_made_by_the_server_is_fetched_and_verified_against_its_fingerprint() {
    let data = clip_recording("server-export");
    add_user(&data, "rev", "reviewer", &["cam001"]);
    add_user(&data, "op", "operator", &["*"]);
    let s = start_server(&data);
    let fp = s.signing_fingerprint().to_owned();
    let rev = signed_in(&s, &data, "rev");
    let info: serde_json::Value = rev.get("/v1/server").expect("server info");
    assert_eq!(
        info["signing_key_sha256"],
        fp.as_str(),
        "the published fingerprint"
    );

    // The workstation's side: its own folder (the only one `nobody` writes), the site CA as a file.
    let ws = test_dir("server-export-ws");
    std::fs::set_permissions(&ws, std::fs::Permissions::from_mode(0o777)).expect("chmod");
    let ca = ws.join("site-ca.pem");
    std::fs::write(&ca, server_ca(&data)).expect("CA copy");
    std::fs::set_permissions(&ca, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let url = server_url(&s);
    // 1 s to 5 s: across two segment boundaries (2 s segments), starting mid-GOP.
    let (from, to) = (
        rfc3339(CLIP_T0 + CLIP_S + 300_000_000),
        rfc3339(CLIP_T0 + 5 * CLIP_S + 300_000_000),
    );
    let export = |user: &str, camera: &str, out: &Path| {
        vigie_as_nobody(
            &ws,
            user,
            [
                "export",
                "--server",
                &url,
                "--server-ca",
                ca.to_str().expect("path"),
                "--camera",
                camera,
                "--from",
                &from,
                "--to",
                &to,
                "--out",
                out.to_str().expect("path"),
                "--requisition",
                "PV-2026-0099",
                "--officer",
                "OPJ Martin",
                "--reason",
                "vol à l'arraché",
            ],
        )
    };

    let out = ws.join("PV-2026-0099");
    let (ok, stdout, stderr) = export("rev", "cam001", &out);
    assert!(ok, "{stdout}{stderr}");
    assert!(
        stderr.contains("checked against the server's SHA-256"),
        "{stderr}"
    );
    let files = names(&out);
    let videos: Vec<&String> = files.iter().filter(|n| n.ends_with(".mp4")).collect();
    assert_eq!(videos.len(), 1, "{files:?}");
    for f in [
        "README.txt",
        "SHA256SUMS",
        "manifest.json",
        "manifest.json.sig",
        "signing-key.pub.pem",
    ] {
        assert!(files.iter().any(|n| n == f), "{f} missing: {files:?}");
    }
    // The hash printed is the file's.
    let video = std::fs::read(out.join(videos[0])).expect("video");
    let sha: String = <sha2::Sha256 as sha2::Digest>::digest(&video)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    assert!(stdout.contains(&sha), "{stdout}");
    // The manifest names the requisition and the reviewer as the exporter.
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("manifest.json")).expect("manifest"))
            .expect("json");
    let text = manifest.to_string();
    assert!(
        text.contains("PV-2026-0099") && text.contains("\"rev\""),
        "{text}"
    );

    // As an outsider checks it.
    assert_eq!(outside_checks(&out), (true, true));
    let (ok, said) = verify(&out, &fp);
    assert!(ok && said.contains("this installation's"), "{said}");
    // The fingerprint as people copy it: upper case, with colons.
    let colons = fp
        .to_ascii_uppercase()
        .as_bytes()
        .chunks(2)
        .map(|p| String::from_utf8_lossy(p).into_owned())
        .collect::<Vec<_>>()
        .join(":");
    assert!(verify(&out, &colons).0);

    // A copy re-signed by another key is self-consistent (the README's checks pass), but not
    // the installation's: `--fingerprint` says so.
    let forged = ws.join("forged");
    std::fs::create_dir_all(&forged).expect("dir");
    for f in &files {
        std::fs::copy(out.join(f), forged.join(f)).expect("copy");
    }
    let other = test_dir("server-export-other-installation");
    let key = vigie::auth::audit::signing_key(&other).expect("another key");
    let sig = ed25519_dalek::Signer::sign(
        &key,
        &std::fs::read(forged.join("manifest.json")).expect("manifest"),
    );
    std::fs::write(forged.join("manifest.json.sig"), sig.to_bytes()).expect("sig");
    std::fs::copy(
        other.join(vigie::auth::audit::PUBLIC_KEY_FILE),
        forged.join("signing-key.pub.pem"),
    )
    .expect("key");
    // ... and its SHA256SUMS written again, as a forger would.
    let sums = std::fs::read_to_string(forged.join("SHA256SUMS")).expect("sums");
    let resummed: String = sums
        .lines()
        .map(|l| {
            let name = l.split_once("  ").expect("sum line").1;
            let bytes = std::fs::read(forged.join(name)).expect("listed file");
            let sha: String = <sha2::Sha256 as sha2::Digest>::digest(&bytes)
                .iter()
                .map(|b| format!("{b:02x}"))
                .collect();
            format!("{sha}  {name}\n")
        })
        .collect();
    std::fs::write(forged.join("SHA256SUMS"), resummed).expect("sums");
    assert_eq!(outside_checks(&forged), (true, true));
    let (ok, said) = verify(&forged, &fp);
    assert!(!ok, "{said}");
    assert!(said.contains("not by the installation's key"), "{said}");

    // The server dropped its copy once fetched; the export is in the log.
    common::wait_for("the server's copy removed", || {
        exports_left(&data).is_empty()
    });
    assert_logged(&data, &["rev export cam001"]);

    // A camera not granted: refused by the server, logged, nothing written here.
    let out2 = ws.join("PV-2026-0100");
    let (ok, _, stderr) = export("rev", "cam002", &out2);
    assert!(!ok);
    assert!(
        stderr.contains("cam002") && stderr.contains("HTTP 403"),
        "{stderr}"
    );
    assert!(!out2.exists());
    assert_logged(&data, &["rev refused cam002"]);
    // An operator may not export at all.
    let (ok, _, stderr) = export("op", "cam001", &out2);
    assert!(!ok && stderr.contains("HTTP 403"), "{stderr}");

    // Bad orders are answered with the field at fault.
    let order = ExportOrder {
        cameras: vec!["cam001".into()],
        from: from.clone(),
        to: to.clone(),
        requisition: "PV-2026-0101".into(),
        officer: String::new(),
        reason: "test".into(),
        access: None,
    };
    let e = rev
        .post::<_, serde_json::Value>("/v1/exports", &order)
        .expect_err("no officer");
    assert_eq!(e.status(), Some(400));
    assert!(e.to_string().contains("officer"), "{e}");
    let e = rev
        .post::<_, serde_json::Value>(
            "/v1/exports",
            &ExportOrder {
                cameras: vec!["cam404".into()],
                officer: "OPJ Martin".into(),
                ..order.clone()
            },
        )
        .expect_err("unknown camera");
    assert_eq!(e.status(), Some(404));
    assert!(e.to_string().contains("cam404"), "{e}");
    let e = rev
        .post::<_, serde_json::Value>(
            "/v1/exports",
            &ExportOrder {
                from: "yesterday".into(),
                officer: "OPJ Martin".into(),
                ..order.clone()
            },
        )
        .expect_err("bad instant");
    assert!(e.to_string().contains("from"), "{e}");

    // Cancelled at the first progress report: nothing here, nothing left on the server.
    let out3 = ws.join("PV-2026-0101");
    let mut stages = Vec::new();
    let r = fetch(
        &rev,
        &ExportOrder {
            officer: "OPJ Martin".into(),
            ..order
        },
        &out3,
        &mut |stage| {
            stages.push(stage);
            false
        },
    );
    assert!(matches!(r, Err(FetchError::Cancelled)), "{r:?}");
    assert!(
        matches!(stages.first(), Some(Stage::Making(_))),
        "{stages:?}"
    );
    assert!(!out3.exists());
    assert!(
        names(&ws).iter().all(|n| !n.starts_with('.')),
        "a partial folder was left: {:?}",
        names(&ws)
    );
    common::wait_for("the cancelled export removed", || {
        exports_left(&data).is_empty()
    });

    // A citizen's access request through the server, by the same workstation user: a masked
    // copy (a region pixelated), then a refusal of another request.
    let access = |more: &[&str]| {
        let mut args: Vec<String> = [
            "access-request",
            "--server",
            &url,
            "--server-ca",
            ca.to_str().expect("path"),
            "--camera",
            "cam001",
            "--from",
            &from,
            "--to",
            &to,
            "--requester",
            "M. Durand",
            "--identity-check",
            "CNI 123456 vue par rev",
            "--reason",
            "droit d'accès",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.extend(more.iter().map(|s| s.to_string()));
        vigie_as_nobody(&ws, "rev", args)
    };
    let copy = ws.join("DA-2026-0007");
    let (ok, _, err) = access(&[
        "--reference",
        "DA-2026-0007",
        "--out",
        copy.to_str().expect("path"),
        "--blur",
        "cam001:0.1,0.1 0.4,0.1 0.4,0.4",
    ]);
    assert!(ok, "{err}");
    assert_eq!(outside_checks(&copy), (true, true));
    let manifest = std::fs::read_to_string(copy.join("manifest.json")).expect("manifest");
    assert!(manifest.contains("M. Durand"), "{manifest}");
    let (ok, out, err) = access(&["--reference", "DA-2026-0008", "--refuse", "hors délai"]);
    assert!(ok && out.contains("refused (record"), "{out}{err}");
    assert_logged(&data, &["rev citizen access refused cam001"]);

    s.stop();
    for d in [&data, &ws, &other] {
        let _ = std::fs::remove_dir_all(d);
    }
}
