//! Scrubbing secrets and personal data out of an event before anything is stored.
//!
//! Two kinds of rules, both configurable ([`ScrubConfig`]):
//!
//! - **Keys**: an object member (or a `[key, value]` pair, as SDKs send headers, cookies
//!   and query strings) whose key matches one of the key patterns has its whole value
//!   replaced. Keys are compared case-insensitively with `-` read as `_`, so the
//!   `X-Api-Key` header matches `api_?key`. `key=value` pairs inside strings (query
//!   strings, cookies, URLs, messages such as `login failed password=hunter2`), quoted
//!   values (`"token": "abc"`, `password = 'x'` — log lines, and source lines SDKs send
//!   as frame context) and JSON documents inside strings (a raw request body) get the
//!   same treatment.
//! - **Values**: patterns found anywhere in a string are replaced in place: credit-card
//!   numbers (13–19 digits, spaces or dashes allowed, Luhn-checked, with a card-network
//!   first digit so millisecond timestamps and ids are left alone), bearer tokens, JWTs,
//!   AWS access key ids, PEM private keys, passwords in URLs, and e-mail addresses, which
//!   get a stable masked form (`bob@example.com` → `b***@example.com`) so the same address
//!   always reads the same.
//!
//! [`Scrubber::scrub_event`] walks the whole raw event (request headers, cookies and data,
//! extra, contexts, breadcrumbs, frame variables, user, tags, exception values), skipping
//! only members that hold SDK bookkeeping (`event_id`, `sdk`, `debug_meta`, …).

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::LazyLock;

use memchr::memmem;

use regex::{Captures, Regex};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::json::{Json, Node};
use crate::limits::parse_json;
use crate::Error;

/// The default key patterns (case-insensitive, searched anywhere in the key, `-` read
/// as `_`).
pub const DEFAULT_KEYS: &[&str] = &[
    "passw(or)?d",
    "(^|_)pwd($|_)",
    "secret",
    "token",
    "api_?key",
    "access_?key",
    "auth",
    "credential",
    "cookie",
    "session",
    "csrf",
    "xsrf",
    "credit_?card",
    "card_?number",
    "(^|_)cc_?num",
    "(^|_)cv[cv]2?($|_)",
    "private_?key",
    "(^|_)ssn($|_)",
];

/// Top-level event members never scrubbed: identifiers and SDK bookkeeping that hold no
/// user data and must survive intact for grouping and debugging.
const SKIP_TOP_LEVEL: &[&str] = &[
    "event_id",
    "timestamp",
    "start_timestamp",
    "received",
    "level",
    "platform",
    "type",
    "sdk",
    "debug_meta",
    "modules",
    "version",
];

/// JSON documents inside strings are scrubbed as JSON only up to this size.
const MAX_EMBEDDED_JSON_BYTES: usize = 256 << 10;

/// What to scrub. Every pattern is a regex (Rust `regex` syntax).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ScrubConfig {
    /// Scrub at all.
    pub enabled: bool,
    /// Key patterns; replaces the defaults ([`DEFAULT_KEYS`]) when set.
    pub keys: Vec<String>,
    /// Key patterns added to `keys`, to extend the defaults without restating them.
    pub extra_keys: Vec<String>,
    /// Keys never scrubbed by the key rule (exact, case-insensitive), e.g. `author`.
    pub safe_keys: Vec<String>,
    /// Luhn-checked card numbers.
    pub credit_cards: bool,
    /// `Bearer …` tokens.
    pub bearer_tokens: bool,
    /// JSON Web Tokens (`eyJ….eyJ….…`).
    pub jwts: bool,
    /// AWS access key ids (`AKIA…`, `ASIA…`).
    pub aws_keys: bool,
    /// PEM private key blocks.
    pub private_keys: bool,
    /// The password of `scheme://user:password@host` URLs.
    pub url_passwords: bool,
    /// E-mail addresses, masked to `b***@example.com`.
    pub emails: bool,
    /// IPv4 addresses (off by default: version strings look alike and IPs help debugging).
    pub ip_addresses: bool,
    /// Further value patterns; each match is replaced.
    pub value_patterns: Vec<String>,
    /// What replaces a scrubbed value.
    pub replacement: String,
}

