//! Video-wall control relayed by the server: one workstation sends a camera to a tile, or a
//! layout to a screen, of another workstation; the server checks the sender's session and
//! rights, logs the command and pushes it to the target. Workstations listen on nothing and
//! share no key.
//!
//! - `GET /v1/wall/feed?workstation=NAME`: a live wall signed in at the server takes the
//!   commands for its workstation, a server-sent event each (`command`), until its session
//!   ends (an `ended` event says why). Logged ("wall control opened").
//! - `POST /v1/wall/commands` `{"workstation", "screen", "camera"?, "tile"?, "layout"?}`: the
//!   sender needs live viewing of the camera; the walls of that name that are connected get
//!   it, provided their own user may see the camera. Logged ("wall command sent") before the
//!   answer, which says how many walls took it; 404 when none of that name is connected.
//! - `GET /v1/wall/workstations`: the walls connected now (name, user, since).

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use super::api::{ApiError, ApiState, Caller, json_body, query, with_store};
use crate::auth::Action;

type Shared = Arc<ApiState>;

/// What a wall receives.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WallCommand {
    /// The screen's name on the receiving workstation.
    pub screen: String,
    /// A camera to show, on `tile` (0-based; default: the screen's selected tile).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub camera: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tile: Option<usize>,
    /// A layout to put on the screen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layout: Option<String>,
    /// Who sent it (signed in at the server).
    #[serde(default)]
    pub by: String,
}

/// What a sender posts.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendCommand {
    /// The target workstation's name (`vigie live --name`, else its machine's).
    pub workstation: String,
    pub screen: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub camera: Option<String>,
    /// 0-based.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tile: Option<usize>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub layout: Option<String>,
}

/// The answer to a command.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Sent {
    /// How many walls of that name took it.
    pub delivered: usize,
}

/// A wall connected now.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct ConnectedWall {
    pub workstation: String,
    pub user: String,
    pub since_utc_ns: i64,
}

struct Conn {
    wall: ConnectedWall,
    cameras: Vec<String>,
    tx: mpsc::UnboundedSender<WallCommand>,
}

/// The walls listening for commands.
#[derive(Default)]
pub struct Walls {
    next: AtomicU64,
    conns: Mutex<HashMap<u64, Conn>>,
}

impl Walls {
    fn conns(&self) -> std::sync::MutexGuard<'_, HashMap<u64, Conn>> {
        self.conns.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn add(&self, conn: Conn) -> u64 {
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        self.conns().insert(id, conn);
        id
    }

    fn connected(&self) -> Vec<ConnectedWall> {
        let mut v: Vec<ConnectedWall> = self.conns().values().map(|c| c.wall.clone()).collect();
        v.sort_by(|a, b| (&a.workstation, a.since_utc_ns).cmp(&(&b.workstation, b.since_utc_ns)));
        v
    }
}

/// Takes the wall out of the list when its stream is dropped (the wall went away).
struct Registered {
    st: Shared,
    id: u64,
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.st.walls.conns().remove(&self.id);
    }
}

/// A workstation name: what profiles allow.
fn check_name(name: &str) -> Result<(), ApiError> {
    if name.is_empty()
        || name.chars().count() > 64
        || name.chars().any(|c| c.is_control() || c == ',')
    {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!(
                "workstation: {name:?} is not a workstation name (1 to 64 characters, no commas)"
            ),
        ));
    }
    Ok(())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedQuery {
    workstation: String,
}

