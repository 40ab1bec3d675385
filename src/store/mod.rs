//! The index: SQLite (WAL) over the recorder's segment files, and the records kept about them.
//!
//! Contract: SQL lives here and nowhere else. One writer ([`IndexWriter`], a thread of its own
//! named "index writer") batches inserts into transactions; readers open their own [`Store`]
//! and never block it (WAL). A row is inserted only once its file is durable (create -> write
//! -> fsync file -> fsync directory -> insert row) and a file is unlinked only after its row
//! is marked `deleting` (mark -> unlink -> fsync directory -> delete row), so a reader never
//! sees a row whose file is not there. `synchronous=FULL`: a transaction is on disk when its
//! commit returns, so a power cut loses no audit entry, register line or row that an answer,
//! an export or a signed checkpoint already referred to.
//!
//! The schema is `schema.sql` (commented); versions and steps are in `migrations`.

mod alarms;
mod keyframes;
mod mbtiles;
mod migrations;
mod writer;

use std::path::{Path, PathBuf};

use rusqlite::{Connection, OpenFlags, OptionalExtension, params};

pub use alarms::{
    AlarmRow, AlarmUpdate, DispatchRow, EventRow, Link, NewAlarm, NoteRow, Stored, VehicleRow,
};
pub use keyframes::{
    Keyframe, KeyframeIndexError, at_or_before, decode as decode_keyframes,
    encode as encode_keyframes,
};
pub use mbtiles::MbTiles;
pub use migrations::{MigrationError, SCHEMA_VERSION, migrate};
pub use writer::{IndexWriter, WriteOp};

/// Name of the index file inside a data folder.
pub const INDEX_FILE: &str = "index.sqlite3";

/// Longest segment the schema accepts; range queries use it to bound index scans.
pub const MAX_SEGMENT_NS: i64 = 3_600_000_000_000;

/// A failure of the index, naming the database file.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{path}: {source}")]
    Sql {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("{path}: {source}")]
    Migration {
        path: PathBuf,
        source: MigrationError,
    },
    #[error("{path}: segment {id}: {source}")]
    Keyframes {
        path: PathBuf,
        id: i64,
        source: KeyframeIndexError,
    },
}

/// A camera as the index records it.
#[derive(Clone, Debug, PartialEq)]
pub struct CameraRow {
    pub id: String,
    pub name: String,
    pub zone: String,
    pub latitude: Option<f64>,
    pub longitude: Option<f64>,
    pub retention_days: u32,
}

impl CameraRow {
    /// A camera with no zone or position and the legal maximum retention.
    pub fn new(id: &str, name: &str) -> CameraRow {
        CameraRow {
            id: id.to_owned(),
            name: name.to_owned(),
            zone: String::new(),
            latitude: None,
            longitude: None,
            retention_days: 30,
        }
    }
}

/// A segment to index.
#[derive(Clone, Debug, PartialEq)]
pub struct SegmentRow {
    pub camera_id: String,
    pub start_utc_ns: i64,
    pub end_utc_ns: i64,
    /// Relative to the data directory.
    pub path: String,
    pub bytes: u64,
    pub sha256: [u8; 32],
    /// "h264" or "h265".
    pub codec: String,
    /// [`encode_keyframes`] of the segment's keyframes.
    pub keyframes: Vec<u8>,
    /// How its times were established.
    pub time_source: TimeSource,
}

/// How a segment's times were established.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeSource {
    /// RTP timestamps mapped through the camera's RTCP sender reports.
    Rtcp,
    /// RTP timestamps from the local arrival time of the connection's first picture.
    Arrival,
}

impl TimeSource {
    /// The value stored in the index.
    pub fn as_str(self) -> &'static str {
        match self {
            TimeSource::Rtcp => "rtcp",
            TimeSource::Arrival => "arrival",
        }
    }

    /// Reads a stored value.
    pub fn parse(s: &str) -> Option<TimeSource> {
        match s {
            "rtcp" => Some(TimeSource::Rtcp),
            "arrival" => Some(TimeSource::Arrival),
            _ => None,
        }
    }
}

/// An indexed segment.
#[derive(Clone, Debug, PartialEq)]
pub struct Segment {
    pub id: i64,
    pub row: SegmentRow,
}

/// Where to start decoding to show an instant.
#[derive(Clone, Debug, PartialEq)]
pub struct SeekPoint {
    pub segment: Segment,
    pub keyframe: Keyframe,
}

/// A span of time on a camera's timeline.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Span {
    pub start_utc_ns: i64,
    pub end_utc_ns: i64,
}

/// What a timeline draws for a camera over a range.
#[derive(Clone, Debug, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Timeline {
    /// Recorded spans (segment id, span).
    pub segments: Vec<(i64, Span)>,
    /// Gaps and their cause.
    pub gaps: Vec<(Span, String)>,
    /// Events: instant and kind.
    pub events: Vec<(i64, String)>,
}

/// A connection to the index.
pub struct Store {
    conn: Connection,
    path: PathBuf,
}

