//! What each fuzz target does with its input. The normal test suite runs the same functions
//! over the committed corpora and every crash once found (`tests/fuzz_corpora.rs`), so a
//! finding stays fixed.
//!
//! Each function must return for any input, without panicking and without allocating more
//! than its input calls for; the properties checked beyond that are stated on each.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Duration;

/// The fragmented-MP4 readers, on a file's bytes: `complete_length`, `scan`, `sample_table`,
/// `read_track`, `read_fragment` at every `moof`, and the GOP message a workstation reads
/// from the server. Whatever they find lies within the input.
pub fn fmp4(data: &[u8]) {
    use vigie::record::fmp4;
    let complete = fmp4::complete_length(data);
    assert!(complete <= data.len() as u64);
    if let Some(scan) = fmp4::scan(data) {
        assert!(scan.complete_len <= data.len() as u64);
        for (_, at) in &scan.keyframes {
            assert!(*at < data.len() as u64);
        }
    }
    if let Some(table) = fmp4::sample_table(data) {
        for s in &table.samples {
            assert!(s.offset + s.size as u64 <= data.len() as u64);
        }
    }
    let _ = fmp4::read_track(data);
    let mut at = 0;
    while let Some(i) = data[at..].windows(4).position(|w| w == b"moof") {
        let start = (at + i).saturating_sub(4);
        if let Some((samples, _, _)) = fmp4::read_fragment(&data[start..], start as u64) {
            assert!(samples.len() <= data.len() / 12);
        }
        at += i + 4;
    }
    let _ = vigie::playback::source::RawGop::decode(data);
}

/// Events and vehicle positions as JSON (HTTP bodies), and position datagrams (UDP) with or
/// without their MAC line.
pub fn events_json(data: &[u8]) {
    let _ = vigie::events::parse_event(data);
    let _ = vigie::events::parse_position(data);
    let (report, mac) = vigie::events::split_datagram(data);
    assert!(report.len() <= data.len());
    if let Some(mac) = mac {
        let _ = vigie::events::verify_mac(&[7u8; 32], report, mac.digest);
    }
}

struct EventService {
    addr: SocketAddr,
    _service: vigie::events::service::EventService,
}

