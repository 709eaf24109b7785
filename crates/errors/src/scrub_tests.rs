use super::*;
use serde_json::json;

fn scrubber() -> Scrubber {
    Scrubber::new(&ScrubConfig::default()).unwrap()
}

fn s(text: &str) -> String {
    scrubber()
        .scrub_str(text)
        .unwrap_or_else(|| text.to_owned())
}

#[test]
fn keys_case_insensitive_nested_and_in_arrays() {
    let mut ev = json!({
        "event_id": "abc",
        "extra": {
            "Password": "hunter2",
            "nested": {"deeper": [{"api_key": "k1", "ok": "visible"}, {"PASSWD": 7}]},
            "db_password_hash": "x",
            "empty_token": "",
            "null_secret": null,
            "AccessToken": {"a": 1},
        },
        "request": {
            "headers": {"Authorization": "Basic Zm9vOmJhcg==", "X-Api-Key": "k2", "Set-Cookie": "a=b", "Accept": "*/*"},
            "cookies": "session=abc; theme=dark",
            "data": {"user": "bob", "credit_card": "4111 1111 1111 1111", "cardNumber": "1", "csrfmiddlewaretoken": "t"},
        },
    });
    let st = scrubber().scrub_event(&mut ev);
    let f = "[Filtered]";
    assert_eq!(ev["event_id"], "abc");
    assert_eq!(ev["extra"]["Password"], f);
    assert_eq!(ev["extra"]["nested"]["deeper"][0]["api_key"], f);
    assert_eq!(ev["extra"]["nested"]["deeper"][0]["ok"], "visible");
    assert_eq!(ev["extra"]["nested"]["deeper"][1]["PASSWD"], f);
    assert_eq!(ev["extra"]["db_password_hash"], f);
    assert_eq!(ev["extra"]["empty_token"], "");
    assert_eq!(ev["extra"]["null_secret"], Value::Null);
    assert_eq!(ev["extra"]["AccessToken"], f);
    let h = &ev["request"]["headers"];
    assert_eq!(h["Authorization"], f);
    assert_eq!(h["X-Api-Key"], f);
    assert_eq!(h["Set-Cookie"], f);
    assert_eq!(h["Accept"], "*/*");
    assert_eq!(ev["request"]["cookies"], f);
    let d = &ev["request"]["data"];
    assert_eq!(d["user"], "bob");
    assert_eq!(d["credit_card"], f);
    assert_eq!(d["cardNumber"], f);
    assert_eq!(d["csrfmiddlewaretoken"], f);
    assert_eq!(st.keys, 12, "{ev:#}");
}

#[test]
fn pair_lists_as_sdks_send_headers_and_query() {
    let mut ev = json!({
        "request": {
            "headers": [["Authorization", "Bearer abcdefghijkl"], ["Accept", "text/html"]],
            "query_string": [["token", "t0k3n"], ["page", "2"]],
        },
        "tags": [["session", "s1"], ["env", "prod"]],
    });
    scrubber().scrub_event(&mut ev);
    assert_eq!(
        ev["request"]["headers"][0],
        json!(["Authorization", "[Filtered]"])
    );
    assert_eq!(ev["request"]["headers"][1], json!(["Accept", "text/html"]));
    assert_eq!(
        ev["request"]["query_string"][0],
        json!(["token", "[Filtered]"])
    );
    assert_eq!(ev["request"]["query_string"][1], json!(["page", "2"]));
    assert_eq!(ev["tags"][0][1], "[Filtered]");
    assert_eq!(ev["tags"][1][1], "prod");
}

#[test]
fn key_value_pairs_inside_strings() {
    assert_eq!(
        s("https://api.example.com/v1?token=abc123&page=2"),
        "https://api.example.com/v1?token=[Filtered]&page=2"
    );
    assert_eq!(
        s("login failed for bob password=hunter2 retry=3"),
        "login failed for bob password=[Filtered] retry=3"
    );
    assert_eq!(s("a=1&api_key=zzz"), "a=1&api_key=[Filtered]");
    assert_eq!(s("x=1&y=2"), "x=1&y=2");
}