impl Store {
    /// Opens (creating and migrating as needed) the index at `path`.
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        Self::open_with(path, rusqlite::OpenFlags::default())
    }

    /// Opens the index at `path` only if it is there: what a running server or recorder
    /// uses after start-up, so that a data volume gone from behind its mount point never
    /// gets a fresh, empty index on the disk beneath.
    pub fn open_existing(path: &Path) -> Result<Store, StoreError> {
        Self::open_with(
            path,
            rusqlite::OpenFlags::default() - rusqlite::OpenFlags::SQLITE_OPEN_CREATE,
        )
    }

    fn open_with(path: &Path, flags: rusqlite::OpenFlags) -> Result<Store, StoreError> {
        let sql = |source| StoreError::Sql {
            path: path.to_owned(),
            source,
        };
        let mut conn = Connection::open_with_flags(path, flags).map_err(sql)?;
        conn.pragma_update(None, "journal_mode", "wal")
            .map_err(sql)?;
        conn.pragma_update(None, "synchronous", "full")
            .map_err(sql)?;
        conn.pragma_update(None, "foreign_keys", "on")
            .map_err(sql)?;
        // 64 MiB of page cache: the (camera, time) index of a busy day stays in memory.
        conn.pragma_update(None, "cache_size", -65536)
            .map_err(sql)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(sql)?;
        migrate(&mut conn).map_err(|source| StoreError::Migration {
            path: path.to_owned(),
            source,
        })?;
        Ok(Store {
            conn,
            path: path.to_owned(),
        })
    }

    /// Opens an existing index for reading only (the review room, the CLI).
    pub fn open_readonly(path: &Path) -> Result<Store, StoreError> {
        let sql = |source| StoreError::Sql {
            path: path.to_owned(),
            source,
        };
        let conn = Connection::open_with_flags(
            path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(sql)?;
        conn.busy_timeout(std::time::Duration::from_secs(5))
            .map_err(sql)?;
        Ok(Store {
            conn,
            path: path.to_owned(),
        })
    }

    /// An immediate transaction: it takes the write lock at once, so what it reads stays true
    /// until it commits.
    fn immediate(&self) -> Result<rusqlite::Transaction<'_>, StoreError> {
        rusqlite::Transaction::new_unchecked(&self.conn, rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| self.sql(e))
    }

    fn sql(&self, source: rusqlite::Error) -> StoreError {
        StoreError::Sql {
            path: self.path.clone(),
            source,
        }
    }

    /// Folds the write-ahead log into the database file (for size measurements, backups).
    pub fn checkpoint(&self) -> Result<(), StoreError> {
        self.conn
            .query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .map_err(|e| self.sql(e))
    }

    /// Applies one change directly (start-up work done before the [`IndexWriter`] starts).
    pub fn apply(&self, op: &WriteOp) -> Result<(), StoreError> {
        writer::apply(&self.conn, op)
            .map(|_| ())
            .map_err(|e| self.sql(e))
    }

    /// Removes a segment's row (its file is already gone or moved aside).
    pub fn delete_segment(&self, id: i64) -> Result<(), StoreError> {
        self.conn
            .execute("DELETE FROM segment WHERE id = ?1", params![id])
            .map(|_| ())
            .map_err(|e| self.sql(e))
    }

    /// Whether a camera row exists.
    pub fn has_camera(&self, id: &str) -> Result<bool, StoreError> {
        self.conn
            .query_row(
                "SELECT count(*) FROM camera WHERE id = ?1",
                params![id],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n > 0)
            .map_err(|e| self.sql(e))
    }

    /// The segment holding `at_utc_ns` and its keyframe at or before that instant.
    pub fn seek(&self, camera_id: &str, at_utc_ns: i64) -> Result<Option<SeekPoint>, StoreError> {
        let mut q = self
            .conn
            .prepare_cached(
                "SELECT id, start_utc_ns, end_utc_ns, path, bytes, sha256, codec, keyframes, time_source FROM segment
                 WHERE camera_id = ?1 AND start_utc_ns <= ?2 AND start_utc_ns > ?3 AND deleting = 0
                 ORDER BY start_utc_ns DESC LIMIT 1",
            )
            .map_err(|e| self.sql(e))?;
        let seg = q
            .query_row(
                params![camera_id, at_utc_ns, at_utc_ns - MAX_SEGMENT_NS],
                |r| segment_from_row(camera_id, r),
            )
            .optional()
            .map_err(|e| self.sql(e))?;
        let Some(seg) = seg.filter(|s| s.row.end_utc_ns > at_utc_ns) else {
            return Ok(None);
        };
        // The last tick whose instant, floored to the nanosecond as everywhere else, is not
        // after `at`: a keyframe exactly at `at` is found whatever the rounding.
        let rel = (at_utc_ns - seg.row.start_utc_ns) as i128;
        let offset_90k = (((rel + 1) * 90_000 + 999_999_999) / 1_000_000_000 - 1).max(0) as u64;
        let key = at_or_before(&seg.row.keyframes, offset_90k).map_err(|source| {
            StoreError::Keyframes {
                path: self.path.clone(),
                id: seg.id,
                source,
            }
        })?;
        Ok(key.map(|keyframe| SeekPoint {
            segment: seg,
            keyframe,
        }))
    }

    /// Segments of `camera_id` overlapping `[from, to)`, oldest first.
    pub fn segments(
        &self,
        camera_id: &str,
        from_utc_ns: i64,
        to_utc_ns: i64,
    ) -> Result<Vec<Segment>, StoreError> {
        let mut q = self
            .conn
            .prepare_cached(
                "SELECT id, start_utc_ns, end_utc_ns, path, bytes, sha256, codec, keyframes, time_source FROM segment
                 WHERE camera_id = ?1 AND start_utc_ns < ?3 AND start_utc_ns > ?2 - ?4 AND end_utc_ns > ?2 AND deleting = 0
                 ORDER BY start_utc_ns",
            )
            .map_err(|e| self.sql(e))?;
        let rows = q
            .query_map(
                params![camera_id, from_utc_ns, to_utc_ns, MAX_SEGMENT_NS],
                |r| segment_from_row(camera_id, r),
            )
            .map_err(|e| self.sql(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.sql(e))
    }

    /// Everything a timeline shows for `camera_id` over `[from, to)`.
    pub fn timeline(
        &self,
        camera_id: &str,
        from_utc_ns: i64,
        to_utc_ns: i64,
    ) -> Result<Timeline, StoreError> {
        let mut t = Timeline::default();
        let mut q = self
            .conn
            .prepare_cached(
                "SELECT id, start_utc_ns, end_utc_ns FROM segment
                 WHERE camera_id = ?1 AND start_utc_ns < ?3 AND start_utc_ns > ?2 - ?4 AND end_utc_ns > ?2 AND deleting = 0
                 ORDER BY start_utc_ns",
            )
            .map_err(|e| self.sql(e))?;
        let rows = q
            .query_map(
                params![camera_id, from_utc_ns, to_utc_ns, MAX_SEGMENT_NS],
                |r| {
                    Ok((
                        r.get(0)?,
                        Span {
                            start_utc_ns: r.get(1)?,
                            end_utc_ns: r.get(2)?,
                        },
                    ))
                },
            )
            .map_err(|e| self.sql(e))?;
        t.segments = rows.collect::<Result<_, _>>().map_err(|e| self.sql(e))?;
        let mut q = self
            .conn
            .prepare_cached(
                "SELECT start_utc_ns, end_utc_ns, cause FROM gap
                 WHERE camera_id = ?1 AND start_utc_ns < ?3 AND end_utc_ns > ?2 ORDER BY start_utc_ns",
            )
            .map_err(|e| self.sql(e))?;
        let rows = q
            .query_map(params![camera_id, from_utc_ns, to_utc_ns], |r| {
                Ok((
                    Span {
                        start_utc_ns: r.get(0)?,
                        end_utc_ns: r.get(1)?,
                    },
                    r.get(2)?,
                ))
            })
            .map_err(|e| self.sql(e))?;
        t.gaps = rows.collect::<Result<_, _>>().map_err(|e| self.sql(e))?;
        let mut q = self
            .conn
            .prepare_cached(
                "SELECT at_utc_ns, kind FROM event WHERE camera_id = ?1 AND at_utc_ns >= ?2 AND at_utc_ns < ?3 ORDER BY at_utc_ns",
            )
            .map_err(|e| self.sql(e))?;
        let rows = q
            .query_map(params![camera_id, from_utc_ns, to_utc_ns], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .map_err(|e| self.sql(e))?;
        t.events = rows.collect::<Result<_, _>>().map_err(|e| self.sql(e))?;
        Ok(t)
    }
}

/// A `user` row joined with its camera grants (name, role, created, disabled, cameras).
fn user_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<UserRow> {
    let cams: String = r.get(4)?;
    Ok(UserRow {
        name: r.get(0)?,
        role: r.get(1)?,
        created_utc_ns: r.get(2)?,
        disabled_utc_ns: r.get(3)?,
        cameras: cams
            .split(',')
            .filter(|c| !c.is_empty())
            .map(str::to_owned)
            .collect(),
    })
}

/// A line of the register of deletions and exports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegisterLine {
    pub at_utc_ns: i64,
    /// "deleted" or "exported".
    pub action: String,
    pub camera_id: String,
    pub span: Span,
    pub reason: String,
    pub author: String,
}

