//! Alerts, their transition history and statistics.

use std::collections::BTreeMap;

use rusqlite::types::Value;
use rusqlite::{params, params_from_iter, Connection, OptionalExtension, Row};

use super::{conv_err, escalations, sql_int};
use crate::{
    AlertQuery, AlertRecord, AlertSortField, AlertState, AlertStats, AlertWrite, AlertWritten,
    SortDirection, StateError, Transition, UpsertOutcome,
};

const COLS: &str = "id, fingerprint, rule, generator, labels, annotations, state, severity, value, starts_at, \
                    updated_at, ended_at, acknowledged_by, acknowledged_at, resolved_by, resolved_at, notes";

fn parse_state(idx: usize, s: &str) -> rusqlite::Result<AlertState> {
    s.parse::<AlertState>().map_err(|e| conv_err(idx, e))
}

fn json_map(idx: usize, s: &str) -> rusqlite::Result<BTreeMap<String, String>> {
    serde_json::from_str(s).map_err(|e| conv_err(idx, e))
}

fn from_row(r: &Row<'_>) -> rusqlite::Result<AlertRecord> {
    Ok(AlertRecord {
        id: r.get(0)?,
        fingerprint: r.get(1)?,
        rule: r.get(2)?,
        generator: r.get(3)?,
        labels: json_map(4, &r.get::<_, String>(4)?)?,
        annotations: json_map(5, &r.get::<_, String>(5)?)?,
        state: parse_state(6, &r.get::<_, String>(6)?)?,
        severity: r.get(7)?,
        value: r.get::<_, Option<f64>>(8)?.unwrap_or(f64::NAN),
        starts_at: r.get(9)?,
        updated_at: r.get(10)?,
        ended_at: r.get(11)?,
        acknowledged_by: r.get(12)?,
        acknowledged_at: r.get(13)?,
        resolved_by: r.get(14)?,
        resolved_at: r.get(15)?,
        notes: r.get(16)?,
    })
}

fn to_json(m: &BTreeMap<String, String>) -> Result<String, StateError> {
    serde_json::to_string(m)
        .map_err(|e| StateError::BadInput(format!("labels cannot be encoded: {e}")))
}

/// SQLite cannot store NaN (it would read back as NULL): NaN is written as NULL and read
/// back as NaN; infinities are stored as they are.
pub(super) fn value_param(v: f64) -> Value {
    if v.is_nan() {
        Value::Null
    } else {
        Value::Real(v)
    }
}

pub(super) fn get(conn: &Connection, id: &str) -> Result<Option<AlertRecord>, StateError> {
    let sql = format!("SELECT {COLS} FROM alerts WHERE id = ?1");
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([id], from_row)
        .optional()?)
}

pub(super) fn active_by_fingerprint(
    conn: &Connection,
    fp: &str,
) -> Result<Option<AlertRecord>, StateError> {
    let sql = format!("SELECT {COLS} FROM alerts WHERE fingerprint = ?1 AND state <> 'resolved'");
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([fp], from_row)
        .optional()?)
}

fn validate(alert: &AlertRecord) -> Result<(), StateError> {
    if alert.id.is_empty() {
        return Err(StateError::BadInput("alert id is empty".into()));
    }
    if alert.fingerprint.is_empty() {
        return Err(StateError::BadInput("alert fingerprint is empty".into()));
    }
    if alert.rule.is_empty() {
        return Err(StateError::BadInput("alert rule is empty".into()));
    }
    Ok(())
}

/// Applies the side effects of entering `to` to a record (no validation).
fn apply_state(rec: &mut AlertRecord, to: AlertState, actor: &str, notes: &str, at: i64) {
    rec.state = to;
    rec.updated_at = at;
    if !notes.is_empty() {
        rec.notes = notes.to_string();
    }
    match to {
        AlertState::Acknowledged => {
            rec.acknowledged_by = Some(actor.to_string());
            rec.acknowledged_at = Some(at);
        }
        AlertState::Resolved => {
            rec.resolved_by = Some(actor.to_string());
            rec.resolved_at = Some(at);
            rec.ended_at = Some(rec.ended_at.unwrap_or(at));
        }
        AlertState::Pending | AlertState::Firing => {}
    }
}

