//! Escalation timers.

use rusqlite::{params, Connection, OptionalExtension, Row};

use super::{outbox, sql_int};
use crate::{Enqueued, Escalation, OutboxItem, StateError};

const COLS: &str = "alert_id, policy, level, repeat, next_at";

fn from_row(r: &Row<'_>) -> rusqlite::Result<Escalation> {
    Ok(Escalation {
        alert_id: r.get(0)?,
        policy: r.get(1)?,
        level: r.get(2)?,
        repeat: r.get(3)?,
        next_at: r.get(4)?,
    })
}

pub(super) fn get(conn: &Connection, alert_id: &str) -> Result<Option<Escalation>, StateError> {
    let sql = format!("SELECT {COLS} FROM escalations WHERE alert_id = ?1");
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([alert_id], from_row)
        .optional()?)
}

pub(super) fn upsert(conn: &Connection, e: &Escalation, now: i64) -> Result<(), StateError> {
    if e.policy.is_empty() {
        return Err(StateError::BadInput("escalation policy is empty".into()));
    }
    let state: Option<String> = conn
        .prepare_cached("SELECT state FROM alerts WHERE id = ?1")?
        .query_row([&e.alert_id], |r| r.get(0))
        .optional()?;
    match state.as_deref() {
        None => return Err(StateError::not_found("alert", e.alert_id.clone())),
        Some("resolved") => {
            return Err(StateError::Conflict(format!(
                "alert {} is resolved; it cannot escalate",
                e.alert_id
            )))
        }
        Some(_) => {}
    }
    conn.prepare_cached(
        "INSERT INTO escalations (alert_id, policy, level, repeat, next_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (alert_id) DO UPDATE SET policy = excluded.policy, level = excluded.level,
             repeat = excluded.repeat, next_at = excluded.next_at, updated_at = excluded.updated_at",
    )?
    .execute(params![e.alert_id, e.policy, e.level, e.repeat, e.next_at, now])?;
    Ok(())
}

pub(super) fn due(
    conn: &Connection,
    now: i64,
    limit: usize,
) -> Result<Vec<Escalation>, StateError> {
    let sql = format!(
        "SELECT {COLS} FROM escalations WHERE next_at <= ?1 ORDER BY next_at, alert_id LIMIT ?2"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt
        .query_map(params![now, sql_int(limit)], from_row)?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

pub(super) fn cancel(conn: &Connection, alert_id: &str) -> Result<bool, StateError> {
    let n = conn
        .prepare_cached("DELETE FROM escalations WHERE alert_id = ?1")?
        .execute([alert_id])?;
    Ok(n > 0)
}

pub(super) fn advance(
    conn: &Connection,
    current: &Escalation,
    next: Option<&Escalation>,
    notify: &[OutboxItem],
    now: i64,
) -> Result<Vec<Enqueued>, StateError> {
    if get(conn, &current.alert_id)?.as_ref() != Some(current) {
        return Err(StateError::Conflict(format!(
            "escalation of alert {} changed since it was read",
            current.alert_id
        )));
    }
    if let Some(n) = next {
        if n.alert_id != current.alert_id {
            return Err(StateError::BadInput(
                "next escalation names a different alert".into(),
            ));
        }
    }
    let mut out = Vec::with_capacity(notify.len());
    for item in notify {
        out.push(outbox::enqueue(conn, item, now)?);
    }
    match next {
        Some(n) => upsert(conn, n, now)?,
        None => {
            cancel(conn, &current.alert_id)?;
        }
    }
    Ok(out)
}
