//! Schema versions. Version N of the schema is reached by running steps 1..=N in order on an
//! empty database; each step is one function, kept forever once released.

use rusqlite::Connection;

/// The schema version this build writes.
pub const SCHEMA_VERSION: i32 = 7;

const STEP_3: &str = r#"
-- A named person who may use Vigie (version 3). No shared accounts; never deleted, disabled.
CREATE TABLE user (
    name            TEXT PRIMARY KEY NOT NULL
                    CHECK (length(name) BETWEEN 1 AND 64 AND name NOT GLOB '*[^A-Za-z0-9._-]*'),
    role            TEXT NOT NULL
                    CHECK (role IN ('supervisor', 'operator', 'reviewer', 'administrator', 'auditor')),
    -- PHC string of an Argon2id hash; the password itself is never stored.
    password_hash   TEXT NOT NULL CHECK (password_hash GLOB '$argon2id$*'),
    created_utc_ns  INTEGER NOT NULL,
    disabled_utc_ns INTEGER
) STRICT;

-- Cameras a user may see (version 3): deny by default; '*' grants every camera.
CREATE TABLE user_camera (
    user_name       TEXT NOT NULL REFERENCES user (name),
    camera_id       TEXT NOT NULL,
    PRIMARY KEY (user_name, camera_id)
) STRICT;
"#;

const STEP_4: &str = r#"
-- The audit log (version 4): every access to footage and every change of rights, appended,
-- never updated. Each entry carries the SHA-256 of the one before it (a chain that an edit,
-- insertion, deletion or reordering breaks); signed checkpoints of the chain's head are kept
-- outside the database (audit-checkpoints.log), so a cut tail is seen too.
CREATE TABLE audit (
    seq             INTEGER PRIMARY KEY CHECK (seq >= 1),
    at_utc_ns       INTEGER NOT NULL,
    user_name       TEXT NOT NULL,
    role            TEXT NOT NULL,
    action          TEXT NOT NULL,
    cameras         TEXT NOT NULL DEFAULT '',
    start_utc_ns    INTEGER,
    end_utc_ns      INTEGER,
    reason          TEXT NOT NULL DEFAULT '',
    detail          TEXT NOT NULL DEFAULT '',
    prev_sha256     BLOB NOT NULL CHECK (length(prev_sha256) = 32),
    sha256          BLOB NOT NULL CHECK (length(sha256) = 32)
) STRICT;
"#;

const STEP_5: &str = r#"
-- A privacy mask (version 5): a polygon of a camera's picture that is never shown (CSI
-- L251-3: no view into dwellings). Points are fractions of the picture's width and height.
-- Removed masks are kept (removed_utc_ns set): what was hidden when stays known.
CREATE TABLE mask (
    id              INTEGER PRIMARY KEY,
    camera_id       TEXT NOT NULL,
    -- JSON array of [x, y] pairs, 3 to 64 of them.
    polygon         TEXT NOT NULL
                    CHECK (json_valid(polygon) AND json_array_length(polygon) BETWEEN 3 AND 64),
    label           TEXT NOT NULL DEFAULT '',
    author          TEXT NOT NULL,
    created_utc_ns  INTEGER NOT NULL,
    removed_utc_ns  INTEGER
) STRICT;
CREATE INDEX mask_by_camera ON mask (camera_id);

-- A citizen's request to see images of themselves (version 5), and what became of it.
CREATE TABLE access_request (
    id              INTEGER PRIMARY KEY,
    received_utc_ns INTEGER NOT NULL,
    requester       TEXT NOT NULL CHECK (length(requester) > 0),
    -- How the identity was checked (document seen, by whom).
    identity_check  TEXT NOT NULL CHECK (length(identity_check) > 0),
    cameras         TEXT NOT NULL,
    start_utc_ns    INTEGER NOT NULL,
    end_utc_ns      INTEGER NOT NULL CHECK (end_utc_ns > start_utc_ns),
    handled_by      TEXT NOT NULL,
    -- 'granted' (a masked export was made) or 'refused'.
    outcome         TEXT NOT NULL CHECK (outcome IN ('granted', 'refused')),
    -- The refusal's ground, or the export folder and its manifest's SHA-256.
    detail          TEXT NOT NULL DEFAULT '',
    decided_utc_ns  INTEGER NOT NULL
) STRICT;
"#;

const STEP_6: &str = r#"
-- A user's saved arrangement of screens (version 6): a view of one screen, or a salvo that
-- puts a set of cameras on a set of screens in one action. `body` is JSON: a list of
-- {"screen", "layout", "cameras"}.
CREATE TABLE saved_view (
    user_name       TEXT NOT NULL,
    name            TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 80),
    body            TEXT NOT NULL CHECK (json_valid(body)),
    updated_utc_ns  INTEGER NOT NULL,
    PRIMARY KEY (user_name, name)
) STRICT;
"#;