/// A named user, as listed (never the password hash).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserRow {
    pub name: String,
    pub role: String,
    pub created_utc_ns: i64,
    pub disabled_utc_ns: Option<i64>,
    /// Camera ids the user may see; `*` for all.
    pub cameras: Vec<String>,
}

/// One thing someone did, as the audit log keeps it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AuditEntry {
    pub at_utc_ns: i64,
    pub user: String,
    pub role: String,
    pub action: String,
    /// Camera ids, comma-separated.
    pub cameras: String,
    pub range: Option<(i64, i64)>,
    pub reason: String,
    pub detail: String,
}

/// An audit entry as stored: (seq, entry, stored previous hash, stored hash).
pub type StoredAuditEntry = (i64, AuditEntry, Vec<u8>, Vec<u8>);

/// A privacy mask: a polygon of a camera's picture, in fractions of its width and height.
#[derive(Clone, Debug, PartialEq)]
pub struct Mask {
    pub id: i64,
    pub camera_id: String,
    pub polygon: Vec<[f32; 2]>,
    pub label: String,
    pub author: String,
    pub created_utc_ns: i64,
}

/// What is recorded of a camera: (camera, first instant, last instant, segments, bytes).
pub type RecordedSummary = (String, i64, i64, i64, i64);

/// A citizen's access request and its outcome.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessRequest {
    pub received_utc_ns: i64,
    pub requester: String,
    pub identity_check: String,
    /// Camera ids, comma-separated.
    pub cameras: String,
    pub span: Span,
    pub handled_by: String,
    /// "granted" or "refused".
    pub outcome: String,
    pub detail: String,
    pub decided_utc_ns: i64,
}

/// A reviewer's mark on a camera's timeline.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Bookmark {
    pub id: i64,
    pub camera_id: String,
    pub at_utc_ns: i64,
    pub note: String,
    pub author: String,
    pub created_utc_ns: i64,
}

/// A legal hold on a camera's range.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Hold {
    pub id: i64,
    pub camera_id: String,
    pub span: Span,
    pub procedure: String,
    pub reason: String,
    pub author: String,
    pub created_utc_ns: i64,
    pub expires_utc_ns: i64,
    pub released_utc_ns: Option<i64>,
}

