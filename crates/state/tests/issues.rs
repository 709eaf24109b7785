//! Error-tracking issues and events against the SQLite store.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use serde_json::json;
use strix_core::ErrorClass;
use strix_state::*;

/// SQLite's plan for `sql` with `params`, its steps joined by "; ".
fn query_plan(conn: &rusqlite::Connection, sql: &str, params: impl rusqlite::Params) -> String {
    conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
        .unwrap()
        .query_map(params, |r| r.get::<_, String>(3))
        .unwrap()
        .collect::<Result<Vec<_>, _>>()
        .unwrap()
        .join("; ")
}

/// The first column of `sql`'s rows, as text.
fn strings(conn: &rusqlite::Connection, sql: &str) -> Vec<String> {
    conn.prepare(sql)
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap()
}

/// Turns the event-id index of version 12 back into the one before it.
const BEFORE_V12: &str = "DROP INDEX error_events_project_time_event; \
     DROP INDEX error_events_project_event_at_arrival; \
     ALTER TABLE error_events DROP COLUMN filed_at_arrival; \
     CREATE UNIQUE INDEX error_events_project_event ON error_events (project_id, event_id);";

/// Runs `downgrade` (SQL, in order, that turns the file back into an older schema) on
/// the database at `path`, then opens it as the server does: migrated to the current
/// schema.
fn reopened_after(path: &std::path::Path, downgrade: &[&str]) -> SqliteStore {
    let conn = rusqlite::Connection::open(path).unwrap();
    for sql in downgrade {
        conn.execute_batch(sql).unwrap();
    }
    drop(conn);
    let s = SqliteStore::open(path).unwrap();
    assert_eq!(
        s.schema_version().unwrap(),
        strix_state::sqlite::SCHEMA_VERSION
    );
    s
}

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
        filed_at_arrival: false,
        category: "system".into(),
        severity: "medium".into(),
        priority: "P2".into(),
        assignee: Some("backend".into()),
        payload: ErrorPayload::from_value(
            &json!({"event_id": event_id, "extra": {"password": "[Filtered]"}}),
        ),
        user_key: user.map(str::to_string),
        component: "api".into(),
        environment: Some("production".into()),
        release: Some("web@1.0".into()),
    }
}