impl Default for ScrubConfig {
    fn default() -> Self {
        ScrubConfig {
            enabled: true,
            keys: DEFAULT_KEYS.iter().map(|s| (*s).to_owned()).collect(),
            extra_keys: Vec::new(),
            safe_keys: Vec::new(),
            credit_cards: true,
            bearer_tokens: true,
            jwts: true,
            aws_keys: true,
            private_keys: true,
            url_passwords: true,
            emails: true,
            ip_addresses: false,
            value_patterns: Vec::new(),
            replacement: "[Filtered]".into(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    PrivateKey,
    UrlPassword,
    Jwt,
    Bearer,
    AwsKey,
    CreditCard,
    Email,
    Ip,
    Custom,
}

/// The literals the value patterns need, searched with prebuilt finders.
struct Needles {
    begin: memmem::Finder<'static>,
    scheme: memmem::Finder<'static>,
    jwt: memmem::Finder<'static>,
    akia: memmem::Finder<'static>,
    asia: memmem::Finder<'static>,
}

static NEEDLES: LazyLock<Needles> = LazyLock::new(|| Needles {
    begin: memmem::Finder::new("-----BEGIN"),
    scheme: memmem::Finder::new("://"),
    jwt: memmem::Finder::new("eyJ"),
    akia: memmem::Finder::new("AKIA"),
    asia: memmem::Finder::new("ASIA"),
});

/// Which of the bytes the value patterns' literals start with occur in a string: one
/// table pass over short strings; long ones get every bit (their literal searches are
/// vectorised and beat a byte loop).
#[derive(Debug, Clone, Copy)]
struct Present(u8);

const HAS_DASH: u8 = 1;
const HAS_COLON: u8 = 2;
const HAS_J: u8 = 4;
const HAS_A: u8 = 8;
const HAS_AT: u8 = 16;
const HAS_B: u8 = 32;
const HAS_DOT: u8 = 64;
/// Strings up to this long get the byte pass.
const PRESENT_PASS_MAX_BYTES: usize = 256;

static PRESENT_BITS: [u8; 256] = {
    let mut t = [0u8; 256];
    t[b'-' as usize] = HAS_DASH;
    t[b':' as usize] = HAS_COLON;
    t[b'J' as usize] = HAS_J;
    t[b'A' as usize] = HAS_A;
    t[b'@' as usize] = HAS_AT;
    t[b'b' as usize] = HAS_B;
    t[b'B' as usize] = HAS_B;
    t[b'.' as usize] = HAS_DOT;
    t
};

impl Present {
    fn of(b: &[u8]) -> Present {
        if b.len() > PRESENT_PASS_MAX_BYTES {
            return Present(u8::MAX);
        }
        Present(b.iter().fold(0, |m, &c| m | PRESENT_BITS[usize::from(c)]))
    }

    fn has(self, bits: u8) -> bool {
        self.0 & bits == bits
    }
}

impl Kind {
    /// A test that every match of the kind's pattern passes (or, for card numbers, every
    /// match that gets replaced), cheaper than the regex; `false` means no match.
    /// `present` is [`Present::of`] the same text.
    fn may_match(self, s: &str, present: Present) -> bool {
        let b = s.as_bytes();
        let n = &*NEEDLES;
        match self {
            Kind::PrivateKey => present.has(HAS_DASH) && n.begin.find(b).is_some(),
            Kind::UrlPassword => present.has(HAS_AT | HAS_COLON) && n.scheme.find(b).is_some(),
            Kind::Jwt => present.has(HAS_J) && n.jwt.find(b).is_some(),
            // `(?i)bearer`: none of these letters has a non-ASCII case variant.
            Kind::Bearer => {
                present.has(HAS_B)
                    && memchr::memchr2_iter(b'b', b'B', b).any(|i| {
                        b.get(i..i + 6)
                            .is_some_and(|w| w.eq_ignore_ascii_case(b"bearer"))
                    })
            }
            Kind::AwsKey => {
                present.has(HAS_A) && (n.akia.find(b).is_some() || n.asia.find(b).is_some())
            }
            Kind::CreditCard => may_hold_card(b),
            Kind::Email => present.has(HAS_AT) && memchr::memchr(b'@', b).is_some(),
            Kind::Ip => present.has(HAS_DOT) && memchr::memchr_iter(b'.', b).nth(2).is_some(),
            Kind::Custom => true,
        }
    }
}

/// Whether `b` may hold a card number the pattern finds and [`is_card`] accepts: 13
/// ASCII digits in a row, each pair separated by at most one space or dash. Text with
/// non-ASCII characters (where `\d` also matches other scripts' digits) only needs 13
/// ASCII digits anywhere.
fn may_hold_card(b: &[u8]) -> bool {
    if b.len() < 13 {
        return false;
    }
    if !b.is_ascii() {
        return b.iter().filter(|c| c.is_ascii_digit()).nth(12).is_some();
    }
    // Such a number lies in a run of 13 or more bytes from [0-9 -]. Probing every 13th
    // byte finds every such run (any 13 consecutive bytes hold a probe), skipping text.
    let class = |c: u8| c.is_ascii_digit() || c == b' ' || c == b'-';
    let (mut lo, mut probe) = (0, 12);
    while let Some(&c) = b.get(probe) {
        if !class(c) {
            lo = probe + 1;
            probe = lo + 12;
            continue;
        }
        let mut start = probe;
        while start > lo && b.get(start - 1).copied().is_some_and(class) {
            start -= 1;
        }
        let mut end = probe + 1;
        while b.get(end).copied().is_some_and(class) {
            end += 1;
        }
        if end - start >= 13 && has_card_run(b.get(start..end).unwrap_or_default()) {
            return true;
        }
        lo = end + 1;
        probe = lo + 12;
    }
    false
}

/// 13 ASCII digits in a row, each pair separated by at most one space or dash.
fn has_card_run(b: &[u8]) -> bool {
    let (mut run, mut after_digit) = (0usize, false);
    for &c in b {
        if c.is_ascii_digit() {
            run += 1;
            if run >= 13 {
                return true;
            }
            after_digit = true;
        } else if after_digit && (c == b' ' || c == b'-') {
            after_digit = false;
        } else {
            run = 0;
            after_digit = false;
        }
    }
    false
}

/// One `key=value` pair inside a string: byte offsets of the key's start, the `=` and
/// the value's end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct KeyValue {
    start: usize,
    eq: usize,
    end: usize,
}

fn is_pair_key_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b'-' | b'[' | b']')
}

