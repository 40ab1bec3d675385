//! Alarms through the server: changes pushed to every signed-in workstation, and actions on an
//! alarm decided by the server one at a time.
//!
//! - The "server alarms" thread watches the index (`PRAGMA data_version` every 10 ms: the event
//!   service, escalations and the API all write alarms) and broadcasts each changed row once.
//! - `GET /v1/alarms/feed?after=REV` is a server-sent event stream: first every alarm changed
//!   after `REV` (the snapshot, or what a reconnecting client missed), then each change as it
//!   happens, each event's id being the alarm's `rev`. It ends when the session ends (signed
//!   out, disabled, idle or expired), with an `ended` event saying why.
//! - `POST /v1/alarms/ID/actions` `{"action": "acknowledge"|"take"|"comment"|"close",
//!   "comment"}`: one immediate transaction re-reads the alarm and rules on it
//!   (`events::alarm::plan`), so of two operators acting at once one wins and the other is
//!   answered 409 with what happened; the audit entry is written before the answer.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::sse::{Event, KeepAlive, Sse};
use serde::Deserialize;
use tokio::sync::broadcast;

use super::api::{ApiError, ApiState, Caller, json_body, query, with_store};
use crate::auth::audit;
use crate::auth::{Action, Role};
use crate::events::alarm::{self, AlarmAction, AlarmState, Standing};
use crate::store::{AlarmRow, AlarmUpdate};
use crate::store::{INDEX_FILE, Store};

/// Most alarms sent in one snapshot.
const SNAPSHOT_LIMIT: usize = 10_000;

