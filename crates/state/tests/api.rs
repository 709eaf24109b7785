//! Every `StateStore` method against the SQLite store.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;

use serde_json::json;
use strix_core::{ErrorClass, MatchOp, Matcher};
use strix_state::*;

fn store() -> (tempfile::TempDir, SqliteStore) {
    let dir = tempfile::tempdir().unwrap();
    let s = SqliteStore::open(dir.path().join("state.db")).unwrap();
    (dir, s)
}

fn alert(fp: &str, rule: &str, state: AlertState, starts_at: i64, severity: &str) -> AlertRecord {
    let mut a = AlertRecord::new(fp, rule, state, starts_at);
    a.severity = severity.into();
    a.labels.insert("alertname".into(), rule.into());
    a.labels.insert("severity".into(), severity.into());
    a.value = 1.5;
    a
}

fn class<T: std::fmt::Debug>(r: Result<T, StateError>) -> ErrorClass {
    r.unwrap_err().class()
}

#[test]
fn page_cache_is_32_mib_unless_set() {
    let (_d, s) = store();
    assert_eq!(s.cache_size().unwrap(), DEFAULT_CACHE_BYTES);
    s.set_cache_size(16 << 20).unwrap();
    assert_eq!(s.cache_size().unwrap(), 16 << 20);
    // Below one KiB is one KiB, not SQLite's "0 = default".
    s.set_cache_size(10).unwrap();
    assert_eq!(s.cache_size().unwrap(), 1024);
}

#[test]
fn alert_lifecycle_with_history() {
    let (_d, s) = store();
    let a = alert("fp1", "HighLatency", AlertState::Pending, 1_000, "critical");
    let out = s.upsert_alert(&a, SYSTEM_ACTOR, "").unwrap();
    assert!(out.created);
    assert_eq!(out.transition.as_ref().unwrap().from, None);
    let id = out.record.id.clone();
    assert_eq!(id, AlertRecord::derive_id("fp1", 1_000));

    // Re-upserting the same state changes no state and records no transition.
    let mut again = a.clone();
    again.value = 2.5;
    again.updated_at = 1_500;
    let out = s.upsert_alert(&again, SYSTEM_ACTOR, "").unwrap();
    assert!(!out.created && out.transition.is_none());
    assert_eq!(s.get_alert(&id).unwrap().unwrap().value, 2.5);

    // Pending -> firing through upsert.
    let mut firing = again.clone();
    firing.state = AlertState::Firing;
    firing.updated_at = 2_000;
    let out = s.upsert_alert(&firing, SYSTEM_ACTOR, "").unwrap();
    assert_eq!(out.transition.unwrap().to, AlertState::Firing);

    let rec = s
        .transition(&id, AlertState::Acknowledged, "alice", "on it", 3_000)
        .unwrap();
    assert_eq!(rec.acknowledged_by.as_deref(), Some("alice"));
    assert_eq!(rec.acknowledged_at, Some(3_000));
    assert_eq!(rec.notes, "on it");

    // The evaluator still reporting "firing" leaves it acknowledged.
    firing.updated_at = 3_500;
    let out = s.upsert_alert(&firing, SYSTEM_ACTOR, "").unwrap();
    assert!(out.transition.is_none());
    assert_eq!(out.record.state, AlertState::Acknowledged);

    let rec = s
        .transition(&id, AlertState::Resolved, "bob", "fixed the pool", 4_000)
        .unwrap();
    assert_eq!(
        (rec.resolved_by.as_deref(), rec.resolved_at, rec.ended_at),
        (Some("bob"), Some(4_000), Some(4_000))
    );

    let h = s.history(&id).unwrap();
    let steps: Vec<_> = h
        .iter()
        .map(|t| (t.from, t.to, t.actor.as_str(), t.at))
        .collect();
    assert_eq!(
        steps,
        vec![
            (None, AlertState::Pending, "system", 1_000),
            (
                Some(AlertState::Pending),
                AlertState::Firing,
                "system",
                2_000
            ),
            (
                Some(AlertState::Firing),
                AlertState::Acknowledged,
                "alice",
                3_000
            ),
            (
                Some(AlertState::Acknowledged),
                AlertState::Resolved,
                "bob",
                4_000
            ),
        ]
    );
    assert_eq!(h[3].notes, "fixed the pool");
}

