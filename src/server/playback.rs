//! Recorded footage for workstations, one GOP at a time, and the trail of who watched what.
//!
//! `GET /v1/cameras/ID/gop?at=T[&near=at|after|before]` answers the GOP holding the instant (or
//! the nearest one after or before it, over gaps) in [`RawGop::encode`]'s form: the workstation
//! decodes it with the same Player as the server would, so review stays frame-exact. The role
//! and the camera grant are checked on every request (a refusal is logged).
//!
//! Viewing is logged as the local review logs it: "playback start" (camera, instant) on the
//! first GOP a session asks of a camera, written before that GOP is answered, then "playback"
//! with the span of footage fetched once the session has asked nothing of that camera for
//! 30 s, and at least every 5 minutes while it goes on; what is still open when the server stops
//! is written then.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::rejection::QueryRejection;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use super::api::{ApiError, ApiState, Caller, known_camera, query};
use crate::auth::{Action, audit};
use crate::playback::{FootageSource, LocalFootage, Near, PlaybackError, ticks_ns};
use crate::store::Store;

/// A viewing is closed after this long without a request.
const IDLE: Duration = Duration::from_secs(30);
/// An open viewing is written out at least this often.
const EVERY: Duration = Duration::from_secs(300);

/// Who watches which camera, and what span of it so far.
struct Viewing {
    entry: audit::Entry,
    span: (i64, i64),
    since: Instant,
    last: Instant,
}

/// The viewings not yet written.
#[derive(Default)]
pub struct PlaybackLog {
    open: Mutex<HashMap<(String, String, String), Viewing>>,
}

impl PlaybackLog {
    fn open(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String, String), Viewing>> {
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Records that `c` fetched `span` of `camera`; true when this starts a viewing (to be
    /// logged before the answer).
    fn saw(&self, c: &Caller, camera: &str, span: (i64, i64), now: Instant) -> bool {
        let peer = c.peer.map(|p| p.ip().to_string()).unwrap_or_default();
        let key = (c.who.user.clone(), camera.to_owned(), peer);
        let mut open = self.open();
        match open.get_mut(&key) {
            Some(v) => {
                v.span = (v.span.0.min(span.0), v.span.1.max(span.1));
                v.last = now;
                false
            }
            None => {
                open.insert(
                    key,
                    Viewing {
                        entry: c.entry("playback", camera, None),
                        span,
                        since: now,
                        last: now,
                    },
                );
                true
            }
        }
    }

    /// Writes the viewings that ended (or, with `all`, every one) and those open for long.
    pub fn flush(&self, store: &Store, now: Instant, all: bool) {
        let mut due = Vec::new();
        self.open().retain(|_, v| {
            let ended = all || now.duration_since(v.last) >= IDLE;
            if ended || now.duration_since(v.since) >= EVERY {
                let mut e = v.entry.clone();
                e.at_utc_ns = crate::time::now_utc_ns();
                e.range = Some(v.span);
                due.push(e);
                v.since = now;
                v.span = (v.span.1, v.span.1);
            }
            !ended
        });
        for e in due {
            if let Err(err) = audit::append_with(store, &e) {
                tracing::error!("server: the playback trail of {}: {err}", e.user);
            }
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GopQuery {
    pub at: String,
    pub near: Option<String>,
}

type Shared = Arc<ApiState>;

pub async fn gop(
    State(st): State<Shared>,
    c: Caller,
    Path(id): Path<String>,
    q: Result<Query<GopQuery>, QueryRejection>,
) -> Result<Response, ApiError> {
    known_camera(&st, &id)?;
    let q = query(q)?;
    let at = super::api::instant("at", &q.at)?;
    let near = match q.near.as_deref() {
        None => Near::At,
        Some(n) => Near::parse(n).ok_or_else(|| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("near: {n:?} is none of at, after, before"),
            )
        })?,
    };
    let st2 = st.clone();
    let wire = tokio::task::spawn_blocking(move || {
        let store = st2.store()?;
        if let Err(e) = c.require(&store, Action::Playback, &[&id]) {
            st2.put_back(store);
            return Err(e);
        }
        let mut footage = LocalFootage::with_store(&st2.data, store);
        let found = footage.gop(&id, at, near);
        let store = footage.into_store();
        let r = match found {
            Ok(g) => {
                let row = &g.segment.row;
                let span = match (g.samples.first(), g.samples.last()) {
                    (Some(a), Some(b)) => (
                        row.start_utc_ns + ticks_ns(a.time_90k),
                        row.start_utc_ns + ticks_ns(b.time_90k + b.duration_90k as u64),
                    ),
                    _ => (row.start_utc_ns, row.start_utc_ns),
                };
                let started = st2.playback.saw(&c, &id, span, Instant::now());
                if started {
                    let e = c.entry("playback start", &id, Some((at, at)));
                    audit::append_with(&store, &e)
                        .map(|_| g.encode())
                        .map_err(ApiError::internal)
                } else {
                    Ok(g.encode())
                }
            }
            Err(PlaybackError::NoFootage { camera, at }) => Err(ApiError::new(
                StatusCode::NOT_FOUND,
                format!("camera {camera}: nothing recorded at {at}"),
            )),
            Err(e) => Err(ApiError::internal(e)),
        };
        st2.put_back(store);
        r
    })
    .await
    .map_err(ApiError::internal)??;
    Ok(([(header::CONTENT_TYPE, "application/vnd.vigie.gop")], wire).into_response())
}

/// Writes the ended viewings every few seconds, on the blocking pool.
pub async fn flusher(st: Shared, mut stop: tokio::sync::watch::Receiver<bool>) {
    let mut tick = tokio::time::interval(Duration::from_secs(5));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => return,
        }
        let st = st.clone();
        let _ = tokio::task::spawn_blocking(move || {
            if let Ok(store) = st.store() {
                st.playback.flush(&store, Instant::now(), false);
                st.put_back(store);
            }
        })
        .await;
    }
}

/// A privacy mask as workstations paint it (over live and recorded pictures alike).
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug, PartialEq)]
pub struct ApiMask {
    pub id: i64,
    pub polygon: Vec<[f32; 2]>,
    pub label: String,
    #[serde(default)]
    pub author: String,
    #[serde(default)]
    pub created_utc_ns: i64,
}