/// Records `ev` and says whether it was recognised as a retry of a stored event.
fn is_retry(s: &SqliteStore, project: u64, ev: &NewErrorEvent, received: i64) -> bool {
    s.record_error_event(project, ev, received)
        .unwrap()
        .duplicate
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
fn retries_are_found_by_timestamp_and_id_or_by_id_when_filed_at_arrival() {
    let (d, s) = store();
    let at_arrival = |id: &str, ts: i64| NewErrorEvent {
        filed_at_arrival: true,
        ..event(id, "h", ts, None)
    };
    // Filed under the SDK's timestamp: the retry carries the same one.
    let a = s
        .record_error_event(1, &event("a", "h", 1_000, None), 1_500)
        .unwrap();
    let retry = s
        .record_error_event(1, &event("a", "h", 1_000, None), 9_000)
        .unwrap();
    assert!(retry.duplicate);
    assert_eq!(retry.issue_id, a.issue_id);
    // Filed under its arrival time (no usable timestamp): the retry arrives later and is
    // filed under that time, so only the event id finds the first.
    s.record_error_event(1, &at_arrival("b", 2_000), 2_000)
        .unwrap();
    assert!(is_retry(&s, 1, &at_arrival("b", 9_500), 9_500));
    // A first copy filed at arrival (its timestamp then too far ahead) is found by a
    // retry filed under the SDK's timestamp.
    s.record_error_event(1, &at_arrival("c", 3_000), 3_000)
        .unwrap();
    assert!(is_retry(&s, 1, &event("c", "h", 70_000, None), 20_000));
    // An SDK timestamp that happens to equal the arrival time is not filed at arrival.
    s.record_error_event(1, &event("d", "h", 4_000, None), 4_000)
        .unwrap();
    // The same ids in another project are other events.
    assert!(!is_retry(&s, 2, &event("a", "h", 1_000, None), 9_000));
    assert_eq!(s.get_error_issue(a.issue_id).unwrap().unwrap().count, 4);

    let conn = rusqlite::Connection::open(d.path().join("state.db")).unwrap();
    let by_time = query_plan(
        &conn,
        "SELECT issue_id FROM error_events WHERE project_id = ?1 AND timestamp = ?2 AND event_id = ?3",
        rusqlite::params![1, 1_000, "a"],
    );
    assert!(
        by_time.contains("USING INDEX error_events_project_time_event (project_id=? AND timestamp=? AND event_id=?)"),
        "{by_time}"
    );
    let by_id = query_plan(
        &conn,
        "SELECT issue_id FROM error_events WHERE project_id = ?1 AND event_id = ?2 AND filed_at_arrival = 1",
        rusqlite::params![1, "a"],
    );
    assert!(
        by_id.contains(
            "USING INDEX error_events_project_event_at_arrival (project_id=? AND event_id=?)"
        ),
        "{by_id}"
    );
    let in_partial: Vec<String> = strings(
        &conn,
        "SELECT event_id FROM error_events INDEXED BY error_events_project_event_at_arrival \
             WHERE project_id = 1 AND event_id IN ('a', 'b', 'c', 'd') AND filed_at_arrival = 1 \
             ORDER BY event_id",
    );
    assert_eq!(
        in_partial,
        ["b", "c"],
        "only events filed at arrival are in the partial index"
    );
}

#[test]
fn the_time_ordered_event_id_index_is_built_from_a_version_11_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    {
        let s = SqliteStore::open(&path).unwrap();
        // Filed at arrival (timestamp = received), and under the SDK's timestamp.
        s.record_error_event(1, &event("a", "h", 2_000, None), 2_000)
            .unwrap();
        s.record_error_event(1, &event("b", "h", 1_000, None), 2_500)
            .unwrap();
    }
    let s = reopened_after(
        &path,
        &[BEFORE_V12, "DELETE FROM schema_version WHERE version > 11;"],
    );
    // Rows whose timestamp is their arrival time are taken as filed at arrival, so their
    // retries (arriving later, filed then) are found; the others by their timestamp.
    assert!(is_retry(&s, 1, &event("a", "h", 9_000, None), 9_000));
    assert!(is_retry(&s, 1, &event("b", "h", 1_000, None), 9_500));
    let conn = rusqlite::Connection::open(&path).unwrap();
    let marked: Vec<String> = strings(
        &conn,
        "SELECT event_id FROM error_events WHERE filed_at_arrival = 1",
    );
    assert_eq!(marked, ["a"]);
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
    assert_eq!(
        s.schema_version().unwrap(),
        strix_state::sqlite::SCHEMA_VERSION
    );
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
                payload: json!({}).to_string(),
                not_before: 0,
            },
            1,
        )
        .unwrap();
    }
    // Turn it back into a version-1 database.
    let s = reopened_after(
        &path,
        &[
            "DROP TABLE error_ticket_steps; DROP TABLE error_tickets; DROP TABLE error_counts; \
         DROP TABLE error_issue_tags; DROP TABLE error_issue_users; \
         DROP TABLE error_events; DROP TABLE error_issues; \
         DROP TABLE IF EXISTS check_changes; DROP TABLE IF EXISTS projects; \
         DROP TABLE IF EXISTS check_definitions; \
         DELETE FROM schema_version WHERE version > 1;",
        ],
    );
    assert!(s.get_outbox_entry(1).unwrap().is_some(), "v1 data kept");
    s.record_error_event(1, &event("e1", "h", 0, None), 0)
        .unwrap();
}

fn batch(project_id: u64, received: i64, events: Vec<NewErrorEvent>) -> ErrorEventBatch {
    ErrorEventBatch {
        project_id,
        received,
        events,
    }
}

#[test]
fn a_batch_stores_good_requests_and_rolls_back_a_bad_one_alone() {
    let (_d, s) = store();
    let mut bad = event("x2", "h1", 2, None);
    bad.hash = String::new();
    let out = s
        .record_error_batch(
            &[
                batch(1, 10, vec![event("a1", "h1", 1, None)]),
                // Second request: its first event is fine, its second is not -> neither stored.
                batch(1, 11, vec![event("x1", "h9", 1, None), bad]),
                batch(1, 12, vec![event("a2", "h1", 3, None)]),
            ],
            &EventRetention::default(),
        )
        .unwrap();
    assert_eq!(out.len(), 3);
    assert!(out[0].is_ok() && out[2].is_ok());
    assert_eq!(out[1].as_ref().unwrap_err().class(), ErrorClass::BadInput);
    let (issues, total) = s.list_error_issues(&ErrorIssueQuery::default()).unwrap();
    assert_eq!(
        total, 1,
        "the half-valid request left nothing behind: {issues:?}"
    );
    assert_eq!(issues[0].count, 2);
    assert_eq!(out[2].as_ref().unwrap()[0].count, 2);
}

