//! The site server's HTTPS API, version 1: JSON in and out, every error a status and a message
//! naming what is wrong (`{"error": "..."}`).
//!
//! Every request but `GET /v1/server` and `POST /v1/sessions` carries `Authorization: Bearer
//! TOKEN`. The handler checks the session, re-reads the user's row (a disabled account or a
//! changed role ends its sessions there and then), checks the role and the camera grant, and
//! writes the audit entry before any data is answered; a refusal is answered 403 and logged.
//!
//! Handlers run on the server's tokio workers; SQL runs on the blocking pool through a small
//! pool of index connections, never on a worker.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::{Deserialize, Serialize};

use super::sessions::{SessionUser, Sessions, new_token};
use crate::auth::{Action, Role, audit};
use crate::config::Camera;
use crate::store::{INDEX_FILE, Store};

/// The peer of a connection (set by the accept loop on every request).
#[derive(Clone, Copy, Debug)]
pub struct Peer(pub SocketAddr);

/// What the handlers share.
pub struct ApiState {
    pub data: PathBuf,
    pub cameras: Vec<Camera>,
    pub sessions: Sessions,
    pub ca_fingerprint: String,
    /// Alarm rows as they change (see `alarms`).
    pub alarms: tokio::sync::broadcast::Sender<crate::store::AlarmRow>,
    /// Exports being made or waiting for their download.
    pub exports: super::exports::Exports,
    /// SHA-256 of the installation's signing key (what a verifier of an export compares).
    pub signing_fingerprint: String,
    /// Viewings of recorded footage not yet written to the audit log.
    pub playback: super::playback::PlaybackLog,
    /// Live walls listening for wall commands.
    pub walls: super::wall::Walls,
    /// The cameras' live streams, relayed to workstations.
    pub relay: Arc<crate::relay::hub::Hub>,
    /// Live views being sent (logged as stopped if the server stops first).
    pub live_views: super::relay::LiveViews,
    /// The runtime of the camera sessions, where live connections run too.
    pub relay_runtime: std::sync::OnceLock<tokio::runtime::Handle>,
    pool: Mutex<Vec<Store>>,
    /// A hash to check unknown names against, so that they cost the same work as known ones.
    decoy_hash: String,
}

impl ApiState {
    pub fn new(
        data: PathBuf,
        cameras: Vec<Camera>,
        sessions: Sessions,
        ca_fingerprint: String,
        signing_fingerprint: String,
        relay: Arc<crate::relay::hub::Hub>,
    ) -> Result<ApiState, crate::auth::PasswordError> {
        Ok(ApiState {
            relay,
            live_views: super::relay::LiveViews::at(&data),
            relay_runtime: Default::default(),
            exports: super::exports::Exports::new(&data),
            playback: Default::default(),
            walls: Default::default(),
            signing_fingerprint,
            data,
            cameras,
            sessions,
            ca_fingerprint,
            alarms: tokio::sync::broadcast::channel(4096).0,
            pool: Mutex::new(Vec::new()),
            decoy_hash: crate::auth::hash_password("decoy password, never used")?,
        })
    }

    pub(crate) fn store(&self) -> Result<Store, ApiError> {
        if let Some(s) = self.pool.lock().unwrap_or_else(|p| p.into_inner()).pop() {
            return Ok(s);
        }
        Store::open_existing(&self.data.join(INDEX_FILE)).map_err(ApiError::internal)
    }

    pub(crate) fn put_back(&self, s: Store) {
        let mut pool = self.pool.lock().unwrap_or_else(|p| p.into_inner());
        if pool.len() < 8 {
            pool.push(s);
        }
    }
}

type Shared = Arc<ApiState>;

/// An answer other than success: a status and a message for a person.
#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
        }
    }
    pub(crate) fn internal(e: impl std::fmt::Display) -> ApiError {
        tracing::error!("api: {e}");
        ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("server error: {e}"),
        )
    }
    fn bad(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut r = (
            self.status,
            Json(serde_json::json!({ "error": self.message })),
        )
            .into_response();
        if self.status == StatusCode::UNAUTHORIZED {
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer realm=\"vigie\""),
            );
        }
        r
    }
}

/// Runs `f` with an index connection on the blocking pool.
pub(crate) async fn with_store<T: Send + 'static>(
    st: &Shared,
    f: impl FnOnce(&ApiState, &Store) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let st = st.clone();
    tokio::task::spawn_blocking(move || {
        let store = st.store()?;
        let r = f(&st, &store);
        st.put_back(store);
        r
    })
    .await
    .map_err(ApiError::internal)?
}

