-- Vigie index: what the recorder wrote, and what people did with it.
--
-- Conventions (status: in force):
-- * Times are UTC, integer nanoseconds since the Unix epoch, in columns named *_utc_ns.
--   Durations inside a segment are in 90 kHz ticks (*_90k), the unit of RTP video clocks.
-- * A row exists only for data that is durable on disk (see the store module's docs for the
--   write and delete orders).
-- * Every table is STRICT; CHECK constraints state the invariants that `vigie check` relies on.
-- * The schema version is PRAGMA user_version; one migration step per version in
--   migrations.rs (schema_v1.sql is step 1, frozen), and a test that a migrated database
--   equals a fresh one made from this file.

-- Cameras as the recorder knew them (the cameras file is the source; this keeps history).
CREATE TABLE camera (
    id              TEXT PRIMARY KEY NOT NULL CHECK (length(id) BETWEEN 1 AND 64),
    name            TEXT NOT NULL,
    zone            TEXT NOT NULL DEFAULT '',
    latitude        REAL,
    longitude       REAL,
    retention_days  INTEGER NOT NULL DEFAULT 30 CHECK (retention_days BETWEEN 1 AND 30)
) STRICT;

-- One file of footage of one camera, as recorded (no transcoding).
CREATE TABLE segment (
    id              INTEGER PRIMARY KEY,
    camera_id       TEXT NOT NULL REFERENCES camera (id),
    start_utc_ns    INTEGER NOT NULL,
    -- At most an hour long: range queries rely on it to use the (camera, start) index.
    end_utc_ns      INTEGER NOT NULL
                    CHECK (end_utc_ns > start_utc_ns AND end_utc_ns - start_utc_ns <= 3600000000000),
    -- Relative to the data directory.
    path            TEXT NOT NULL UNIQUE,
    bytes           INTEGER NOT NULL CHECK (bytes >= 0),
    sha256          BLOB NOT NULL CHECK (length(sha256) = 32),
    codec           TEXT NOT NULL CHECK (codec IN ('h264', 'h265')),
    -- Keyframes for seeking: LEB128 varints, per keyframe the delta of its time (90 kHz,
    -- from the segment start) and of its byte offset in the file, both from the previous one.
    keyframes       BLOB NOT NULL,
    -- Set while a retention or disk-budget deletion is under way (mark -> unlink -> delete).
    deleting        INTEGER NOT NULL DEFAULT 0 CHECK (deleting IN (0, 1)),
    -- How the times were established (version 2): 'rtcp' = the camera's RTCP sender reports,
    -- 'arrival' = local arrival time (no reports, or the camera's clock was off).
    time_source     TEXT NOT NULL DEFAULT 'arrival' CHECK (time_source IN ('rtcp', 'arrival'))
) STRICT;
-- Covering for timelines: a camera-day of spans is read from this index alone, in order.
CREATE INDEX segment_by_camera_time ON segment (camera_id, start_utc_ns, end_utc_ns, deleting);

-- A span with no footage, and why (camera unreachable, disk full, recorder stopped, ...).
CREATE TABLE gap (
    id              INTEGER PRIMARY KEY,
    camera_id       TEXT NOT NULL REFERENCES camera (id),
    start_utc_ns    INTEGER NOT NULL,
    end_utc_ns      INTEGER NOT NULL CHECK (end_utc_ns >= start_utc_ns),
    cause           TEXT NOT NULL
) STRICT;
CREATE INDEX gap_by_camera_time ON gap (camera_id, start_utc_ns);

-- Something that happened at an instant on a camera (alarm, motion, clock step, ...).
CREATE TABLE event (
    id              INTEGER PRIMARY KEY,
    camera_id       TEXT REFERENCES camera (id),
    at_utc_ns       INTEGER NOT NULL,
    kind            TEXT NOT NULL,
    detail          TEXT NOT NULL DEFAULT ''
) STRICT;
CREATE INDEX event_by_camera_time ON event (camera_id, at_utc_ns);

-- A reviewer's mark on a camera's timeline.
CREATE TABLE bookmark (
    id              INTEGER PRIMARY KEY,
    camera_id       TEXT NOT NULL REFERENCES camera (id),
    at_utc_ns       INTEGER NOT NULL,
    note            TEXT NOT NULL,
    author          TEXT NOT NULL,
    created_utc_ns  INTEGER NOT NULL
) STRICT;

-- A legal hold: footage of a camera's range that retention and the disk budget never delete.
CREATE TABLE hold (
    id              INTEGER PRIMARY KEY,
    camera_id       TEXT NOT NULL REFERENCES camera (id),
    start_utc_ns    INTEGER NOT NULL,
    end_utc_ns      INTEGER NOT NULL CHECK (end_utc_ns > start_utc_ns),
    procedure       TEXT NOT NULL CHECK (length(procedure) > 0),
    reason          TEXT NOT NULL CHECK (length(reason) > 0),
    author          TEXT NOT NULL,
    created_utc_ns  INTEGER NOT NULL,
    expires_utc_ns  INTEGER NOT NULL,
    released_utc_ns INTEGER
) STRICT;
CREATE INDEX hold_by_camera ON hold (camera_id, start_utc_ns);

-- The register: every deletion and every export, kept after the footage is gone.
CREATE TABLE register (
    id              INTEGER PRIMARY KEY,
    at_utc_ns       INTEGER NOT NULL,
    action          TEXT NOT NULL CHECK (action IN ('deleted', 'exported')),
    camera_id       TEXT NOT NULL,
    start_utc_ns    INTEGER NOT NULL,
    end_utc_ns      INTEGER NOT NULL,
    reason          TEXT NOT NULL,
    author          TEXT NOT NULL,
    detail          TEXT NOT NULL DEFAULT ''
) STRICT;

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
