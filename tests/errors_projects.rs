//! Error-tracking projects managed through the admin API on a spawned Strix: create a
//! project and send to its DSN, rotate its key (the old one is refused at once), delete it
//! (its ingest answers 404, its issues stay), restart (API projects are loaded again),
//! configured projects are read-only (409), bad slugs are 400 naming the field, `strix
//! projects` lists API projects from the data directory, and a configured project that
//! clashes with a stored one stops the start with an error naming the key.
#![allow(clippy::unwrap_used, clippy::expect_used)]
mod util;

use serde_json::{json, Value};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use util::StrixProcess;

const KEY: &str = "0123456789abcdef0123456789abcdef";

fn config() -> String {
    format!(
        "projects:\n  - {{id: 1, slug: web, public_key: \"{KEY}\"}}\n\
         check_settings:\n  components: {{disk_free_percent: 0, disk_free_critical_percent: 0}}\n"
    )
}

fn json_of(body: &str) -> Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("not JSON ({e}): {body}"))
}

fn create(strix: &StrixProcess, body: &Value) -> (u16, Value) {
    let (code, body) = strix.post(
        "/api/monitoring/projects",
        &[("content-type", "application/json")],
        body.to_string().as_bytes(),
    );
    (code, json_of(&body))
}

fn delete(strix: &StrixProcess, path: &str) -> (u16, Value) {
    let resp = util::agent_with_timeout(Duration::from_secs(10))
        .delete(&strix.url(path))
        .call();
    let resp = match resp {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("DELETE {path}: {e}"),
    };
    let code = resp.status();
    (code, json_of(&resp.into_string().unwrap()))
}

fn list(strix: &StrixProcess) -> Vec<Value> {
    let (code, body) = strix.get("/api/monitoring/projects");
    assert_eq!(code, 200, "{body}");
    let v = json_of(&body);
    assert_eq!(v["success"], true);
    v["data"].as_array().unwrap().clone()
}

/// Sends one event as an envelope for `project` with `key` in `X-Sentry-Auth`
/// (or, with `key == None`, only in the envelope header's `dsn`).
fn send(strix: &StrixProcess, project: u64, key: Option<&str>, dsn: &str, message: &str) -> u16 {
    static SEQ: AtomicU64 = AtomicU64::new(0);
    let n = SEQ.fetch_add(1, Ordering::Relaxed);
    let id = format!("{:016x}{n:016x}", util::now_ms());
    let event = json!({"event_id": id, "message": message, "level": "error", "platform": "python"});
    let body = format!(
        "{}\n{{\"type\":\"event\"}}\n{}\n",
        json!({"event_id": id, "dsn": dsn}),
        event
    );
    let auth =
        key.map(|k| format!("Sentry sentry_version=7, sentry_key={k}, sentry_client=test/1"));
    let mut headers = vec![("content-type", "application/x-sentry-envelope")];
    if let Some(a) = &auth {
        headers.push(("x-sentry-auth", a.as_str()));
    }
    strix
        .post(
            &format!("/api/{project}/envelope/"),
            &headers,
            body.as_bytes(),
        )
        .0
}

fn issues_titled(strix: &StrixProcess, title: &str) -> Vec<Value> {
    let (code, body) = strix.get(&format!(
        "/api/monitoring/errors/issues?q={}",
        util::urlencode(title)
    ));
    assert_eq!(code, 200, "{body}");
    json_of(&body)["data"].as_array().unwrap().clone()
}

