//! Alertmanager's matcher syntax: `name op value` with `=`, `!=`, `=~`, `!~`.
//!
//! One string may hold a single matcher (`severity="critical"`), several separated by
//! commas, optionally inside braces (`{team="db", env=~"prod|stage"}`). Values may be
//! double-quoted (with `\"`, `\\`, `\n`, `\t` escapes) or unquoted (`severity=critical`,
//! trimmed). Names may be quoted to allow any UTF-8 (`"service.name"="api"`); unquoted
//! names and values may also hold non-ASCII characters. Regular expressions are anchored
//! at both ends, as in Alertmanager.

use strix_core::{Labels, MatchOp, Matcher};

/// A matcher string that does not parse.
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
#[error("invalid matcher {input:?}: {reason}")]
pub struct ParseMatcherError {
    pub input: String,
    pub reason: String,
}

/// Whether every matcher accepts `labels` (an absent label matches as the empty string).
pub fn matches_all(matchers: &[Matcher], labels: &Labels) -> bool {
    matchers
        .iter()
        .all(|m| m.matches(labels.get(&m.name).unwrap_or("")))
}

/// Parses one entry of a `matchers:` list (one or more comma-separated matchers).
pub fn parse_matchers(input: &str) -> Result<Vec<Matcher>, ParseMatcherError> {
    let err = |reason: &str| ParseMatcherError {
        input: input.to_string(),
        reason: reason.to_string(),
    };
    let mut s = input.trim();
    if let Some(rest) = s.strip_prefix('{') {
        s = rest
            .strip_suffix('}')
            .ok_or_else(|| err("missing closing '}'"))?
            .trim();
    } else if s.ends_with('}') {
        return Err(err("missing opening '{'"));
    }
    let mut out = Vec::new();
    let mut p = Cursor { s, pos: 0 };
    loop {
        p.skip_ws();
        if p.done() {
            break;
        }
        let name = if p.peek() == Some('"') {
            p.quoted().map_err(err)?
        } else {
            let n = p.take_while(|c| !c.is_whitespace() && !"=!~,{}\"".contains(c));
            n.to_string()
        };
        if name.is_empty() {
            return Err(err("expected a label name"));
        }
        p.skip_ws();
        let op = if p.eat("=~") {
            MatchOp::RegexMatch
        } else if p.eat("!~") {
            MatchOp::RegexNoMatch
        } else if p.eat("!=") {
            MatchOp::NotEqual
        } else if p.eat("=") {
            MatchOp::Equal
        } else {
            return Err(err(&format!(
                "expected one of =, !=, =~, !~ after {name:?}"
            )));
        };
        p.skip_ws();
        let value = if p.peek() == Some('"') {
            let v = p.quoted().map_err(err)?;
            p.skip_ws();
            v
        } else {
            let v = p.take_while(|c| c != ',');
            if v.contains('"') {
                return Err(err("unbalanced quote in value"));
            }
            v.trim_end().to_string()
        };
        match p.peek() {
            None => {}
            Some(',') => {
                p.pos += 1;
            }
            Some(c) => return Err(err(&format!("unexpected {c:?} after value"))),
        }
        let m = Matcher::new(op, name, value).map_err(|e| err(&e.to_string()))?;
        out.push(m);
    }
    if out.is_empty() {
        return Err(err("no matchers"));
    }
    Ok(out)
}

/// Renders matchers as `{a="b", c=~"d"}` (used in route ids).
pub fn render(matchers: &[Matcher]) -> String {
    let parts: Vec<String> = matchers.iter().map(render_one).collect();
    format!("{{{}}}", parts.join(", "))
}

fn render_one(m: &Matcher) -> String {
    let op = match m.op {
        MatchOp::Equal => "=",
        MatchOp::NotEqual => "!=",
        MatchOp::RegexMatch => "=~",
        MatchOp::RegexNoMatch => "!~",
    };
    format!("{}{}{}", m.name, op, quote(&m.value))
}

/// Double-quotes `s`, escaping backslashes, quotes and newlines.
pub fn quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

struct Cursor<'a> {
    s: &'a str,
    pos: usize,
}