impl Store {
    /// Records a hold; returns its id.
    pub fn add_hold(&self, h: &Hold) -> Result<i64, StoreError> {
        self.conn
            .execute(
                "INSERT INTO hold (camera_id, start_utc_ns, end_utc_ns, procedure, reason, author, created_utc_ns, expires_utc_ns)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![h.camera_id, h.span.start_utc_ns, h.span.end_utc_ns, h.procedure, h.reason, h.author, h.created_utc_ns, h.expires_utc_ns],
            )
            .map_err(|e| self.sql(e))?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Every hold, newest first.
    pub fn holds(&self) -> Result<Vec<Hold>, StoreError> {
        let mut q = self
            .conn
            .prepare(
                "SELECT id, camera_id, start_utc_ns, end_utc_ns, procedure, reason, author, created_utc_ns, expires_utc_ns, released_utc_ns
                 FROM hold ORDER BY id DESC",
            )
            .map_err(|e| self.sql(e))?;
        let rows = q
            .query_map([], |r| {
                Ok(Hold {
                    id: r.get(0)?,
                    camera_id: r.get(1)?,
                    span: Span {
                        start_utc_ns: r.get(2)?,
                        end_utc_ns: r.get(3)?,
                    },
                    procedure: r.get(4)?,
                    reason: r.get(5)?,
                    author: r.get(6)?,
                    created_utc_ns: r.get(7)?,
                    expires_utc_ns: r.get(8)?,
                    released_utc_ns: r.get(9)?,
                })
            })
            .map_err(|e| self.sql(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.sql(e))
    }

    /// Ends a hold early; false when there is no such active hold.
    pub fn release_hold(&self, id: i64, at_utc_ns: i64) -> Result<bool, StoreError> {
        self.conn
            .execute(
                "UPDATE hold SET released_utc_ns = ?2 WHERE id = ?1 AND released_utc_ns IS NULL",
                params![id, at_utc_ns],
            )
            .map(|n| n > 0)
            .map_err(|e| self.sql(e))
    }

    /// Segments that no hold in force at `now` covers, oldest first: with `only_expired`, only
    /// those past their camera's retention (retention); without, any (the disk budget).
    pub fn deletable_segments(
        &self,
        now_utc_ns: i64,
        only_expired: bool,
        limit: usize,
    ) -> Result<Vec<Segment>, StoreError> {
        let mut q = self
            .conn
            .prepare_cached(
                "SELECT s.id, s.start_utc_ns, s.end_utc_ns, s.path, s.bytes, s.sha256, s.codec, s.keyframes, s.time_source, s.camera_id
                 FROM segment s JOIN camera c ON c.id = s.camera_id
                 WHERE (?3 = 0 OR s.end_utc_ns <= ?1 - c.retention_days * 86400000000000)
                   AND NOT EXISTS (SELECT 1 FROM hold h WHERE h.camera_id = s.camera_id
                                   AND h.start_utc_ns < s.end_utc_ns AND h.end_utc_ns > s.start_utc_ns
                                   AND h.released_utc_ns IS NULL AND h.expires_utc_ns > ?1)
                 ORDER BY s.end_utc_ns LIMIT ?2",
            )
            .map_err(|e| self.sql(e))?;
        let rows = q
            .query_map(
                params![now_utc_ns, limit as i64, only_expired as i64],
                |r| {
                    let camera: String = r.get(9)?;
                    segment_from_row(&camera, r)
                },
            )
            .map_err(|e| self.sql(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.sql(e))
    }

    /// Per camera, the footage retention would delete at `now_utc_ns` (expired, not held):
    /// (camera, segments, when the first of them became deletable: its retention over, and the
    /// last hold over it released or lapsed), the longest deletable first.
    pub fn expired_footage(&self, now_utc_ns: i64) -> Result<Vec<(String, i64, i64)>, StoreError> {
        let mut q = self
            .conn
            .prepare_cached(
                "SELECT s.camera_id, count(*),
                        min(max(s.end_utc_ns + c.retention_days * 86400000000000,
                                coalesce((SELECT max(min(coalesce(h.released_utc_ns, h.expires_utc_ns), h.expires_utc_ns))
                                          FROM hold h WHERE h.camera_id = s.camera_id
                                          AND h.start_utc_ns < s.end_utc_ns AND h.end_utc_ns > s.start_utc_ns), 0))) AS expired
                 FROM segment s JOIN camera c ON c.id = s.camera_id
                 WHERE s.end_utc_ns <= ?1 - c.retention_days * 86400000000000
                   AND NOT EXISTS (SELECT 1 FROM hold h WHERE h.camera_id = s.camera_id
                                   AND h.start_utc_ns < s.end_utc_ns AND h.end_utc_ns > s.start_utc_ns
                                   AND h.released_utc_ns IS NULL AND h.expires_utc_ns > ?1)
                 GROUP BY s.camera_id ORDER BY expired",
            )
            .map_err(|e| self.sql(e))?;
        let rows = q
            .query_map(params![now_utc_ns], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .map_err(|e| self.sql(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.sql(e))
    }

    /// The id of the latest installation-wide event of `kind` (0 when none).
    pub fn last_event_id(&self, kind: &str) -> Result<i64, StoreError> {
        self.conn
            .query_row(
                "SELECT coalesce(max(id), 0) FROM event WHERE camera_id IS NULL AND kind = ?1",
                params![kind],
                |r| r.get(0),
            )
            .map_err(|e| self.sql(e))
    }

    /// First step of a deletion: the row is marked, so readers stop offering it.
    pub fn mark_deleting(&self, id: i64) -> Result<(), StoreError> {
        self.conn
            .execute("UPDATE segment SET deleting = 1 WHERE id = ?1", params![id])
            .map(|_| ())
            .map_err(|e| self.sql(e))
    }

    /// Last step of a deletion (after unlink and directory fsync): the row goes and the
    /// register keeps a line of it, in one transaction.
    pub fn finish_deletion(
        &mut self,
        seg: &Segment,
        at_utc_ns: i64,
        reason: &str,
        author: &str,
    ) -> Result<(), StoreError> {
        let path = self.path.clone();
        let sql = |source| StoreError::Sql {
            path: path.clone(),
            source,
        };
        let tx = self.conn.transaction().map_err(sql)?;
        tx.execute(
            "INSERT INTO register (at_utc_ns, action, camera_id, start_utc_ns, end_utc_ns, reason, author, detail)
             VALUES (?1, 'deleted', ?2, ?3, ?4, ?5, ?6, ?7)",
            params![at_utc_ns, seg.row.camera_id, seg.row.start_utc_ns, seg.row.end_utc_ns, reason, author, seg.row.path],
        )
        .map_err(sql)?;
        tx.execute("DELETE FROM segment WHERE id = ?1", params![seg.id])
            .map_err(sql)?;
        tx.commit().map_err(sql)
    }

    /// Events of a kind, oldest first: (at, camera, detail).
    pub fn events_of_kind(
        &self,
        kind: &str,
    ) -> Result<Vec<(i64, Option<String>, String)>, StoreError> {
        let mut q = self
            .conn
            .prepare(
                "SELECT at_utc_ns, camera_id, detail FROM event WHERE kind = ?1 ORDER BY at_utc_ns",
            )
            .map_err(|e| self.sql(e))?;
        let rows = q
            .query_map(params![kind], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .map_err(|e| self.sql(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.sql(e))
    }

    /// Adds a privacy mask; returns its id.
    pub fn add_mask(&self, m: &Mask) -> Result<i64, StoreError> {
        let polygon = serde_json::to_string(&m.polygon).unwrap_or_default();
        self.conn
            .execute(
                "INSERT INTO mask (camera_id, polygon, label, author, created_utc_ns) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![m.camera_id, polygon, m.label, m.author, m.created_utc_ns],
            )
            .map_err(|e| self.sql(e))?;
        Ok(self.conn.last_insert_rowid())
    }

    /// The masks in force: of `camera_id`, or of every camera when None; by camera, then id.
    pub fn masks(&self, camera_id: Option<&str>) -> Result<Vec<Mask>, StoreError> {
        let mut q = self
            .conn
            .prepare_cached(
                "SELECT id, camera_id, polygon, label, author, created_utc_ns FROM mask
                 WHERE removed_utc_ns IS NULL AND (?1 IS NULL OR camera_id = ?1)
                 ORDER BY camera_id, id",
            )
            .map_err(|e| self.sql(e))?;
        let rows = q
            .query_map(params![camera_id], |r| {
                let polygon: String = r.get(2)?;
                Ok(Mask {
                    id: r.get(0)?,
                    camera_id: r.get(1)?,
                    polygon: serde_json::from_str(&polygon).unwrap_or_default(),
                    label: r.get(3)?,
                    author: r.get(4)?,
                    created_utc_ns: r.get(5)?,
                })
            })
            .map_err(|e| self.sql(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.sql(e))
    }

    /// Removes a mask in force (kept, marked removed); the camera it was on, if there was one.
    pub fn remove_mask(&self, id: i64, at_utc_ns: i64) -> Result<Option<String>, StoreError> {
        let camera: Option<String> = self
            .conn
            .query_row(
                "UPDATE mask SET removed_utc_ns = ?2 WHERE id = ?1 AND removed_utc_ns IS NULL
                 RETURNING camera_id",
                params![id, at_utc_ns],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.sql(e))?;
        Ok(camera)
    }

    /// Records a citizen's access request and its outcome; returns its id.
    pub fn add_access_request(&self, a: &AccessRequest) -> Result<i64, StoreError> {
        self.conn
            .execute(
                "INSERT INTO access_request (received_utc_ns, requester, identity_check, cameras, start_utc_ns, end_utc_ns, handled_by, outcome, detail, decided_utc_ns)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                params![a.received_utc_ns, a.requester, a.identity_check, a.cameras, a.span.start_utc_ns, a.span.end_utc_ns, a.handled_by, a.outcome, a.detail, a.decided_utc_ns],
            )
            .map_err(|e| self.sql(e))?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Saves (or replaces) `user`'s view `name`.
    pub fn save_view(
        &self,
        user: &str,
        name: &str,
        body: &str,
        now_utc_ns: i64,
    ) -> Result<(), StoreError> {
        self.conn
            .execute(
                "INSERT INTO saved_view (user_name, name, body, updated_utc_ns) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (user_name, name) DO UPDATE SET body = excluded.body, updated_utc_ns = excluded.updated_utc_ns",
                params![user, name, body, now_utc_ns],
            )
            .map(|_| ())
            .map_err(|e| self.sql(e))
    }

    /// `user`'s saved views: (name, body), by name.
    pub fn views(&self, user: &str) -> Result<Vec<(String, String)>, StoreError> {
        let mut q = self
            .conn
            .prepare("SELECT name, body FROM saved_view WHERE user_name = ?1 ORDER BY name")
            .map_err(|e| self.sql(e))?;
        let rows = q
            .query_map(params![user], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(|e| self.sql(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.sql(e))
    }

    /// Every access request, oldest first.
    pub fn access_requests(&self) -> Result<Vec<AccessRequest>, StoreError> {
        let mut q = self
            .conn
            .prepare(
                "SELECT received_utc_ns, requester, identity_check, cameras, start_utc_ns, end_utc_ns, handled_by, outcome, detail, decided_utc_ns
                 FROM access_request ORDER BY id",
            )
            .map_err(|e| self.sql(e))?;
        let rows = q
            .query_map([], |r| {
                Ok(AccessRequest {
                    received_utc_ns: r.get(0)?,
                    requester: r.get(1)?,
                    identity_check: r.get(2)?,
                    cameras: r.get(3)?,
                    span: Span {
                        start_utc_ns: r.get(4)?,
                        end_utc_ns: r.get(5)?,
                    },
                    handled_by: r.get(6)?,
                    outcome: r.get(7)?,
                    detail: r.get(8)?,
                    decided_utc_ns: r.get(9)?,
                })
            })
            .map_err(|e| self.sql(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.sql(e))
    }

    /// What is recorded, per camera: (camera, first instant, last instant, segments, bytes).
    pub fn recordings_summary(&self) -> Result<Vec<RecordedSummary>, StoreError> {
        let mut q = self
            .conn
            .prepare(
                "SELECT camera_id, min(start_utc_ns), max(end_utc_ns), count(*), sum(bytes)
                 FROM segment WHERE deleting = 0 GROUP BY camera_id ORDER BY camera_id",
            )
            .map_err(|e| self.sql(e))?;
        let rows = q
            .query_map([], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
            })
            .map_err(|e| self.sql(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.sql(e))
    }

    /// Adds lines to the register in one transaction (an export names every camera).
    pub fn add_register(&self, lines: &[(RegisterLine, String)]) -> Result<(), StoreError> {
        let tx = self.conn.unchecked_transaction().map_err(|e| self.sql(e))?;
        for (l, detail) in lines {
            tx.execute(
                "INSERT INTO register (at_utc_ns, action, camera_id, start_utc_ns, end_utc_ns, reason, author, detail)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![l.at_utc_ns, l.action, l.camera_id, l.span.start_utc_ns, l.span.end_utc_ns, l.reason, l.author, detail],
            )
            .map_err(|e| self.sql(e))?;
        }
        tx.commit().map_err(|e| self.sql(e))
    }

    /// Register lines (deletions, exports), oldest first.
    pub fn register(&self) -> Result<Vec<RegisterLine>, StoreError> {
        let mut q = self
            .conn
            .prepare("SELECT at_utc_ns, action, camera_id, start_utc_ns, end_utc_ns, reason, author FROM register ORDER BY id")
            .map_err(|e| self.sql(e))?;
        let rows = q
            .query_map([], |r| {
                Ok(RegisterLine {
                    at_utc_ns: r.get(0)?,
                    action: r.get(1)?,
                    camera_id: r.get(2)?,
                    span: Span {
                        start_utc_ns: r.get(3)?,
                        end_utc_ns: r.get(4)?,
                    },
                    reason: r.get(5)?,
                    author: r.get(6)?,
                })
            })
            .map_err(|e| self.sql(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.sql(e))
    }

    /// Adds a user with `role` and an already hashed password; their cameras: `cameras`
    /// (ids, or `*` for all). Fails if the name is taken.
    pub fn add_user(
        &self,
        name: &str,
        role: &str,
        password_hash: &str,
        cameras: &[String],
        now_utc_ns: i64,
    ) -> Result<(), StoreError> {
        let tx = self.conn.unchecked_transaction().map_err(|e| self.sql(e))?;
        tx.execute(
            "INSERT INTO user (name, role, password_hash, created_utc_ns) VALUES (?1, ?2, ?3, ?4)",
            params![name, role, password_hash, now_utc_ns],
        )
        .map_err(|e| self.sql(e))?;
        for c in cameras {
            tx.execute(
                "INSERT OR IGNORE INTO user_camera (user_name, camera_id) VALUES (?1, ?2)",
                params![name, c],
            )
            .map_err(|e| self.sql(e))?;
        }
        tx.commit().map_err(|e| self.sql(e))
    }

    /// Replaces the cameras `name` may see.
    pub fn set_user_cameras(&self, name: &str, cameras: &[String]) -> Result<(), StoreError> {
        let tx = self.conn.unchecked_transaction().map_err(|e| self.sql(e))?;
        tx.execute(
            "DELETE FROM user_camera WHERE user_name = ?1",
            params![name],
        )
        .map_err(|e| self.sql(e))?;
        for c in cameras {
            tx.execute(
                "INSERT OR IGNORE INTO user_camera (user_name, camera_id) VALUES (?1, ?2)",
                params![name, c],
            )
            .map_err(|e| self.sql(e))?;
        }
        tx.commit().map_err(|e| self.sql(e))
    }

    /// Every user, by name (the password hash left out).
    pub fn users(&self) -> Result<Vec<UserRow>, StoreError> {
        let mut q = self
            .conn
            .prepare(
                "SELECT u.name, u.role, u.created_utc_ns, u.disabled_utc_ns,
                        coalesce(group_concat(c.camera_id, ','), '')
                 FROM user u LEFT JOIN user_camera c ON c.user_name = u.name
                 GROUP BY u.name ORDER BY u.name",
            )
            .map_err(|e| self.sql(e))?;
        let rows = q.query_map([], user_row).map_err(|e| self.sql(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.sql(e))
    }

    /// One user by name (the password hash left out), disabled or not.
    pub fn user(&self, name: &str) -> Result<Option<UserRow>, StoreError> {
        let mut q = self
            .conn
            .prepare_cached(
                "SELECT u.name, u.role, u.created_utc_ns, u.disabled_utc_ns,
                        coalesce(group_concat(c.camera_id, ','), '')
                 FROM user u LEFT JOIN user_camera c ON c.user_name = u.name
                 WHERE u.name = ?1 GROUP BY u.name",
            )
            .map_err(|e| self.sql(e))?;
        q.query_row(params![name], user_row)
            .optional()
            .map_err(|e| self.sql(e))
    }

    /// A user's role and password hash, if the user exists and is not disabled.
    pub fn user_credentials(&self, name: &str) -> Result<Option<(String, String)>, StoreError> {
        self.conn
            .query_row(
                "SELECT role, password_hash FROM user WHERE name = ?1 AND disabled_utc_ns IS NULL",
                params![name],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(|e| self.sql(e))
    }

    /// Disables a user (accounts are never deleted: the audit log names them). False if there
    /// is no such enabled user.
    pub fn disable_user(&self, name: &str, now_utc_ns: i64) -> Result<bool, StoreError> {
        self.conn
            .execute(
                "UPDATE user SET disabled_utc_ns = ?2 WHERE name = ?1 AND disabled_utc_ns IS NULL",
                params![name, now_utc_ns],
            )
            .map(|n| n == 1)
            .map_err(|e| self.sql(e))
    }

    /// The audit log's last entry: its sequence number and hash.
    pub fn audit_head(&self) -> Result<Option<(i64, Vec<u8>)>, StoreError> {
        self.conn
            .query_row(
                "SELECT seq, sha256 FROM audit ORDER BY seq DESC LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(|e| self.sql(e))
    }

    /// Appends `entry` after the log's head, its hash given by `hash(seq, previous hash)`, in
    /// one immediate transaction (two writers never chain onto the same head).
    pub fn append_audit(
        &self,
        entry: &AuditEntry,
        hash: impl FnOnce(i64, &[u8; 32]) -> [u8; 32],
    ) -> Result<i64, StoreError> {
        let tx = self.immediate()?;
        let head: Option<(i64, Vec<u8>)> = tx
            .query_row(
                "SELECT seq, sha256 FROM audit ORDER BY seq DESC LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(|e| self.sql(e))?;
        let (seq, prev) = match head {
            Some((s, h)) => (s + 1, h.try_into().unwrap_or([0u8; 32])),
            None => (1, [0u8; 32]),
        };
        let sha = hash(seq, &prev);
        tx.execute(
            "INSERT INTO audit (seq, at_utc_ns, user_name, role, action, cameras, start_utc_ns, end_utc_ns, reason, detail, prev_sha256, sha256)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            params![
                seq,
                entry.at_utc_ns,
                entry.user,
                entry.role,
                entry.action,
                entry.cameras,
                entry.range.map(|r| r.0),
                entry.range.map(|r| r.1),
                entry.reason,
                entry.detail,
                &prev[..],
                &sha[..]
            ],
        )
        .map_err(|e| self.sql(e))?;
        tx.commit().map_err(|e| self.sql(e))?;
        Ok(seq)
    }

    /// Every audit entry in sequence order.
    pub fn audit_entries(&self) -> Result<Vec<StoredAuditEntry>, StoreError> {
        let mut q = self
            .conn
            .prepare(
                "SELECT seq, at_utc_ns, user_name, role, action, cameras, start_utc_ns, end_utc_ns, reason, detail, prev_sha256, sha256
                 FROM audit ORDER BY seq",
            )
            .map_err(|e| self.sql(e))?;
        let rows = q
            .query_map([], |r| {
                let start: Option<i64> = r.get(6)?;
                let end: Option<i64> = r.get(7)?;
                Ok((
                    r.get(0)?,
                    AuditEntry {
                        at_utc_ns: r.get(1)?,
                        user: r.get(2)?,
                        role: r.get(3)?,
                        action: r.get(4)?,
                        cameras: r.get(5)?,
                        range: start.zip(end),
                        reason: r.get(8)?,
                        detail: r.get(9)?,
                    },
                    r.get(10)?,
                    r.get(11)?,
                ))
            })
            .map_err(|e| self.sql(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.sql(e))
    }

    /// Every camera the recorder has known, by id.
    pub fn cameras(&self) -> Result<Vec<CameraRow>, StoreError> {
        let mut q = self
            .conn
            .prepare_cached(
                "SELECT id, name, zone, latitude, longitude, retention_days FROM camera ORDER BY id",
            )
            .map_err(|e| self.sql(e))?;
        let rows = q
            .query_map([], |r| {
                Ok(CameraRow {
                    id: r.get(0)?,
                    name: r.get(1)?,
                    zone: r.get(2)?,
                    latitude: r.get(3)?,
                    longitude: r.get(4)?,
                    retention_days: r.get(5)?,
                })
            })
            .map_err(|e| self.sql(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.sql(e))
    }

    /// Adds a reviewer's bookmark; returns its id.
    pub fn add_bookmark(&self, b: &Bookmark) -> Result<i64, StoreError> {
        self.conn
            .prepare_cached(
                "INSERT INTO bookmark (camera_id, at_utc_ns, note, author, created_utc_ns) VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .and_then(|mut q| {
                q.execute(params![b.camera_id, b.at_utc_ns, b.note, b.author, b.created_utc_ns])
            })
            .map_err(|e| self.sql(e))?;
        Ok(self.conn.last_insert_rowid())
    }

    /// Bookmarks of `camera_id` in `[from, to)`, oldest first.
    pub fn bookmarks(
        &self,
        camera_id: &str,
        from_utc_ns: i64,
        to_utc_ns: i64,
    ) -> Result<Vec<Bookmark>, StoreError> {
        let mut q = self
            .conn
            .prepare_cached(
                "SELECT id, camera_id, at_utc_ns, note, author, created_utc_ns FROM bookmark
                 WHERE camera_id = ?1 AND at_utc_ns >= ?2 AND at_utc_ns < ?3 ORDER BY at_utc_ns",
            )
            .map_err(|e| self.sql(e))?;
        let rows = q
            .query_map(params![camera_id, from_utc_ns, to_utc_ns], |r| {
                Ok(Bookmark {
                    id: r.get(0)?,
                    camera_id: r.get(1)?,
                    at_utc_ns: r.get(2)?,
                    note: r.get(3)?,
                    author: r.get(4)?,
                    created_utc_ns: r.get(5)?,
                })
            })
            .map_err(|e| self.sql(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.sql(e))
    }

    /// Where the camera's latest segment ends, if it has one.
    pub fn last_segment_end(&self, camera_id: &str) -> Result<Option<i64>, StoreError> {
        self.conn
            .query_row(
                "SELECT max(end_utc_ns) FROM segment WHERE camera_id = ?1",
                params![camera_id],
                |r| r.get::<_, Option<i64>>(0),
            )
            .map_err(|e| self.sql(e))
    }

    /// Every segment row, in id order (for `vigie check` and reconciliation).
    pub fn all_segments(&self) -> Result<Vec<Segment>, StoreError> {
        let mut q = self
            .conn
            .prepare("SELECT id, start_utc_ns, end_utc_ns, path, bytes, sha256, codec, keyframes, time_source, camera_id FROM segment ORDER BY id")
            .map_err(|e| self.sql(e))?;
        let rows = q
            .query_map([], |r| {
                let camera: String = r.get(9)?;
                segment_from_row(&camera, r)
            })
            .map_err(|e| self.sql(e))?;
        rows.collect::<Result<_, _>>().map_err(|e| self.sql(e))
    }
}

fn segment_from_row(camera_id: &str, r: &rusqlite::Row<'_>) -> rusqlite::Result<Segment> {
    let sha: Vec<u8> = r.get(5)?;
    let mut sha256 = [0u8; 32];
    if sha.len() == 32 {
        sha256.copy_from_slice(&sha);
    }
    Ok(Segment {
        id: r.get(0)?,
        row: SegmentRow {
            camera_id: camera_id.to_owned(),
            start_utc_ns: r.get(1)?,
            end_utc_ns: r.get(2)?,
            path: r.get(3)?,
            bytes: r.get::<_, i64>(4)?.max(0) as u64,
            sha256,
            codec: r.get(6)?,
            keyframes: r.get(7)?,
            time_source: TimeSource::parse(&r.get::<_, String>(8)?).unwrap_or(TimeSource::Arrival),
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: i64 = 1_000_000_000;

    fn temp_db(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("vigie-store-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        dir.join("index.sqlite3")
    }

    fn segment(cam: &str, start: i64, secs: i64) -> SegmentRow {
        let keys: Vec<Keyframe> = (0..secs / 2)
            .map(|i| Keyframe {
                time_90k: i as u64 * 180_000,
                offset: i as u64 * 100_000,
            })
            .collect();
        SegmentRow {
            camera_id: cam.into(),
            start_utc_ns: start,
            end_utc_ns: start + secs * S,
            path: format!("{cam}/{start}.mp4"),
            bytes: 1_500_000,
            sha256: [7; 32],
            codec: "h264".into(),
            keyframes: encode_keyframes(&keys),
            time_source: TimeSource::Rtcp,
        }
    }

    #[test]
    fn a_keyframe_is_found_at_its_own_instant_whatever_the_rounding() {
        let path = temp_db("seek-rounding");
        let w = IndexWriter::spawn(&path).expect("writer");
        w.send(WriteOp::Camera(CameraRow::new("cam001", "cam001")));
        let t0 = 1_790_000_000 * S;
        let mut row = segment("cam001", t0, 60);
        // Keyframes at 0 and at 3601 ticks (40 011 111.1 ns from the start).
        row.keyframes = encode_keyframes(&[
            Keyframe {
                time_90k: 0,
                offset: 0,
            },
            Keyframe {
                time_90k: 3601,
                offset: 9_000,
            },
        ]);
        w.send(WriteOp::Segment(row));
        assert!(w.flush());
        drop(w);
        let store = Store::open_readonly(&path).expect("reader");
        let key_at = |at: i64| {
            store
                .seek("cam001", at)
                .expect("seek")
                .expect("found")
                .keyframe
                .time_90k
        };
        assert_eq!(key_at(t0 + 40_011_111), 3601);
        assert_eq!(key_at(t0 + 40_011_110), 0);
        assert_eq!(key_at(t0), 0);
        let _ = std::fs::remove_dir_all(path.parent().expect("dir"));
    }

    #[test]
    fn seek_and_timeline_over_a_real_file() {
        let path = temp_db("seek");
        let w = IndexWriter::spawn(&path).expect("writer");
        let cam = CameraRow {
            id: "cam001".into(),
            name: "Place d'Armes".into(),
            zone: "Centre".into(),
            latitude: None,
            longitude: None,
            retention_days: 30,
        };
        assert!(w.send(WriteOp::Camera(cam)));
        let t0 = 1_790_000_000 * S;
        for i in 0..10 {
            assert!(w.send(WriteOp::Segment(segment("cam001", t0 + i * 60 * S, 60))));
        }
        // A gap of 5 minutes, then one more segment; an event; a row for an unknown camera.
        w.send(WriteOp::Gap {
            camera_id: "cam001".into(),
            span: Span {
                start_utc_ns: t0 + 600 * S,
                end_utc_ns: t0 + 900 * S,
            },
            cause: "camera unreachable".into(),
        });
        w.send(WriteOp::Segment(segment("cam001", t0 + 900 * S, 60)));
        w.send(WriteOp::Event {
            camera_id: Some("cam001".into()),
            at_utc_ns: t0 + 125 * S,
            kind: "motion".into(),
            detail: String::new(),
        });
        w.send(WriteOp::Segment(segment("nobody", t0, 60)));
        assert!(w.flush());
        assert_eq!(
            w.close().expect("close"),
            14,
            "the unknown camera's row is refused"
        );

        let store = Store::open_readonly(&path).expect("reader");
        // 125.3 s in: segment 2 (120..180 s), keyframe at 124 s.
        let p = store
            .seek("cam001", t0 + 125 * S + 300_000_000)
            .expect("seek")
            .expect("found");
        assert_eq!(p.segment.row.start_utc_ns, t0 + 120 * S);
        assert_eq!(p.keyframe.time_90k, 4 * 90_000);
        assert_eq!(p.keyframe.offset, 200_000);
        // In the gap: nothing.
        assert!(store.seek("cam001", t0 + 700 * S).expect("seek").is_none());
        let tl = store
            .timeline("cam001", t0 + 30 * S, t0 + 1000 * S)
            .expect("timeline");
        assert_eq!(tl.segments.len(), 11);
        assert_eq!(
            tl.gaps,
            vec![(
                Span {
                    start_utc_ns: t0 + 600 * S,
                    end_utc_ns: t0 + 900 * S
                },
                "camera unreachable".to_owned()
            )]
        );
        assert_eq!(tl.events, vec![(t0 + 125 * S, "motion".to_owned())]);
        assert_eq!(
            store
                .segments("cam001", t0 + 61 * S, t0 + 119 * S)
                .expect("segments")
                .len(),
            1
        );
        let _ = std::fs::remove_dir_all(path.parent().expect("dir"));
    }
}