/// The thread that turns index changes into pushed alarm rows.
pub struct AlarmWatch {
    stop: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl AlarmWatch {
    pub fn start(data: PathBuf, tx: broadcast::Sender<AlarmRow>) -> std::io::Result<AlarmWatch> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("server alarms".into())
            .spawn(move || watch(&data, &tx, &flag))?;
        Ok(AlarmWatch {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for AlarmWatch {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn watch(data: &std::path::Path, tx: &broadcast::Sender<AlarmRow>, stop: &AtomicBool) {
    let mut store = None;
    let mut version = None;
    let mut last_rev: Option<i64> = None;
    while !stop.load(Ordering::SeqCst) {
        std::thread::sleep(Duration::from_millis(10));
        if store.is_none() {
            store = Store::open_readonly(&data.join(INDEX_FILE)).ok();
        }
        let Some(s) = &store else { continue };
        let v = match s.data_version() {
            Ok(v) => v,
            Err(e) => {
                tracing::warn!("server alarms: {e}");
                store = None;
                continue;
            }
        };
        if version == Some(v) {
            continue;
        }
        version = Some(v);
        let after = match last_rev {
            Some(r) => r,
            // Start from what is there now: earlier changes are the feeds' snapshots.
            None => match s.last_alarm_rev() {
                Ok(rev) => {
                    last_rev = Some(rev);
                    continue;
                }
                Err(e) => {
                    tracing::warn!("server alarms: {e}");
                    continue;
                }
            },
        };
        match s.alarms_since(after, 1000) {
            Ok(rows) => {
                if rows.len() == 1000 {
                    // More than a batch changed: read the rest at the next turn.
                    version = None;
                }
                for r in rows {
                    last_rev = Some(last_rev.unwrap_or(0).max(r.rev));
                    // No receiver is not an error: nobody is signed in.
                    let _ = tx.send(r);
                }
            }
            Err(e) => tracing::warn!("server alarms: {e}"),
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FeedQuery {
    /// Send the alarms changed after this rev first.
    pub after: Option<i64>,
}

struct Feed {
    queue: VecDeque<AlarmRow>,
    rx: broadcast::Receiver<AlarmRow>,
    last: i64,
    st: Arc<ApiState>,
    token: String,
    tick: tokio::time::Interval,
    done: bool,
}

fn alarm_event(row: &AlarmRow) -> Event {
    Event::default()
        .id(row.rev.to_string())
        .event("alarm")
        .json_data(row)
        .unwrap_or_else(|e| Event::default().event("error").data(e.to_string()))
}

pub async fn feed(
    State(st): State<Arc<ApiState>>,
    c: Caller,
    q: Result<Query<FeedQuery>, QueryRejection>,
) -> Result<Sse<impl futures_util::Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let after = query(q)?.after.unwrap_or(0).max(0);
    // Subscribe before reading the snapshot: a change in between comes twice, never not at all
    // (duplicates are dropped by rev).
    let rx = st.alarms.subscribe();
    let token = c.token.clone();
    let snapshot = with_store(&st, move |_, s| {
        c.require(s, Action::HandleAlarms, &[])?;
        c.log(s, "alarm feed opened", "", None)?;
        s.alarms_since(after, SNAPSHOT_LIMIT)
            .map_err(ApiError::internal)
    })
    .await?;
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let state = Feed {
        queue: snapshot.into(),
        rx,
        last: after,
        st,
        token,
        tick,
        done: false,
    };
    let stream = futures_util::stream::unfold(state, |mut f| async move {
        loop {
            if f.done {
                return None;
            }
            if let Some(row) = f.queue.pop_front() {
                if row.rev <= f.last {
                    continue;
                }
                f.last = row.rev;
                return Some((Ok(alarm_event(&row)), f));
            }
            tokio::select! {
                r = f.rx.recv() => match r {
                    Ok(row) => f.queue.push_back(row),
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        // Too slow for the broadcast: read what was missed from the index.
                        let last = f.last;
                        match with_store(&f.st, move |_, s| {
                            s.alarms_since(last, SNAPSHOT_LIMIT).map_err(ApiError::internal)
                        })
                        .await
                        {
                            Ok(rows) => f.queue.extend(rows),
                            Err(_) => return None,
                        }
                    }
                    Err(broadcast::error::RecvError::Closed) => return None,
                },
                _ = f.tick.tick() => {
                    if let Err(why) = f.st.sessions.alive(&f.token, Instant::now()) {
                        f.done = true;
                        return Some((Ok(Event::default().event("ended").data(why.message())), f));
                    }
                }
            }
        }
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActBody {
    pub action: String,
    #[serde(default)]
    pub comment: String,
}

pub async fn act(
    State(st): State<Arc<ApiState>>,
    c: Caller,
    Path(id): Path<i64>,
    body: Result<Json<ActBody>, JsonRejection>,
) -> Result<Json<AlarmRow>, ApiError> {
    let b = json_body(body)?;
    let action = match b.action.as_str() {
        "acknowledge" => AlarmAction::Acknowledge,
        "take" => AlarmAction::Take,
        "comment" => AlarmAction::Comment,
        "close" => AlarmAction::Close,
        other => {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                format!("action: {other:?} is not acknowledge, take, comment or close"),
            ));
        }
    };
    if b.comment.len() > 4000 {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "comment: longer than 4000 bytes",
        ));
    }
    with_store(&st, move |_, s| {
        c.require(s, Action::HandleAlarms, &[])?;
        let supervisor = c.who.role == Role::Supervisor;
        let user = c.who.user.clone();
        let decided = s
            .update_alarm(id, &user, crate::time::now_utc_ns(), |row| {
                let standing = Standing {
                    id: row.id,
                    state: AlarmState::parse(&row.state).unwrap_or(AlarmState::New),
                    owner: row.owner.clone(),
                    comment_required: row.comment_required,
                };
                alarm::plan(&standing, &action, &user, supervisor, &b.comment).map(|ch| {
                    AlarmUpdate {
                        state: ch.state.as_str().to_owned(),
                        owner: ch.owner,
                        comment: ch.comment,
                    }
                })
            })
            .map_err(ApiError::internal)?;
        let row = match decided {
            None => {
                return Err(ApiError::new(
                    StatusCode::NOT_FOUND,
                    alarm::AlarmError::Unknown { id }.to_string(),
                ));
            }
            Some(Err(e)) => return Err(ApiError::new(StatusCode::CONFLICT, e.to_string())),
            Some(Ok(row)) => row,
        };
        let comment = b.comment.trim();
        let detail = format!(
            "alarm {id} ({}, {}): now {}{}",
            row.kind,
            row.source,
            row.state,
            if comment.is_empty() {
                String::new()
            } else {
                format!("; comment: {comment}")
            }
        );
        let mut e = c.entry(action.audit_action(), &row.cameras.join(","), None);
        e.detail = format!("{detail}; {}", e.detail);
        crate::auth::audit::append_with(s, &e).map_err(ApiError::internal)?;
        Ok(Json(row))
    })
    .await
}

/// `after`, for the polled lists.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct After {
    #[serde(default)]
    pub after: i64,
}

/// `GET /v1/alarms/notes?after=ID`: the alarms' state changes and comments after `ID`.
pub async fn notes(
    State(st): State<Arc<ApiState>>,
    c: Caller,
    q: Result<axum::extract::Query<After>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Vec<crate::store::NoteRow>>, ApiError> {
    let after = super::api::query(q)?.after;
    with_store(&st, move |_, s| {
        c.require(s, Action::HandleAlarms, &[])?;
        s.alarm_notes_since(after)
            .map(Json)
            .map_err(ApiError::internal)
    })
    .await
}

/// `GET /v1/vehicles?after=REV`: the patrol vehicles whose report changed after `REV`.
pub async fn vehicles(
    State(st): State<Arc<ApiState>>,
    c: Caller,
    q: Result<axum::extract::Query<After>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<Vec<crate::store::VehicleRow>>, ApiError> {
    let after = super::api::query(q)?.after;
    with_store(&st, move |_, s| {
        c.require(s, Action::HandleAlarms, &[])?;
        s.vehicles_since(after)
            .map(Json)
            .map_err(ApiError::internal)
    })
    .await
}

/// A patrol sent to an alarm.
#[derive(serde::Serialize, Deserialize, Clone, Debug)]
#[serde(deny_unknown_fields)]
pub struct DispatchBody {
    pub vehicle: String,
    pub distance_m: f64,
    pub eta_s: f64,
}

/// `POST /v1/alarms/ID/dispatch`: recorded and logged; answers what was logged.
pub async fn dispatch(
    State(st): State<Arc<ApiState>>,
    c: Caller,
    Path(id): Path<i64>,
    body: Result<Json<DispatchBody>, JsonRejection>,
) -> Result<(StatusCode, Json<serde_json::Value>), ApiError> {
    let b = json_body(body)?;
    if b.vehicle.trim().is_empty() || b.vehicle.len() > 64 {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "vehicle: a vehicle id of 1 to 64 bytes",
        ));
    }
    if !(b.distance_m.is_finite() && b.eta_s.is_finite()) {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "distance_m, eta_s: numbers",
        ));
    }
    with_store(&st, move |_, s| {
        c.require(s, Action::Dispatch, &[])?;
        let Some(a) = s.alarm(id).map_err(ApiError::internal)? else {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                alarm::AlarmError::Unknown { id }.to_string(),
            ));
        };
        let place = a.place();
        s.add_dispatch(&crate::store::DispatchRow {
            alarm_id: id,
            vehicle_id: b.vehicle.clone(),
            user: c.who.user.clone(),
            at_utc_ns: crate::time::now_utc_ns(),
            distance_m: b.distance_m,
            eta_s: b.eta_s,
        })
        .map_err(ApiError::internal)?;
        let detail = format!(
            "{} sent to alarm {id} ({place}): {:.0} m away, ETA {}",
            b.vehicle,
            b.distance_m,
            crate::events::geo::eta_label(b.eta_s)
        );
        let mut e = c.entry("patrol dispatched", &a.cameras.join(","), None);
        e.detail = format!("{detail}; {}", e.detail);
        audit::append_with(s, &e).map_err(ApiError::internal)?;
        Ok((
            StatusCode::CREATED,
            Json(serde_json::json!({ "detail": detail })),
        ))
    })
    .await
}
