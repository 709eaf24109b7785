//! Per-type validation of a [`CheckConfig`].

use std::str::FromStr;

use regex::Regex;
use reqwest::header::{HeaderName, HeaderValue};
use reqwest::{Method, Url};

use super::*;
use crate::condition::JsonCondition;

impl CheckConfig {
    pub(super) fn http(&self, key: &str) -> Result<HttpCheck, ConfigError> {
        let k = |f: &str| format!("{key}.{f}");
        let raw = self
            .url
            .as_deref()
            .ok_or_else(|| ConfigError::new(k("url"), "required for type http"))?;
        let url = Url::parse(raw)
            .map_err(|e| ConfigError::new(k("url"), format!("invalid URL {raw:?}: {e}")))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(ConfigError::new(k("url"), "scheme must be http or https"));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(ConfigError::new(k("url"), "must have a host"));
        }
        let method = match self.method.as_deref() {
            None => Method::GET,
            Some(m) => {
                let upper = m.to_ascii_uppercase();
                match upper.as_str() {
                    "GET" | "HEAD" | "POST" | "PUT" | "PATCH" | "DELETE" | "OPTIONS" => {
                        Method::from_str(&upper)
                            .map_err(|e| ConfigError::new(k("method"), e.to_string()))?
                    }
                    _ => {
                        return Err(ConfigError::new(
                            k("method"),
                            format!("unsupported method {m:?}"),
                        ))
                    }
                }
            }
        };
        let mut headers = Vec::with_capacity(self.headers.len());
        for (name, value) in &self.headers {
            let hk = format!("{key}.headers.{name}");
            let n = HeaderName::from_str(name)
                .map_err(|e| ConfigError::new(hk.clone(), e.to_string()))?;
            let v =
                HeaderValue::from_str(value).map_err(|e| ConfigError::new(hk, e.to_string()))?;
            headers.push((n, v));
        }
        let expect_status = match &self.expect_status {
            None => vec![StatusMatch::Class(2)],
            Some(list) if list.is_empty() => {
                return Err(ConfigError::new(k("expect_status"), "must not be empty"))
            }
            Some(list) => list
                .iter()
                .enumerate()
                .map(|(i, p)| {
                    let ik = format!("{key}.expect_status[{i}]");
                    match p {
                        StatusPattern::Code(c) if (100..=599).contains(c) => {
                            Ok(StatusMatch::Code(*c))
                        }
                        StatusPattern::Code(c) => {
                            Err(ConfigError::new(ik, format!("{c} is not an HTTP status")))
                        }
                        StatusPattern::Class(s) => {
                            let b = s.as_bytes();
                            if b.len() == 3
                                && (b'1'..=b'5').contains(&b[0])
                                && s[1..].eq_ignore_ascii_case("xx")
                            {
                                Ok(StatusMatch::Class(u16::from(b[0] - b'0')))
                            } else if let Ok(c) = s.parse::<u16>() {
                                if (100..=599).contains(&c) {
                                    Ok(StatusMatch::Code(c))
                                } else {
                                    Err(ConfigError::new(ik, format!("{c} is not an HTTP status")))
                                }
                            } else {
                                Err(ConfigError::new(
                                    ik,
                                    format!(
                                        "{s:?}: expected a code like 204 or a class like \"2xx\""
                                    ),
                                ))
                            }
                        }
                    }
                })
                .collect::<Result<_, _>>()?,
        };
        let body_regex = match &self.body_regex {
            None => None,
            Some(r) => {
                Some(Regex::new(r).map_err(|e| ConfigError::new(k("body_regex"), e.to_string()))?)
            }
        };
        let json_condition = match &self.json_condition {
            None => None,
            Some(c) => Some(
                JsonCondition::parse(c).map_err(|e| ConfigError::new(k("json_condition"), e))?,
            ),
        };
        if matches!(self.degraded_above, Some(d) if d.is_zero()) {
            return Err(ConfigError::new(k("degraded_above"), "must be positive"));
        }
        let max_body_bytes = self.max_body.unwrap_or(DEFAULT_MAX_BODY_BYTES);
        if max_body_bytes == 0 {
            return Err(ConfigError::new(k("max_body"), "must be positive"));
        }
        Ok(HttpCheck {
            url,
            method,
            headers,
            body: self.body.clone(),
            expect_status,
            body_regex,
            json_condition,
            degraded_above: self.degraded_above,
            follow_redirects: self.follow_redirects.unwrap_or(true),
            tls_verify: self.tls_verify.unwrap_or(true),
            max_body_bytes,
        })
    }

    fn host_port(
        &self,
        key: &str,
        default_port: Option<u16>,
    ) -> Result<(String, u16), ConfigError> {
        let k = |f: &str| format!("{key}.{f}");
        let host = self.host.clone().ok_or_else(|| {
            ConfigError::new(
                k("host"),
                format!("required for type {}", self.kind.as_str()),
            )
        })?;
        if !valid_host(&host) {
            return Err(ConfigError::new(
                k("host"),
                format!("invalid host {host:?}"),
            ));
        }
        let port = self.port.or(default_port).ok_or_else(|| {
            ConfigError::new(
                k("port"),
                format!("required for type {}", self.kind.as_str()),
            )
        })?;
        if port == 0 {
            return Err(ConfigError::new(k("port"), "must be 1-65535"));
        }
        Ok((host, port))
    }

    pub(super) fn tcp(&self, key: &str) -> Result<TcpCheck, ConfigError> {
        let (host, port) = self.host_port(key, None)?;
        let expect = match &self.expect {
            None => None,
            Some(OneOrMany::One(s)) if !s.is_empty() => Some(s.clone()),
            Some(OneOrMany::One(_)) => {
                return Err(ConfigError::new(
                    format!("{key}.expect"),
                    "must not be empty",
                ))
            }
            Some(OneOrMany::Many(_)) => {
                return Err(ConfigError::new(
                    format!("{key}.expect"),
                    "must be a string for type tcp",
                ))
            }
        };
        Ok(TcpCheck {
            host,
            port,
            send: self.send.clone(),
            expect,
        })
    }

    pub(super) fn dns(&self, key: &str) -> Result<DnsCheck, ConfigError> {
        let k = |f: &str| format!("{key}.{f}");
        let query = self.query.clone().unwrap_or_else(|| self.name.clone());
        let qkey = if self.query.is_some() {
            k("query")
        } else {
            k("name")
        };
        if query.is_empty()
            || query.len() > 253
            || hickory_resolver::Name::from_str(&query).is_err()
        {
            return Err(ConfigError::new(
                qkey,
                format!("{query:?} is not a valid DNS name"),
            ));
        }
        let record = self.record.unwrap_or_default();
        let expect: Vec<String> = self
            .expect
            .clone()
            .map(OneOrMany::into_vec)
            .unwrap_or_default();
        for (i, e) in expect.iter().enumerate() {
            let ek = format!("{key}.expect[{i}]");
            let bad = match record {
                DnsRecord::A => e.parse::<std::net::Ipv4Addr>().is_err(),
                DnsRecord::Aaaa => e.parse::<std::net::Ipv6Addr>().is_err(),
                _ => e.trim().is_empty(),
            };
            if bad {
                return Err(ConfigError::new(
                    ek,
                    format!("{e:?} is not a valid {record:?} answer"),
                ));
            }
        }
        let expect = expect
            .iter()
            .map(|e| crate::probe::dns::normalize_expected(record, e))
            .collect();
        let server = match self.server.as_deref() {
            None | Some("") | Some("system") => None,
            Some(s) => Some(parse_server(s).ok_or_else(|| {
                ConfigError::new(
                    k("server"),
                    format!("{s:?}: expected an IP address, optionally with :port"),
                )
            })?),
        };
        Ok(DnsCheck {
            query,
            record,
            expect,
            server,
        })
    }

    pub(super) fn tls(&self, key: &str) -> Result<TlsCheck, ConfigError> {
        let (host, port) = self.host_port(key, Some(443))?;
        let warn_days = self.warn_days.unwrap_or(30);
        let critical_days = self.critical_days.unwrap_or(7);
        if critical_days > warn_days {
            return Err(ConfigError::new(
                format!("{key}.critical_days"),
                "must not exceed warn_days",
            ));
        }
        Ok(TlsCheck {
            host,
            port,
            warn_days,
            critical_days,
            tls_verify: self.tls_verify.unwrap_or(true),
        })
    }

    pub(super) fn heartbeat(&self, key: &str) -> Result<HeartbeatCheck, ConfigError> {
        let k = |f: &str| format!("{key}.{f}");
        let token = self
            .token
            .clone()
            .ok_or_else(|| ConfigError::new(k("token"), "required for type heartbeat"))?;
        if token.is_empty()
            || token.len() > 128
            || !token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        {
            return Err(ConfigError::new(
                k("token"),
                "must be 1-128 characters of letters, digits, '-' or '_'",
            ));
        }
        let expect = match (self.period, &self.schedule) {
            (Some(_), Some(_)) => {
                return Err(ConfigError::new(
                    k("schedule"),
                    "give either period or schedule, not both",
                ))
            }
            (None, None) => {
                return Err(ConfigError::new(
                    k("period"),
                    "period or schedule is required for type heartbeat",
                ))
            }
            (Some(p), None) if p.is_zero() => {
                return Err(ConfigError::new(k("period"), "must be positive"))
            }
            (Some(p), None) => HeartbeatExpect::Period(p),
            (None, Some(s)) => HeartbeatExpect::Cron {
                schedule: Box::new(parse_cron(s).map_err(|e| ConfigError::new(k("schedule"), e))?),
                source: s.clone(),
            },
        };
        Ok(HeartbeatCheck {
            token,
            expect,
            grace: self.grace.unwrap_or(DEFAULT_GRACE),
        })
    }
}