/// A signed-in caller: who, and the cameras granted now.
pub struct Caller {
    pub who: SessionUser,
    pub cameras: Vec<String>,
    pub token: String,
    pub peer: Option<SocketAddr>,
}

impl Caller {
    pub(crate) fn may_see(&self, camera: &str) -> bool {
        self.cameras.iter().any(|c| c == "*" || c == camera)
    }

    pub(crate) fn entry(
        &self,
        action: &str,
        cameras: &str,
        range: Option<(i64, i64)>,
    ) -> audit::Entry {
        audit::Entry {
            at_utc_ns: crate::time::now_utc_ns(),
            user: self.who.user.clone(),
            role: self.who.role.as_str().to_owned(),
            action: action.to_owned(),
            cameras: cameras.to_owned(),
            range,
            reason: String::new(),
            detail: self
                .peer
                .map(|p| format!("from {}", p.ip()))
                .unwrap_or_default(),
        }
    }

    /// Ok when the role allows `action` on all of `cameras`; otherwise the refusal is logged and
    /// returned as 403.
    pub(crate) fn require(
        &self,
        store: &Store,
        action: Action,
        cameras: &[&str],
    ) -> Result<(), ApiError> {
        let why = if !crate::auth::allowed(self.who.role, action) {
            Some(crate::auth::AuthError::Denied {
                user: self.who.user.clone(),
                role: self.who.role,
                action: action.as_str(),
            })
        } else {
            cameras.iter().find(|c| !self.may_see(c)).map(|c| {
                crate::auth::AuthError::CameraDenied {
                    user: self.who.user.clone(),
                    camera: (*c).to_owned(),
                }
            })
        };
        let Some(why) = why.map(|e| e.to_string()) else {
            return Ok(());
        };
        let mut e = self.entry("refused", &cameras.join(","), None);
        e.detail = why.clone();
        audit::append_with(store, &e).map_err(ApiError::internal)?;
        Err(ApiError::new(StatusCode::FORBIDDEN, why))
    }

    /// Writes an audit entry in the caller's name (before the answer leaves).
    pub(crate) fn log(
        &self,
        store: &Store,
        action: &str,
        cameras: &str,
        range: Option<(i64, i64)>,
    ) -> Result<(), ApiError> {
        audit::append_with(store, &self.entry(action, cameras, range))
            .map(|_| ())
            .map_err(ApiError::internal)
    }
}

impl FromRequestParts<Shared> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, st: &Shared) -> Result<Caller, ApiError> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::UNAUTHORIZED,
                    "not signed in: this request needs an Authorization: Bearer header",
                )
            })?
            .to_owned();
        let peer = parts.extensions.get::<Peer>().map(|p| p.0);
        let who = st
            .sessions
            .check(&token, Instant::now())
            .map_err(|r| ApiError::new(StatusCode::UNAUTHORIZED, r.message()))?;
        let name = who.user.clone();
        let row = with_store(st, move |_, s| s.user(&name).map_err(ApiError::internal)).await?;
        let ended = |why: String| {
            st.sessions.end_user(&who.user, &why);
            ApiError::new(StatusCode::UNAUTHORIZED, why)
        };
        let Some(row) = row else {
            return Err(ended(format!("the account {} no longer exists", who.user)));
        };
        if row.disabled_utc_ns.is_some() {
            return Err(ended(format!(
                "the account {} was disabled: its sessions are closed",
                who.user
            )));
        }
        if Role::parse(&row.role) != Some(who.role) {
            return Err(ended(format!(
                "the role of {} changed: sign in again",
                who.user
            )));
        }
        Ok(Caller {
            who,
            cameras: row.cameras,
            token,
            peer,
        })
    }
}

