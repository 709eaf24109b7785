//! Sentry keys: where SDKs put them and the DSN they are pasted as.
//!
//! An SDK proves which project it sends for with the project's *public key*, found (in
//! this order of preference) in the `X-Sentry-Auth` header
//! (`Sentry sentry_version=7, sentry_key=…, sentry_client=…`), in the `sentry_key` query
//! parameter (browsers, to avoid a CORS preflight), or in the envelope header's `dsn`.
//! The secret key of old DSNs is accepted and ignored, as Sentry does.

use std::fmt;
use std::str::FromStr;

use crate::Error;

/// Longest public key accepted; Sentry's are 32 hex digits.
const MAX_KEY_LEN: usize = 128;

/// The credentials one request carried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentryAuth {
    /// The project's public key (`sentry_key`).
    pub public_key: String,
    /// `sentry_secret`, sent only by very old SDKs; never required.
    pub secret_key: Option<String>,
    /// `sentry_version` (7 for all current SDKs).
    pub version: Option<String>,
    /// `sentry_client`, e.g. `sentry.python/2.19.0`.
    pub client: Option<String>,
}

/// Where [`SentryAuth`] was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthSource {
    Header,
    Query,
    EnvelopeDsn,
}

impl SentryAuth {
    /// Parses an `X-Sentry-Auth` value (the `Sentry ` prefix is optional).
    pub fn from_header(value: &str) -> Result<Self, Error> {
        let v = value.trim();
        let v = match v.get(..7) {
            Some(p) if p.eq_ignore_ascii_case("sentry ") => &v[7..],
            _ => v,
        };
        Self::from_pairs(v.split(',').filter_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            Some((k.trim().to_owned(), v.trim().trim_matches('"').to_owned()))
        }))
        .map_err(|m| Error::Auth(format!("X-Sentry-Auth: {m}")))
    }

    /// Finds `sentry_key` (and friends) in a URL query string (without the `?`).
    pub fn from_query(query: &str) -> Result<Self, Error> {
        Self::from_pairs(
            form_urlencoded::parse(query.as_bytes()).map(|(k, v)| (k.into_owned(), v.into_owned())),
        )
        .map_err(|m| Error::Auth(format!("query: {m}")))
    }

    fn from_pairs(pairs: impl Iterator<Item = (String, String)>) -> Result<Self, String> {
        let mut auth = SentryAuth {
            public_key: String::new(),
            secret_key: None,
            version: None,
            client: None,
        };
        for (k, v) in pairs {
            match k.as_str() {
                "sentry_key" => auth.public_key = v,
                "sentry_secret" if !v.is_empty() => auth.secret_key = Some(v),
                "sentry_version" => auth.version = Some(v),
                "sentry_client" => auth.client = Some(v),
                _ => {}
            }
        }
        if auth.public_key.is_empty() {
            return Err("no sentry_key".into());
        }
        check_key(&auth.public_key)?;
        Ok(auth)
    }

    /// The key of a request: the `X-Sentry-Auth` header if present, else the
    /// `sentry_key` query parameter, else the envelope header's `dsn`. A malformed source
    /// that is present is an error rather than skipped, so a typo is reported.
    pub fn find(
        header: Option<&str>,
        query: Option<&str>,
        envelope_dsn: Option<&str>,
    ) -> Result<(Self, AuthSource), Error> {
        if let Some(h) = header.filter(|h| !h.trim().is_empty()) {
            return Ok((Self::from_header(h)?, AuthSource::Header));
        }
        if let Some(q) = query.filter(|q| q.contains("sentry_key=")) {
            return Ok((Self::from_query(q)?, AuthSource::Query));
        }
        if let Some(d) = envelope_dsn {
            let dsn: Dsn = d.parse()?;
            let auth = SentryAuth {
                public_key: dsn.public_key,
                secret_key: dsn.secret_key,
                version: None,
                client: None,
            };
            return Ok((auth, AuthSource::EnvelopeDsn));
        }
        Err(Error::Auth(
            "no key: send X-Sentry-Auth, the sentry_key query parameter or an envelope dsn".into(),
        ))
    }
}

fn check_key(key: &str) -> Result<(), String> {
    if key.len() > MAX_KEY_LEN {
        return Err(format!("sentry_key longer than {MAX_KEY_LEN} characters"));
    }
    if !key
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err("sentry_key may hold only letters, digits, '-' and '_'".into());
    }
    Ok(())
}

/// A Sentry DSN: `{scheme}://{public_key}@{host}[:{port}]{path}/{project_id}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dsn {
    pub scheme: String,
    pub public_key: String,
    pub secret_key: Option<String>,
    pub host: String,
    pub port: Option<u16>,
    /// Path before the project id, without a trailing slash ("" for most DSNs).
    pub path: String,
    pub project_id: u64,
}

impl Dsn {
    /// The DSN of a project served at `http://{host}:{port}/`.
    pub fn new(host: &str, port: u16, project_id: u64, public_key: &str) -> Self {
        Dsn {
            scheme: "http".into(),
            public_key: public_key.to_owned(),
            secret_key: None,
            host: host.to_owned(),
            port: Some(port),
            path: String::new(),
            project_id,
        }
    }

