//! Exports made by the server: the workstation orders one, follows its progress, downloads its
//! files and then lets the server forget it.
//!
//! `POST /v1/exports` checks the order (every missing field named) and the caller's right to
//! export each camera (a refusal is logged), then runs the export on its own thread into
//! `exports/ID/` of the data folder: sources re-hashed against the index, the manifest signed
//! with the installation's key, the export written to the audit log and the register before the
//! folder appears (all by [`crate::export::export`]). `GET /v1/exports/ID` answers its state and,
//! once done, every file with its size and SHA-256; `GET /v1/exports/ID/files/NAME` streams one
//! file; `DELETE /v1/exports/ID` cancels a running export or removes a finished one. Only the
//! user who ordered an export sees it. Exports not removed are dropped a day after they end,
//! and whatever an earlier run of the server left is removed at start.

use std::collections::HashMap;
use std::path::{Path as FsPath, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::Response;
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use super::api::{ApiError, ApiState, Caller, json_body, with_store};
use crate::auth::Action;
use crate::export::{CitizenAccess, ExportError, Request};
use crate::render::Polygon;

/// The folder of the data folder that holds exports being made or waiting to be downloaded.
pub const EXPORTS_DIR: &str = "exports";
/// How long a finished export waits for its download.
const KEEP_FINISHED: Duration = Duration::from_secs(24 * 3600);
/// At most this many exports running at once (each reads and hashes footage).
const MAX_RUNNING: usize = 2;

/// An export order, as a workstation sends it.
#[derive(Serialize, Deserialize, Clone, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct ExportOrder {
    pub cameras: Vec<String>,
    /// RFC 3339 instants, or UTC nanoseconds.
    pub from: String,
    pub to: String,
    /// The requisition's number (or a citizen's request's reference).
    pub requisition: String,
    #[serde(default)]
    pub officer: String,
    pub reason: String,
    /// A citizen's request to see images of themselves: a masked copy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access: Option<AccessOrder>,
}

/// The citizen's part of an order.
#[derive(Serialize, Deserialize, Clone, Debug, Default)]
#[serde(deny_unknown_fields)]
pub struct AccessOrder {
    pub requester: String,
    pub identity_check: String,
    /// When the request was received (RFC 3339; default: now).
    #[serde(default)]
    pub received: Option<String>,
    /// Third parties to pixelate: a camera and its polygon's points, in picture fractions.
    #[serde(default)]
    pub blur: Vec<BlurZone>,
}

#[derive(Serialize, Deserialize, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct BlurZone {
    pub camera: String,
    pub points: Vec<[f32; 2]>,
}

/// One file of a finished export.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq)]
pub struct ExportFile {
    pub name: String,
    pub bytes: u64,
    pub sha256: String,
}

/// Where an export stands.
#[derive(Serialize, Deserialize, Clone, Debug)]
pub struct ExportStatus {
    pub id: String,
    /// "running", "done", "failed" or "cancelled".
    pub state: String,
    /// The fraction written, 0 to 1.
    pub progress: f64,
    /// Once done: every file of the folder, the videos first.
    #[serde(default)]
    pub files: Vec<ExportFile>,
    #[serde(default)]
    pub manifest_sha256: String,
    /// Parts of the range with no footage, in words.
    #[serde(default)]
    pub missing: Vec<String>,
    /// Why it failed.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub error: String,
}

struct Job {
    owner: String,
    dir: PathBuf,
    cancel: Arc<AtomicBool>,
    status: Arc<Mutex<ExportStatus>>,
    ended: Arc<Mutex<Option<Instant>>>,
}

/// The exports the server holds.
pub struct Exports {
    root: PathBuf,
    jobs: Mutex<HashMap<String, Job>>,
}