/// The API's routes over `state`.
pub fn router(state: Shared) -> Router {
    Router::new()
        .route("/v1/server", get(server_info))
        .route("/v1/sessions", post(sign_in))
        .route("/v1/session", get(session_info).delete(sign_out))
        .route("/v1/cameras", get(cameras))
        .route("/v1/cameras/{id}/timeline", get(timeline))
        .route("/v1/cameras/{id}/recordings", get(recordings))
        .route("/v1/cameras/{id}/gop", get(super::playback::gop))
        .route(
            "/v1/cameras/{id}/masks",
            get(super::playback::masks).post(super::playback::add_mask),
        )
        .route(
            "/v1/cameras/{id}/mask-still",
            get(super::playback::mask_still),
        )
        .route(
            "/v1/masks/{mask}",
            axum::routing::delete(super::playback::remove_mask),
        )
        .route("/v1/cameras/{id}/masks/lift", post(super::review::lift))
        .route("/v1/cameras/{id}/review", get(super::review::timeline))
        .route("/v1/cameras/{id}/bookmarks", post(super::review::bookmark))
        .route("/v1/cameras/{id}/holds", post(super::review::hold))
        .route("/v1/holds", get(super::review::holds))
        .route(
            "/v1/holds/{hold}/release",
            post(super::review::release_hold),
        )
        .route("/v1/masks", get(super::review::all_masks))
        .route("/v1/cameras/{id}/stills", post(super::playback::still))
        .route("/v1/audit", get(audit_log))
        .route("/v1/register", get(register))
        .route("/v1/live", get(super::relay::live))
        .route("/v1/live/cameras", get(super::live::cameras))
        .route("/v1/live/log", post(super::live::log))
        .route("/v1/views", get(super::live::views))
        .route(
            "/v1/views/{name}",
            axum::routing::put(super::live::save_view),
        )
        .route("/v1/wall/feed", get(super::wall::feed))
        .route("/v1/wall/commands", post(super::wall::send))
        .route("/v1/wall/workstations", get(super::wall::workstations))
        .route("/v1/audit/export", get(audit_export))
        .route("/v1/audit/verify", get(audit_verify))
        .route("/v1/users", get(users).post(add_user))
        .route("/v1/users/{name}/disable", post(disable_user))
        .route("/v1/retention/allow", post(allow_retention))
        .route("/v1/users/{name}/cameras", post(grant_cameras))
        .route("/v1/alarms/feed", get(super::alarms::feed))
        .route("/v1/alarms/{id}/actions", post(super::alarms::act))
        .route("/v1/alarms/{id}/dispatch", post(super::alarms::dispatch))
        .route("/v1/alarms/notes", get(super::alarms::notes))
        .route("/v1/vehicles", get(super::alarms::vehicles))
        .merge(super::exports::routes())
        .fallback(|uri: axum::http::Uri| async move {
            ApiError::new(
                StatusCode::NOT_FOUND,
                format!("no such API path: {}", uri.path()),
            )
        })
        .with_state(state)
}

