//! The site server over real TLS on loopback: sign-in, sessions, refusals, trust and pinning,
//! and a client command going through it (`vigie recordings --server`).

mod common;

use std::io::{Read, Write};
use std::time::Instant;

use common::{CLIP_S, CLIP_T0, PASSWORD, add_user, clip_recording, signed_in};
use vigie::client::trust::TrustStore;
use vigie::client::{Api, ClientError};
use vigie::server::Server;

fn server(data: &std::path::Path) -> Server {
    common::start_server(data)
}

fn url(s: &Server) -> String {
    common::server_url(s)
}

fn ca(data: &std::path::Path) -> Vec<u8> {
    common::server_ca(data)
}

fn audit(data: &std::path::Path) -> Vec<(String, String, String)> {
    let store =
        vigie::store::Store::open_readonly(&data.join(vigie::store::INDEX_FILE)).expect("index");
    store
        .audit_entries()
        .expect("audit")
        .into_iter()
        .map(|(_, e, _, _)| (e.user, e.action, e.detail))
        .collect()
}

#[test]
fn sessions_grants_and_refusals_are_decided_and_logged_by_the_server() {
    let data = clip_recording("server-sessions");
    add_user(&data, "op", "operator", &["cam001"]);
    add_user(&data, "sup", "supervisor", &["*"]);
    add_user(&data, "dpo", "auditor", &[]);
    add_user(&data, "admin", "administrator", &[]);
    let s = server(&data);

    // Modes: only the server's user reads the data folder and the keys.
    use std::os::unix::fs::PermissionsExt;
    let mode =
        |p: &std::path::Path| std::fs::metadata(p).expect("meta").permissions().mode() & 0o777;
    assert_eq!(mode(&data), 0o700);
    assert_eq!(mode(&data.join("tls/ca-key.pem")), 0o600);
    assert_eq!(mode(&data.join("tls/server-key.pem")), 0o600);
    // The insider: another account of the machine reads neither the index, nor a segment, nor
    // a key (run as `nobody` where this test runs as root).
    let segment = vigie::store::Store::open_readonly(&data.join(vigie::store::INDEX_FILE))
        .expect("index")
        .all_segments()
        .expect("segments")
        .first()
        .map(|s| data.join(&s.row.path))
        .expect("a segment");
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        for f in [
            data.join(vigie::store::INDEX_FILE),
            segment,
            data.join("tls/ca-key.pem"),
        ] {
            let out = std::process::Command::new("setpriv")
                .args(["--reuid=65534", "--regid=65534", "--clear-groups", "cat"])
                .arg(&f)
                .output()
                .expect("setpriv runs");
            assert!(!out.status.success(), "nobody read {}", f.display());
            assert!(
                String::from_utf8_lossy(&out.stderr).contains("Permission denied"),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }

    // An operator sees the cameras granted, and only those.
    let op = signed_in(&s, &data, "op");
    let cams: Vec<String> = op
        .cameras()
        .expect("cameras")
        .into_iter()
        .map(|c| c.id)
        .collect();
    assert_eq!(cams, ["cam001"]);
    let sup = signed_in(&s, &data, "sup");
    assert_eq!(sup.cameras().expect("cameras").len(), 3);

    // The timeline of a granted camera: the recording's two spans and its gap.
    let t = op
        .timeline("cam001", CLIP_T0 - CLIP_S, CLIP_T0 + 30 * CLIP_S)
        .expect("timeline");
    assert!(!t.segments.is_empty());
    assert_eq!(t.segments[0].start_utc_ns, CLIP_T0);
    assert!(t.segments.iter().all(|sp| sp.end_utc_ns > sp.start_utc_ns));

    // A camera not granted: 403 naming it, and a refusal in the audit log.
    let e = op
        .timeline("cam002", CLIP_T0, CLIP_T0 + CLIP_S)
        .expect_err("not granted");
    assert_eq!(e.status(), Some(403), "{e}");
    assert!(e.to_string().contains("cam002"), "{e}");
    assert!(
        audit(&data)
            .iter()
            .any(|(u, a, d)| u == "op" && a == "refused" && d.contains("cam002")),
        "no refusal logged"
    );
    // An unknown camera and a bad range: 404 and 400 with what is wrong.
    let e = op.timeline("cam999", 0, 1).expect_err("unknown");
    assert_eq!(e.status(), Some(404), "{e}");
    let e = op
        .get::<serde_json::Value>("/v1/cameras/cam001/timeline?from=yesterday")
        .expect_err("bad instant");
    assert_eq!(e.status(), Some(400));
    assert!(e.to_string().contains("from"), "{e}");
    // No session: 401.
    let anon = Api::new(&url(&s), &ca(&data)).expect("client");
    assert_eq!(anon.cameras().expect_err("anonymous").status(), Some(401));

    // An auditor reads the audit log; an operator may not.
    let dpo = signed_in(&s, &data, "dpo");
    let log: Vec<vigie::client::ApiAuditEntry> = dpo.get("/v1/audit").expect("audit");
    assert!(log.iter().any(|e| e.user == "op" && e.action == "login"));
    assert!(
        log.iter()
            .any(|e| e.action == "timeline viewed" && e.cameras == "cam001")
    );
    assert_eq!(
        op.get::<serde_json::Value>("/v1/audit")
            .expect_err("operator")
            .status(),
        Some(403)
    );

    // An administrator grants cam002: the operator's open session sees it at once.
    let admin = signed_in(&s, &data, "admin");
    let u: vigie::client::ApiUser = admin
        .post(
            "/v1/users/op/cameras",
            &serde_json::json!({"cameras": ["cam001", "cam002"]}),
        )
        .expect("granted");
    assert_eq!(u.cameras, ["cam001", "cam002"]);
    assert_eq!(op.cameras().expect("cameras").len(), 2);
    op.timeline("cam002", CLIP_T0, CLIP_T0 + CLIP_S)
        .expect("cam002 now granted");
    let e = admin
        .post::<_, serde_json::Value>(
            "/v1/users/op/cameras",
            &serde_json::json!({"cameras": ["cam404"]}),
        )
        .expect_err("unknown camera");
    assert_eq!(e.status(), Some(400), "{e}");
    assert!(e.to_string().contains("cam404"), "{e}");
    let e = admin
        .post_empty("/v1/users/admin/disable", &serde_json::json!({}))
        .expect_err("own account");
    assert_eq!(e.status(), Some(409), "{e}");

    // An administrator disables the operator: the open session ends at its next request.
    admin
        .post_empty("/v1/users/op/disable", &serde_json::json!({}))
        .expect("disabled");
    let t0 = Instant::now();
    let e = op.cameras().expect_err("session ended");
    assert_eq!(e.status(), Some(401), "{e}");
    assert!(e.to_string().contains("disabled"), "{e}");
    assert!(t0.elapsed().as_millis() < 1000);
    let mut again = Api::new(&url(&s), &ca(&data)).expect("client");
    assert_eq!(
        again
            .sign_in("op", PASSWORD)
            .expect_err("disabled")
            .status(),
        Some(401)
    );

    // Sign-out ends the session.
    let mut sup = sup;
    sup.sign_out().expect("sign-out");
    let token = Api::new(&url(&s), &ca(&data))
        .expect("client")
        .with_token("0000");
    assert_eq!(token.cameras().expect_err("no session").status(), Some(401));
    s.stop();
    let _ = std::fs::remove_dir_all(&data);
}

#[test]
fn the_old_group_readable_layout_is_tightened_at_start() {
    use std::os::unix::fs::PermissionsExt;
    // What older packages left: the data folder 2770 and the signing key 0640 for a group.
    let data = common::test_dir("server-old-layout");
    vigie::auth::audit::signing_key(&data).expect("signing key");
    let key = data.join(vigie::auth::audit::KEY_FILE);
    std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o2770)).expect("chmod");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o640)).expect("chmod");
    let s = server(&data);
    let mode = |p: &std::path::Path| std::fs::metadata(p).expect("meta").permissions().mode();
    assert_eq!(mode(&data) & 0o7777, 0o700);
    assert_eq!(mode(&key) & 0o777, 0o600);
    // The key still signs: the server's own checkpoints work on the tightened layout.
    vigie::auth::audit::checkpoint(&data).expect("checkpoint with the tightened key");
    s.stop();
    let _ = std::fs::remove_dir_all(&data);
}

