//! Silences with Alertmanager's update semantics.

use rusqlite::{params, Connection, OptionalExtension, Row};

use super::conv_err;
use crate::silence::validate;
use crate::{Silence, SilenceInput, SilenceMatcher, SilenceState, StateError};

const COLS: &str = "id, matchers, starts_at, ends_at, updated_at, created_by, comment";

fn from_row(r: &Row<'_>, now: i64) -> rusqlite::Result<Silence> {
    let matchers: Vec<SilenceMatcher> =
        serde_json::from_str(&r.get::<_, String>(1)?).map_err(|e| conv_err(1, e))?;
    let (starts_at, ends_at): (i64, i64) = (r.get(2)?, r.get(3)?);
    Ok(Silence {
        id: r.get(0)?,
        matchers,
        starts_at,
        ends_at,
        updated_at: r.get(4)?,
        created_by: r.get(5)?,
        comment: r.get(6)?,
        state: SilenceState::at(starts_at, ends_at, now),
    })
}

pub(super) fn get(conn: &Connection, id: &str, now: i64) -> Result<Option<Silence>, StateError> {
    let sql = format!("SELECT {COLS} FROM silences WHERE id = ?1");
    Ok(conn
        .prepare_cached(&sql)?
        .query_row([id], |r| from_row(r, now))
        .optional()?)
}

pub(super) fn list(
    conn: &Connection,
    states: &[SilenceState],
    now: i64,
) -> Result<Vec<Silence>, StateError> {
    let sql = format!("SELECT {COLS} FROM silences ORDER BY starts_at DESC, id");
    let mut stmt = conn.prepare_cached(&sql)?;
    let all = stmt
        .query_map([], |r| from_row(r, now))?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(all
        .into_iter()
        .filter(|s| states.is_empty() || states.contains(&s.state))
        .collect())
}

/// Alertmanager's `canUpdate`: whether `prev` may be changed in place into `new`.
fn can_update(prev: &Silence, new: &SilenceInput, now: i64) -> bool {
    if prev.matchers != new.matchers {
        return false;
    }
    match prev.state {
        SilenceState::Active => new.starts_at == prev.starts_at && new.ends_at >= now,
        SilenceState::Pending => new.starts_at >= now,
        SilenceState::Expired => false,
    }
}

fn new_id() -> String {
    crate::alert::format_uuid(ulid::Ulid::new().0)
}

pub(super) fn upsert(
    conn: &Connection,
    input: &SilenceInput,
    now: i64,
) -> Result<String, StateError> {
    validate(input)?;
    let matchers = serde_json::to_string(&input.matchers)
        .map_err(|e| StateError::BadInput(format!("silence matchers cannot be encoded: {e}")))?;
    if let Some(id) = input.id.as_deref().filter(|id| !id.is_empty()) {
        let prev = get(conn, id, now)?.ok_or_else(|| StateError::not_found("silence", id))?;
        if can_update(&prev, input, now) {
            conn.prepare_cached(
                "UPDATE silences SET starts_at = ?2, ends_at = ?3, created_by = ?4, comment = ?5, updated_at = ?6
                 WHERE id = ?1",
            )?
            .execute(params![id, input.starts_at, input.ends_at, input.created_by, input.comment, now])?;
            return Ok(id.to_string());
        }
        if prev.state != SilenceState::Expired {
            expire_row(conn, &prev, now)?;
        }
    }
    if input.ends_at <= now {
        return Err(StateError::BadInput("silence endsAt is in the past".into()));
    }
    let id = new_id();
    conn.prepare_cached(
        "INSERT INTO silences (id, matchers, starts_at, ends_at, created_by, comment, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)",
    )?
    .execute(params![id, matchers, input.starts_at.max(now), input.ends_at, input.created_by, input.comment, now])?;
    Ok(id)
}

fn expire_row(conn: &Connection, s: &Silence, now: i64) -> Result<(), StateError> {
    let starts_at = if s.state == SilenceState::Pending {
        now
    } else {
        s.starts_at
    };
    conn.prepare_cached(
        "UPDATE silences SET starts_at = ?2, ends_at = ?3, updated_at = ?3 WHERE id = ?1",
    )?
    .execute(params![s.id, starts_at, now])?;
    Ok(())
}

pub(super) fn expire(conn: &Connection, id: &str, now: i64) -> Result<(), StateError> {
    let s = get(conn, id, now)?.ok_or_else(|| StateError::not_found("silence", id))?;
    if s.state == SilenceState::Expired {
        return Err(StateError::Conflict(format!(
            "silence {id} is already expired"
        )));
    }
    expire_row(conn, &s, now)
}
