//! Sentry envelopes: the framing every current SDK sends to `/api/{id}/envelope/`.
//!
//! ```text
//! {"event_id":"…","dsn":"…","sent_at":"…"}\n          envelope header, one JSON line
//! {"type":"event","length":41}\n                     item header, one JSON line
//! {"message":"hello","level":"info", …}\n            payload: `length` bytes, or up to \n
//! {"type":"attachment","length":3,"filename":"a"}\n
//! abc                                                the final newline is optional
//! ```
//!
//! Parsing borrows the body: an [`Item`] holds a slice of it. Items whose type we do not
//! know are kept under their own name ([`ItemType::Unknown`]) so the caller can count and
//! drop them; nothing about an item's content is checked here beyond its framing. Event
//! payloads are parsed into a raw [`serde_json::Value`] by [`Item::json`] — never into
//! strict typed structs, so an unusual field cannot make us drop an event.

use std::fmt;

use serde_json::Value;

use crate::limits::{parse_event_json, parse_json, PayloadLimits, RawEvent};
use crate::Error;

/// What an envelope item carries, from its header's `type`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ItemType {
    Event,
    Transaction,
    Session,
    Sessions,
    Attachment,
    CheckIn,
    ClientReport,
    Span,
    Profile,
    ProfileChunk,
    Statsd,
    UserReport,
    Feedback,
    ReplayEvent,
    ReplayRecording,
    Log,
    /// A type this version does not know; kept by name.
    Unknown(String),
}

impl ItemType {
    /// Every type this version knows, each with its wire name: the one table that
    /// [`ItemType::parse`], [`ItemType::as_str`] and [`ItemType::metric_label`] read.
    const KNOWN: [(ItemType, &'static str); 16] = [
        (ItemType::Event, "event"),
        (ItemType::Transaction, "transaction"),
        (ItemType::Session, "session"),
        (ItemType::Sessions, "sessions"),
        (ItemType::Attachment, "attachment"),
        (ItemType::CheckIn, "check_in"),
        (ItemType::ClientReport, "client_report"),
        (ItemType::Span, "span"),
        (ItemType::Profile, "profile"),
        (ItemType::ProfileChunk, "profile_chunk"),
        (ItemType::Statsd, "statsd"),
        (ItemType::UserReport, "user_report"),
        (ItemType::Feedback, "feedback"),
        (ItemType::ReplayEvent, "replay_event"),
        (ItemType::ReplayRecording, "replay_recording"),
        (ItemType::Log, "log"),
    ];

    /// Maps a header `type` to an item type; unknown names are kept.
    pub fn parse(name: &str) -> Self {
        Self::KNOWN
            .iter()
            .find(|(_, n)| *n == name)
            .map(|(t, _)| t.clone())
            .unwrap_or_else(|| ItemType::Unknown(name.to_owned()))
    }

    /// The wire name of a known type.
    fn known_name(&self) -> Option<&'static str> {
        Self::KNOWN.iter().find(|(t, _)| t == self).map(|(_, n)| *n)
    }

    /// The wire name.
    pub fn as_str(&self) -> &str {
        match self {
            ItemType::Unknown(s) => s,
            known => known.known_name().unwrap_or(""),
        }
    }

    /// Whether the payload is an event we normalise and group (errors and messages).
    /// Transactions are performance data and are not grouped into issues.
    pub fn is_error_event(&self) -> bool {
        matches!(self, ItemType::Event)
    }

    /// Whether the payload is JSON that [`Item::json`] should parse; attachments,
    /// statsd lines, replay recordings and unknown types are opaque.
    pub fn is_json(&self) -> bool {
        !matches!(
            self,
            ItemType::Attachment
                | ItemType::Statsd
                | ItemType::ReplayRecording
                | ItemType::Unknown(_)
        )
    }

    /// A bounded label for metrics: unknown names collapse to "unknown".
    pub fn metric_label(&self) -> &'static str {
        self.known_name().unwrap_or("unknown")
    }
}

impl fmt::Display for ItemType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One envelope item, borrowing its payload from the body.
#[derive(Debug, Clone, PartialEq)]
pub struct Item<'a> {
    /// 0-based position in the envelope, used in error messages.
    pub index: usize,
    pub item_type: ItemType,
    /// The whole item header (`type`, `length`, `content_type`, `filename`, …).
    pub header: Value,
    pub payload: &'a [u8],
}

