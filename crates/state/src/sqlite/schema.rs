//! Schema migrations. Each migration is applied once, in order, inside the transaction
//! that records it in `schema_version`; reopening a current database changes nothing.
//! The schema is described table by table in `docs/format/state.md`: keep the two in step,
//! and never edit a shipped migration — append a new one.

use rusqlite::{Connection, OptionalExtension, TransactionBehavior};

use crate::StateError;

/// `(version, SQL)`, ascending. Version 1 is the initial schema; version 2 adds error
/// tracking (issues and their events); version 3 adds error-issue lifecycle, retention,
/// per-minute counts and tickets; version 4 adds health-check history; version 5 adds
/// error-tracking projects created through the admin API; version 6 adds health checks
/// defined through the admin API; version 7 drops an index the error-event writer kept up
/// to date for no reader; version 8 spells the enumeration `CHECK`s as `=` comparisons;
/// version 9 serves an issue's event order and thinning from one index instead of two;
/// version 10 keys per-minute error counts by minute first; version 11 adds the zstd
/// dictionaries error-event payloads are compressed with.
const MIGRATIONS: &[(i64, &str)] = &[
    (1, V1),
    (2, V2),
    (3, V3),
    (4, V4),
    (5, V5),
    (6, V6),
    (7, V7),
    (8, V8),
    (9, V9),
    (10, V10),
    (11, V11),
    (12, V12),
];

/// The newest schema version this build knows.
pub const LATEST_VERSION: i64 = 12;

const V1: &str = r#"
CREATE TABLE alerts (
    id              TEXT PRIMARY KEY,
    fingerprint     TEXT NOT NULL,
    rule            TEXT NOT NULL,
    generator       TEXT NOT NULL,
    labels          TEXT NOT NULL,
    annotations     TEXT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('pending', 'firing', 'acknowledged', 'resolved')),
    severity        TEXT NOT NULL,
    value           REAL,
    starts_at       INTEGER NOT NULL,
    updated_at      INTEGER NOT NULL,
    ended_at        INTEGER,
    acknowledged_by TEXT,
    acknowledged_at INTEGER,
    resolved_by     TEXT,
    resolved_at     INTEGER,
    notes           TEXT NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX alerts_active_fingerprint ON alerts (fingerprint) WHERE state <> 'resolved';
CREATE INDEX alerts_starts_at ON alerts (starts_at);
CREATE INDEX alerts_state_severity ON alerts (state, severity);
CREATE INDEX alerts_rule ON alerts (rule);
CREATE INDEX alerts_ended_at ON alerts (ended_at) WHERE ended_at IS NOT NULL;

CREATE TABLE alert_transitions (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    alert_id   TEXT NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
    at         INTEGER NOT NULL,
    from_state TEXT,
    to_state   TEXT NOT NULL,
    actor      TEXT NOT NULL,
    notes      TEXT NOT NULL
);
CREATE INDEX alert_transitions_alert ON alert_transitions (alert_id, seq);

CREATE TABLE rule_states (
    rule_key    TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    state       TEXT NOT NULL CHECK (state IN ('pending', 'firing')),
    active_at   INTEGER NOT NULL,
    value       REAL,
    labels      TEXT NOT NULL,
    updated_at  INTEGER NOT NULL,
    PRIMARY KEY (rule_key, fingerprint)
);

CREATE TABLE silences (
    id         TEXT PRIMARY KEY,
    matchers   TEXT NOT NULL,
    starts_at  INTEGER NOT NULL,
    ends_at    INTEGER NOT NULL,
    created_by TEXT NOT NULL,
    comment    TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX silences_ends_at ON silences (ends_at);

CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    idempotency_key TEXT NOT NULL UNIQUE,
    receiver        TEXT NOT NULL,
    channel         TEXT NOT NULL,
    payload         TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'abandoned')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    created_at      INTEGER NOT NULL,
    next_attempt_at INTEGER NOT NULL,
    last_error      TEXT,
    finished_at     INTEGER,
    response        TEXT
);
CREATE INDEX outbox_due ON outbox (status, next_attempt_at, id);
CREATE INDEX outbox_receiver_created ON outbox (receiver, created_at);
CREATE INDEX outbox_finished ON outbox (finished_at) WHERE finished_at IS NOT NULL;

