//! Lexing and parsing of Go `text/template` source into a tree.
//!
//! Positions are byte offsets into the template source; [`super::TemplateError`] turns them
//! into line and column numbers.

use super::funcs;

/// An error at a byte offset of the source.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PosError {
    pub pos: usize,
    pub msg: String,
}

impl PosError {
    pub(crate) fn new(pos: usize, msg: impl Into<String>) -> Self {
        PosError {
            pos,
            msg: msg.into(),
        }
    }
}

type PResult<T> = Result<T, PosError>;

// ---------------------------------------------------------------------------------------
// Lexer
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    /// `.name` (without the dot).
    Field(String),
    /// `$name` or `$` (with the dollar).
    Var(String),
    Dot,
    Str(String),
    Char(i64),
    Num(String),
    Bool(bool),
    Nil,
    Pipe,
    LParen,
    RParen,
    Declare,
    Assign,
    Comma,
}

#[derive(Debug, Clone, PartialEq)]
enum Item {
    Text(String),
    /// `{{`, at the position of the delimiter.
    Open(usize),
    Tok {
        tok: Tok,
        pos: usize,
        space: bool,
    },
    /// `}}`, at the position of the delimiter.
    Close(usize),
}

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

fn is_alnum(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

struct Lexer<'a> {
    src: &'a str,
    pos: usize,
    items: Vec<Item>,
    trim_next_text: bool,
}

impl<'a> Lexer<'a> {
    fn rest(&self) -> &'a str {
        &self.src[self.pos..]
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn peek2(&self) -> Option<char> {
        self.rest().chars().nth(1)
    }

    fn push_text(&mut self, mut text: &str, trim_right: bool) {
        if self.trim_next_text {
            text = text.trim_start_matches(is_space);
            self.trim_next_text = false;
        }
        if trim_right {
            text = text.trim_end_matches(is_space);
        }
        if !text.is_empty() {
            self.items.push(Item::Text(text.to_string()));
        }
    }

    fn run(mut self) -> PResult<Vec<Item>> {
        loop {
            let rest = self.rest();
            let Some(idx) = rest.find("{{") else {
                self.push_text(rest, false);
                return Ok(self.items);
            };
            let open = self.pos + idx;
            let after = &self.src[open + 2..];
            let trim_left = after.starts_with('-') && after[1..].starts_with(is_space);
            self.push_text(&rest[..idx], trim_left);
            self.pos = open + 2 + if trim_left { 2 } else { 0 };
            // A comment must start right at the delimiter (after the trim marker).
            if self.rest().starts_with("/*") {
                self.lex_comment(open)?;
                continue;
            }
            self.items.push(Item::Open(open));
            self.lex_action(open)?;
        }
    }

    fn lex_comment(&mut self, open: usize) -> PResult<()> {
        let body = &self.rest()[2..];
        let Some(end) = body.find("*/") else {
            return Err(PosError::new(open, "unclosed comment"));
        };
        self.pos += 2 + end + 2;
        let rest = self.rest();
        if rest.starts_with("}}") {
            self.pos += 2;
        } else if rest.starts_with(" -}}")
            || rest.starts_with("\t-}}")
            || rest.starts_with("\r-}}")
            || rest.starts_with("\n-}}")
        {
            self.pos += 4;
            self.trim_next_text = true;
        } else {
            return Err(PosError::new(
                self.pos,
                "comment ends before closing delimiter",
            ));
        }
        Ok(())
    }

    /// Whether the input at the cursor is `<spaces>-}}`.
    fn at_trim_close(&self) -> Option<usize> {
        let rest = self.rest();
        let spaces = rest.len() - rest.trim_start_matches(is_space).len();
        (spaces > 0 && rest[spaces..].starts_with("-}}")).then_some(spaces)
    }