async fn server_info(State(st): State<Shared>) -> Json<serde_json::Value> {
    Json(serde_json::json!({
        "product": "vigie",
        "version": env!("CARGO_PKG_VERSION"),
        "api": 1,
        "ca_sha256": st.ca_fingerprint,
        "signing_key_sha256": st.signing_fingerprint,
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignIn {
    pub user: String,
    pub password: String,
}

/// The answer to a sign-in.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct SessionInfo {
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub token: String,
    pub user: String,
    pub role: String,
    pub cameras: Vec<String>,
    pub idle_timeout_s: u64,
    pub lifetime_s: u64,
}

pub(crate) fn json_body<T>(body: Result<Json<T>, JsonRejection>) -> Result<T, ApiError> {
    body.map(|Json(b)| b)
        .map_err(|e| ApiError::bad(format!("request body: {}", e.body_text())))
}

pub(crate) fn query<T>(q: Result<Query<T>, QueryRejection>) -> Result<T, ApiError> {
    q.map(|Query(q)| q)
        .map_err(|e| ApiError::bad(format!("query: {}", e.body_text())))
}

async fn sign_in(
    State(st): State<Shared>,
    peer: Option<Extension<Peer>>,
    body: Result<Json<SignIn>, JsonRejection>,
) -> Result<(StatusCode, Json<SessionInfo>), ApiError> {
    let SignIn { user, password } = json_body(body)?;
    let user = user.trim().to_owned();
    if user.is_empty() || user.len() > 64 || user.chars().any(char::is_control) {
        return Err(ApiError::bad(
            "user: a name of 1 to 64 characters without control characters",
        ));
    }
    if password.len() > 1024 {
        return Err(ApiError::bad("password: longer than 1024 bytes"));
    }
    let addr = peer
        .map(|Extension(p)| p.0.ip())
        .unwrap_or(std::net::IpAddr::from([0, 0, 0, 0]));
    if let Some(wait) = st.sessions.throttled(&user, addr, Instant::now()) {
        let name = user.clone();
        with_store(&st, move |_, s| {
            let e = audit::Entry {
                at_utc_ns: crate::time::now_utc_ns(),
                user: name,
                action: "login throttled".into(),
                detail: format!("from {addr}"),
                ..Default::default()
            };
            audit::append_with(s, &e).map_err(ApiError::internal)
        })
        .await?;
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            format!(
                "too many failed sign-ins for {user} or from {addr}: try again in {} s",
                wait.as_secs().max(1)
            ),
        ));
    }
    let name = user.clone();
    let checked = with_store(&st, move |st, s| {
        let found = s.user_credentials(&name).map_err(ApiError::internal)?;
        // The same Argon2 work whether or not the name exists.
        let hash = found
            .as_ref()
            .map(|(_, h)| h.as_str())
            .unwrap_or(&st.decoy_hash);
        let ok = crate::auth::verify_password(&password, hash).unwrap_or(false);
        let role = found
            .as_ref()
            .filter(|_| ok)
            .and_then(|(r, _)| Role::parse(r));
        let entry = audit::Entry {
            at_utc_ns: crate::time::now_utc_ns(),
            user: name.clone(),
            role: found.map(|(r, _)| r).unwrap_or_default(),
            action: if role.is_some() {
                "login".into()
            } else {
                "login failed".into()
            },
            detail: format!("from {addr}"),
            ..Default::default()
        };
        audit::append_with(s, &entry).map_err(ApiError::internal)?;
        let cameras = match role {
            Some(_) => s
                .user(&name)
                .map_err(ApiError::internal)?
                .map(|u| u.cameras)
                .unwrap_or_default(),
            None => Vec::new(),
        };
        Ok(role.map(|r| (r, cameras)))
    })
    .await?;
    let Some((role, cameras)) = checked else {
        st.sessions.failed(&user, addr, Instant::now());
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            format!("sign-in refused for {user}: unknown user or wrong password"),
        ));
    };
    st.sessions.succeeded(&user);
    let (token, hash) = new_token().map_err(ApiError::internal)?;
    st.sessions.open(
        hash,
        SessionUser {
            user: user.clone(),
            role,
        },
        Instant::now(),
    );
    let limits = st.sessions.limits();
    Ok((
        StatusCode::CREATED,
        Json(SessionInfo {
            token,
            user,
            role: role.as_str().to_owned(),
            cameras,
            idle_timeout_s: limits.idle.as_secs(),
            lifetime_s: limits.lifetime.as_secs(),
        }),
    ))
}

async fn session_info(State(st): State<Shared>, c: Caller) -> Json<SessionInfo> {
    let limits = st.sessions.limits();
    Json(SessionInfo {
        token: String::new(),
        user: c.who.user.clone(),
        role: c.who.role.as_str().to_owned(),
        cameras: c.cameras.clone(),
        idle_timeout_s: limits.idle.as_secs(),
        lifetime_s: limits.lifetime.as_secs(),
    })
}

async fn sign_out(State(st): State<Shared>, c: Caller) -> Result<StatusCode, ApiError> {
    st.sessions.close(&c.token);
    with_store(&st, move |_, s| c.log(s, "logout", "", None)).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A camera as workstations see it: no address, no credentials.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct ApiCamera {
    pub id: String,
    pub name: String,
    pub zone: String,
    pub latitude: f64,
    pub longitude: f64,
    pub has_sub_stream: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub heading_deg: Option<f32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fov_deg: Option<f32>,
    /// The end of its last indexed recording (the segment being written comes after).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recorded_until_utc_ns: Option<i64>,
}

impl ApiCamera {
    /// The camera as the windows list it.
    pub fn camera_row(&self) -> crate::store::CameraRow {
        let mut row = crate::store::CameraRow::new(&self.id, &self.name);
        row.zone = self.zone.clone();
        row.latitude = Some(self.latitude);
        row.longitude = Some(self.longitude);
        row
    }
}

async fn cameras(State(st): State<Shared>, c: Caller) -> Result<Json<Vec<ApiCamera>>, ApiError> {
    with_store(&st, move |st, s| {
        let mut out = Vec::new();
        // Those who edit masks list every camera (names and places, no footage).
        let all = crate::auth::allowed(c.who.role, Action::EditMasks);
        for cam in st.cameras.iter().filter(|cam| all || c.may_see(&cam.id)) {
            out.push(ApiCamera {
                id: cam.id.clone(),
                name: cam.name.clone(),
                zone: cam.zone.clone(),
                latitude: cam.latitude,
                longitude: cam.longitude,
                has_sub_stream: cam.sub_url.is_some(),
                heading_deg: cam.heading_deg,
                fov_deg: cam.fov_deg,
                recorded_until_utc_ns: s.last_segment_end(&cam.id).map_err(ApiError::internal)?,
            });
        }
        Ok(Json(out))
    })
    .await
}

/// A time range: `from` and `to` in UTC nanoseconds, or RFC 3339.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Range {
    pub from: Option<String>,
    pub to: Option<String>,
}