#[test]
fn events_beyond_the_cap_keep_first_latest_and_power_of_two_samples() {
    let (_d, s) = store();
    let retention = EventRetention {
        keep_first: 3,
        max_per_issue: 10,
    };
    for i in 1..=100i64 {
        s.record_error_batch(
            &[batch(1, i, vec![event(&format!("e{i}"), "h", i, None)])],
            &retention,
        )
        .unwrap()
        .pop()
        .unwrap()
        .unwrap();
    }
    let issue = &s.list_error_issues(&ErrorIssueQuery::default()).unwrap().0[0];
    assert_eq!(issue.count, 100, "every event is counted");
    let (evs, total) = s.list_error_events(issue.id, 0, 500).unwrap();
    let times = s.error_event_times(issue.id, 500).unwrap();
    assert_eq!(times.len(), evs.len());
    assert_eq!(times[0], 100, "newest first");
    assert_eq!(total, issue.stored_events);
    let mut ids: Vec<i64> = evs.iter().map(|e| e.timestamp).collect();
    ids.sort_unstable();
    // First 3, then powers of two beyond them, then the latest ones.
    for must in [1, 2, 3, 4, 8, 16, 32, 64, 100, 99, 98] {
        assert!(ids.contains(&must), "event {must} kept: {ids:?}");
    }
    assert!(!ids.contains(&50), "a middle event is thinned: {ids:?}");
    assert!(ids.len() <= 10 + 7, "bounded: {ids:?}");
    // Counts per minute still see all 100.
    let counts = s.error_counts(0, 60_000, 1, None, None).unwrap();
    assert_eq!(counts, vec![100]);
}

#[test]
fn thinning_waits_for_an_issues_slack_or_a_bulk_of_all_issues_owing() {
    let (_d, s) = store();
    // Cap 64: an issue may keep up to 7 events beyond it and its power-of-two samples.
    let retention = EventRetention {
        keep_first: 3,
        max_per_issue: 64,
    };
    let kept = |count: u64| 64 + u64::from(64 - count.leading_zeros());
    let issues = || -> std::collections::HashMap<String, ErrorIssue> {
        s.list_error_issues(&ErrorIssueQuery {
            limit: 1000,
            ..ErrorIssueQuery::default()
        })
        .unwrap()
        .0
        .into_iter()
        .map(|i| (i.title.clone(), i))
        .collect()
    };
    let mut n = 0i64;
    let mut send = |hashes: &[String]| {
        let reqs: Vec<ErrorEventBatch> = hashes
            .iter()
            .map(|h| {
                n += 1;
                batch(1, n, vec![event(&format!("e{n}"), h, n, None)])
            })
            .collect();
        for r in s.record_error_batch(&reqs, &retention).unwrap() {
            r.unwrap();
        }
    };
    // One issue alone: it owes up to 7, and at 8 it is thinned back to cap and samples.
    let solo = ["solo".to_string()];
    let mut thinned = 0;
    for _ in 0..200 {
        send(&solo);
        let i = &issues()["ValueError: solo"];
        assert!(
            i.stored_events < kept(i.count) + 8,
            "{} of {}",
            i.stored_events,
            i.count
        );
        if i.stored_events == kept(i.count) && i.count > kept(i.count) {
            thinned += 1;
        }
        let (_, total) = s.list_error_events(i.id, 0, 1).unwrap();
        assert_eq!(total, i.stored_events);
    }
    assert!(thinned > 0);
    let solo_events = s
        .list_error_events(issues()["ValueError: solo"].id, 0, 500)
        .unwrap()
        .0;
    let times: Vec<i64> = solo_events.iter().map(|e| e.timestamp).collect();
    for must in [1, 2, 3, 4, 8, 16, 32, 64, 128] {
        assert!(times.contains(&must), "event {must} kept: {times:?}");
    }
    assert!(times.windows(2).all(|w| w[0] > w[1]));
    assert_eq!(times[0], 200, "the latest kept");

    // 150 issues owing 6 each (900), and one more owing 7 that then gets no more events:
    // under the bulk of 1,024 nothing is thinned...
    let many: Vec<String> = (0..150).map(|i| format!("m{i}")).collect();
    let idle = ["idle".to_string()];
    for _ in 0..78 {
        send(&idle);
    }
    for _ in 0..77 {
        send(&many);
    }
    let before = issues();
    assert_eq!(before["ValueError: idle"].stored_events, 78);
    assert!(many
        .iter()
        .all(|h| before[&format!("ValueError: {h}")].stored_events == 77));
    // ...and one more round brings the debt past it: every issue owing is thinned in that
    // commit, the idle one too.
    send(&many);
    let after = issues();
    for (title, i) in after.iter().filter(|(t, _)| *t != "ValueError: solo") {
        assert_eq!(i.stored_events, kept(i.count), "{title}");
        let (_, total) = s.list_error_events(i.id, 0, 1).unwrap();
        assert_eq!(total, i.stored_events, "{title}");
    }
}