#[test]
fn password_guessing_is_braked_and_unknown_names_cost_the_same() {
    let data = common::test_dir("server-brake");
    add_user(&data, "op", "operator", &["cam001"]);
    let s = server(&data);
    let mut api = Api::new(&url(&s), &ca(&data)).expect("client");
    // An unknown name gets the same refusal as a wrong password.
    let e = api.sign_in("nobody", "some password").expect_err("unknown");
    assert_eq!(e.status(), Some(401));
    assert!(
        e.to_string().contains("unknown user or wrong password"),
        "{e}"
    );
    for _ in 0..4 {
        let e = api.sign_in("op", "wrong password!").expect_err("wrong");
        assert_eq!(e.status(), Some(401));
        assert!(
            e.to_string().contains("unknown user or wrong password"),
            "{e}"
        );
    }
    // Five failures from this address: even the right password waits now.
    let e = api.sign_in("op", PASSWORD).expect_err("braked");
    assert_eq!(e.status(), Some(429), "{e}");
    assert!(e.to_string().contains("try again in"), "{e}");
    let logged = audit(&data);
    assert_eq!(
        logged
            .iter()
            .filter(|(_, a, _)| a == "login failed")
            .count(),
        5
    );
    assert!(logged.iter().any(|(_, a, _)| a == "login throttled"));
    s.stop();
    let _ = std::fs::remove_dir_all(&data);
}

