//! What the review window asks of the server besides footage: a camera's timeline with its
//! bookmarks, holds, alarms and damaged segments; new bookmarks and holds; every mask in force;
//! and a supervisor's lifting of a camera's masks in one window (logged with its reason).

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use super::api::{ApiError, ApiState, Caller, Range, json_body, known_camera, query, with_store};
use crate::auth::{Action, audit};
use crate::playback::timeline::{TimelineData, review_timeline};
use crate::store::{Bookmark, Hold, Span};

type Shared = Arc<ApiState>;

/// `GET /v1/cameras/ID/review?from=&to=`: what the review timeline draws (no image: the
/// footage itself is asked, and logged, GOP by GOP).
pub async fn timeline(
    State(st): State<Shared>,
    c: Caller,
    Path(id): Path<String>,
    q: Result<Query<Range>, QueryRejection>,
) -> Result<Json<TimelineData>, ApiError> {
    known_camera(&st, &id)?;
    let (from, to) = super::api::range(query(q)?)?;
    with_store(&st, move |st, s| {
        c.require(s, Action::Playback, &[&id])?;
        review_timeline(s, &st.data, &id, from, to)
            .map(Json)
            .map_err(ApiError::internal)
    })
    .await
}

/// A bookmark asked for.
#[derive(Serialize, Deserialize, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct NewBookmark {
    pub at_utc_ns: i64,
    #[serde(default)]
    pub note: String,
}

/// `POST /v1/cameras/ID/bookmarks`: a bookmark in the caller's name.
pub async fn bookmark(
    State(st): State<Shared>,
    c: Caller,
    Path(id): Path<String>,
    body: Result<Json<NewBookmark>, JsonRejection>,
) -> Result<(StatusCode, Json<Bookmark>), ApiError> {
    known_camera(&st, &id)?;
    let b = json_body(body)?;
    if b.note.len() > 2000 {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "note: longer than 2000 bytes",
        ));
    }
    with_store(&st, move |_, s| {
        c.require(s, Action::Bookmark, &[&id])?;
        let mut row = Bookmark {
            id: 0,
            camera_id: id.clone(),
            at_utc_ns: b.at_utc_ns,
            note: b.note.trim().to_owned(),
            author: c.who.user.clone(),
            created_utc_ns: crate::time::now_utc_ns(),
        };
        row.id = s.add_bookmark(&row).map_err(ApiError::internal)?;
        let mut e = c.entry("bookmark added", &id, Some((b.at_utc_ns, b.at_utc_ns)));
        e.reason = row.note.clone();
        audit::append_with(s, &e).map_err(ApiError::internal)?;
        Ok((StatusCode::CREATED, Json(row)))
    })
    .await
}

/// A legal hold asked for.
#[derive(Serialize, Deserialize, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct NewHold {
    pub from_utc_ns: i64,
    pub to_utc_ns: i64,
    pub procedure: String,
    pub reason: String,
    /// How long it keeps the footage, in days (1 to 3650)...
    #[serde(default)]
    pub days: u32,
    /// ... or until when (UTC ns; at most ten years ahead).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_utc_ns: Option<i64>,
}

/// `POST /v1/cameras/ID/holds`: a hold in the caller's name, logged with its reason.
pub async fn hold(
    State(st): State<Shared>,
    c: Caller,
    Path(id): Path<String>,
    body: Result<Json<NewHold>, JsonRejection>,
) -> Result<(StatusCode, Json<Hold>), ApiError> {
    known_camera(&st, &id)?;
    let h = json_body(body)?;
    let bad = |m: &str| Err(ApiError::new(StatusCode::BAD_REQUEST, m.to_owned()));
    if h.from_utc_ns >= h.to_utc_ns {
        return bad("from_utc_ns: must be before to_utc_ns");
    }
    if h.procedure.trim().is_empty() {
        return bad("procedure: required for a hold");
    }
    if h.reason.trim().is_empty() {
        return bad("reason: required for a hold");
    }
    const DAY: i64 = 86_400_000_000_000;
    let now = crate::time::now_utc_ns();
    let expires = match h.expires_utc_ns {
        Some(t) if t <= now => return bad("expires_utc_ns: must be in the future"),
        Some(t) if t > now + 3650 * DAY => return bad("expires_utc_ns: at most ten years ahead"),
        Some(t) => t,
        None if (1..=3650).contains(&h.days) => now + h.days as i64 * DAY,
        None => return bad("days: 1 to 3650 (or expires_utc_ns)"),
    };
    with_store(&st, move |_, s| {
        c.require(s, Action::PlaceHold, &[&id])?;
        let mut row = Hold {
            id: 0,
            camera_id: id.clone(),
            span: Span {
                start_utc_ns: h.from_utc_ns,
                end_utc_ns: h.to_utc_ns,
            },
            procedure: h.procedure.trim().to_owned(),
            reason: h.reason.trim().to_owned(),
            author: c.who.user.clone(),
            created_utc_ns: now,
            expires_utc_ns: expires,
            released_utc_ns: None,
        };
        row.id = s.add_hold(&row).map_err(ApiError::internal)?;
        let mut e = c.entry("hold placed", &id, Some((h.from_utc_ns, h.to_utc_ns)));
        e.reason = row.reason.clone();
        e.detail = format!(
            "hold {}; procedure {}; until {}; {}",
            row.id,
            row.procedure,
            crate::time::rfc3339(row.expires_utc_ns),
            e.detail
        );
        audit::append_with(s, &e).map_err(ApiError::internal)?;
        Ok((StatusCode::CREATED, Json(row)))
    })
    .await
}

