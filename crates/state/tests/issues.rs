//! Error-tracking issues and events against the SQLite store.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::json;
use strix_core::ErrorClass;
use strix_state::*;

fn store() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let s = SqliteStore::open(dir.path().join("state.db")).unwrap();
    (dir, s)
}

fn event(event_id: &str, hash: &str, ts: i64, user: Option<&str>) -> NewErrorEvent {
    NewErrorEvent {
        event_id: event_id.into(),
        hash: hash.into(),
        title: format!("ValueError: {hash}"),
        culprit: "app.views in handler".into(),
        level: "error".into(),
        timestamp: ts,
        category: "system".into(),
        severity: "medium".into(),
        priority: "P2".into(),
        assignee: Some("backend".into()),
        payload: json!({"event_id": event_id, "extra": {"password": "[Filtered]"}}),
        user_key: user.map(str::to_string),
    }
}

#[test]
fn groups_counts_users_and_retries() {
    let (_d, s) = store();
    let a = s
        .record_error_event(1, &event("e1", "h1", 1_000, Some("u1")), 1_010)
        .unwrap();
    assert!(a.created && !a.regressed && !a.duplicate);
    let b = s
        .record_error_event(1, &event("e2", "h1", 3_000, Some("u1")), 3_010)
        .unwrap();
    assert_eq!(b.issue_id, a.issue_id);
    assert!(!b.created);
    s.record_error_event(1, &event("e3", "h1", 2_000, Some("u2")), 3_020)
        .unwrap();
    // Retry of e2: nothing written.
    let retry = s
        .record_error_event(1, &event("e2", "h1", 3_000, Some("u3")), 4_000)
        .unwrap();
    assert!(retry.duplicate);
    assert_eq!(retry.issue_id, a.issue_id);
    // Another hash and another project make other issues.
    let other = s
        .record_error_event(1, &event("e4", "h2", 5_000, None), 5_000)
        .unwrap();
    assert!(other.created);
    assert_ne!(other.issue_id, a.issue_id);
    let p2 = s
        .record_error_event(2, &event("e1", "h1", 6_000, None), 6_000)
        .unwrap();
    assert!(p2.created && !p2.duplicate);

    let issue = s.get_error_issue(a.issue_id).unwrap().unwrap();
    assert_eq!(issue.count, 3);
    assert_eq!(issue.user_count, 2);
    assert_eq!(issue.first_seen, 1_000);
    assert_eq!(issue.last_seen, 3_000);
    assert_eq!(issue.status, IssueStatus::Unresolved);
    assert_eq!(issue.project_id, 1);
    assert_eq!(issue.assignee.as_deref(), Some("backend"));

    let (events, total) = s.list_error_events(a.issue_id, 0, 10).unwrap();
    assert_eq!(total, 3);
    let ids: Vec<_> = events.iter().map(|e| e.event_id.as_str()).collect();
    assert_eq!(ids, ["e2", "e3", "e1"]);
    assert_eq!(events[0].payload["extra"]["password"], "[Filtered]");
    let (page, _) = s.list_error_events(a.issue_id, 1, 1).unwrap();
    assert_eq!(page[0].event_id, "e3");

    assert!(s.get_error_issue(9_999).unwrap().is_none());
    assert_eq!(
        s.list_error_events(9_999, 0, 10).unwrap_err().class(),
        ErrorClass::NotFound
    );
}

#[test]
fn resolve_then_regress() {
    let (_d, s) = store();
    let id = s
        .record_error_event(1, &event("e1", "h1", 1_000, None), 1_000)
        .unwrap()
        .issue_id;
    let resolved = s
        .resolve_error_issue(id, "alice", "fixed in 1.2", 2_000)
        .unwrap();
    assert_eq!(resolved.status, IssueStatus::Resolved);
    assert_eq!(resolved.resolved_by.as_deref(), Some("alice"));
    assert_eq!(resolved.resolved_at, Some(2_000));
    assert_eq!(resolved.resolution_notes.as_deref(), Some("fixed in 1.2"));
    assert_eq!(
        s.resolve_error_issue(id, "bob", "", 2_500)
            .unwrap_err()
            .class(),
        ErrorClass::Conflict
    );
    assert_eq!(
        s.resolve_error_issue(42, "bob", "", 2_500)
            .unwrap_err()
            .class(),
        ErrorClass::NotFound
    );

    let again = s
        .record_error_event(1, &event("e2", "h1", 3_000, None), 3_000)
        .unwrap();
    assert!(again.regressed && !again.created);
    let issue = s.get_error_issue(id).unwrap().unwrap();
    assert_eq!(issue.status, IssueStatus::Regressed);
    assert_eq!(issue.count, 2);
    // A regressed issue stays regressed on further events.
    let third = s
        .record_error_event(1, &event("e3", "h1", 4_000, None), 4_000)
        .unwrap();
    assert!(!third.regressed);
    assert_eq!(
        s.get_error_issue(id).unwrap().unwrap().status,
        IssueStatus::Regressed
    );
    // And can be resolved again.
    s.resolve_error_issue(id, "bob", "really fixed", 5_000)
        .unwrap();
}