const STEP_7: &str = r#"
-- An event as received (version 7): from a smart camera, a street alert button or the
-- built-in motion detection. Kept as it came, with the alarm the rules placed it in.
CREATE TABLE alarm_event (
    id              INTEGER PRIMARY KEY,
    received_utc_ns INTEGER NOT NULL,
    at_utc_ns       INTEGER NOT NULL,
    kind            TEXT NOT NULL CHECK (length(kind) BETWEEN 1 AND 40),
    -- The camera or button that sent it, or the source that posted it for them.
    source          TEXT NOT NULL,
    camera_id       TEXT,
    confidence      REAL CHECK (confidence IS NULL OR confidence BETWEEN 0 AND 1),
    -- [x, y, w, h] as fractions of the picture.
    box             TEXT CHECK (box IS NULL OR json_valid(box)),
    latitude        REAL,
    longitude       REAL,
    alarm_id        INTEGER REFERENCES alarm (id)
) STRICT;
CREATE INDEX alarm_event_alarm ON alarm_event (alarm_id);

-- An alarm (version 7): what operators act on, made by a rule from one or more events.
-- new -> acknowledged -> in progress -> closed; every change is also in the audit log.
CREATE TABLE alarm (
    id              INTEGER PRIMARY KEY,
    -- max(rev) + 1 at each change: a workstation reads what changed since the rev it knows.
    rev             INTEGER NOT NULL,
    created_utc_ns  INTEGER NOT NULL,
    -- When the first event happened (the camera's or the button's time).
    at_utc_ns       INTEGER NOT NULL,
    kind            TEXT NOT NULL,
    source          TEXT NOT NULL,
    rule            TEXT NOT NULL,
    -- 1 is the most urgent.
    priority        INTEGER NOT NULL CHECK (priority BETWEEN 1 AND 5),
    zone            TEXT NOT NULL DEFAULT '',
    -- Linked cameras, comma-separated, the most relevant first.
    cameras         TEXT NOT NULL DEFAULT '',
    instructions    TEXT NOT NULL DEFAULT '',
    sound           TEXT NOT NULL DEFAULT '',
    latitude        REAL,
    longitude       REAL,
    state           TEXT NOT NULL
                    CHECK (state IN ('new', 'acknowledged', 'in progress', 'closed')),
    owner           TEXT,
    comment_required INTEGER NOT NULL DEFAULT 0 CHECK (comment_required IN (0, 1)),
    -- Still new at this instant: the alarm is escalated (priority raised, supervisor told).
    escalate_utc_ns INTEGER,
    escalated       INTEGER NOT NULL DEFAULT 0 CHECK (escalated IN (0, 1)),
    events          INTEGER NOT NULL DEFAULT 1 CHECK (events >= 1),
    last_event_utc_ns INTEGER NOT NULL,
    closed_utc_ns   INTEGER
) STRICT;
CREATE UNIQUE INDEX alarm_rev ON alarm (rev);
CREATE INDEX alarm_at ON alarm (at_utc_ns);

-- What people did with an alarm (version 7): each state change and comment, by whom.
CREATE TABLE alarm_note (
    id              INTEGER PRIMARY KEY,
    alarm_id        INTEGER NOT NULL REFERENCES alarm (id),
    at_utc_ns       INTEGER NOT NULL,
    user_name       TEXT NOT NULL,
    -- The alarm's state after the note.
    state           TEXT NOT NULL,
    comment         TEXT NOT NULL DEFAULT ''
) STRICT;
CREATE INDEX alarm_note_alarm ON alarm_note (alarm_id);

-- A patrol vehicle's last known position and status (version 7).
CREATE TABLE vehicle (
    id              TEXT PRIMARY KEY NOT NULL CHECK (length(id) BETWEEN 1 AND 40),
    rev             INTEGER NOT NULL,
    latitude        REAL NOT NULL CHECK (latitude BETWEEN -90 AND 90),
    longitude       REAL NOT NULL CHECK (longitude BETWEEN -180 AND 180),
    heading_deg     REAL,
    speed_kmh       REAL,
    status          TEXT NOT NULL
                    CHECK (status IN ('available', 'busy', 'dispatched', 'off duty')),
    at_utc_ns       INTEGER NOT NULL
) STRICT;
CREATE UNIQUE INDEX vehicle_rev ON vehicle (rev);

-- Who sent which vehicle to which alarm (version 7).
CREATE TABLE dispatch (
    id              INTEGER PRIMARY KEY,
    alarm_id        INTEGER NOT NULL REFERENCES alarm (id),
    vehicle_id      TEXT NOT NULL,
    user_name       TEXT NOT NULL,
    at_utc_ns       INTEGER NOT NULL,
    distance_m      REAL NOT NULL,
    eta_s           REAL NOT NULL
) STRICT;
"#;

/// The current schema, what a new index is made from.
const CURRENT: &str = include_str!("schema.sql");