#[test]
fn forbidden_transitions_conflict_and_change_nothing() {
    let (_d, s) = store();
    let id = s
        .upsert_alert(
            &alert("fp", "R", AlertState::Firing, 10, "warning"),
            SYSTEM_ACTOR,
            "",
        )
        .unwrap()
        .record
        .id;
    s.transition(&id, AlertState::Resolved, "system", "", 20)
        .unwrap();
    let before = s.get_alert(&id).unwrap();
    for to in AlertState::ALL {
        assert_eq!(
            class(s.transition(&id, to, "alice", "", 30)),
            ErrorClass::Conflict,
            "resolved -> {to}"
        );
    }
    assert_eq!(s.get_alert(&id).unwrap(), before);
    assert_eq!(
        s.history(&id).unwrap().len(),
        2,
        "no history row for a refused move"
    );

    // Upsert cannot re-open a resolved episode either.
    let mut reopen = alert("fp", "R", AlertState::Firing, 10, "warning");
    reopen.updated_at = 40;
    assert_eq!(
        class(s.upsert_alert(&reopen, SYSTEM_ACTOR, "")),
        ErrorClass::Conflict
    );

    // Pending cannot be acknowledged.
    let p = s
        .upsert_alert(
            &alert("fp2", "R", AlertState::Pending, 10, "info"),
            SYSTEM_ACTOR,
            "",
        )
        .unwrap()
        .record
        .id;
    assert_eq!(
        class(s.transition(&p, AlertState::Acknowledged, "alice", "", 11)),
        ErrorClass::Conflict
    );

    assert_eq!(
        class(s.transition("nope", AlertState::Resolved, "alice", "", 1)),
        ErrorClass::NotFound
    );
    assert_eq!(class(s.history("nope")), ErrorClass::NotFound);
    assert_eq!(
        class(s.transition(&p, AlertState::Firing, " ", "", 11)),
        ErrorClass::BadInput
    );
}

#[test]
fn one_open_alert_per_fingerprint() {
    let (_d, s) = store();
    let first = s
        .upsert_alert(
            &alert("fp", "R", AlertState::Firing, 10, "warning"),
            SYSTEM_ACTOR,
            "",
        )
        .unwrap();
    assert_eq!(
        s.active_alert_by_fingerprint("fp").unwrap().unwrap().id,
        first.record.id
    );
    let second = alert("fp", "R", AlertState::Firing, 20, "warning");
    let err = s.upsert_alert(&second, SYSTEM_ACTOR, "").unwrap_err();
    assert_eq!(err.class(), ErrorClass::Conflict);
    assert!(
        err.to_string()
            .contains(&format!("already has an open alert {}", first.record.id)),
        "{err}"
    );
    // The refused alert left neither a row nor a transition behind.
    assert!(s.get_alert(&second.id).unwrap().is_none());
    s.transition(&first.record.id, AlertState::Resolved, SYSTEM_ACTOR, "", 15)
        .unwrap();
    assert!(s.active_alert_by_fingerprint("fp").unwrap().is_none());
    let out = s.upsert_alert(&second, SYSTEM_ACTOR, "").unwrap();
    assert_eq!(
        s.active_alert_by_fingerprint("fp").unwrap().unwrap().id,
        out.record.id
    );
    assert_ne!(out.record.id, first.record.id);
}