/// Inserts `a` unless its id exists; returns whether it was inserted. A second open alert
/// for the fingerprint fails on the unique index of open fingerprints (a conflict).
fn insert_new_row(conn: &Connection, a: &AlertRecord) -> Result<bool, StateError> {
    let n = write_row(
        conn,
        &format!(
            "INSERT INTO alerts ({COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17)
             ON CONFLICT (id) DO NOTHING"
        ),
        a,
    )?;
    Ok(n == 1)
}

fn update_row(conn: &Connection, a: &AlertRecord) -> Result<(), StateError> {
    write_row(
        conn,
        "UPDATE alerts SET fingerprint = ?2, rule = ?3, generator = ?4, labels = ?5, annotations = ?6, state = ?7,
             severity = ?8, value = ?9, starts_at = ?10, updated_at = ?11, ended_at = ?12, acknowledged_by = ?13,
             acknowledged_at = ?14, resolved_by = ?15, resolved_at = ?16, notes = ?17
         WHERE id = ?1",
        a,
    )?;
    Ok(())
}

/// Runs an insert or update whose parameters ?1…?17 are the alert's columns in
/// [`COLS`] order; returns the number of rows changed.
fn write_row(conn: &Connection, sql: &str, a: &AlertRecord) -> Result<usize, StateError> {
    Ok(conn.prepare_cached(sql)?.execute(params![
        a.id,
        a.fingerprint,
        a.rule,
        a.generator,
        to_json(&a.labels)?,
        to_json(&a.annotations)?,
        a.state.as_str(),
        a.severity,
        value_param(a.value),
        a.starts_at,
        a.updated_at,
        a.ended_at,
        a.acknowledged_by,
        a.acknowledged_at,
        a.resolved_by,
        a.resolved_at,
        a.notes,
    ])?)
}

