//! Request signing for webhooks, and its verification for receivers.
//!
//! When a webhook has a `signing_secret`, each request carries
//!
//! ```text
//! X-Strix-Timestamp: 1717171717
//! X-Strix-Signature: sha256=<hex HMAC-SHA256(secret, "<timestamp>.<raw body>")>
//! ```
//!
//! A receiver verifies it by
//! 1. reading the raw body bytes (before any JSON parsing or re-encoding),
//! 2. recomputing `HMAC-SHA256(secret, timestamp + "." + body)` and comparing it with the
//!    header's hex digest **in constant time**,
//! 3. rejecting timestamps further than a few minutes from its clock (replay window), and
//! 4. optionally dropping repeats of `X-Strix-Idempotency-Key` it has already processed
//!    (retries of one notification carry the same key, with a new timestamp and signature).
//!
//! [`verify_signature`] does steps 2–3. In Python:
//!
//! ```text
//! mac = hmac.new(secret, f"{ts}.".encode() + body, hashlib.sha256).hexdigest()
//! ok = hmac.compare_digest("sha256=" + mac, header) and abs(time.time() - int(ts)) <= 300
//! ```

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Header carrying the unix timestamp (seconds) that was signed.
pub const TIMESTAMP_HEADER: &str = "X-Strix-Timestamp";
/// Header carrying `sha256=<hex>`.
pub const SIGNATURE_HEADER: &str = "X-Strix-Signature";
/// Header carrying the notification's idempotency key (always sent).
pub const IDEMPOTENCY_HEADER: &str = "X-Strix-Idempotency-Key";

/// `sha256=<hex HMAC-SHA256(secret, "<timestamp>.<body>")>`.
pub fn sign(secret: &[u8], timestamp: u64, body: &[u8]) -> String {
    format!(
        "sha256={}",
        hex::encode(mac(secret, &timestamp.to_string(), body))
    )
}

fn mac(secret: &[u8], timestamp: &str, body: &[u8]) -> Vec<u8> {
    // HMAC accepts keys of any length; new_from_slice cannot fail for it.
    match HmacSha256::new_from_slice(secret) {
        Ok(mut m) => {
            m.update(timestamp.as_bytes());
            m.update(b".");
            m.update(body);
            m.finalize().into_bytes().to_vec()
        }
        Err(_) => Vec::new(),
    }
}

/// Why a signature was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("malformed signature header (expected sha256=<hex>)")]
    Malformed,
    #[error("malformed timestamp")]
    BadTimestamp,
    #[error("timestamp outside the allowed window")]
    Expired,
    #[error("signature mismatch")]
    Mismatch,
}

/// Verifies a request signed by a Strix webhook, against the system clock.
/// `timestamp` and `header` are the raw values of `X-Strix-Timestamp` and
/// `X-Strix-Signature`; `max_age` bounds clock difference in both directions.
pub fn verify_signature(
    secret: &[u8],
    timestamp: &str,
    body: &[u8],
    header: &str,
    max_age: Duration,
) -> Result<(), SignatureError> {
    verify_signature_at(secret, timestamp, body, header, max_age, SystemTime::now())
}

/// [`verify_signature`] with an explicit clock.
pub fn verify_signature_at(
    secret: &[u8],
    timestamp: &str,
    body: &[u8],
    header: &str,
    max_age: Duration,
    now: SystemTime,
) -> Result<(), SignatureError> {
    let hex_sig = header
        .trim()
        .strip_prefix("sha256=")
        .ok_or(SignatureError::Malformed)?;
    let given = hex::decode(hex_sig).map_err(|_| SignatureError::Malformed)?;
    let ts = timestamp.trim();
    let secs: u64 = ts.parse().map_err(|_| SignatureError::BadTimestamp)?;
    let now_secs = now
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    if now_secs.abs_diff(secs) > max_age.as_secs() {
        return Err(SignatureError::Expired);
    }
    let mut m = HmacSha256::new_from_slice(secret).map_err(|_| SignatureError::Mismatch)?;
    m.update(ts.as_bytes());
    m.update(b".");
    m.update(body);
    // Constant-time comparison.
    m.verify_slice(&given).map_err(|_| SignatureError::Mismatch)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: u64 = 1_717_171_717;

    fn now() -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(NOW)
    }

    #[test]
    fn known_vector() {
        // python3 -c 'import hmac,hashlib;print(hmac.new(b"key",b"1717171717.{}",hashlib.sha256).hexdigest())'
        assert_eq!(
            sign(b"key", NOW, b"{}"),
            "sha256=6f797ac5f89f780a832d942007c433845581acf74ddd99719541932bbcdd6723"
        );
        assert_eq!(sign(b"key", NOW, b"{}").len(), 7 + 64);
    }

    #[test]
    fn verify_accepts_valid_and_rejects_tampering() {
        let body = br#"{"version":"4"}"#;
        let sig = sign(b"s3cr3t", NOW, body);
        let age = Duration::from_secs(300);
        let ts = NOW.to_string();
        assert_eq!(
            verify_signature_at(b"s3cr3t", &ts, body, &sig, age, now()),
            Ok(())
        );
        assert_eq!(
            verify_signature_at(b"wrong", &ts, body, &sig, age, now()),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_signature_at(b"s3cr3t", &ts, br#"{"version":"5"}"#, &sig, age, now()),
            Err(SignatureError::Mismatch)
        );
        // A different (still fresh) timestamp with the old signature fails.
        assert_eq!(
            verify_signature_at(b"s3cr3t", &(NOW + 1).to_string(), body, &sig, age, now()),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify_signature_at(b"s3cr3t", &ts, body, "md5=abc", age, now()),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify_signature_at(b"s3cr3t", &ts, body, "sha256=zz", age, now()),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify_signature_at(b"s3cr3t", "yesterday", body, &sig, age, now()),
            Err(SignatureError::BadTimestamp)
        );
    }

    #[test]
    fn verify_enforces_max_age_both_ways() {
        let body = b"x";
        let age = Duration::from_secs(300);
        let old = NOW - 301;
        assert_eq!(
            verify_signature_at(
                b"k",
                &old.to_string(),
                body,
                &sign(b"k", old, body),
                age,
                now()
            ),
            Err(SignatureError::Expired)
        );
        let future = NOW + 301;
        assert_eq!(
            verify_signature_at(
                b"k",
                &future.to_string(),
                body,
                &sign(b"k", future, body),
                age,
                now()
            ),
            Err(SignatureError::Expired)
        );
        let edge = NOW - 300;
        assert_eq!(
            verify_signature_at(
                b"k",
                &edge.to_string(),
                body,
                &sign(b"k", edge, body),
                age,
                now()
            ),
            Ok(())
        );
    }
}