impl Exports {
    /// The exports under `data`; what an earlier run left there is removed.
    pub fn new(data: &FsPath) -> Exports {
        let root = data.join(EXPORTS_DIR);
        if root.exists()
            && let Err(e) = std::fs::remove_dir_all(&root)
        {
            tracing::warn!("server: cannot clear {}: {e}", root.display());
        }
        Exports {
            root,
            jobs: Mutex::new(HashMap::new()),
        }
    }

    fn jobs(&self) -> std::sync::MutexGuard<'_, HashMap<String, Job>> {
        self.jobs.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Removes the finished exports nobody fetched in time.
    fn sweep(&self) {
        let now = Instant::now();
        self.jobs().retain(|_, j| {
            let stale = lock(&j.ended).is_some_and(|t| now.duration_since(t) > KEEP_FINISHED);
            if stale {
                let _ = std::fs::remove_dir_all(&j.dir);
            }
            !stale
        });
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

type Shared = Arc<ApiState>;

pub fn routes() -> Router<Shared> {
    Router::new()
        .route("/v1/exports", axum::routing::post(order))
        .route(
            "/v1/exports/{id}",
            axum::routing::get(status).delete(remove),
        )
        .route("/v1/exports/{id}/files/{name}", axum::routing::get(file))
        .route("/v1/access-refusals", axum::routing::post(refuse))
}

fn required(field: &str, value: &str) -> Result<(), ApiError> {
    if value.trim().is_empty() {
        Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("{field}: required for an export"),
        ))
    } else {
        Ok(())
    }
}

/// The order as an export request into `out`, every field checked.
fn request(st: &ApiState, o: ExportOrder, out: PathBuf) -> Result<Request, ApiError> {
    if o.cameras.is_empty() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "cameras: name at least one camera",
        ));
    }
    for id in &o.cameras {
        if !st.cameras.iter().any(|c| &c.id == id) {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                format!("cameras: no camera {id} on this site"),
            ));
        }
    }
    let from = super::api::instant("from", &o.from)?;
    let to = super::api::instant("to", &o.to)?;
    if from >= to {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "from: must be before to",
        ));
    }
    required("requisition", &o.requisition)?;
    required("reason", &o.reason)?;
    let access = match o.access {
        None => {
            required("officer", &o.officer)?;
            None
        }
        Some(a) => {
            required("access.requester", &a.requester)?;
            required("access.identity_check", &a.identity_check)?;
            let received_utc_ns = match a.received.as_deref() {
                Some(t) => super::api::instant("access.received", t)?,
                None => crate::time::now_utc_ns(),
            };
            let mut blur = Vec::new();
            for (i, z) in a.blur.into_iter().enumerate() {
                if !o.cameras.contains(&z.camera) {
                    return Err(ApiError::new(
                        StatusCode::BAD_REQUEST,
                        format!(
                            "access.blur[{i}].camera: {} is not one of the cameras exported",
                            z.camera
                        ),
                    ));
                }
                let ok = (3..=64).contains(&z.points.len())
                    && z.points
                        .iter()
                        .all(|p| p.iter().all(|v| (0.0..=1.0).contains(v)));
                if !ok {
                    return Err(ApiError::new(
                        StatusCode::BAD_REQUEST,
                        format!(
                            "access.blur[{i}].points: 3 to 64 points, each from 0 to 1 \
                             (fractions of the picture)"
                        ),
                    ));
                }
                blur.push((z.camera, z.points as Polygon));
            }
            Some(CitizenAccess {
                requester: a.requester,
                identity_check: a.identity_check,
                received_utc_ns,
                blur,
            })
        }
    };
    Ok(Request {
        cameras: o.cameras,
        from_utc_ns: from,
        to_utc_ns: to,
        out,
        requisition: o.requisition,
        officer: o.officer,
        reason: o.reason,
        access,
    })
}

