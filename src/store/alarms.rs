//! Events, alarms, their notes, patrol vehicles and dispatches (schema version 7).
//!
//! Every change to an alarm or a vehicle gives it the next `rev`, so a workstation reads only
//! what changed since the rev it knows (one indexed range scan), whoever made the change.

use rusqlite::{OptionalExtension, Row, params};

use super::{Store, StoreError};

/// An event as received.
#[derive(Clone, Debug, PartialEq)]
pub struct EventRow {
    pub received_utc_ns: i64,
    pub at_utc_ns: i64,
    pub kind: String,
    pub source: String,
    pub camera_id: Option<String>,
    pub confidence: Option<f32>,
    /// JSON `[x, y, w, h]`.
    pub bbox: Option<String>,
    pub location: Option<(f64, f64)>,
}

/// An alarm to make, or the open alarm the event joins.
#[derive(Clone, Debug, PartialEq)]
pub struct NewAlarm {
    pub at_utc_ns: i64,
    pub kind: String,
    pub source: String,
    pub rule: String,
    pub priority: u8,
    pub zone: String,
    pub cameras: Vec<String>,
    pub instructions: String,
    pub sound: String,
    pub location: Option<(f64, f64)>,
    pub comment_required: bool,
    pub escalate_utc_ns: Option<i64>,
}

/// Which alarm an event joins, if still open.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Link {
    /// This alarm.
    Alarm(i64),
    /// The alarm of the event at this index of the same batch.
    SameAs(usize),
    /// None: a new alarm (when one is given).
    None,
}

/// What became of a stored event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stored {
    pub event: i64,
    pub alarm: Option<i64>,
    /// The event made its alarm.
    pub created: bool,
}

/// An alarm as the index holds it (and as the server pushes it to workstations).
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct AlarmRow {
    pub id: i64,
    pub rev: i64,
    pub created_utc_ns: i64,
    pub at_utc_ns: i64,
    pub kind: String,
    pub source: String,
    pub rule: String,
    pub priority: u8,
    pub zone: String,
    pub cameras: Vec<String>,
    pub instructions: String,
    pub sound: String,
    pub location: Option<(f64, f64)>,
    pub state: String,
    pub owner: Option<String>,
    pub comment_required: bool,
    pub escalate_utc_ns: Option<i64>,
    pub escalated: bool,
    pub events: i64,
    pub last_event_utc_ns: i64,
    pub closed_utc_ns: Option<i64>,
}

impl AlarmRow {
    /// Where it happened, in words: its source, zone and position.
    pub fn place(&self) -> String {
        format!(
            "{}{}{}",
            self.source,
            if self.zone.is_empty() { "" } else { ", " },
            self.zone
        ) + &self
            .location
            .map(|(lat, lon)| format!(" at {lat:.5},{lon:.5}"))
            .unwrap_or_default()
    }
}

/// A state change or comment.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct NoteRow {
    pub id: i64,
    pub alarm_id: i64,
    pub at_utc_ns: i64,
    pub user: String,
    pub state: String,
    pub comment: String,
}

/// A vehicle's last report.
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct VehicleRow {
    pub id: String,
    pub rev: i64,
    pub latitude: f64,
    pub longitude: f64,
    pub heading_deg: Option<f32>,
    pub speed_kmh: Option<f32>,
    pub status: String,
    pub at_utc_ns: i64,
}

/// Who sent which vehicle to which alarm.
#[derive(Clone, Debug, PartialEq)]
pub struct DispatchRow {
    pub alarm_id: i64,
    pub vehicle_id: String,
    pub user: String,
    pub at_utc_ns: i64,
    pub distance_m: f64,
    pub eta_s: f64,
}

const ALARM_COLUMNS: &str = "id, rev, created_utc_ns, at_utc_ns, kind, source, rule, priority, zone, cameras, instructions, sound, latitude, longitude, state, owner, comment_required, escalate_utc_ns, escalated, events, last_event_utc_ns, closed_utc_ns";

