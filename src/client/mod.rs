//! The workstation's side of the site server: whom to trust, signing in, and requests. No egui
//! and no SQL here: windows and commands talk to the server through this layer only.
//!
//! Trust. A workstation trusts one certificate authority per server: a CA file the site gave
//! (`--server-ca FILE`), or the one it pinned on its first connection after a person compared the
//! CA's SHA-256 fingerprint with the one the server printed at its first start. Pinned CAs are
//! kept in the client's folder (`~/.config/vigie/servers/HOST_PORT.pem`). A server whose
//! certificate does not chain to the trusted CA is refused with a message that says so; nothing
//! is sent to it.
//!
//! Calls block the calling thread (a command's main thread, or a window's own worker thread,
//! never the UI thread).

pub mod alarms;
pub mod exports;
pub mod footage;
pub mod masks;
pub mod relay;
pub mod sse;
pub mod trust;
pub mod views;
pub mod wall;

use std::path::Path;
use std::time::Duration;

use serde::Serialize;
use serde::de::DeserializeOwned;

pub use crate::server::api::{
    ApiAuditEntry, ApiCamera, ApiSegment, ApiTimeline, ApiUser, SessionInfo,
};
pub use crate::server::playback::{ApiMask, StillRecord};

/// Why a request failed, in words for the person who asked.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("{0}")]
    Url(String),
    #[error("{0}")]
    Trust(String),
    #[error("cannot reach the server at {url}: {why}")]
    Unreachable { url: String, why: String },
    /// The server answered with an error status and its message.
    #[error("{message} (HTTP {status})")]
    Refused { status: u16, message: String },
    #[error("the server's answer to {what} could not be read: {why}")]
    Answer { what: String, why: String },
}

impl ClientError {
    /// The HTTP status the server answered, if it answered.
    pub fn status(&self) -> Option<u16> {
        match self {
            ClientError::Refused { status, .. } => Some(*status),
            _ => None,
        }
    }
}

/// A connection to a site server: its address, the trusted CA, and the session once signed in.
pub struct Api {
    base: url::Url,
    ca_pem: Vec<u8>,
    http: reqwest::blocking::Client,
    token: Option<String>,
    session: Option<SessionInfo>,
}