#[test]
fn list_filters_sorts_and_pages() {
    let (_d, s) = store();
    for (i, hash) in ["alpha", "beta", "gamma"].iter().enumerate() {
        for n in 0..=i {
            s.record_error_event(
                1,
                &event(&format!("{hash}-{n}"), hash, 1_000 * (i as i64 + 1), None),
                0,
            )
            .unwrap();
        }
    }
    let mut warn = event("w", "delta", 500, None);
    warn.level = "warning".into();
    warn.category = "performance".into();
    s.record_error_event(1, &warn, 0).unwrap();

    let (all, total) = s.list_error_issues(&ErrorIssueQuery::default()).unwrap();
    assert_eq!(total, 4);
    let hashes: Vec<_> = all.iter().map(|i| i.hash.as_str()).collect();
    assert_eq!(hashes, ["gamma", "beta", "alpha", "delta"]);

    let by_count = ErrorIssueQuery {
        sort: IssueSort::Count,
        limit: 2,
        ..Default::default()
    };
    let (page, total) = s.list_error_issues(&by_count).unwrap();
    assert_eq!(total, 4);
    assert_eq!(page.len(), 2);
    assert_eq!(page[0].hash, "gamma");
    assert_eq!(page[0].count, 3);

    let level = ErrorIssueQuery {
        level: Some("warning".into()),
        ..Default::default()
    };
    assert_eq!(s.list_error_issues(&level).unwrap().1, 1);
    let category = ErrorIssueQuery {
        category: Some("performance".into()),
        ..Default::default()
    };
    assert_eq!(s.list_error_issues(&category).unwrap().0[0].hash, "delta");
    let text = ErrorIssueQuery {
        text: Some("BETA".into()),
        ..Default::default()
    };
    let (found, n) = s.list_error_issues(&text).unwrap();
    assert_eq!((n, found[0].hash.as_str()), (1, "beta"));
    let pct = ErrorIssueQuery {
        text: Some("%".into()),
        ..Default::default()
    };
    assert_eq!(s.list_error_issues(&pct).unwrap().1, 0);

    let alpha = all.iter().find(|i| i.hash == "alpha").unwrap().id;
    s.resolve_error_issue(alpha, "alice", "", 9_000).unwrap();
    let open = ErrorIssueQuery {
        statuses: vec![IssueStatus::Unresolved, IssueStatus::Regressed],
        ..Default::default()
    };
    assert_eq!(s.list_error_issues(&open).unwrap().1, 3);
    let project2 = ErrorIssueQuery {
        project_id: Some(2),
        ..Default::default()
    };
    assert_eq!(s.list_error_issues(&project2).unwrap().1, 0);

    let too_many = ErrorIssueQuery {
        limit: MAX_LIST_LIMIT + 1,
        ..Default::default()
    };
    assert_eq!(
        s.list_error_issues(&too_many).unwrap_err().class(),
        ErrorClass::BadInput
    );
}

#[test]
fn survives_reopen_and_rejects_empty_ids() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let id = {
        let s = SqliteStore::open(&path).unwrap();
        assert_eq!(
            s.record_error_event(1, &event("", "h", 0, None), 0)
                .unwrap_err()
                .class(),
            ErrorClass::BadInput
        );
        s.record_error_event(1, &event("e1", "h", 0, None), 0)
            .unwrap()
            .issue_id
    };
    let s = SqliteStore::open(&path).unwrap();
    assert_eq!(s.schema_version().unwrap(), 2);
    assert_eq!(s.get_error_issue(id).unwrap().unwrap().count, 1);
}

#[test]
fn a_version_1_database_is_migrated_keeping_its_data() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    {
        let s = SqliteStore::open(&path).unwrap();
        s.enqueue(
            &OutboxItem {
                idempotency_key: "k".into(),
                receiver: "ops".into(),
                channel: "webhook".into(),
                payload: json!({}),
                not_before: 0,
            },
            1,
        )
        .unwrap();
    }
    // Turn it back into a version-1 database.
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(
            "DROP TABLE error_events; DROP TABLE error_issues; \
             DELETE FROM schema_version WHERE version = 2;",
        )
        .unwrap();
    }
    let s = SqliteStore::open(&path).unwrap();
    assert_eq!(s.schema_version().unwrap(), 2);
    assert!(s.get_outbox_entry(1).unwrap().is_some(), "v1 data kept");
    s.record_error_event(1, &event("e1", "h", 0, None), 0)
        .unwrap();
}
