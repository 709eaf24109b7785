//! Subject, text and HTML bodies.

use super::config::EmailConfig;
use crate::channels::notification::{Alert, AlertStatus, Notification};
use crate::channels::template::{self, html_escape};

/// Subject lines are kept short enough for every client.
const MAX_SUBJECT: usize = 250;

pub fn subject(cfg: &EmailConfig, n: &Notification) -> String {
    let s = cfg.subject.clone().unwrap_or_else(|| template::subject(n));
    // No header injection: a subject is one line.
    let one_line: String = s
        .chars()
        .map(|c| if c == '\r' || c == '\n' { ' ' } else { c })
        .collect();
    template::truncate_chars(&one_line, MAX_SUBJECT)
}

pub fn text(n: &Notification) -> String {
    template::text_body(n)
}

pub fn html(n: &Notification) -> String {
    let color = match n.status {
        AlertStatus::Firing => "#b3261e",
        AlertStatus::Resolved => "#1e7e34",
    };
    let mut s = String::new();
    s.push_str("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>");
    s.push_str(&html_escape(&template::subject(n)));
    s.push_str("</title></head>\n<body style=\"font-family:sans-serif;font-size:14px\">\n");
    s.push_str(&format!(
        "<h2 style=\"color:{color}\">{}</h2>\n",
        html_escape(&template::subject(n))
    ));
    let url = template::alerts_url(n);
    if !url.is_empty() {
        s.push_str(&format!(
            "<p><a href=\"{}\">View in Strix</a></p>\n",
            html_escape(&url)
        ));
    }
    let firing: Vec<&Alert> = n.firing_alerts().collect();
    let resolved: Vec<&Alert> = n.resolved_alerts().collect();
    section(&mut s, "Firing", &firing);
    section(&mut s, "Resolved", &resolved);
    s.push_str("<p style=\"color:#888\">Sent by Strix</p>\n</body></html>\n");
    s
}

fn section(s: &mut String, title: &str, alerts: &[&Alert]) {
    if alerts.is_empty() {
        return;
    }
    s.push_str(&format!("<h3>{title} ({})</h3>\n", alerts.len()));
    for a in alerts {
        s.push_str("<table style=\"border-collapse:collapse;margin-bottom:12px\">\n");
        s.push_str(&format!(
            "<tr><th colspan=\"2\" style=\"text-align:left\">{}</th></tr>\n",
            html_escape(a.name())
        ));
        for (k, v) in a.annotations.iter().chain(a.labels.iter()) {
            s.push_str(&format!(
                "<tr><td style=\"padding:2px 8px;color:#555\">{}</td><td style=\"padding:2px 8px\">{}</td></tr>\n",
                html_escape(k),
                html_escape(v)
            ));
        }
        if !a.generator_url.is_empty() {
            s.push_str(&format!(
                "<tr><td colspan=\"2\"><a href=\"{}\">Source</a></td></tr>\n",
                html_escape(&a.generator_url)
            ));
        }
        s.push_str("</table>\n");
    }
}
