//! Default titles and texts, modelled on Alertmanager's `default.tmpl`.

use super::notification::{Alert, AlertStatus, LabelSet, Notification};

/// Alertmanager's `__subject`:
/// `[FIRING:2] <group label values> (<other common label values>)`, or `[RESOLVED] …`.
pub fn subject(n: &Notification) -> String {
    let mut s = match n.status {
        AlertStatus::Firing => format!("[FIRING:{}]", n.num_firing()),
        AlertStatus::Resolved => "[RESOLVED]".to_string(),
    };
    let group: Vec<&str> = n.group_labels.values().map(String::as_str).collect();
    s.push(' ');
    s.push_str(&group.join(" "));
    if n.common_labels.len() > n.group_labels.len() {
        let rest: Vec<&str> = n
            .common_labels
            .iter()
            .filter(|(k, _)| !n.group_labels.contains_key(*k))
            .map(|(_, v)| v.as_str())
            .collect();
        s.push_str(" (");
        s.push_str(&rest.join(" "));
        s.push(')');
    }
    s
}

/// Alertmanager's `__alertmanagerURL`: `<externalURL>/#/alerts?receiver=<receiver>`.
pub fn alerts_url(n: &Notification) -> String {
    if n.external_url.is_empty() {
        return String::new();
    }
    let receiver: String = form_urlencode(&n.receiver);
    format!(
        "{}/#/alerts?receiver={receiver}",
        n.external_url.trim_end_matches('/')
    )
}

fn form_urlencode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b' ' => out.push('+'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// Alertmanager's `__text_alert_list` for `alerts`.
pub fn text_alert_list<'a>(alerts: impl IntoIterator<Item = &'a Alert>) -> String {
    let mut s = String::new();
    for a in alerts {
        s.push_str("Labels:\n");
        push_pairs(&mut s, &a.labels);
        s.push_str("Annotations:\n");
        push_pairs(&mut s, &a.annotations);
        s.push_str("Source: ");
        s.push_str(&a.generator_url);
        s.push('\n');
    }
    s
}

fn push_pairs(s: &mut String, pairs: &LabelSet) {
    for (k, v) in pairs {
        s.push_str(" - ");
        s.push_str(k);
        s.push_str(" = ");
        s.push_str(v);
        s.push('\n');
    }
}

/// The default plain-text body (e-mail text part, Teams, PagerDuty details):
/// firing alerts then resolved alerts, each as a label/annotation list.
pub fn text_body(n: &Notification) -> String {
    let mut s = String::new();
    let firing: Vec<&Alert> = n.firing_alerts().collect();
    let resolved: Vec<&Alert> = n.resolved_alerts().collect();
    if !firing.is_empty() {
        s.push_str(&format!("Alerts Firing ({}):\n", firing.len()));
        s.push_str(&text_alert_list(firing));
    }
    if !resolved.is_empty() {
        if !s.is_empty() {
            s.push('\n');
        }
        s.push_str(&format!("Alerts Resolved ({}):\n", resolved.len()));
        s.push_str(&text_alert_list(resolved));
    }
    let url = alerts_url(n);
    if !url.is_empty() {
        s.push_str(&format!("\nView in Strix: {url}\n"));
    }
    s
}

/// One line per alert: `alertname: summary` (or description, or its labels), for chat
/// messages and SMS.
pub fn short_lines(n: &Notification) -> Vec<String> {
    n.alerts
        .iter()
        .map(|a| {
            let what = a
                .annotations
                .get("summary")
                .or_else(|| a.annotations.get("description"))
                .or_else(|| a.annotations.get("message"))
                .cloned()
                .unwrap_or_else(|| {
                    a.labels
                        .iter()
                        .filter(|(k, _)| k.as_str() != "alertname")
                        .map(|(k, v)| format!("{k}={v}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                });
            let mark = match a.status {
                AlertStatus::Firing => "",
                AlertStatus::Resolved => " (resolved)",
            };
            if what.is_empty() {
                format!("{}{mark}", a.name())
            } else {
                format!("{}{mark}: {what}", a.name())
            }
        })
        .collect()
}

/// Truncates to at most `max` characters, ending with `…` when cut.
pub fn truncate_chars(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    if max == 0 {
        return String::new();
    }
    let mut out: String = s.chars().take(max - 1).collect();
    out.push('…');
    out
}

/// Escapes text for HTML element content and attribute values.
pub fn html_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channels::test_support::sample_notification;

    #[test]
    fn subject_like_alertmanager() {
        let n = sample_notification();
        assert_eq!(subject(&n), "[FIRING:1] HighLatency (prod api)");
        let mut r = n.clone();
        r.status = AlertStatus::Resolved;
        assert_eq!(subject(&r), "[RESOLVED] HighLatency (prod api)");
    }

    #[test]
    fn alerts_url_escapes_receiver() {
        let mut n = sample_notification();
        n.receiver = "team a/b".into();
        assert_eq!(
            alerts_url(&n),
            "https://strix.example/#/alerts?receiver=team+a%2Fb"
        );
    }

    #[test]
    fn truncation_is_char_safe() {
        assert_eq!(truncate_chars("héllo", 10), "héllo");
        assert_eq!(truncate_chars("héllo", 3), "hé…");
        assert_eq!(truncate_chars("héllo", 3).chars().count(), 3);
    }

    #[test]
    fn text_body_lists_alerts() {
        let t = text_body(&sample_notification());
        assert!(t.contains("Alerts Firing (1):\nLabels:\n - alertname = HighLatency\n"));
        assert!(t.contains("Alerts Resolved (1):"));
        assert!(t.contains("View in Strix: https://strix.example/#/alerts?receiver=team-api"));
    }
}