#[test]
fn quoted_values_inside_strings() {
    assert_eq!(
        s(r#"    add_breadcrumb(data={"token": "tok-abc-123"}, x="y")"#),
        r#"    add_breadcrumb(data={"token": "[Filtered]"}, x="y")"#
    );
    assert_eq!(s("password = 'hunter2'"), "password = '[Filtered]'");
    assert_eq!(s("const apiKey: \"k-1\""), "const apiKey: \"[Filtered]\"");
    assert_eq!(
        s(r#"{name: "bob", 'secret':'s'"#),
        r#"{name: "bob", 'secret':'[Filtered]'"#
    );
    assert_eq!(s(r#"user = "bob""#), r#"user = "bob""#);
}

#[test]
fn json_inside_strings() {
    let mut ev = json!({"request": {"data": "{\"username\":\"bob\",\"password\":\"hunter2\"}"}});
    scrubber().scrub_event(&mut ev);
    let inner: Value = serde_json::from_str(ev["request"]["data"].as_str().unwrap()).unwrap();
    assert_eq!(inner, json!({"username": "bob", "password": "[Filtered]"}));
    // Not JSON after all: left to the string rules.
    assert_eq!(s("[ERROR] boom"), "[ERROR] boom");
}

#[test]
fn credit_cards_luhn_checked() {
    for (input, want) in [
        (
            "card 4111 1111 1111 1111 declined",
            "card [Filtered] declined",
        ),
        ("card 4111-1111-1111-1111", "card [Filtered]"),
        ("4111111111111111", "[Filtered]"),
        ("amex 378282246310005.", "amex [Filtered]."),
        (
            "mc 5555555555554444 and visa 4012888888881881",
            "mc [Filtered] and visa [Filtered]",
        ),
        ("discover 6011111111111117", "discover [Filtered]"),
        // Luhn failures stay.
        ("order 4111111111111112", "order 4111111111111112"),
        // Millisecond timestamps start with 1: not a card network.
        ("at 1700000000005 ms", "at 1700000000005 ms"),
        // All-same digits pass Luhn but are no card.
        ("0000000000000000", "0000000000000000"),
        ("ref 4444444444444444", "ref 4444444444444444"),
        // Too short / too long / part of a longer token.
        ("id 411111111111", "id 411111111111"),
        ("00004111111111111111000000", "00004111111111111111000000"),
        ("trace 4111111111111111abc", "trace 4111111111111111abc"),
        // Phone numbers and dates.
        ("call +1 555-123-4567", "call +1 555-123-4567"),
        ("2024-01-15 12:00:00", "2024-01-15 12:00:00"),
    ] {
        assert_eq!(s(input), want, "{input}");
    }
    assert!(is_card("4242 4242 4242 4242"));
    assert!(!is_card("1234 5678 9012 3456"));
    let mut v = json!({"n": 4111111111111111u64, "m": 1700000000005u64});
    scrubber().scrub_value(&mut v);
    assert_eq!(v, json!({"n": "[Filtered]", "m": 1700000000005u64}));
}

#[test]
fn tokens_keys_and_urls() {
    assert_eq!(
        s("Authorization: Bearer eyJhbGciOi.abc-DEF_123"),
        "Authorization: Bearer [Filtered]"
    );
    let jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U";
    assert_eq!(s(&format!("token was {jwt} ok")), "token was [Filtered] ok");
    assert_eq!(s("key AKIAIOSFODNN7EXAMPLE used"), "key [Filtered] used");
    assert_eq!(
        s("connect postgres://admin:s3cret@db.internal:5432/app failed"),
        "connect postgres://admin:[Filtered]@db.internal:5432/app failed"
    );
    assert_eq!(
        s("-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY----- tail"),
        "[Filtered] tail"
    );
    // Words that merely contain the scheme name stay.
    assert_eq!(s("the bearer of bad news"), "the bearer of bad news");
    assert_eq!(s("the bearer certificates"), "the bearer certificates");
}

#[test]
fn emails_masked_stably() {
    assert_eq!(
        s("user Bob.Smith@Example.COM not found"),
        "user B***@example.com not found"
    );
    assert_eq!(s("a@example.com"), s("a@example.com"));
    assert_eq!(s("b***@example.com"), "b***@example.com");
    // Package specifiers and versions are not addresses.
    assert_eq!(s("npm:@sentry/node@8.0.0"), "npm:@sentry/node@8.0.0");
    let mut ev = json!({"user": {"id": "42", "email": "alice@corp.io", "username": "alice"}});
    scrubber().scrub_event(&mut ev);
    assert_eq!(ev["user"]["email"], "a***@corp.io");
    assert_eq!(ev["user"]["id"], "42");
}

#[test]
fn config_switches_safe_keys_and_custom_patterns() {
    let cfg = ScrubConfig {
        emails: false,
        safe_keys: vec!["author".into()],
        extra_keys: vec!["^internal_".into()],
        value_patterns: vec![r"\bEMP-\d{6}\b".into()],
        replacement: "***".into(),
        ..ScrubConfig::default()
    };
    let sc = Scrubber::new(&cfg).unwrap();
    let mut v =
        json!({"author": "bob", "auth": "x", "internal_id": 5, "note": "EMP-123456 at a@b.io"});
    sc.scrub_value(&mut v);
    assert_eq!(
        v,
        json!({"author": "bob", "auth": "***", "internal_id": "***", "note": "*** at a@b.io"})
    );
    let off = Scrubber::new(&ScrubConfig {
        enabled: false,
        ..ScrubConfig::default()
    })
    .unwrap();
    let mut v = json!({"password": "x"});
    off.scrub_event(&mut v);
    assert_eq!(v["password"], "x");
    let e = Scrubber::new(&ScrubConfig {
        extra_keys: vec!["(".into()],
        ..ScrubConfig::default()
    })
    .unwrap_err();
    assert!(
        e.to_string().starts_with("config: scrub pattern \"(\""),
        "{e}"
    );
    let ip = Scrubber::new(&ScrubConfig {
        ip_addresses: true,
        ..ScrubConfig::default()
    })
    .unwrap();
    assert_eq!(
        ip.scrub_str("from 10.1.2.3").as_deref(),
        Some("from [Filtered]")
    );
}

#[test]
fn frame_vars_breadcrumbs_and_contexts() {
    let mut ev = json!({
        "exception": {"values": [{"type": "E", "value": "bad password=x",
            "stacktrace": {"frames": [{"function": "login", "vars": {"password": "'hunter2'", "user": "'bob'"}}]}}]},
        "breadcrumbs": {"values": [{"category": "http", "data": {"url": "/login?secret=1", "Authorization": "x"}}]},
        "contexts": {"db": {"dsn": "mysql://root:pw@localhost/db"}},
        "sdk": {"name": "sentry.python", "integrations": ["token_thing"]},
    });
    scrubber().scrub_event(&mut ev);
    let ex = &ev["exception"]["values"][0];
    assert_eq!(ex["value"], "bad password=[Filtered]");
    assert_eq!(
        ex["stacktrace"]["frames"][0]["vars"]["password"],
        "[Filtered]"
    );
    assert_eq!(ex["stacktrace"]["frames"][0]["vars"]["user"], "'bob'");
    let b = &ev["breadcrumbs"]["values"][0]["data"];
    assert_eq!(b["url"], "/login?secret=[Filtered]");
    assert_eq!(b["Authorization"], "[Filtered]");
    assert_eq!(
        ev["contexts"]["db"]["dsn"],
        "mysql://root:[Filtered]@localhost/db"
    );
    assert_eq!(ev["sdk"]["integrations"][0], "token_thing");
}

#[test]
fn default_config_round_trips_through_yaml() {
    let y = serde_yaml::to_string(&ScrubConfig::default()).unwrap();
    let back: ScrubConfig = serde_yaml::from_str(&y).unwrap();
    assert_eq!(back, ScrubConfig::default());
    let partial: ScrubConfig = serde_yaml::from_str("emails: false\n").unwrap();
    assert!(!partial.emails && partial.credit_cards);
    assert!(serde_yaml::from_str::<ScrubConfig>("bogus: 1\n").is_err());
}

/// `next_key_value` finds what the regex it replaces finds, on strings built from the
/// characters that matter (key characters, `=`, stop characters, Unicode white space
/// and letters).
#[test]
fn key_value_scanner_agrees_with_the_regex() {
    let re = Regex::new(r"([A-Za-z0-9_.\-\[\]]+)=([^&;\s,'\x22]*)").unwrap();
    let alphabet: Vec<&str> = vec![
        "a", "Z", "9", "_", ".", "-", "[", "]", "=", "=", "&", ";", ",", "'", "\"", " ", "\t",
        "\n", "\u{a0}", "\u{2003}", "é", "🔑", "token", "password", "?", "/", ":", "%",
    ];
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut rnd = move |n: usize| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x % n as u64) as usize
    };
    for _ in 0..20_000 {
        let len = rnd(24);
        let s: String = (0..len).map(|_| alphabet[rnd(alphabet.len())]).collect();
        let want: Vec<(usize, usize, usize)> = re
            .captures_iter(&s)
            .map(|c| {
                let (k, v) = (c.get(1).unwrap(), c.get(2).unwrap());
                (k.start(), k.end(), v.end())
            })
            .collect();
        let mut got = Vec::new();
        let mut pos = 0;
        while let Some(kv) = next_key_value(&s, pos) {
            got.push((kv.start, kv.eq, kv.end));
            pos = kv.end;
        }
        assert_eq!(got, want, "{s:?}");
    }
}

/// The cheap tests before each value pattern never skip a string the pattern would
/// change.
#[test]
fn value_prefilters_never_skip_a_match() {
    let config = ScrubConfig {
        ip_addresses: true,
        ..ScrubConfig::default()
    };
    let sc = Scrubber::new(&config).unwrap();
    let samples = [
        "-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----",
        "postgres://app:s3cr3t@db.internal:5432/shop",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
        "Authorization: BeArEr abcdef123456",
        "key AKIAIOSFODNN7EXAMPLE here",
        "card 4111-1111-1111-1111 ok",
        "mail Bob.Smith@Example.COM now",
        "from 192.168.10.20 port",
    ];
    for s in samples {
        let hit = sc
            .patterns
            .iter()
            .filter(|(_, re)| re.is_match(s))
            .map(|(k, _)| *k)
            .collect::<Vec<_>>();
        assert!(!hit.is_empty(), "{s}");
        for k in hit {
            assert!(
                k.may_match(s, Present::of(s.as_bytes())),
                "{k:?} skipped {s:?}"
            );
            // Long text takes the other path (no byte pass).
            let long = format!("{}{s}", "x ".repeat(PRESENT_PASS_MAX_BYTES));
            assert!(
                k.may_match(&long, Present::of(long.as_bytes())),
                "{k:?} {s:?}"
            );
        }
        assert!(sc.scrub_str(s).is_some(), "{s}");
    }
    // Twelve digits cannot be a card; the test lets such strings through untouched.
    let no = |k: Kind, s: &str| assert!(!k.may_match(s, Present::of(s.as_bytes())), "{s}");
    no(Kind::CreditCard, "4111 1111 1111");
    no(Kind::CreditCard, "order 4111 took 1111 ms 1111 1111");
    no(Kind::Bearer, "the bear ate");
    no(Kind::Email, "no at sign");
    no(Kind::Jwt, "eyj lowercase");
}

/// Every card number the pattern finds and Luhn accepts passes `may_hold_card`, in text
/// of digits, separators, letters and other scripts' digits.
#[test]
fn card_prefilter_keeps_every_card() {
    let re = Regex::new(r"\b(?:\d[ \-]?){12,18}\d\b").unwrap();
    let parts = [
        "4111",
        "1111",
        "5500",
        "0000",
        "0004",
        "4",
        "1",
        "9",
        " ",
        "-",
        "  ",
        "--",
        "a",
        "x ",
        "=",
        "\u{661}",
        "\u{967}",
        "é",
        "4111111111111111",
        "5500000000000004",
    ];
    let mut x: u64 = 0xD1B5_4A32_D192_ED03;
    let mut rnd = move |n: usize| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x % n as u64) as usize
    };
    let mut cards = 0;
    for _ in 0..40_000 {
        let n = 1 + rnd(30);
        let s: String = (0..n).map(|_| parts[rnd(parts.len())]).collect();
        let found = re.find_iter(&s).any(|m| is_card(m.as_str()));
        if found {
            cards += 1;
            assert!(may_hold_card(s.as_bytes()), "{s:?}");
        }
    }
    assert!(cards > 100, "{cards}");
}