async fn order(
    State(st): State<Shared>,
    c: Caller,
    body: Result<Json<ExportOrder>, JsonRejection>,
) -> Result<(StatusCode, Json<ExportStatus>), ApiError> {
    let o = json_body(body)?;
    st.exports.sweep();
    let running = st
        .exports
        .jobs()
        .values()
        .filter(|j| lock(&j.ended).is_none())
        .count();
    if running >= MAX_RUNNING {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("{running} exports are being made: try again when one has ended"),
        ));
    }
    let id = super::sessions::new_token()
        .map_err(ApiError::internal)?
        .0
        .chars()
        .take(16)
        .collect::<String>();
    let dir = st.exports.root.join(&id);
    let req = request(&st, o, dir.join("export"))?;
    // The right to export every camera, checked (and a refusal logged) before anything runs.
    let cams: Vec<String> = req.cameras.clone();
    with_store(&st, move |_, s| {
        let names: Vec<&str> = cams.iter().map(String::as_str).collect();
        c.require(s, Action::Export, &names)?;
        Ok(c)
    })
    .await
    .and_then(|c| {
        std::fs::create_dir_all(&dir).map_err(ApiError::internal)?;
        let session = crate::auth::Session {
            user: c.who.user.clone(),
            role: c.who.role,
            cameras: c.cameras.clone(),
        };
        let status = Arc::new(Mutex::new(ExportStatus {
            id: id.clone(),
            state: "running".into(),
            progress: 0.0,
            files: Vec::new(),
            manifest_sha256: String::new(),
            missing: Vec::new(),
            error: String::new(),
        }));
        let job = Job {
            owner: c.who.user.clone(),
            dir: dir.clone(),
            cancel: Arc::new(AtomicBool::new(false)),
            status: status.clone(),
            ended: Arc::new(Mutex::new(None)),
        };
        let (cancel, ended, shared) = (job.cancel.clone(), job.ended.clone(), status.clone());
        let (st2, id2) = (st.clone(), id.clone());
        std::thread::Builder::new()
            .name(format!("export {id}"))
            .spawn(move || {
                run(&st2.data, &session, &req, &cancel, &shared);
                *lock(&ended) = Some(Instant::now());
                let state = lock(&shared).state.clone();
                if state != "done" {
                    // Nothing to download: the folder goes now; a cancelled job goes whole
                    // (a failed one stays listed until its requester has read why).
                    let _ = std::fs::remove_dir_all(st2.exports.root.join(&id2));
                    if cancel.load(Ordering::Relaxed) {
                        st2.exports.jobs().remove(&id2);
                    }
                }
            })
            .map_err(ApiError::internal)?;
        st.exports.jobs().insert(id.clone(), job);
        let now = lock(&status).clone();
        Ok((StatusCode::ACCEPTED, Json(now)))
    })
}

/// Makes the export, keeping `status` current.
fn run(
    data: &FsPath,
    session: &crate::auth::Session,
    req: &Request,
    cancel: &AtomicBool,
    status: &Mutex<ExportStatus>,
) {
    let done = crate::export::export(data, session, req, &mut |f| {
        lock(status).progress = f;
        !cancel.load(Ordering::Relaxed)
    });
    let mut s = lock(status);
    match done {
        Ok(done) => {
            let mut files: Vec<ExportFile> = done
                .files
                .iter()
                .map(|f| ExportFile {
                    name: f.name.clone(),
                    bytes: f.bytes,
                    sha256: crate::export::hex(&f.sha256),
                })
                .collect();
            // The small files beside the videos, hashed here.
            for name in [
                crate::export::MANIFEST,
                crate::export::SIGNATURE,
                crate::export::PUBLIC_KEY,
                crate::export::SUMS,
                crate::export::README,
            ] {
                match std::fs::read(done.dir.join(name)) {
                    Ok(b) => files.push(ExportFile {
                        name: name.to_owned(),
                        bytes: b.len() as u64,
                        sha256: crate::export::hex(&sha2::Digest::finalize(
                            <sha2::Sha256 as sha2::Digest>::new_with_prefix(&b),
                        )),
                    }),
                    Err(e) => {
                        s.state = "failed".into();
                        s.error = format!("{name}: {e}");
                        return;
                    }
                }
            }
            s.files = files;
            s.manifest_sha256 = crate::export::hex(&done.manifest_sha256);
            s.missing = done.missing;
            s.progress = 1.0;
            s.state = "done".into();
        }
        Err(ExportError::Cancelled) => {
            s.state = "cancelled".into();
            s.error = ExportError::Cancelled.to_string();
        }
        Err(e) => {
            tracing::warn!("export {} for {}: {e}", s.id, session.user);
            s.state = "failed".into();
            s.error = e.to_string();
        }
    }
}