const MAX_RANGE_NS: i64 = 31 * 86_400 * 1_000_000_000;

pub(crate) fn instant(field: &str, text: &str) -> Result<i64, ApiError> {
    if let Ok(ns) = text.parse::<i64>() {
        return Ok(ns);
    }
    crate::time::parse_rfc3339(text).ok_or_else(|| {
        ApiError::bad(format!(
            "{field}: {text:?} is neither UTC nanoseconds nor an RFC 3339 instant"
        ))
    })
}

pub(crate) fn range(r: Range) -> Result<(i64, i64), ApiError> {
    let to = match r.to.as_deref() {
        Some(t) => instant("to", t)?,
        None => crate::time::now_utc_ns(),
    };
    let from = match r.from.as_deref() {
        Some(t) => instant("from", t)?,
        None => to - MAX_RANGE_NS,
    };
    if from >= to {
        return Err(ApiError::bad("from: must be before to"));
    }
    if to - from > MAX_RANGE_NS {
        return Err(ApiError::bad("from: the range is longer than 31 days"));
    }
    Ok((from, to))
}

/// Who may list a camera's recordings: those who replay its footage, or who keep the register
/// (of every camera: it shows no image).
fn require_listing(c: &Caller, s: &Store, camera: &str) -> Result<(), ApiError> {
    if crate::auth::allowed(c.who.role, Action::Playback) {
        c.require(s, Action::Playback, &[camera])
    } else {
        c.require(s, Action::ReadRegister, &[])
    }
}

pub(crate) fn known_camera(st: &ApiState, id: &str) -> Result<(), ApiError> {
    if st.cameras.iter().any(|c| c.id == id) {
        Ok(())
    } else {
        Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no camera {id} on this server"),
        ))
    }
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct ApiSpan {
    pub start_utc_ns: i64,
    pub end_utc_ns: i64,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct ApiGap {
    pub start_utc_ns: i64,
    pub end_utc_ns: i64,
    pub cause: String,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct ApiEvent {
    pub at_utc_ns: i64,
    pub kind: String,
}

/// What a timeline shows for a camera over a range.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct ApiTimeline {
    pub camera: String,
    pub from_utc_ns: i64,
    pub to_utc_ns: i64,
    pub segments: Vec<ApiSpan>,
    pub gaps: Vec<ApiGap>,
    pub events: Vec<ApiEvent>,
}

async fn timeline(
    State(st): State<Shared>,
    c: Caller,
    Path(id): Path<String>,
    q: Result<Query<Range>, QueryRejection>,
) -> Result<Json<ApiTimeline>, ApiError> {
    known_camera(&st, &id)?;
    let (from, to) = range(query(q)?)?;
    with_store(&st, move |_, s| {
        require_listing(&c, s, &id)?;
        let t = s.timeline(&id, from, to).map_err(ApiError::internal)?;
        c.log(s, "timeline viewed", &id, Some((from, to)))?;
        Ok(Json(ApiTimeline {
            camera: id,
            from_utc_ns: from,
            to_utc_ns: to,
            segments: t
                .segments
                .into_iter()
                .map(|(_, sp)| ApiSpan {
                    start_utc_ns: sp.start_utc_ns,
                    end_utc_ns: sp.end_utc_ns,
                })
                .collect(),
            gaps: t
                .gaps
                .into_iter()
                .map(|(sp, cause)| ApiGap {
                    start_utc_ns: sp.start_utc_ns,
                    end_utc_ns: sp.end_utc_ns,
                    cause,
                })
                .collect(),
            events: t
                .events
                .into_iter()
                .map(|(at_utc_ns, kind)| ApiEvent { at_utc_ns, kind })
                .collect(),
        }))
    })
    .await
}

/// A recorded segment as listed (no file path: clients never open files).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct ApiSegment {
    pub start_utc_ns: i64,
    pub end_utc_ns: i64,
    pub bytes: u64,
    pub sha256: String,
    pub codec: String,
    pub time_source: String,
}

