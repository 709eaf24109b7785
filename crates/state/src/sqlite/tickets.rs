//! Resolution tickets of error issues and their timelines.

use rusqlite::{params, Connection, OptionalExtension, Transaction};

use super::issues;
use crate::{
    ErrorTicket, IssueChange, IssueStatus, StateError, TicketOutcome, TicketStatus, TicketStep,
    TicketUpdate,
};

pub(super) fn get(conn: &Connection, issue_id: i64) -> Result<Option<ErrorTicket>, StateError> {
    type Row = (String, Option<String>, String, i64, i64, Option<i64>);
    let row: Option<Row> = conn
        .prepare_cached(
            "SELECT status, assignee, created_by, created_at, updated_at, resolved_at \
             FROM error_tickets WHERE issue_id = ?1",
        )?
        .query_row([issue_id], |r| Row::try_from(r))
        .optional()?;
    let Some((status, assignee, created_by, created_at, updated_at, resolved_at)) = row else {
        return Ok(None);
    };
    let steps = conn
        .prepare_cached(
            "SELECT id, action, description, author, at FROM error_ticket_steps \
             WHERE issue_id = ?1 ORDER BY id",
        )?
        .query_map([issue_id], |r| {
            Ok(TicketStep {
                id: r.get(0)?,
                action: r.get(1)?,
                description: r.get(2)?,
                author: r.get(3)?,
                at: r.get(4)?,
            })
        })?
        .collect::<Result<Vec<_>, _>>()?;
    Ok(Some(ErrorTicket {
        issue_id,
        status: TicketStatus::parse(&status)?,
        assignee,
        created_by,
        created_at,
        updated_at,
        resolved_at,
        steps,
    }))
}

fn step(
    tx: &Transaction<'_>,
    issue_id: i64,
    action: &str,
    description: &str,
    author: &str,
    at: i64,
) -> Result<(), StateError> {
    tx.prepare_cached(
        "INSERT INTO error_ticket_steps (issue_id, action, description, author, at) \
         VALUES (?1, ?2, ?3, ?4, ?5)",
    )?
    .execute(params![issue_id, action, description, author, at])?;
    tx.prepare_cached("UPDATE error_tickets SET updated_at = ?2 WHERE issue_id = ?1")?
        .execute(params![issue_id, at])?;
    Ok(())
}

/// Records an issue change in its ticket's timeline, when it has a ticket.
pub(super) fn note_if_open(
    tx: &Transaction<'_>,
    issue_id: i64,
    action: &str,
    description: &str,
    author: &str,
    at: i64,
) -> Result<(), StateError> {
    if get(tx, issue_id)?.is_some() {
        step(tx, issue_id, action, description, author, at)?;
    }
    Ok(())
}

/// A regression reopens a finished ticket.
pub(super) fn reopen(tx: &Transaction<'_>, issue_id: i64, at: i64) -> Result<(), StateError> {
    let done = tx
        .prepare_cached(
            "UPDATE error_tickets SET status = 'open', updated_at = ?2 \
             WHERE issue_id = ?1 AND status IN ('resolved', 'closed')",
        )?
        .execute(params![issue_id, at])?;
    if done > 0 {
        step(
            tx,
            issue_id,
            "regressed",
            "the issue happened again after it was resolved; ticket reopened",
            crate::SYSTEM_ACTOR,
            at,
        )?;
    }
    Ok(())
}

/// Creates the issue's ticket if needed and applies `u`; a resolved or closed status
/// resolves the issue too.
pub(super) fn update(
    tx: &Transaction<'_>,
    issue_id: i64,
    u: &TicketUpdate,
    at: i64,
) -> Result<TicketOutcome, StateError> {
    let issue = issues::get(tx, issue_id)?
        .ok_or_else(|| StateError::not_found("error issue", issue_id.to_string()))?;
    if u.author.trim().is_empty() {
        return Err(StateError::BadInput(
            "a ticket change needs an author".into(),
        ));
    }
    let existing = get(tx, issue_id)?;
    let before = match &existing {
        Some(t) => t.status,
        None => {
            let assignee = match &u.assignee {
                Some(a) => a.clone(),
                None => issue.assignee.clone(),
            };
            tx.prepare_cached(
                "INSERT INTO error_tickets (issue_id, status, assignee, created_by, created_at, \
                 updated_at) VALUES (?1, 'open', ?2, ?3, ?4, ?4)",
            )?
            .execute(params![issue_id, assignee, u.author, at])?;
            step(
                tx,
                issue_id,
                "created",
                &format!("ticket opened for \"{}\"", issue.title),
                &u.author,
                at,
            )?;
            TicketStatus::Open
        }
    };
    if let Some(a) = &u.assignee {
        let changed = existing.as_ref().is_some_and(|t| &t.assignee != a);
        if changed {
            tx.prepare_cached("UPDATE error_tickets SET assignee = ?2 WHERE issue_id = ?1")?
                .execute(params![issue_id, a])?;
            step(
                tx,
                issue_id,
                "assigned",
                a.as_deref().unwrap_or("unassigned"),
                &u.author,
                at,
            )?;
        }
    }
    let mut resolved_issue = false;
    if let Some(status) = u.status.filter(|s| *s != before) {
        tx.prepare_cached(
            "UPDATE error_tickets SET status = ?2, resolved_at = CASE WHEN ?3 THEN ?4 \
             ELSE resolved_at END WHERE issue_id = ?1",
        )?
        .execute(params![issue_id, status.as_str(), status.is_done(), at])?;
        step(
            tx,
            issue_id,
            "status",
            &format!("{} → {}", before.as_str(), status.as_str()),
            &u.author,
            at,
        )?;
        if status.is_done() && issue.status != IssueStatus::Resolved {
            issues::change(
                tx,
                issue_id,
                &IssueChange::Resolve {
                    operator: u.author.clone(),
                    notes: u
                        .note
                        .clone()
                        .unwrap_or_else(|| format!("ticket {}", status.as_str())),
                },
                at,
            )?;
            resolved_issue = true;
        }
    }
    if let Some(note) = u.note.as_deref().filter(|n| !n.trim().is_empty()) {
        step(tx, issue_id, "note", note, &u.author, at)?;
    }
    let ticket = get(tx, issue_id)?
        .ok_or_else(|| StateError::not_found("error ticket", issue_id.to_string()))?;
    let issue = issues::get(tx, issue_id)?
        .ok_or_else(|| StateError::not_found("error issue", issue_id.to_string()))?;
    Ok(TicketOutcome {
        ticket,
        issue,
        resolved_issue,
    })
}

/// Appends a step to the issue's ticket, creating the ticket if needed.
pub(super) fn add_step(
    tx: &Transaction<'_>,
    issue_id: i64,
    action: &str,
    description: &str,
    author: &str,
    at: i64,
) -> Result<ErrorTicket, StateError> {
    if action.trim().is_empty() || author.trim().is_empty() {
        return Err(StateError::BadInput(
            "a ticket step needs an action and an author".into(),
        ));
    }
    if get(tx, issue_id)?.is_none() {
        update(
            tx,
            issue_id,
            &TicketUpdate {
                author: author.to_string(),
                ..TicketUpdate::default()
            },
            at,
        )?;
    }
    step(tx, issue_id, action, description, author, at)?;
    get(tx, issue_id)?.ok_or_else(|| StateError::not_found("error ticket", issue_id.to_string()))
}