#[test]
fn trust_is_the_site_ca_pinned_once_and_a_changed_certificate_is_refused() {
    let a_data = common::test_dir("server-trust-a");
    let b_data = common::test_dir("server-trust-b");
    add_user(&a_data, "op", "operator", &["*"]);
    let a = server(&a_data);
    let b = server(&b_data);
    assert_ne!(a.fingerprint(), b.fingerprint(), "each site has its own CA");

    // Plain HTTP gets one line saying to use HTTPS, and no data.
    let mut tcp = std::net::TcpStream::connect(a.addr()).expect("connect");
    tcp.write_all(b"GET /v1/cameras HTTP/1.1\r\nHost: x\r\n\r\n")
        .expect("write");
    let mut answer = String::new();
    let _ = tcp.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 400"), "{answer}");
    assert!(answer.contains("HTTPS only"), "{answer}");

    // Server A presented to a client that trusts B's CA: refused, nothing sent.
    let mut wrong = Api::new(&url(&a), &ca(&b_data)).expect("client");
    let e = wrong.sign_in("op", PASSWORD).expect_err("unknown CA");
    assert!(matches!(e, ClientError::Trust(_)), "{e:?}");
    assert!(e.to_string().contains("does not chain"), "{e}");
    assert!(
        !audit(&a_data).iter().any(|(u, _, _)| u == "op"),
        "a request reached the server through an untrusted connection"
    );

    // First connection: the person is shown A's CA fingerprint, confirms, and it is pinned.
    let pins = common::test_dir("server-trust-pins");
    let store = TrustStore::new(&pins);
    let shown = std::sync::Mutex::new(String::new());
    let mut api = Api::connect(&url(&a), None, &store, &|_, fp| {
        *shown.lock().expect("lock") = fp.to_owned();
        true
    })
    .expect("pinned");
    assert_eq!(*shown.lock().expect("lock"), a.fingerprint());
    api.sign_in("op", PASSWORD)
        .expect("sign-in over the pinned CA");
    // Next time, no question.
    Api::connect(&url(&a), None, &store, &|_, _| panic!("asked again"))
        .expect("pinned")
        .sign_in("op", PASSWORD)
        .expect("sign-in");
    // Declined: nothing pinned, nothing sent.
    let other = TrustStore::new(&pins.join("other"));
    let e = Api::connect(&url(&a), None, &other, &|_, _| false)
        .err()
        .expect("declined");
    assert!(e.to_string().contains("not confirmed"), "{e}");
    // The server's certificate changes (another CA answers on the pinned address): refused.
    let url_a = vigie::client::parse_server_url(&url(&a)).expect("url");
    std::fs::write(store.file_for(&url_a), ca(&b_data)).expect("pin B");
    let e = Api::connect(&url(&a), None, &store, &|_, _| panic!("asked"))
        .expect("client")
        .sign_in("op", PASSWORD)
        .expect_err("changed certificate");
    assert!(matches!(e, ClientError::Trust(_)), "{e:?}");
    a.stop();
    b.stop();
    for d in [a_data, b_data, pins] {
        let _ = std::fs::remove_dir_all(d);
    }
}