async fn recordings(
    State(st): State<Shared>,
    c: Caller,
    Path(id): Path<String>,
    q: Result<Query<Range>, QueryRejection>,
) -> Result<Json<Vec<ApiSegment>>, ApiError> {
    known_camera(&st, &id)?;
    let (from, to) = range(query(q)?)?;
    with_store(&st, move |_, s| {
        require_listing(&c, s, &id)?;
        let segs = s.segments(&id, from, to).map_err(ApiError::internal)?;
        c.log(s, "recordings listed", &id, Some((from, to)))?;
        Ok(Json(
            segs.into_iter()
                .map(|g| ApiSegment {
                    start_utc_ns: g.row.start_utc_ns,
                    end_utc_ns: g.row.end_utc_ns,
                    bytes: g.row.bytes,
                    sha256: crate::export::hex(&g.row.sha256),
                    codec: g.row.codec,
                    time_source: g.row.time_source.as_str().to_owned(),
                })
                .collect(),
        ))
    })
    .await
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuditQuery {
    /// Entries after this sequence number.
    pub after: Option<i64>,
    pub limit: Option<usize>,
    /// Entries at or after this instant (UTC nanoseconds or RFC 3339).
    pub from: Option<String>,
    /// Entries before this instant.
    pub to: Option<String>,
    /// Only this user's entries.
    pub of: Option<String>,
}

/// An audit entry as listed.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct ApiAuditEntry {
    pub seq: i64,
    pub at_utc_ns: i64,
    pub user: String,
    pub role: String,
    pub action: String,
    pub cameras: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub range: Option<ApiSpan>,
    pub reason: String,
    pub detail: String,
    pub hash: String,
}

async fn audit_log(
    State(st): State<Shared>,
    c: Caller,
    q: Result<Query<AuditQuery>, QueryRejection>,
) -> Result<Json<Vec<ApiAuditEntry>>, ApiError> {
    let q = query(q)?;
    let after = q.after.unwrap_or(0);
    let limit = q.limit.unwrap_or(1000).clamp(1, 10_000);
    let from = q.from.as_deref().map(|t| instant("from", t)).transpose()?;
    let to = q.to.as_deref().map(|t| instant("to", t)).transpose()?;
    let of = q.of;
    with_store(&st, move |_, s| {
        c.require(s, Action::ReadAudit, &[])?;
        let mut e = c.entry("audit read", "", from.zip(to));
        if let Some(u) = &of {
            e.detail = format!("entries of {u}; {}", e.detail);
        }
        audit::append_with(s, &e).map_err(ApiError::internal)?;
        let all = s.audit_entries().map_err(ApiError::internal)?;
        Ok(Json(
            all.into_iter()
                .filter(|(seq, e, ..)| {
                    *seq > after
                        && from.is_none_or(|f| e.at_utc_ns >= f)
                        && to.is_none_or(|t| e.at_utc_ns < t)
                        && of.as_ref().is_none_or(|u| &e.user == u)
                })
                .take(limit)
                .map(|(seq, e, _, hash)| ApiAuditEntry {
                    seq,
                    at_utc_ns: e.at_utc_ns,
                    user: e.user,
                    role: e.role,
                    action: e.action,
                    cameras: e.cameras,
                    range: e.range.map(|(a, b)| ApiSpan {
                        start_utc_ns: a,
                        end_utc_ns: b,
                    }),
                    reason: e.reason,
                    detail: e.detail,
                    hash: crate::export::hex(&hash),
                })
                .collect(),
        ))
    })
    .await
}

/// A user as listed to administrators.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
pub struct ApiUser {
    pub name: String,
    pub role: String,
    pub cameras: Vec<String>,
    pub disabled: bool,
}

async fn users(State(st): State<Shared>, c: Caller) -> Result<Json<Vec<ApiUser>>, ApiError> {
    with_store(&st, move |_, s| {
        c.require(s, Action::ManageUsers, &[])?;
        c.log(s, "users listed", "", None)?;
        Ok(Json(
            s.users()
                .map_err(ApiError::internal)?
                .into_iter()
                .map(|u| ApiUser {
                    name: u.name,
                    role: u.role,
                    cameras: u.cameras,
                    disabled: u.disabled_utc_ns.is_some(),
                })
                .collect(),
        ))
    })
    .await
}

/// A user to add.
#[derive(Serialize, Deserialize, Clone)]
#[serde(deny_unknown_fields)]
pub struct NewUser {
    pub name: String,
    pub role: String,
    #[serde(default)]
    pub cameras: Vec<String>,
    pub password: String,
}