/// A fresh folder for this process (its servers live as long as it does, so nothing removes
/// it at the end); those of processes that have ended are removed first.
fn scratch(name: &str) -> PathBuf {
    let prefix = format!("vigie-fuzz-{name}-");
    if let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) {
        for e in entries.flatten() {
            let file = e.file_name().to_string_lossy().into_owned();
            if let Some(pid) = file.strip_prefix(&prefix)
                && pid.parse::<u32>().is_ok()
                && !std::path::Path::new("/proc").join(pid).exists()
            {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
    let dir = std::env::temp_dir().join(format!("{prefix}{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch folder");
    dir
}

fn running_event_service() -> &'static EventService {
    static SERVICE: OnceLock<EventService> = OnceLock::new();
    SERVICE.get_or_init(|| {
        let data = scratch("events");
        let demo = vigie::sim::demo_cameras();
        let cameras = (1..=3)
            .map(|n| vigie::sim::sim_camera(n, "127.0.0.1:9", &demo))
            .collect();
        let rules = vigie::events::rules::Rules::parse(
            std::path::Path::new("alarms.toml"),
            "[[button]]\nid = \"btn-1\"\nname = \"Gare\"\nlatitude = 50.36\nlongitude = 3.51\n",
        )
        .expect("rules");
        let service =
            vigie::events::service::EventService::start(vigie::events::service::ServiceOptions {
                data,
                listen: "127.0.0.1:0".parse().expect("addr"),
                udp: None,
                rules,
                cameras,
                tls: None,
            })
            .expect("event service");
        EventService {
            addr: service.addr(),
            _service: service,
        }
    })
}

/// The event service, given the input as the bytes of one HTTP connection (request line,
/// headers, body): it answers with a status line or closes, and keeps serving.
pub fn event_service(data: &[u8]) {
    let s = running_event_service();
    let mut c = std::net::TcpStream::connect(s.addr).expect("connect");
    c.set_read_timeout(Some(Duration::from_secs(40)))
        .expect("timeout");
    // The service may answer and close before it has read everything.
    let _ = c.write_all(data);
    let _ = c.shutdown(std::net::Shutdown::Write);
    let mut answer = Vec::new();
    let _ = c.take(1 << 20).read_to_end(&mut answer);
    assert!(
        answer.is_empty() || answer.starts_with(b"HTTP/1."),
        "not an HTTP answer: {:?}",
        String::from_utf8_lossy(&answer[..answer.len().min(80)])
    );
}

/// The configuration files, chosen by the first byte: cameras, alarm rules, layout,
/// workstation. A refusal names the file and, where it has one, the line.
pub fn config_toml(data: &[u8]) {
    let Some((&kind, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    let name = [
        "cameras.toml",
        "alarms.toml",
        "layout.toml",
        "workstation.toml",
    ][kind as usize % 4];
    let path = std::path::Path::new(name);
    let error = match kind % 4 {
        0 => vigie::config::CamerasFile::parse(path, text)
            .err()
            .map(|e| e.to_string()),
        1 => vigie::events::rules::Rules::parse(path, text)
            .err()
            .map(|e| e.to_string()),
        2 => vigie::config::Layout::parse(path, text)
            .err()
            .map(|e| e.to_string()),
        _ => vigie::config::Workstation::parse(path, text)
            .err()
            .map(|e| e.to_string()),
    };
    if let Some(e) = error {
        assert!(e.contains(name), "the error does not name the file: {e}");
    }
}

/// Camera addresses: the user part taken out, redaction, and a cameras file carrying the
/// address. A password in the address never survives redaction.
pub fn rtsp_url(data: &[u8]) {
    let Ok(url) = std::str::from_utf8(data) else {
        return;
    };
    let (clean, userinfo) = vigie::config::split_userinfo(url);
    assert!(clean.len() <= url.len());
    let redacted = vigie::config::redact_url(url);
    if let Some(userinfo) = userinfo {
        assert_eq!(vigie::config::split_userinfo(&redacted).1, Some("***"));
        assert!(!userinfo.is_empty() || redacted.contains("***@"));
    }
    if !url.contains(['"', '\\', '\n', '\r']) {
        let error = |url: &str| {
            let text = format!(
                "[[camera]]\nid = \"cam001\"\nname = \"A\"\nmain_url = \"{url}\"\nsub_url = \"{url}\"\n"
            );
            vigie::config::CamerasFile::parse(std::path::Path::new("c.toml"), &text)
                .err()
                .map(|e| e.to_string())
        };
        if let Some(userinfo) = userinfo
            && let Some((user, secret)) = userinfo.split_once(':')
            && secret.len() >= 4
            && let Some(e) = error(url)
            && e.contains(secret)
        {
            // Only where the message would hold those characters anyway (a word of its own
            // text), not because it echoes the address's password: the same address with
            // the password masked gives them too.
            let at = url.find("://").map_or(0, |i| i + 3);
            let masked = format!(
                "{}{user}:{}{}",
                &url[..at],
                "#".repeat(secret.len()),
                &url[at + userinfo.len()..]
            );
            let e2 = error(&masked).unwrap_or_default();
            assert!(e2.contains(secret), "the error shows the password: {e}");
        }
    }
}

fn export_key() -> &'static (ed25519_dalek::SigningKey, String) {
    static KEY: OnceLock<(ed25519_dalek::SigningKey, String)> = OnceLock::new();
    KEY.get_or_init(|| {
        use ed25519_dalek::pkcs8::EncodePublicKey;
        let key = ed25519_dalek::SigningKey::from_bytes(&[3u8; 32]);
        let pem = key
            .verifying_key()
            .to_public_key_pem(ed25519_dalek::pkcs8::spki::der::pem::LineEnding::LF)
            .expect("pem");
        (key, pem)
    })
}

/// `verify` of an export folder whose manifest and SHA256SUMS are the input (split at the
/// first NUL), the manifest signed so that verification goes past the signature; the folder
/// also holds a link to `/dev/zero`, which must never be followed (the call returns). A
/// folder passes only with at least one listed file checked.
pub fn export_verify(data: &[u8]) {
    use ed25519_dalek::Signer;
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    let dir = DIR.get_or_init(|| {
        let dir = scratch("verify");
        std::fs::write(dir.join("clip.mp4"), b"footage").expect("clip");
        std::fs::write(dir.join("README.txt"), b"readme").expect("readme");
        let _ = std::os::unix::fs::symlink("/dev/zero", dir.join("zero.mp4"));
        dir
    });
    let (manifest, sums) = match data.iter().position(|b| *b == 0) {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &b""[..]),
    };
    let (key, pem) = export_key();
    std::fs::write(dir.join(vigie::export::MANIFEST), manifest).expect("manifest");
    std::fs::write(dir.join(vigie::export::SUMS), sums).expect("sums");
    std::fs::write(
        dir.join(vigie::export::SIGNATURE),
        key.sign(manifest).to_bytes(),
    )
    .expect("signature");
    std::fs::write(dir.join(vigie::export::PUBLIC_KEY), pem).expect("key");
    let v = vigie::export::verify(dir, None);
    if v.problems.is_empty() {
        assert!(v.files_ok >= 1);
    }
}

struct ApiServer {
    base: String,
    token: String,
    http: reqwest::blocking::Client,
    _server: vigie::server::Server,
}

fn api_server() -> &'static ApiServer {
    static SERVER: OnceLock<ApiServer> = OnceLock::new();
    SERVER.get_or_init(|| {
        let data = scratch("server");
        let password = "a long fuzzing password";
        let store = vigie::store::Store::open(&data.join(vigie::store::INDEX_FILE)).expect("index");
        let hash = vigie::auth::hash_password(password).expect("hash");
        store
            .add_user("fuzz", "administrator", &hash, &["*".to_owned()], 0)
            .expect("user");
        drop(store);
        let demo = vigie::sim::demo_cameras();
        let mut opts = vigie::server::ServerOptions::local(
            &data,
            (1..=3)
                .map(|n| vigie::sim::sim_camera(n, "127.0.0.1:9", &demo))
                .collect(),
        );
        opts.listen = "127.0.0.1:0".parse().expect("addr");
        let server = vigie::server::Server::start(opts).expect("server");
        let ca = std::fs::read(data.join(vigie::server::pki::CA_FILE)).expect("CA");
        let base = format!("https://127.0.0.1:{}", server.addr().port());
        let mut api = vigie::client::Api::new(&base, &ca).expect("client");
        api.sign_in("fuzz", password).expect("sign-in");
        let http = reqwest::blocking::Client::builder()
            .tls_backend_preconfigured(vigie::client::trust::client_config(&ca).expect("tls"))
            .timeout(Duration::from_secs(30))
            .build()
            .expect("client");
        ApiServer {
            base,
            token: api.token().expect("token").to_owned(),
            http,
            _server: server,
        }
    })
}

/// One request to the site server's API, signed in as an administrator: the input's first
/// line is `METHOD PATH?QUERY`, the rest the body. The server answers every request with a
/// status (a refusal is 4xx with a JSON error), never 5xx for bad input.
///
/// Left out, as they would end the harness's own session: signing out and disabling users.
pub fn server_api(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (line, body) = text.split_once('\n').unwrap_or((text, ""));
    let Some((method, path)) = line.split_once(' ') else {
        return;
    };
    let Ok(method) = reqwest::Method::from_bytes(method.as_bytes()) else {
        return;
    };
    if !path.starts_with('/')
        || path.contains("/disable")
        || (method == reqwest::Method::DELETE && path.starts_with("/v1/session"))
    {
        return;
    }
    let s = api_server();
    let Ok(url) = reqwest::Url::parse(&format!("{}{path}", s.base)) else {
        return;
    };
    let r = s
        .http
        .request(method, url)
        .bearer_auth(&s.token)
        .header("content-type", "application/json")
        .body(body.to_owned())
        .send()
        .expect("the server answers");
    let status = r.status();
    assert!(
        !status.is_server_error(),
        "{line}: {status} {}",
        if path.contains("/feed") {
            String::new()
        } else {
            r.text().unwrap_or_default()
        }
    );
}