#[test]
fn list_filters_sorts_and_pages() {
    let (_d, s) = store();
    let specs = [
        ("a", "Disk", AlertState::Firing, 100, "warning", "db"),
        ("b", "Latency", AlertState::Firing, 200, "critical", "api"),
        ("c", "Latency", AlertState::Pending, 300, "critical", "web"),
        ("d", "Errors", AlertState::Firing, 400, "info", "api"),
        ("e", "Disk", AlertState::Firing, 500, "critical", "db"),
    ];
    for (fp, rule, st, at, sev, svc) in specs {
        let mut a = alert(fp, rule, st, at, sev);
        a.labels.insert("service".into(), svc.into());
        a.annotations
            .insert("summary".into(), format!("{rule} on {svc}"));
        s.upsert_alert(&a, SYSTEM_ACTOR, "").unwrap();
    }
    let e_id = AlertRecord::derive_id("e", 500);
    s.transition(&e_id, AlertState::Resolved, SYSTEM_ACTOR, "", 600)
        .unwrap();

    let fps = |q: &AlertQuery| -> (Vec<String>, u64) {
        let (rows, total) = s.list_alerts(q).unwrap();
        (rows.into_iter().map(|a| a.fingerprint).collect(), total)
    };
    // Default: newest first.
    assert_eq!(
        fps(&AlertQuery::default()),
        (
            vec!["e", "d", "c", "b", "a"]
                .into_iter()
                .map(String::from)
                .collect(),
            5
        )
    );

    let q = AlertQuery {
        states: vec![AlertState::Firing],
        direction: SortDirection::Asc,
        ..Default::default()
    };
    assert_eq!(fps(&q).0, vec!["a", "b", "d"]);

    let q = AlertQuery {
        severities: vec!["critical".into()],
        ..Default::default()
    };
    assert_eq!(fps(&q), (vec!["e".to_string(), "c".into(), "b".into()], 3));

    let q = AlertQuery {
        rule: Some("Disk".into()),
        since: Some(100),
        until: Some(500),
        ..Default::default()
    };
    assert_eq!(fps(&q).0, vec!["a"]);

    // Matchers and text search are applied after SQL, with correct totals and paging.
    let q = AlertQuery {
        matchers: vec![Matcher::new(MatchOp::RegexMatch, "service", "api|web").unwrap()],
        direction: SortDirection::Asc,
        limit: 2,
        offset: 1,
        ..Default::default()
    };
    assert_eq!(fps(&q), (vec!["c".to_string(), "d".into()], 3));
    let q = AlertQuery {
        text: Some("LATENCY ON".into()),
        ..Default::default()
    };
    assert_eq!(fps(&q), (vec!["c".to_string(), "b".into()], 2));

    // Sorting by severity: critical first, ties broken by id (stable pages).
    let q = AlertQuery {
        sort: AlertSortField::Severity,
        ..Default::default()
    };
    let (rows, _) = s.list_alerts(&q).unwrap();
    let sev: Vec<_> = rows.iter().map(|a| a.severity.as_str()).collect();
    assert_eq!(
        sev,
        vec!["critical", "critical", "critical", "warning", "info"]
    );
    let q = AlertQuery {
        sort: AlertSortField::State,
        direction: SortDirection::Asc,
        ..Default::default()
    };
    assert_eq!(s.list_alerts(&q).unwrap().0[0].fingerprint, "c");
    let q = AlertQuery {
        sort: AlertSortField::Rule,
        direction: SortDirection::Asc,
        limit: 1,
        ..Default::default()
    };
    let (rows, total) = s.list_alerts(&q).unwrap();
    assert_eq!((rows.len(), rows[0].rule.as_str(), total), (1, "Disk", 5));
    for sort in [AlertSortField::UpdatedAt, AlertSortField::Value] {
        assert_eq!(
            s.list_alerts(&AlertQuery {
                sort,
                ..Default::default()
            })
            .unwrap()
            .1,
            5
        );
    }

    let q = AlertQuery {
        limit: MAX_LIST_LIMIT + 1,
        ..Default::default()
    };
    assert_eq!(class(s.list_alerts(&q)), ErrorClass::BadInput);
}

#[test]
fn stats_over_a_period() {
    let (_d, s) = store();
    let ids: Vec<String> = [
        ("a", "R1", 0, "critical"),
        ("b", "R1", 10_000, "critical"),
        ("c", "R2", 20_000, "warning"),
    ]
    .into_iter()
    .map(|(fp, rule, at, sev)| {
        s.upsert_alert(
            &alert(fp, rule, AlertState::Firing, at, sev),
            SYSTEM_ACTOR,
            "",
        )
        .unwrap()
        .record
        .id
    })
    .collect();
    s.upsert_alert(
        &alert("old", "R3", AlertState::Firing, -1, "critical"),
        SYSTEM_ACTOR,
        "",
    )
    .unwrap();
    s.transition(&ids[0], AlertState::Acknowledged, "alice", "", 60_000)
        .unwrap(); // 60 s
    s.transition(&ids[1], AlertState::Acknowledged, "alice", "", 130_000)
        .unwrap(); // 120 s
    s.transition(&ids[0], AlertState::Resolved, "alice", "", 300_000)
        .unwrap(); // 300 s
    let st = s.stats(0, 10).unwrap();
    assert_eq!(st.total, 3);
    assert_eq!(
        st.by_severity,
        BTreeMap::from([("critical".into(), 2), ("warning".into(), 1)])
    );
    assert_eq!(st.by_state["firing"], 1);
    assert_eq!(st.by_state["acknowledged"], 1);
    assert_eq!(st.by_state["resolved"], 1);
    assert_eq!(st.by_state["pending"], 0);
    assert_eq!(st.mtta_seconds, Some(90.0));
    assert_eq!(st.mttr_seconds, Some(300.0));
    assert_eq!(
        st.top_rules,
        vec![("R1".to_string(), 2), ("R2".to_string(), 1)]
    );
    assert_eq!(s.stats(0, 1).unwrap().top_rules.len(), 1);
    let later = s.stats(1_000_000, 10).unwrap();
    assert_eq!(
        (later.total, later.mtta_seconds, later.mttr_seconds),
        (0, None, None)
    );
}

