//! The audit log against tampering: each kind of change to the stored entries, and a tail cut
//! after a signed checkpoint, is found and named by `vigie audit verify`.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use vigie::auth::audit::{self, Entry};
use vigie::store::INDEX_FILE;

const S: i64 = 1_000_000_000;

/// A log of six entries with a signed checkpoint at the sixth, in a folder of its own.
fn logged(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("vigie-audit-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("dir");
    for i in 0..6i64 {
        let seq = audit::append(
            &dir,
            &Entry {
                at_utc_ns: 1_795_685_400 * S + i * S,
                user: "alice".into(),
                role: "reviewer".into(),
                action: if i % 2 == 0 { "playback" } else { "export" }.into(),
                cameras: "cam001,cam002".into(),
                range: Some((1_795_600_000 * S, 1_795_600_060 * S)),
                reason: format!("PV 2026/{i}"),
                detail: String::new(),
            },
        )
        .expect("append");
        assert_eq!(seq, i + 1);
    }
    assert_eq!(audit::checkpoint(&dir).expect("checkpoint"), Some(6));
    dir
}

fn verify(dir: &Path) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_vigie"))
        .args(["audit", "verify", "--data"])
        .arg(dir)
        .output()
        .expect("verify");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}

fn sql(dir: &Path, statement: &str) {
    let c = rusqlite::Connection::open(dir.join(INDEX_FILE)).expect("index");
    c.execute_batch(statement).expect("tamper");
}

#[test]
fn an_intact_log_verifies_and_every_tampering_is_named() {
    let dir = logged("intact");
    assert_eq!(verify(&dir), (true, String::new()));
    let key = std::fs::metadata(dir.join(audit::KEY_FILE)).expect("key");
    // Only its owner (the server's user) reads it.
    assert_eq!(
        std::os::unix::fs::PermissionsExt::mode(&key.permissions()) & 0o777,
        0o600
    );

    // An entry edited.
    let d = logged("edited");
    sql(
        &d,
        "UPDATE audit SET reason = 'nothing to see' WHERE seq = 3",
    );
    let (ok, out) = verify(&d);
    assert!(
        !ok && out.contains("entry 3: its content was changed"),
        "{out}"
    );

    // An entry deleted.
    let d = logged("deleted");
    sql(&d, "DELETE FROM audit WHERE seq = 3");
    let (ok, out) = verify(&d);
    assert!(!ok && out.contains("entry 3: missing"), "{out}");
    assert!(out.contains("entry 4: does not follow"), "{out}");

    // Two entries swapped.
    let d = logged("reordered");
    sql(
        &d,
        "UPDATE audit SET seq = 100 WHERE seq = 2; UPDATE audit SET seq = 2 WHERE seq = 3;
         UPDATE audit SET seq = 3 WHERE seq = 100;",
    );
    let (ok, out) = verify(&d);
    assert!(!ok && out.contains("entry 2: does not follow"), "{out}");

    // An entry inserted: the ones after it renumbered.
    let d = logged("inserted");
    sql(
        &d,
        "UPDATE audit SET seq = seq + 100 WHERE seq >= 4; UPDATE audit SET seq = seq - 99 WHERE seq >= 104;
         INSERT INTO audit (seq, at_utc_ns, user_name, role, action, prev_sha256, sha256)
         SELECT 4, at_utc_ns, 'mallory', 'reviewer', 'export', sha256, sha256 FROM audit WHERE seq = 3;",
    );
    let (ok, out) = verify(&d);
    assert!(
        !ok && out.contains("entry 4: its content was changed"),
        "{out}"
    );
    assert!(
        out.contains("entry 5: "),
        "the renumbered entries are named too: {out}"
    );

    // The tail cut after the signed checkpoint.
    let d = logged("cut");
    sql(&d, "DELETE FROM audit WHERE seq >= 5");
    let (ok, out) = verify(&d);
    assert!(
        !ok && out.contains("entry 6 was signed but is gone"),
        "{out}"
    );

    // A checkpoint forged without the key.
    let d = logged("forged");
    let path = d.join(audit::CHECKPOINTS_FILE);
    let mut line = std::fs::read_to_string(&path).expect("checkpoints");
    line = line.replacen("6 ", "5 ", 1);
    std::fs::write(&path, line).expect("forge");
    let (ok, out) = verify(&d);
    assert!(
        !ok && out.contains("signature of checkpoint 5 is not valid"),
        "{out}"
    );

    for n in [
        "intact",
        "edited",
        "deleted",
        "reordered",
        "inserted",
        "cut",
        "forged",
    ] {
        let _ = std::fs::remove_dir_all(
            std::env::temp_dir().join(format!("vigie-audit-{n}-{}", std::process::id())),
        );
    }
}

