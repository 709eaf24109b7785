//! Crash safety, migrations and concurrent writers.
//!
//! The crash tests re-run this test binary as a child process (selected by an environment
//! variable) which writes through the store and then dies without closing it: by
//! `std::process::abort()` right after its last acknowledged write, or by SIGKILL from the
//! parent in the middle of a stream of writes. The parent reopens the database and checks
//! that every write the child saw acknowledged is there, with its history.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;

use serde_json::json;
use strix_core::ErrorClass;
use strix_state::*;

const CHILD_ENV: &str = "STRIX_STATE_CRASH_CHILD";
const CHILD_DB_ENV: &str = "STRIX_STATE_CRASH_DB";

fn item(key: &str, receiver: &str) -> OutboxItem {
    OutboxItem {
        idempotency_key: key.into(),
        receiver: receiver.into(),
        channel: "webhook".into(),
        payload: json!({"key": key}).to_string(),
        not_before: 0,
    }
}

fn fp(i: usize) -> String {
    format!("{i:016x}")
}

/// Runs this binary's test `name` as a child with the crash environment set.
fn child(name: &str, mode: &str, db: &Path) -> Command {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, mode)
        .env(CHILD_DB_ENV, db)
        .stdin(Stdio::null());
    cmd
}

/// The child half of the abort test: N alerts fired, acknowledged and resolved, outbox
/// entries enqueued and some delivered, an escalation set — then abort.
fn abort_child(db: &Path) -> ! {
    let s = SqliteStore::open(db).unwrap();
    for i in 0..20 {
        let a = AlertRecord::new(fp(i), "Crash", AlertState::Firing, 1_000 + i as i64);
        let id = s.upsert_alert(&a, SYSTEM_ACTOR, "").unwrap().record.id;
        s.transition(
            &id,
            AlertState::Acknowledged,
            "alice",
            "ack before crash",
            2_000,
        )
        .unwrap();
        if i % 2 == 0 {
            s.transition(
                &id,
                AlertState::Resolved,
                "bob",
                "resolved before crash",
                3_000,
            )
            .unwrap();
        }
        let e = s.enqueue(&item(&format!("n{i}"), "ops"), 2_000).unwrap();
        if i % 3 == 0 {
            s.mark_delivered(e.id, 2_500, "200").unwrap();
        }
    }
    let a = AlertRecord::new(fp(999), "Escalating", AlertState::Firing, 5_000);
    let id = s.upsert_alert(&a, SYSTEM_ACTOR, "").unwrap().record.id;
    let esc = Escalation {
        alert_id: id,
        policy: "oncall".into(),
        level: 1,
        repeat: 0,
        next_at: 9_000,
    };
    s.upsert_escalation(&esc, 5_000).unwrap();
    s.save_rule_states(&[RuleStateRecord {
        rule_key: "g/Crash".into(),
        fingerprint: fp(1),
        state: AlertState::Firing,
        active_at: 900,
        value: 1.0,
        labels: Default::default(),
        updated_at: 5_000,
    }])
    .unwrap();
    println!("CHILD-DONE");
    std::io::stdout().flush().unwrap();
    std::process::abort();
}

#[test]
fn acknowledged_writes_survive_abort() {
    if std::env::var(CHILD_ENV).as_deref() == Ok("abort") {
        abort_child(Path::new(&std::env::var(CHILD_DB_ENV).unwrap()));
    }
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.db");
    let out = child("acknowledged_writes_survive_abort", "abort", &db)
        .output()
        .unwrap();
    assert!(!out.status.success(), "the child must die by abort");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("CHILD-DONE"),
        "child did not finish its writes: {out:?}"
    );

    let s = SqliteStore::open(&db).unwrap();
    for i in 0..20 {
        let id = AlertRecord::derive_id(&fp(i), 1_000 + i as i64);
        let a = s
            .get_alert(&id)
            .unwrap()
            .expect("alert committed before the crash");
        let h = s.history(&id).unwrap();
        if i % 2 == 0 {
            assert_eq!(a.state, AlertState::Resolved);
            assert_eq!(a.resolved_by.as_deref(), Some("bob"));
            assert_eq!(h.len(), 3);
        } else {
            assert_eq!(a.state, AlertState::Acknowledged);
            assert_eq!(h.len(), 2);
            assert_eq!(h[1].notes, "ack before crash");
        }
    }
    let due = s.due(10_000, 100).unwrap();
    assert_eq!(
        due.len(),
        13,
        "20 enqueued, 7 delivered, the rest still due after restart"
    );
    assert!(due.iter().all(|e| e.status == OutboxStatus::Pending));
    assert_eq!(s.delivery_log(&DeliveryLogQuery::default()).unwrap().1, 7);
    assert_eq!(s.due_escalations(9_000, 10).unwrap().len(), 1);
    assert_eq!(s.load_rule_states().unwrap().len(), 1);
    // And the store keeps working after recovery.
    assert!(!s.enqueue(&item("n0", "ops"), 10_000).unwrap().created);
}