#[test]
fn nan_values_round_trip() {
    let (_d, s) = store();
    let mut a = alert("nan", "R", AlertState::Firing, 1, "info");
    a.value = f64::NAN;
    let id = s.upsert_alert(&a, SYSTEM_ACTOR, "").unwrap().record.id;
    assert!(s.get_alert(&id).unwrap().unwrap().value.is_nan());
}

#[test]
fn rule_states_survive_and_delete() {
    let (dir, s) = store();
    let rs = |rule: &str, fp: &str, state| RuleStateRecord {
        rule_key: rule.into(),
        fingerprint: fp.into(),
        state,
        active_at: 1_000,
        value: 3.0,
        labels: BTreeMap::from([("instance".to_string(), fp.to_string())]),
        updated_at: 2_000,
    };
    s.save_rule_states(&[
        rs("g/r1", "a", AlertState::Pending),
        rs("g/r1", "b", AlertState::Firing),
        rs("g/r2", "a", AlertState::Firing),
    ])
    .unwrap();
    let mut changed = rs("g/r1", "a", AlertState::Firing);
    changed.updated_at = 3_000;
    s.save_rule_states(std::slice::from_ref(&changed)).unwrap();
    // A bad record fails the whole batch.
    let bad = [
        rs("g/r3", "x", AlertState::Firing),
        rs("g/r3", "y", AlertState::Resolved),
    ];
    assert_eq!(class(s.save_rule_states(&bad)), ErrorClass::BadInput);
    drop(s);

    let s = SqliteStore::open(dir.path().join("state.db")).unwrap();
    let all = s.load_rule_states().unwrap();
    assert_eq!(all.len(), 3);
    assert_eq!(all[0], changed);
    assert_eq!(s.delete_rule_states("g/r1", Some("b")).unwrap(), 1);
    assert_eq!(s.delete_rule_states("g/r2", None).unwrap(), 1);
    assert_eq!(s.load_rule_states().unwrap(), vec![changed]);
}

fn sm(name: &str, value: &str) -> SilenceMatcher {
    SilenceMatcher {
        name: name.into(),
        value: value.into(),
        is_regex: false,
        is_equal: true,
    }
}

fn silence(starts_at: i64, ends_at: i64) -> SilenceInput {
    SilenceInput {
        id: None,
        matchers: vec![sm("alertname", "Disk")],
        starts_at,
        ends_at,
        created_by: "alice".into(),
        comment: "maintenance".into(),
    }
}

