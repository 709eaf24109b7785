//! Durations written the Prometheus way: `500ms`, `10s`, `5m`, `2h`, `30d`, `1w`, `1y`,
//! and combinations such as `1h30m`. A bare `0` is zero.

use std::time::Duration;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid duration {input:?}: {reason} (expected e.g. 500ms, 10s, 5m, 2h, 30d)")]
pub struct DurationError {
    pub input: String,
    pub reason: &'static str,
}

/// Parses a duration such as `1h30m`.
pub fn parse(s: &str) -> Result<Duration, DurationError> {
    let err = |reason| DurationError {
        input: s.to_string(),
        reason,
    };
    let s_trim = s.trim();
    if s_trim == "0" {
        return Ok(Duration::ZERO);
    }
    if s_trim.is_empty() {
        return Err(err("empty"));
    }
    let mut total_ms: u128 = 0;
    let mut rest = s_trim;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(err("expected a number"));
        }
        let n: u128 = rest[..digits]
            .parse()
            .map_err(|_| err("number too large"))?;
        rest = &rest[digits..];
        let unit_len = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        let ms: u128 = match unit {
            "ms" => 1,
            "s" => 1000,
            "m" => 60_000,
            "h" => 3_600_000,
            "d" => 86_400_000,
            "w" => 7 * 86_400_000,
            "y" => 365 * 86_400_000,
            "" => return Err(err("missing unit")),
            _ => return Err(err("unknown unit")),
        };
        total_ms = n
            .checked_mul(ms)
            .and_then(|v| total_ms.checked_add(v))
            .ok_or_else(|| err("too large"))?;
    }
    u64::try_from(total_ms)
        .map(Duration::from_millis)
        .map_err(|_| err("too large"))
}

/// Formats a duration: whole years or weeks when exact, otherwise days down to
/// milliseconds, e.g. `1y`, `2w`, `15d`, `1h30m`, `500ms`, `0s`.
pub fn format(d: Duration) -> String {
    let mut ms = d.as_millis();
    if ms == 0 {
        return "0s".into();
    }
    const DAY: u128 = 86_400_000;
    for (unit, size) in [("y", 365 * DAY), ("w", 7 * DAY)] {
        if ms.is_multiple_of(size) {
            return format!("{}{unit}", ms / size);
        }
    }
    let mut out = String::new();
    for (unit, size) in [
        ("d", DAY),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1000),
        ("ms", 1),
    ] {
        if ms >= size {
            out.push_str(&format!("{}{unit}", ms / size));
            ms %= size;
        }
    }
    out
}

/// Serde support: `#[serde(with = "strix_core::duration::serde_str")]`.
pub mod serde_str {
    use serde::{de::Error, Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format(*d))
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let s = String::deserialize(d)?;
        super::parse(&s).map_err(D::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_units() {
        assert_eq!(parse("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse("10s").unwrap(), Duration::from_secs(10));
        assert_eq!(parse("5m").unwrap(), Duration::from_secs(300));
        assert_eq!(parse("30d").unwrap(), Duration::from_secs(30 * 86400));
        assert_eq!(parse("1h30m").unwrap(), Duration::from_secs(5400));
        assert_eq!(parse("0").unwrap(), Duration::ZERO);
    }

    #[test]
    fn rejects_garbage() {
        assert!(parse("").is_err());
        assert!(parse("10").is_err());
        assert!(parse("10x").is_err());
        assert!(parse("m").is_err());
        assert!(parse("-5m").is_err());
    }

    #[test]
    fn formats_round_trip() {
        for s in ["1h30m", "500ms", "15d", "1y", "2w"] {
            assert_eq!(format(parse(s).unwrap()), s);
        }
    }
}