impl Api {
    /// A client for the server at `url` (https://host:port), trusting the CA certificate
    /// `ca_pem` (PEM) only.
    pub fn new(url: &str, ca_pem: &[u8]) -> Result<Api, ClientError> {
        let base = parse_server_url(url)?;
        let config = trust::client_config(ca_pem)?;
        let http = reqwest::blocking::Client::builder()
            .tls_backend_preconfigured(config)
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(60))
            .build()
            .map_err(|e| ClientError::Trust(format!("TLS client set-up: {e}")))?;
        Ok(Api {
            base,
            ca_pem: ca_pem.to_vec(),
            http,
            token: None,
            session: None,
        })
    }

    /// A client for `url`, trusting the CA file given, else the CA pinned for this server in
    /// `store`; with neither, `confirm` is shown the server's CA fingerprint and pins it if it
    /// answers yes.
    pub fn connect(
        url: &str,
        ca_file: Option<&Path>,
        store: &trust::TrustStore,
        confirm: &dyn Fn(&str, &str) -> bool,
    ) -> Result<Api, ClientError> {
        let base = parse_server_url(url)?;
        let pem = match ca_file {
            Some(f) => std::fs::read(f)
                .map_err(|e| ClientError::Trust(format!("--server-ca {}: {e}", f.display())))?,
            None => store.pinned_or_ask(&base, confirm)?,
        };
        Api::new(url, &pem)
    }

    pub fn base(&self) -> &url::Url {
        &self.base
    }

    /// Signs in; the session is kept for the next requests.
    pub fn sign_in(&mut self, user: &str, password: &str) -> Result<SessionInfo, ClientError> {
        #[derive(Serialize)]
        struct Body<'a> {
            user: &'a str,
            password: &'a str,
        }
        let s: SessionInfo = self.post("/v1/sessions", &Body { user, password })?;
        self.token = Some(s.token.clone());
        self.session = Some(s.clone());
        Ok(s)
    }

    /// The session's token (for a second connection of the same workstation).
    /// The CA this client trusts (PEM).
    pub fn ca_pem(&self) -> &[u8] {
        &self.ca_pem
    }

    pub fn token(&self) -> Option<&str> {
        self.token.as_deref()
    }

    /// Uses a session token obtained elsewhere.
    pub fn with_token(mut self, token: &str) -> Api {
        self.token = Some(token.to_owned());
        self
    }

    pub fn session(&self) -> Option<&SessionInfo> {
        self.session.as_ref()
    }

    /// Signs out (the server forgets the session).
    pub fn sign_out(&mut self) -> Result<(), ClientError> {
        if self.token.is_some() {
            let r = self.send(self.http.delete(self.url("/v1/session")?), "/v1/session");
            self.token = None;
            self.session = None;
            r.map(|_| ())
        } else {
            Ok(())
        }
    }

    pub fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, ClientError> {
        let r = self.send(self.http.get(self.url(path)?), path)?;
        decode(r, path)
    }

    pub fn post<B: Serialize, T: DeserializeOwned>(
        &self,
        path: &str,
        body: &B,
    ) -> Result<T, ClientError> {
        let r = self.send(self.http.post(self.url(path)?).json(body), path)?;
        decode(r, path)
    }

    /// A GET whose answer is bytes (a GOP).
    pub fn get_bytes(&self, path: &str) -> Result<Vec<u8>, ClientError> {
        let r = self.send(self.http.get(self.url(path)?), path)?;
        r.bytes()
            .map(|b| b.to_vec())
            .map_err(|e| ClientError::Answer {
                what: path.to_owned(),
                why: e.to_string(),
            })
    }

    /// A DELETE; its answer's body is not read.
    pub fn delete(&self, path: &str) -> Result<(), ClientError> {
        self.send(self.http.delete(self.url(path)?), path)
            .map(|_| ())
    }

    /// A GET whose answer is read as it comes (a download), with `limit` for the whole of it.
    pub fn get_stream(
        &self,
        path: &str,
        limit: Duration,
    ) -> Result<reqwest::blocking::Response, ClientError> {
        self.send(self.http.get(self.url(path)?).timeout(limit), path)
    }

    /// A PUT whose answer has no body.
    pub fn put_empty<B: Serialize>(&self, path: &str, body: &B) -> Result<(), ClientError> {
        self.send(self.http.put(self.url(path)?).json(body), path)
            .map(|_| ())
    }

    /// A POST whose answer has no body.
    pub fn post_empty<B: Serialize>(&self, path: &str, body: &B) -> Result<(), ClientError> {
        self.send(self.http.post(self.url(path)?).json(body), path)
            .map(|_| ())
    }

    /// Acts on an alarm: "acknowledge", "take", "comment" or "close". The server decides; an
    /// action that another workstation's made moot is answered 409 with what happened.
    pub fn alarm_action(
        &self,
        id: i64,
        action: &str,
        comment: &str,
    ) -> Result<crate::store::AlarmRow, ClientError> {
        self.post(
            &format!("/v1/alarms/{id}/actions"),
            &serde_json::json!({ "action": action, "comment": comment }),
        )
    }

    /// The alarm feed of this session, from the alarms changed after `after` (0: all).
    pub fn alarm_feed(
        &self,
        after: i64,
        out: std::sync::mpsc::Sender<alarms::FeedMessage>,
    ) -> Result<alarms::AlarmFeed, ClientError> {
        let token = self
            .token
            .clone()
            .ok_or_else(|| ClientError::Trust("not signed in".into()))?;
        alarms::AlarmFeed::start(self.base.clone(), &self.ca_pem, token, after, out)
    }

    pub fn cameras(&self) -> Result<Vec<ApiCamera>, ClientError> {
        self.get("/v1/cameras")
    }

    pub fn timeline(&self, camera: &str, from: i64, to: i64) -> Result<ApiTimeline, ClientError> {
        self.get(&format!(
            "/v1/cameras/{}/timeline?from={from}&to={to}",
            path_segment(camera)
        ))
    }

    pub fn recordings(
        &self,
        camera: &str,
        from: i64,
        to: i64,
    ) -> Result<Vec<ApiSegment>, ClientError> {
        self.get(&format!(
            "/v1/cameras/{}/recordings?from={from}&to={to}",
            path_segment(camera)
        ))
    }

    /// The cameras this user may watch live (their video comes through [`relay::RelayClient`]:
    /// no address or credential is handed).
    pub fn live_cameras(&self) -> Result<Vec<crate::config::Camera>, ClientError> {
        self.get("/v1/live/cameras")
    }

    /// The privacy masks in force on every camera this user may see.
    pub fn all_masks(
        &self,
    ) -> Result<std::collections::BTreeMap<String, Vec<ApiMask>>, ClientError> {
        self.get("/v1/masks")
    }

    /// The review timeline of `camera` over `from..to`.
    pub fn review_timeline(
        &self,
        camera: &str,
        from: i64,
        to: i64,
    ) -> Result<crate::playback::timeline::TimelineData, ClientError> {
        self.get(&format!(
            "/v1/cameras/{}/review?from={from}&to={to}",
            path_segment(camera)
        ))
    }

    /// The privacy masks in force on `camera`.
    pub fn masks(&self, camera: &str) -> Result<Vec<ApiMask>, ClientError> {
        self.get(&format!("/v1/cameras/{}/masks", path_segment(camera)))
    }

    /// Asks to take a still of `camera` (the server checks the right and logs it first).
    pub fn record_still(&self, camera: &str, still: &StillRecord) -> Result<(), ClientError> {
        self.post_empty(
            &format!("/v1/cameras/{}/stills", path_segment(camera)),
            still,
        )
    }

    fn url(&self, path: &str) -> Result<url::Url, ClientError> {
        self.base
            .join(path)
            .map_err(|e| ClientError::Url(format!("{path}: {e}")))
    }

    fn send(
        &self,
        mut req: reqwest::blocking::RequestBuilder,
        what: &str,
    ) -> Result<reqwest::blocking::Response, ClientError> {
        if let Some(t) = &self.token {
            req = req.bearer_auth(t);
        }
        let r = req.send().map_err(|e| self.transport_error(&e))?;
        let status = r.status();
        if status.is_success() {
            return Ok(r);
        }
        let text = r.text().unwrap_or_default();
        let message = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_owned))
            .unwrap_or_else(|| format!("{what}: {}", text.trim()));
        Err(ClientError::Refused {
            status: status.as_u16(),
            message,
        })
    }

    fn transport_error(&self, e: &reqwest::Error) -> ClientError {
        let host = self.base.host_str().unwrap_or("?").to_owned();
        let port = self.base.port_or_known_default().unwrap_or(0);
        if let Some(t) = trust::certificate_problem(e) {
            return ClientError::Trust(format!(
                "the server at {host}:{port} was refused: {t}. Its certificate does not chain to \
                 the CA this workstation trusts for it; if the site really changed its CA, check \
                 the new fingerprint with the administrator and trust it again"
            ));
        }
        let mut why = e.to_string();
        let mut src = std::error::Error::source(e);
        while let Some(s) = src {
            why = format!("{why}: {s}");
            src = s.source();
        }
        ClientError::Unreachable {
            url: self.base.to_string(),
            why,
        }
    }
}