/// The child half of the SIGKILL test: enqueue and transition in a loop forever, printing
/// each key after its write returned.
fn stream_child(db: &Path) -> ! {
    let s = SqliteStore::open(db).unwrap();
    let mut out = std::io::stdout();
    for i in 0.. {
        let a = AlertRecord::new(fp(i), "Stream", AlertState::Firing, i as i64);
        let id = s.upsert_alert(&a, SYSTEM_ACTOR, "").unwrap().record.id;
        s.enqueue(&item(&format!("s{i}"), "ops"), i as i64).unwrap();
        s.transition(&id, AlertState::Acknowledged, "alice", "", i as i64 + 1)
            .unwrap();
        writeln!(out, "ACK {i}").unwrap();
        out.flush().unwrap();
    }
    unreachable!("the loop never ends")
}

#[test]
fn acknowledged_writes_survive_sigkill() {
    if std::env::var(CHILD_ENV).as_deref() == Ok("stream") {
        stream_child(Path::new(&std::env::var(CHILD_DB_ENV).unwrap()));
    }
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.db");
    let mut proc = child("acknowledged_writes_survive_sigkill", "stream", &db)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = proc.stdout.take().unwrap();
    let mut acked = 0usize;
    for line in BufReader::new(stdout).lines() {
        let line = line.unwrap();
        if let Some(n) = line.strip_prefix("ACK ") {
            acked = n.parse::<usize>().unwrap() + 1;
            if acked >= 40 {
                break;
            }
        }
    }
    proc.kill().unwrap(); // SIGKILL, mid-write.
    proc.wait().unwrap();
    assert!(acked >= 40);

    let s = SqliteStore::open(&db).unwrap();
    for i in 0..acked {
        let id = AlertRecord::derive_id(&fp(i), i as i64);
        let a = s.get_alert(&id).unwrap().expect("acknowledged alert lost");
        assert_eq!(a.state, AlertState::Acknowledged);
        assert_eq!(s.history(&id).unwrap().len(), 2);
    }
    // Whatever was in flight is either wholly there or wholly absent, and history matches.
    let (all, total) = s
        .list_alerts(&AlertQuery {
            limit: MAX_LIST_LIMIT,
            ..Default::default()
        })
        .unwrap();
    assert!(total as usize >= acked);
    for a in all {
        let expected = if a.state == AlertState::Acknowledged {
            2
        } else {
            1
        };
        assert_eq!(
            s.history(&a.id).unwrap().len(),
            expected,
            "record and history out of step"
        );
    }
    assert!(s.count_notifications("ops", 0).unwrap() as usize >= acked);
}

#[test]
fn migrations_are_idempotent_on_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("nested").join("state.db");
    let s = SqliteStore::open(&db).unwrap();
    assert_eq!(
        s.schema_version().unwrap(),
        strix_state::sqlite::SCHEMA_VERSION
    );
    s.enqueue(&item("k", "ops"), 1).unwrap();
    drop(s);
    for _ in 0..3 {
        let s = SqliteStore::open(&db).unwrap();
        assert_eq!(
            s.schema_version().unwrap(),
            strix_state::sqlite::SCHEMA_VERSION
        );
        assert!(
            !s.enqueue(&item("k", "ops"), 2).unwrap().created,
            "data kept across reopen"
        );
    }
    let conn = rusqlite::Connection::open(&db).unwrap();
    let rows: i64 = conn
        .query_row("SELECT COUNT(*) FROM schema_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(
        rows,
        strix_state::sqlite::SCHEMA_VERSION,
        "each migration recorded once"
    );
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");

    // A database from a newer Strix is refused, not silently used.
    conn.execute(
        "INSERT INTO schema_version (version, applied_at) VALUES (999, 0)",
        [],
    )
    .unwrap();
    drop(conn);
    let err = SqliteStore::open(&db).unwrap_err();
    assert!(
        matches!(err, StateError::SchemaTooNew { found: 999, .. }),
        "{err}"
    );
    assert_eq!(err.class(), ErrorClass::Internal);
}