/// Step `n` (1-based): from version `n - 1` to version `n`.
fn step(conn: &Connection, n: i32) -> rusqlite::Result<()> {
    match n {
        1 => conn.execute_batch(include_str!("schema_v1.sql")),
        // Segments say how their times were established; older ones were timed on arrival.
        2 => conn.execute_batch(
            "ALTER TABLE segment ADD COLUMN
    time_source     TEXT NOT NULL DEFAULT 'arrival' CHECK (time_source IN ('rtcp', 'arrival'))",
        ),
        // Named users, their roles and the cameras each may see.
        3 => conn.execute_batch(STEP_3),
        // The tamper-evident audit log.
        4 => conn.execute_batch(STEP_4),
        // Privacy masks and citizens' access requests.
        5 => conn.execute_batch(STEP_5),
        // Saved views and salvos, per user.
        6 => conn.execute_batch(STEP_6),
        // Events, alarms, patrol vehicles and dispatches.
        7 => conn.execute_batch(STEP_7),
        _ => Err(rusqlite::Error::InvalidQuery),
    }
}

/// What stops a database from being brought to [`SCHEMA_VERSION`].
#[derive(Debug, thiserror::Error)]
pub enum MigrationError {
    #[error(
        "the index was written by a newer Vigie (schema version {found}, this one knows up to {SCHEMA_VERSION})"
    )]
    TooNew { found: i32 },
    #[error("migrating the index to schema version {to}: {source}")]
    Step { to: i32, source: rusqlite::Error },
}

/// Brings `conn` to [`SCHEMA_VERSION`], one transaction per step.
pub fn migrate(conn: &mut Connection) -> Result<(), MigrationError> {
    let found: i32 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(|source| MigrationError::Step { to: 1, source })?;
    if found > SCHEMA_VERSION {
        return Err(MigrationError::TooNew { found });
    }
    if found == 0 {
        // A new index: made from the current schema in one step.
        let tx = conn
            .transaction()
            .map_err(|source| MigrationError::Step { to: 1, source })?;
        tx.execute_batch(CURRENT)
            .and_then(|_| tx.pragma_update(None, "user_version", SCHEMA_VERSION))
            .and_then(|_| tx.commit())
            .map_err(|source| MigrationError::Step {
                to: SCHEMA_VERSION,
                source,
            })?;
        return Ok(());
    }
    for to in found + 1..=SCHEMA_VERSION {
        let run = |conn: &mut Connection| -> rusqlite::Result<()> {
            let tx = conn.transaction()?;
            step(&tx, to)?;
            tx.pragma_update(None, "user_version", to)?;
            tx.commit()
        };
        run(conn).map_err(|source| MigrationError::Step { to, source })?;
        tracing::info!(version = to, "index schema migrated");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every schema object, as SQLite stores it, its SQL without comments and with spaces
    /// normalised (an `ALTER TABLE ... ADD COLUMN` keeps the text it was given).
    fn dump(conn: &Connection) -> Vec<(String, String, String)> {
        let mut q = conn
            .prepare("SELECT type, name, coalesce(sql, '') FROM sqlite_schema ORDER BY type, name")
            .expect("query");
        q.query_map([], |r| {
            Ok((r.get(0)?, r.get(1)?, normalise(&r.get::<_, String>(2)?)))
        })
        .expect("rows")
        .map(|r| r.expect("row"))
        .collect()
    }

    fn normalise(sql: &str) -> String {
        let no_comments: Vec<&str> = sql
            .lines()
            .map(|l| l.split("--").next().unwrap_or(""))
            .collect();
        let words = no_comments.join(" ");
        let words: Vec<&str> = words.split_whitespace().collect();
        words
            .join(" ")
            .replace("( ", "(")
            .replace(" )", ")")
            .replace(" ,", ",")
    }

    #[test]
    fn a_migrated_database_equals_a_fresh_one() {
        // Fresh: the current schema file as it is.
        let mut fresh = Connection::open_in_memory().expect("db");
        migrate(&mut fresh).expect("fresh");
        // Migrated: every step from version 1 (and from each version in between).
        for start in 1..SCHEMA_VERSION {
            let mut db = Connection::open_in_memory().expect("db");
            for n in 1..=start {
                step(&db, n).expect("step");
            }
            db.pragma_update(None, "user_version", start)
                .expect("version");
            migrate(&mut db).expect("migrate");
            assert_eq!(dump(&db), dump(&fresh), "from version {start}");
            let v: i32 = db
                .query_row("PRAGMA user_version", [], |r| r.get(0))
                .expect("version");
            assert_eq!(v, SCHEMA_VERSION);
        }
    }

    #[test]
    fn a_newer_database_is_refused() {
        let mut db = Connection::open_in_memory().expect("db");
        db.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .expect("version");
        assert!(matches!(
            migrate(&mut db),
            Err(MigrationError::TooNew { .. })
        ));
    }
}