#[test]
fn recordings_are_listed_through_the_server_by_the_command() {
    let data = clip_recording("server-cli");
    add_user(&data, "op", "operator", &["cam001"]);
    add_user(&data, "dpo", "auditor", &[]);
    add_user(&data, "admin", "administrator", &[]);
    add_user(&data, "rev", "reviewer", &["cam001"]);
    add_user(&data, "sup", "supervisor", &["*"]);
    let cams = common::test_dir("server-cli-cams");
    let cameras_file = cams.join("cameras.toml");
    std::fs::write(
        &cameras_file,
        vigie::config::CamerasFile::to_toml(&common::site_cameras(), None),
    )
    .expect("cameras file");
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_vigie"))
        .args([
            "server",
            "--no-record",
            "--listen",
            "127.0.0.1:0",
            "--name",
            "127.0.0.1",
        ])
        .arg("--cameras")
        .arg(&cameras_file)
        .arg("--data")
        .arg(&data)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("vigie server starts");
    // Stopped whatever happens to the test.
    let mut child = Stopped(Some(child));
    // The address is on the first line it prints.
    let mut err = std::io::BufReader::new(child.get().stderr.take().expect("stderr"));
    let mut line = String::new();
    let addr = loop {
        line.clear();
        let n = std::io::BufRead::read_line(&mut err, &mut line).expect("read");
        assert!(n > 0, "vigie server exited before listening");
        if let Some(rest) = line.split("API on https://").nth(1) {
            break rest.split('/').next().expect("addr").to_owned();
        }
    };
    std::thread::spawn(move || std::io::copy(&mut err, &mut std::io::sink()));
    let server_url = format!("https://{addr}");
    let ca_file = data.join(vigie::server::pki::CA_FILE);
    let from = vigie::time::rfc3339(CLIP_T0 - CLIP_S);
    let to = vigie::time::rfc3339(CLIP_T0 + 30 * CLIP_S);
    let args = |cam: &str| {
        vec![
            "recordings".to_owned(),
            "--server".into(),
            server_url.clone(),
            "--server-ca".into(),
            ca_file.display().to_string(),
            "--camera".into(),
            cam.into(),
            "--from".into(),
            from.clone(),
            "--to".into(),
            to.clone(),
        ]
    };
    let (ok, out, err) = common::vigie_as("op", args("cam001"));
    assert!(ok, "{err}");
    let store =
        vigie::store::Store::open_readonly(&data.join(vigie::store::INDEX_FILE)).expect("index");
    let segs = store
        .segments("cam001", CLIP_T0 - CLIP_S, CLIP_T0 + 30 * CLIP_S)
        .expect("segments");
    assert!(
        out.contains(&format!("{} segment(s) of cam001", segs.len())),
        "{out}"
    );
    for s in &segs {
        assert!(
            out.contains(&hex(&s.row.sha256)),
            "hash of a segment missing: {out}"
        );
    }
    let (ok, _, err) = common::vigie_as("op", args("cam002"));
    assert!(!ok);
    assert!(err.contains("may not see camera cam002"), "{err}");
    assert!(err.contains("403"), "{err}");
    // Wall commands go through the server: none is signed in, so none is sent; --list says so.
    let conn = [
        "--server".to_owned(),
        server_url.clone(),
        "--server-ca".into(),
        ca_file.display().to_string(),
    ];
    let wall = |more: &[&str]| {
        let mut a: Vec<String> = vec!["wall-send".into()];
        a.extend(conn.iter().cloned());
        a.extend(more.iter().map(|s| s.to_string()));
        common::vigie_as("sup", a)
    };
    let (ok, out, err) = wall(&["--list"]);
    assert!(ok && out.is_empty(), "{out}{err}");
    let (ok, _, err) = wall(&[
        "--to", "poste-2", "--screen", "Incident", "--camera", "cam001",
    ]);
    assert!(!ok);
    assert!(
        err.contains("no wall named \"poste-2\" is signed in now"),
        "{err}"
    );
    let (ok, _, err) = wall(&["--to", "poste-2", "--screen", "Incident"]);
    assert!(!ok && err.contains("--camera or --layout"), "{err}");
    // The auditor reads the operator's entries through the server: the listing and the refusal.
    let (ok, out, err) = common::vigie_as(
        "dpo",
        [
            "audit",
            "show",
            "--server",
            &server_url,
            "--server-ca",
            &ca_file.display().to_string(),
            "--of",
            "op",
        ],
    );
    assert!(ok, "{err}");
    assert!(
        out.contains("op (operator)\trecordings listed\tcam001"),
        "{out}"
    );
    assert!(out.contains("op (operator)\trefused\tcam002"), "{out}");
    assert!(
        !out.contains("dpo (auditor)"),
        "--of op shows only op's entries: {out}"
    );
    // The administrator grants cam002 through the server; then the operator lists it.
    let (ok, _, err) = common::vigie_as(
        "admin",
        [
            "users",
            "grant",
            "op",
            "--cameras",
            "cam001,cam002",
            "--server",
            &server_url,
            "--server-ca",
            &ca_file.display().to_string(),
        ],
    );
    assert!(ok, "{err}");
    assert!(err.contains("op may see cam001,cam002"), "{err}");
    let (ok, out, err) = common::vigie_as("op", args("cam002"));
    assert!(ok, "{err}");
    assert!(out.contains("segment(s) of cam002"), "{out}");
    // The administrator adds an account through the server (their password, then the new
    // one, on standard input); it is listed, and can sign in.
    let add = |name: &str, new_password: &str| {
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_vigie"));
        cmd.args([
            "users",
            "add",
            name,
            "--role",
            "operator",
            "--cameras",
            "cam001",
        ])
        .args(["--server", &server_url, "--server-ca"])
        .arg(&ca_file)
        .args(["--user", "admin", "--password-stdin"]);
        let (ok, _, err) =
            common::run_with_input(&mut cmd, &format!("{PASSWORD}\n{new_password}\n"));
        (ok, err)
    };
    let (ok, err) = add("op2", PASSWORD);
    assert!(ok && err.contains("op2 added as operator"), "{err}");
    let (ok, err) = add("op3", "short");
    assert!(
        !ok && err.contains("password") && err.contains("400"),
        "{err}"
    );
    let (ok, err) = add("op2", PASSWORD);
    assert!(!ok && err.contains("already exists"), "{err}");
    let (ok, out, err) = common::vigie_as(
        "admin",
        [
            "users",
            "list",
            "--server",
            &server_url,
            "--server-ca",
            &ca_file.display().to_string(),
        ],
    );
    assert!(ok, "{err}");
    assert!(out.contains("op2\toperator\tcam001\tenabled"), "{out}");
    let (ok, out, err) = common::vigie_as("op2", args("cam001"));
    assert!(ok && out.contains("segment(s) of cam001"), "{out}{err}");

    // Holds through the server: a reviewer places one, lists it, may not release it; a
    // supervisor does.
    let conn = [
        "--server".to_owned(),
        server_url.clone(),
        "--server-ca".to_owned(),
        ca_file.display().to_string(),
    ];
    let hold = |user: &str, more: &[&str]| {
        let mut a: Vec<String> = vec!["hold".into()];
        a.extend(more.iter().map(|s| s.to_string()));
        a.extend(conn.iter().cloned());
        common::vigie_as(user, a)
    };
    let expires = vigie::time::rfc3339(vigie::time::now_utc_ns() + 30 * 86_400 * CLIP_S);
    let (ok, out, err) = hold(
        "rev",
        &[
            "add",
            "--camera",
            "cam001",
            "--from",
            &vigie::time::rfc3339(CLIP_T0),
            "--to",
            &vigie::time::rfc3339(CLIP_T0 + 4 * CLIP_S),
            "--procedure",
            "PV 2026/0421",
            "--reason",
            "requisition",
            "--expires",
            &expires,
        ],
    );
    assert!(ok, "{err}");
    let id: i64 = out
        .strip_prefix("hold ")
        .and_then(|r| r.split(':').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("a hold id in {out:?}"));
    let (ok, out, err) = hold("rev", &["list"]);
    assert!(
        ok && out.contains("procedure PV 2026/0421  by rev  in force"),
        "{out}{err}"
    );
    let (ok, _, err) = hold("rev", &["release", "--id", &id.to_string()]);
    assert!(!ok && err.contains("403"), "{err}");
    let (ok, out, err) = hold("sup", &["release", "--id", &id.to_string()]);
    assert!(ok && out.contains("released"), "{out}{err}");
    let (ok, _, err) = hold("sup", &["release", "--id", &id.to_string()]);
    assert!(!ok && err.contains("no hold"), "{err}");

    // Privacy masks from the command line through the server: added, listed, removed by an
    // administrator; an operator is refused.
    let masks = |user: &str, more: &[&str]| {
        let mut a: Vec<String> = vec!["masks".into()];
        a.extend(more.iter().map(|s| s.to_string()));
        a.extend(conn.iter().cloned());
        common::vigie_as(user, a)
    };
    let square = "0.1,0.1 0.3,0.1 0.3,0.3 0.1,0.3";
    let (ok, out, err) = masks(
        "admin",
        &[
            "add",
            "--camera",
            "cam001",
            "--polygon",
            square,
            "--label",
            "no. 12",
        ],
    );
    assert!(ok, "{err}");
    let mask_id = out
        .strip_prefix("mask ")
        .and_then(|r| r.split(' ').next())
        .map(str::to_owned)
        .unwrap_or_else(|| panic!("a mask id in {out:?}"));
    let (ok, out, err) = masks("admin", &["list"]);
    assert!(
        ok && out.contains(&format!("{mask_id}\tcam001\t0.1,0.1 0.3,0.1")),
        "{out}{err}"
    );
    let (ok, _, err) = masks("op", &["add", "--camera", "cam001", "--polygon", square]);
    assert!(!ok && err.contains("403"), "{err}");
    let (ok, out, err) = masks("admin", &["remove", "--id", &mask_id]);
    assert!(ok && out.contains("removed"), "{out}{err}");

    // The register through the server, for the auditor; not for an operator.
    let (ok, out, err) = common::vigie_as(
        "dpo",
        std::iter::once("register".to_owned()).chain(conn.iter().cloned()),
    );
    assert!(ok, "{err}");
    assert!(
        out.contains("# Recordings\ncam001\t") && out.contains("# Access requests"),
        "{out}"
    );
    let (ok, _, err) = common::vigie_as(
        "op",
        std::iter::once("register".to_owned()).chain(conn.iter().cloned()),
    );
    assert!(!ok && err.contains("403"), "{err}");

    // The auditor exports the log through the server: signed there, checked here with the
    // installation's public key; and has the chain verified.
    let log_file = cams.join("audit-log.json");
    let (ok, _, err) = common::vigie_as(
        "dpo",
        ["audit".to_owned(), "export".into(), "--out".into()]
            .into_iter()
            .chain([log_file.display().to_string()])
            .chain(conn.iter().cloned()),
    );
    assert!(ok, "{err}");
    let check = std::process::Command::new("openssl")
        .args(["pkeyutl", "-verify", "-pubin", "-inkey"])
        .arg(data.join(vigie::auth::audit::PUBLIC_KEY_FILE))
        .args(["-rawin", "-in"])
        .arg(&log_file)
        .arg("-sigfile")
        .arg(log_file.with_extension("json.sig"))
        .output()
        .expect("openssl");
    assert!(
        String::from_utf8_lossy(&check.stdout).contains("Signature Verified Successfully"),
        "{}",
        String::from_utf8_lossy(&check.stderr)
    );
    let exported = std::fs::read_to_string(&log_file).expect("the export");
    assert!(
        exported.contains("\"audit log exported\""),
        "the export is in the log"
    );
    let (ok, _, err) = common::vigie_as(
        "dpo",
        ["audit".to_owned(), "verify".into()]
            .into_iter()
            .chain(conn.iter().cloned()),
    );
    assert!(ok && err.contains("intact"), "{err}");

    // The operator may not read the audit log.
    let (ok, _, err) = common::vigie_as(
        "op",
        [
            "audit",
            "show",
            "--server",
            &server_url,
            "--server-ca",
            &ca_file.display().to_string(),
        ],
    );
    assert!(!ok);
    assert!(err.contains("may not read the audit log"), "{err}");
    let mut child = child.0.take().expect("the server");
    // SAFETY: a signal to the child this test started.
    unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
    let status = child.wait().expect("exit");
    assert!(
        status.success(),
        "vigie server did not exit cleanly on SIGTERM: {status}"
    );
    let _ = std::fs::remove_dir_all(&data);
    let _ = std::fs::remove_dir_all(&cams);
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// A child process stopped (SIGTERM, then waited for) when the test ends, even by a panic.
struct Stopped(Option<std::process::Child>);

impl Stopped {
    fn get(&mut self) -> &mut std::process::Child {
        self.0.as_mut().expect("the child")
    }
}

impl Drop for Stopped {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            // SAFETY: a signal to the child this test started.
            unsafe { libc::kill(c.id() as i32, libc::SIGTERM) };
            let _ = c.wait();
        }
    }
}