/// A header name with dashes long enough to miss the stack buffer still reads `-` as `_`.
#[test]
fn long_dashed_keys() {
    let sc = scrubber();
    let long = format!("x-{}-api-key", "a".repeat(200));
    assert!(sc.is_sensitive_key(&long));
    assert!(sc.is_sensitive_key("X-Api-Key"));
    assert!(!sc.is_sensitive_key(&format!("x-{}-plain", "a".repeat(200))));
}

/// Key decisions are cached per thread and per scrubber: two scrubbers with different
/// rules used in turn on one thread each keep their own answers.
#[test]
fn key_decisions_follow_the_scrubber() {
    let default = scrubber();
    let custom = Scrubber::new(&ScrubConfig {
        keys: vec!["^owner$".into()],
        safe_keys: vec!["password".into()],
        ..ScrubConfig::default()
    })
    .unwrap();
    for _ in 0..3 {
        assert!(default.is_sensitive_key("password"));
        assert!(!default.is_sensitive_key("owner"));
        assert!(!custom.is_sensitive_key("password"));
        assert!(custom.is_sensitive_key("Owner"));
        assert!(default.clone().is_sensitive_key("Password"));
    }
    // More distinct keys than the cache holds: answers stay right after it is emptied.
    for i in 0..(KEY_CACHE_ENTRIES + 10) {
        assert!(!default.is_sensitive_key(&format!("field_{i}")));
        assert!(default.is_sensitive_key(&format!("token_{i}")));
    }
}