#[test]
fn one_per_issue_index_serves_event_order_and_thinning() {
    let (d, s) = store();
    // Out-of-order timestamps: the list is by event time, not arrival.
    for (i, ts) in [(1, 50), (2, 10), (3, 40), (4, 30), (5, 20)] {
        s.record_error_event(1, &event(&format!("e{i}"), "h", ts, None), i)
            .unwrap();
    }
    let id = s.list_error_issues(&ErrorIssueQuery::default()).unwrap().0[0].id;
    let page = |offset, limit| -> Vec<i64> {
        let (evs, total) = s.list_error_events(id, offset, limit).unwrap();
        assert_eq!(total, 5);
        evs.iter().map(|e| e.timestamp).collect()
    };
    assert_eq!(page(0, 10), vec![50, 40, 30, 20, 10]);
    assert_eq!(page(1, 2), vec![40, 30]);
    assert_eq!(s.error_event_times(id, 3).unwrap(), vec![50, 40, 30]);

    let conn = rusqlite::Connection::open(d.path().join("state.db")).unwrap();
    let indexes: Vec<String> = strings(
        &conn,
        "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'error_events' \
             AND sql IS NOT NULL ORDER BY name",
    );
    assert_eq!(
        indexes,
        [
            "error_events_issue_seq_time",
            "error_events_project_event_at_arrival",
            "error_events_project_time_event",
            "error_events_received"
        ],
        "one per-issue index for every stored event"
    );
    let plan = |sql: &str| query_plan(&conn, sql, [id]);
    for sql in [
        "SELECT id FROM error_events WHERE issue_id = ?1 ORDER BY timestamp DESC, id DESC LIMIT 10",
        "SELECT id FROM error_events WHERE issue_id = ?1 AND seq > 3 AND (seq & (seq - 1)) <> 0 \
         ORDER BY seq LIMIT 10",
        "SELECT COUNT(*) FROM error_events WHERE issue_id = ?1",
    ] {
        let p = plan(sql);
        assert!(
            p.contains("COVERING INDEX error_events_issue_seq_time"),
            "{sql}: {p}"
        );
    }
}

#[test]
fn per_minute_counts_are_keyed_by_minute_and_survive_the_migration() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let (a, b) = {
        let s = SqliteStore::open(&path).unwrap();
        let a = s
            .record_error_event(1, &event("a1", "ha", 1_000, None), 60_000)
            .unwrap()
            .issue_id;
        s.record_error_event(1, &event("a2", "ha", 2_000, None), 61_000)
            .unwrap();
        let b = s
            .record_error_event(1, &event("b1", "hb", 3_000, None), 125_000)
            .unwrap()
            .issue_id;
        (a, b)
    };
    // Back to version 9: counts keyed (issue_id, minute), indexed by minute.
    let s = reopened_after(
        &path,
        &[
            BEFORE_V12,
            "CREATE TABLE old_counts (issue_id INTEGER NOT NULL REFERENCES error_issues (id) \
             ON DELETE CASCADE, minute INTEGER NOT NULL, n INTEGER NOT NULL, \
             PRIMARY KEY (issue_id, minute)) WITHOUT ROWID; \
         INSERT INTO old_counts SELECT issue_id, minute, n FROM error_counts; \
         DROP TABLE error_counts; \
         ALTER TABLE old_counts RENAME TO error_counts; \
         CREATE INDEX error_counts_minute ON error_counts (minute); \
         DELETE FROM schema_version WHERE version > 9;",
        ],
    );
    let minutes = |issue| s.error_counts(0, 60_000, 3, None, issue).unwrap();
    assert_eq!(minutes(None), vec![0, 2, 1], "counts kept");
    assert_eq!(minutes(Some(a)), vec![0, 2, 0]);
    assert_eq!(minutes(Some(b)), vec![0, 0, 1]);
    // Writing goes on into the new table: an existing minute row and a new one.
    s.record_error_event(1, &event("a3", "ha", 4_000, None), 62_000)
        .unwrap();
    s.record_error_event(1, &event("b2", "hb", 5_000, None), 150_000)
        .unwrap();
    assert_eq!(minutes(Some(a)), vec![0, 3, 0]);
    assert_eq!(minutes(Some(b)), vec![0, 0, 2]);
    assert_eq!(minutes(None), vec![0, 3, 2]);

    let conn = rusqlite::Connection::open(&path).unwrap();
    let plan = |sql: &str| query_plan(&conn, sql, []);
    let p = plan("SELECT minute, n FROM error_counts WHERE minute >= 1 AND minute < 3");
    assert!(
        p.contains("USING PRIMARY KEY (minute>? AND minute<?)"),
        "{p}"
    );
    let p = plan("SELECT minute, n FROM error_counts WHERE issue_id = 1 AND minute >= 1");
    assert!(
        p.contains("error_counts_issue (issue_id=? AND minute>?)"),
        "{p}"
    );
    // Pruning an issue checks its recent counts through the same index.
    let p = plan("SELECT 1 FROM error_counts WHERE issue_id = 1 AND minute >= 2");
    assert!(p.contains("error_counts_issue"), "{p}");
}

