use crate::Timestamp;

/// Bit pattern of Prometheus' stale marker: a NaN that is never produced by arithmetic.
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

/// Prometheus' stale marker value. Compare with [`is_stale_nan`], never with `==`.
pub const STALE_NAN: f64 = f64::from_bits(STALE_NAN_BITS);

/// True when `v` is exactly the stale marker (other NaNs are ordinary values).
pub fn is_stale_nan(v: f64) -> bool {
    v.to_bits() == STALE_NAN_BITS
}

/// One float sample.
#[derive(Debug, Clone, Copy)]
pub struct Sample {
    /// Milliseconds since the Unix epoch.
    pub t: Timestamp,
    /// The value; NaN payloads (stale markers) are preserved bit for bit.
    pub v: f64,
}

impl Sample {
    pub fn new(t: Timestamp, v: f64) -> Self {
        Sample { t, v }
    }
}

impl PartialEq for Sample {
    /// Bitwise on the value, so NaN == NaN and stale markers compare exactly.
    fn eq(&self, other: &Self) -> bool {
        self.t == other.t && self.v.to_bits() == other.v.to_bits()
    }
}
impl Eq for Sample {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stale_marker_is_distinct_from_plain_nan() {
        assert!(is_stale_nan(STALE_NAN));
        assert!(!is_stale_nan(f64::NAN));
        assert!(STALE_NAN.is_nan());
        assert_eq!(Sample::new(1, STALE_NAN), Sample::new(1, STALE_NAN));
        assert_ne!(Sample::new(1, STALE_NAN), Sample::new(1, f64::NAN));
    }
}