CREATE TABLE delivery_log (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    outbox_id       INTEGER NOT NULL REFERENCES outbox (id) ON DELETE CASCADE,
    idempotency_key TEXT NOT NULL,
    receiver        TEXT NOT NULL,
    channel         TEXT NOT NULL,
    attempt         INTEGER NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('delivered', 'failed', 'gave_up')),
    at              INTEGER NOT NULL,
    detail          TEXT NOT NULL
);
CREATE INDEX delivery_log_at ON delivery_log (at, id);
CREATE INDEX delivery_log_receiver_at ON delivery_log (receiver, at, id);
CREATE INDEX delivery_log_outbox ON delivery_log (outbox_id);

CREATE TABLE escalations (
    alert_id   TEXT PRIMARY KEY REFERENCES alerts (id) ON DELETE CASCADE,
    policy     TEXT NOT NULL,
    level      INTEGER NOT NULL,
    repeat     INTEGER NOT NULL,
    next_at    INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX escalations_next_at ON escalations (next_at);
"#;

const V2: &str = r#"
CREATE TABLE error_issues (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    project_id       INTEGER NOT NULL,
    hash             TEXT NOT NULL,
    title            TEXT NOT NULL,
    culprit          TEXT NOT NULL,
    level            TEXT NOT NULL,
    status           TEXT NOT NULL CHECK (status IN ('unresolved', 'resolved', 'ignored', 'regressed')),
    count            INTEGER NOT NULL,
    user_count       INTEGER NOT NULL,
    first_seen       INTEGER NOT NULL,
    last_seen        INTEGER NOT NULL,
    category         TEXT NOT NULL,
    severity         TEXT NOT NULL,
    priority         TEXT NOT NULL,
    assignee         TEXT,
    resolved_by      TEXT,
    resolved_at      INTEGER,
    resolution_notes TEXT
);
CREATE UNIQUE INDEX error_issues_project_hash ON error_issues (project_id, hash);
CREATE INDEX error_issues_last_seen ON error_issues (last_seen);
CREATE INDEX error_issues_status ON error_issues (status, last_seen);

CREATE TABLE error_events (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    issue_id   INTEGER NOT NULL REFERENCES error_issues (id) ON DELETE CASCADE,
    project_id INTEGER NOT NULL,
    event_id   TEXT NOT NULL,
    received   INTEGER NOT NULL,
    timestamp  INTEGER NOT NULL,
    payload    TEXT NOT NULL,
    user_key   TEXT
);
CREATE UNIQUE INDEX error_events_project_event ON error_events (project_id, event_id);
CREATE INDEX error_events_issue_time ON error_events (issue_id, timestamp, id);
CREATE INDEX error_events_issue_user ON error_events (issue_id, user_key) WHERE user_key IS NOT NULL;
CREATE INDEX error_events_received ON error_events (received);
"#;

const V3: &str = r#"
ALTER TABLE error_issues ADD COLUMN component TEXT NOT NULL DEFAULT '';
ALTER TABLE error_issues ADD COLUMN opened_at INTEGER NOT NULL DEFAULT 0;
ALTER TABLE error_issues ADD COLUMN regressed_at INTEGER;
ALTER TABLE error_issues ADD COLUMN regression_count INTEGER NOT NULL DEFAULT 0;
ALTER TABLE error_issues ADD COLUMN ignore_until INTEGER;
ALTER TABLE error_issues ADD COLUMN ignore_until_count INTEGER;
ALTER TABLE error_issues ADD COLUMN stored_events INTEGER NOT NULL DEFAULT 0;
UPDATE error_issues SET opened_at = first_seen,
    stored_events = (SELECT COUNT(*) FROM error_events e WHERE e.issue_id = error_issues.id);
CREATE INDEX error_issues_project_last_seen ON error_issues (project_id, last_seen);

ALTER TABLE error_events ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;
CREATE INDEX error_events_issue_seq ON error_events (issue_id, seq);

CREATE TABLE error_issue_users (
    issue_id INTEGER NOT NULL REFERENCES error_issues (id) ON DELETE CASCADE,
    user_key TEXT NOT NULL,
    PRIMARY KEY (issue_id, user_key)
) WITHOUT ROWID;
INSERT OR IGNORE INTO error_issue_users (issue_id, user_key)
    SELECT issue_id, user_key FROM error_events WHERE user_key IS NOT NULL;

CREATE TABLE error_issue_tags (
    issue_id INTEGER NOT NULL REFERENCES error_issues (id) ON DELETE CASCADE,
    key      TEXT NOT NULL,
    value    TEXT NOT NULL,
    PRIMARY KEY (issue_id, key, value)
) WITHOUT ROWID;
CREATE INDEX error_issue_tags_key_value ON error_issue_tags (key, value);

CREATE TABLE error_counts (
    issue_id INTEGER NOT NULL REFERENCES error_issues (id) ON DELETE CASCADE,
    minute   INTEGER NOT NULL,
    n        INTEGER NOT NULL,
    PRIMARY KEY (issue_id, minute)
) WITHOUT ROWID;
CREATE INDEX error_counts_minute ON error_counts (minute);

CREATE TABLE error_tickets (
    issue_id    INTEGER PRIMARY KEY REFERENCES error_issues (id) ON DELETE CASCADE,
    status      TEXT NOT NULL CHECK (status IN ('open', 'investigating', 'in_progress', 'resolved', 'closed')),
    assignee    TEXT,
    created_by  TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    resolved_at INTEGER
);

CREATE TABLE error_ticket_steps (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    issue_id    INTEGER NOT NULL REFERENCES error_tickets (issue_id) ON DELETE CASCADE,
    action      TEXT NOT NULL,
    description TEXT NOT NULL,
    author      TEXT NOT NULL,
    at          INTEGER NOT NULL
);
CREATE INDEX error_ticket_steps_issue ON error_ticket_steps (issue_id, id);
"#;

const V4: &str = r#"
CREATE TABLE check_changes (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    check_name  TEXT NOT NULL,
    at          INTEGER NOT NULL,
    from_status TEXT NOT NULL CHECK (from_status IN ('healthy', 'degraded', 'unhealthy', 'unknown')),
    to_status   TEXT NOT NULL CHECK (to_status IN ('healthy', 'degraded', 'unhealthy', 'unknown')),
    cause       TEXT
);
CREATE INDEX check_changes_check_at ON check_changes (check_name, at, seq);
CREATE INDEX check_changes_at ON check_changes (at);
"#;

const V5: &str = r#"
CREATE TABLE projects (
    id          INTEGER PRIMARY KEY CHECK (id > 0),
    slug        TEXT NOT NULL UNIQUE,
    name        TEXT NOT NULL,
    public_key  TEXT NOT NULL UNIQUE,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    disabled_at INTEGER
);
"#;

const V6: &str = r#"
CREATE TABLE check_definitions (
    name       TEXT PRIMARY KEY,
    config     TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
"#;

// `error_events_issue_user` served the users-affected count before version 3 moved it to
// `error_issue_users`; since then no query reads it, and every stored event paid for an
// entry in it (one more B-tree page written per event; while it existed, SQLite also
// re-prepared the duplicate check of `record_error_batch` on nearly every call).
const V7: &str = r#"
DROP INDEX IF EXISTS error_events_issue_user;
"#;

// SQLite evaluates `x IN ('a', 'b', 'c')` against a constant list of more than two values
// by building a temporary B-tree of the list, and a CHECK constraint does that on every
// insert, and on every update that sets the column: about 2 µs per statement, paid by each
// alert write, outbox entry, delivery outcome and error-issue update. The same test written
// as `x = 'a' OR x = 'b' OR x = 'c'` compares in place. A CHECK constraint is not part of
// the stored rows, so the table definitions are edited in `sqlite_master` (the procedure
// SQLite's documentation gives for changing constraints: existing rows satisfy the new
// ones, which accept exactly the same values); `migrate` then bumps the schema cookie so
// every connection reloads the schema.
const V8: &str = r#"
PRAGMA writable_schema = ON;
UPDATE sqlite_master SET sql = replace(sql, 'state IN (''pending'', ''firing'', ''acknowledged'', ''resolved'')',
    'state = ''pending'' OR state = ''firing'' OR state = ''acknowledged'' OR state = ''resolved''')
    WHERE type = 'table' AND name = 'alerts';
UPDATE sqlite_master SET sql = replace(sql, 'status IN (''pending'', ''delivered'', ''abandoned'')',
    'status = ''pending'' OR status = ''delivered'' OR status = ''abandoned''')
    WHERE type = 'table' AND name = 'outbox';
UPDATE sqlite_master SET sql = replace(sql, 'status IN (''delivered'', ''failed'', ''gave_up'')',
    'status = ''delivered'' OR status = ''failed'' OR status = ''gave_up''')
    WHERE type = 'table' AND name = 'delivery_log';
UPDATE sqlite_master SET sql = replace(sql, 'status IN (''unresolved'', ''resolved'', ''ignored'', ''regressed'')',
    'status = ''unresolved'' OR status = ''resolved'' OR status = ''ignored'' OR status = ''regressed''')
    WHERE type = 'table' AND name = 'error_issues';
UPDATE sqlite_master SET sql = replace(sql, 'status IN (''open'', ''investigating'', ''in_progress'', ''resolved'', ''closed'')',
    'status = ''open'' OR status = ''investigating'' OR status = ''in_progress'' OR status = ''resolved'' OR status = ''closed''')
    WHERE type = 'table' AND name = 'error_tickets';
UPDATE sqlite_master SET sql = replace(sql, 'from_status IN (''healthy'', ''degraded'', ''unhealthy'', ''unknown'')',
    'from_status = ''healthy'' OR from_status = ''degraded'' OR from_status = ''unhealthy'' OR from_status = ''unknown''')
    WHERE type = 'table' AND name = 'check_changes';
UPDATE sqlite_master SET sql = replace(sql, 'to_status IN (''healthy'', ''degraded'', ''unhealthy'', ''unknown'')',
    'to_status = ''healthy'' OR to_status = ''degraded'' OR to_status = ''unhealthy'' OR to_status = ''unknown''')
    WHERE type = 'table' AND name = 'check_changes';
PRAGMA writable_schema = OFF;
"#;

// Every stored event had an entry in two per-issue indexes, `(issue_id, timestamp, id)`
// for the newest-first event list and `(issue_id, seq)` for thinning. Events of a couple of
// hundred busy issues arrive interleaved, so each of the two put about one dirty page per
// event into a commit of the ingest writer (about a tenth of the writer's CPU per event).
// One index `(issue_id, seq, timestamp)` serves both: thinning reads it
// in `seq` order as before, and an issue's newest-first list sorts the issue's entries of
// it (at most the per-issue cap plus its samples with the default retention) without
// touching the table.
const V9: &str = r#"
DROP INDEX IF EXISTS error_events_issue_time;
DROP INDEX IF EXISTS error_events_issue_seq;
CREATE INDEX IF NOT EXISTS error_events_issue_seq_time ON error_events (issue_id, seq, timestamp);
"#;

// `error_counts` was keyed `(issue_id, minute)`: every event's `n + 1` dirtied the page of
// its issue's latest row, about one page per event in a writer commit when a couple of
// hundred issues are busy. Keyed `(minute, issue_id)`, the current minute's rows of all
// issues sit together on a page or two; the `(issue_id, minute)` index (for one issue's
// counts and the issue pruning check) changes only when an issue gets its first event of
// a minute, as `n` is not in it. Rows are copied in the new key order (appends, not
// inserts all over the new tree): 2 million rows take about 6 s.
const V10: &str = r#"
CREATE TABLE error_counts_by_minute (
    minute   INTEGER NOT NULL,
    issue_id INTEGER NOT NULL REFERENCES error_issues (id) ON DELETE CASCADE,
    n        INTEGER NOT NULL,
    PRIMARY KEY (minute, issue_id)
) WITHOUT ROWID;
INSERT INTO error_counts_by_minute (minute, issue_id, n)
    SELECT minute, issue_id, n FROM error_counts ORDER BY minute, issue_id;
DROP TABLE error_counts;
ALTER TABLE error_counts_by_minute RENAME TO error_counts;
CREATE INDEX error_counts_issue ON error_counts (issue_id, minute);
"#;

// A project's events compressed with a dictionary trained on its earlier ones
// (`ErrorDictionary`): the id is the one zstd writes into every frame made with it, so a
// payload names the row it needs. Rows are never deleted (a few KiB per project), so
// every stored payload stays readable.
const V11: &str = r#"
CREATE TABLE IF NOT EXISTS error_dictionaries (
    id         INTEGER PRIMARY KEY,
    project_id INTEGER NOT NULL,
    created    INTEGER NOT NULL,
    bytes      BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS error_dictionaries_project ON error_dictionaries (project_id, id);
"#;

// The index that finds an SDK's retry of a stored event was keyed `(project_id, event_id)`:
// event ids are random (UUID v4), so each event's entry went to a page of its own, about
// 40 % of the pages a commit of the ingest writer wrote, and once the index outgrew the
// page cache each insert read its page back first. Keyed `(project_id, timestamp,
// event_id)`, entries follow the events' own timestamps and a commit's land together at
// the end. A retry carries the same event and so the same timestamp, except where
// normalising filed it under its arrival time (no timestamp, or one too far in the future
// or the past): those rows are marked `filed_at_arrival` and are also in a small partial
// index by event id, which every lookup checks as well. Earlier rows filed under their
// arrival time are the ones whose timestamp equals it.
const V12: &str = r#"
ALTER TABLE error_events ADD COLUMN filed_at_arrival INTEGER NOT NULL DEFAULT 0;
UPDATE error_events SET filed_at_arrival = 1 WHERE timestamp = received;
CREATE UNIQUE INDEX error_events_project_time_event
    ON error_events (project_id, timestamp, event_id);
CREATE INDEX error_events_project_event_at_arrival
    ON error_events (project_id, event_id) WHERE filed_at_arrival = 1;
DROP INDEX error_events_project_event;
"#;

/// Brings the database to [`LATEST_VERSION`]. Returns the versions applied (empty when the
/// database was current).
pub(crate) fn migrate(conn: &mut Connection, now: i64) -> Result<Vec<i64>, StateError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    tx.execute_batch(
        "CREATE TABLE IF NOT EXISTS schema_version (
             version    INTEGER PRIMARY KEY,
             applied_at INTEGER NOT NULL
         );",
    )?;
    let current: i64 = tx
        .query_row("SELECT MAX(version) FROM schema_version", [], |r| {
            r.get::<_, Option<i64>>(0)
        })
        .optional()?
        .flatten()
        .unwrap_or(0);
    if current > LATEST_VERSION {
        return Err(StateError::SchemaTooNew {
            found: current,
            supported: LATEST_VERSION,
        });
    }
    let mut applied = Vec::new();
    // Every known version not yet recorded, in order: a database made by a build that
    // knew a later version but not an earlier one still gets the earlier one.
    let recorded: Vec<i64> = tx
        .prepare("SELECT version FROM schema_version")?
        .query_map([], |r| r.get(0))?
        .collect::<Result<_, _>>()?;
    for (version, sql) in MIGRATIONS.iter().filter(|(v, _)| !recorded.contains(v)) {
        tx.execute_batch(sql)?;
        if *version == 8 {
            // V8 edited table definitions in place: a new schema cookie makes every
            // connection (this one included) re-read them.
            let cookie: i64 = tx.query_row("PRAGMA schema_version", [], |r| r.get(0))?;
            tx.execute_batch(&format!("PRAGMA schema_version = {}", cookie + 1))?;
        }
        tx.execute(
            "INSERT INTO schema_version (version, applied_at) VALUES (?1, ?2)",
            (version, now),
        )?;
        applied.push(*version);
    }
    tx.commit()?;
    Ok(applied)
}

/// The version recorded in the database (0 for an empty one).
pub(crate) fn current_version(conn: &Connection) -> Result<i64, StateError> {
    Ok(conn.query_row(
        "SELECT COALESCE(MAX(version), 0) FROM schema_version",
        [],
        |r| r.get(0),
    )?)
}