#[test]
fn users_and_tags_stay_right_across_batches_and_a_pruned_issue() {
    let (_d, s) = store();
    let retention = EventRetention::default();
    let record = |id: &str, user: &str, release: &str, at: i64| {
        let mut e = event(id, "h", at, Some(user));
        e.release = Some(release.into());
        s.record_error_batch(&[batch(1, at, vec![e])], &retention)
            .unwrap()
            .pop()
            .unwrap()
            .unwrap()[0]
            .issue_id
    };
    let first = record("e1", "u1", "web@1", 1_000);
    assert_eq!(record("e2", "u1", "web@1", 2_000), first);
    record("e3", "u2", "web@2", 3_000);
    let i = s.get_error_issue(first).unwrap().unwrap();
    assert_eq!(
        (i.count, i.user_count),
        (3, 2),
        "a known user is counted once"
    );
    assert_eq!(
        s.error_issue_tags(first).unwrap(),
        vec![
            ("environment".to_string(), "production".to_string()),
            ("release".to_string(), "web@1".to_string()),
            ("release".to_string(), "web@2".to_string())
        ]
    );

    // Retention deletes the issue with its users and tags; the same fingerprint then makes
    // a new issue, whose user and tag rows are written again.
    s.prune_error_events(120_000).unwrap();
    assert!(s.get_error_issue(first).unwrap().is_none());
    let again = record("e4", "u1", "web@1", 200_000);
    assert_ne!(again, first);
    let i = s.get_error_issue(again).unwrap().unwrap();
    assert_eq!((i.count, i.user_count), (1, 1));
    assert_eq!(
        s.error_issue_tags(again).unwrap(),
        vec![
            ("environment".to_string(), "production".to_string()),
            ("release".to_string(), "web@1".to_string())
        ]
    );
}

#[test]
fn ignore_until_count_unresolve_and_assign() {
    let (_d, s) = store();
    let id = s
        .record_error_event(1, &event("e1", "h", 1, None), 1)
        .unwrap()
        .issue_id;
    let op = || "alice".to_string();
    let i = s
        .change_error_issue(
            id,
            &IssueChange::Ignore {
                operator: op(),
                until: None,
                count: Some(2),
            },
            10,
        )
        .unwrap();
    assert_eq!(i.status, IssueStatus::Ignored);
    assert_eq!(i.ignore_until_count, Some(3));
    let r = s
        .record_error_event(1, &event("e2", "h", 2, None), 20)
        .unwrap();
    assert!(r.ignored && !r.unignored);
    let r = s
        .record_error_event(1, &event("e3", "h", 3, None), 30)
        .unwrap();
    assert!(r.unignored && !r.ignored);
    assert_eq!(
        s.get_error_issue(id).unwrap().unwrap().status,
        IssueStatus::Unresolved
    );
    // Ignore until a time: an event after it unmutes.
    s.change_error_issue(
        id,
        &IssueChange::Ignore {
            operator: op(),
            until: Some(1_000),
            count: None,
        },
        40,
    )
    .unwrap();
    assert!(
        s.record_error_event(1, &event("e4", "h", 4, None), 500)
            .unwrap()
            .ignored
    );
    assert!(
        s.record_error_event(1, &event("e5", "h", 5, None), 1_000)
            .unwrap()
            .unignored
    );
    // Unresolving an unresolved issue is a conflict; a past `until` is bad input.
    let e = s
        .change_error_issue(id, &IssueChange::Unresolve { operator: op() }, 50)
        .unwrap_err();
    assert_eq!(e.class(), ErrorClass::Conflict);
    let e = s
        .change_error_issue(
            id,
            &IssueChange::Ignore {
                operator: op(),
                until: Some(10),
                count: None,
            },
            50,
        )
        .unwrap_err();
    assert_eq!(e.class(), ErrorClass::BadInput);
    let i = s
        .change_error_issue(
            id,
            &IssueChange::Assign {
                operator: op(),
                assignee: Some("payments".into()),
            },
            60,
        )
        .unwrap();
    assert_eq!(i.assignee.as_deref(), Some("payments"));
    let (list, _) = s
        .list_error_issues(&ErrorIssueQuery {
            assignee: Some("payments".into()),
            environment: Some("production".into()),
            release: Some("web@1.0".into()),
            ..ErrorIssueQuery::default()
        })
        .unwrap();
    assert_eq!(list.len(), 1);
    let (list, _) = s
        .list_error_issues(&ErrorIssueQuery {
            release: Some("web@2.0".into()),
            ..ErrorIssueQuery::default()
        })
        .unwrap();
    assert!(list.is_empty());
}