/// `POST /v1/users`: an administrator adds an account (the password hashed here, never kept).
async fn add_user(
    State(st): State<Shared>,
    c: Caller,
    body: Result<Json<NewUser>, JsonRejection>,
) -> Result<(StatusCode, Json<ApiUser>), ApiError> {
    let u = json_body(body)?;
    let name_ok = !u.name.is_empty()
        && u.name.len() <= 64
        && u.name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if !name_ok {
        return Err(ApiError::bad(
            "name: 1 to 64 letters, digits, '.', '_' or '-'",
        ));
    }
    let Some(role) = Role::parse(&u.role) else {
        let all: Vec<&str> = Role::ALL.iter().map(|r| r.as_str()).collect();
        return Err(ApiError::bad(format!("role: one of {}", all.join(", "))));
    };
    if let Some(bad) = u
        .cameras
        .iter()
        .find(|id| id.as_str() != "*" && !st.cameras.iter().any(|c| &c.id == *id))
    {
        return Err(ApiError::bad(format!(
            "cameras: no camera {bad} on this server"
        )));
    }
    if u.password.len() > 1024 {
        return Err(ApiError::bad("password: longer than 1024 bytes"));
    }
    with_store(&st, move |_, s| {
        c.require(s, Action::ManageUsers, &[])?;
        if s.user(&u.name).map_err(ApiError::internal)?.is_some() {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                format!("user {} already exists", u.name),
            ));
        }
        let hash = crate::auth::hash_password(&u.password)
            .map_err(|e| ApiError::bad(format!("password: {e}")))?;
        s.add_user(
            &u.name,
            role.as_str(),
            &hash,
            &u.cameras,
            crate::time::now_utc_ns(),
        )
        .map_err(ApiError::internal)?;
        let mut e = c.entry("user added", &u.cameras.join(","), None);
        e.detail = format!("{} as {role}; {}", u.name, e.detail);
        audit::append_with(s, &e).map_err(ApiError::internal)?;
        Ok((
            StatusCode::CREATED,
            Json(ApiUser {
                name: u.name,
                role: role.as_str().to_owned(),
                cameras: u.cameras,
                disabled: false,
            }),
        ))
    })
    .await
}

/// `POST /v1/retention/allow` (administrators): lets the retention pass refused after a clock
/// problem delete what it found; 409 when none waits.
async fn allow_retention(State(st): State<Shared>, c: Caller) -> Result<StatusCode, ApiError> {
    with_store(&st, move |_, s| {
        c.require(s, Action::AllowRetention, &[])?;
        let now = crate::time::now_utc_ns();
        if !crate::record::retention::allow(s, &c.who.user, now).map_err(ApiError::internal)? {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "no refused retention pass is waiting".to_owned(),
            ));
        }
        let e = c.entry("retention allowed", "", None);
        audit::append_with(s, &e).map_err(ApiError::internal)?;
        Ok(StatusCode::NO_CONTENT)
    })
    .await
}

async fn disable_user(
    State(st): State<Shared>,
    c: Caller,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    let target = name.clone();
    with_store(&st, move |_, s| {
        c.require(s, Action::ManageUsers, &[])?;
        if target == c.who.user {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                format!("{target}: an administrator does not disable their own account"),
            ));
        }
        if !s
            .disable_user(&target, crate::time::now_utc_ns())
            .map_err(ApiError::internal)?
        {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                format!("no enabled user {target}"),
            ));
        }
        let mut e = c.entry("user disabled", "", None);
        e.detail = format!("{target}; {}", e.detail);
        audit::append_with(s, &e).map_err(ApiError::internal)?;
        Ok(())
    })
    .await?;
    let ended = st.sessions.end_user(
        &name,
        &format!("the account {name} was disabled: its sessions are closed"),
    );
    tracing::info!("user {name} disabled; {ended} session(s) closed");
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Grant {
    /// Camera ids, or `*` for all; empty for none.
    pub cameras: Vec<String>,
}

fn list_or_none(v: &[String]) -> String {
    if v.is_empty() {
        "none".into()
    } else {
        v.join(",")
    }
}