/// `GET /v1/masks`: the masks in force on every camera the caller may see, by camera.
pub async fn all_masks(
    State(st): State<Shared>,
    c: Caller,
) -> Result<Json<std::collections::BTreeMap<String, Vec<super::playback::ApiMask>>>, ApiError> {
    // Those who edit masks, or keep the register, see every camera's.
    let all = crate::auth::allowed(c.who.role, Action::EditMasks)
        || crate::auth::allowed(c.who.role, Action::ReadRegister);
    with_store(&st, move |_, s| {
        let mut by = std::collections::BTreeMap::<String, Vec<_>>::new();
        for m in s.masks(None).map_err(ApiError::internal)? {
            if all || c.may_see(&m.camera_id) {
                by.entry(m.camera_id.clone())
                    .or_default()
                    .push(super::playback::ApiMask::from(m));
            }
        }
        Ok(Json(by))
    })
    .await
}

/// A supervisor lifting (or putting back) a camera's masks in their window.
#[derive(Serialize, Deserialize, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct MaskLift {
    pub lifted: bool,
    pub reason: String,
}

/// `POST /v1/cameras/ID/masks/lift`: allowed and logged before the window shows the camera
/// unmasked; the restoring is logged too.
pub async fn lift(
    State(st): State<Shared>,
    c: Caller,
    Path(id): Path<String>,
    body: Result<Json<MaskLift>, JsonRejection>,
) -> Result<StatusCode, ApiError> {
    known_camera(&st, &id)?;
    let l = json_body(body)?;
    if l.lifted && l.reason.trim().is_empty() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "reason: lifting a privacy mask needs a reason",
        ));
    }
    with_store(&st, move |_, s| {
        c.require(s, Action::LiftMask, &[&id])?;
        let action = if l.lifted {
            "mask lifted"
        } else {
            "mask restored"
        };
        let mut e = c.entry(action, &id, None);
        e.reason = l.reason.trim().to_owned();
        audit::append_with(s, &e).map_err(ApiError::internal)?;
        Ok(StatusCode::NO_CONTENT)
    })
    .await
}

/// `GET /v1/holds`: every hold, newest first (those who place holds, or keep the register);
/// logged.
pub async fn holds(State(st): State<Shared>, c: Caller) -> Result<Json<Vec<Hold>>, ApiError> {
    with_store(&st, move |_, s| {
        if crate::auth::allowed(c.who.role, Action::PlaceHold) {
            c.require(s, Action::PlaceHold, &[])?;
        } else {
            c.require(s, Action::ReadRegister, &[])?;
        }
        c.log(s, "holds listed", "", None)?;
        s.holds().map(Json).map_err(ApiError::internal)
    })
    .await
}

/// `POST /v1/holds/ID/release`: a hold ended before it lapses (its camera granted); logged.
pub async fn release_hold(
    State(st): State<Shared>,
    c: Caller,
    Path(hold): Path<i64>,
) -> Result<Json<Hold>, ApiError> {
    with_store(&st, move |_, s| {
        let Some(h) = s
            .holds()
            .map_err(ApiError::internal)?
            .into_iter()
            .find(|h| h.id == hold && h.released_utc_ns.is_none())
        else {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                format!("no hold {hold} in force"),
            ));
        };
        c.require(s, Action::ReleaseHold, &[&h.camera_id])?;
        let now = crate::time::now_utc_ns();
        if !s.release_hold(hold, now).map_err(ApiError::internal)? {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                format!("no hold {hold} in force"),
            ));
        }
        let mut e = c.entry(
            "hold released",
            &h.camera_id,
            Some((h.span.start_utc_ns, h.span.end_utc_ns)),
        );
        e.detail = format!("hold {hold}; procedure {}; {}", h.procedure, e.detail);
        audit::append_with(s, &e).map_err(ApiError::internal)?;
        Ok(Json(Hold {
            released_utc_ns: Some(now),
            ..h
        }))
    })
    .await
}