impl Item<'_> {
    /// The header's `content_type`, if any.
    pub fn content_type(&self) -> Option<&str> {
        self.header.get("content_type").and_then(Value::as_str)
    }

    /// "envelope item 3 (event)", for error messages.
    pub fn describe(&self) -> String {
        format!("envelope item {} ({})", self.index, self.item_type)
    }

    /// Parses the payload as JSON, enforcing the depth limit and, for events and
    /// transactions, `max_event_bytes`.
    pub fn json(&self, limits: &PayloadLimits) -> Result<Value, Error> {
        self.check_event_size(limits)?;
        parse_json(self.payload, &self.describe(), limits.depth())
    }

    /// An event item's payload as text to be parsed when processed ([`RawEvent::Text`]),
    /// after the size and depth checks [`Item::json`] makes.
    pub fn event(&self, limits: &PayloadLimits) -> Result<RawEvent, Error> {
        self.check_event_size(limits)?;
        parse_event_json(self.payload, &self.describe(), limits.depth())
    }

    fn check_event_size(&self, limits: &PayloadLimits) -> Result<(), Error> {
        if matches!(self.item_type, ItemType::Event | ItemType::Transaction)
            && self.payload.len() > limits.max_event_bytes
        {
            return Err(Error::TooLarge {
                what: self.describe(),
                limit: limits.max_event_bytes,
            });
        }
        Ok(())
    }
}

/// A parsed envelope.
#[derive(Debug, Clone, PartialEq)]
pub struct Envelope<'a> {
    /// The envelope header object (`event_id`, `dsn`, `sdk`, `sent_at`, `trace`, …).
    pub header: Value,
    pub items: Vec<Item<'a>>,
}

impl<'a> Envelope<'a> {
    /// Parses a decompressed envelope body.
    pub fn parse(body: &'a [u8], limits: &PayloadLimits) -> Result<Self, Error> {
        let depth = limits.depth();
        let (first, mut rest) = split_line(body);
        if first.iter().all(u8::is_ascii_whitespace) {
            return Err(Error::envelope(None, "empty envelope: no header line"));
        }
        let header = parse_json(first, "envelope header", depth)?;
        if !header.is_object() {
            return Err(Error::envelope(None, "the header must be a JSON object"));
        }
        let mut items = Vec::new();
        loop {
            // Blank lines between items are tolerated.
            while let Some((b'\n', r)) = rest.split_first() {
                rest = r;
            }
            if rest.is_empty() || rest == b"\r" {
                break;
            }
            let index = items.len();
            if index >= limits.max_items {
                return Err(Error::TooLarge {
                    what: "envelope item count".into(),
                    limit: limits.max_items,
                });
            }
            let (line, after) = split_line(rest);
            let what = format!("envelope item {index} header");
            let header = parse_json(line, &what, depth)?;
            let ty = header
                .get("type")
                .ok_or_else(|| Error::envelope(Some(index), "item header has no \"type\""))?
                .as_str()
                .ok_or_else(|| Error::envelope(Some(index), "item \"type\" must be a string"))?;
            let item_type = ItemType::parse(ty);
            let (payload, next) = match header.get("length") {
                None | Some(Value::Null) => {
                    let (p, n) = split_line(after);
                    (p, n)
                }
                Some(l) => {
                    let len = l.as_u64().ok_or_else(|| {
                        Error::envelope(
                            Some(index),
                            format!("item \"length\" must be a non-negative integer, got {l}"),
                        )
                    })?;
                    let len = usize::try_from(len).unwrap_or(usize::MAX);
                    if len > limits.max_item_bytes {
                        return Err(Error::TooLarge {
                            what: format!("envelope item {index} ({item_type})"),
                            limit: limits.max_item_bytes,
                        });
                    }
                    if len > after.len() {
                        return Err(Error::envelope(
                            Some(index),
                            format!(
                                "length {len} runs past the end of the envelope ({} bytes left): truncated envelope",
                                after.len()
                            ),
                        ));
                    }
                    let (p, n) = after.split_at(len);
                    // The payload is followed by a newline or the end of the body.
                    let n = match n.split_first() {
                        Some((b'\n', r)) => r,
                        None => n,
                        Some(_) => match n.strip_prefix(b"\r\n") {
                            Some(r) => r,
                            None => {
                                return Err(Error::envelope(
                                    Some(index),
                                    format!("no newline after the {len}-byte payload"),
                                ))
                            }
                        },
                    };
                    (p, n)
                }
            };
            if payload.len() > limits.max_item_bytes {
                return Err(Error::TooLarge {
                    what: format!("envelope item {index} ({item_type})"),
                    limit: limits.max_item_bytes,
                });
            }
            items.push(Item {
                index,
                item_type,
                header,
                payload,
            });
            rest = next;
        }
        Ok(Envelope { header, items })
    }

