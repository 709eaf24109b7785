//! Byte sizes written like `512`, `64KiB`, `10MB`, `1GiB`, `0` (zero disables a size limit
//! where the option says so).

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("invalid size {input:?}: {reason} (expected e.g. 512KiB, 64MiB, 10GB)")]
pub struct ByteSizeError {
    pub input: String,
    pub reason: &'static str,
}

/// Parses a size in bytes; units B, KB/MB/GB/TB (powers of 1000), KiB/MiB/GiB/TiB (1024).
pub fn parse(s: &str) -> Result<u64, ByteSizeError> {
    let err = |reason| ByteSizeError {
        input: s.to_string(),
        reason,
    };
    let t = s.trim();
    let digits = t
        .bytes()
        .take_while(|b| b.is_ascii_digit() || *b == b'.')
        .count();
    if digits == 0 {
        return Err(err("expected a number"));
    }
    let n: f64 = t[..digits].parse().map_err(|_| err("bad number"))?;
    let mult: f64 = match t[digits..].trim() {
        "" | "B" => 1.0,
        "KB" | "kB" | "K" => 1e3,
        "MB" | "M" => 1e6,
        "GB" | "G" => 1e9,
        "TB" | "T" => 1e12,
        "KiB" => 1024.0,
        "MiB" => 1024.0 * 1024.0,
        "GiB" => 1024.0 * 1024.0 * 1024.0,
        "TiB" => 1024.0 * 1024.0 * 1024.0 * 1024.0,
        _ => return Err(err("unknown unit")),
    };
    let v = n * mult;
    if !v.is_finite() || v > u64::MAX as f64 {
        return Err(err("too large"));
    }
    Ok(v as u64)
}

/// Serde support accepting either an integer number of bytes or a string with a unit.
pub mod serde_str {
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        N(u64),
        S(String),
    }

    pub fn serialize<S: Serializer>(v: &u64, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_u64(*v)
    }
    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        match Raw::deserialize(d)? {
            Raw::N(n) => Ok(n),
            Raw::S(s) => super::parse(&s).map_err(D::Error::custom),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses() {
        assert_eq!(parse("512").unwrap(), 512);
        assert_eq!(parse("64KiB").unwrap(), 65536);
        assert_eq!(parse("10MB").unwrap(), 10_000_000);
        assert_eq!(parse("1GiB").unwrap(), 1 << 30);
        assert!(parse("ten").is_err());
        assert!(parse("5XB").is_err());
    }
}