fn decode<T: DeserializeOwned>(
    r: reqwest::blocking::Response,
    what: &str,
) -> Result<T, ClientError> {
    let bytes = r.bytes().map_err(|e| ClientError::Answer {
        what: what.to_owned(),
        why: e.to_string(),
    })?;
    // An empty answer reads as JSON null (for the calls that answer nothing).
    let text: &[u8] = if bytes.is_empty() { b"null" } else { &bytes };
    serde_json::from_slice(text).map_err(|e| ClientError::Answer {
        what: what.to_owned(),
        why: e.to_string(),
    })
}

/// A camera id as one path segment (ids are plain, but never trusted to be).
pub fn path_segment(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// `https://host[:port]`, with the port 8443 when none is given. Plain http is refused.
pub fn parse_server_url(text: &str) -> Result<url::Url, ClientError> {
    let with_scheme = if text.contains("://") {
        text.to_owned()
    } else {
        format!("https://{text}")
    };
    let mut u = url::Url::parse(&with_scheme)
        .map_err(|e| ClientError::Url(format!("--server {text:?}: {e}")))?;
    if u.scheme() != "https" {
        return Err(ClientError::Url(format!(
            "--server {text:?}: the server speaks HTTPS only (https://host:port)"
        )));
    }
    if u.host_str().is_none() {
        return Err(ClientError::Url(format!("--server {text:?}: no host")));
    }
    if u.port().is_none() {
        let _ = u.set_port(Some(DEFAULT_PORT));
    }
    u.set_path("/");
    Ok(u)
}

/// A player of `camera`'s recordings on the site server `api`.
pub fn player(api: &std::sync::Arc<Api>, camera: &str) -> crate::playback::Player {
    crate::playback::Player::with_source(Box::new(footage::RemoteFootage::new(api.clone())), camera)
}

/// An audit writer for a live wall signed in at the server: each entry is reported to it
/// (`POST /v1/live/log`), which writes it in the user's name.
pub fn live_writer(api: std::sync::Arc<Api>) -> crate::auth::audit::Writer {
    crate::auth::audit::Writer::with_sink(Box::new(move |e| {
        api.post_empty(
            "/v1/live/log",
            &crate::server::live::LiveReport {
                action: e.action,
                cameras: e.cameras,
                reason: e.reason,
                detail: e.detail,
            },
        )
        .map_err(|err| err.to_string())
    }))
}

/// The API's port when a URL names none.
pub const DEFAULT_PORT: u16 = 8443;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_urls_are_https_with_a_port() {
        assert_eq!(
            parse_server_url("vigie.local").expect("url").as_str(),
            "https://vigie.local:8443/"
        );
        assert_eq!(
            parse_server_url("https://127.0.0.1:9000/x")
                .expect("url")
                .as_str(),
            "https://127.0.0.1:9000/"
        );
        let e = parse_server_url("http://vigie.local:8443").expect_err("plain http");
        assert!(e.to_string().contains("HTTPS only"), "{e}");
    }

    #[test]
    fn camera_ids_cannot_leave_their_path_segment() {
        assert_eq!(path_segment("cam001"), "cam001");
        assert_eq!(path_segment("../users"), "..%2Fusers");
    }
}