/// The leftmost pair starting at or after `from`, as the regex
/// `([A-Za-z0-9_.\-\[\]]+)=([^&;\s,'"]*)` would find it: the key is the run of key
/// characters right before the first `=` that has one (keys hold no `=`), the value runs
/// to the next `&`, `;`, `,`, quote or white space.
fn next_key_value(s: &str, from: usize) -> Option<KeyValue> {
    let b = s.as_bytes();
    let mut search = from;
    loop {
        let eq = search + memchr::memchr(b'=', b.get(search..)?)?;
        let mut start = eq;
        while start > from && b.get(start - 1).copied().is_some_and(is_pair_key_byte) {
            start -= 1;
        }
        if start == eq {
            search = eq + 1;
            continue;
        }
        let rest = s.get(eq + 1..)?;
        let len = rest
            .find(|c: char| matches!(c, '&' | ';' | ',' | '\'' | '"') || c.is_whitespace())
            .unwrap_or(rest.len());
        return Some(KeyValue {
            start,
            eq,
            end: eq + 1 + len,
        });
    }
}

/// Source of [`Scrubber`] ids, which key the per-thread cache of key decisions.
static NEXT_SCRUBBER_ID: AtomicU64 = AtomicU64::new(1);
/// Decisions remembered per thread; the cache is emptied when it holds this many (the
/// keys SDKs send repeat from event to event: a few hundred names in practice). With
/// [`KEY_CACHE_MAX_KEY_BYTES`] this bounds a thread's cache to about 100 KiB.
const KEY_CACHE_ENTRIES: usize = 1024;
/// Longer keys are always matched afresh (and never held by the cache).
const KEY_CACHE_MAX_KEY_BYTES: usize = 64;

