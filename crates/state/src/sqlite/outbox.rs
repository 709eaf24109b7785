//! The notification outbox and its delivery log.

use rusqlite::types::Value;
use rusqlite::{params, params_from_iter, Connection, OptionalExtension, Row};

use super::{conv_err, sql_int};
use crate::outbox::{DeliveryStatus, OutboxStatus};
use crate::{
    DeliveryLogEntry, DeliveryLogQuery, DeliveryOutcome, Enqueued, OutboxEntry, OutboxItem,
    StateError,
};

const COLS: &str =
    "id, idempotency_key, receiver, channel, payload, status, attempts, created_at, \
                    next_attempt_at, last_error, finished_at, response";

fn from_row(r: &Row<'_>) -> rusqlite::Result<OutboxEntry> {
    Ok(OutboxEntry {
        id: r.get(0)?,
        idempotency_key: r.get(1)?,
        receiver: r.get(2)?,
        channel: r.get(3)?,
        payload: r.get(4)?,
        status: OutboxStatus::parse(&r.get::<_, String>(5)?).map_err(|e| conv_err(5, e))?,
        attempts: r.get(6)?,
        created_at: r.get(7)?,
        next_attempt_at: r.get(8)?,
        last_error: r.get(9)?,
        finished_at: r.get(10)?,
        response: r.get(11)?,
    })
}

pub(super) fn enqueue(
    conn: &Connection,
    item: &OutboxItem,
    now: i64,
) -> Result<Enqueued, StateError> {
    for (what, v) in [
        ("idempotency key", &item.idempotency_key),
        ("receiver", &item.receiver),
        ("channel", &item.channel),
    ] {
        if v.is_empty() {
            return Err(StateError::BadInput(format!("outbox item {what} is empty")));
        }
    }
    let inserted = conn
        .prepare_cached(
            "INSERT INTO outbox (idempotency_key, receiver, channel, payload, status, attempts, created_at,
                                 next_attempt_at)
             VALUES (?1, ?2, ?3, ?4, 'pending', 0, ?5, ?6)
             ON CONFLICT (idempotency_key) DO NOTHING",
        )?
        .execute(params![item.idempotency_key, item.receiver, item.channel, item.payload, now, item.not_before])?;
    if inserted == 1 {
        return Ok(Enqueued {
            id: conn.last_insert_rowid(),
            created: true,
        });
    }
    let id: i64 = conn
        .prepare_cached("SELECT id FROM outbox WHERE idempotency_key = ?1")?
        .query_row([&item.idempotency_key], |r| r.get(0))?;
    Ok(Enqueued { id, created: false })
}

