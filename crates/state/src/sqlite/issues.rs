//! Error-tracking issues and events.

use std::collections::{HashMap, HashSet};

use rusqlite::{params, Connection, OptionalExtension, Row, Transaction};

use super::{conv_err, sql_int};
use crate::{
    ErrorDictionary, ErrorEventBatch, ErrorEventRecord, ErrorIssue, ErrorIssueQuery, ErrorPayload,
    ErrorPruneStats, ErrorStats, EventRetention, IssueChange, IssueSort, IssueStatus,
    NewErrorEvent, RecordedEvent, StateError, FIRST_DICTIONARY_ID,
};

const ISSUE_COLS: &str = "id, project_id, hash, title, culprit, level, status, count, \
     user_count, first_seen, last_seen, category, severity, priority, assignee, resolved_by, \
     resolved_at, resolution_notes, component, opened_at, regressed_at, regression_count, \
     ignore_until, ignore_until_count, stored_events";

const EVENT_COLS: &str = "id, issue_id, event_id, received, timestamp, payload, user_key";

/// An issue's user (`"user"`) or tag (`"environment"`, `"release"`) row known to be stored.
pub(super) type KnownRow = (i64, &'static str, String);

/// Users and tags of issues known to be stored, so that a batch skips the
/// `INSERT OR IGNORE` of a row that is already there (an event's user and tags are nearly
/// always known ones: that was three statements and B-tree searches per event).
///
/// Only rows of committed transactions are added ([`learn`](Self::learn) after the commit),
/// and an entry cannot turn false while the store is open: the rows go only with their
/// issue, and issue ids are never reused (`AUTOINCREMENT`). A row missing here is looked
/// up as before. Bounded: emptied when it would pass [`KnownRows::MAX`] entries.
#[derive(Debug, Default)]
pub(super) struct KnownRows {
    rows: HashMap<(i64, &'static str), HashSet<Box<str>>>,
    len: usize,
}

impl KnownRows {
    /// Most entries kept (a few MiB).
    pub(super) const MAX: usize = 1 << 16;

    fn contains(&self, issue_id: i64, kind: &'static str, value: &str) -> bool {
        self.rows
            .get(&(issue_id, kind))
            .is_some_and(|s| s.contains(value))
    }

    /// Records rows a committed transaction wrote or found.
    pub(super) fn learn(&mut self, rows: Vec<KnownRow>) {
        if self.len + rows.len() > Self::MAX {
            self.rows.clear();
            self.len = 0;
        }
        for (issue_id, kind, value) in rows.into_iter().take(Self::MAX) {
            if self
                .rows
                .entry((issue_id, kind))
                .or_default()
                .insert(value.into_boxed_str())
            {
                self.len += 1;
            }
        }
    }
}

/// A stored non-negative integer as `u64` (negative values, impossible by construction,
/// read as 0).
fn get_u64(r: &Row<'_>, idx: usize) -> rusqlite::Result<u64> {
    Ok(u64::try_from(r.get::<_, i64>(idx)?).unwrap_or(0))
}

/// A project id as SQLite's signed integer.
fn project_int(project_id: u64) -> Result<i64, StateError> {
    i64::try_from(project_id)
        .map_err(|_| StateError::BadInput(format!("project id {project_id} is out of range")))
}

fn issue_from_row(r: &Row<'_>) -> rusqlite::Result<ErrorIssue> {
    let status: String = r.get(6)?;
    let status = IssueStatus::parse(&status).map_err(|e| conv_err(6, e))?;
    Ok(ErrorIssue {
        id: r.get(0)?,
        project_id: get_u64(r, 1)?,
        hash: r.get(2)?,
        title: r.get(3)?,
        culprit: r.get(4)?,
        level: r.get(5)?,
        status,
        count: get_u64(r, 7)?,
        user_count: get_u64(r, 8)?,
        first_seen: r.get(9)?,
        last_seen: r.get(10)?,
        category: r.get(11)?,
        severity: r.get(12)?,
        priority: r.get(13)?,
        assignee: r.get(14)?,
        resolved_by: r.get(15)?,
        resolved_at: r.get(16)?,
        resolution_notes: r.get(17)?,
        component: r.get(18)?,
        opened_at: r.get(19)?,
        regressed_at: r.get(20)?,
        regression_count: get_u64(r, 21)?,
        ignore_until: r.get(22)?,
        ignore_until_count: r
            .get::<_, Option<i64>>(23)?
            .map(|n| u64::try_from(n).unwrap_or(0)),
        stored_events: get_u64(r, 24)?,
    })
}

/// An event row, its payload decoded with the dictionary it names (looked up in
/// `dictionaries`, which remembers the ones loaded for the rest of the query).
fn event_from_row(
    r: &Row<'_>,
    dictionaries: &mut Dictionaries<'_, '_>,
) -> rusqlite::Result<ErrorEventRecord> {
    let payload = match r.get_ref(5)? {
        rusqlite::types::ValueRef::Blob(b) | rusqlite::types::ValueRef::Text(b) => {
            let dict = match ErrorPayload::dictionary_id(b) {
                Some(id) => dictionaries.get(id)?,
                None => None,
            };
            ErrorPayload::decode(b, dict).map_err(|e| conv_err(5, std::io::Error::other(e)))?
        }
        _ => serde_json::Value::Null,
    };
    Ok(ErrorEventRecord {
        id: r.get(0)?,
        issue_id: r.get(1)?,
        event_id: r.get(2)?,
        received: r.get(3)?,
        timestamp: r.get(4)?,
        payload,
        user_key: r.get(6)?,
    })
}

/// The payload dictionaries one read needs, loaded from `error_dictionaries` at first use.
struct Dictionaries<'c, 't> {
    conn: &'c Transaction<'t>,
    loaded: HashMap<u32, Option<zstd::zstd_safe::DDict<'static>>>,
}

impl Dictionaries<'_, '_> {
    /// Dictionary `id`, `None` if the store has no such row.
    fn get(&mut self, id: u32) -> rusqlite::Result<Option<&zstd::zstd_safe::DDict<'static>>> {
        if !self.loaded.contains_key(&id) {
            let bytes: Option<Vec<u8>> = self
                .conn
                .prepare_cached("SELECT bytes FROM error_dictionaries WHERE id = ?1")?
                .query_row([id], |r| r.get(0))
                .optional()?;
            let ddict = bytes.and_then(|b| zstd::zstd_safe::DDict::try_create(&b));
            self.loaded.insert(id, ddict);
        }
        Ok(self.loaded.get(&id).and_then(Option::as_ref))
    }
}

/// Stores a checked dictionary under the next id (at least [`FIRST_DICTIONARY_ID`]),
/// which is written into its header.
pub(super) fn save_dictionary(
    tx: &Transaction<'_>,
    project_id: u64,
    bytes: &[u8],
    at: i64,
) -> Result<ErrorDictionary, StateError> {
    let next: i64 = tx.query_row(
        "SELECT COALESCE(MAX(id) + 1, ?1) FROM error_dictionaries",
        [i64::from(FIRST_DICTIONARY_ID)],
        |r| r.get(0),
    )?;
    let id = u32::try_from(next.max(i64::from(FIRST_DICTIONARY_ID)))
        .map_err(|_| StateError::BadInput("no dictionary id left".into()))?;
    let bytes = ErrorDictionary::with_id(bytes, id);
    tx.prepare_cached(
        "INSERT INTO error_dictionaries (id, project_id, created, bytes) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![id, project_int(project_id)?, at, bytes])?;
    Ok(ErrorDictionary {
        id,
        project_id,
        created: at,
        bytes,
    })
}

/// Each project's newest dictionary.
pub(super) fn latest_dictionaries(conn: &Connection) -> Result<Vec<ErrorDictionary>, StateError> {
    let rows = conn
        .prepare_cached(
            "SELECT id, project_id, created, bytes FROM error_dictionaries \
             WHERE id IN (SELECT MAX(id) FROM error_dictionaries GROUP BY project_id) \
             ORDER BY project_id",
        )?
        .query_map([], |r| {
            Ok(ErrorDictionary {
                id: r.get(0)?,
                project_id: get_u64(r, 1)?,
                created: r.get(2)?,
                bytes: r.get(3)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

pub(super) fn get(conn: &Connection, id: i64) -> Result<Option<ErrorIssue>, StateError> {
    let sql = format!("SELECT {ISSUE_COLS} FROM error_issues WHERE id = ?1");
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([id], issue_from_row)
        .optional()?)
}

/// Checks what can be checked without the database.
fn validate(ev: &NewErrorEvent) -> Result<(), StateError> {
    if ev.event_id.is_empty() || ev.hash.is_empty() {
        return Err(StateError::BadInput(
            "an error event needs an event id and a grouping hash".into(),
        ));
    }
    if !ev.payload.is_valid() {
        return Err(StateError::BadInput(
            "an error event payload must be compressed JSON (ErrorPayload::encode)".into(),
        ));
    }
    Ok(())
}

/// An issue touched by a batch: its state as the batch goes (loaded once, at first sight)
/// and what the batch changed, written back once at the end.
struct Touched<'a> {
    id: i64,
    status: IssueStatus,
    /// Events recorded, including this batch's so far.
    count: i64,
    /// Stored events when the batch began.
    stored: i64,
    ignore_until: Option<i64>,
    ignore_until_count: Option<i64>,
    /// Events this batch added.
    added: i64,
    new_users: i64,
    first_seen: i64,
    last_seen: i64,
    /// Title, culprit and level of the batch's latest event.
    title: &'a str,
    culprit: &'a str,
    level: &'a str,
    /// The latest non-empty component.
    component: &'a str,
    /// `(received, timestamp)` of the event that reopened a resolved issue (at most one
    /// per batch: afterwards the issue is `regressed`).
    regressed: Option<(i64, i64)>,
}

/// Thinning beyond the per-issue cap owed by issues, deferred so that it runs in bulk.
///
/// Deleting one old event per new one dirtied a page of the events table and of each of
/// its indexes per event: the rows thinned are old, and other issues' events sit between
/// them. An issue whose excess stays under its slack ([`thin_slack`]: an eighth of the
/// cap) is noted here instead, and once the issues noted owe [`BULK_THIN_EVENTS`] between
/// them all of them are thinned in the same transaction: their oldest candidates are
/// events received at about the same time, so the rows, and their index entries, share
/// pages that a commit then writes once. An issue thus keeps at most its slack beyond the
/// cap. The debt is advisory and kept in memory only: a thinning recomputes what an issue
/// owes from its row, and after a restart an issue is noted again at its next event.
#[derive(Debug, Default)]
pub(super) struct ThinDebt {
    /// Issue id → the events it owed at its last write.
    by_issue: HashMap<i64, i64>,
}

/// Owed events (over all issues) that start a bulk thinning.
pub(super) const BULK_THIN_EVENTS: i64 = 1024;

/// Events an issue may keep beyond its cap until a bulk thinning: an eighth of the cap
/// (0, so thinning at once, for caps under 8).
fn thin_slack(retention: &EventRetention) -> i64 {
    i64::try_from(retention.max_per_issue / 8).unwrap_or(i64::MAX)
}

/// Stored events beyond the cap and its power-of-two samples of an issue with `count`
/// events recorded and `stored` kept.
fn thin_excess(count: i64, stored: i64, retention: &EventRetention) -> i64 {
    if retention.max_per_issue == 0 {
        return 0;
    }
    let samples = i64::from(64 - count.max(1).leading_zeros());
    let cap = i64::try_from(retention.max_per_issue).unwrap_or(i64::MAX);
    stored.saturating_sub(cap.saturating_add(samples)).max(0)
}

/// Validates a request: its project id and every event.
fn validate_request(req: &ErrorEventBatch) -> Result<i64, StateError> {
    let project = project_int(req.project_id)?;
    req.events.iter().try_for_each(validate)?;
    Ok(project)
}

/// Checks that every payload compressed with a dictionary names a stored one (so it can
/// be read back); `known` remembers the answers for the rest of the batch.
fn check_dictionaries(
    tx: &Transaction<'_>,
    req: &ErrorEventBatch,
    known: &mut HashMap<u32, bool>,
) -> Result<(), StateError> {
    for ev in &req.events {
        let Some(id) = ErrorPayload::dictionary_id(ev.payload.as_bytes()) else {
            continue;
        };
        let stored = match known.get(&id) {
            Some(&stored) => stored,
            None => {
                let stored = tx
                    .prepare_cached("SELECT 1 FROM error_dictionaries WHERE id = ?1")?
                    .exists([id])?;
                known.insert(id, stored);
                stored
            }
        };
        if !stored {
            return Err(StateError::BadInput(format!(
                "an error event payload is compressed with dictionary {id}, which is not stored"
            )));
        }
    }
    Ok(())
}

/// Records a batch of requests in the caller's transaction. Requests are validated first:
/// an invalid one is reported in its slot and nothing of it is written. A failure while
/// writing fails the whole call (the caller's transaction rolls back, nothing is stored),
/// so callers that want the other requests stored retry them one by one.
///
/// Events are written one by one (duplicates are found against the rows already
/// written, this batch's included), while everything that sums up — the issue row, the
/// per-minute counts, users and tags, thinning beyond the per-issue cap — is gathered in
/// memory and written once per distinct issue, minute, user or tag. The result is the
/// same as recording the events one at a time: every issue is loaded at its first event
/// and its state (status, count) carried forward through the batch; thinning once with
/// the batch's total removes exactly the rows the per-event rule would have removed (the
/// cap grows by at most one per event, and both delete the oldest candidates first). One
/// difference, in the safe direction: a retry of an event that this same batch thins is
/// found as a duplicate (the row is still there), where one at a time it would be stored
/// again.
pub(super) fn record_batch(
    tx: &Transaction<'_>,
    batch: &[ErrorEventBatch],
    retention: &EventRetention,
    known: &KnownRows,
    debt: &mut ThinDebt,
) -> Result<(Vec<crate::BatchOutcome>, Vec<KnownRow>), StateError> {
    let mut out = Vec::with_capacity(batch.len());
    let mut learned: Vec<KnownRow> = Vec::new();
    let mut touched: Vec<Touched<'_>> = Vec::new();
    let mut by_hash: HashMap<(i64, &str), usize> = HashMap::new();
    let mut by_id: HashMap<i64, usize> = HashMap::new();
    let mut users: HashSet<(i64, &str)> = HashSet::new();
    let mut tags: HashSet<(i64, &str, &str)> = HashSet::new();
    let mut minutes: HashMap<(i64, i64), i64> = HashMap::new();
    let mut dictionaries: HashMap<u32, bool> = HashMap::new();
    for req in batch {
        let project_id = match validate_request(req)
            .and_then(|p| check_dictionaries(tx, req, &mut dictionaries).map(|()| p))
        {
            Ok(p) => p,
            Err(e) => {
                out.push(Err(e));
                continue;
            }
        };
        let mut recorded = Vec::with_capacity(req.events.len());
        for ev in &req.events {
            // An SDK retry: the event id is already stored for this project (see schema
            // V12 for the two lookups).
            let mut existing: Option<i64> = tx
                .prepare_cached(
                    "SELECT issue_id FROM error_events \
                     WHERE project_id = ?1 AND timestamp = ?2 AND event_id = ?3",
                )?
                .query_row(params![project_id, ev.timestamp, ev.event_id], |r| r.get(0))
                .optional()?;
            if existing.is_none() {
                existing = tx
                    .prepare_cached(
                        "SELECT issue_id FROM error_events \
                         WHERE project_id = ?1 AND event_id = ?2 AND filed_at_arrival = 1",
                    )?
                    .query_row(params![project_id, ev.event_id], |r| r.get(0))
                    .optional()?;
            }
            if let Some(issue_id) = existing {
                let count = match by_id.get(&issue_id).and_then(|&i| touched.get(i)) {
                    Some(t) => t.count,
                    None => tx
                        .prepare_cached("SELECT count FROM error_issues WHERE id = ?1")?
                        .query_row([issue_id], |r| r.get(0))?,
                };
                recorded.push(RecordedEvent {
                    issue_id,
                    created: false,
                    regressed: false,
                    duplicate: true,
                    unignored: false,
                    ignored: false,
                    count: u64::try_from(count).unwrap_or(0),
                });
                continue;
            }
            let (slot, created) = match by_hash.get(&(project_id, ev.hash.as_str())) {
                Some(&slot) => (slot, false),
                None => {
                    let (t, created) = load_or_create(tx, project_id, ev)?;
                    let slot = touched.len();
                    by_hash.insert((project_id, ev.hash.as_str()), slot);
                    by_id.insert(t.id, slot);
                    touched.push(t);
                    (slot, created)
                }
            };
            let Some(t) = touched.get_mut(slot) else {
                return Err(StateError::BadInput("BUG: issue slot out of range".into()));
            };
            let received = req.received;
            let regressed = t.status == IssueStatus::Resolved;
            let unignored = t.status == IssueStatus::Ignored
                && (t.ignore_until.is_some_and(|u| received >= u)
                    || t.ignore_until_count.is_some_and(|c| t.count + 1 >= c));
            let ignored = t.status == IssueStatus::Ignored && !unignored;
            if regressed {
                t.status = IssueStatus::Regressed;
                t.regressed = Some((received, ev.timestamp));
                super::tickets::reopen(tx, t.id, received)?;
            }
            if unignored {
                t.status = IssueStatus::Unresolved;
                t.ignore_until = None;
                t.ignore_until_count = None;
            }
            t.count += 1;
            let seq = t.count;
            t.added += 1;
            if t.added == 1 {
                t.first_seen = ev.timestamp;
                t.last_seen = ev.timestamp;
            } else {
                t.first_seen = t.first_seen.min(ev.timestamp);
                t.last_seen = t.last_seen.max(ev.timestamp);
            }
            t.title = &ev.title;
            t.culprit = &ev.culprit;
            t.level = &ev.level;
            if !ev.component.is_empty() {
                t.component = &ev.component;
            }
            let issue_id = t.id;

            if let Some(key) = ev.user_key.as_deref() {
                if users.insert((issue_id, key)) && !known.contains(issue_id, "user", key) {
                    if tx
                        .prepare_cached(
                            "INSERT OR IGNORE INTO error_issue_users (issue_id, user_key) \
                             VALUES (?1, ?2)",
                        )?
                        .execute(params![issue_id, key])?
                        == 1
                    {
                        t.new_users += 1;
                    }
                    learned.push((issue_id, "user", key.to_owned()));
                }
            }
            for (key, value) in [("environment", &ev.environment), ("release", &ev.release)] {
                if let Some(value) = value.as_deref().filter(|v| !v.is_empty()) {
                    if tags.insert((issue_id, key, value)) && !known.contains(issue_id, key, value)
                    {
                        tx.prepare_cached(
                            "INSERT OR IGNORE INTO error_issue_tags (issue_id, key, value) \
                             VALUES (?1, ?2, ?3)",
                        )?
                        .execute(params![issue_id, key, value])?;
                        learned.push((issue_id, key, value.to_owned()));
                    }
                }
            }
            *minutes
                .entry((issue_id, received.div_euclid(60_000)))
                .or_insert(0) += 1;
            tx.prepare_cached(
                "INSERT INTO error_events (issue_id, project_id, event_id, received, timestamp, \
                 payload, user_key, seq, filed_at_arrival) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            )?
            .execute(params![
                issue_id,
                project_id,
                ev.event_id,
                received,
                ev.timestamp,
                ev.payload.as_bytes(),
                ev.user_key,
                seq,
                ev.filed_at_arrival,
            ])?;
            recorded.push(RecordedEvent {
                issue_id,
                created: created && t.added == 1,
                regressed,
                duplicate: false,
                unignored,
                ignored,
                count: u64::try_from(seq).unwrap_or(0),
            });
        }
        out.push(Ok(recorded));
    }

    for ((issue_id, minute), n) in minutes {
        tx.prepare_cached(
            "INSERT INTO error_counts (issue_id, minute, n) VALUES (?1, ?2, ?3) \
             ON CONFLICT (minute, issue_id) DO UPDATE SET n = n + excluded.n",
        )?
        .execute(params![issue_id, minute, n])?;
    }
    // Thinning: at once for an issue past its slack, for every issue owing one when
    // they owe enough between them (`ThinDebt`; advisory, so it is updated in place even
    // if the transaction then rolls back).
    let excess: Vec<i64> = touched
        .iter()
        .map(|t| thin_excess(t.count, t.stored + t.added, retention))
        .collect();
    for (t, &e) in touched.iter().zip(&excess).filter(|(t, _)| t.added > 0) {
        if e > 0 {
            debt.by_issue.insert(t.id, e);
        } else {
            debt.by_issue.remove(&t.id);
        }
    }
    let bulk = debt.by_issue.values().sum::<i64>() >= BULK_THIN_EVENTS;
    let slack = thin_slack(retention);
    for (t, &e) in touched.iter().zip(&excess).filter(|(t, _)| t.added > 0) {
        let removed = if e > 0 && (e >= slack || bulk) {
            debt.by_issue.remove(&t.id);
            thin(tx, t.id, e, retention)?
        } else {
            0
        };
        tx.prepare_cached(
            "UPDATE error_issues SET \
                 count = ?2, \
                 user_count = user_count + ?3, \
                 first_seen = MIN(first_seen, ?4), \
                 last_seen = MAX(last_seen, ?5), \
                 title = ?6, culprit = ?7, level = ?8, \
                 status = ?9, \
                 regressed_at = COALESCE(?10, regressed_at), \
                 regression_count = regression_count + (?10 IS NOT NULL), \
                 opened_at = COALESCE(?11, opened_at), \
                 ignore_until = ?12, \
                 ignore_until_count = ?13, \
                 component = CASE WHEN ?14 <> '' THEN ?14 ELSE component END, \
                 stored_events = ?15 \
             WHERE id = ?1",
        )?
        .execute(params![
            t.id,
            t.count,
            t.new_users,
            t.first_seen,
            t.last_seen,
            t.title,
            t.culprit,
            t.level,
            t.status.as_str(),
            t.regressed.map(|(received, _)| received),
            t.regressed.map(|(_, timestamp)| timestamp),
            t.ignore_until,
            t.ignore_until_count,
            t.component,
            t.stored + t.added - removed,
        ])?;
    }
    if bulk {
        // The issues owing events that this batch did not touch.
        for (issue_id, _) in std::mem::take(&mut debt.by_issue) {
            let row: Option<(i64, i64)> = tx
                .prepare_cached("SELECT count, stored_events FROM error_issues WHERE id = ?1")?
                .query_row([issue_id], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()?;
            let Some((count, stored)) = row else {
                continue;
            };
            let e = thin_excess(count, stored, retention);
            if e > 0 {
                let removed = thin(tx, issue_id, e, retention)?;
                tx.prepare_cached(
                    "UPDATE error_issues SET stored_events = stored_events - ?2 WHERE id = ?1",
                )?
                .execute(params![issue_id, removed])?;
            }
        }
    }
    Ok((out, learned))
}

/// The issue of `(project_id, ev.hash)` as it stands, or a new one made from `ev`.
fn load_or_create<'a>(
    tx: &Transaction<'_>,
    project_id: i64,
    ev: &'a NewErrorEvent,
) -> Result<(Touched<'a>, bool), StateError> {
    type Current = (i64, String, i64, Option<i64>, Option<i64>, i64);
    let current: Option<Current> = tx
        .prepare_cached(
            "SELECT id, status, count, ignore_until, ignore_until_count, stored_events \
             FROM error_issues WHERE project_id = ?1 AND hash = ?2",
        )?
        .query_row(params![project_id, ev.hash], |r| Current::try_from(r))
        .optional()?;
    let touched = |id, status, count, until, until_count, stored| Touched {
        id,
        status,
        count,
        stored,
        ignore_until: until,
        ignore_until_count: until_count,
        added: 0,
        new_users: 0,
        first_seen: ev.timestamp,
        last_seen: ev.timestamp,
        title: &ev.title,
        culprit: &ev.culprit,
        level: &ev.level,
        component: "",
        regressed: None,
    };
    if let Some((id, status, count, until, until_count, stored)) = current {
        let status = IssueStatus::parse(&status)?;
        return Ok((
            touched(id, status, count, until, until_count, stored),
            false,
        ));
    }
    tx.prepare_cached(
        "INSERT INTO error_issues (project_id, hash, title, culprit, level, status, \
         count, user_count, first_seen, last_seen, category, severity, priority, assignee, \
         component, opened_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, 'unresolved', 0, 0, ?6, ?6, ?7, ?8, ?9, ?10, ?11, ?6)",
    )?
    .execute(params![
        project_id,
        ev.hash,
        ev.title,
        ev.culprit,
        ev.level,
        ev.timestamp,
        ev.category,
        ev.severity,
        ev.priority,
        ev.assignee,
        ev.component,
    ])?;
    let id = tx.last_insert_rowid();
    Ok((touched(id, IssueStatus::Unresolved, 0, None, None, 0), true))
}

/// Deletes `excess` stored events of an issue beyond the cap (see [`EventRetention`]):
/// the oldest after its first `keep_first`, sparing power-of-two sequence numbers.
/// Returns the rows deleted.
///
/// Recorded one at a time with thinning at once, event `i` of a batch (sequence number
/// `s_i`) leaves `min(stored_before_i + 1, cap + bits(s_i))` events (fewer candidates
/// permitting), and as `cap + bits(s)` grows by at most one per event, that comes to
/// `min(stored + added, cap + bits(s_last))` for the batch: one delete of the difference,
/// oldest candidates first, as the per-event deletes would have chosen. A deferred
/// thinning ([`ThinDebt`]) deletes the same rows later.
fn thin(
    tx: &Transaction<'_>,
    issue_id: i64,
    excess: i64,
    retention: &EventRetention,
) -> Result<i64, StateError> {
    let removed = tx
        .prepare_cached(
            "DELETE FROM error_events WHERE id IN (SELECT id FROM error_events \
             WHERE issue_id = ?1 AND seq > ?2 AND (seq & (seq - 1)) <> 0 \
             ORDER BY seq LIMIT ?3)",
        )?
        .execute(params![
            issue_id,
            i64::try_from(retention.keep_first).unwrap_or(i64::MAX),
            excess,
        ])?;
    Ok(i64::try_from(removed).unwrap_or(0))
}

pub(super) fn list(
    tx: &Transaction<'_>,
    q: &ErrorIssueQuery,
) -> Result<(Vec<ErrorIssue>, u64), StateError> {
    let mut clauses: Vec<String> = Vec::new();
    let mut args: Vec<rusqlite::types::Value> = Vec::new();
    if let Some(p) = q.project_id {
        args.push(rusqlite::types::Value::Integer(project_int(p)?));
        clauses.push(format!("project_id = ?{}", args.len()));
    }
    if !q.statuses.is_empty() {
        let mut marks = Vec::new();
        for s in &q.statuses {
            args.push(rusqlite::types::Value::Text(s.as_str().to_string()));
            marks.push(format!("?{}", args.len()));
        }
        clauses.push(format!("status IN ({})", marks.join(", ")));
    }
    if let Some(level) = &q.level {
        args.push(rusqlite::types::Value::Text(level.clone()));
        clauses.push(format!("level = ?{}", args.len()));
    }
    if let Some(category) = &q.category {
        args.push(rusqlite::types::Value::Text(category.clone()));
        clauses.push(format!("category = ?{}", args.len()));
    }
    for (col, value) in [
        ("severity", &q.severity),
        ("priority", &q.priority),
        ("component", &q.component),
    ] {
        if let Some(v) = value {
            args.push(rusqlite::types::Value::Text(v.clone()));
            clauses.push(format!("{col} = ?{}", args.len()));
        }
    }
    match q.assignee.as_deref() {
        None => {}
        Some("none") => clauses.push("assignee IS NULL".to_string()),
        Some(a) => {
            args.push(rusqlite::types::Value::Text(a.to_string()));
            clauses.push(format!("assignee = ?{}", args.len()));
        }
    }
    for (key, value) in [("environment", &q.environment), ("release", &q.release)] {
        if let Some(v) = value {
            args.push(rusqlite::types::Value::Text(key.to_string()));
            let k = args.len();
            args.push(rusqlite::types::Value::Text(v.clone()));
            clauses.push(format!(
                "EXISTS (SELECT 1 FROM error_issue_tags t WHERE t.issue_id = error_issues.id \
                 AND t.key = ?{k} AND t.value = ?{})",
                args.len()
            ));
        }
    }
    if let Some(since) = q.seen_since {
        args.push(rusqlite::types::Value::Integer(since));
        clauses.push(format!("last_seen >= ?{}", args.len()));
    }
    if let Some(text) = q.text.as_deref().filter(|t| !t.is_empty()) {
        let escaped = text
            .to_lowercase()
            .replace('\\', "\\\\")
            .replace('%', "\\%")
            .replace('_', "\\_");
        args.push(rusqlite::types::Value::Text(format!("%{escaped}%")));
        let n = args.len();
        clauses.push(format!(
            "(LOWER(title) LIKE ?{n} ESCAPE '\\' OR LOWER(culprit) LIKE ?{n} ESCAPE '\\')"
        ));
    }
    let filter = if clauses.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", clauses.join(" AND "))
    };
    let total: i64 = tx.query_row(
        &format!("SELECT COUNT(*) FROM error_issues {filter}"),
        rusqlite::params_from_iter(args.iter()),
        |r| r.get(0),
    )?;
    let order = match q.sort {
        IssueSort::LastSeen => "last_seen DESC",
        IssueSort::FirstSeen => "first_seen DESC",
        IssueSort::Count => "count DESC",
        IssueSort::Users => "user_count DESC",
        IssueSort::Severity => {
            "CASE severity WHEN 'critical' THEN 0 WHEN 'high' THEN 1 WHEN 'medium' THEN 2 \
             WHEN 'low' THEN 3 ELSE 4 END, last_seen DESC"
        }
        IssueSort::Priority => "priority ASC, last_seen DESC",
    };
    args.push(rusqlite::types::Value::Integer(sql_int(q.limit)));
    let limit_n = args.len();
    args.push(rusqlite::types::Value::Integer(sql_int(q.offset)));
    let offset_n = args.len();
    let sql = format!(
        "SELECT {ISSUE_COLS} FROM error_issues {filter} ORDER BY {order}, id DESC \
         LIMIT ?{limit_n} OFFSET ?{offset_n}"
    );
    let mut stmt = tx.prepare(&sql)?;
    let rows = stmt
        .query_map(rusqlite::params_from_iter(args.iter()), issue_from_row)?
        .collect::<Result<Vec<_>, _>>()?;
    Ok((rows, u64::try_from(total).unwrap_or(0)))
}

pub(super) fn events(
    tx: &Transaction<'_>,
    issue_id: i64,
    offset: usize,
    limit: usize,
) -> Result<(Vec<ErrorEventRecord>, u64), StateError> {
    if get(tx, issue_id)?.is_none() {
        return Err(StateError::not_found("error issue", issue_id.to_string()));
    }
    let total: i64 = tx
        .prepare_cached("SELECT COUNT(*) FROM error_events WHERE issue_id = ?1")?
        .query_row([issue_id], |r| r.get(0))?;
    // The page is chosen from the `(issue_id, seq, timestamp)` index alone; only its rows
    // are read from the table.
    let sql = format!(
        "SELECT {EVENT_COLS} FROM error_events WHERE id IN \
         (SELECT id FROM error_events WHERE issue_id = ?1 \
          ORDER BY timestamp DESC, id DESC LIMIT ?2 OFFSET ?3) \
         ORDER BY timestamp DESC, id DESC"
    );
    let mut dictionaries = Dictionaries {
        conn: tx,
        loaded: HashMap::new(),
    };
    let mut stmt = tx.prepare_cached(&sql)?;
    let mut rows = stmt.query(params![issue_id, sql_int(limit), sql_int(offset)])?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        out.push(event_from_row(row, &mut dictionaries)?);
    }
    let rows = out;
    Ok((rows, u64::try_from(total).unwrap_or(0)))
}

/// Applies an operator's change to an issue. Every change also goes into the issue's
/// ticket timeline when it has a ticket.
pub(super) fn change(
    tx: &Transaction<'_>,
    id: i64,
    change: &IssueChange,
    at: i64,
) -> Result<ErrorIssue, StateError> {
    let issue = get(tx, id)?.ok_or_else(|| StateError::not_found("error issue", id.to_string()))?;
    let (action, description) = match change {
        IssueChange::Resolve { operator, notes } => {
            if issue.status == IssueStatus::Resolved {
                return Err(StateError::Conflict(format!(
                    "error issue {id} is already resolved"
                )));
            }
            tx.prepare_cached(
                "UPDATE error_issues SET status = 'resolved', resolved_by = ?2, resolved_at = ?3, \
                 resolution_notes = ?4, ignore_until = NULL, ignore_until_count = NULL WHERE id = ?1",
            )?
            .execute(params![id, operator, at, notes])?;
            ("resolved", notes.clone())
        }
        IssueChange::Unresolve { .. } => {
            if issue.status == IssueStatus::Unresolved {
                return Err(StateError::Conflict(format!(
                    "error issue {id} is already unresolved"
                )));
            }
            tx.prepare_cached(
                "UPDATE error_issues SET status = 'unresolved', ignore_until = NULL, \
                 ignore_until_count = NULL, opened_at = CASE WHEN status = 'resolved' THEN ?2 \
                 ELSE opened_at END WHERE id = ?1",
            )?
            .execute(params![id, at])?;
            ("unresolved", format!("was {}", issue.status.as_str()))
        }
        IssueChange::Ignore { until, count, .. } => {
            if until.is_some_and(|u| u <= at) {
                return Err(StateError::BadInput(
                    "ignore \"until\" must be in the future".into(),
                ));
            }
            if *count == Some(0) {
                return Err(StateError::BadInput(
                    "ignore \"count\" must be at least 1".into(),
                ));
            }
            let until_count =
                count.map(|c| i64::try_from(issue.count.saturating_add(c)).unwrap_or(i64::MAX));
            tx.prepare_cached(
                "UPDATE error_issues SET status = 'ignored', ignore_until = ?2, \
                 ignore_until_count = ?3 WHERE id = ?1",
            )?
            .execute(params![id, until, until_count])?;
            let mut d = String::from("muted");
            if let Some(u) = until {
                d.push_str(&format!(" until {u}"));
            }
            if let Some(c) = count {
                d.push_str(&format!(" for {c} more events"));
            }
            ("ignored", d)
        }
        IssueChange::Assign { assignee, .. } => {
            tx.prepare_cached("UPDATE error_issues SET assignee = ?2 WHERE id = ?1")?
                .execute(params![id, assignee])?;
            (
                "assigned",
                assignee.clone().unwrap_or_else(|| "unassigned".into()),
            )
        }
    };
    super::tickets::note_if_open(tx, id, action, &description, change.operator(), at)?;
    get(tx, id)?.ok_or_else(|| StateError::not_found("error issue", id.to_string()))
}

/// Timestamps of an issue's latest events, newest first.
pub(super) fn event_times(
    conn: &Connection,
    issue_id: i64,
    limit: usize,
) -> Result<Vec<i64>, StateError> {
    Ok(conn
        .prepare_cached(
            "SELECT timestamp FROM error_events WHERE issue_id = ?1 \
             ORDER BY timestamp DESC, id DESC LIMIT ?2",
        )?
        .query_map(params![issue_id, sql_int(limit)], |r| r.get(0))?
        .collect::<Result<Vec<_>, _>>()?)
}

/// Tags of an issue (`environment`, `release`), sorted.
pub(super) fn tags(conn: &Connection, issue_id: i64) -> Result<Vec<(String, String)>, StateError> {
    Ok(conn
        .prepare_cached(
            "SELECT key, value FROM error_issue_tags WHERE issue_id = ?1 ORDER BY key, value",
        )?
        .query_map([issue_id], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<Result<Vec<_>, _>>()?)
}

/// Event counts per bucket: `buckets` buckets of `step` ms from `start`, optionally for one
/// project or one issue. Counts come from the per-minute table, so they include events
/// thinned by the per-issue cap.
pub(super) fn counts(
    conn: &Connection,
    start: i64,
    step: i64,
    buckets: usize,
    project_id: Option<u64>,
    issue_id: Option<i64>,
) -> Result<Vec<u64>, StateError> {
    let mut out = vec![0u64; buckets];
    if step <= 0 || buckets == 0 {
        return Ok(out);
    }
    let end = start.saturating_add(step.saturating_mul(i64::try_from(buckets).unwrap_or(0)));
    let project = project_id.map(project_int).transpose()?;
    // One issue's counts come from its `(issue_id, minute)` index; all issues' from the
    // minute range of the table.
    let mut stmt = conn.prepare_cached(if issue_id.is_some() {
        "SELECT c.minute, SUM(c.n) FROM error_counts c JOIN error_issues i ON i.id = c.issue_id \
         WHERE c.issue_id = ?4 AND c.minute >= ?1 AND c.minute < ?2 \
         AND (?3 IS NULL OR i.project_id = ?3) GROUP BY c.minute"
    } else {
        "SELECT c.minute, SUM(c.n) FROM error_counts c JOIN error_issues i ON i.id = c.issue_id \
         WHERE c.minute >= ?1 AND c.minute < ?2 AND (?3 IS NULL OR i.project_id = ?3) \
         AND ?4 IS NULL GROUP BY c.minute"
    })?;
    let rows = stmt.query_map(
        params![
            start.div_euclid(60_000),
            end.div_euclid(60_000) + i64::from(end.rem_euclid(60_000) != 0),
            project,
            issue_id
        ],
        |r| Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?)),
    )?;
    for row in rows {
        let (minute, n) = row?;
        let b = (minute * 60_000 - start).div_euclid(step);
        if let Some(slot) = usize::try_from(b).ok().and_then(|b| out.get_mut(b)) {
            *slot += u64::try_from(n).unwrap_or(0);
        }
    }
    Ok(out)
}

/// Aggregates for the stats endpoint; the event-based ones over `[since, now]`.
pub(super) fn stats(
    tx: &Transaction<'_>,
    since: i64,
    project_id: Option<u64>,
) -> Result<ErrorStats, StateError> {
    let project = project_id.map(project_int).transpose()?;
    let pairs = |sql: &str| -> Result<Vec<(String, u64)>, StateError> {
        Ok(tx
            .prepare_cached(sql)?
            .query_map(params![project, since.div_euclid(60_000)], |r| {
                Ok((r.get::<_, String>(0)?, get_u64(r, 1)?))
            })?
            .collect::<Result<Vec<_>, _>>()?)
    };
    let by_status = pairs(
        "SELECT status, COUNT(*) FROM error_issues WHERE (?1 IS NULL OR project_id = ?1) \
         AND ?2 = ?2 GROUP BY status ORDER BY status",
    )?;
    let by_severity = pairs(
        "SELECT severity, COUNT(*) FROM error_issues WHERE (?1 IS NULL OR project_id = ?1) \
         AND ?2 = ?2 GROUP BY severity ORDER BY severity",
    )?;
    let top_categories = pairs(
        "SELECT i.category, SUM(c.n) AS n FROM error_counts c JOIN error_issues i ON i.id = c.issue_id \
         WHERE (?1 IS NULL OR i.project_id = ?1) AND c.minute >= ?2 \
         GROUP BY i.category ORDER BY n DESC, i.category LIMIT 10",
    )?;
    let top_components = pairs(
        "SELECT i.component, SUM(c.n) AS n FROM error_counts c JOIN error_issues i ON i.id = c.issue_id \
         WHERE (?1 IS NULL OR i.project_id = ?1) AND c.minute >= ?2 AND i.component <> '' \
         GROUP BY i.component ORDER BY n DESC, i.component LIMIT 10",
    )?;
    let events_in_window: i64 = tx
        .prepare_cached(
            "SELECT COALESCE(SUM(c.n), 0) FROM error_counts c JOIN error_issues i ON i.id = c.issue_id \
             WHERE (?1 IS NULL OR i.project_id = ?1) AND c.minute >= ?2",
        )?
        .query_row(params![project, since.div_euclid(60_000)], |r| r.get(0))?;
    let mttr = |group: &str| -> Result<Vec<(String, f64, u64)>, StateError> {
        let sql = format!(
            "SELECT {group} AS g, AVG(resolved_at - opened_at) / 1000.0, COUNT(*) FROM error_issues \
             WHERE status = 'resolved' AND resolved_at IS NOT NULL AND (?1 IS NULL OR project_id = ?1) \
             GROUP BY g ORDER BY g"
        );
        Ok(tx
            .prepare_cached(&sql)?
            .query_map(params![project], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, f64>(1)?, get_u64(r, 2)?))
            })?
            .collect::<Result<Vec<_>, _>>()?)
    };
    let overall = mttr("'all'")?;
    Ok(ErrorStats {
        by_status,
        by_severity,
        mttr_seconds: overall.first().map(|(_, m, _)| *m),
        resolved: overall.first().map(|(_, _, n)| *n).unwrap_or(0),
        mttr_by_category: mttr("category")?,
        mttr_by_team: mttr("COALESCE(assignee, 'unassigned')")?,
        events_in_window: u64::try_from(events_in_window).unwrap_or(0),
        top_categories,
        top_components,
    })
}

