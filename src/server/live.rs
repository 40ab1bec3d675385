//! What a live wall signed in at the server needs besides its video (which comes through the
//! live connection, `server::relay`): the cameras granted to its user (names, places, whether
//! they have a sub stream; never their addresses or credentials), its saved views, and a place
//! to report what only the wall knows (masks lifted, replays shown), which the server writes to
//! the audit log in the user's name.

use std::sync::Arc;

use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};

use super::api::{ApiError, ApiState, Caller, json_body, with_store};
use crate::auth::{Action, audit};
use crate::client::views::{SavedView, ScreenView};
use crate::config::Camera;

type Shared = Arc<ApiState>;

/// Stands for a camera stream's address on a workstation: its video comes from the server.
pub const RELAYED: &str = "relayed";

/// `GET /v1/live/cameras`: the cameras the caller may watch live, without addresses or
/// credentials (no workstation connects to a camera).
pub async fn cameras(State(st): State<Shared>, c: Caller) -> Result<Json<Vec<Camera>>, ApiError> {
    with_store(&st, move |st, s| {
        c.require(s, Action::ViewLive, &[])?;
        Ok(Json(
            st.cameras
                .iter()
                .filter(|cam| c.may_see(&cam.id))
                .map(|cam| Camera {
                    main_url: RELAYED.into(),
                    sub_url: cam.sub_url.as_ref().map(|_| RELAYED.into()),
                    credentials: None,
                    credential: None,
                    ..cam.clone()
                })
                .collect(),
        ))
    })
    .await
}

/// What a wall reports.
#[derive(Serialize, Deserialize, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct LiveReport {
    pub action: String,
    #[serde(default)]
    pub cameras: String,
    #[serde(default)]
    pub reason: String,
    #[serde(default)]
    pub detail: String,
}

/// The actions a wall reports.
const REPORTED: [&str; 6] = [
    "live view start",
    "live view stop",
    "mask lifted",
    "mask restored",
    "wall command received",
    "alarm replay",
];

/// `POST /v1/live/log`: a live view started or stopped, a mask lifted or restored, an alarm's
/// replay put on the alarm screen (the footage itself is logged as the server serves it),
/// written in the caller's name (cameras it may watch only).
pub async fn log(
    State(st): State<Shared>,
    c: Caller,
    body: Result<Json<LiveReport>, JsonRejection>,
) -> Result<StatusCode, ApiError> {
    let r = json_body(body)?;
    if !REPORTED.contains(&r.action.as_str()) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("action: {:?} is none of {}", r.action, REPORTED.join(", ")),
        ));
    }
    with_store(&st, move |_, s| {
        let cams: Vec<&str> = r.cameras.split(',').filter(|c| !c.is_empty()).collect();
        let action = match r.action.as_str() {
            "mask lifted" | "mask restored" => Action::LiftMask,
            "alarm replay" => Action::Playback,
            _ => Action::ViewLive,
        };
        c.require(s, action, &cams)?;
        let mut e = c.entry(&r.action, &r.cameras, None);
        e.reason = r.reason.clone();
        e.detail = format!("{} {}", r.detail.trim(), e.detail)
            .trim()
            .to_owned();
        audit::append_with(s, &e).map_err(ApiError::internal)?;
        Ok(StatusCode::NO_CONTENT)
    })
    .await
}

/// `GET /v1/views`: the caller's saved views and salvos, by name.
pub async fn views(State(st): State<Shared>, c: Caller) -> Result<Json<Vec<SavedView>>, ApiError> {
    with_store(&st, move |_, s| {
        c.require(s, Action::ViewLive, &[])?;
        s.views(&c.who.user)
            .map_err(ApiError::internal)?
            .into_iter()
            .map(|(name, body)| match serde_json::from_str(&body) {
                Ok(screens) => Ok(SavedView { name, screens }),
                Err(e) => Err(ApiError::internal(format!(
                    "saved view {name:?} of {} is unreadable: {e}",
                    c.who.user
                ))),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Json)
    })
    .await
}

/// Most tiles a saved screen names (the largest layout has fewer).
const MAX_VIEW_TILES: usize = 256;

/// `PUT /v1/views/NAME` (the screens): saves the caller's view, replacing one of that name.
pub async fn save_view(
    State(st): State<Shared>,
    c: Caller,
    Path(name): Path<String>,
    body: Result<Json<Vec<ScreenView>>, JsonRejection>,
) -> Result<StatusCode, ApiError> {
    let screens = json_body(body)?;
    let bad = |what: String| Err(ApiError::new(StatusCode::BAD_REQUEST, what));
    if name.trim().is_empty() || name.chars().count() > 64 || name.chars().any(char::is_control) {
        return bad(format!(
            "name: {name:?} is not a view name (1 to 64 characters)"
        ));
    }
    if screens.is_empty() || screens.len() > crate::config::MAX_SCREENS {
        return bad(format!(
            "screens: a view has 1 to {} screens, not {}",
            crate::config::MAX_SCREENS,
            screens.len()
        ));
    }
    if let Some(s) = screens.iter().find(|s| s.cameras.len() > MAX_VIEW_TILES) {
        return bad(format!(
            "screens: {:?} names {} tiles, more than {MAX_VIEW_TILES}",
            s.screen,
            s.cameras.len()
        ));
    }
    with_store(&st, move |_, s| {
        c.require(s, Action::ViewLive, &[])?;
        let body = serde_json::to_string(&screens).map_err(ApiError::internal)?;
        s.save_view(&c.who.user, &name, &body, crate::time::now_utc_ns())
            .map_err(ApiError::internal)?;
        Ok(StatusCode::NO_CONTENT)
    })
    .await
}