pub(super) fn due(
    conn: &Connection,
    now: i64,
    limit: usize,
) -> Result<Vec<OutboxEntry>, StateError> {
    let sql = format!(
        "SELECT {COLS} FROM outbox WHERE status = 'pending' AND next_attempt_at <= ?1
         ORDER BY next_attempt_at, id LIMIT ?2"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt
        .query_map(params![now, sql_int(limit)], from_row)?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

pub(super) fn get(conn: &Connection, id: i64) -> Result<Option<OutboxEntry>, StateError> {
    let sql = format!("SELECT {COLS} FROM outbox WHERE id = ?1");
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([id], from_row)
        .optional()?)
}

/// What recording an outcome needs of an entry: no payload, which is neither read nor
/// decoded when an outcome is recorded.
struct Marked {
    id: i64,
    idempotency_key: String,
    receiver: String,
    channel: String,
    attempts: u32,
}

/// The pending entry `id`, or the error saying why it cannot be marked.
fn pending(conn: &Connection, id: i64) -> Result<Marked, StateError> {
    let row = conn
        .prepare_cached(
            "SELECT idempotency_key, receiver, channel, status, attempts FROM outbox WHERE id = ?1",
        )?
        .query_row([id], |r| {
            Ok((
                Marked {
                    id,
                    idempotency_key: r.get(0)?,
                    receiver: r.get(1)?,
                    channel: r.get(2)?,
                    attempts: r.get(4)?,
                },
                r.get::<_, String>(3)?,
            ))
        })
        .optional()?;
    let (e, status) = row.ok_or_else(|| StateError::not_found("outbox entry", id.to_string()))?;
    let status = OutboxStatus::parse(&status)?;
    if status != OutboxStatus::Pending {
        return Err(StateError::Conflict(format!(
            "outbox entry {id} is already {}",
            status.as_str()
        )));
    }
    Ok(e)
}

fn log(
    conn: &Connection,
    e: &Marked,
    attempt: u32,
    status: DeliveryStatus,
    at: i64,
    detail: &str,
) -> Result<(), StateError> {
    conn.prepare_cached(
        "INSERT INTO delivery_log (outbox_id, idempotency_key, receiver, channel, attempt, status, at, detail)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![e.id, e.idempotency_key, e.receiver, e.channel, attempt, status.as_str(), at, detail])?;
    Ok(())
}

/// Applies `set` (an `UPDATE outbox SET ...` assignment list; `?1` is the id) to the
/// pending entry `id` and returns what logging the outcome needs. An entry that is missing
/// or no longer pending is the error [`pending`] names.
///
/// Two statements rather than one `UPDATE … RETURNING`: SQLite runs `RETURNING` like a
/// trigger, which gives the statement a journal of its own (allocated and freed for every
/// delivery, which is most of the cost of recording one).
fn update_pending(
    conn: &Connection,
    id: i64,
    set: &str,
    args: &[&dyn rusqlite::ToSql],
) -> Result<Marked, StateError> {
    let sql = format!("UPDATE outbox SET {set} WHERE id = ?1 AND status = 'pending'");
    let mut params: Vec<&dyn rusqlite::ToSql> = Vec::with_capacity(args.len() + 1);
    params.push(&id);
    params.extend_from_slice(args);
    if conn.prepare_cached(&sql)?.execute(params.as_slice())? == 0 {
        // Not updated: say why (missing or finished).
        pending(conn, id)?;
        return Err(StateError::Conflict(format!(
            "outbox entry {id} is not pending"
        )));
    }
    Ok(conn
        .prepare_cached(
            "SELECT idempotency_key, receiver, channel, attempts FROM outbox WHERE id = ?1",
        )?
        .query_row([id], |r| {
            Ok(Marked {
                id,
                idempotency_key: r.get(0)?,
                receiver: r.get(1)?,
                channel: r.get(2)?,
                attempts: r.get(3)?,
            })
        })?)
}

pub(super) fn mark_delivered(
    conn: &Connection,
    id: i64,
    at: i64,
    response: &str,
) -> Result<(), StateError> {
    let e = update_pending(
        conn,
        id,
        "status = 'delivered', attempts = attempts + 1, finished_at = ?2, response = ?3",
        &[&at, &response],
    )?;
    log(
        conn,
        &e,
        e.attempts,
        DeliveryStatus::Delivered,
        at,
        response,
    )
}

pub(super) fn mark_failed(
    conn: &Connection,
    id: i64,
    attempt: u32,
    next_attempt_at: i64,
    error: &str,
    at: i64,
) -> Result<(), StateError> {
    if attempt == 0 {
        return Err(StateError::BadInput("attempt numbers start at 1".into()));
    }
    let e = update_pending(
        conn,
        id,
        "attempts = ?2, next_attempt_at = ?3, last_error = ?4",
        &[&attempt, &next_attempt_at, &error],
    )?;
    log(conn, &e, attempt, DeliveryStatus::Failed, at, error)
}

pub(super) fn give_up(conn: &Connection, id: i64, error: &str, at: i64) -> Result<(), StateError> {
    let e = update_pending(
        conn,
        id,
        "status = 'abandoned', attempts = attempts + 1, finished_at = ?2, last_error = ?3",
        &[&at, &error],
    )?;
    log(conn, &e, e.attempts, DeliveryStatus::GaveUp, at, error)
}

pub(super) fn delivery_log(
    conn: &Connection,
    q: &DeliveryLogQuery,
) -> Result<(Vec<DeliveryLogEntry>, u64), StateError> {
    let mut clauses: Vec<&str> = Vec::new();
    let mut args: Vec<Value> = Vec::new();
    if let Some(r) = &q.receiver {
        clauses.push("receiver = ?");
        args.push(Value::Text(r.clone()));
    }
    if let Some(s) = q.status {
        clauses.push("status = ?");
        args.push(Value::Text(s.as_str().to_string()));
    }
    if let Some(since) = q.since {
        clauses.push("at >= ?");
        args.push(Value::Integer(since));
    }
    let where_sql = if clauses.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", clauses.join(" AND "))
    };
    let total: i64 = conn.query_row(
        &format!("SELECT COUNT(*) FROM delivery_log {where_sql}"),
        params_from_iter(args.iter()),
        |r| r.get(0),
    )?;
    args.push(Value::Integer(sql_int(q.limit)));
    args.push(Value::Integer(sql_int(q.offset)));
    let sql = format!(
        "SELECT id, outbox_id, idempotency_key, receiver, channel, attempt, status, at, detail
         FROM delivery_log {where_sql} ORDER BY at DESC, id DESC LIMIT ? OFFSET ?"
    );
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt
        .query_map(params_from_iter(args.iter()), |r| {
            Ok(DeliveryLogEntry {
                id: r.get(0)?,
                outbox_id: r.get(1)?,
                idempotency_key: r.get(2)?,
                receiver: r.get(3)?,
                channel: r.get(4)?,
                attempt: r.get(5)?,
                status: DeliveryStatus::parse(&r.get::<_, String>(6)?)
                    .map_err(|e| conv_err(6, e))?,
                at: r.get(7)?,
                detail: r.get(8)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok((rows, u64::try_from(total).unwrap_or(0)))
}

pub(super) fn count_notifications(
    conn: &Connection,
    receiver: &str,
    since: i64,
) -> Result<u64, StateError> {
    let n: i64 = conn
        .prepare_cached("SELECT COUNT(*) FROM outbox WHERE receiver = ?1 AND created_at >= ?2")?
        .query_row(params![receiver, since], |r| r.get(0))?;
    Ok(u64::try_from(n).unwrap_or(0))
}

pub(super) fn enqueue_batch(
    conn: &Connection,
    items: &[OutboxItem],
    now: i64,
) -> Result<Vec<Enqueued>, StateError> {
    items.iter().map(|it| enqueue(conn, it, now)).collect()
}

pub(super) fn pending_after(
    conn: &Connection,
    after_id: i64,
    limit: usize,
) -> Result<Vec<OutboxEntry>, StateError> {
    let sql = format!(
        "SELECT {COLS} FROM outbox WHERE status = 'pending' AND id > ?1 ORDER BY id LIMIT ?2"
    );
    let mut stmt = conn.prepare_cached(&sql)?;
    let rows = stmt
        .query_map(params![after_id, sql_int(limit)], from_row)?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

fn record_one(conn: &Connection, o: &DeliveryOutcome) -> Result<(), StateError> {
    match o {
        DeliveryOutcome::Delivered { id, at, response } => mark_delivered(conn, *id, *at, response),
        DeliveryOutcome::Failed {
            id,
            attempt,
            next_attempt_at,
            error,
            at,
        } => mark_failed(conn, *id, *attempt, *next_attempt_at, error, *at),
        DeliveryOutcome::GaveUp { id, error, at } => give_up(conn, *id, error, *at),
    }
}

/// The common case: every outcome applies. Stops at the first error (the caller rolls
/// back and uses [`record_batch`]), avoiding a savepoint per outcome.
pub(super) fn record_batch_all(
    conn: &Connection,
    outcomes: &[DeliveryOutcome],
) -> Result<Vec<Result<(), StateError>>, StateError> {
    outcomes
        .iter()
        .map(|o| record_one(conn, o).map(Ok))
        .collect()
}

/// Each outcome in its own savepoint: one that fails is rolled back alone.
pub(super) fn record_batch(
    conn: &Connection,
    outcomes: &[DeliveryOutcome],
) -> Result<Vec<Result<(), StateError>>, StateError> {
    let mut out = Vec::with_capacity(outcomes.len());
    for o in outcomes {
        out.push(super::alerts::in_savepoint(conn, || record_one(conn, o))?);
    }
    Ok(out)
}
