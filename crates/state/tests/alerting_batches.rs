#![allow(clippy::expect_used, clippy::unwrap_used)]
//! Batched writes of the alerting pipeline: many alert writes, outbox entries and
//! delivery outcomes in one transaction, each failing alone.

use strix_state::{
    AlertRecord, AlertState, AlertWrite, AlertWritten, DeliveryOutcome, DeliveryStatus, Escalation,
    OutboxItem, OutboxStatus, SqliteStore, StateError, StateStore, SYSTEM_ACTOR,
};

fn store() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let s = SqliteStore::open(dir.path().join("state.db")).unwrap();
    (dir, s)
}

fn item(key: &str) -> OutboxItem {
    OutboxItem {
        idempotency_key: key.into(),
        receiver: "hook".into(),
        channel: "webhook".into(),
        payload: serde_json::json!({"k": key}).to_string(),
        not_before: 1_000,
    }
}

#[test]
fn alert_writes_apply_in_order_and_fail_alone() {
    let (_d, s) = store();
    let a = AlertRecord::new("00000000000000a1", "A", AlertState::Firing, 1_000);
    // Same fingerprint, other start: a second open alert for the fingerprint conflicts.
    let dup = AlertRecord::new("00000000000000a1", "A", AlertState::Firing, 2_000);
    let writes = vec![
        AlertWrite::Upsert {
            alert: a.clone(),
            actor: SYSTEM_ACTOR.into(),
            notes: String::new(),
        },
        AlertWrite::Upsert {
            alert: dup,
            actor: SYSTEM_ACTOR.into(),
            notes: String::new(),
        },
        AlertWrite::Escalation {
            escalation: Escalation {
                alert_id: a.id.clone(),
                policy: "critical".into(),
                level: 0,
                repeat: 0,
                next_at: 5_000,
            },
            now: 1_000,
        },
        AlertWrite::Transition {
            id: "nope".into(),
            to: AlertState::Resolved,
            actor: SYSTEM_ACTOR.into(),
            notes: String::new(),
            at: 1_500,
        },
        AlertWrite::Transition {
            id: a.id.clone(),
            to: AlertState::Acknowledged,
            actor: "alice".into(),
            notes: "mine".into(),
            at: 1_600,
        },
    ];
    let out = s.write_alerts(&writes).unwrap();
    assert_eq!(out.len(), 5);
    assert!(matches!(&out[0], Ok(AlertWritten::Upserted(o)) if o.created));
    assert!(
        matches!(&out[1], Err(StateError::Conflict(_))),
        "{:?}",
        out[1]
    );
    assert!(matches!(&out[2], Ok(AlertWritten::Escalation)));
    assert!(
        matches!(&out[3], Err(StateError::NotFound { .. })),
        "{:?}",
        out[3]
    );
    assert!(
        matches!(&out[4], Ok(AlertWritten::Transitioned(r)) if r.state == AlertState::Acknowledged)
    );
    let rec = s.get_alert(&a.id).unwrap().unwrap();
    assert_eq!(rec.state, AlertState::Acknowledged);
    // Acknowledging in the batch cancelled the timer set earlier in the same batch.
    assert_eq!(s.get_escalation(&a.id).unwrap(), None);
    assert_eq!(s.history(&a.id).unwrap().len(), 2);
}

#[test]
fn outbox_batches_enqueue_page_and_record() {
    let (_d, s) = store();
    let items: Vec<OutboxItem> = (0..5).map(|i| item(&format!("k{i}"))).collect();
    let first = s.enqueue_batch(&items, 1_000).unwrap();
    assert!(first.iter().all(|e| e.created));
    // Enqueuing the same keys again creates nothing and returns the same ids.
    let again = s.enqueue_batch(&items, 2_000).unwrap();
    assert!(again.iter().all(|e| !e.created));
    assert_eq!(
        first.iter().map(|e| e.id).collect::<Vec<_>>(),
        again.iter().map(|e| e.id).collect::<Vec<_>>()
    );
    // A bad item fails the whole batch: nothing of it is written.
    let bad = vec![item("k9"), item("")];
    assert!(matches!(
        s.enqueue_batch(&bad, 1_000),
        Err(StateError::BadInput(_))
    ));
    assert_eq!(s.pending_outbox(0, 100).unwrap().len(), 5);
    // Paging by id.
    let page = s.pending_outbox(first[1].id, 2).unwrap();
    assert_eq!(
        page.iter().map(|e| e.id).collect::<Vec<_>>(),
        vec![first[2].id, first[3].id]
    );
    let ids: Vec<i64> = first.iter().map(|e| e.id).collect();
    let outcomes = vec![
        DeliveryOutcome::Delivered {
            id: ids[0],
            at: 3_000,
            response: "status 200".into(),
        },
        DeliveryOutcome::Failed {
            id: ids[1],
            attempt: 1,
            next_attempt_at: 9_000,
            error: "HTTP 500".into(),
            at: 3_000,
        },
        DeliveryOutcome::GaveUp {
            id: ids[2],
            error: "HTTP 400".into(),
            at: 3_000,
        },
        // Already delivered: conflicts alone.
        DeliveryOutcome::Delivered {
            id: ids[0],
            at: 3_001,
            response: "again".into(),
        },
        DeliveryOutcome::Delivered {
            id: ids[3],
            at: 3_002,
            response: "status 202".into(),
        },
    ];
    let res = s.record_deliveries(&outcomes).unwrap();
    assert!(res[0].is_ok() && res[1].is_ok() && res[2].is_ok() && res[4].is_ok());
    assert!(matches!(res[3], Err(StateError::Conflict(_))));
    let get = |id| s.get_outbox_entry(id).unwrap().unwrap();
    assert_eq!(get(ids[0]).status, OutboxStatus::Delivered);
    assert_eq!(get(ids[0]).response.as_deref(), Some("status 200"));
    assert_eq!(get(ids[1]).status, OutboxStatus::Pending);
    assert_eq!(get(ids[1]).attempts, 1);
    assert_eq!(get(ids[1]).next_attempt_at, 9_000);
    assert_eq!(get(ids[2]).status, OutboxStatus::Abandoned);
    assert_eq!(get(ids[3]).status, OutboxStatus::Delivered);
    let pending: Vec<i64> = s
        .pending_outbox(0, 100)
        .unwrap()
        .iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(pending, vec![ids[1], ids[4]]);
    let (log, total) = s.delivery_log(&Default::default()).unwrap();
    assert_eq!(total, 4);
    assert_eq!(
        log.iter()
            .filter(|l| l.status == DeliveryStatus::Failed)
            .count(),
        1
    );
}