    fn lex_action(&mut self, open: usize) -> PResult<()> {
        let mut space = true;
        let mut depth = 0usize;
        loop {
            if let Some(spaces) = self.at_trim_close() {
                let pos = self.pos + spaces;
                self.pos = pos + 3;
                self.trim_next_text = true;
                return self.close(pos, depth);
            }
            let Some(c) = self.peek() else {
                return Err(PosError::new(open, "unclosed action"));
            };
            let start = self.pos;
            if self.rest().starts_with("}}") {
                self.pos += 2;
                return self.close(start, depth);
            }
            if is_space(c) {
                self.pos += c.len_utf8();
                space = true;
                continue;
            }
            let tok = match c {
                '"' => self.lex_quoted()?,
                '`' => self.lex_raw()?,
                '\'' => self.lex_char()?,
                '$' => {
                    self.pos += 1;
                    let name = self.take_while(is_alnum);
                    Tok::Var(format!("${name}"))
                }
                ':' => {
                    if self.peek2() != Some('=') {
                        return Err(PosError::new(start, "expected :="));
                    }
                    self.pos += 2;
                    Tok::Declare
                }
                '=' => {
                    self.pos += 1;
                    Tok::Assign
                }
                '|' => {
                    self.pos += 1;
                    Tok::Pipe
                }
                ',' => {
                    self.pos += 1;
                    Tok::Comma
                }
                '(' => {
                    self.pos += 1;
                    depth += 1;
                    Tok::LParen
                }
                ')' => {
                    if depth == 0 {
                        return Err(PosError::new(start, "unexpected right paren"));
                    }
                    self.pos += 1;
                    depth -= 1;
                    Tok::RParen
                }
                '.' => match self.peek2() {
                    Some(d) if d.is_ascii_digit() => self.lex_number()?,
                    Some(a) if is_alnum(a) => {
                        self.pos += 1;
                        Tok::Field(self.take_while(is_alnum).to_string())
                    }
                    _ => {
                        self.pos += 1;
                        Tok::Dot
                    }
                },
                '0'..='9' => self.lex_number()?,
                '+' | '-' if matches!(self.peek2(), Some('0'..='9' | '.')) => self.lex_number()?,
                c if is_alnum(c) => {
                    let word = self.take_while(is_alnum);
                    match word {
                        "true" => Tok::Bool(true),
                        "false" => Tok::Bool(false),
                        "nil" => Tok::Nil,
                        w => Tok::Ident(w.to_string()),
                    }
                }
                c => {
                    return Err(PosError::new(
                        start,
                        format!("unrecognized character in action: {c:?}"),
                    ))
                }
            };
            self.items.push(Item::Tok {
                tok,
                pos: start,
                space,
            });
            space = false;
        }
    }

    fn close(&mut self, pos: usize, depth: usize) -> PResult<()> {
        if depth > 0 {
            return Err(PosError::new(pos, "unclosed left paren"));
        }
        self.items.push(Item::Close(pos));
        Ok(())
    }

    fn take_while(&mut self, f: impl Fn(char) -> bool) -> &'a str {
        let rest = self.rest();
        let n = rest.len() - rest.trim_start_matches(f).len();
        self.pos += n;
        &rest[..n]
    }

    fn lex_number(&mut self) -> PResult<Tok> {
        let start = self.pos;
        let rest = self.rest();
        let mut end = 0;
        let bytes = rest.as_bytes();
        if matches!(bytes.first(), Some(b'+' | b'-')) {
            end = 1;
        }
        let mut prev = 0u8;
        while let Some(&b) = bytes.get(end) {
            let sign_after_exp =
                (b == b'+' || b == b'-') && matches!(prev, b'e' | b'E' | b'p' | b'P');
            if b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || sign_after_exp {
                prev = b;
                end += 1;
            } else {
                break;
            }
        }
        // Hexadecimal literals contain 'e' as a digit; a sign after it ends the number.
        let text = &rest[..end];
        self.pos += end;
        if parse_number(text).is_none() {
            return Err(PosError::new(start, format!("bad number syntax: {text:?}")));
        }
        Ok(Tok::Num(text.to_string()))
    }

    fn lex_quoted(&mut self) -> PResult<Tok> {
        let start = self.pos;
        let mut chars = self.rest().char_indices().skip(1);
        let mut out = String::new();
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => {
                    self.pos += i + 1;
                    return Ok(Tok::Str(out));
                }
                '\n' => break,
                '\\' => {
                    let esc = unescape(&mut chars, '"').map_err(|m| PosError::new(start + i, m))?;
                    out.push(esc);
                }
                c => out.push(c),
            }
        }
        Err(PosError::new(start, "unterminated quoted string"))
    }

    fn lex_raw(&mut self) -> PResult<Tok> {
        let start = self.pos;
        let body = &self.rest()[1..];
        let Some(end) = body.find('`') else {
            return Err(PosError::new(start, "unterminated raw quoted string"));
        };
        let s = body[..end].replace('\r', "");
        self.pos += 1 + end + 1;
        Ok(Tok::Str(s))
    }

    fn lex_char(&mut self) -> PResult<Tok> {
        let start = self.pos;
        let mut chars = self.rest().char_indices().skip(1);
        let value = match chars.next() {
            Some((i, '\\')) => {
                unescape(&mut chars, '\'').map_err(|m| PosError::new(start + i, m))?
            }
            Some((_, c)) if c != '\'' && c != '\n' => c,
            _ => return Err(PosError::new(start, "malformed character constant")),
        };
        match chars.next() {
            Some((i, '\'')) => {
                self.pos += i + 1;
                Ok(Tok::Char(i64::from(u32::from(value))))
            }
            _ => Err(PosError::new(start, "unterminated character constant")),
        }
    }
}