fn alarm_row(r: &Row<'_>) -> rusqlite::Result<AlarmRow> {
    let cameras: String = r.get(9)?;
    let lat: Option<f64> = r.get(12)?;
    let lon: Option<f64> = r.get(13)?;
    Ok(AlarmRow {
        id: r.get(0)?,
        rev: r.get(1)?,
        created_utc_ns: r.get(2)?,
        at_utc_ns: r.get(3)?,
        kind: r.get(4)?,
        source: r.get(5)?,
        rule: r.get(6)?,
        priority: r.get::<_, i64>(7)?.clamp(1, 5) as u8,
        zone: r.get(8)?,
        cameras: cameras
            .split(',')
            .filter(|c| !c.is_empty())
            .map(str::to_owned)
            .collect(),
        instructions: r.get(10)?,
        sound: r.get(11)?,
        location: lat.zip(lon),
        state: r.get(14)?,
        owner: r.get(15)?,
        comment_required: r.get::<_, i64>(16)? != 0,
        escalate_utc_ns: r.get(17)?,
        escalated: r.get::<_, i64>(18)? != 0,
        events: r.get(19)?,
        last_event_utc_ns: r.get(20)?,
        closed_utc_ns: r.get(21)?,
    })
}

fn vehicle_row(r: &Row<'_>) -> rusqlite::Result<VehicleRow> {
    Ok(VehicleRow {
        id: r.get(0)?,
        rev: r.get(1)?,
        latitude: r.get(2)?,
        longitude: r.get(3)?,
        heading_deg: r.get::<_, Option<f64>>(4)?.map(|v| v as f32),
        speed_kmh: r.get::<_, Option<f64>>(5)?.map(|v| v as f32),
        status: r.get(6)?,
        at_utc_ns: r.get(7)?,
    })
}

/// Alarm `id`, read through `conn` (a connection or a transaction).
fn alarm_by_id(conn: &rusqlite::Connection, id: i64) -> rusqlite::Result<Option<AlarmRow>> {
    conn.query_row(
        &format!("SELECT {ALARM_COLUMNS} FROM alarm WHERE id = ?1"),
        [id],
        alarm_row,
    )
    .optional()
}

/// What a state change decided (see `events::alarm::plan`).
pub struct AlarmUpdate {
    pub state: String,
    pub owner: Option<String>,
    pub comment: String,
}

impl Store {
    /// Changes each time another connection commits (cheap: no disk read).
    pub fn data_version(&self) -> Result<i64, StoreError> {
        self.conn
            .query_row("PRAGMA data_version", [], |r| r.get(0))
            .map_err(|e| self.sql(e))
    }