#[test]
fn tickets_resolve_issues_and_regressions_reopen_them() {
    let (_d, s) = store();
    let id = s
        .record_error_event(1, &event("e1", "h", 1_000, None), 1_000)
        .unwrap()
        .issue_id;
    assert!(s.get_error_ticket(id).unwrap().is_none());
    let out = s
        .update_error_ticket(
            id,
            &TicketUpdate {
                author: "bob".into(),
                status: Some(TicketStatus::Investigating),
                assignee: Some(Some("bob".into())),
                note: None,
            },
            2_000,
        )
        .unwrap();
    assert_eq!(out.ticket.status, TicketStatus::Investigating);
    assert!(!out.resolved_issue);
    s.add_error_ticket_step(id, "restarted", "restarted the db pool", "bob", 3_000)
        .unwrap();
    let out = s
        .update_error_ticket(
            id,
            &TicketUpdate {
                author: "bob".into(),
                status: Some(TicketStatus::Resolved),
                note: Some("raised pool size".into()),
                ..TicketUpdate::default()
            },
            61_000,
        )
        .unwrap();
    assert!(out.resolved_issue);
    assert_eq!(out.issue.status, IssueStatus::Resolved);
    assert_eq!(
        out.issue.resolution_notes.as_deref(),
        Some("raised pool size")
    );
    let actions: Vec<&str> = out.ticket.steps.iter().map(|s| s.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "created",
            "status",
            "restarted",
            "status",
            "resolved",
            "note"
        ]
    );
    // MTTR: opened at 1 s, resolved at 61 s.
    let st = s.error_stats(0, None).unwrap();
    assert_eq!(st.mttr_seconds, Some(60.0));
    assert_eq!(st.mttr_by_team, vec![("backend".to_string(), 60.0, 1)]);
    // A new event regresses the issue and reopens the ticket.
    let r = s
        .record_error_event(1, &event("e2", "h", 70_000, None), 70_000)
        .unwrap();
    assert!(r.regressed);
    let t = s.get_error_ticket(id).unwrap().unwrap();
    assert_eq!(t.status, TicketStatus::Open);
    assert_eq!(t.steps.last().unwrap().action, "regressed");
    let i = s.get_error_issue(id).unwrap().unwrap();
    assert_eq!((i.regression_count, i.regressed_at), (1, Some(70_000)));
    assert_eq!(i.opened_at, 70_000);
    // Unknown issue: not found.
    let e = s
        .update_error_ticket(
            999,
            &TicketUpdate {
                author: "bob".into(),
                ..TicketUpdate::default()
            },
            1,
        )
        .unwrap_err();
    assert_eq!(e.class(), ErrorClass::NotFound);
}

#[test]
fn stats_counts_and_retention() {
    let (_d, s) = store();
    let day = 86_400_000;
    s.record_error_event(1, &event("old", "h-old", 1_000, None), 1_000)
        .unwrap();
    for i in 0..5 {
        s.record_error_event(
            1,
            &event(&format!("n{i}"), "h-new", 2 * day, None),
            2 * day + i,
        )
        .unwrap();
    }
    let st = s.error_stats(day, None).unwrap();
    assert_eq!(st.events_in_window, 5);
    assert_eq!(st.top_categories, vec![("system".to_string(), 5)]);
    assert_eq!(st.top_components, vec![("api".to_string(), 5)]);
    let counts = s.error_counts(0, day, 3, Some(1), None).unwrap();
    assert_eq!(counts, vec![1, 0, 5]);
    let p = s.prune_error_events(day).unwrap();
    assert_eq!((p.events, p.issues), (1, 1));
    let (list, _) = s.list_error_issues(&ErrorIssueQuery::default()).unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].hash, "h-new");
}

#[test]
fn retention_keeps_issues_received_recently_whatever_their_timestamp() {
    let (_d, s) = store();
    let day = 86_400_000;
    // Sent today with a timestamp from 40 days ago (a device clock, a late offline cache):
    // last_seen is old, but the issue was received now and must survive the next prune.
    let now = 100 * day;
    let late = s
        .record_error_event(1, &event("late", "h-late", now - 40 * day, None), now)
        .unwrap();
    assert!(late.created);
    // Received long ago and not since: deleted.
    s.record_error_event(1, &event("gone", "h-gone", 10 * day, None), 10 * day)
        .unwrap();
    let p = s.prune_error_events(now - 30 * day).unwrap();
    assert_eq!((p.events, p.issues), (1, 1));
    let i = s.get_error_issue(late.issue_id).unwrap().unwrap();
    assert_eq!(i.count, 1);
    let (events, _) = s.list_error_events(late.issue_id, 0, 10).unwrap();
    assert_eq!(events.len(), 1, "the new issue keeps its event");
}

#[test]
fn a_version_6_database_is_migrated_keeping_its_data() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let issue = {
        let s = SqliteStore::open(&path).unwrap();
        s.record_error_event(1, &event("e1", "h", 1_000, Some("u1")), 1_000)
            .unwrap();
        s.record_error_event(1, &event("e2", "h", 2_000, Some("u2")), 2_000)
            .unwrap()
            .issue_id
    };
    // Back to version 6: its index on (issue_id, user_key) and no version 7 row.
    let s = reopened_after(
        &path,
        &[
            BEFORE_V12,
            "CREATE INDEX error_events_issue_user ON error_events (issue_id, user_key) \
             WHERE user_key IS NOT NULL; \
         DELETE FROM schema_version WHERE version > 6;",
        ],
    );
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        let left: i64 = conn
            .query_row(
                "SELECT COUNT(*) FROM sqlite_master WHERE name = 'error_events_issue_user'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(left, 0, "the index is gone");
    }
    let i = s.get_error_issue(issue).unwrap().unwrap();
    assert_eq!((i.count, i.user_count, i.stored_events), (2, 2, 2));
    let (events, total) = s.list_error_events(issue, 0, 10).unwrap();
    assert_eq!(total, 2);
    assert_eq!(events[0].event_id, "e2");
    // Writing goes on: a retry is still found, a known user is not counted twice.
    assert!(
        s.record_error_event(1, &event("e1", "h", 1_000, Some("u1")), 3_000)
            .unwrap()
            .duplicate
    );
    s.record_error_event(1, &event("e3", "h", 3_000, Some("u1")), 3_000)
        .unwrap();
    let i = s.get_error_issue(issue).unwrap().unwrap();
    assert_eq!((i.count, i.user_count), (3, 2));
}