#[test]
fn silences_follow_alertmanager() {
    let (_d, s) = store();
    // A start in the past is moved to now.
    let id = s.upsert_silence(&silence(0, 1_000), 100).unwrap();
    let got = s.get_silence(&id, 100).unwrap().unwrap();
    assert_eq!((got.starts_at, got.state), (100, SilenceState::Active));
    assert_eq!(
        s.get_silence(&id, 1_000).unwrap().unwrap().state,
        SilenceState::Expired
    );
    let labels = BTreeMap::from([("alertname".to_string(), "Disk".to_string())]);
    assert!(got.mutes(&labels).unwrap());

    // Active: extending the end keeps the id.
    let mut upd = silence(100, 2_000);
    upd.id = Some(id.clone());
    assert_eq!(s.upsert_silence(&upd, 200).unwrap(), id);
    assert_eq!(s.get_silence(&id, 200).unwrap().unwrap().ends_at, 2_000);
    // Active: changing matchers expires the old one and creates a new id.
    let mut upd2 = upd.clone();
    upd2.matchers.push(sm("service", "db"));
    let new_id = s.upsert_silence(&upd2, 300).unwrap();
    assert_ne!(new_id, id);
    assert_eq!(
        s.get_silence(&id, 300).unwrap().unwrap().state,
        SilenceState::Expired
    );
    assert_eq!(
        s.get_silence(&new_id, 300).unwrap().unwrap().state,
        SilenceState::Active
    );

    // Pending: expiring sets start = end = now.
    let pending = s.upsert_silence(&silence(5_000, 6_000), 300).unwrap();
    assert_eq!(
        s.get_silence(&pending, 300).unwrap().unwrap().state,
        SilenceState::Pending
    );
    let mut moved = silence(5_500, 6_000);
    moved.id = Some(pending.clone());
    assert_eq!(
        s.upsert_silence(&moved, 400).unwrap(),
        pending,
        "pending may move its start"
    );
    s.expire_silence(&pending, 500).unwrap();
    let p = s.get_silence(&pending, 500).unwrap().unwrap();
    assert_eq!(
        (p.starts_at, p.ends_at, p.state),
        (500, 500, SilenceState::Expired)
    );
    assert_eq!(class(s.expire_silence(&pending, 600)), ErrorClass::Conflict);
    assert_eq!(class(s.expire_silence("nope", 600)), ErrorClass::NotFound);

    let mut unknown = silence(0, 10_000);
    unknown.id = Some("nope".into());
    assert_eq!(class(s.upsert_silence(&unknown, 600)), ErrorClass::NotFound);
    assert_eq!(
        class(s.upsert_silence(&silence(0, 50), 600)),
        ErrorClass::BadInput,
        "end in the past"
    );

    let active = s.list_silences(&[SilenceState::Active], 600).unwrap();
    assert_eq!(
        active.iter().map(|s| s.id.clone()).collect::<Vec<_>>(),
        vec![new_id]
    );
    assert_eq!(s.list_silences(&[], 600).unwrap().len(), 3);
    assert_eq!(
        s.list_silences(&[SilenceState::Expired], 600)
            .unwrap()
            .len(),
        2
    );
}

fn item(key: &str, receiver: &str, not_before: i64) -> OutboxItem {
    OutboxItem {
        idempotency_key: key.into(),
        receiver: receiver.into(),
        channel: "webhook".into(),
        payload: json!({"key": key}).to_string(),
        not_before,
    }
}