/// Replaces the cameras a user may see; their open sessions see the change at their next
/// request (grants are re-read each time).
async fn grant_cameras(
    State(st): State<Shared>,
    c: Caller,
    Path(name): Path<String>,
    body: Result<Json<Grant>, JsonRejection>,
) -> Result<Json<ApiUser>, ApiError> {
    let Grant { cameras } = json_body(body)?;
    if let Some(bad) = cameras
        .iter()
        .find(|id| id.as_str() != "*" && !st.cameras.iter().any(|c| &c.id == *id))
    {
        return Err(ApiError::bad(format!(
            "cameras: no camera {bad} on this server"
        )));
    }
    with_store(&st, move |_, s| {
        c.require(s, Action::ManageUsers, &[])?;
        let Some(before) = s.user(&name).map_err(ApiError::internal)? else {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                format!("no user {name}"),
            ));
        };
        s.set_user_cameras(&name, &cameras)
            .map_err(ApiError::internal)?;
        let mut e = c.entry("permissions changed", &cameras.join(","), None);
        e.detail = format!(
            "{name}: cameras {} -> {}; {}",
            list_or_none(&before.cameras),
            list_or_none(&cameras),
            e.detail
        );
        audit::append_with(s, &e).map_err(ApiError::internal)?;
        Ok(Json(ApiUser {
            name: before.name,
            role: before.role,
            cameras,
            disabled: before.disabled_utc_ns.is_some(),
        }))
    })
    .await
}

/// The register (recordings per camera, every deletion and export, every citizen's access
/// request) as one JSON document, as `vigie register --json` prints it.
pub fn register_doc(store: &Store) -> Result<serde_json::Value, crate::store::StoreError> {
    use crate::time::rfc3339;
    let recordings = store.recordings_summary()?;
    let lines = store.register()?;
    let requests = store.access_requests()?;
    Ok(serde_json::json!({
        "recordings": recordings.iter().map(|(c, a, b, n, bytes)| serde_json::json!({
            "camera": c, "from_utc": rfc3339(*a), "to_utc": rfc3339(*b), "segments": n, "bytes": bytes,
        })).collect::<Vec<_>>(),
        "register": lines.iter().map(|l| serde_json::json!({
            "at_utc": rfc3339(l.at_utc_ns), "action": l.action, "camera": l.camera_id,
            "from_utc": rfc3339(l.span.start_utc_ns), "to_utc": rfc3339(l.span.end_utc_ns),
            "reason": l.reason, "author": l.author,
        })).collect::<Vec<_>>(),
        "access_requests": requests.iter().map(|r| serde_json::json!({
            "received_utc": rfc3339(r.received_utc_ns), "requester": r.requester,
            "identity_check": r.identity_check, "cameras": r.cameras,
            "from_utc": rfc3339(r.span.start_utc_ns), "to_utc": rfc3339(r.span.end_utc_ns),
            "handled_by": r.handled_by, "outcome": r.outcome, "detail": r.detail,
            "decided_utc": rfc3339(r.decided_utc_ns),
        })).collect::<Vec<_>>(),
    }))
}

/// `GET /v1/register`: auditors and administrators; the reading is logged.
async fn register(
    State(st): State<Shared>,
    c: Caller,
) -> Result<Json<serde_json::Value>, ApiError> {
    with_store(&st, move |_, s| {
        c.require(s, Action::ReadRegister, &[])?;
        let doc = register_doc(s).map_err(ApiError::internal)?;
        c.log(s, "register read", "", None)?;
        Ok(Json(doc))
    })
    .await
}

/// `GET /v1/audit/export`: auditors; the whole log with its hashes and verdict, signed with
/// the key only the server reads. The export is itself logged first.
async fn audit_export(
    State(st): State<Shared>,
    c: Caller,
) -> Result<Json<crate::auth::audit::SignedExport>, ApiError> {
    with_store(&st, move |st, s| {
        c.require(s, Action::ReadAudit, &[])?;
        c.log(s, "audit log exported", "", None)?;
        crate::auth::audit::signed_export(&st.data, &c.who.user, c.who.role.as_str())
            .map(Json)
            .map_err(ApiError::internal)
    })
    .await
}

/// `GET /v1/audit/verify`: auditors; the chain and its signed checkpoints checked.
async fn audit_verify(
    State(st): State<Shared>,
    c: Caller,
) -> Result<Json<serde_json::Value>, ApiError> {
    with_store(&st, move |st, s| {
        c.require(s, Action::ReadAudit, &[])?;
        let v = crate::auth::audit::verify(&st.data).map_err(ApiError::internal)?;
        c.log(s, "audit log verified", "", None)?;
        Ok(Json(serde_json::json!({
            "entries": v.entries,
            "checkpoints": v.checkpoints,
            "problems": v.problems,
        })))
    })
    .await
}
