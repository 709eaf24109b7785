//! Template values and their formatting the way Go's `fmt` prints them.

use std::collections::BTreeMap;

use super::TemplateData;

/// A point in time with nanosecond precision, shown in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct GoTime {
    pub secs: i64,
    pub nanos: u32,
}

/// A value during execution. The variants mirror the Go types a Prometheus alert template
/// sees: `float64`, `int` (constants), `string`, `bool`, `map[string]string`, `time.Time`,
/// `time.Duration`, and the template data itself.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value<'a> {
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Map(&'a BTreeMap<String, String>),
    Time(GoTime),
    /// Nanoseconds.
    Duration(i64),
    Data(&'a TemplateData),
}

impl Value<'_> {
    pub(crate) fn type_name(&self) -> &'static str {
        match self {
            Value::Nil => "nil",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Float(_) => "float64",
            Value::Str(_) => "string",
            Value::Map(_) => "map[string]string",
            Value::Time(_) => "time.Time",
            Value::Duration(_) => "time.Duration",
            Value::Data(_) => "template data",
        }
    }

    /// Go's truth: false, 0, nil and empty strings and maps are false; NaN is true.
    pub(crate) fn truth(&self) -> bool {
        match self {
            Value::Nil => false,
            Value::Bool(b) => *b,
            Value::Int(i) => *i != 0,
            Value::Float(f) => *f != 0.0,
            Value::Str(s) => !s.is_empty(),
            Value::Map(m) => !m.is_empty(),
            Value::Duration(d) => *d != 0,
            Value::Time(_) | Value::Data(_) => true,
        }
    }

    /// `%v`: the default format.
    pub(crate) fn display(&self) -> String {
        match self {
            Value::Nil => "<nil>".into(),
            Value::Bool(b) => b.to_string(),
            Value::Int(i) => i.to_string(),
            Value::Float(f) => format_float(*f, 'g', None, &Flags::default()),
            Value::Str(s) => s.clone(),
            Value::Map(m) => display_map(m),
            Value::Time(t) => time_string(*t),
            Value::Duration(d) => duration_string(*d),
            Value::Data(d) => format!(
                "{{{} {} {} {}}}",
                display_map(&d.labels),
                display_map(&d.external_labels),
                d.external_url,
                format_float(d.value, 'g', None, &Flags::default())
            ),
        }
    }
}

fn display_map(m: &BTreeMap<String, String>) -> String {
    let parts: Vec<String> = m.iter().map(|(k, v)| format!("{k}:{v}")).collect();
    format!("map[{}]", parts.join(" "))
}

// ---------------------------------------------------------------------------------------
// Floats
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone, Default)]
pub(crate) struct Flags {
    pub minus: bool,
    pub plus: bool,
    pub space: bool,
    pub zero: bool,
    pub sharp: bool,
    pub width: Option<usize>,
    pub prec: Option<usize>,
}

