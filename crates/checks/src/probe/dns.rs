//! The `dns` probe: one query of `record` for `query`, against `server` or the system
//! resolvers, with no cache (every probe asks the server).
//!
//! Answers are normalised before comparison: addresses in canonical form, names lowercase
//! without the trailing dot, MX as `PREFERENCE EXCHANGE`, TXT as the record's strings joined.
//! The probe succeeds when there is at least one answer of the requested type and every
//! `expect` entry is among the answers (order ignored; extra answers allowed).

use std::net::IpAddr;
use std::time::{Duration, Instant};

use hickory_resolver::config::{NameServerConfigGroup, ResolveHosts, ResolverConfig, ResolverOpts};
use hickory_resolver::name_server::TokioConnectionProvider;
use hickory_resolver::proto::rr::{RData, RecordType};
use hickory_resolver::{Name, TokioResolver};

use super::{ProbeDetail, ProbeResult};
use crate::condition::truncate;
use crate::config::{DnsCheck, DnsRecord};

pub(crate) struct DnsProbe {
    check: DnsCheck,
    name: Name,
    resolver: TokioResolver,
}

fn record_type(r: DnsRecord) -> RecordType {
    match r {
        DnsRecord::A => RecordType::A,
        DnsRecord::Aaaa => RecordType::AAAA,
        DnsRecord::Cname => RecordType::CNAME,
        DnsRecord::Mx => RecordType::MX,
        DnsRecord::Txt => RecordType::TXT,
        DnsRecord::Ns => RecordType::NS,
    }
}

fn norm_name(s: &str) -> String {
    s.trim().trim_end_matches('.').to_ascii_lowercase()
}

/// Normalises an `expect` entry the same way answers are.
pub(crate) fn normalize_expected(record: DnsRecord, e: &str) -> String {
    match record {
        DnsRecord::A | DnsRecord::Aaaa => e
            .trim()
            .parse::<IpAddr>()
            .map_or_else(|_| e.trim().to_string(), |ip| ip.to_string()),
        DnsRecord::Cname | DnsRecord::Ns => norm_name(e),
        DnsRecord::Mx => {
            let mut parts = e.split_whitespace();
            match (parts.next(), parts.next()) {
                (Some(pref), Some(host)) => format!("{pref} {}", norm_name(host)),
                (Some(host), None) => norm_name(host),
                _ => String::new(),
            }
        }
        DnsRecord::Txt => e.to_string(),
    }
}

fn answer(r: &RData) -> Option<String> {
    Some(match r {
        RData::A(a) => a.0.to_string(),
        RData::AAAA(a) => a.0.to_string(),
        RData::CNAME(n) => norm_name(&n.0.to_ascii()),
        RData::NS(n) => norm_name(&n.0.to_ascii()),
        RData::MX(mx) => format!(
            "{} {}",
            mx.preference(),
            norm_name(&mx.exchange().to_ascii())
        ),
        RData::TXT(t) => t
            .iter()
            .map(|s| String::from_utf8_lossy(s).into_owned())
            .collect::<Vec<_>>()
            .concat(),
        _ => return None,
    })
}

impl DnsProbe {
    pub(crate) fn new(check: DnsCheck, timeout: Duration) -> Result<Self, String> {
        let fq = if check.query.ends_with('.') {
            check.query.clone()
        } else {
            format!("{}.", check.query)
        };
        let name = Name::from_ascii(&fq)
            .map_err(|e| format!("invalid DNS name {:?}: {e}", check.query))?;
        let mut builder = match check.server {
            Some(addr) => {
                let group = NameServerConfigGroup::from_ips_clear(&[addr.ip()], addr.port(), true);
                let config = ResolverConfig::from_parts(None, vec![], group);
                let mut b =
                    TokioResolver::builder_with_config(config, TokioConnectionProvider::default());
                b.options_mut().use_hosts_file = ResolveHosts::Never;
                b
            }
            None => TokioResolver::builder_tokio()
                .map_err(|e| format!("system resolver configuration: {e}"))?,
        };
        let opts: &mut ResolverOpts = builder.options_mut();
        opts.timeout = timeout;
        opts.attempts = 1;
        opts.cache_size = 0;
        opts.ndots = 0;
        Ok(DnsProbe {
            check,
            name,
            resolver: builder.build(),
        })
    }

    pub(crate) async fn run(&self, start: Instant) -> ProbeResult {
        let mut detail = ProbeDetail::default();
        let rtype = record_type(self.check.record);
        let lookup = match self.resolver.lookup(self.name.clone(), rtype).await {
            Ok(l) => l,
            Err(e) => {
                return ProbeResult::failure(
                    start.elapsed(),
                    format!(
                        "{rtype} {}: {}",
                        self.check.query,
                        truncate(&e.to_string(), 300)
                    ),
                    detail,
                )
            }
        };
        detail.answers = lookup
            .records()
            .iter()
            .filter(|r| r.record_type() == rtype)
            .filter_map(|r| answer(r.data()))
            .collect();
        detail.answers.sort();
        detail.answers.dedup();
        if detail.answers.is_empty() {
            return ProbeResult::failure(
                start.elapsed(),
                format!("no {rtype} answer for {}", self.check.query),
                detail,
            );
        }
        let missing: Vec<&str> = self
            .check
            .expect
            .iter()
            .filter(|e| !detail.answers.contains(e))
            .map(String::as_str)
            .collect();
        if !missing.is_empty() {
            let msg = format!(
                "expected {} not in answers {}",
                missing.join(", "),
                truncate(&detail.answers.join(", "), 300)
            );
            return ProbeResult::failure(start.elapsed(), msg, detail);
        }
        ProbeResult::success(start.elapsed(), detail)
    }
}
