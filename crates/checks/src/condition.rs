//! JSON conditions for HTTP checks (`json_condition`).
//!
//! Syntax: `PATH [OP VALUE]`.
//!
//! - `PATH` is a dotted path into the response body: `status`, `data.items.0.name`
//!   (a segment made of digits indexes an array). An optional leading `$.` is ignored, and
//!   `$` alone is the whole document.
//! - `OP` is one of `==`, `!=`, `>`, `>=`, `<`, `<=`.
//! - `VALUE` is a JSON literal (`"ok"`, `3`, `2.5`, `true`, `null`); a bare word that is not
//!   JSON is taken as a string, so `status == ok` works.
//! - Without `OP VALUE` the condition holds when the path exists and is neither `null` nor
//!   `false`.
//!
//! `==` and `!=` compare JSON values (numbers numerically); the ordering operators need two
//! numbers or two strings, anything else makes the condition false.

use std::cmp::Ordering;
use std::fmt;

use serde_json::Value;

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

impl CompareOp {
    fn as_str(self) -> &'static str {
        match self {
            CompareOp::Eq => "==",
            CompareOp::Ne => "!=",
            CompareOp::Gt => ">",
            CompareOp::Ge => ">=",
            CompareOp::Lt => "<",
            CompareOp::Le => "<=",
        }
    }
}

/// One path segment.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Key(String),
    Index(usize),
}

/// A parsed `json_condition`.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonCondition {
    source: String,
    path: Vec<Segment>,
    compare: Option<(CompareOp, Value)>,
}

impl fmt::Display for JsonCondition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

impl JsonCondition {
    /// Parses a condition; the error says what is wrong.
    pub fn parse(src: &str) -> Result<Self, String> {
        let s = src.trim();
        if s.is_empty() {
            return Err("empty condition".into());
        }
        // Find the first operator outside the path (paths never contain these characters).
        let ops = [
            ("==", CompareOp::Eq),
            ("!=", CompareOp::Ne),
            (">=", CompareOp::Ge),
            ("<=", CompareOp::Le),
            (">", CompareOp::Gt),
            ("<", CompareOp::Lt),
        ];
        let mut found: Option<(usize, &str, CompareOp)> = None;
        for (tok, op) in ops {
            if let Some(pos) = s.find(tok) {
                let better = match found {
                    None => true,
                    Some((p, t, _)) => pos < p || (pos == p && tok.len() > t.len()),
                };
                if better {
                    found = Some((pos, tok, op));
                }
            }
        }
        let (path_src, compare) = match found {
            None => (s, None),
            Some((pos, tok, op)) => {
                let lhs = s[..pos].trim();
                let rhs = s[pos + tok.len()..].trim();
                if rhs.is_empty() {
                    return Err(format!("missing value after {:?}", op.as_str()));
                }
                let value = serde_json::from_str::<Value>(rhs)
                    .unwrap_or_else(|_| Value::String(rhs.to_string()));
                (lhs, Some((op, value)))
            }
        };
        let path = parse_path(path_src)?;
        Ok(JsonCondition {
            source: s.to_string(),
            path,
            compare,
        })
    }

    /// Evaluates the condition against a document: `Ok(())` when it holds, otherwise why not.
    pub fn eval(&self, doc: &Value) -> Result<(), String> {
        let mut cur = doc;
        for seg in &self.path {
            let next = match seg {
                Segment::Key(k) => cur.get(k.as_str()),
                Segment::Index(i) => cur.get(*i),
            };
            cur = match next {
                Some(v) => v,
                None => return Err(format!("json_condition {:?}: path not found", self.source)),
            };
        }
        let holds = match &self.compare {
            None => !matches!(cur, Value::Null | Value::Bool(false)),
            Some((op, want)) => compare(cur, *op, want),
        };
        if holds {
            Ok(())
        } else {
            Err(format!(
                "json_condition {:?} is false (value {})",
                self.source,
                truncate(&cur.to_string(), 200)
            ))
        }
    }
}

fn parse_path(src: &str) -> Result<Vec<Segment>, String> {
    let s = src.trim();
    let s = if s == "$" {
        ""
    } else {
        s.strip_prefix("$.").unwrap_or(s)
    };
    if s.is_empty() {
        return Ok(Vec::new());
    }
    s.split('.')
        .map(|seg| {
            if seg.is_empty() {
                return Err(format!("empty path segment in {src:?}"));
            }
            if seg.chars().any(char::is_whitespace) {
                return Err(format!("path segment {seg:?} contains whitespace"));
            }
            Ok(match seg.parse::<usize>() {
                Ok(i) if seg.bytes().all(|b| b.is_ascii_digit()) => Segment::Index(i),
                _ => Segment::Key(seg.to_string()),
            })
        })
        .collect()
}

fn compare(have: &Value, op: CompareOp, want: &Value) -> bool {
    let ord = match (have, want) {
        (Value::Number(a), Value::Number(b)) => match (a.as_f64(), b.as_f64()) {
            (Some(a), Some(b)) => a.partial_cmp(&b),
            _ => None,
        },
        (Value::String(a), Value::String(b)) => Some(a.cmp(b)),
        _ => None,
    };
    match op {
        CompareOp::Eq => ord.map_or(have == want, |o| o == Ordering::Equal),
        CompareOp::Ne => ord.map_or(have != want, |o| o != Ordering::Equal),
        CompareOp::Gt => ord == Some(Ordering::Greater),
        CompareOp::Ge => matches!(ord, Some(Ordering::Greater | Ordering::Equal)),
        CompareOp::Lt => ord == Some(Ordering::Less),
        CompareOp::Le => matches!(ord, Some(Ordering::Less | Ordering::Equal)),
    }
}

pub(crate) fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn holds(cond: &str, doc: &Value) -> bool {
        JsonCondition::parse(cond).unwrap().eval(doc).is_ok()
    }

    #[test]
    fn paths_and_operators() {
        let doc =
            json!({"status": "ok", "data": {"items": [{"n": 3}, {"n": 7}]}, "up": true, "v": null});
        assert!(holds("status == \"ok\"", &doc));
        assert!(holds("status == ok", &doc));
        assert!(holds("$.status != \"down\"", &doc));
        assert!(holds("data.items.1.n >= 7", &doc));
        assert!(holds("data.items.0.n < 3.5", &doc));
        assert!(!holds("data.items.0.n > 3", &doc));
        assert!(holds("data.items.0.n == 3.0", &doc));
        assert!(holds("up", &doc));
        assert!(holds("up == true", &doc));
        assert!(!holds("v", &doc));
        assert!(holds("v == null", &doc));
        assert!(!holds("missing", &doc));
        assert!(!holds("status > 3", &doc));
        assert!(holds("$ != null", &doc));
    }

    #[test]
    fn parse_errors() {
        assert!(JsonCondition::parse("").is_err());
        assert!(JsonCondition::parse("a..b == 1").is_err());
        assert!(JsonCondition::parse("a ==").is_err());
        assert!(JsonCondition::parse("a b == 1").is_err());
    }
}
