//! Request parameters as Prometheus reads them: repeated `match[]`, and times given as
//! Unix seconds (with fraction) or RFC 3339, from the query string or a form body.

use crate::error::{ApiError, Envelope};
use crate::selector;
use strix_core::{Matcher, Timestamp};

/// Decoded key/value pairs of the query string and (for form POSTs) the body.
pub struct Params(Vec<(String, String)>);

impl Params {
    pub fn parse(query: Option<&str>, form_body: Option<&[u8]>) -> Self {
        let mut v: Vec<(String, String)> = form_urlencoded::parse(query.unwrap_or("").as_bytes())
            .into_owned()
            .collect();
        if let Some(b) = form_body {
            v.extend(form_urlencoded::parse(b).into_owned());
        }
        Params(v)
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub fn all<'a>(&'a self, key: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0
            .iter()
            .filter(move |(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// Matcher sets from every `match[]`; each selector may expand into several sets.
    pub fn matcher_sets(&self, env: Envelope) -> Result<Vec<Vec<Matcher>>, ApiError> {
        let mut sets = Vec::new();
        for sel in self.all("match[]") {
            sets.extend(selector::parse(sel).map_err(|e| ApiError::bad_input(e, env))?);
        }
        Ok(sets)
    }

    /// A time parameter; `default` when absent.
    pub fn time(
        &self,
        key: &str,
        default: Timestamp,
        env: Envelope,
    ) -> Result<Timestamp, ApiError> {
        match self.get(key) {
            None | Some("") => Ok(default),
            Some(s) => parse_time(s).ok_or_else(|| {
                ApiError::bad_input(
                    format!("invalid parameter {key:?}: cannot parse {s:?} to a valid timestamp"),
                    env,
                )
            }),
        }
    }

    /// `start` and `end`, defaulting to all time, checked for order.
    pub fn range(&self, env: Envelope) -> Result<(Timestamp, Timestamp), ApiError> {
        let start = self.time("start", i64::MIN / 2, env)?;
        let end = self.time("end", i64::MAX / 2, env)?;
        if end < start {
            return Err(ApiError::bad_input(
                "invalid parameter \"end\": end timestamp must not be before start time",
                env,
            ));
        }
        Ok((start, end))
    }
}

/// Unix seconds (`1700000000`, `1700000000.123`) or RFC 3339 (`2023-11-14T22:13:20Z`).
pub fn parse_time(s: &str) -> Option<Timestamp> {
    if let Ok(f) = s.parse::<f64>() {
        if !f.is_finite() {
            return None;
        }
        let ms = (f * 1000.0).round();
        return (ms.abs() < 9.2e18).then_some(ms as i64);
    }
    let t = humantime::parse_rfc3339_weak(s).ok()?;
    match t.duration_since(std::time::UNIX_EPOCH) {
        Ok(d) => Some(d.as_millis() as i64),
        Err(e) => Some(-(e.duration().as_millis() as i64)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times() {
        assert_eq!(parse_time("1700000000"), Some(1_700_000_000_000));
        assert_eq!(parse_time("1700000000.5"), Some(1_700_000_000_500));
        assert_eq!(parse_time("2023-11-14T22:13:20Z"), Some(1_700_000_000_000));
        assert_eq!(parse_time("yesterday"), None);
    }

    #[test]
    fn repeated_match() {
        let p = Params::parse(
            Some("match%5B%5D=up&match[]=%7Bjob%3D%22a%22%7D&start=1"),
            None,
        );
        assert_eq!(p.all("match[]").count(), 2);
        assert_eq!(p.matcher_sets(Envelope::Prometheus).unwrap().len(), 2);
    }
}