/// The decision that lets an event be stored as its text is `scrub_event_stats` over a
/// read-only tape: it must find exactly what `scrub_event` scrubs, wherever it sits.
#[test]
fn the_read_only_walk_finds_what_the_editing_walk_scrubs() {
    let secrets = [
        json!({"password": "hunter2"}),
        json!({"Password": ""}),
        json!({"api-key": null}),
        json!({"x": {"y": [{"AccessToken": {"a": 1}}]}}),
        json!({"note": "card 4111 1111 1111 1111 declined"}),
        json!({"note": "card 4111 1111 1111 1112 fails luhn"}),
        json!({"n": 4111111111111111u64}),
        json!({"n": 1234567890123u64}),
        json!({"mail": "write to ann.smith@example.com"}),
        json!({"h": "Authorization: Bearer abcdefghijklmnop1234"}),
        json!({"h": "the bearer certificates"}),
        json!({"t": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl"}),
        json!({"k": "AKIAABCDEFGHIJKLMNOP"}),
        json!({"pem": "-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----"}),
        json!({"url": "postgres://app:s3cret@db:5432/app"}),
        json!({"q": "a=1&token=abc&b=2"}),
        json!({"q": "a=1&b=2"}),
        json!({"log": "user=\"bob\" password='x'"}),
        json!({"log": "{\"user\":\"bob\",\"secret\":\"x\"}"}),
        json!({"log": "[{\"ok\": 1}]"}),
        json!({"headers": [["Cookie", "session=abc"], ["Accept", "*/*"]]}),
        json!({"headers": [["X-Api-Key", ""], ["Accept", "*/*"]]}),
        json!({"headers": [["user@example.com", "v"], ["a", "b"]]}),
        json!({"mixed": [["a", "b"], "c"]}),
        json!({"ip": "from 10.1.2.3 via 192.168.0.1"}),
        json!({"v": "version 1.2.3.4"}),
        json!({"order": "ORD-12345 for SKU-9"}),
        json!(["top", "level", "password=x"]),
        json!("just a string with bob@example.org"),
    ];
    let configs = [
        ScrubConfig::default(),
        ScrubConfig {
            ip_addresses: true,
            safe_keys: vec!["password".into()],
            value_patterns: vec![r"ORD-\d+".into()],
            ..ScrubConfig::default()
        },
        ScrubConfig {
            enabled: false,
            ..ScrubConfig::default()
        },
    ];
    for config in &configs {
        let scrubber = Scrubber::new(config).unwrap();
        for secret in &secrets {
            // Alone, and in places an event puts data, next to members never scrubbed.
            let events = [
                secret.clone(),
                json!({"event_id": "password=x", "sdk": {"password": "x"}, "extra": secret}),
                json!({"exception": {"values": [{"value": secret, "stacktrace": {"frames": [{"vars": secret}]}}]}}),
                json!({"breadcrumbs": [{"data": secret}], "request": {"data": [secret, secret]}}),
            ];
            for event in events {
                let text = event.to_string();
                let read =
                    crate::json::with_tape(text.as_bytes(), |t| scrubber.scrub_event_stats(t));
                let mut edited = event.clone();
                let scrubbed = scrubber.scrub_event(&mut edited);
                assert_eq!(read, Some(scrubbed), "{text} with {config:?}");
                assert_eq!(scrubbed == ScrubStats::default(), edited == event, "{text}");
            }
        }
    }
}