/// Decodes one Go escape sequence (the backslash already consumed).
fn unescape(chars: &mut impl Iterator<Item = (usize, char)>, quote: char) -> Result<char, String> {
    let bad = || "invalid escape sequence in string".to_string();
    let (_, c) = chars.next().ok_or_else(bad)?;
    let hex = |chars: &mut dyn Iterator<Item = (usize, char)>, n: usize| -> Result<char, String> {
        let mut v = 0u32;
        for _ in 0..n {
            let (_, d) = chars.next().ok_or_else(bad)?;
            v = v * 16 + d.to_digit(16).ok_or_else(bad)?;
        }
        char::from_u32(v).ok_or_else(bad)
    };
    Ok(match c {
        'a' => '\x07',
        'b' => '\x08',
        'f' => '\x0c',
        'n' => '\n',
        'r' => '\r',
        't' => '\t',
        'v' => '\x0b',
        '\\' => '\\',
        c if c == quote => c,
        'x' => hex(chars, 2)?,
        'u' => hex(chars, 4)?,
        'U' => hex(chars, 8)?,
        '0'..='7' => {
            let mut v = c.to_digit(8).ok_or_else(bad)?;
            for _ in 0..2 {
                let (_, d) = chars.next().ok_or_else(bad)?;
                v = v * 8 + d.to_digit(8).ok_or_else(bad)?;
            }
            char::from_u32(v).filter(|_| v <= 255).ok_or_else(bad)?
        }
        _ => return Err(bad()),
    })
}

/// A numeric constant: Go gives integer-looking constants type `int` and the others
/// `float64`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Number {
    Int(i64),
    Float(f64),
}

pub(crate) fn parse_number(text: &str) -> Option<Number> {
    let (neg, body) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if body.is_empty() || body.starts_with('_') || body.ends_with('_') || body.contains("__") {
        return None;
    }
    let clean = body.replace('_', "");
    let lower = clean.to_ascii_lowercase();
    let int = |digits: &str, radix: u32| -> Option<Number> {
        let v = i64::from_str_radix(digits, radix).ok()?;
        Some(Number::Int(if neg { v.checked_neg()? } else { v }))
    };
    if let Some(h) = lower.strip_prefix("0x") {
        return int(h, 16);
    }
    if let Some(o) = lower.strip_prefix("0o") {
        return int(o, 8);
    }
    if let Some(b) = lower.strip_prefix("0b") {
        return int(b, 2);
    }
    if lower.bytes().all(|b| b.is_ascii_digit()) {
        if lower.len() > 1 && lower.starts_with('0') {
            return int(&lower[1..], 8);
        }
        if let Some(n) = int(&lower, 10) {
            return Some(n);
        }
    }
    if !lower
        .bytes()
        .all(|b| b.is_ascii_digit() || matches!(b, b'.' | b'e' | b'+' | b'-'))
        || !lower.bytes().any(|b| b.is_ascii_digit())
    {
        return None;
    }
    let v: f64 = lower.parse().ok()?;
    Some(Number::Float(if neg { -v } else { v }))
}