    /// The header's `event_id`.
    pub fn event_id(&self) -> Option<&str> {
        self.header.get("event_id").and_then(Value::as_str)
    }

    /// The header's `dsn`, used for authentication when no other key is sent.
    pub fn dsn(&self) -> Option<&str> {
        self.header.get("dsn").and_then(Value::as_str)
    }

    /// The header's `sdk` object, if any.
    pub fn sdk(&self) -> Option<&Value> {
        self.header.get("sdk")
    }

    /// Items carrying error events, in order.
    pub fn events(&self) -> impl Iterator<Item = &Item<'a>> {
        self.items.iter().filter(|i| i.item_type.is_error_event())
    }
}

/// Splits off the first line (without its `\n` or `\r\n`); the rest starts after it.
fn split_line(b: &[u8]) -> (&[u8], &[u8]) {
    match b.iter().position(|&c| c == b'\n') {
        Some(i) => {
            let line = &b[..i];
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            (line, &b[i + 1..])
        }
        None => (b, &[]),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn item_type_names_round_trip_and_unknown_names_are_kept() {
        for (t, name) in ItemType::KNOWN.iter() {
            assert_eq!(&ItemType::parse(name), t);
            assert_eq!(t.as_str(), *name);
            assert_eq!(t.metric_label(), *name);
        }
        let odd = ItemType::parse("future_thing");
        assert_eq!(odd, ItemType::Unknown("future_thing".into()));
        assert_eq!(odd.as_str(), "future_thing");
        assert_eq!(odd.metric_label(), "unknown");
    }

    fn parse(b: &[u8]) -> Result<Envelope<'_>, Error> {
        Envelope::parse(b, &PayloadLimits::default())
    }

    #[test]
    fn length_prefixed_and_newline_terminated_items() {
        let body = b"{\"event_id\":\"9ec79c33ec9942ab8353589fcb2e04dc\",\"dsn\":\"https://k@h/1\"}\n\
{\"type\":\"attachment\",\"length\":10,\"content_type\":\"text/plain\",\"filename\":\"hello.txt\"}\n\
\xef\xbb\xbfHello\r\n\n\
{\"type\":\"event\",\"length\":41,\"content_type\":\"application/json\"}\n\
{\"message\":\"hello world\",\"level\":\"error\"}\n\
{\"type\":\"attachment\"}\n\
line-terminated\n\
{\"type\":\"session\"}\n\
{\"started\":\"2020-02-07T14:16:00Z\",\"attrs\":{\"release\":\"1\"}}";
        let env = parse(body).unwrap();
        assert_eq!(env.event_id(), Some("9ec79c33ec9942ab8353589fcb2e04dc"));
        assert_eq!(env.dsn(), Some("https://k@h/1"));
        assert_eq!(env.items.len(), 4);
        assert_eq!(env.items[0].item_type, ItemType::Attachment);
        assert_eq!(env.items[0].payload, b"\xef\xbb\xbfHello\r\n");
        assert_eq!(env.items[0].content_type(), Some("text/plain"));
        assert_eq!(env.items[1].item_type, ItemType::Event);
        let ev = env.items[1].json(&PayloadLimits::default()).unwrap();
        assert_eq!(ev["message"], "hello world");
        assert_eq!(env.items[2].payload, b"line-terminated");
        assert_eq!(env.items[3].item_type, ItemType::Session);
        assert_eq!(env.events().count(), 1);
    }

    #[test]
    fn trailing_newline_optional_and_empty_envelope() {
        let a = parse(b"{}\n{\"type\":\"event\",\"length\":2}\n{}").unwrap();
        let b = parse(b"{}\n{\"type\":\"event\",\"length\":2}\n{}\n").unwrap();
        assert_eq!(a, b);
        assert_eq!(parse(b"{}").unwrap().items.len(), 0);
        assert_eq!(parse(b"{}\n").unwrap().items.len(), 0);
        // Zero-length payload at the very end.
        let e = parse(b"{}\n{\"type\":\"attachment\",\"length\":0}").unwrap();
        assert_eq!(e.items[0].payload, b"");
        // CRLF line endings.
        let e = parse(b"{}\r\n{\"type\":\"event\"}\r\n{\"a\":1}\r\n").unwrap();
        assert_eq!(e.items[0].payload, b"{\"a\":1}");
    }

    #[test]
    fn unknown_and_future_types_are_kept() {
        let body = b"{}\n{\"type\":\"brand_new_thing\",\"length\":3}\nxyz\n{\"type\":\"client_report\"}\n{\"discarded_events\":[]}\n";
        let env = parse(body).unwrap();
        assert_eq!(
            env.items[0].item_type,
            ItemType::Unknown("brand_new_thing".into())
        );
        assert_eq!(env.items[0].item_type.as_str(), "brand_new_thing");
        assert_eq!(env.items[0].item_type.metric_label(), "unknown");
        assert!(!env.items[0].item_type.is_json());
        assert_eq!(env.items[1].item_type, ItemType::ClientReport);
        for name in [
            "event",
            "transaction",
            "session",
            "sessions",
            "attachment",
            "check_in",
            "client_report",
            "span",
            "profile",
            "profile_chunk",
            "statsd",
            "user_report",
            "feedback",
            "replay_event",
            "replay_recording",
            "log",
        ] {
            let t = ItemType::parse(name);
            assert!(!matches!(t, ItemType::Unknown(_)), "{name}");
            assert_eq!(t.as_str(), name);
            assert_eq!(t.metric_label(), name);
        }
    }

    #[test]
    fn errors_name_the_item() {
        let e = parse(b"{}\n{\"type\":\"event\",\"length\":100}\n{\"a\":1}\n").unwrap_err();
        assert_eq!(
            e.to_string(),
            "envelope item 0: length 100 runs past the end of the envelope (8 bytes left): truncated envelope"
        );
        let e = parse(b"{}\n{\"type\":\"event\"}\n{}\n{\"type\":\"event\",\"length\":5}\nab")
            .unwrap_err();
        assert!(e.to_string().starts_with("envelope item 1: "), "{e}");

        let e = parse(b"{not json\n").unwrap_err();
        assert!(
            e.to_string().starts_with("envelope header: invalid JSON"),
            "{e}"
        );
        let e = parse(b"[1]\n").unwrap_err();
        assert!(e.to_string().contains("must be a JSON object"), "{e}");
        let e = parse(b"").unwrap_err();
        assert!(e.to_string().contains("empty envelope"), "{e}");
        let e = parse(b"{}\n{\"type\":\"event\"\n{}").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("envelope item 0 header: invalid JSON"),
            "{e}"
        );
        let e = parse(b"{}\n{\"length\":2}\n{}").unwrap_err();
        assert_eq!(
            e.to_string(),
            "envelope item 0: item header has no \"type\""
        );
        let e = parse(b"{}\n{\"type\":\"event\",\"length\":-1}\n{}").unwrap_err();
        assert!(e.to_string().contains("non-negative integer"), "{e}");
        let e = parse(b"{}\n{\"type\":\"event\",\"length\":2}\n{}garbage").unwrap_err();
        assert!(e.to_string().contains("no newline after"), "{e}");
        assert_eq!(e.class(), strix_core::ErrorClass::BadInput);
    }

    #[test]
    fn limits_are_enforced() {
        let limits = PayloadLimits {
            max_items: 2,
            max_item_bytes: 10,
            max_event_bytes: 5,
            max_depth: 3,
        };
        let e = Envelope::parse(
            b"{}\n{\"type\":\"a\"}\n1\n{\"type\":\"a\"}\n2\n{\"type\":\"a\"}\n3\n",
            &limits,
        )
        .unwrap_err();
        assert!(matches!(e, Error::TooLarge { limit: 2, .. }), "{e}");
        assert_eq!(e.class(), strix_core::ErrorClass::Limit);
        let e = Envelope::parse(
            b"{}\n{\"type\":\"attachment\",\"length\":11}\n01234567890\n",
            &limits,
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "envelope item 0 (attachment): larger than the limit of 10"
        );
        let e = Envelope::parse(b"{}\n{\"type\":\"span\"}\n01234567890\n", &limits).unwrap_err();
        assert!(matches!(e, Error::TooLarge { limit: 10, .. }), "{e}");
        let env = Envelope::parse(b"{}\n{\"type\":\"event\"}\n{\"a\":12}\n", &limits).unwrap();
        let e = env.items[0].json(&limits).unwrap_err();
        assert_eq!(
            e.to_string(),
            "envelope item 0 (event): larger than the limit of 5"
        );
        let env = Envelope::parse(b"{}\n{\"type\":\"span\"}\n[[[[1]]]]\n", &limits).unwrap();
        let e = env.items[0].json(&limits).unwrap_err();
        assert!(matches!(e, Error::TooDeep { limit: 3, .. }), "{e}");
        let e = Envelope::parse(b"[[[[{}]]]]\n", &limits).unwrap_err();
        assert!(matches!(e, Error::TooDeep { .. }), "{e}");
    }
}