/// The caller's export `id` (another user's is answered as unknown).
fn owned<T>(st: &ApiState, c: &Caller, id: &str, f: impl FnOnce(&Job) -> T) -> Result<T, ApiError> {
    st.exports
        .jobs()
        .get(id)
        .filter(|j| j.owner == c.who.user)
        .map(f)
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, format!("no export {id}")))
}

async fn status(
    State(st): State<Shared>,
    c: Caller,
    Path(id): Path<String>,
) -> Result<Json<ExportStatus>, ApiError> {
    owned(&st, &c, &id, |j| Json(lock(&j.status).clone()))
}

async fn remove(
    State(st): State<Shared>,
    c: Caller,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let running = owned(&st, &c, &id, |j| {
        j.cancel.store(true, Ordering::Relaxed);
        lock(&j.ended).is_none()
    })?;
    if running {
        // The export's thread removes what it wrote, and the job, as it ends.
        return Ok(StatusCode::ACCEPTED);
    }
    if let Some(j) = st.exports.jobs().remove(&id) {
        let _ = std::fs::remove_dir_all(&j.dir);
    }
    Ok(StatusCode::NO_CONTENT)
}

async fn file(
    State(st): State<Shared>,
    c: Caller,
    Path((id, name)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let (path, entry) = owned(&st, &c, &id, |j| {
        let s = lock(&j.status);
        let entry = s.files.iter().find(|f| f.name == name).cloned();
        (j.dir.join("export").join(&name), entry)
    })?;
    let Some(entry) = entry else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("export {id} has no file {name:?} (or is not finished)"),
        ));
    };
    let f = tokio::fs::File::open(&path)
        .await
        .map_err(ApiError::internal)?;
    let stream = tokio_util::io::ReaderStream::with_capacity(f, 256 * 1024);
    Response::builder()
        .header(header::CONTENT_TYPE, "application/octet-stream")
        .header(header::CONTENT_LENGTH, entry.bytes)
        .body(Body::from_stream(stream))
        .map_err(ApiError::internal)
}

/// A citizen's access request refused, with its ground.
#[derive(Serialize, Deserialize, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct Refusal {
    /// The request (its `access` part names the requester and the identity check).
    pub order: ExportOrder,
    pub ground: String,
}

/// `POST /v1/access-refusals`: the refusal recorded with the request and logged; 201 with its
/// record's id.
async fn refuse(
    State(st): State<Shared>,
    c: Caller,
    body: Result<Json<Refusal>, JsonRejection>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let r = json_body(body)?;
    if r.order.access.is_none() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "order.access: a refusal answers a citizen's access request",
        ));
    }
    if r.ground.trim().is_empty() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "ground: required for a refusal",
        ));
    }
    let req = request(&st, r.order, PathBuf::new())?;
    let cams = req.cameras.clone();
    with_store(&st, move |st, s| {
        let names: Vec<&str> = cams.iter().map(String::as_str).collect();
        c.require(s, Action::Export, &names)?;
        let session = crate::auth::Session {
            user: c.who.user.clone(),
            role: c.who.role,
            cameras: c.cameras.clone(),
        };
        let id = crate::export::refuse_access(&st.data, &session, &req, &r.ground)
            .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.to_string()))?;
        Ok((
            StatusCode::CREATED,
            Json(serde_json::json!({ "record": id })),
        ))
    })
    .await
}