    /// Stores `events` in one transaction; each joins the alarm its link names when that alarm
    /// is still open, else makes its new alarm (when it has one).
    pub fn add_events(
        &self,
        events: &[(EventRow, Link, Option<NewAlarm>)],
        now_utc_ns: i64,
    ) -> Result<Vec<Stored>, StoreError> {
        let tx = self.immediate()?;
        let mut rev: i64 = tx
            .query_row("SELECT coalesce(max(rev), 0) FROM alarm", [], |r| r.get(0))
            .map_err(|e| self.sql(e))?;
        let mut out = Vec::with_capacity(events.len());
        {
            let mut join = tx
                .prepare_cached(
                    "UPDATE alarm SET events = events + 1, last_event_utc_ns = max(last_event_utc_ns, ?2), rev = ?3
                     WHERE id = ?1 AND state != 'closed'",
                )
                .map_err(|e| self.sql(e))?;
            let mut make = tx
                .prepare_cached(
                    "INSERT INTO alarm (rev, created_utc_ns, at_utc_ns, kind, source, rule, priority, zone, cameras, instructions, sound, latitude, longitude, state, comment_required, escalate_utc_ns, last_event_utc_ns)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, 'new', ?14, ?15, ?3)",
                )
                .map_err(|e| self.sql(e))?;
            let mut event = tx
                .prepare_cached(
                    "INSERT INTO alarm_event (received_utc_ns, at_utc_ns, kind, source, camera_id, confidence, box, latitude, longitude, alarm_id)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                )
                .map_err(|e| self.sql(e))?;
            for (e, link, new) in events {
                rev += 1;
                let joins = match link {
                    Link::Alarm(id) => Some(*id),
                    Link::SameAs(i) => out.get(*i).and_then(|s: &Stored| s.alarm),
                    Link::None => None,
                };
                let joined = match joins {
                    Some(id) => {
                        join.execute(params![id, e.at_utc_ns, rev])
                            .map_err(|x| self.sql(x))?
                            == 1
                    }
                    None => false,
                };
                let (alarm_id, created) = if joined {
                    (joins, false)
                } else if let Some(new) = new {
                    make.execute(params![
                        rev,
                        now_utc_ns,
                        new.at_utc_ns,
                        new.kind,
                        new.source,
                        new.rule,
                        new.priority as i64,
                        new.zone,
                        new.cameras.join(","),
                        new.instructions,
                        new.sound,
                        new.location.map(|l| l.0),
                        new.location.map(|l| l.1),
                        new.comment_required as i64,
                        new.escalate_utc_ns,
                    ])
                    .map_err(|x| self.sql(x))?;
                    (Some(tx.last_insert_rowid()), true)
                } else {
                    (None, false)
                };
                event
                    .execute(params![
                        e.received_utc_ns,
                        e.at_utc_ns,
                        e.kind,
                        e.source,
                        e.camera_id,
                        e.confidence.map(|c| c as f64),
                        e.bbox,
                        e.location.map(|l| l.0),
                        e.location.map(|l| l.1),
                        alarm_id,
                    ])
                    .map_err(|x| self.sql(x))?;
                out.push(Stored {
                    event: tx.last_insert_rowid(),
                    alarm: alarm_id,
                    created,
                });
            }
        }
        tx.commit().map_err(|e| self.sql(e))?;
        Ok(out)
    }

    /// An alarm raised by Vigie itself (no camera event behind it): `kind`, from `source`, on
    /// `cameras`, priority 2, with `instructions` saying what happened and what to do.
    pub fn system_alarm(
        &self,
        kind: &str,
        source: &str,
        cameras: &[String],
        instructions: &str,
        now_utc_ns: i64,
    ) -> Result<(), StoreError> {
        let event = EventRow {
            received_utc_ns: now_utc_ns,
            at_utc_ns: now_utc_ns,
            kind: kind.to_owned(),
            source: source.to_owned(),
            camera_id: cameras.first().cloned(),
            confidence: None,
            bbox: None,
            location: None,
        };
        let alarm = NewAlarm {
            at_utc_ns: now_utc_ns,
            kind: kind.to_owned(),
            source: source.to_owned(),
            rule: source.to_owned(),
            priority: 2,
            zone: String::new(),
            cameras: cameras.to_vec(),
            instructions: instructions.to_owned(),
            sound: String::new(),
            location: None,
            comment_required: false,
            escalate_utc_ns: None,
        };
        self.add_events(&[(event, Link::None, Some(alarm))], now_utc_ns)?;
        Ok(())
    }

    /// Alarms changed after `rev`, in change order, at most `limit`.
    pub fn alarms_since(&self, rev: i64, limit: usize) -> Result<Vec<AlarmRow>, StoreError> {
        let mut q = self
            .conn
            .prepare_cached(&format!(
                "SELECT {ALARM_COLUMNS} FROM alarm WHERE rev > ?1 ORDER BY rev LIMIT ?2"
            ))
            .map_err(|e| self.sql(e))?;
        q.query_map(params![rev, limit as i64], alarm_row)
            .and_then(|rows| rows.collect())
            .map_err(|e| self.sql(e))
    }

    /// The newest alarm change's rev (0 when there is no alarm).
    pub fn last_alarm_rev(&self) -> Result<i64, StoreError> {
        self.conn
            .query_row("SELECT coalesce(max(rev), 0) FROM alarm", [], |r| r.get(0))
            .map_err(|e| self.sql(e))
    }

    pub fn alarm(&self, id: i64) -> Result<Option<AlarmRow>, StoreError> {
        alarm_by_id(&self.conn, id).map_err(|e| self.sql(e))
    }

    /// Alarms showing `camera` that happened within [from, to): (id, at, priority, kind).
    pub fn alarms_of_camera(
        &self,
        camera: &str,
        from_utc_ns: i64,
        to_utc_ns: i64,
    ) -> Result<Vec<(i64, i64, u8, String)>, StoreError> {
        let mut q = self
            .conn
            .prepare_cached(
                "SELECT id, at_utc_ns, priority, kind FROM alarm
                 WHERE at_utc_ns >= ?1 AND at_utc_ns < ?2 AND instr(',' || cameras || ',', ',' || ?3 || ',') > 0
                 ORDER BY at_utc_ns",
            )
            .map_err(|e| self.sql(e))?;
        q.query_map(params![from_utc_ns, to_utc_ns, camera], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get::<_, i64>(2)?.clamp(1, 5) as u8,
                r.get(3)?,
            ))
        })
        .and_then(|rows| rows.collect())
        .map_err(|e| self.sql(e))
    }

    /// Notes with an id above `after`, in order.
    pub fn alarm_notes_since(&self, after: i64) -> Result<Vec<NoteRow>, StoreError> {
        let mut q = self
            .conn
            .prepare_cached(
                "SELECT id, alarm_id, at_utc_ns, user_name, state, comment FROM alarm_note
                 WHERE id > ?1 ORDER BY id LIMIT 5000",
            )
            .map_err(|e| self.sql(e))?;
        q.query_map([after], |r| {
            Ok(NoteRow {
                id: r.get(0)?,
                alarm_id: r.get(1)?,
                at_utc_ns: r.get(2)?,
                user: r.get(3)?,
                state: r.get(4)?,
                comment: r.get(5)?,
            })
        })
        .and_then(|rows| rows.collect())
        .map_err(|e| self.sql(e))
    }

    /// Reads alarm `id`, lets `decide` rule on it and writes its answer (state, owner and a
    /// note) in one immediate transaction: two workstations acting at once are serialised and
    /// the second decides on what the first wrote. `Ok(None)`: no such alarm.
    pub fn update_alarm<E>(
        &self,
        id: i64,
        user: &str,
        now_utc_ns: i64,
        decide: impl FnOnce(&AlarmRow) -> Result<AlarmUpdate, E>,
    ) -> Result<Option<Result<AlarmRow, E>>, StoreError> {
        let tx = self.immediate()?;
        let Some(row) = alarm_by_id(&tx, id).map_err(|e| self.sql(e))? else {
            return Ok(None);
        };
        let update = match decide(&row) {
            Ok(u) => u,
            Err(e) => return Ok(Some(Err(e))),
        };
        tx.execute(
            "UPDATE alarm SET state = ?2, owner = ?3,
                 closed_utc_ns = CASE WHEN ?2 = 'closed' THEN ?4 ELSE NULL END,
                 rev = (SELECT max(rev) + 1 FROM alarm)
             WHERE id = ?1",
            params![id, update.state, update.owner, now_utc_ns],
        )
        .map_err(|e| self.sql(e))?;
        tx.execute(
            "INSERT INTO alarm_note (alarm_id, at_utc_ns, user_name, state, comment) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![id, now_utc_ns, user, update.state, update.comment],
        )
        .map_err(|e| self.sql(e))?;
        let after = alarm_by_id(&tx, id)
            .map_err(|e| self.sql(e))?
            .ok_or_else(|| self.sql(rusqlite::Error::QueryReturnedNoRows))?;
        tx.commit().map_err(|e| self.sql(e))?;
        Ok(Some(Ok(after)))
    }

    /// Escalates the alarms still new whose escalation time has come: priority raised by one
    /// (1 at most), flagged. Returns them.
    pub fn escalate_due(&self, now_utc_ns: i64) -> Result<Vec<AlarmRow>, StoreError> {
        let tx = self.immediate()?;
        let ids: Vec<i64> = {
            let mut q = tx
                .prepare_cached(
                    "SELECT id FROM alarm WHERE state = 'new' AND escalated = 0 AND escalate_utc_ns <= ?1",
                )
                .map_err(|e| self.sql(e))?;
            q.query_map([now_utc_ns], |r| r.get(0))
                .and_then(|rows| rows.collect::<rusqlite::Result<_>>())
                .map_err(|e| self.sql(e))?
        };
        let mut out = Vec::new();
        for id in ids {
            tx.execute(
                "UPDATE alarm SET escalated = 1, priority = max(1, priority - 1),
                     rev = (SELECT max(rev) + 1 FROM alarm) WHERE id = ?1",
                [id],
            )
            .map_err(|e| self.sql(e))?;
            out.push(
                alarm_by_id(&tx, id)
                    .map_err(|e| self.sql(e))?
                    .ok_or_else(|| self.sql(rusqlite::Error::QueryReturnedNoRows))?,
            );
        }
        tx.commit().map_err(|e| self.sql(e))?;
        Ok(out)
    }

    /// Events stored so far.
    pub fn alarm_event_count(&self) -> Result<i64, StoreError> {
        self.conn
            .query_row("SELECT count(*) FROM alarm_event", [], |r| r.get(0))
            .map_err(|e| self.sql(e))
    }

    /// Stores the latest report of each vehicle (older reports than the one held are ignored).
    pub fn update_vehicles(&self, reports: &[VehicleRow]) -> Result<(), StoreError> {
        let tx = self.immediate()?;
        let mut rev: i64 = tx
            .query_row("SELECT coalesce(max(rev), 0) FROM vehicle", [], |r| {
                r.get(0)
            })
            .map_err(|e| self.sql(e))?;
        {
            let mut q = tx
                .prepare_cached(
                    "INSERT INTO vehicle (id, rev, latitude, longitude, heading_deg, speed_kmh, status, at_utc_ns)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
                     ON CONFLICT (id) DO UPDATE SET rev = excluded.rev, latitude = excluded.latitude,
                         longitude = excluded.longitude, heading_deg = excluded.heading_deg,
                         speed_kmh = excluded.speed_kmh, status = excluded.status, at_utc_ns = excluded.at_utc_ns
                     WHERE excluded.at_utc_ns >= vehicle.at_utc_ns",
                )
                .map_err(|e| self.sql(e))?;
            for v in reports {
                rev += 1;
                q.execute(params![
                    v.id,
                    rev,
                    v.latitude,
                    v.longitude,
                    v.heading_deg.map(|x| x as f64),
                    v.speed_kmh.map(|x| x as f64),
                    v.status,
                    v.at_utc_ns
                ])
                .map_err(|e| self.sql(e))?;
            }
        }
        tx.commit().map_err(|e| self.sql(e))
    }

    /// Vehicles changed after `rev`.
    pub fn vehicles_since(&self, rev: i64) -> Result<Vec<VehicleRow>, StoreError> {
        let mut q = self
            .conn
            .prepare_cached(
                "SELECT id, rev, latitude, longitude, heading_deg, speed_kmh, status, at_utc_ns
                 FROM vehicle WHERE rev > ?1 ORDER BY rev",
            )
            .map_err(|e| self.sql(e))?;
        q.query_map([rev], vehicle_row)
            .and_then(|rows| rows.collect())
            .map_err(|e| self.sql(e))
    }

    /// Records a dispatch and marks the vehicle dispatched.
    pub fn add_dispatch(&self, d: &DispatchRow) -> Result<i64, StoreError> {
        let tx = self.immediate()?;
        tx.execute(
            "INSERT INTO dispatch (alarm_id, vehicle_id, user_name, at_utc_ns, distance_m, eta_s)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                d.alarm_id,
                d.vehicle_id,
                d.user,
                d.at_utc_ns,
                d.distance_m,
                d.eta_s
            ],
        )
        .map_err(|e| self.sql(e))?;
        let id = tx.last_insert_rowid();
        tx.execute(
            "UPDATE vehicle SET status = 'dispatched', rev = (SELECT max(rev) + 1 FROM vehicle) WHERE id = ?1",
            [&d.vehicle_id],
        )
        .map_err(|e| self.sql(e))?;
        tx.commit().map_err(|e| self.sql(e))?;
        Ok(id)
    }

    /// Dispatches to alarm `alarm_id`, oldest first.
    pub fn dispatches(&self, alarm_id: i64) -> Result<Vec<DispatchRow>, StoreError> {
        let mut q = self
            .conn
            .prepare_cached(
                "SELECT alarm_id, vehicle_id, user_name, at_utc_ns, distance_m, eta_s FROM dispatch
                 WHERE alarm_id = ?1 ORDER BY id",
            )
            .map_err(|e| self.sql(e))?;
        q.query_map([alarm_id], |r| {
            Ok(DispatchRow {
                alarm_id: r.get(0)?,
                vehicle_id: r.get(1)?,
                user: r.get(2)?,
                at_utc_ns: r.get(3)?,
                distance_m: r.get(4)?,
                eta_s: r.get(5)?,
            })
        })
        .and_then(|rows| rows.collect())
        .map_err(|e| self.sql(e))
    }
}
