//! Rule evaluation state (pending/firing with `active_at`), so `for` survives restarts.

use rusqlite::{params, Connection};

use super::alerts::value_param;
use super::conv_err;
use crate::{AlertState, RuleStateRecord, StateError};

pub(super) fn save(conn: &Connection, states: &[RuleStateRecord]) -> Result<(), StateError> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO rule_states (rule_key, fingerprint, state, active_at, value, labels, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
         ON CONFLICT (rule_key, fingerprint) DO UPDATE SET state = excluded.state,
             active_at = excluded.active_at, value = excluded.value, labels = excluded.labels,
             updated_at = excluded.updated_at",
    )?;
    for s in states {
        if !matches!(s.state, AlertState::Pending | AlertState::Firing) {
            return Err(StateError::BadInput(format!(
                "rule state must be pending or firing, not {}",
                s.state
            )));
        }
        if s.rule_key.is_empty() || s.fingerprint.is_empty() {
            return Err(StateError::BadInput(
                "rule state needs a rule key and a fingerprint".into(),
            ));
        }
        let labels = serde_json::to_string(&s.labels).map_err(|e| {
            StateError::BadInput(format!("rule state labels cannot be encoded: {e}"))
        })?;
        stmt.execute(params![
            s.rule_key,
            s.fingerprint,
            s.state.as_str(),
            s.active_at,
            value_param(s.value),
            labels,
            s.updated_at
        ])?;
    }
    Ok(())
}

pub(super) fn load(conn: &Connection) -> Result<Vec<RuleStateRecord>, StateError> {
    let mut stmt = conn.prepare_cached(
        "SELECT rule_key, fingerprint, state, active_at, value, labels, updated_at FROM rule_states
         ORDER BY rule_key, fingerprint",
    )?;
    let rows = stmt
        .query_map([], |r| {
            Ok(RuleStateRecord {
                rule_key: r.get(0)?,
                fingerprint: r.get(1)?,
                state: r
                    .get::<_, String>(2)?
                    .parse::<AlertState>()
                    .map_err(|e| conv_err(2, e))?,
                active_at: r.get(3)?,
                value: r.get::<_, Option<f64>>(4)?.unwrap_or(f64::NAN),
                labels: serde_json::from_str(&r.get::<_, String>(5)?)
                    .map_err(|e| conv_err(5, e))?,
                updated_at: r.get(6)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(rows)
}

pub(super) fn delete(
    conn: &Connection,
    rule_key: &str,
    fingerprint: Option<&str>,
) -> Result<u64, StateError> {
    let n = match fingerprint {
        Some(fp) => conn
            .prepare_cached("DELETE FROM rule_states WHERE rule_key = ?1 AND fingerprint = ?2")?
            .execute(params![rule_key, fp])?,
        None => conn
            .prepare_cached("DELETE FROM rule_states WHERE rule_key = ?1")?
            .execute([rule_key])?,
    };
    Ok(n as u64)
}