impl From<crate::store::Mask> for ApiMask {
    fn from(m: crate::store::Mask) -> ApiMask {
        ApiMask {
            id: m.id,
            polygon: m.polygon,
            label: m.label,
            author: m.author,
            created_utc_ns: m.created_utc_ns,
        }
    }
}

/// `GET /v1/cameras/ID/masks`: the masks in force, for whoever may see the camera.
pub async fn masks(
    State(st): State<Shared>,
    c: Caller,
    Path(id): Path<String>,
) -> Result<axum::Json<Vec<ApiMask>>, ApiError> {
    known_camera(&st, &id)?;
    super::api::with_store(&st, move |_, s| {
        // Those who edit masks see them on every camera.
        if !c.may_see(&id) && !crate::auth::allowed(c.who.role, Action::EditMasks) {
            // The refusal is logged as any other.
            c.require(s, Action::Playback, &[&id])?;
        }
        let masks = s.masks(Some(&id)).map_err(ApiError::internal)?;
        Ok(axum::Json(masks.into_iter().map(ApiMask::from).collect()))
    })
    .await
}

/// A mask to add.
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct NewMask {
    pub polygon: Vec<[f32; 2]>,
    #[serde(default)]
    pub label: String,
}

/// `POST /v1/cameras/ID/masks`: a mask added by an administrator, logged with its polygon.
pub async fn add_mask(
    State(st): State<Shared>,
    c: Caller,
    Path(id): Path<String>,
    body: Result<axum::Json<NewMask>, axum::extract::rejection::JsonRejection>,
) -> Result<(StatusCode, axum::Json<ApiMask>), ApiError> {
    known_camera(&st, &id)?;
    let m = super::api::json_body(body)?;
    let ok = (3..=64).contains(&m.polygon.len())
        && m.polygon
            .iter()
            .all(|p| p.iter().all(|v| v.is_finite() && (0.0..=1.0).contains(v)));
    if !ok {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "polygon: 3 to 64 points, each from 0 to 1 (fractions of the picture)",
        ));
    }
    if m.label.len() > 200 {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "label: longer than 200 bytes",
        ));
    }
    super::api::with_store(&st, move |_, s| {
        c.require(s, Action::EditMasks, &[])?;
        let mut row = crate::store::Mask {
            id: 0,
            camera_id: id.clone(),
            polygon: m.polygon,
            label: m.label.trim().to_owned(),
            author: c.who.user.clone(),
            created_utc_ns: crate::time::now_utc_ns(),
        };
        row.id = s.add_mask(&row).map_err(ApiError::internal)?;
        let mut e = c.entry("mask added", &id, None);
        e.detail = format!(
            "mask {} {:?}: {}; {}",
            row.id,
            row.label,
            serde_json::to_string(&row.polygon).unwrap_or_default(),
            e.detail
        );
        audit::append_with(s, &e).map_err(ApiError::internal)?;
        Ok((StatusCode::CREATED, axum::Json(ApiMask::from(row))))
    })
    .await
}