/// `GET /v1/wall/feed?workstation=NAME`.
pub async fn feed(
    State(st): State<Shared>,
    c: Caller,
    q: Result<Query<FeedQuery>, QueryRejection>,
) -> Result<Sse<impl futures_util::Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let workstation = query(q)?.workstation;
    check_name(&workstation)?;
    let (who, cameras, token) = (c.who.clone(), c.cameras.clone(), c.token.clone());
    let name = workstation.clone();
    with_store(&st, move |_, s| {
        c.require(s, Action::ViewLive, &[])?;
        let mut e = c.entry("wall control opened", "", None);
        e.detail = format!("workstation {name} {}", e.detail).trim().to_owned();
        crate::auth::audit::append_with(s, &e).map_err(ApiError::internal)?;
        Ok(())
    })
    .await?;
    let (tx, rx) = mpsc::unbounded_channel();
    let id = st.walls.add(Conn {
        wall: ConnectedWall {
            workstation,
            user: who.user,
            since_utc_ns: crate::time::now_utc_ns(),
        },
        cameras,
        tx,
    });
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let state = (rx, tick, Registered { st: st.clone(), id }, token, false);
    let stream = futures_util::stream::unfold(state, |mut f| async move {
        let (rx, tick, reg, token, done) = &mut f;
        if *done {
            return None;
        }
        loop {
            tokio::select! {
                c = rx.recv() => {
                    let c = c?;
                    let ev = Event::default()
                        .event("command")
                        .json_data(&c)
                        .unwrap_or_else(|e| Event::default().event("error").data(e.to_string()));
                    return Some((Ok(ev), f));
                }
                _ = tick.tick() => {
                    if let Err(why) = reg.st.sessions.alive(token, Instant::now()) {
                        *done = true;
                        let ev = Event::default().event("ended").data(why.message());
                        return Some((Ok(ev), f));
                    }
                }
            }
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

/// `POST /v1/wall/commands`.
pub async fn send(
    State(st): State<Shared>,
    c: Caller,
    body: Result<Json<SendCommand>, JsonRejection>,
) -> Result<Json<Sent>, ApiError> {
    let SendCommand {
        workstation,
        screen,
        camera,
        tile,
        layout,
    } = json_body(body)?;
    let command = WallCommand {
        screen,
        camera,
        tile,
        layout,
        by: c.who.user.clone(),
    };
    check_name(&workstation)?;
    if command.camera.is_none() && command.layout.is_none() {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "a wall command names a camera, a layout or both",
        ));
    }
    if let Some(id) = &command.camera
        && !st.cameras.iter().any(|cam| &cam.id == id)
    {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("camera: no camera {id} on this site"),
        ));
    }
    with_store(&st, move |st, s| {
        let cams: Vec<&str> = command.camera.as_deref().into_iter().collect();
        c.require(s, Action::ViewLive, &cams)?;
        // The walls of that name, and those of them whose user may see the camera.
        let targets: Vec<(mpsc::UnboundedSender<WallCommand>, bool)> = st
            .walls
            .conns()
            .values()
            .filter(|w| w.wall.workstation == workstation)
            .map(|w| {
                let sees = cams
                    .iter()
                    .all(|id| w.cameras.iter().any(|g| g == "*" || g == id));
                (w.tx.clone(), sees)
            })
            .collect();
        if targets.is_empty() {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                format!("workstation: no wall named {workstation:?} is signed in now"),
            ));
        }
        if !targets.iter().any(|(_, sees)| *sees) {
            let why = format!(
                "camera {}: the user signed in at workstation {workstation:?} may not see it",
                cams.join(",")
            );
            let mut e = c.entry("refused", &cams.join(","), None);
            e.detail = why.clone();
            crate::auth::audit::append_with(s, &e).map_err(ApiError::internal)?;
            return Err(ApiError::new(StatusCode::FORBIDDEN, why));
        }
        let mut what = vec![format!("screen {}", command.screen)];
        if let Some(l) = &command.layout {
            what.push(format!("layout {l}"));
        }
        if let Some(t) = command.tile {
            what.push(format!("tile {}", t + 1));
        }
        let mut e = c.entry("wall command sent", &cams.join(","), None);
        e.detail = format!("to {workstation}, {} {}", what.join(", "), e.detail)
            .trim()
            .to_owned();
        crate::auth::audit::append_with(s, &e).map_err(ApiError::internal)?;
        let delivered = targets
            .into_iter()
            .filter(|(tx, sees)| *sees && tx.send(command.clone()).is_ok())
            .count();
        Ok(Json(Sent { delivered }))
    })
    .await
}

/// `GET /v1/wall/workstations`.
pub async fn workstations(
    State(st): State<Shared>,
    c: Caller,
) -> Result<Json<Vec<ConnectedWall>>, ApiError> {
    with_store(&st, move |st, s| {
        c.require(s, Action::ViewLive, &[])?;
        Ok(Json(st.walls.connected()))
    })
    .await
}