fn record_transition(conn: &Connection, t: &Transition) -> Result<(), StateError> {
    conn.prepare_cached(
        "INSERT INTO alert_transitions (alert_id, at, from_state, to_state, actor, notes)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?
    .execute(params![
        t.alert_id,
        t.at,
        t.from.map(AlertState::as_str),
        t.to.as_str(),
        t.actor,
        t.notes
    ])?;
    Ok(())
}

fn conflict(id: &str, from: AlertState, to: AlertState) -> StateError {
    StateError::Conflict(format!("alert {id} cannot go from {from} to {to}"))
}

pub(super) fn upsert(
    conn: &Connection,
    alert: &AlertRecord,
    actor: &str,
    notes: &str,
) -> Result<UpsertOutcome, StateError> {
    validate(alert)?;
    // A new id (an alert starting to fire, the common case) is inserted without reading
    // first: the primary key tells a known id, the unique index of open fingerprints a
    // second open alert.
    let mut new = alert.clone();
    let at = new.updated_at;
    apply_state(&mut new, alert.state, actor, notes, at);
    let inserted = match insert_new_row(conn, &new) {
        Ok(i) => i,
        Err(e @ StateError::Conflict(_)) => {
            return Err(match active_by_fingerprint(conn, &alert.fingerprint)? {
                Some(other) => StateError::Conflict(format!(
                    "fingerprint {} already has an open alert {} ({})",
                    alert.fingerprint, other.id, other.state
                )),
                None => e,
            });
        }
        Err(e) => return Err(e),
    };
    let prev = if inserted {
        None
    } else {
        get(conn, &alert.id)?
    };
    match prev {
        None => {
            let rec = new;
            let t = Transition {
                alert_id: rec.id.clone(),
                at,
                from: None,
                to: rec.state,
                actor: actor.to_string(),
                notes: notes.to_string(),
            };
            record_transition(conn, &t)?;
            Ok(UpsertOutcome {
                record: rec,
                created: true,
                transition: Some(t),
            })
        }
        Some(prev) => {
            let mut rec = prev.clone();
            rec.fingerprint.clone_from(&alert.fingerprint);
            rec.rule.clone_from(&alert.rule);
            rec.generator.clone_from(&alert.generator);
            rec.labels.clone_from(&alert.labels);
            rec.annotations.clone_from(&alert.annotations);
            rec.severity.clone_from(&alert.severity);
            rec.value = alert.value;
            rec.updated_at = alert.updated_at.max(prev.updated_at);
            // An acknowledged alert is still firing: the evaluator re-reporting "firing" is
            // not a change of state.
            let unchanged = alert.state == prev.state
                || (prev.state == AlertState::Acknowledged && alert.state == AlertState::Firing);
            let mut transition = None;
            if !unchanged {
                if !prev.state.can_transition_to(alert.state) {
                    return Err(conflict(&prev.id, prev.state, alert.state));
                }
                let at = alert.updated_at;
                apply_state(&mut rec, alert.state, actor, notes, at);
                let t = Transition {
                    alert_id: rec.id.clone(),
                    at,
                    from: Some(prev.state),
                    to: alert.state,
                    actor: actor.to_string(),
                    notes: notes.to_string(),
                };
                record_transition(conn, &t)?;
                if matches!(alert.state, AlertState::Acknowledged | AlertState::Resolved) {
                    escalations::cancel(conn, &rec.id)?;
                }
                transition = Some(t);
            }
            update_row(conn, &rec)?;
            Ok(UpsertOutcome {
                record: rec,
                created: false,
                transition,
            })
        }
    }
}

pub(super) fn transition(
    conn: &Connection,
    id: &str,
    to: AlertState,
    actor: &str,
    notes: &str,
    at: i64,
) -> Result<(AlertRecord, Transition), StateError> {
    if actor.trim().is_empty() {
        return Err(StateError::BadInput("transition actor is empty".into()));
    }
    let mut rec = get(conn, id)?.ok_or_else(|| StateError::not_found("alert", id))?;
    let from = rec.state;
    if !from.can_transition_to(to) {
        return Err(conflict(id, from, to));
    }
    apply_state(&mut rec, to, actor, notes, at);
    update_row(conn, &rec)?;
    let t = Transition {
        alert_id: id.to_string(),
        at,
        from: Some(from),
        to,
        actor: actor.to_string(),
        notes: notes.to_string(),
    };
    record_transition(conn, &t)?;
    if matches!(to, AlertState::Acknowledged | AlertState::Resolved) {
        escalations::cancel(conn, id)?;
    }
    Ok((rec, t))
}

fn order_by(field: AlertSortField, dir: SortDirection) -> String {
    let d = match dir {
        SortDirection::Asc => "ASC",
        SortDirection::Desc => "DESC",
    };
    let key = match field {
        AlertSortField::StartsAt => format!("starts_at {d}"),
        AlertSortField::UpdatedAt => format!("updated_at {d}"),
        AlertSortField::Severity => format!(
            "CASE lower(severity) WHEN 'critical' THEN 4 WHEN 'error' THEN 3 WHEN 'high' THEN 3 \
             WHEN 'warning' THEN 2 WHEN 'info' THEN 1 ELSE 0 END {d}, severity {d}"
        ),
        AlertSortField::State => format!(
            "CASE state WHEN 'pending' THEN 0 WHEN 'firing' THEN 1 WHEN 'acknowledged' THEN 2 ELSE 3 END {d}"
        ),
        AlertSortField::Rule => format!("rule {d}"),
        AlertSortField::Value => format!("value {d}"),
    };
    format!("{key}, id {d}")
}

fn placeholders(n: usize) -> String {
    vec!["?"; n].join(", ")
}

/// Filters that SQL evaluates; label matchers and text search are applied to the decoded
/// rows (the row scan is linear in the alerts passing the SQL filters).
pub(super) fn list(
    conn: &Connection,
    q: &AlertQuery,
) -> Result<(Vec<AlertRecord>, u64), StateError> {
    let mut clauses: Vec<String> = Vec::new();
    let mut args: Vec<Value> = Vec::new();
    if !q.states.is_empty() {
        clauses.push(format!("state IN ({})", placeholders(q.states.len())));
        args.extend(q.states.iter().map(|s| Value::Text(s.as_str().to_string())));
    }
    if !q.severities.is_empty() {
        clauses.push(format!(
            "severity IN ({})",
            placeholders(q.severities.len())
        ));
        args.extend(q.severities.iter().map(|s| Value::Text(s.clone())));
    }
    if let Some(rule) = &q.rule {
        clauses.push("rule = ?".into());
        args.push(Value::Text(rule.clone()));
    }
    if let Some(since) = q.since {
        clauses.push("starts_at >= ?".into());
        args.push(Value::Integer(since));
    }
    if let Some(until) = q.until {
        clauses.push("starts_at < ?".into());
        args.push(Value::Integer(until));
    }
    let where_sql = if clauses.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", clauses.join(" AND "))
    };
    let order = order_by(q.sort, q.direction);
    let in_rust = !q.matchers.is_empty() || q.text.as_deref().is_some_and(|t| !t.trim().is_empty());

    if !in_rust {
        let total: i64 = conn.query_row(
            &format!("SELECT COUNT(*) FROM alerts {where_sql}"),
            params_from_iter(args.iter()),
            |r| r.get(0),
        )?;
        let mut page_args = args;
        page_args.push(Value::Integer(sql_int(q.limit)));
        page_args.push(Value::Integer(sql_int(q.offset)));
        let sql =
            format!("SELECT {COLS} FROM alerts {where_sql} ORDER BY {order} LIMIT ? OFFSET ?");
        let mut stmt = conn.prepare(&sql)?;
        let rows = stmt
            .query_map(params_from_iter(page_args.iter()), from_row)?
            .collect::<Result<Vec<_>, _>>()?;
        return Ok((rows, u64::try_from(total).unwrap_or(0)));
    }

    let sql = format!("SELECT {COLS} FROM alerts {where_sql} ORDER BY {order}");
    let mut stmt = conn.prepare(&sql)?;
    let mut rows = stmt.query(params_from_iter(args.iter()))?;
    let mut out = Vec::new();
    let mut total: u64 = 0;
    while let Some(row) = rows.next()? {
        let rec = from_row(row)?;
        if !q.matches_labels_and_text(&rec) {
            continue;
        }
        let pos = total;
        total += 1;
        if pos >= q.offset as u64 && out.len() < q.limit {
            out.push(rec);
        }
    }
    Ok((out, total))
}