/// The enumeration columns' CHECK constraints still refuse unknown values, but are written
/// as `=` comparisons: SQLite builds a temporary B-tree for every evaluation of an `IN`
/// list of more than two constants, on every insert and status update.
#[test]
fn enumeration_checks_hold_without_temporary_btrees() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.db");
    let s = SqliteStore::open(&db).unwrap();
    s.enqueue(&item("k", "ops"), 1).unwrap();
    drop(s);
    let conn = rusqlite::Connection::open(&db).unwrap();
    let tables = [
        ("alerts", "state"),
        ("outbox", "status"),
        ("delivery_log", "status"),
        ("error_issues", "status"),
        ("error_tickets", "status"),
        ("check_changes", "from_status"),
        ("check_changes", "to_status"),
    ];
    for (table, column) in tables {
        let sql: String = conn
            .query_row(
                "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?1",
                [table],
                |r| r.get(0),
            )
            .unwrap();
        assert!(!sql.contains(" IN ("), "{table}: {sql}");
        assert!(sql.contains(&format!("{column} = '")), "{table}: {sql}");
        // Setting the column to an unknown value is refused by its CHECK constraint; the
        // statement plan has no temporary B-tree.
        let update = format!("UPDATE {table} SET {column} = ?1");
        let plan: Vec<String> = conn
            .prepare(&format!("EXPLAIN {update}"))
            .unwrap()
            .query_map(["x"], |r| r.get(1))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert!(
            !plan.iter().any(|op| op == "OpenEphemeral"),
            "{table}: {plan:?}"
        );
    }
    let err = conn
        .execute("UPDATE outbox SET status = 'sent'", [])
        .unwrap_err();
    assert!(err.to_string().contains("CHECK constraint failed"), "{err}");
    conn.execute("UPDATE outbox SET status = 'abandoned'", [])
        .unwrap();
    let status: String = conn
        .query_row("SELECT status FROM outbox", [], |r| r.get(0))
        .unwrap();
    assert_eq!(status, "abandoned");
}

#[test]
fn concurrent_writers_from_threads_and_connections() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.db");
    let shared = Arc::new(SqliteStore::open(&db).unwrap());
    let second = Arc::new(SqliteStore::open(&db).unwrap()); // another connection, as another process would
    let threads = 8;
    let per = 25;
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let s: Arc<dyn StateStore> = if t % 2 == 0 {
                shared.clone()
            } else {
                second.clone()
            };
            std::thread::spawn(move || {
                for i in 0..per {
                    let n = t * per + i;
                    let a = AlertRecord::new(fp(n), format!("T{t}"), AlertState::Firing, n as i64);
                    let id = s.upsert_alert(&a, SYSTEM_ACTOR, "").unwrap().record.id;
                    s.transition(
                        &id,
                        AlertState::Acknowledged,
                        &format!("op{t}"),
                        "",
                        n as i64 + 1,
                    )
                    .unwrap();
                    // Every thread also enqueues the same shared keys: exactly one wins each.
                    s.enqueue(&item(&format!("shared-{i}"), "ops"), 0).unwrap();
                    s.enqueue(&item(&format!("own-{n}"), "ops"), 0).unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let st = shared.stats(0, 100).unwrap();
    assert_eq!(st.total, (threads * per) as u64);
    assert_eq!(st.by_state["acknowledged"], (threads * per) as u64);
    assert_eq!(st.top_rules.len(), threads);
    assert_eq!(
        shared.count_notifications("ops", 0).unwrap(),
        (threads * per + per) as u64
    );
    let q = AlertQuery {
        limit: MAX_LIST_LIMIT,
        ..Default::default()
    };
    for a in shared.list_alerts(&q).unwrap().0 {
        assert_eq!(shared.history(&a.id).unwrap().len(), 2);
    }
}