/// Everything the APIs read of an issue and its events, for comparing two stores.
fn snapshot(s: &SqliteStore) -> Vec<String> {
    let (issues, _) = s
        .list_error_issues(&ErrorIssueQuery {
            limit: 1000,
            ..Default::default()
        })
        .unwrap();
    let mut out = Vec::new();
    for i in issues {
        let (events, total) = s.list_error_events(i.id, 0, 1000).unwrap();
        let ids: Vec<_> = events.iter().map(|e| e.event_id.clone()).collect();
        out.push(format!(
            "{i:?} tags={:?} total={total} events={ids:?} trend={:?} ticket={:?}",
            s.error_issue_tags(i.id).unwrap(),
            s.error_counts(0, 60_000, 50, None, Some(i.id)).unwrap(),
            s.get_error_ticket(i.id)
                .unwrap()
                .map(|t| (t.status, t.steps.len())),
        ));
    }
    out
}

#[test]
fn batches_store_exactly_what_one_event_at_a_time_stores() {
    let (_a, one) = store();
    let (_b, batched) = store();
    let retention = EventRetention {
        keep_first: 3,
        max_per_issue: 6,
    };
    // A deterministic mix: 5 issues (one hot), 4 users, 3 releases, retries of earlier
    // ids, two projects; the same requests in batches of 1..=37.
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut rand = move |n: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % n
    };
    let mut requests = Vec::new();
    for n in 0..600u64 {
        let hash = if rand(3) == 0 { 0 } else { rand(5) };
        // Retries of recent events (an older one may be thinned within the batch: one at a
        // time its row is gone when the retry comes and the retry is stored again, in a
        // batch the row is still there and the retry is found, which is no loss).
        let id = if n > 10 && rand(10) == 0 {
            n - 1 - rand(3)
        } else {
            n
        };
        let mut e = event(
            &format!("e{id}"),
            &format!("h{hash}"),
            1_000 * n as i64 - 40_000 * rand(3) as i64,
            (rand(4) > 0).then(|| format!("u{}", rand(4))).as_deref(),
        );
        e.release = Some(format!("web@{}", rand(3)));
        e.title = format!("ValueError: {hash} #{n}");
        e.component = if rand(2) == 0 {
            String::new()
        } else {
            format!("c{}", rand(3))
        };
        let project = 1 + u64::from(hash == 4 && n % 2 == 0);
        requests.push(batch(project, 30_000 * n as i64 / 7, vec![e]));
    }
    let mut at = 0;
    let mut size = 1;
    let mut round = 0;
    while at < requests.len() {
        let chunk = &requests[at..(at + size).min(requests.len())];
        let mut singles = Vec::new();
        for r in chunk {
            singles.extend(
                one.record_error_batch(std::slice::from_ref(r), &retention)
                    .unwrap(),
            );
        }
        let together = batched.record_error_batch(chunk, &retention).unwrap();
        assert_eq!(
            format!("{singles:?}"),
            format!("{together:?}"),
            "outcomes at {at}"
        );
        at += chunk.len();
        size = size % 37 + 5;
        round += 1;
        // Operators act between batches, the same on both stores.
        let hot = |s: &SqliteStore| {
            s.list_error_issues(&ErrorIssueQuery::default())
                .unwrap()
                .0
                .into_iter()
                .find(|i| i.hash == "h0")
                .unwrap()
        };
        let change = match round % 4 {
            0 => Some(IssueChange::Resolve {
                operator: "op".into(),
                notes: "fixed".into(),
            }),
            1 => Some(IssueChange::Ignore {
                operator: "op".into(),
                until: None,
                count: Some(3),
            }),
            2 => Some(IssueChange::Ignore {
                operator: "op".into(),
                until: Some(30_000 * at as i64 / 7 + 20_000),
                count: None,
            }),
            _ => None,
        };
        if let Some(change) = change {
            for s in [&one, &batched] {
                let i = hot(s);
                if round == 4 {
                    s.update_error_ticket(
                        i.id,
                        &TicketUpdate {
                            author: "op".into(),
                            status: None,
                            assignee: None,
                            note: None,
                        },
                        at as i64,
                    )
                    .unwrap();
                }
                let _ = s.change_error_issue(i.id, &change, 30_000 * at as i64 / 7);
            }
        }
    }
    let (a, b) = (snapshot(&one), snapshot(&batched));
    assert!(a.len() >= 5, "{a:?}");
    assert!(
        a.iter().any(|i| !i.contains("regression_count: 0")),
        "{a:?}"
    );
    assert!(a.iter().any(|i| i.contains("ticket=Some((Open")), "{a:?}");
    for (x, y) in a.iter().zip(&b) {
        assert_eq!(x, y);
    }
    assert_eq!(a.len(), b.len());
}