// ---------------------------------------------------------------------------------------
// Tree
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Node {
    Text(String),
    Action(Pipe),
    /// `if`/`else if`/`else`, and `with`/`else with`/`else`.
    Branch {
        with: bool,
        arms: Vec<(Pipe, Vec<Node>)>,
        otherwise: Option<Vec<Node>>,
    },
    Range {
        pipe: Pipe,
        body: Vec<Node>,
        otherwise: Option<Vec<Node>>,
    },
    Break,
    Continue,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Pipe {
    pub pos: usize,
    /// Declared (or assigned) variables, with `$`.
    pub decl: Vec<String>,
    pub assign: bool,
    pub cmds: Vec<Cmd>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Cmd {
    pub pos: usize,
    pub args: Vec<Operand>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Operand {
    pub pos: usize,
    pub term: Term,
    /// Field chain applied to the term: `$x.a.b`, `(pipe).a`.
    pub fields: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Term {
    Dot,
    Var(String),
    Func(String),
    Str(String),
    Num(Number),
    Bool(bool),
    Nil,
    Sub(Box<Pipe>),
}

impl Operand {
    pub(crate) fn describe(&self) -> String {
        let base = match &self.term {
            Term::Dot => ".".to_string(),
            Term::Var(v) => v.clone(),
            Term::Func(f) => f.clone(),
            Term::Str(s) => format!("{s:?}"),
            Term::Num(Number::Int(i)) => i.to_string(),
            Term::Num(Number::Float(f)) => f.to_string(),
            Term::Bool(b) => b.to_string(),
            Term::Nil => "nil".to_string(),
            Term::Sub(_) => "(...)".to_string(),
        };
        let mut s = if matches!(self.term, Term::Dot) && !self.fields.is_empty() {
            String::new()
        } else {
            base
        };
        for f in &self.fields {
            s.push('.');
            s.push_str(f);
        }
        s
    }
}

/// Variables Prometheus defines before the user's template.
pub(crate) const PREDEFINED_VARS: [&str; 5] =
    ["$", "$labels", "$externalLabels", "$externalURL", "$value"];

// ---------------------------------------------------------------------------------------
// Parser
// ---------------------------------------------------------------------------------------

enum Stop {
    End(usize),
    Else(usize),
    Eof,
}

struct Parser {
    items: Vec<Item>,
    i: usize,
    vars: Vec<String>,
    range_depth: usize,
    src_len: usize,
}

pub(crate) fn parse(src: &str) -> PResult<Vec<Node>> {
    let items = Lexer {
        src,
        pos: 0,
        items: Vec::new(),
        trim_next_text: false,
    }
    .run()?;
    let mut p = Parser {
        items,
        i: 0,
        vars: PREDEFINED_VARS.iter().map(|s| s.to_string()).collect(),
        range_depth: 0,
        src_len: src.len(),
    };
    let (nodes, stop) = p.list()?;
    match stop {
        Stop::Eof => Ok(nodes),
        Stop::End(pos) => Err(PosError::new(pos, "unexpected {{end}}")),
        Stop::Else(pos) => Err(PosError::new(pos, "unexpected {{else}}")),
    }
}

impl Parser {
    fn last_pos(&self) -> usize {
        match self.items.get(self.i.saturating_sub(1)) {
            Some(Item::Tok { pos, .. } | Item::Open(pos) | Item::Close(pos)) => *pos,
            _ => self.src_len,
        }
    }

    fn peek(&self) -> Option<&Item> {
        self.items.get(self.i)
    }

    fn peek_tok(&self) -> Option<(&Tok, usize, bool)> {
        match self.items.get(self.i) {
            Some(Item::Tok { tok, pos, space }) => Some((tok, *pos, *space)),
            _ => None,
        }
    }

    fn next_pos(&self) -> usize {
        match self.items.get(self.i) {
            Some(Item::Tok { pos, .. } | Item::Open(pos) | Item::Close(pos)) => *pos,
            _ => self.src_len,
        }
    }

    fn expect_close(&mut self, what: &str) -> PResult<()> {
        match self.peek() {
            Some(Item::Close(_)) => {
                self.i += 1;
                Ok(())
            }
            _ => Err(PosError::new(
                self.next_pos(),
                format!("unexpected {} in {what}", self.describe_next()),
            )),
        }
    }

    fn describe_next(&self) -> String {
        match self.peek() {
            Some(Item::Tok { tok, .. }) => match tok {
                Tok::Ident(s) | Tok::Field(s) | Tok::Var(s) | Tok::Num(s) => format!("{s:?}"),
                Tok::Str(s) => format!("string {s:?}"),
                Tok::Pipe => "\"|\"".into(),
                Tok::LParen => "\"(\"".into(),
                Tok::RParen => "\")\"".into(),
                Tok::Declare => "\":=\"".into(),
                Tok::Assign => "\"=\"".into(),
                Tok::Comma => "\",\"".into(),
                Tok::Dot => "\".\"".into(),
                Tok::Char(_) => "character constant".into(),
                Tok::Bool(b) => b.to_string(),
                Tok::Nil => "nil".into(),
            },
            Some(Item::Close(_)) => "\"}}\"".into(),
            Some(Item::Open(_)) => "\"{{\"".into(),
            Some(Item::Text(_)) => "text".into(),
            None => "EOF".into(),
        }
    }

    /// Parses nodes until `{{end}}`, `{{else`, or the end of input.
    fn list(&mut self) -> PResult<(Vec<Node>, Stop)> {
        let mut nodes = Vec::new();
        loop {
            let Some(item) = self.items.get(self.i).cloned() else {
                return Ok((nodes, Stop::Eof));
            };
            self.i += 1;
            let open = match item {
                Item::Text(t) => {
                    nodes.push(Node::Text(t));
                    continue;
                }
                Item::Open(pos) => pos,
                _ => return Err(PosError::new(self.last_pos(), "unexpected token")),
            };
            let keyword = match self.peek_tok() {
                Some((Tok::Ident(k), pos, _)) => Some((k.clone(), pos)),
                _ => None,
            };
            match keyword.as_ref().map(|(k, p)| (k.as_str(), *p)) {
                Some(("end", pos)) => {
                    self.i += 1;
                    self.expect_close("{{end}}")?;
                    return Ok((nodes, Stop::End(pos)));
                }
                Some(("else", pos)) => {
                    self.i += 1;
                    return Ok((nodes, Stop::Else(pos)));
                }
                Some(("if", pos)) => {
                    self.i += 1;
                    nodes.push(self.branch(false, pos)?);
                }
                Some(("with", pos)) => {
                    self.i += 1;
                    nodes.push(self.branch(true, pos)?);
                }
                Some(("range", pos)) => {
                    self.i += 1;
                    nodes.push(self.range(pos)?);
                }
                Some((kw @ ("break" | "continue"), pos)) => {
                    self.i += 1;
                    if self.range_depth == 0 {
                        return Err(PosError::new(
                            pos,
                            format!("{{{{{kw}}}}} outside {{{{range}}}}"),
                        ));
                    }
                    self.expect_close(&format!("{{{{{kw}}}}}"))?;
                    nodes.push(if kw == "break" {
                        Node::Break
                    } else {
                        Node::Continue
                    });
                }
                Some((kw @ ("define" | "template" | "block"), pos)) => {
                    return Err(PosError::new(
                        pos,
                        format!(
                            "{{{{{kw}}}}} is not supported in alert templates (named templates are not available)"
                        ),
                    ));
                }
                _ => {
                    let pipe = self.pipeline("command", open, true, false)?;
                    nodes.push(Node::Action(pipe));
                }
            }
        }
    }

    /// `if`/`with` with their `else if`/`else with`/`else` arms, up to `{{end}}`.
    fn branch(&mut self, with: bool, pos: usize) -> PResult<Node> {
        let name = if with { "with" } else { "if" };
        let mark = self.vars.len();
        let mut arms = Vec::new();
        let mut otherwise = None;
        let mut cond = self.pipeline(name, pos, true, false)?;
        loop {
            let (body, stop) = self.list()?;
            arms.push((cond, body));
            match stop {
                Stop::End(_) => break,
                Stop::Eof => {
                    return Err(PosError::new(
                        pos,
                        format!("unexpected EOF: {{{{{name}}}}} has no matching {{{{end}}}}"),
                    ))
                }
                Stop::Else(else_pos) => {
                    if let Some((Tok::Ident(k), kpos, _)) = self.peek_tok() {
                        if k == name {
                            self.i += 1;
                            cond = self.pipeline(name, kpos, true, false)?;
                            continue;
                        }
                    }
                    self.expect_close("{{else}}")?;
                    let (body, stop) = self.list()?;
                    match stop {
                        Stop::End(_) => {
                            otherwise = Some(body);
                            break;
                        }
                        Stop::Else(p) => {
                            return Err(PosError::new(p, "expected {{end}}; found {{else}}"))
                        }
                        Stop::Eof => {
                            return Err(PosError::new(
                                else_pos,
                                format!(
                                    "unexpected EOF: {{{{{name}}}}} has no matching {{{{end}}}}"
                                ),
                            ))
                        }
                    }
                }
            }
        }
        self.vars.truncate(mark);
        Ok(Node::Branch {
            with,
            arms,
            otherwise,
        })
    }

    fn range(&mut self, pos: usize) -> PResult<Node> {
        let mark = self.vars.len();
        let pipe = self.pipeline("range", pos, true, true)?;
        self.range_depth += 1;
        let (body, stop) = self.list()?;
        self.range_depth -= 1;
        let eof = || {
            PosError::new(
                pos,
                "unexpected EOF: {{range}} has no matching {{end}}".to_string(),
            )
        };
        let otherwise = match stop {
            Stop::End(_) => None,
            Stop::Eof => return Err(eof()),
            Stop::Else(_) => {
                self.expect_close("{{else}}")?;
                let (body, stop) = self.list()?;
                match stop {
                    Stop::End(_) => Some(body),
                    Stop::Else(p) => {
                        return Err(PosError::new(p, "expected {{end}}; found {{else}}"))
                    }
                    Stop::Eof => return Err(eof()),
                }
            }
        };
        self.vars.truncate(mark);
        Ok(Node::Range {
            pipe,
            body,
            otherwise,
        })
    }

    /// Parses a pipeline up to `}}` (or `)` when `sub`), with an optional declaration.
    fn pipeline(&mut self, ctx: &str, pos: usize, top: bool, range: bool) -> PResult<Pipe> {
        let mut decl = Vec::new();
        let mut assign = false;
        if top {
            // Look ahead for `$x :=`, `$x =`, or (range) `$k, $v :=`.
            let save = self.i;
            let mut names = Vec::new();
            while let Some((Tok::Var(v), vpos, _)) = self.peek_tok() {
                names.push((v.clone(), vpos));
                self.i += 1;
                match self.peek_tok() {
                    Some((Tok::Comma, cpos, _)) if names.len() == 1 => {
                        if !range {
                            return Err(PosError::new(cpos, "too many declarations in command"));
                        }
                        self.i += 1;
                    }
                    Some((Tok::Declare, _, _)) => {
                        self.i += 1;
                        decl = names.clone();
                        break;
                    }
                    Some((Tok::Assign, _, _)) => {
                        self.i += 1;
                        assign = true;
                        decl = names.clone();
                        break;
                    }
                    _ => break,
                }
            }
            if decl.is_empty() {
                self.i = save;
            } else if decl.len() > 1 && !range {
                return Err(PosError::new(decl[1].1, "too many declarations"));
            }
            if assign {
                for (name, vpos) in &decl {
                    if !self.vars.contains(name) {
                        return Err(PosError::new(*vpos, format!("undefined variable {name:?}")));
                    }
                }
            }
        }
        let mut cmds = Vec::new();
        loop {
            let cmd_pos = self.next_pos();
            let args = self.command(ctx)?;
            if args.is_empty() {
                return Err(PosError::new(cmd_pos, format!("missing value for {ctx}")));
            }
            if !cmds.is_empty() {
                if let Some(first) = args.first() {
                    let literal = matches!(
                        first.term,
                        Term::Dot | Term::Str(_) | Term::Num(_) | Term::Bool(_) | Term::Nil
                    ) && first.fields.is_empty();
                    if literal {
                        return Err(PosError::new(
                            first.pos,
                            format!(
                                "non executable command in pipeline stage {}",
                                cmds.len() + 1
                            ),
                        ));
                    }
                }
            }
            if let Some(first) = args.first() {
                if first.term == Term::Nil && first.fields.is_empty() {
                    return Err(PosError::new(first.pos, "nil is not a command"));
                }
            }
            cmds.push(Cmd { pos: cmd_pos, args });
            match self.peek() {
                Some(Item::Tok { tok: Tok::Pipe, .. }) => {
                    self.i += 1;
                }
                Some(Item::Close(_)) if top => {
                    self.i += 1;
                    break;
                }
                Some(Item::Tok {
                    tok: Tok::RParen, ..
                }) if !top => {
                    self.i += 1;
                    break;
                }
                _ => {
                    return Err(PosError::new(
                        self.next_pos(),
                        format!("unexpected {} in {ctx}", self.describe_next()),
                    ))
                }
            }
        }
        if !assign {
            for (name, _) in &decl {
                self.vars.push(name.clone());
            }
        }
        Ok(Pipe {
            pos,
            decl: decl.into_iter().map(|(n, _)| n).collect(),
            assign,
            cmds,
        })
    }

    /// Operands of one command, up to `|`, `}}` or `)`.
    fn command(&mut self, ctx: &str) -> PResult<Vec<Operand>> {
        let mut args = Vec::new();
        loop {
            let Some((tok, pos, _)) = self.peek_tok() else {
                return Ok(args);
            };
            let mut implicit_dot = false;
            let term = match tok.clone() {
                Tok::Pipe | Tok::RParen => return Ok(args),
                Tok::Ident(name) => {
                    if let Some(why) = funcs::unsupported(&name) {
                        return Err(PosError::new(
                            pos,
                            format!("function {name:?} is not supported: {why}"),
                        ));
                    }
                    if !funcs::is_known(&name) {
                        return Err(PosError::new(pos, format!("function {name:?} not defined")));
                    }
                    self.i += 1;
                    Term::Func(name)
                }
                Tok::Field(_) => {
                    // `.a.b` on dot: parsed as a dot with a field chain.
                    implicit_dot = true;
                    Term::Dot
                }
                Tok::Var(v) => {
                    if !self.vars.contains(&v) {
                        return Err(PosError::new(pos, format!("undefined variable {v:?}")));
                    }
                    self.i += 1;
                    Term::Var(v)
                }
                Tok::Dot => {
                    self.i += 1;
                    Term::Dot
                }
                Tok::Str(s) => {
                    self.i += 1;
                    Term::Str(s)
                }
                Tok::Char(c) => {
                    self.i += 1;
                    Term::Num(Number::Int(c))
                }
                Tok::Num(text) => {
                    self.i += 1;
                    let n = parse_number(&text).ok_or_else(|| {
                        PosError::new(pos, format!("bad number syntax: {text:?}"))
                    })?;
                    Term::Num(n)
                }
                Tok::Bool(b) => {
                    self.i += 1;
                    Term::Bool(b)
                }
                Tok::Nil => {
                    self.i += 1;
                    Term::Nil
                }
                Tok::LParen => {
                    self.i += 1;
                    let sub = self.pipeline("parenthesized pipeline", pos, false, false)?;
                    Term::Sub(Box::new(sub))
                }
                Tok::Declare | Tok::Assign | Tok::Comma => {
                    return Err(PosError::new(
                        pos,
                        format!("unexpected {} in {ctx}", self.describe_next()),
                    ))
                }
            };
            let mut fields = Vec::new();
            // A field chain follows its term without a space.
            while let Some((Tok::Field(f), _, space)) = self.peek_tok() {
                if space && !(implicit_dot && fields.is_empty()) {
                    break;
                }
                fields.push(f.clone());
                self.i += 1;
            }
            if matches!(
                term,
                Term::Func(_) | Term::Bool(_) | Term::Str(_) | Term::Num(_) | Term::Nil
            ) && !fields.is_empty()
            {
                return Err(PosError::new(pos, "unexpected . after term"));
            }
            args.push(Operand { pos, term, fields });
        }
    }
}