#[test]
fn outbox_is_idempotent_and_due_in_order() {
    let (_d, s) = store();
    let a = s.enqueue(&item("k-a", "ops", 300), 10).unwrap();
    let b = s.enqueue(&item("k-b", "ops", 100), 11).unwrap();
    let c = s.enqueue(&item("k-c", "ops", 100), 12).unwrap();
    assert!(a.created && b.created && c.created);
    let dup = s.enqueue(&item("k-a", "other", 0), 13).unwrap();
    assert_eq!(
        dup,
        Enqueued {
            id: a.id,
            created: false
        }
    );
    assert_eq!(
        s.get_outbox_entry(a.id).unwrap().unwrap().receiver,
        "ops",
        "the duplicate wrote nothing"
    );

    assert!(s.due(99, 10).unwrap().is_empty());
    let due: Vec<i64> = s.due(1_000, 10).unwrap().iter().map(|e| e.id).collect();
    assert_eq!(
        due,
        vec![b.id, c.id, a.id],
        "by due time, then enqueue order"
    );
    assert_eq!(s.due(1_000, 1).unwrap().len(), 1);

    // At-least-once: an entry stays due until marked.
    assert_eq!(s.due(1_000, 10).unwrap().len(), 3);
    s.mark_failed(b.id, 1, 500, "503 from upstream", 150)
        .unwrap();
    let due: Vec<i64> = s.due(400, 10).unwrap().iter().map(|e| e.id).collect();
    assert_eq!(due, vec![c.id, a.id]);
    let e = s.get_outbox_entry(b.id).unwrap().unwrap();
    assert_eq!(
        (e.attempts, e.next_attempt_at, e.last_error.as_deref()),
        (1, 500, Some("503 from upstream"))
    );

    s.mark_delivered(c.id, 160, "200 OK").unwrap();
    s.mark_delivered(b.id, 600, "200 OK").unwrap();
    s.give_up(a.id, "410 Gone", 700).unwrap();
    assert!(s.due(10_000, 10).unwrap().is_empty());
    let e = s.get_outbox_entry(b.id).unwrap().unwrap();
    assert_eq!(
        (e.status, e.attempts, e.finished_at),
        (OutboxStatus::Delivered, 2, Some(600))
    );
    assert_eq!(
        s.get_outbox_entry(a.id).unwrap().unwrap().status,
        OutboxStatus::Abandoned
    );

    // Marking a finished entry conflicts; unknown ids are not found.
    assert_eq!(class(s.mark_delivered(b.id, 800, "")), ErrorClass::Conflict);
    assert_eq!(
        class(s.mark_failed(a.id, 2, 900, "", 800)),
        ErrorClass::Conflict
    );
    assert_eq!(class(s.give_up(c.id, "", 800)), ErrorClass::Conflict);
    assert_eq!(
        class(s.mark_delivered(9_999, 800, "")),
        ErrorClass::NotFound
    );
    assert_eq!(
        class(s.enqueue(&item("", "ops", 0), 1)),
        ErrorClass::BadInput
    );
    // A key that was delivered is still deduplicated.
    assert!(!s.enqueue(&item("k-b", "ops", 0), 900).unwrap().created);

    // Delivery log: every attempt, newest first.
    let (log, total) = s.delivery_log(&DeliveryLogQuery::default()).unwrap();
    assert_eq!(total, 4);
    let got: Vec<_> = log
        .iter()
        .map(|l| (l.outbox_id, l.attempt, l.status, l.at))
        .collect();
    assert_eq!(
        got,
        vec![
            (a.id, 1, DeliveryStatus::GaveUp, 700),
            (b.id, 2, DeliveryStatus::Delivered, 600),
            (c.id, 1, DeliveryStatus::Delivered, 160),
            (b.id, 1, DeliveryStatus::Failed, 150),
        ]
    );
    assert_eq!(log[3].detail, "503 from upstream");
    let q = DeliveryLogQuery {
        status: Some(DeliveryStatus::Delivered),
        limit: 1,
        offset: 1,
        ..Default::default()
    };
    let (page, total) = s.delivery_log(&q).unwrap();
    assert_eq!((page.len(), page[0].outbox_id, total), (1, c.id, 2));
    let q = DeliveryLogQuery {
        receiver: Some("nobody".into()),
        ..Default::default()
    };
    assert_eq!(s.delivery_log(&q).unwrap().1, 0);
    let q = DeliveryLogQuery {
        since: Some(600),
        ..Default::default()
    };
    assert_eq!(s.delivery_log(&q).unwrap().1, 2);
}

#[test]
fn rate_limit_counts_enqueued_notifications() {
    let (_d, s) = store();
    for (i, at) in [100, 200, 300].into_iter().enumerate() {
        s.enqueue(&item(&format!("k{i}"), "ops", at), at).unwrap();
    }
    s.enqueue(&item("other", "dev", 250), 250).unwrap();
    s.enqueue(&item("k0", "ops", 400), 400).unwrap(); // duplicate: not counted twice
    assert_eq!(s.count_notifications("ops", 0).unwrap(), 3);
    assert_eq!(s.count_notifications("ops", 200).unwrap(), 2);
    assert_eq!(s.count_notifications("dev", 0).unwrap(), 1);
    assert_eq!(s.count_notifications("nobody", 0).unwrap(), 0);
}

