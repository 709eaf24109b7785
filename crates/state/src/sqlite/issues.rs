//! Error-tracking issues and events.

use rusqlite::{params, Connection, OptionalExtension, Row, Transaction};

use super::{conv_err, sql_int};
use crate::{
    ErrorEventRecord, ErrorIssue, ErrorIssueQuery, IssueSort, IssueStatus, NewErrorEvent,
    RecordedEvent, StateError,
};

const ISSUE_COLS: &str = "id, project_id, hash, title, culprit, level, status, count, \
     user_count, first_seen, last_seen, category, severity, priority, assignee, resolved_by, \
     resolved_at, resolution_notes";

const EVENT_COLS: &str = "id, issue_id, event_id, received, timestamp, payload, user_key";

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
    })
}

fn event_from_row(r: &Row<'_>) -> rusqlite::Result<ErrorEventRecord> {
    let payload: String = r.get(5)?;
    Ok(ErrorEventRecord {
        id: r.get(0)?,
        issue_id: r.get(1)?,
        event_id: r.get(2)?,
        received: r.get(3)?,
        timestamp: r.get(4)?,
        payload: serde_json::from_str(&payload).map_err(|e| conv_err(5, e))?,
        user_key: r.get(6)?,
    })
}

pub(super) fn get(conn: &Connection, id: i64) -> Result<Option<ErrorIssue>, StateError> {
    let sql = format!("SELECT {ISSUE_COLS} FROM error_issues WHERE id = ?1");
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([id], issue_from_row)
        .optional()?)
}

pub(super) fn record(
    tx: &Transaction<'_>,
    project_id: u64,
    ev: &NewErrorEvent,
    received: i64,
) -> Result<RecordedEvent, StateError> {
    let project_id = project_int(project_id)?;
    if ev.event_id.is_empty() || ev.hash.is_empty() {
        return Err(StateError::BadInput(
            "an error event needs an event id and a grouping hash".into(),
        ));
    }
    // An SDK retry: the event id is already stored for this project.
    let existing: Option<i64> = tx
        .prepare_cached(
            "SELECT issue_id FROM error_events WHERE project_id = ?1 AND event_id = ?2",
        )?
        .query_row(params![project_id, ev.event_id], |r| r.get(0))
        .optional()?;
    if let Some(issue_id) = existing {
        return Ok(RecordedEvent {
            issue_id,
            created: false,
            regressed: false,
            duplicate: true,
        });
    }
    let payload = serde_json::to_string(&ev.payload).map_err(|e| {
        StateError::BadInput(format!("error event payload is not serialisable: {e}"))
    })?;

    let current: Option<(i64, String)> = tx
        .prepare_cached("SELECT id, status FROM error_issues WHERE project_id = ?1 AND hash = ?2")?
        .query_row(params![project_id, ev.hash], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    let (issue_id, created, regressed) = match current {
        None => {
            tx.prepare_cached(
                "INSERT INTO error_issues (project_id, hash, title, culprit, level, status, \
                 count, user_count, first_seen, last_seen, category, severity, priority, assignee) \
                 VALUES (?1, ?2, ?3, ?4, ?5, 'unresolved', 0, 0, ?6, ?6, ?7, ?8, ?9, ?10)",
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
            ])?;
            (tx.last_insert_rowid(), true, false)
        }
        Some((id, status)) => {
            let regressed = IssueStatus::parse(&status)? == IssueStatus::Resolved;
            (id, false, regressed)
        }
    };

    let new_user = match &ev.user_key {
        Some(key) => tx
            .prepare_cached(
                "SELECT 1 FROM error_events WHERE issue_id = ?1 AND user_key = ?2 LIMIT 1",
            )?
            .query_row(params![issue_id, key], |_| Ok(()))
            .optional()?
            .is_none(),
        None => false,
    };

    tx.prepare_cached(
        "INSERT INTO error_events (issue_id, project_id, event_id, received, timestamp, payload, \
         user_key) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        issue_id,
        project_id,
        ev.event_id,
        received,
        ev.timestamp,
        payload,
        ev.user_key,
    ])?;

    tx.prepare_cached(
        "UPDATE error_issues SET \
             count = count + 1, \
             user_count = user_count + ?2, \
             first_seen = MIN(first_seen, ?3), \
             last_seen = MAX(last_seen, ?3), \
             title = ?4, culprit = ?5, level = ?6, \
             status = CASE WHEN ?7 THEN 'regressed' ELSE status END \
         WHERE id = ?1",
    )?
    .execute(params![
        issue_id,
        i64::from(new_user),
        ev.timestamp,
        ev.title,
        ev.culprit,
        ev.level,
        regressed,
    ])?;

    Ok(RecordedEvent {
        issue_id,
        created,
        regressed,
        duplicate: false,
    })
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
    let sql = format!(
        "SELECT {EVENT_COLS} FROM error_events WHERE issue_id = ?1 \
         ORDER BY timestamp DESC, id DESC LIMIT ?2 OFFSET ?3"
    );
    let rows = tx
        .prepare_cached(&sql)?
        .query_map(
            params![issue_id, sql_int(limit), sql_int(offset)],
            event_from_row,
        )?
        .collect::<Result<Vec<_>, _>>()?;
    Ok((rows, u64::try_from(total).unwrap_or(0)))
}

pub(super) fn resolve(
    tx: &Transaction<'_>,
    id: i64,
    operator: &str,
    notes: &str,
    at: i64,
) -> Result<ErrorIssue, StateError> {
    let issue = get(tx, id)?.ok_or_else(|| StateError::not_found("error issue", id.to_string()))?;
    if issue.status == IssueStatus::Resolved {
        return Err(StateError::Conflict(format!(
            "error issue {id} is already resolved"
        )));
    }
    tx.prepare_cached(
        "UPDATE error_issues SET status = 'resolved', resolved_by = ?2, resolved_at = ?3, \
         resolution_notes = ?4 WHERE id = ?1",
    )?
    .execute(params![id, operator, at, notes])?;
    get(tx, id)?.ok_or_else(|| StateError::not_found("error issue", id.to_string()))
}