/// Deletes events received before `before`, and issues (with everything hanging off them)
/// that received no event since then and have no open ticket.
///
/// Issues go by receive time (Strix' clock, kept per minute in `error_counts`), not by
/// `last_seen` (the SDK's timestamp): an event from a device with a wrong clock never makes
/// its new issue look old.
pub(super) fn prune(tx: &Transaction<'_>, before: i64) -> Result<ErrorPruneStats, StateError> {
    let events = tx.execute("DELETE FROM error_events WHERE received < ?1", [before])?;
    let issues = tx.execute(
        "DELETE FROM error_issues WHERE last_seen < ?1 \
         AND NOT EXISTS (SELECT 1 FROM error_counts c \
             WHERE c.issue_id = error_issues.id AND c.minute >= ?2) \
         AND NOT EXISTS (SELECT 1 FROM error_tickets t \
             WHERE t.issue_id = error_issues.id AND t.status NOT IN ('resolved', 'closed'))",
        params![before, before.div_euclid(60_000)],
    )?;
    tx.execute(
        "DELETE FROM error_counts WHERE minute < ?1",
        [before.div_euclid(60_000)],
    )?;
    if events > 0 {
        tx.execute_batch(
            "UPDATE error_issues SET stored_events = \
             (SELECT COUNT(*) FROM error_events e WHERE e.issue_id = error_issues.id)",
        )?;
    }
    Ok(ErrorPruneStats {
        events: events as u64,
        issues: issues as u64,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::KnownRows;

    #[test]
    fn known_rows_are_bounded_and_answer_only_what_was_learned() {
        let mut k = KnownRows::default();
        k.learn(vec![
            (1, "user", "u1".into()),
            (1, "release", "web@1".into()),
        ]);
        assert!(k.contains(1, "user", "u1"));
        assert!(!k.contains(1, "user", "web@1"), "kinds are apart");
        assert!(!k.contains(2, "user", "u1"), "issues are apart");
        k.learn(vec![(1, "user", "u1".into())]);
        assert_eq!(k.len, 2, "a row learned twice is one entry");
        let many: Vec<_> = (0..KnownRows::MAX as i64)
            .map(|i| (i, "user", "u".to_string()))
            .collect();
        k.learn(many);
        assert!(k.len <= KnownRows::MAX);
        assert!(
            !k.contains(1, "release", "web@1"),
            "emptied before it would overflow"
        );
        assert!(k.contains(7, "user", "u"));
    }
}