/// Which keys one scrubber found sensitive, on one thread. Running the key regex costs
/// tens of nanoseconds a key; an event has hundreds of keys, nearly all seen before.
#[derive(Default)]
struct KeyCache {
    scrubber: u64,
    decisions: HashMap<Box<str>, bool, foldhash::fast::RandomState>,
}

thread_local! {
    static KEY_CACHE: RefCell<KeyCache> = RefCell::new(KeyCache::default());
}

/// The key cache one walk uses (`None`: decide every key afresh).
struct Keys<'c>(Option<&'c mut KeyCache>);

/// A compiled [`ScrubConfig`]. Cheap to share (`Arc`) across threads.
#[derive(Debug, Clone)]
pub struct Scrubber {
    /// Distinct per compiled configuration (clones share it: same rules).
    id: u64,
    enabled: bool,
    keys: Option<Regex>,
    safe_keys: Vec<String>,
    patterns: Vec<(Kind, Regex)>,
    /// Whether card numbers are scrubbed (also from JSON numbers).
    cards: bool,
    quoted_value: Regex,
    replacement: String,
}

/// How much one call scrubbed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ScrubStats {
    /// Values replaced because of their key.
    pub keys: usize,
    /// Pattern matches replaced inside values.
    pub values: usize,
}

impl Scrubber {
    /// Compiles `config`; a bad regex is an [`Error::Config`] naming it.
    pub fn new(config: &ScrubConfig) -> Result<Self, Error> {
        let bad = |p: &str, e: regex::Error| Error::Config(format!("scrub pattern {p:?}: {e}"));
        let key_srcs: Vec<&String> = config.keys.iter().chain(&config.extra_keys).collect();
        for p in &key_srcs {
            Regex::new(p).map_err(|e| bad(p, e))?;
        }
        let keys = if key_srcs.is_empty() {
            None
        } else {
            let alt = key_srcs
                .iter()
                .map(|p| format!("(?:{p})"))
                .collect::<Vec<_>>()
                .join("|");
            Some(Regex::new(&format!("(?i){alt}")).map_err(|e| bad(&alt, e))?)
        };
        let mut srcs: Vec<(Kind, String)> = Vec::new();
        if config.private_keys {
            srcs.push((
                Kind::PrivateKey,
                r"-----BEGIN[A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END[A-Z ]*PRIVATE KEY-----|$)"
                    .into(),
            ));
        }
        if config.url_passwords {
            srcs.push((
                Kind::UrlPassword,
                r"\b([a-zA-Z][a-zA-Z0-9+.\-]*://[^/\s:@]*:)([^/\s@]+)@".into(),
            ));
        }
        if config.jwts {
            srcs.push((
                Kind::Jwt,
                r"\beyJ[A-Za-z0-9_\-]{4,}\.eyJ[A-Za-z0-9_\-]{4,}\.[A-Za-z0-9_\-]*".into(),
            ));
        }
        if config.bearer_tokens {
            srcs.push((
                Kind::Bearer,
                r"(?i)\b(bearer)(\s+)([A-Za-z0-9\-._~+/]{8,}=*)".into(),
            ));
        }
        if config.aws_keys {
            srcs.push((Kind::AwsKey, r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b".into()));
        }
        if config.credit_cards {
            srcs.push((Kind::CreditCard, r"\b(?:\d[ \-]?){12,18}\d\b".into()));
        }
        if config.emails {
            srcs.push((
                Kind::Email,
                r"\b([A-Za-z0-9._%+\-]+)@([A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,})\b"
                    .into(),
            ));
        }
        if config.ip_addresses {
            srcs.push((
                Kind::Ip,
                r"\b(?:(?:25[0-5]|2[0-4]\d|1?\d?\d)\.){3}(?:25[0-5]|2[0-4]\d|1?\d?\d)\b".into(),
            ));
        }
        for p in &config.value_patterns {
            srcs.push((Kind::Custom, p.clone()));
        }
        let mut patterns = Vec::with_capacity(srcs.len());
        for (k, s) in &srcs {
            patterns.push((*k, Regex::new(s).map_err(|e| bad(s, e))?));
        }
        let quoted_value = Regex::new(
            r#"(?:["']([A-Za-z0-9_.\-]+)["']|\b([A-Za-z0-9_.\-]+))\s*[:=]\s*["']([^"'\n]*)["']"#,
        )
        .map_err(|e| bad("quoted value", e))?;
        Ok(Scrubber {
            id: NEXT_SCRUBBER_ID.fetch_add(1, Ordering::Relaxed),
            enabled: config.enabled,
            keys,
            safe_keys: config
                .safe_keys
                .iter()
                .map(|k| k.to_ascii_lowercase())
                .collect(),
            cards: config.credit_cards,
            patterns,
            quoted_value,
            replacement: config.replacement.clone(),
        })
    }

    /// Whether `key` names something secret.
    pub fn is_sensitive_key(&self, key: &str) -> bool {
        self.keys.is_some() && self.with_keys(|keys| self.sensitive(keys, key))
    }

    /// Runs `f` with this thread's cache of key decisions, borrowed once for a whole walk
    /// rather than once per key (a call nested in another walk finds the cache borrowed
    /// and decides without it).
    fn with_keys<R>(&self, f: impl FnOnce(&mut Keys<'_>) -> R) -> R {
        KEY_CACHE.with(|cell| match cell.try_borrow_mut() {
            Ok(mut cache) => {
                if cache.scrubber != self.id {
                    cache.decisions.clear();
                    cache.scrubber = self.id;
                }
                f(&mut Keys(Some(&mut cache)))
            }
            Err(_) => f(&mut Keys(None)),
        })
    }

    /// [`is_sensitive_key`](Self::is_sensitive_key) with the walk's cache.
    fn sensitive(&self, keys: &mut Keys<'_>, key: &str) -> bool {
        if self.keys.is_none() {
            return false;
        }
        let Some(cache) = keys
            .0
            .as_deref_mut()
            .filter(|_| key.len() <= KEY_CACHE_MAX_KEY_BYTES)
        else {
            return self.key_rule(key);
        };
        if let Some(&hit) = cache.decisions.get(key) {
            return hit;
        }
        let hit = self.key_rule(key);
        if cache.decisions.len() >= KEY_CACHE_ENTRIES {
            cache.decisions.clear();
        }
        cache.decisions.insert(key.into(), hit);
        hit
    }

    /// The key rule itself: safe keys, then the key patterns with `-` read as `_`.
    fn key_rule(&self, key: &str) -> bool {
        let Some(re) = &self.keys else { return false };
        if self.safe_keys.iter().any(|s| s.eq_ignore_ascii_case(key)) {
            return false;
        }
        if !key.contains('-') {
            return re.is_match(key);
        }
        // `-` reads as `_`; rewrite into a stack buffer (ASCII for ASCII keeps UTF-8
        // valid), allocating only for keys too long for it.
        let mut buf = [0u8; 128];
        match buf.get_mut(..key.len()) {
            Some(dst) => {
                for (d, b) in dst.iter_mut().zip(key.bytes()) {
                    *d = if b == b'-' { b'_' } else { b };
                }
                std::str::from_utf8(dst).is_ok_and(|k| re.is_match(k))
            }
            None => re.is_match(&key.replace('-', "_")),
        }
    }

    /// Scrubs a whole raw event in place, leaving SDK bookkeeping members alone.
    pub fn scrub_event(&self, event: &mut Value) -> ScrubStats {
        let mut stats = ScrubStats::default();
        if !self.enabled {
            return stats;
        }
        self.with_keys(|keys| match event {
            Value::Object(map) => {
                for (k, v) in map.iter_mut() {
                    if SKIP_TOP_LEVEL.contains(&k.as_str()) {
                        continue;
                    }
                    self.member(keys, k, v, &mut stats);
                }
            }
            other => self.walk(keys, other, &mut stats),
        });
        stats
    }

    /// What [`scrub_event`](Self::scrub_event) would scrub in `event`, which is left as
    /// it is (default stats: scrubbing would change nothing). The walk of
    /// [`scrub_event`](Self::scrub_event) over a read-only tree.
    pub fn scrub_event_stats<'a, J: Json<'a>>(&self, event: J) -> ScrubStats {
        let mut stats = ScrubStats::default();
        if !self.enabled {
            return stats;
        }
        self.with_keys(|keys| {
            if event.is_object() {
                for (k, v) in event.members() {
                    if !SKIP_TOP_LEVEL.contains(&k) {
                        self.check_member(keys, k, v, &mut stats);
                    }
                }
            } else {
                self.check(keys, event, &mut stats);
            }
        });
        stats
    }

    fn check_member<'a, J: Json<'a>>(
        &self,
        keys: &mut Keys<'_>,
        key: &str,
        v: J,
        stats: &mut ScrubStats,
    ) {
        if self.sensitive(keys, key) {
            let blank = match v.node() {
                Node::Null => true,
                Node::Str(s) => s.is_empty(),
                _ => false,
            };
            if !blank {
                stats.keys += 1;
            }
        } else {
            self.check(keys, v, stats);
        }
    }

    fn check<'a, J: Json<'a>>(&self, keys: &mut Keys<'_>, v: J, stats: &mut ScrubStats) {
        match v.node() {
            Node::Object => {
                for (k, x) in v.members() {
                    self.check_member(keys, k, x, stats);
                }
            }
            Node::Array => {
                let pair = |i: J| {
                    (i.is_array() && i.array_len() == 2)
                        .then(|| Some((i.item(0)?.as_str()?, i.item(1)?)))
                        .flatten()
                };
                let pairs = v.array_len() > 0 && v.items().all(|i| pair(i).is_some());
                for item in v.items() {
                    match pair(item).filter(|_| pairs) {
                        Some((key, x)) => {
                            self.string(keys, key, stats);
                            self.check_member(keys, key, x, stats);
                        }
                        None => self.check(keys, item, stats),
                    }
                }
            }
            Node::Str(s) => {
                self.string(keys, s, stats);
            }
            Node::Number => {
                if self.cards
                    && v.as_u64()
                        .is_some_and(|u| u >= 1_000_000_000_000 && is_card(&u.to_string()))
                {
                    stats.values += 1;
                }
            }
            Node::Null | Node::Bool(_) => {}
        }
    }

    /// Scrubs any JSON value in place (every member, no exceptions).
    pub fn scrub_value(&self, v: &mut Value) -> ScrubStats {
        let mut stats = ScrubStats::default();
        if self.enabled {
            self.with_keys(|keys| self.walk(keys, v, &mut stats));
        }
        stats
    }

    /// Scrubs one string, returning the new text if anything changed.
    pub fn scrub_str(&self, s: &str) -> Option<String> {
        if !self.enabled {
            return None;
        }
        let mut stats = ScrubStats::default();
        self.with_keys(|keys| self.string(keys, s, &mut stats))
    }

    fn member(&self, keys: &mut Keys<'_>, key: &str, v: &mut Value, stats: &mut ScrubStats) {
        if self.sensitive(keys, key) {
            if !is_blank(v) {
                *v = Value::String(self.replacement.clone());
                stats.keys += 1;
            }
        } else {
            self.walk(keys, v, stats);
        }
    }

    fn walk(&self, keys: &mut Keys<'_>, v: &mut Value, stats: &mut ScrubStats) {
        match v {
            Value::Object(map) => {
                for (k, v) in map.iter_mut() {
                    self.member(keys, k, v, stats);
                }
            }
            Value::Array(items) => {
                let pairs = !items.is_empty()
                    && items
                        .iter()
                        .all(|i| matches!(i, Value::Array(p) if p.len() == 2 && p[0].is_string()));
                for item in items.iter_mut() {
                    match item {
                        Value::Array(p) if pairs => {
                            if let [k, v] = p.as_mut_slice() {
                                // The key is scrubbed as a string first; the value's rule
                                // looks at the key as it was sent.
                                let replaced = match k {
                                    Value::String(key) => self.string(keys, key, stats),
                                    _ => None,
                                };
                                self.member(keys, k.as_str().unwrap_or_default(), v, stats);
                                if let (Some(new), Value::String(key)) = (replaced, k) {
                                    *key = new;
                                }
                            }
                        }
                        other => self.walk(keys, other, stats),
                    }
                }
            }
            Value::String(s) => {
                if let Some(new) = self.string(keys, s, stats) {
                    *s = new;
                }
            }
            Value::Number(n) => {
                // A card number has 13–19 digits: smaller numbers are not printed.
                if self.cards
                    && n.as_u64()
                        .is_some_and(|u| u >= 1_000_000_000_000 && is_card(&u.to_string()))
                {
                    *v = Value::String(self.replacement.clone());
                    stats.values += 1;
                }
            }
            Value::Null | Value::Bool(_) => {}
        }
    }

    fn string(&self, keys: &mut Keys<'_>, s: &str, stats: &mut ScrubStats) -> Option<String> {
        let t = s.trim_start();
        if (t.starts_with('{') || t.starts_with('[')) && s.len() <= MAX_EMBEDDED_JSON_BYTES {
            if let Ok(mut doc) = parse_json(s.as_bytes(), "embedded", 32) {
                let before = *stats;
                self.walk(keys, &mut doc, stats);
                if *stats == before {
                    return None;
                }
                return serde_json::to_string(&doc).ok();
            }
        }
        let mut cur: Cow<'_, str> = Cow::Borrowed(s);
        if self.keys.is_some() && memchr::memchr(b'=', s.as_bytes()).is_some() {
            if let Some(new) = self.key_values(keys, s, stats) {
                cur = Cow::Owned(new);
            }
        }
        // `"key": "value"`, `key = 'value'`: a quote and a `:` or `=` at least.
        if self.keys.is_some()
            && memchr::memchr2(b'"', b'\'', cur.as_bytes()).is_some()
            && memchr::memchr2(b':', b'=', cur.as_bytes()).is_some()
            && self.quoted_value.captures_iter(&cur).any(|c| {
                let key = c.get(1).or_else(|| c.get(2)).map_or("", |m| m.as_str());
                c.get(3).is_some_and(|v| {
                    !v.as_str().is_empty()
                        && v.as_str() != self.replacement
                        && self.sensitive(keys, key)
                })
            })
        {
            let mut n = 0;
            let new = self.quoted_value.replace_all(&cur, |c: &Captures<'_>| {
                let whole = c.get(0).map_or("", |m| m.as_str());
                let key = c.get(1).or_else(|| c.get(2)).map_or("", |m| m.as_str());
                let (Some(m0), Some(v)) = (c.get(0), c.get(3)) else {
                    return whole.to_owned();
                };
                if v.as_str().is_empty()
                    || v.as_str() == self.replacement
                    || !self.sensitive(keys, key)
                {
                    return whole.to_owned();
                }
                n += 1;
                let (vs, ve) = (v.start() - m0.start(), v.end() - m0.start());
                format!("{}{}{}", &whole[..vs], self.replacement, &whole[ve..])
            });
            if n > 0 {
                stats.values += n;
                cur = Cow::Owned(new.into_owned());
            }
        }
        // Value patterns, in order, each on the text the previous ones left; a pattern
        // runs only when it matches the text as it was before them. The cheap tests of
        // `may_match` spare the regex engine the strings that cannot hold a match.
        let base: &str = &cur;
        let present = Present::of(base.as_bytes());
        let mut out: Option<String> = None;
        for (kind, re) in &self.patterns {
            if !kind.may_match(base, present) || !re.is_match(base) {
                continue;
            }
            let text = out.as_deref().unwrap_or(base);
            let mut n = 0;
            let new = re.replace_all(text, |c: &Captures<'_>| match self.replace(*kind, c) {
                Some(r) => {
                    n += 1;
                    r
                }
                None => c[0].to_owned(),
            });
            if n > 0 {
                let new = new.into_owned();
                stats.values += n;
                out = Some(new);
            }
        }
        match (out, cur) {
            (Some(o), _) | (None, Cow::Owned(o)) => Some(o),
            (None, Cow::Borrowed(_)) => None,
        }
    }

    /// Replaces the values of `key=value` pairs with a sensitive key (query strings,
    /// cookies, log lines); `None` when there is none. Pairs are found as the regex
    /// `([A-Za-z0-9_.\-\[\]]+)=([^&;\s,'"]*)` finds them, without running one.
    fn key_values(&self, keys: &mut Keys<'_>, s: &str, stats: &mut ScrubStats) -> Option<String> {
        let mut out: Option<String> = None;
        let (mut copied, mut pos, mut n) = (0, 0, 0);
        while let Some(kv) = next_key_value(s, pos) {
            let (k, v) = (&s[kv.start..kv.eq], &s[kv.eq + 1..kv.end]);
            if !v.is_empty() && v != self.replacement && self.sensitive(keys, k) {
                let o = out.get_or_insert_with(|| String::with_capacity(s.len()));
                o.push_str(&s[copied..kv.start]);
                o.push_str(k);
                o.push('=');
                o.push_str(&self.replacement);
                copied = kv.end;
                n += 1;
            }
            pos = kv.end;
        }
        let mut o = out?;
        o.push_str(&s[copied..]);
        stats.values += n;
        Some(o)
    }

    /// The replacement for one match, `None` to keep it (a Luhn failure).
    fn replace(&self, kind: Kind, c: &Captures<'_>) -> Option<String> {
        let r = &self.replacement;
        match kind {
            Kind::CreditCard => is_card(&c[0]).then(|| r.clone()),
            Kind::UrlPassword => Some(format!("{}{r}@", &c[1])),
            // A token has a digit or symbol, or is long: "the bearer certificates" is prose.
            Kind::Bearer => {
                let t = &c[3];
                let tokenish = t.len() >= 20 || t.bytes().any(|b| !b.is_ascii_alphabetic());
                (tokenish && t != r).then(|| format!("{}{}{r}", &c[1], &c[2]))
            }
            Kind::Email => Some(mask_email(&c[1], &c[2])),
            Kind::PrivateKey | Kind::Jwt | Kind::AwsKey | Kind::Ip | Kind::Custom => {
                (c[0] != **r).then(|| r.clone())
            }
        }
    }
}

fn is_blank(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        _ => false,
    }
}

/// `bob.smith@example.com` → `b***@example.com`: the domain stays (useful when debugging),
/// the mailbox does not, and the same address always gives the same text.
pub fn mask_email(local: &str, domain: &str) -> String {
    let first = local.chars().next().unwrap_or('*');
    format!("{first}***@{}", domain.to_ascii_lowercase())
}

/// Whether `s` (digits with optional spaces/dashes) looks like a payment card number:
/// 13–19 digits, a card-network first digit (2–6), not all one digit, Luhn-valid.
pub fn is_card(s: &str) -> bool {
    let digits: Vec<u32> = s.chars().filter_map(|c| c.to_digit(10)).collect();
    if !(13..=19).contains(&digits.len()) || !(2..=6).contains(&digits[0]) {
        return false;
    }
    if digits.iter().all(|d| *d == digits[0]) {
        return false;
    }
    luhn(&digits)
}

/// The Luhn checksum over decimal digits.
pub fn luhn(digits: &[u32]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            if i % 2 == 1 {
                let x = d * 2;
                if x > 9 {
                    x - 9
                } else {
                    x
                }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

#[cfg(test)]
#[path = "scrub_tests.rs"]
mod tests;