/// Significant decimal digits (trailing zeros removed) and the decimal point position of a
/// finite positive `a`, shortest round-trip when `prec` is `None`.
fn decimal_digits(a: f64, prec: Option<usize>) -> (Vec<u8>, i32) {
    let s = match prec {
        None => format!("{a:e}"),
        Some(p) => format!("{:.*e}", p.saturating_sub(1), a),
    };
    let (mant, exp) = s.split_once('e').unwrap_or((s.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let mut digits: Vec<u8> = mant.bytes().filter(u8::is_ascii_digit).collect();
    while digits.len() > 1 && digits.last() == Some(&b'0') {
        digits.pop();
    }
    (digits, exp + 1)
}

fn exp_suffix(exp: i32, upper: bool) -> String {
    let sign = if exp < 0 { '-' } else { '+' };
    let e = if upper { 'E' } else { 'e' };
    format!("{e}{sign}{:02}", exp.unsigned_abs())
}

/// `%e` body for a finite non-negative value.
fn fmt_e(a: f64, prec: usize, upper: bool) -> String {
    let s = format!("{a:.prec$e}");
    let (mant, exp) = s.split_once('e').unwrap_or((s.as_str(), "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    format!("{mant}{}", exp_suffix(exp, upper))
}

/// `%g` body for a finite non-negative value: `%e` for large or small exponents, `%f`
/// otherwise, without trailing zeros; shortest representation without a precision.
fn fmt_g(a: f64, prec: Option<usize>, upper: bool) -> String {
    if a == 0.0 {
        return "0".into();
    }
    let p = prec.map(|p| p.max(1));
    let (digits, dp) = decimal_digits(a, p);
    let nd = digits.len() as i32;
    let mut eprec = match p {
        Some(p) => p as i32,
        None => 6,
    };
    if p.is_some() && eprec > nd && nd >= dp {
        eprec = nd;
    }
    let exp = dp - 1;
    let digit = |i: i32| -> char {
        if i < 0 || i >= nd {
            '0'
        } else {
            char::from(digits[i as usize])
        }
    };
    if exp < -4 || exp >= eprec {
        let shown = match p {
            Some(p) => (p as i32).min(nd),
            None => nd,
        };
        let mut out = String::new();
        out.push(digit(0));
        if shown > 1 {
            out.push('.');
            for i in 1..shown {
                out.push(digit(i));
            }
        }
        out.push_str(&exp_suffix(exp, upper));
        return out;
    }
    let pf = match p {
        Some(p) if (p as i32) <= dp => p as i32,
        _ => nd,
    };
    let decimals = (pf - dp).max(0);
    let mut out = String::new();
    if dp <= 0 {
        out.push('0');
    } else {
        for i in 0..dp {
            out.push(digit(i));
        }
    }
    if decimals > 0 {
        out.push('.');
        for i in 0..decimals {
            out.push(digit(dp + i));
        }
    }
    out
}

/// Formats a float for verb `v`, `g`, `G`, `e`, `E`, `f` or `F` with Go's sign rules
/// (Inf always signed, NaN signed only on request) and padding.
pub(crate) fn format_float(v: f64, verb: char, prec: Option<usize>, flags: &Flags) -> String {
    let special = v.is_nan() || v.is_infinite();
    let neg = v.is_sign_negative() && !v.is_nan();
    let a = v.abs();
    let body = if v.is_nan() {
        "NaN".to_string()
    } else if v.is_infinite() {
        "Inf".to_string()
    } else {
        match verb {
            'e' | 'E' => fmt_e(a, prec.unwrap_or(6), verb == 'E'),
            'f' | 'F' => format!("{:.*}", prec.unwrap_or(6), a),
            'G' => fmt_g(a, prec, true),
            _ => fmt_g(a, prec, false),
        }
    };
    let sign = if neg {
        "-"
    } else if flags.plus {
        "+"
    } else if flags.space {
        " "
    } else if v.is_infinite() {
        "+"
    } else {
        ""
    };
    pad_number(sign, &body, flags, !special)
}

/// Pads `sign + digits` to the width: zeros go after the sign.
fn pad_number(sign: &str, digits: &str, flags: &Flags, zero_ok: bool) -> String {
    let len = sign.chars().count() + digits.chars().count();
    match flags.width {
        Some(w) if w > len => {
            let fill = w - len;
            if flags.minus {
                format!("{sign}{digits}{}", " ".repeat(fill))
            } else if flags.zero && zero_ok {
                format!("{sign}{}{digits}", "0".repeat(fill))
            } else {
                format!("{}{sign}{digits}", " ".repeat(fill))
            }
        }
        _ => format!("{sign}{digits}"),
    }
}

fn pad_str(s: &str, flags: &Flags) -> String {
    let len = s.chars().count();
    match flags.width {
        Some(w) if w > len => {
            if flags.minus {
                format!("{s}{}", " ".repeat(w - len))
            } else {
                format!("{}{s}", " ".repeat(w - len))
            }
        }
        _ => s.to_string(),
    }
}

// ---------------------------------------------------------------------------------------
// Integers, strings
// ---------------------------------------------------------------------------------------

fn format_int(i: i64, verb: char, flags: &Flags) -> String {
    let neg = i < 0;
    let u = i.unsigned_abs();
    let mut digits = match verb {
        'b' => format!("{u:b}"),
        'o' | 'O' => format!("{u:o}"),
        'x' => format!("{u:x}"),
        'X' => format!("{u:X}"),
        _ => u.to_string(),
    };
    if let Some(p) = flags.prec {
        if digits.len() < p {
            digits = format!("{}{digits}", "0".repeat(p - digits.len()));
        } else if p == 0 && u == 0 {
            digits.clear();
        }
    }
    let prefix = match verb {
        'x' if flags.sharp => "0x",
        'X' if flags.sharp => "0X",
        'o' if flags.sharp && !digits.starts_with('0') => "0",
        'O' => "0o",
        'b' if flags.sharp => "0b",
        _ => "",
    };
    let sign = if neg {
        "-"
    } else if flags.plus {
        "+"
    } else if flags.space {
        " "
    } else {
        ""
    };
    // Go ignores the zero flag when a precision is given for integers.
    let zero_ok = flags.prec.is_none();
    pad_number(&format!("{sign}{prefix}"), &digits, flags, zero_ok)
}

fn is_printable(c: char) -> bool {
    if c == ' ' {
        return true;
    }
    if c.is_control() || c.is_whitespace() {
        return false;
    }
    let u = u32::from(c);
    !matches!(u, 0xAD | 0x200B..=0x200F | 0x2028..=0x202E | 0x2060..=0x206F | 0xFEFF
        | 0xFFF9..=0xFFFB | 0xE000..=0xF8FF | 0xF0000..=0x10FFFF)
}

/// Go's `strconv.Quote` (or `QuoteToASCII` with `ascii`).
pub(crate) fn quote(s: &str, ascii: bool) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if is_printable(c) && (!ascii || c.is_ascii()) => out.push(c),
            '\x07' => out.push_str("\\a"),
            '\x08' => out.push_str("\\b"),
            '\x0c' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\x0b' => out.push_str("\\v"),
            c if u32::from(c) < 0x20 || c == '\x7f' => {
                out.push_str(&format!("\\x{:02x}", u32::from(c)))
            }
            c if u32::from(c) < 0x10000 => out.push_str(&format!("\\u{:04x}", u32::from(c))),
            c => out.push_str(&format!("\\U{:08x}", u32::from(c))),
        }
    }
    out.push('"');
    out
}

fn quote_char(i: i64) -> String {
    let c = u32::try_from(i)
        .ok()
        .and_then(char::from_u32)
        .unwrap_or('\u{FFFD}');
    match c {
        '\'' => "'\\''".into(),
        '"' => "'\"'".into(),
        c => {
            let q = quote(&c.to_string(), false);
            format!("'{}'", &q[1..q.len() - 1])
        }
    }
}

fn hex_str(s: &str, upper: bool, flags: &Flags) -> String {
    let mut out = String::new();
    for (i, b) in s.bytes().enumerate() {
        if flags.space && i > 0 {
            out.push(' ');
        }
        if flags.sharp && (flags.space || i == 0) {
            out.push_str(if upper { "0X" } else { "0x" });
        }
        if upper {
            out.push_str(&format!("{b:02X}"));
        } else {
            out.push_str(&format!("{b:02x}"));
        }
    }
    out
}

fn format_str(s: &str, verb: char, flags: &Flags) -> String {
    let s: String = match flags.prec {
        Some(p) => s.chars().take(p).collect(),
        None => s.to_string(),
    };
    let body = match verb {
        'q' if flags.sharp
            && !s.contains('`')
            && s.chars().all(|c| c == '\t' || !c.is_control()) =>
        {
            format!("`{s}`")
        }
        'q' => quote(&s, flags.plus),
        'x' => hex_str(&s, false, flags),
        'X' => hex_str(&s, true, flags),
        _ => s,
    };
    pad_str(&body, flags)
}

fn bad_verb(verb: char, v: &Value<'_>) -> String {
    match v {
        Value::Nil => format!("%!{verb}(<nil>)"),
        v => format!("%!{verb}({}={})", v.type_name(), v.display()),
    }
}

/// Formats one operand for one verb, as Go's `fmt` does for these types.
fn format_arg(v: &Value<'_>, verb: char, flags: &Flags) -> String {
    match (v, verb) {
        (Value::Nil, 'v') => pad_str("<nil>", flags),
        (Value::Bool(b), 'v' | 't') => pad_str(&b.to_string(), flags),
        (Value::Int(i), 'v' | 'd' | 'b' | 'o' | 'O' | 'x' | 'X') => {
            format_int(*i, if verb == 'v' { 'd' } else { verb }, flags)
        }
        (Value::Int(i), 'c') => pad_str(
            &u32::try_from(*i)
                .ok()
                .and_then(char::from_u32)
                .unwrap_or('\u{FFFD}')
                .to_string(),
            flags,
        ),
        (Value::Int(i), 'q') => pad_str(&quote_char(*i), flags),
        (Value::Int(i), 'U') => pad_str(&format!("U+{:04X}", i), flags),
        (Value::Float(f), 'v' | 'g' | 'G' | 'e' | 'E' | 'f' | 'F') => {
            format_float(*f, verb, flags.prec, flags)
        }
        (Value::Str(s), 'v' | 's' | 'q' | 'x' | 'X') => format_str(s, verb, flags),
        (Value::Time(_) | Value::Duration(_), 'v' | 's' | 'q' | 'x' | 'X') => {
            format_str(&v.display(), verb, flags)
        }
        (Value::Duration(d), 'd' | 'b' | 'o' | 'O') => format_int(*d, verb, flags),
        (Value::Map(_) | Value::Data(_), 'v' | 's') => pad_str(&v.display(), flags),
        _ => bad_verb(verb, v),
    }
}

/// Go's `fmt.Sprintf` for the verbs and flags templates use.
pub(crate) fn sprintf(format: &str, args: &[Value<'_>]) -> String {
    let mut out = String::new();
    let mut next = 0usize;
    let mut chars = format.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let mut flags = Flags::default();
        while let Some(&f) = chars.peek() {
            match f {
                '-' => flags.minus = true,
                '+' => flags.plus = true,
                ' ' => flags.space = true,
                '0' => flags.zero = true,
                '#' => flags.sharp = true,
                _ => break,
            }
            chars.next();
        }
        let mut number = |chars: &mut std::iter::Peekable<std::str::Chars<'_>>,
                          out: &mut String|
         -> Option<usize> {
            if chars.peek() == Some(&'*') {
                chars.next();
                let arg = args.get(next);
                next += 1;
                return match arg {
                    Some(Value::Int(i)) if *i >= 0 => usize::try_from(*i).ok(),
                    _ => {
                        out.push_str("%!(BADWIDTH)");
                        None
                    }
                };
            }
            let mut n: Option<usize> = None;
            while let Some(d) = chars.peek().and_then(|c| c.to_digit(10)) {
                n = Some(n.unwrap_or(0).saturating_mul(10).saturating_add(d as usize));
                chars.next();
            }
            n
        };
        flags.width = number(&mut chars, &mut out);
        if chars.peek() == Some(&'.') {
            chars.next();
            flags.prec = Some(number(&mut chars, &mut out).unwrap_or(0));
        }
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        match args.get(next) {
            None => out.push_str(&format!("%!{verb}(MISSING)")),
            Some(arg) => out.push_str(&format_arg(arg, verb, &flags)),
        }
        next += 1;
    }
    if next < args.len() {
        let extra: Vec<String> = args[next..]
            .iter()
            .map(|a| match a {
                Value::Nil => "<nil>".to_string(),
                a => format!("{}={}", a.type_name(), a.display()),
            })
            .collect();
        out.push_str(&format!("%!(EXTRA {})", extra.join(", ")));
    }
    out
}

/// Go's `fmt.Sprint`: spaces between operands when neither side is a string.
pub(crate) fn sprint(args: &[Value<'_>]) -> String {
    let mut out = String::new();
    let mut prev_string = false;
    for (i, a) in args.iter().enumerate() {
        let is_string = matches!(a, Value::Str(_));
        if i > 0 && !is_string && !prev_string {
            out.push(' ');
        }
        out.push_str(&a.display());
        prev_string = is_string;
    }
    out
}

/// Go's `fmt.Sprintln`: always spaces, and a newline.
pub(crate) fn sprintln(args: &[Value<'_>]) -> String {
    let parts: Vec<String> = args.iter().map(Value::display).collect();
    format!("{}\n", parts.join(" "))
}

// ---------------------------------------------------------------------------------------
// Times and durations
// ---------------------------------------------------------------------------------------

/// Civil date (year, month, day) of a day count since 1970-01-01.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

/// `time.Time.String()` in UTC: `2006-01-02 15:04:05.999999999 +0000 UTC`.
pub(crate) fn time_string(t: GoTime) -> String {
    let days = t.secs.div_euclid(86_400);
    let rem = t.secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let year = if y < 0 {
        format!("-{:04}", y.unsigned_abs())
    } else {
        format!("{y:04}")
    };
    let mut frac = String::new();
    if t.nanos > 0 {
        frac = format!(".{:09}", t.nanos);
        while frac.ends_with('0') {
            frac.pop();
        }
    }
    format!(
        "{year}-{m:02}-{d:02} {:02}:{:02}:{:02}{frac} +0000 UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// `v` (in units of 10^-`digits`) as a decimal with trailing zeros removed.
fn frac_string(v: u64, digits: u32) -> String {
    let scale = 10u64.pow(digits);
    let int = v / scale;
    let frac = v % scale;
    if frac == 0 {
        return int.to_string();
    }
    let mut f = format!("{frac:0width$}", width = digits as usize);
    while f.ends_with('0') {
        f.pop();
    }
    format!("{int}.{f}")
}

/// `time.Duration.String()`: `72h3m0.5s`, `1.5s`, `500ms`, `1.5µs`, `0s`.
pub(crate) fn duration_string(ns: i64) -> String {
    if ns == 0 {
        return "0s".into();
    }
    let sign = if ns < 0 { "-" } else { "" };
    let u = ns.unsigned_abs();
    if u < 1_000_000_000 {
        let body = if u < 1_000 {
            format!("{u}ns")
        } else if u < 1_000_000 {
            format!("{}µs", frac_string(u, 3))
        } else {
            format!("{}ms", frac_string(u, 6))
        };
        return format!("{sign}{body}");
    }
    let secs = u / 1_000_000_000;
    let sub = u % 1_000_000_000;
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    let mut out = sign.to_string();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if h > 0 || m > 0 {
        out.push_str(&format!("{m}m"));
    }
    out.push_str(&frac_string(s * 1_000_000_000 + sub, 9));
    out.push('s');
    out
}