impl<'a> Cursor<'a> {
    fn done(&self) -> bool {
        self.pos >= self.s.len()
    }
    fn rest(&self) -> &'a str {
        &self.s[self.pos..]
    }
    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }
    fn skip_ws(&mut self) {
        let n = self.rest().len() - self.rest().trim_start().len();
        self.pos += n;
    }
    fn eat(&mut self, tok: &str) -> bool {
        if self.rest().starts_with(tok) {
            self.pos += tok.len();
            true
        } else {
            false
        }
    }
    fn take_while(&mut self, f: impl Fn(char) -> bool) -> &'a str {
        let rest = self.rest();
        let n = rest.find(|c: char| !f(c)).unwrap_or(rest.len());
        self.pos += n;
        &rest[..n]
    }
    /// Reads a double-quoted string starting at the cursor.
    fn quoted(&mut self) -> Result<String, &'static str> {
        let mut out = String::new();
        let mut chars = self.rest().char_indices();
        chars.next(); // opening quote
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => {
                    self.pos += i + 1;
                    return Ok(out);
                }
                '\\' => match chars.next() {
                    Some((_, 'n')) => out.push('\n'),
                    Some((_, 't')) => out.push('\t'),
                    Some((_, '"')) => out.push('"'),
                    Some((_, '\\')) => out.push('\\'),
                    // Regex escapes such as `\.` are kept as written.
                    Some((_, other)) => {
                        out.push('\\');
                        out.push(other);
                    }
                    None => return Err("unterminated quoted string"),
                },
                c => out.push(c),
            }
        }
        Err("unterminated quoted string")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(s: &str) -> Matcher {
        let v = parse_matchers(s).unwrap();
        assert_eq!(v.len(), 1, "{s}");
        v.into_iter().next().unwrap()
    }

    #[test]
    fn parses_operators_and_quoting() {
        let m = one(r#"severity="critical""#);
        assert_eq!(
            (m.name.as_str(), m.op, m.value.as_str()),
            ("severity", MatchOp::Equal, "critical")
        );
        let m = one("severity = critical ");
        assert_eq!((m.op, m.value.as_str()), (MatchOp::Equal, "critical"));
        assert_eq!(one(r#"a!="b""#).op, MatchOp::NotEqual);
        assert_eq!(one(r#"a=~"b.*""#).op, MatchOp::RegexMatch);
        assert_eq!(one(r#"a!~"b.*""#).op, MatchOp::RegexNoMatch);
        assert_eq!(one(r#"a="x\"y""#).value, "x\"y");
        assert_eq!(one(r#"a=~"x\.y""#).value, r"x\.y");
        assert_eq!(one(r#"a="""#).value, "");
        assert_eq!(one("a=").value, "");
    }

    #[test]
    fn parses_utf8_and_lists() {
        let m = one("service=café");
        assert_eq!(m.value, "café");
        let m = one(r#""service.name"="日本""#);
        assert_eq!(
            (m.name.as_str(), m.value.as_str()),
            ("service.name", "日本")
        );
        let v = parse_matchers(r#"{team="db", env=~"prod|stage"}"#).unwrap();
        assert_eq!(v.len(), 2);
        let v = parse_matchers(r#"team="db",env="prod","#).unwrap();
        assert_eq!(v.len(), 2);
        // Commas inside quotes belong to the value.
        assert_eq!(one(r#"a="x,y""#).value, "x,y");
    }

    #[test]
    fn rejects_bad_input() {
        for bad in [
            "",
            "{a=\"b\"",
            "a",
            "=b",
            "a=\"b",
            "a=~\"(\"",
            "a==\"b\"x",
            "a=b\"c",
        ] {
            assert!(parse_matchers(bad).is_err(), "{bad:?} should fail");
        }
        let e = parse_matchers("a~b").unwrap_err();
        assert!(e.to_string().contains("expected one of"), "{e}");
    }

    #[test]
    fn regex_is_anchored_and_absent_is_empty() {
        let ms = parse_matchers(r#"a=~"b|c", z!="x""#).unwrap();
        assert!(matches_all(&ms, &Labels::from_pairs([("a", "b")])));
        assert!(!matches_all(&ms, &Labels::from_pairs([("a", "bb")])));
        assert!(matches_all(
            &parse_matchers(r#"x="""#).unwrap(),
            &Labels::default()
        ));
    }

    #[test]
    fn renders() {
        let ms = parse_matchers(r#"a="b", c=~"d\"e""#).unwrap();
        assert_eq!(render(&ms), r#"{a="b", c=~"d\"e"}"#);
        assert_eq!(render(&[]), "{}");
    }
}