/// `DELETE /v1/masks/ID`: a mask removed (kept in the index as removed), logged.
pub async fn remove_mask(
    State(st): State<Shared>,
    c: Caller,
    Path(mask): Path<i64>,
) -> Result<StatusCode, ApiError> {
    super::api::with_store(&st, move |_, s| {
        c.require(s, Action::EditMasks, &[])?;
        let Some(camera) = s
            .remove_mask(mask, crate::time::now_utc_ns())
            .map_err(ApiError::internal)?
        else {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                format!("mask {mask} is not in force"),
            ));
        };
        let mut e = c.entry("mask removed", &camera, None);
        e.detail = format!("mask {mask}; {}", e.detail);
        audit::append_with(s, &e).map_err(ApiError::internal)?;
        Ok(StatusCode::NO_CONTENT)
    })
    .await
}

/// `GET /v1/cameras/ID/mask-still`: the camera's latest recorded keyframe, for whoever edits
/// masks (who need not be granted its footage), as a one-picture GOP; logged.
pub async fn mask_still(
    State(st): State<Shared>,
    c: Caller,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    known_camera(&st, &id)?;
    let st2 = st.clone();
    let wire = tokio::task::spawn_blocking(move || {
        let store = st2.store()?;
        let r = (|| {
            c.require(&store, Action::EditMasks, &[])?;
            let end = store
                .last_segment_end(&id)
                .map_err(ApiError::internal)?
                .ok_or_else(|| {
                    ApiError::new(
                        StatusCode::NOT_FOUND,
                        format!("camera {id}: nothing recorded yet"),
                    )
                })?;
            Ok(end)
        })();
        let end = match r {
            Ok(end) => end,
            Err(e) => {
                st2.put_back(store);
                return Err(e);
            }
        };
        let mut footage = LocalFootage::with_store(&st2.data, store);
        let found = footage.gop(&id, end - 1, Near::Before);
        let store = footage.into_store();
        let r = match found {
            Ok(mut g) => {
                // The keyframe alone.
                g.samples.truncate(1);
                let at = g.segment.row.start_utc_ns + ticks_ns(g.samples[0].time_90k);
                let e = c.entry("mask editor still", &id, Some((at, at)));
                audit::append_with(&store, &e)
                    .map(|_| g.encode())
                    .map_err(ApiError::internal)
            }
            Err(e) => Err(ApiError::internal(e)),
        };
        st2.put_back(store);
        r
    })
    .await
    .map_err(ApiError::internal)??;
    Ok(([(header::CONTENT_TYPE, "application/vnd.vigie.gop")], wire).into_response())
}

/// What a workstation is about to write as a still.
#[derive(serde::Serialize, serde::Deserialize, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct StillRecord {
    /// The picture's interval.
    pub start_utc_ns: i64,
    pub end_utc_ns: i64,
    /// Where the workstation writes it (for the log).
    pub file: String,
}

/// `POST /v1/cameras/ID/stills`: the right to take a still checked and the still logged,
/// before the workstation writes its file.
pub async fn still(
    State(st): State<Shared>,
    c: Caller,
    Path(id): Path<String>,
    body: Result<axum::Json<StillRecord>, axum::extract::rejection::JsonRejection>,
) -> Result<StatusCode, ApiError> {
    known_camera(&st, &id)?;
    let r = super::api::json_body(body)?;
    if r.end_utc_ns <= r.start_utc_ns {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "end_utc_ns: must be after start_utc_ns",
        ));
    }
    super::api::with_store(&st, move |_, s| {
        c.require(s, Action::Still, &[&id])?;
        let mut e = c.entry("still", &id, Some((r.start_utc_ns, r.end_utc_ns)));
        e.detail = format!("{} {}", r.file.trim(), e.detail).trim().to_owned();
        audit::append_with(s, &e).map_err(ApiError::internal)?;
        Ok(StatusCode::NO_CONTENT)
    })
    .await
}
