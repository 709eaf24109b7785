//! Stack traces as text, for apps that send `stack` strings instead of SDK frames.
//!
//! Understood line formats: V8 (`    at fn (file:line:col)`, `    at file:line:col`),
//! Firefox/Safari (`fn@file:line:col`), Java-style (`at pkg.Class.method(File.java:42)`),
//! Python tracebacks (`  File "x.py", line 10, in fn` plus the source line after it) and
//! Ruby (`file.rb:10:in 'fn'`). A `Type: message` header (JavaScript's first line,
//! Python's last) gives the exception type and value. Lines in no known format are
//! skipped. Frames come out in Sentry order: outermost first.

use std::sync::LazyLock;

use regex::Regex;

use crate::normalize::Frame;

/// Most frames read from one stack string.
const MAX_FRAMES: usize = 250;

/// What a stack string says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ParsedStack {
    pub ty: Option<String>,
    pub value: Option<String>,
    /// Outermost first.
    pub frames: Vec<Frame>,
}

struct Patterns {
    v8: Regex,
    v8_bare: Regex,
    java: Regex,
    gecko: Regex,
    python: Regex,
    ruby: Regex,
    location: Regex,
    header: Regex,
}

impl Patterns {
    fn new() -> Result<Self, regex::Error> {
        Ok(Patterns {
            v8: Regex::new(r"^\s*at (?:new )?(?:async )?(.+?) \((.*)\)\s*$")?,
            v8_bare: Regex::new(r"^\s*at (?:async )?(\S+:\d+(?::\d+)?)\s*$")?,
            java: Regex::new(r"^\s*at ([\w$.<>]+)\(([^)]*)\)\s*$")?,
            gecko: Regex::new(r"^\s*([^@\s]*)@(\S+:\d+(?::\d+)?)\s*$")?,
            python: Regex::new(r#"^\s*File "([^"]+)", line (\d+)(?:, in (.+?))?\s*$"#)?,
            ruby: Regex::new(r"^\s*([^\s:]+\.rb):(\d+):in [`']([^'`]+)'\s*$")?,
            location: Regex::new(r"^(.*?):(\d+)(?::(\d+))?$")?,
            header: Regex::new(
                r"^\s*([A-Za-z_$][\w$.]*(?:Error|Exception|Warning|Fault|Panic)?|Error): (.*)$",
            )?,
        })
    }
}

static PATTERNS: LazyLock<Option<Patterns>> = LazyLock::new(|| Patterns::new().ok());

/// Parses a stack trace string. Never fails: unknown lines are skipped.
pub fn parse_stack(stack: &str) -> ParsedStack {
    let mut out = ParsedStack::default();
    let Some(p) = PATTERNS.as_ref() else {
        return out;
    };
    let mut python = false;
    let mut expect_context = false;
    for line in stack.lines() {
        if out.frames.len() >= MAX_FRAMES {
            break;
        }
        if let Some(c) = p.python.captures(line) {
            python = true;
            expect_context = true;
            let file = c[1].to_owned();
            out.frames.push(frame(
                Some(c.get(3).map_or("<module>", |m| m.as_str())),
                &file,
                c[2].parse().ok(),
                None,
            ));
            continue;
        }
        if expect_context {
            expect_context = false;
            let code = line.trim();
            if !code.is_empty() && line.starts_with(char::is_whitespace) {
                if let Some(f) = out.frames.last_mut() {
                    f.context_line = Some(code.to_owned());
                }
                continue;
            }
        }
        if let Some(c) = p.v8.captures(line).or_else(|| p.java.captures(line)) {
            let (file, lineno, colno) = location(p, &c[2]);
            out.frames.push(frame(Some(&c[1]), &file, lineno, colno));
        } else if let Some(c) = p.v8_bare.captures(line) {
            let (file, lineno, colno) = location(p, &c[1]);
            out.frames.push(frame(None, &file, lineno, colno));
        } else if let Some(c) = p.ruby.captures(line) {
            out.frames
                .push(frame(Some(&c[3]), &c[1], c[2].parse().ok(), None));
        } else if let Some(c) = p.gecko.captures(line) {
            let (file, lineno, colno) = location(p, &c[2]);
            let func = Some(&c[1]).filter(|f| !f.is_empty());
            out.frames.push(frame(func, &file, lineno, colno));
        } else if let Some(c) = p.header.captures(line) {
            // JavaScript puts the header first, Python last: the last one wins for
            // Python (the raised exception), the first for everything else.
            if out.ty.is_none() || python {
                out.ty = Some(c[1].to_owned());
                out.value = Some(c[2].trim().to_owned()).filter(|v| !v.is_empty());
            }
        }
    }
    if !python {
        out.frames.reverse();
    }
    out
}

fn location(p: &Patterns, loc: &str) -> (String, Option<u32>, Option<u32>) {
    match p.location.captures(loc) {
        Some(c) => (
            c[1].to_owned(),
            c[2].parse().ok(),
            c.get(3).and_then(|m| m.as_str().parse().ok()),
        ),
        None => (loc.to_owned(), None, None),
    }
}

fn frame(function: Option<&str>, file: &str, lineno: Option<u32>, colno: Option<u32>) -> Frame {
    let file = file.trim();
    Frame {
        function: function.map(str::to_owned),
        module: module_of(file),
        filename: Some(file.to_owned()).filter(|f| !f.is_empty()),
        abs_path: Some(file.to_owned()).filter(|f| !f.is_empty()),
        lineno,
        colno,
        in_app: None,
        context_line: None,
    }
}

/// The file's stem (`/srv/app/routes/user.js?v=3` → `user`), as SDKs derive a module
/// from a path; `None` for `native`, `<anonymous>` and the like.
fn module_of(file: &str) -> Option<String> {
    let path = file.split(['?', '#']).next().unwrap_or_default();
    let base = path.rsplit(['/', '\\']).next().unwrap_or_default();
    let stem = base.split_once('.').map_or(base, |(s, _)| s);
    (!stem.is_empty()
        && !stem.starts_with('<')
        && stem != "native"
        && !stem.contains(char::is_whitespace))
    .then(|| stem.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns_compile() {
        assert!(PATTERNS.is_some());
    }

    #[test]
    fn v8() {
        let s = "TypeError: Cannot read properties of undefined (reading 'id')\n    at getUser (/srv/app/routes/user.js:12:20)\n    at async Promise.all (index 0)\n    at Layer.handle [as handle_request] (/srv/app/node_modules/express/lib/router/layer.js:95:5)\n    at /srv/app/server.js:40:3\n    at new Foo (file:///srv/app/foo.mjs:1:2)\n    at node:internal/process/task_queues:95:5";
        let p = parse_stack(s);
        assert_eq!(p.ty.as_deref(), Some("TypeError"));
        assert_eq!(
            p.value.as_deref(),
            Some("Cannot read properties of undefined (reading 'id')")
        );
        let names: Vec<_> = p
            .frames
            .iter()
            .map(|f| f.function.as_deref().unwrap_or("?"))
            .collect();
        assert_eq!(
            names,
            [
                "?",
                "Foo",
                "?",
                "Layer.handle [as handle_request]",
                "Promise.all",
                "getUser"
            ]
        );
        let top = p.frames.last().unwrap();
        assert_eq!(top.filename.as_deref(), Some("/srv/app/routes/user.js"));
        assert_eq!((top.lineno, top.colno), (Some(12), Some(20)));
        assert_eq!(top.module.as_deref(), Some("user"));
        assert!(top.is_in_app());
        assert!(!p.frames[3].is_in_app(), "node_modules");
        assert!(!p.frames[0].is_in_app(), "node: internals");
        assert_eq!(p.frames[4].module, None, "index 0 is no file");
    }

    #[test]
    fn gecko_and_safari() {
        let s = "handleClick@https://example.com/static/app.3f2a.js:10:15\n@https://example.com/static/vendor.js:1:200\n";
        let p = parse_stack(s);
        assert_eq!(p.frames.len(), 2);
        assert_eq!(p.frames[1].function.as_deref(), Some("handleClick"));
        assert_eq!(p.frames[1].module.as_deref(), Some("app"));
        assert_eq!(p.frames[0].function, None);
        assert_eq!(p.frames[0].colno, Some(200));
    }

    #[test]
    fn python_traceback() {
        let s = "Traceback (most recent call last):\n  File \"/srv/app/main.py\", line 10, in <module>\n    run()\n  File \"/srv/app/jobs.py\", line 4, in run\n    raise ValueError(\"bad\")\nValueError: bad";
        let p = parse_stack(s);
        assert_eq!(p.ty.as_deref(), Some("ValueError"));
        assert_eq!(p.value.as_deref(), Some("bad"));
        assert_eq!(p.frames.len(), 2);
        assert_eq!(p.frames[0].function.as_deref(), Some("<module>"));
        assert_eq!(p.frames[1].function.as_deref(), Some("run"));
        assert_eq!(p.frames[1].module.as_deref(), Some("jobs"));
        assert_eq!(p.frames[1].lineno, Some(4));
        assert_eq!(
            p.frames[1].context_line.as_deref(),
            Some("raise ValueError(\"bad\")")
        );
    }

    #[test]
    fn java_and_ruby() {
        let p = parse_stack("java.lang.IllegalStateException: boom\n\tat com.acme.Svc.run(Svc.java:42)\n\tat com.acme.Main.main(Main.java:7)");
        assert_eq!(p.ty.as_deref(), Some("java.lang.IllegalStateException"));
        assert_eq!(p.frames[1].function.as_deref(), Some("com.acme.Svc.run"));
        assert_eq!(p.frames[1].lineno, Some(42));
        let p = parse_stack("app/models/user.rb:12:in `save'\napp/controllers/x.rb:3:in 'create'");
        assert_eq!(p.frames[1].function.as_deref(), Some("save"));
        assert_eq!(p.frames[0].function.as_deref(), Some("create"));
    }

    #[test]
    fn garbage_is_skipped() {
        let p = parse_stack("just some text\n\n   \n12345");
        assert_eq!(p, ParsedStack::default());
        let many = "    at f (/a.js:1:1)\n".repeat(1000);
        assert_eq!(parse_stack(&many).frames.len(), MAX_FRAMES);
    }
}