#[test]
fn escalations_fire_once_and_stop_on_ack() {
    let (_d, s) = store();
    let id = s
        .upsert_alert(
            &alert("fp", "R", AlertState::Firing, 0, "critical"),
            SYSTEM_ACTOR,
            "",
        )
        .unwrap()
        .record
        .id;
    let e0 = Escalation {
        alert_id: id.clone(),
        policy: "oncall".into(),
        level: 0,
        repeat: 0,
        next_at: 1_000,
    };
    s.upsert_escalation(&e0, 0).unwrap();
    assert!(s.due_escalations(999, 10).unwrap().is_empty());
    assert_eq!(s.due_escalations(1_000, 10).unwrap(), vec![e0.clone()]);

    let e1 = Escalation {
        level: 1,
        next_at: 2_000,
        ..e0.clone()
    };
    let page = item(&format!("esc:{id}:0:0"), "primary", 1_000);
    let out = s
        .advance_escalation(&e0, Some(&e1), std::slice::from_ref(&page), 1_000)
        .unwrap();
    assert!(out[0].created);
    assert_eq!(s.get_escalation(&id).unwrap(), Some(e1.clone()));
    // A second dispatcher holding the old timer is refused and enqueues nothing.
    assert_eq!(
        class(s.advance_escalation(&e0, Some(&e1), &[item("dup", "primary", 0)], 1_001)),
        ErrorClass::Conflict
    );
    assert_eq!(s.count_notifications("primary", 0).unwrap(), 1);

    // Acknowledging cancels the timer in the same transaction.
    s.transition(&id, AlertState::Acknowledged, "alice", "", 1_500)
        .unwrap();
    assert_eq!(s.get_escalation(&id).unwrap(), None);
    assert!(!s.cancel_escalation(&id).unwrap());
    s.upsert_escalation(&e1, 1_600).unwrap();
    assert!(s.cancel_escalation(&id).unwrap());

    // Escalating an unknown or resolved alert is refused.
    let ghost = Escalation {
        alert_id: "ghost".into(),
        ..e0.clone()
    };
    assert_eq!(class(s.upsert_escalation(&ghost, 0)), ErrorClass::NotFound);
    s.transition(&id, AlertState::Resolved, "alice", "", 1_700)
        .unwrap();
    assert_eq!(class(s.upsert_escalation(&e0, 1_800)), ErrorClass::Conflict);

    // The last level deletes the timer.
    let id2 = s
        .upsert_alert(
            &alert("fp2", "R", AlertState::Firing, 0, "critical"),
            SYSTEM_ACTOR,
            "",
        )
        .unwrap()
        .record
        .id;
    let last = Escalation {
        alert_id: id2.clone(),
        policy: "oncall".into(),
        level: 2,
        repeat: 1,
        next_at: 5,
    };
    s.upsert_escalation(&last, 0).unwrap();
    s.advance_escalation(&last, None, &[], 5).unwrap();
    assert_eq!(s.get_escalation(&id2).unwrap(), None);
}

#[test]
fn prune_removes_only_finished_rows() {
    let (_d, s) = store();
    let old = s
        .upsert_alert(
            &alert("old", "R", AlertState::Firing, 0, "info"),
            SYSTEM_ACTOR,
            "",
        )
        .unwrap()
        .record
        .id;
    s.transition(&old, AlertState::Resolved, SYSTEM_ACTOR, "", 100)
        .unwrap();
    let open = s
        .upsert_alert(
            &alert("open", "R", AlertState::Firing, 0, "info"),
            SYSTEM_ACTOR,
            "",
        )
        .unwrap()
        .record
        .id;
    s.upsert_silence(&silence(0, 150), 0).unwrap();
    let kept = s.upsert_silence(&silence(0, 10_000), 0).unwrap();
    let done = s.enqueue(&item("done", "ops", 0), 0).unwrap().id;
    s.mark_delivered(done, 120, "ok").unwrap();
    let pending = s.enqueue(&item("pending", "ops", 0), 0).unwrap().id;

    let st = s.prune(1_000).unwrap();
    assert_eq!(
        st,
        PruneStats {
            alerts: 1,
            silences: 1,
            outbox: 1
        }
    );
    assert!(s.get_alert(&old).unwrap().is_none());
    assert!(s.get_alert(&open).unwrap().is_some());
    assert!(s.get_silence(&kept, 0).unwrap().is_some());
    assert!(s.get_outbox_entry(pending).unwrap().is_some());
    assert_eq!(
        s.delivery_log(&DeliveryLogQuery::default()).unwrap().1,
        0,
        "log cascades"
    );
}

#[test]
fn store_is_object_safe() {
    let (_d, s) = store();
    let dynamic: std::sync::Arc<dyn StateStore> = std::sync::Arc::new(s);
    assert!(dynamic.get_alert("x").unwrap().is_none());
}