#[test]
fn projects_through_the_admin_api() {
    let mut strix = StrixProcess::start(&[], Some(&config()));
    let host = format!("127.0.0.1:{}", strix.port);

    // The configured project, with its fixed key and DSN.
    let all = list(&strix);
    assert_eq!(all.len(), 1, "{all:?}");
    assert_eq!(all[0]["slug"], "web");
    assert_eq!(all[0]["source"], "config");
    assert_eq!(all[0]["publicKey"], KEY);
    assert_eq!(all[0]["dsn"], format!("http://{KEY}@{host}/1"));
    assert_eq!(all[0]["createdAt"], Value::Null);

    // Create: 201, the next id, a random 32-hex key, a DSN for this server.
    let (code, v) = create(&strix, &json!({"slug": "api", "name": "Backend API"}));
    assert_eq!(code, 201, "{v}");
    let p = &v["data"];
    assert_eq!(
        (p["id"].as_u64(), p["source"].as_str()),
        (Some(2), Some("api"))
    );
    assert_eq!(p["name"], "Backend API");
    let key1 = p["publicKey"].as_str().unwrap().to_string();
    assert_eq!(key1.len(), 32);
    assert!(key1.bytes().all(|b| b.is_ascii_hexdigit()), "{key1}");
    assert_ne!(key1, KEY);
    let dsn1 = p["dsn"].as_str().unwrap().to_string();
    assert_eq!(dsn1, format!("http://{key1}@{host}/2"));
    assert!(p["createdAt"].as_str().is_some(), "{p}");
    assert_eq!(list(&strix).len(), 2);

    // Events with its key (header) and with only the DSN in the envelope: stored.
    assert_eq!(
        send(&strix, 2, Some(&key1), &dsn1, "projects api first"),
        200
    );
    assert_eq!(send(&strix, 2, None, &dsn1, "projects api via dsn"), 200);
    let issues = issues_titled(&strix, "projects api first");
    assert_eq!(issues.len(), 1, "{issues:?}");
    assert_eq!(issues[0]["project"], 2);
    assert_eq!(issues_titled(&strix, "projects api via dsn").len(), 1);
    // The key of another project is not this project's.
    assert_eq!(send(&strix, 2, Some(KEY), &dsn1, "projects wrong key"), 401);

    // Rotate: the old key is refused at once, the new one works.
    let (code, body) = strix.post("/api/monitoring/projects/2/rotate-key", &[], b"");
    assert_eq!(code, 200, "{body}");
    let rotated = json_of(&body)["data"].clone();
    let key2 = rotated["publicKey"].as_str().unwrap().to_string();
    assert_ne!(key2, key1);
    let dsn2 = rotated["dsn"].as_str().unwrap().to_string();
    assert_eq!(dsn2, format!("http://{key2}@{host}/2"));
    assert_eq!(send(&strix, 2, Some(&key1), &dsn1, "projects old key"), 401);
    assert_eq!(send(&strix, 2, None, &dsn1, "projects old dsn"), 401);
    assert_eq!(send(&strix, 2, Some(&key2), &dsn2, "projects new key"), 200);
    assert!(issues_titled(&strix, "projects old key").is_empty());

    // Bad slugs: 400 naming the field; clashes: 409; nothing created.
    for bad in [
        json!({"slug": "", "name": "x"}),
        json!({"slug": "a".repeat(65)}),
        json!({"slug": "Bad Slug!"}),
        json!({"name": "no slug"}),
    ] {
        let (code, v) = create(&strix, &bad);
        assert_eq!(code, 400, "{bad}: {v}");
        assert_eq!(v["success"], false);
        assert!(v.to_string().contains("slug"), "{bad}: {v}");
    }
    let (code, v) = create(&strix, &json!({"slug": "ok", "name": "bad\u{0007}name"}));
    assert_eq!(code, 400, "{v}");
    assert!(v.to_string().contains("name"), "{v}");
    let (code, v) = create(&strix, &json!({"slug": "ok", "colour": "red"}));
    assert_eq!(code, 400, "{v}");
    for taken in ["api", "web"] {
        let (code, v) = create(&strix, &json!({"slug": taken}));
        assert_eq!(code, 409, "{taken}: {v}");
        assert!(v.to_string().contains(&format!("\\\"{taken}\\\"")), "{v}");
    }
    assert_eq!(list(&strix).len(), 2);

    // Configured projects are read-only through the API.
    let (code, v) = delete(&strix, "/api/monitoring/projects/1");
    assert_eq!(code, 409, "{v}");
    assert!(v.to_string().contains("configuration"), "{v}");
    let (code, body) = strix.post("/api/monitoring/projects/1/rotate-key", &[], b"");
    assert_eq!(code, 409, "{body}");
    assert_eq!(send(&strix, 1, Some(KEY), "", "projects web still"), 200);
    let (code, _) = delete(&strix, "/api/monitoring/projects/77");
    assert_eq!(code, 404);
    let (code, _) = delete(&strix, "/api/monitoring/projects/abc");
    assert_eq!(code, 400);

    // Delete: ingest answers 404 like an unknown project; its issues stay.
    let (code, v) = delete(&strix, "/api/monitoring/projects/2");
    assert_eq!(code, 200, "{v}");
    assert_eq!(
        send(&strix, 2, Some(&key2), &dsn2, "projects after delete"),
        404
    );
    assert_eq!(issues_titled(&strix, "projects api first").len(), 1);
    assert_eq!(list(&strix).len(), 1);
    let (code, _) = delete(&strix, "/api/monitoring/projects/2");
    assert_eq!(code, 404);

    // A third project gets a fresh id (the deleted one's is not reused).
    let (code, v) = create(&strix, &json!({"slug": "jobs"}));
    assert_eq!(code, 201, "{v}");
    assert_eq!(v["data"]["id"], 3);
    assert_eq!(v["data"]["name"], "jobs");
    let key3 = v["data"]["publicKey"].as_str().unwrap().to_string();

    // `strix projects` reads API projects from the data directory (server running).
    let cfg_path = strix.scratch().join("projects-cli.yaml");
    std::fs::write(&cfg_path, config()).unwrap();
    let out = Command::new(util::strix_bin())
        .args(["projects", "-c"])
        .arg(&cfg_path)
        .arg("--data-dir")
        .arg(strix.data_dir())
        .args(["--listen", "127.0.0.1:3003"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!(
            "1\tweb\thttp://{KEY}@127.0.0.1:3003/1\n3\tjobs\thttp://{key3}@127.0.0.1:3003/3\tapi"
        )
    );

    // Restart: the API project is loaded again with its key; the deleted one stays gone.
    strix.restart();
    let all = list(&strix);
    let slugs: Vec<&str> = all.iter().map(|p| p["slug"].as_str().unwrap()).collect();
    assert_eq!(slugs, ["web", "jobs"]);
    assert_eq!(all[1]["publicKey"], key3.as_str());
    assert_eq!(all[1]["source"], "api");
    let dsn3 = all[1]["dsn"].as_str().unwrap().to_string();
    assert_eq!(
        send(&strix, 3, Some(&key3), &dsn3, "projects after restart"),
        200
    );
    assert_eq!(issues_titled(&strix, "projects after restart").len(), 1);
    assert_eq!(
        send(
            &strix,
            2,
            Some(&key2),
            &dsn2,
            "projects deleted after restart"
        ),
        404
    );

    // A configured project whose id is taken by a stored one stops the start, naming it.
    strix.stop();
    let clash = strix.scratch().join("clash.yaml");
    std::fs::write(
        &clash,
        format!(
            "{}  - {{id: 3, slug: cron, public_key: \"fedcba9876543210fedcba9876543210\"}}\n",
            config().split("check_settings").next().unwrap()
        ),
    )
    .unwrap();
    let mut child = Command::new(util::strix_bin())
        .arg("serve")
        .arg("--data-dir")
        .arg(strix.data_dir())
        .args(["--listen", &format!("127.0.0.1:{}", util::free_port())])
        .arg("--config")
        .arg(&clash)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status = util::wait_exit(&mut child, Duration::from_secs(30));
    let Some(status) = status else {
        util::kill_child(&mut child);
        panic!("strix started although a configured project clashes with a stored one");
    };
    assert!(!status.success());
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert!(err.contains("key `projects"), "{err}");
    assert!(err.contains("same id 3"), "{err}");
}

/// With API keys configured, listing needs the read scope and changes the admin scope.
#[test]
fn project_changes_need_the_admin_scope() {
    let cfg = format!(
        "{}auth:\n  api_keys:\n    - {{name: r, key: \"read-key-0123456789ab\", scopes: [read]}}\n    \
         - {{name: a, key: \"admin-key-0123456789a\", scopes: [admin]}}\n",
        config()
    );
    let strix = StrixProcess::start(&[], Some(&cfg));
    let read = [("authorization", "Bearer read-key-0123456789ab")];
    let admin = [
        ("authorization", "Bearer admin-key-0123456789a"),
        ("content-type", "application/json"),
    ];
    let (code, _) = strix.get("/api/monitoring/projects");
    assert_eq!(code, 401);
    let (code, body) = strix.get_with("/api/monitoring/projects", &read);
    assert_eq!(code, 200, "{body}");
    assert_eq!(json_of(&body)["data"].as_array().unwrap().len(), 1);
    let (code, body) = strix.post("/api/monitoring/projects", &read, br#"{"slug":"api"}"#);
    assert_eq!(code, 403, "{body}");
    let (code, body) = strix.post("/api/monitoring/projects", &admin, br#"{"slug":"api"}"#);
    assert_eq!(code, 201, "{body}");
    let (code, body) = strix.get_with("/api/monitoring/projects", &read);
    assert_eq!(code, 200);
    assert_eq!(json_of(&body)["data"].as_array().unwrap().len(), 2);
}
