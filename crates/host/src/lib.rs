//! Strix host metrics: the machine and the Strix process, under node_exporter's and the
//! Prometheus client libraries' names, read from `/proc` and `/sys` on Linux.
//!
//! [`HostCollector::collect`] returns one sample per series at the given timestamp; the
//! caller schedules it and appends the result like any ingested data. Series:
//!
//! - `node_cpu_seconds_total{cpu,mode}` (`/proc/stat`, USER_HZ = 100; modes user, nice,
//!   system, idle, iowait, irq, softirq, steal)
//! - `node_memory_{MemTotal,MemFree,MemAvailable,Buffers,Cached,SwapTotal,SwapFree}_bytes`
//! - `node_load1`, `node_load5`, `node_load15`
//! - `node_filesystem_{size,free,avail}_bytes{device,fstype,mountpoint}` for real
//!   filesystems (node_exporter's default exclusions), via `statvfs`
//! - `node_disk_{read_bytes,written_bytes,io_time_seconds,reads_completed,writes_completed}_total{device}`
//!   (whole disks; partitions, loop and RAM disks excluded as node_exporter does)
//! - `node_network_{receive,transmit}_{bytes,packets,errs,drop}_total{device}`
//! - `node_boot_time_seconds`, `node_time_seconds`
//! - `process_cpu_seconds_total`, `process_resident_memory_bytes`,
//!   `process_virtual_memory_bytes`, `process_open_fds`, `process_max_fds`,
//!   `process_start_time_seconds`, `process_threads` (from `/proc/self`)
//!
//! Every series also carries the caller's extra labels (e.g. `job="strix"`,
//! `instance="host:port"`). A source that cannot be read is skipped with one warning per
//! source; on other operating systems `collect` returns nothing and logs that once.
#![forbid(unsafe_code)]
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod parse;

use std::collections::BTreeSet;
use std::path::PathBuf;

use strix_core::storage::TimeSeries;
use strix_core::{Label, Labels, Sample, Timestamp, METRIC_NAME};

/// `/proc/meminfo` keys reported as `node_memory_<key>_bytes`.
const MEMINFO_KEYS: [&str; 7] = [
    "MemTotal",
    "MemFree",
    "MemAvailable",
    "Buffers",
    "Cached",
    "SwapTotal",
    "SwapFree",
];

/// Collects host and process metrics. Cheap to call every few seconds: it reads about ten
/// small files and calls `statvfs` once per real filesystem.
#[derive(Debug)]
pub struct HostCollector {
    extra: Labels,
    proc_root: PathBuf,
    /// Sources that already logged a read failure (one warning each per collector).
    warned: BTreeSet<&'static str>,
}

impl HostCollector {
    /// A collector whose series all carry `extra_labels` (a `__name__` among them is
    /// ignored).
    pub fn new(extra_labels: Labels) -> Self {
        Self::with_proc_root(extra_labels, "/proc")
    }

    /// Like [`HostCollector::new`] but reading another procfs mount (e.g. the host's
    /// `/proc` bind-mounted into a container as `/host/proc`). Filesystem sizes are still
    /// taken with `statvfs` on the mount points as this process sees them.
    pub fn with_proc_root(extra_labels: Labels, proc_root: impl Into<PathBuf>) -> Self {
        let extra = Labels::from_sorted(
            extra_labels
                .into_vec()
                .into_iter()
                .filter(|l| l.name != METRIC_NAME)
                .collect(),
        );
        HostCollector {
            extra,
            proc_root: proc_root.into(),
            warned: BTreeSet::new(),
        }
    }

    /// All host and process series, each with one sample at `now_ms`.
    pub fn collect(&mut self, now_ms: Timestamp) -> Vec<TimeSeries> {
        let mut out = Out {
            extra: self.extra.clone(),
            t: now_ms,
            series: Vec::with_capacity(128),
        };
        if cfg!(target_os = "linux") {
            self.collect_linux(&mut out);
        } else if self.warned.insert("os") {
            tracing::info!(
                os = std::env::consts::OS,
                "host metrics are only collected on Linux; none will be reported"
            );
        }
        out.series
    }

    fn read(&mut self, source: &'static str) -> Option<String> {
        let path = self.proc_root.join(source);
        match std::fs::read_to_string(&path) {
            Ok(s) => Some(s),
            Err(e) => {
                if self.warned.insert(source) {
                    tracing::warn!(path = %path.display(), error = %e, "host metrics: cannot read; skipping it");
                }
                None
            }
        }
    }