/// An event of the kind a Python SDK sends, varied by `n`.
fn sdk_event(n: usize) -> serde_json::Value {
    let frames: Vec<_> = (0..6)
        .map(|f| {
            json!({"filename": format!("app/mod_{}.py", (n + f) % 9), "function": format!("handler_{}", n % 13),
                   "lineno": 10 + f, "in_app": f > 2, "context_line": "    result = client.call(payload)"})
        })
        .collect();
    json!({
        "event_id": format!("{n:032x}"), "platform": "python", "level": "error",
        "exception": {"values": [{"type": format!("Error{}", n % 7), "value": format!("order {n} failed"),
                                  "stacktrace": {"frames": frames}}]},
        "breadcrumbs": {"values": [{"category": "http", "data": {"url": format!("https://api/v1/{n}"), "status_code": 200}}]},
        "contexts": {"runtime": {"name": "CPython", "version": "3.12.3"}},
        "sdk": {"name": "sentry.python", "version": "2.19.0"}
    })
}

#[test]
fn dictionaries_compress_payloads_that_read_back_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let s = SqliteStore::open(&path).unwrap();
    let samples: Vec<Vec<u8>> = (0..200)
        .map(|n| serde_json::to_vec(&sdk_event(n)).unwrap())
        .collect();
    let trained = ErrorDictionary::train(&samples, 8 << 10).unwrap();

    // Not a dictionary: refused, nothing stored.
    for bad in [b"{\"a\":1}".to_vec(), vec![0x37, 0xa4, 0x30, 0xec, 1, 2]] {
        let e = s.save_error_dictionary(1, &bad, 5).unwrap_err();
        assert_eq!(e.class(), ErrorClass::BadInput, "{e}");
    }
    assert!(s.latest_error_dictionaries().unwrap().is_empty());

    let d = s.save_error_dictionary(1, &trained, 10).unwrap();
    assert_eq!(d.id, FIRST_DICTIONARY_ID);
    assert_eq!(
        &d.bytes[4..8],
        &d.id.to_le_bytes(),
        "the id is in the header"
    );
    let enc = PayloadEncoder::new(&d).unwrap();

    let doc = sdk_event(1_000);
    let text = serde_json::to_vec(&doc).unwrap();
    let with = enc.encode(&text);
    let without = ErrorPayload::encode_bytes(&text);
    assert_eq!(ErrorPayload::dictionary_id(with.as_bytes()), Some(d.id));
    assert_eq!(ErrorPayload::dictionary_id(without.as_bytes()), None);
    assert!(
        with.as_bytes().len() * 2 < without.as_bytes().len(),
        "{} bytes with the dictionary, {} without",
        with.as_bytes().len(),
        without.as_bytes().len()
    );
    let mut ev = event("d1", "h1", 1_000, None);
    ev.payload = with;
    let mut plain = event("d2", "h1", 1_001, None);
    plain.payload = without;
    s.record_error_event(1, &ev, 1_010).unwrap();
    let r = s.record_error_event(1, &plain, 1_011).unwrap();

    // A payload naming a dictionary the store does not have is refused with its request.
    let stranger = PayloadEncoder::new(&ErrorDictionary {
        id: d.id + 7,
        project_id: 1,
        created: 0,
        bytes: trained.clone(),
    })
    .unwrap();
    let mut lost = event("d3", "h1", 1_002, None);
    lost.payload = stranger.encode(&text);
    let e = s.record_error_event(1, &lost, 1_012).unwrap_err();
    assert!(e.to_string().contains("not stored"), "{e}");

    // A newer dictionary becomes the latest; payloads of the older one still read.
    let d2 = s.save_error_dictionary(1, &trained, 20).unwrap();
    assert_eq!(d2.id, d.id + 1);
    let d3 = s.save_error_dictionary(2, &trained, 30).unwrap();
    drop(s);

    let s = SqliteStore::open(&path).unwrap();
    let latest = s.latest_error_dictionaries().unwrap();
    assert_eq!(latest, vec![d2, d3]);
    let (events, total) = s.list_error_events(r.issue_id, 0, 10).unwrap();
    assert_eq!(total, 2);
    for e in &events {
        assert_eq!(e.payload, doc, "{}", e.event_id);
    }
}