    /// The envelope endpoint path for this DSN: `{path}/api/{id}/envelope/`.
    pub fn envelope_path(&self) -> String {
        format!("{}/api/{}/envelope/", self.path, self.project_id)
    }
}

impl FromStr for Dsn {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        let bad = |m: &str| Error::Auth(format!("dsn: {m}"));
        let u = url::Url::parse(s.trim()).map_err(|e| bad(&e.to_string()))?;
        if !matches!(u.scheme(), "http" | "https") {
            return Err(bad("scheme must be http or https"));
        }
        let public_key = u.username();
        if public_key.is_empty() {
            return Err(bad("no public key before '@'"));
        }
        check_key(public_key).map_err(|m| bad(&m))?;
        let host = u.host_str().ok_or_else(|| bad("no host"))?;
        let path = u.path().trim_end_matches('/');
        let (prefix, id) = path.rsplit_once('/').unwrap_or(("", path));
        let project_id = id
            .parse::<u64>()
            .map_err(|_| bad("the path must end with a numeric project id"))?;
        Ok(Dsn {
            scheme: u.scheme().to_owned(),
            public_key: public_key.to_owned(),
            secret_key: u.password().map(str::to_owned),
            host: host.to_owned(),
            port: u.port(),
            path: prefix.to_owned(),
            project_id,
        })
    }
}

impl fmt::Display for Dsn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}://{}@{}", self.scheme, self.public_key, self.host)?;
        if let Some(p) = self.port {
            write!(f, ":{p}")?;
        }
        write!(f, "{}/{}", self.path, self.project_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn header_with_and_without_prefix() {
        let a = SentryAuth::from_header(&format!(
            "Sentry sentry_version=7, sentry_key={KEY}, sentry_client=sentry.python/2.19.0"
        ))
        .unwrap();
        assert_eq!(a.public_key, KEY);
        assert_eq!(a.version.as_deref(), Some("7"));
        assert_eq!(a.client.as_deref(), Some("sentry.python/2.19.0"));
        let a = SentryAuth::from_header(&format!("sentry_key={KEY},sentry_secret=s")).unwrap();
        assert_eq!(a.secret_key.as_deref(), Some("s"));
        let e = SentryAuth::from_header("Sentry sentry_version=7").unwrap_err();
        assert_eq!(
            e.to_string(),
            "authentication: X-Sentry-Auth: no sentry_key"
        );
        assert!(SentryAuth::from_header("Sentry sentry_key=a b").is_err());
    }

    #[test]
    fn query_param() {
        let a = SentryAuth::from_query(&format!("sentry_version=7&sentry_key={KEY}")).unwrap();
        assert_eq!(a.public_key, KEY);
    }

    #[test]
    fn find_prefers_header_then_query_then_dsn() {
        let dsn = format!("https://{KEY}@o1.example.com/42");
        let (a, src) = SentryAuth::find(None, None, Some(&dsn)).unwrap();
        assert_eq!((a.public_key.as_str(), src), (KEY, AuthSource::EnvelopeDsn));
        let (a, src) = SentryAuth::find(None, Some("sentry_key=q1"), Some(&dsn)).unwrap();
        assert_eq!((a.public_key.as_str(), src), ("q1", AuthSource::Query));
        let (a, src) =
            SentryAuth::find(Some("Sentry sentry_key=h1"), Some("sentry_key=q1"), None).unwrap();
        assert_eq!((a.public_key.as_str(), src), ("h1", AuthSource::Header));
        let e = SentryAuth::find(None, Some("a=b"), None).unwrap_err();
        assert!(matches!(e, Error::Auth(_)), "{e}");
    }

    #[test]
    fn dsn_round_trip() {
        let d: Dsn = format!("https://{KEY}@o1.ingest.example.com/42")
            .parse()
            .unwrap();
        assert_eq!(d.project_id, 42);
        assert_eq!(d.public_key, KEY);
        assert_eq!(d.port, None);
        assert_eq!(
            d.to_string(),
            format!("https://{KEY}@o1.ingest.example.com/42")
        );

        let d: Dsn = format!("http://{KEY}:secret@127.0.0.1:9090/sentry/7")
            .parse()
            .unwrap();
        assert_eq!(d.secret_key.as_deref(), Some("secret"));
        assert_eq!(d.path, "/sentry");
        assert_eq!(d.envelope_path(), "/sentry/api/7/envelope/");
        assert_eq!(
            d.to_string(),
            format!("http://{KEY}@127.0.0.1:9090/sentry/7")
        );

        let d = Dsn::new("localhost", 9090, 1, KEY);
        assert_eq!(d.to_string(), format!("http://{KEY}@localhost:9090/1"));
        assert_eq!(d.to_string().parse::<Dsn>().unwrap(), d);
    }

    #[test]
    fn bad_dsns() {
        for s in [
            "not a url",
            "https://o1.example.com/1",
            &format!("https://{KEY}@example.com/"),
            &format!("https://{KEY}@example.com/abc"),
            &format!("ftp://{KEY}@example.com/1"),
        ] {
            let e = s.parse::<Dsn>().unwrap_err();
            assert!(
                e.to_string().starts_with("authentication: dsn: "),
                "{s}: {e}"
            );
        }
    }
}