pub(super) fn history(conn: &Connection, id: &str) -> Result<Vec<Transition>, StateError> {
    let exists: bool = conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM alerts WHERE id = ?1)",
        [id],
        |r| r.get(0),
    )?;
    if !exists {
        return Err(StateError::not_found("alert", id));
    }
    let mut stmt = conn.prepare_cached(
        "SELECT alert_id, at, from_state, to_state, actor, notes FROM alert_transitions
         WHERE alert_id = ?1 ORDER BY seq",
    )?;
    let rows = stmt
        .query_map([id], |r| {
            let from: Option<String> = r.get(2)?;
            Ok(Transition {
                alert_id: r.get(0)?,
                at: r.get(1)?,
                from: from.as_deref().map(|s| parse_state(2, s)).transpose()?,
                to: parse_state(3, &r.get::<_, String>(3)?)?,
                actor: r.get(4)?,
                notes: r.get(5)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

fn counts(conn: &Connection, sql: &str, args: &[Value]) -> Result<Vec<(String, u64)>, StateError> {
    let mut stmt = conn.prepare(sql)?;
    let rows = stmt
        .query_map(params_from_iter(args.iter()), |r| {
            Ok((
                r.get::<_, String>(0)?,
                u64::try_from(r.get::<_, i64>(1)?).unwrap_or(0),
            ))
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

pub(super) fn stats(conn: &Connection, since: i64, top: usize) -> Result<AlertStats, StateError> {
    let s = [Value::Integer(since)];
    let by_severity: BTreeMap<String, u64> = counts(
        conn,
        "SELECT severity, COUNT(*) FROM alerts WHERE starts_at >= ? GROUP BY severity",
        &s,
    )?
    .into_iter()
    .collect();
    let mut by_state: BTreeMap<String, u64> = AlertState::ALL
        .iter()
        .map(|st| (st.as_str().to_string(), 0))
        .collect();
    by_state.extend(counts(
        conn,
        "SELECT state, COUNT(*) FROM alerts WHERE starts_at >= ? GROUP BY state",
        &s,
    )?);
    let total = by_state.values().sum();
    let mean = |col: &str| -> Result<Option<f64>, StateError> {
        let ms: Option<f64> = conn.query_row(
            &format!("SELECT AVG({col} - starts_at) FROM alerts WHERE starts_at >= ?1 AND {col} IS NOT NULL"),
            [since],
            |r| r.get(0),
        )?;
        Ok(ms.map(|v| v / 1000.0))
    };
    let mtta_seconds = mean("acknowledged_at")?;
    let mttr_seconds = mean("resolved_at")?;
    let top_rules = counts(
        conn,
        "SELECT rule, COUNT(*) AS n FROM alerts WHERE starts_at >= ? GROUP BY rule ORDER BY n DESC, rule ASC LIMIT ?",
        &[Value::Integer(since), Value::Integer(sql_int(top))],
    )?;
    Ok(AlertStats {
        since,
        total,
        by_severity,
        by_state,
        mtta_seconds,
        mttr_seconds,
        top_rules,
    })
}

/// Runs `f` inside a savepoint of the current transaction: on `Err` its changes are rolled
/// back and the transaction goes on. The outer `Err` is a failure of the savepoint
/// statements themselves (the transaction is then unusable).
pub(super) fn in_savepoint<T>(
    conn: &Connection,
    f: impl FnOnce() -> Result<T, StateError>,
) -> Result<Result<T, StateError>, StateError> {
    conn.execute_batch("SAVEPOINT strix_batch_item")?;
    match f() {
        Ok(v) => {
            conn.execute_batch("RELEASE strix_batch_item")?;
            Ok(Ok(v))
        }
        Err(e) => {
            conn.execute_batch("ROLLBACK TO strix_batch_item; RELEASE strix_batch_item")?;
            Ok(Err(e))
        }
    }
}

fn write_one(conn: &Connection, w: &AlertWrite) -> Result<AlertWritten, StateError> {
    match w {
        AlertWrite::Upsert {
            alert,
            actor,
            notes,
        } => upsert(conn, alert, actor, notes).map(AlertWritten::Upserted),
        AlertWrite::Transition {
            id,
            to,
            actor,
            notes,
            at,
        } => transition(conn, id, *to, actor, notes, *at)
            .map(|(rec, _)| AlertWritten::Transitioned(rec)),
        AlertWrite::Escalation { escalation, now } => {
            escalations::upsert(conn, escalation, *now).map(|()| AlertWritten::Escalation)
        }
    }
}

/// The common case of a batch: every write succeeds. Stops at the first error (the
/// caller rolls the transaction back and uses [`write_batch`]): savepoints cost a
/// statement journal per write, which is most of a batch's time.
pub(super) fn write_batch_all(
    conn: &Connection,
    writes: &[AlertWrite],
) -> Result<Vec<Result<AlertWritten, StateError>>, StateError> {
    writes.iter().map(|w| write_one(conn, w).map(Ok)).collect()
}

/// Each write in its own savepoint: one that fails is rolled back alone.
pub(super) fn write_batch(
    conn: &Connection,
    writes: &[AlertWrite],
) -> Result<Vec<Result<AlertWritten, StateError>>, StateError> {
    let mut out = Vec::with_capacity(writes.len());
    for w in writes {
        let r = in_savepoint(conn, || write_one(conn, w))?;
        out.push(r);
    }
    Ok(out)
}

pub(super) fn active_by_fingerprints(
    conn: &Connection,
    fps: &[String],
) -> Result<std::collections::HashMap<String, AlertRecord>, StateError> {
    let mut out = std::collections::HashMap::new();
    for fp in fps {
        if let Some(a) = active_by_fingerprint(conn, fp)? {
            out.insert(fp.clone(), a);
        }
    }
    Ok(out)
}