#[test]
fn auditors_read_and_export_the_log_and_the_register_and_see_no_video() {
    let dir = logged("auditor");
    common::add_user(&dir, "dpo", "auditor", &[]);
    common::add_user(&dir, "rev", "reviewer", &["*"]);
    let as_user = |user: &str, args: &[&str]| {
        common::vigie_as(
            user,
            args.iter()
                .map(std::ffi::OsString::from)
                .chain(["--data".into(), dir.clone().into_os_string()]),
        )
    };
    let (ok, out, err) = as_user("dpo", &["audit", "show"]);
    assert!(ok, "{err}");
    assert!(
        out.lines()
            .filter(|l| l.contains("alice (reviewer)"))
            .count()
            == 6,
        "{out}"
    );
    let (ok, _, err) = as_user("rev", &["audit", "show"]);
    assert!(
        !ok && err.contains("rev (reviewer) may not read the audit log"),
        "{err}"
    );

    // The export: every entry with its hashes and the chain's verdict, signed.
    let file = dir.join("audit-export.json");
    let (ok, _, err) = as_user(
        "dpo",
        &["audit", "export", "--out", file.to_str().expect("utf-8")],
    );
    assert!(ok, "{err}");
    let doc: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&file).expect("export")).expect("JSON");
    let entries = doc["entries"].as_array().expect("entries");
    assert!(entries.len() >= 8, "{}", entries.len());
    assert_eq!(entries[0]["user"], "alice");
    assert_eq!(doc["verdict"]["problems"].as_array().map(Vec::len), Some(0));
    let sig = Command::new("openssl")
        .args(["pkeyutl", "-verify", "-pubin", "-inkey"])
        .arg(dir.join("keys/signing-key.pub.pem"))
        .args(["-rawin", "-in"])
        .arg(&file)
        .arg("-sigfile")
        .arg(dir.join("audit-export.json.sig"))
        .output()
        .expect("openssl");
    assert!(
        String::from_utf8_lossy(&sig.stdout).contains("Signature Verified Successfully"),
        "{}",
        String::from_utf8_lossy(&sig.stderr)
    );

    // The register, and reading it is logged too.
    let (ok, out, err) = as_user("dpo", &["register", "--json"]);
    assert!(ok, "{err}");
    let reg: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    assert!(reg["register"].is_array() && reg["access_requests"].is_array());
    // An auditor sees no video.
    let (ok, _, err) = as_user(
        "dpo",
        &[
            "still",
            "--camera",
            "cam001",
            "--at",
            "2026-11-26T10:00:00Z",
            "--out",
            "/tmp/x.png",
        ],
    );
    assert!(
        !ok && err.contains("dpo (auditor) may not take a still"),
        "{err}"
    );
    let log: Vec<String> = vigie::store::Store::open_readonly(&dir.join(INDEX_FILE))
        .expect("index")
        .audit_entries()
        .expect("audit")
        .into_iter()
        .map(|(_, e, _, _)| format!("{} {}", e.user, e.action))
        .collect();
    for want in [
        "dpo audit log read",
        "dpo audit log exported",
        "dpo register read",
        "rev refused",
    ] {
        assert!(log.iter().any(|l| l == want), "{want:?} not in {log:?}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_still_whose_audit_entry_cannot_be_written_is_not_taken() {
    let data = common::clip_recording("still-fail-closed");
    common::add_user(&data, "sup", "supervisor", &["*"]);
    // The index refuses the still's entry (a full or failing disk would, for every entry).
    rusqlite::Connection::open(data.join(INDEX_FILE))
        .and_then(|c| {
            c.execute_batch(
                "CREATE TRIGGER refuse_stills BEFORE INSERT ON audit WHEN NEW.action = 'still'
                 BEGIN SELECT RAISE(FAIL, 'the audit log refused the entry'); END;",
            )
        })
        .expect("trigger");
    let out = data.join("still.png");
    let at = chrono::DateTime::from_timestamp_nanos(common::CLIP_T0 + 2 * S)
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true);
    let (ok, _, err) = common::vigie_as(
        "sup",
        [
            "still".as_ref(),
            "--data".as_ref(),
            data.as_os_str(),
            "--camera".as_ref(),
            "cam001".as_ref(),
            "--at".as_ref(),
            at.as_ref(),
            "--out".as_ref(),
            out.as_os_str(),
        ],
    );
    assert!(
        !ok && err.contains("the audit log refused the entry"),
        "{err}"
    );
    assert!(!out.exists(), "no entry, no picture");
    let _ = std::fs::remove_dir_all(&data);
}