    fn collect_linux(&mut self, out: &mut Out) {
        if let Some(text) = self.read("stat") {
            let (cpus, btime) = parse::parse_stat(&text);
            for c in &cpus {
                for (mode, v) in parse::CPU_MODES.iter().zip(c.seconds) {
                    out.push(
                        "node_cpu_seconds_total",
                        &[("cpu", &c.cpu), ("mode", mode)],
                        v,
                    );
                }
            }
            if let Some(b) = btime {
                out.push("node_boot_time_seconds", &[], b);
                if let Some(stat) = self
                    .read("self/stat")
                    .and_then(|s| parse::parse_proc_stat(&s))
                {
                    out.push(
                        "process_start_time_seconds",
                        &[],
                        b + stat.start_after_boot_seconds,
                    );
                }
            }
        }
        out.push("node_time_seconds", &[], out.t as f64 / 1000.0);

        if let Some(text) = self.read("meminfo") {
            for (key, v) in parse::parse_meminfo(&text) {
                if MEMINFO_KEYS.contains(&key.as_str()) {
                    out.push(&format!("node_memory_{key}_bytes"), &[], v);
                }
            }
        }

        if let Some(l) = self.read("loadavg").and_then(|s| parse::parse_loadavg(&s)) {
            out.push("node_load1", &[], l[0]);
            out.push("node_load5", &[], l[1]);
            out.push("node_load15", &[], l[2]);
        }

        if let Some(text) = self.read("mounts") {
            self.filesystems(&text, out);
        }

        if let Some(text) = self.read("diskstats") {
            for d in parse::parse_diskstats(&text) {
                if parse::is_ignored_disk(&d.device) {
                    continue;
                }
                let l = [("device", d.device.as_str())];
                out.push("node_disk_read_bytes_total", &l, d.read_bytes);
                out.push("node_disk_written_bytes_total", &l, d.written_bytes);
                out.push("node_disk_io_time_seconds_total", &l, d.io_time_seconds);
                out.push("node_disk_reads_completed_total", &l, d.reads_completed);
                out.push("node_disk_writes_completed_total", &l, d.writes_completed);
            }
        }

        if let Some(text) = self.read("net/dev") {
            for n in parse::parse_net_dev(&text) {
                let l = [("device", n.device.as_str())];
                out.push("node_network_receive_bytes_total", &l, n.receive_bytes);
                out.push("node_network_transmit_bytes_total", &l, n.transmit_bytes);
                out.push("node_network_receive_packets_total", &l, n.receive_packets);
                out.push(
                    "node_network_transmit_packets_total",
                    &l,
                    n.transmit_packets,
                );
                out.push("node_network_receive_errs_total", &l, n.receive_errs);
                out.push("node_network_transmit_errs_total", &l, n.transmit_errs);
                out.push("node_network_receive_drop_total", &l, n.receive_drop);
                out.push("node_network_transmit_drop_total", &l, n.transmit_drop);
            }
        }

        self.process(out);
    }

    fn filesystems(&mut self, mounts: &str, out: &mut Out) {
        let mut seen = BTreeSet::new();
        // Later mounts hide earlier ones on the same mount point: report the last.
        let all = parse::parse_mounts(mounts);
        for m in all.iter().rev() {
            if !parse::is_real_filesystem(m) || !seen.insert(m.mountpoint.as_str()) {
                continue;
            }
            let Some(fs) = statvfs(&m.mountpoint) else {
                continue;
            };
            let l = [
                ("device", m.device.as_str()),
                ("fstype", m.fstype.as_str()),
                ("mountpoint", m.mountpoint.as_str()),
            ];
            out.push("node_filesystem_size_bytes", &l, fs.size);
            out.push("node_filesystem_free_bytes", &l, fs.free);
            out.push("node_filesystem_avail_bytes", &l, fs.avail);
        }
    }

    fn process(&mut self, out: &mut Out) {
        if let Some(stat) = self
            .read("self/stat")
            .and_then(|s| parse::parse_proc_stat(&s))
        {
            out.push("process_cpu_seconds_total", &[], stat.cpu_seconds);
            out.push("process_virtual_memory_bytes", &[], stat.virtual_bytes);
            out.push("process_threads", &[], stat.threads);
        }
        if let Some(rss) = self
            .read("self/status")
            .and_then(|s| parse::parse_status_rss(&s))
        {
            out.push("process_resident_memory_bytes", &[], rss);
        }
        match std::fs::read_dir(self.proc_root.join("self/fd")) {
            Ok(dir) => {
                // The directory handle itself shows up as one entry; like the Prometheus
                // Go client, Strix counts it.
                out.push("process_open_fds", &[], dir.count() as f64);
            }
            Err(e) => {
                if self.warned.insert("self/fd") {
                    tracing::warn!(error = %e, "host metrics: cannot list open file descriptors");
                }
            }
        }
        if let Some(max) = self
            .read("self/limits")
            .and_then(|s| parse::parse_max_fds(&s))
        {
            out.push("process_max_fds", &[], max);
        }
    }
}

struct Out {
    extra: Labels,
    t: Timestamp,
    series: Vec<TimeSeries>,
}

impl Out {
    fn push(&mut self, name: &str, labels: &[(&str, &str)], v: f64) {
        let mut pairs: Vec<Label> = Vec::with_capacity(self.extra.len() + labels.len() + 1);
        pairs.push(Label::new(METRIC_NAME, name));
        for (k, val) in labels {
            pairs.push(Label::new(*k, *val));
        }
        // The collector's own labels win over the caller's on a name clash.
        for l in self.extra.iter() {
            if !labels.iter().any(|(k, _)| *k == l.name) {
                pairs.push(l.clone());
            }
        }
        self.series.push(TimeSeries {
            labels: Labels::from_pairs(pairs.into_iter().map(|l| (l.name, l.value))),
            samples: vec![Sample::new(self.t, v)],
        });
    }
}

/// Sizes of one filesystem, in bytes.
struct FsSizes {
    size: f64,
    free: f64,
    avail: f64,
}

#[cfg(target_os = "linux")]
fn statvfs(mountpoint: &str) -> Option<FsSizes> {
    let s = rustix::fs::statvfs(mountpoint).ok()?;
    let frsize = s.f_frsize as f64;
    Some(FsSizes {
        size: s.f_blocks as f64 * frsize,
        free: s.f_bfree as f64 * frsize,
        avail: s.f_bavail as f64 * frsize,
    })
}

#[cfg(not(target_os = "linux"))]
fn statvfs(_mountpoint: &str) -> Option<FsSizes> {
    None
}
