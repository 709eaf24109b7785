//! The node_exporter-shaped workload: a per-host catalog of about 110 metric names, most of
//! them with 10 label combinations (cpus, modes, disks, interfaces, mounts, sensors, units),
//! repeated over as many hosts as the requested series count needs. Values follow the
//! patterns node_exporter produces: monotonic counters (many of them flat at zero, like
//! error and drop counters), gauges that wander, and constant gauges (sizes, limits, info).
//!
//! Everything is deterministic: a series' values depend only on its index and the seed.

use strix_ingest::remote_write::proto::Label;

/// Label dimension of a metric family; each yields [`COMBOS`] label sets except `None`.
#[derive(Clone, Copy)]
enum Dim {
    /// No labels besides instance and job.
    None,
    Cpu,
    CpuMode,
    Disk,
    NetDev,
    Fs,
    Hwmon,
    Systemd,
    Irq,
}

/// How a metric's values move from one scrape to the next.
#[derive(Clone, Copy)]
enum Pattern {
    /// Monotonic counter: grows by about `rate` per second, quantised to `q`.
    Counter { rate: f64, q: f64 },
    /// Gauge wandering around `base` by up to `spread` (relative), quantised to `q`.
    Gauge { base: f64, spread: f64, q: f64 },
    /// Constant for the whole run; `base` scaled by a per-series factor in [1, 2) when
    /// `vary` (so sizes differ between disks), else exactly `base`.
    Const { base: f64, vary: bool },
}

use Pattern::{Const, Counter, Gauge};

const fn counter(rate: f64, q: f64) -> Pattern {
    Counter { rate, q }
}
const fn gauge(base: f64, spread: f64, q: f64) -> Pattern {
    Gauge { base, spread, q }
}
const fn konst(base: f64, vary: bool) -> Pattern {
    Const { base, vary }
}

const COMBOS: usize = 10;
const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

#[rustfmt::skip]
const CATALOG: &[(Dim, &[(&str, Pattern)])] = &[
    (Dim::CpuMode, &[("node_cpu_seconds_total", counter(0.2, 0.01))]),
    (Dim::Cpu, &[
        ("node_cpu_guest_seconds_total", counter(0.0, 0.01)),
        ("node_cpu_scaling_frequency_hertz", gauge(2.4e9, 0.3, 1000.0)),
        ("node_cpu_scaling_frequency_max_hertz", konst(3.6e9, false)),
        ("node_cpu_scaling_frequency_min_hertz", konst(1.2e9, false)),
        ("node_cpu_core_throttles_total", counter(0.001, 1.0)),
        ("node_cpu_package_throttles_total", counter(0.001, 1.0)),
        ("node_cpu_online", konst(1.0, false)),
        ("node_softnet_processed_total", counter(300.0, 1.0)),
        ("node_softnet_dropped_total", counter(0.0, 1.0)),
        ("node_softnet_times_squeezed_total", counter(0.05, 1.0)),
        ("node_schedstat_running_seconds_total", counter(0.3, 1e-9)),
        ("node_schedstat_waiting_seconds_total", counter(0.02, 1e-9)),
        ("node_schedstat_timeslices_total", counter(400.0, 1.0)),
    ]),
    (Dim::Disk, &[
        ("node_disk_reads_completed_total", counter(20.0, 1.0)),
        ("node_disk_writes_completed_total", counter(60.0, 1.0)),
        ("node_disk_read_bytes_total", counter(4.0e5, 512.0)),
        ("node_disk_written_bytes_total", counter(1.5e6, 512.0)),
        ("node_disk_read_time_seconds_total", counter(0.01, 0.001)),
        ("node_disk_write_time_seconds_total", counter(0.05, 0.001)),
        ("node_disk_io_time_seconds_total", counter(0.03, 0.001)),
        ("node_disk_io_time_weighted_seconds_total", counter(0.06, 0.001)),
        ("node_disk_io_now", gauge(1.0, 1.0, 1.0)),
        ("node_disk_reads_merged_total", counter(2.0, 1.0)),
        ("node_disk_writes_merged_total", counter(15.0, 1.0)),
        ("node_disk_discards_completed_total", counter(0.0, 1.0)),
        ("node_disk_discarded_sectors_total", counter(0.0, 1.0)),
        ("node_disk_discard_time_seconds_total", counter(0.0, 0.001)),
        ("node_disk_flush_requests_total", counter(1.0, 1.0)),
        ("node_disk_flush_requests_time_seconds_total", counter(0.002, 0.001)),
        ("node_disk_info", konst(1.0, false)),
    ]),
    (Dim::NetDev, &[
        ("node_network_receive_bytes_total", counter(2.0e5, 1.0)),
        ("node_network_transmit_bytes_total", counter(1.0e5, 1.0)),
        ("node_network_receive_packets_total", counter(300.0, 1.0)),
        ("node_network_transmit_packets_total", counter(250.0, 1.0)),
        ("node_network_receive_errs_total", counter(0.0, 1.0)),
        ("node_network_transmit_errs_total", counter(0.0, 1.0)),
        ("node_network_receive_drop_total", counter(0.01, 1.0)),
        ("node_network_transmit_drop_total", counter(0.0, 1.0)),
        ("node_network_receive_multicast_total", counter(0.2, 1.0)),
        ("node_network_receive_fifo_total", counter(0.0, 1.0)),
        ("node_network_transmit_fifo_total", counter(0.0, 1.0)),
        ("node_network_receive_frame_total", counter(0.0, 1.0)),
        ("node_network_receive_compressed_total", counter(0.0, 1.0)),
        ("node_network_transmit_compressed_total", counter(0.0, 1.0)),
        ("node_network_transmit_colls_total", counter(0.0, 1.0)),
        ("node_network_transmit_carrier_total", counter(0.0, 1.0)),
        ("node_network_mtu_bytes", konst(1500.0, false)),
        ("node_network_up", konst(1.0, false)),
        ("node_network_speed_bytes", konst(1.25e8, false)),
        ("node_network_transmit_queue_length", konst(1000.0, false)),
        ("node_network_carrier", konst(1.0, false)),
        ("node_network_info", konst(1.0, false)),
        ("node_network_iface_id", konst(2.0, true)),
    ]),
    (Dim::Fs, &[
        ("node_filesystem_avail_bytes", gauge(120.0 * GIB, 0.02, 4096.0)),
        ("node_filesystem_free_bytes", gauge(130.0 * GIB, 0.02, 4096.0)),
        ("node_filesystem_size_bytes", konst(250.0 * GIB, true)),
        ("node_filesystem_files", konst(16_384_000.0, true)),
        ("node_filesystem_files_free", gauge(15_000_000.0, 0.01, 1.0)),
        ("node_filesystem_readonly", konst(0.0, false)),
        ("node_filesystem_device_error", konst(0.0, false)),
    ]),
    (Dim::Hwmon, &[
        ("node_hwmon_temp_celsius", gauge(48.0, 0.15, 1.0)),
        ("node_hwmon_temp_crit_celsius", konst(100.0, false)),
        ("node_hwmon_temp_max_celsius", konst(84.0, false)),
        ("node_hwmon_fan_rpm", gauge(1800.0, 0.2, 1.0)),
        ("node_hwmon_in_volts", gauge(1.2, 0.02, 0.001)),
        ("node_hwmon_chip_names", konst(1.0, false)),
    ]),
    (Dim::Systemd, &[
        ("node_systemd_unit_state", konst(1.0, false)),
        ("node_systemd_unit_start_time_seconds", konst(1.7e9, true)),
        ("node_systemd_service_restart_total", counter(0.0, 1.0)),
    ]),
    (Dim::Irq, &[("node_interrupts_total", counter(50.0, 1.0))]),
    (Dim::None, &[
        ("node_memory_MemTotal_bytes", konst(32.0 * GIB, false)),
        ("node_memory_MemFree_bytes", gauge(4.0 * GIB, 0.2, 4096.0)),
        ("node_memory_MemAvailable_bytes", gauge(18.0 * GIB, 0.1, 4096.0)),
        ("node_memory_Buffers_bytes", gauge(0.5 * GIB, 0.05, 4096.0)),
        ("node_memory_Cached_bytes", gauge(12.0 * GIB, 0.1, 4096.0)),
        ("node_memory_Active_bytes", gauge(14.0 * GIB, 0.1, 4096.0)),
        ("node_memory_Inactive_bytes", gauge(9.0 * GIB, 0.1, 4096.0)),
        ("node_memory_Dirty_bytes", gauge(0.01 * GIB, 0.5, 4096.0)),
        ("node_memory_SwapTotal_bytes", konst(2.0 * GIB, false)),
        ("node_memory_SwapFree_bytes", gauge(1.9 * GIB, 0.01, 4096.0)),
        ("node_memory_Slab_bytes", gauge(0.8 * GIB, 0.02, 4096.0)),
        ("node_load1", gauge(1.5, 0.5, 0.01)),
        ("node_load5", gauge(1.4, 0.3, 0.01)),
        ("node_load15", gauge(1.3, 0.2, 0.01)),
        ("node_procs_running", gauge(3.0, 0.6, 1.0)),
        ("node_procs_blocked", gauge(0.5, 1.0, 1.0)),
        ("node_context_switches_total", counter(8000.0, 1.0)),
        ("node_intr_total", counter(5000.0, 1.0)),
        ("node_forks_total", counter(20.0, 1.0)),
        ("node_boot_time_seconds", konst(1.7e9, true)),
        ("node_time_seconds", counter(1.0, 1e-6)),
        ("node_vmstat_pgfault", counter(9000.0, 1.0)),
        ("node_vmstat_pgmajfault", counter(0.5, 1.0)),
        ("node_vmstat_pgpgin", counter(400.0, 1.0)),
        ("node_vmstat_pgpgout", counter(1500.0, 1.0)),
        ("node_netstat_Tcp_CurrEstab", gauge(120.0, 0.2, 1.0)),
        ("node_netstat_Tcp_ActiveOpens", counter(3.0, 1.0)),
        ("node_netstat_Tcp_PassiveOpens", counter(2.0, 1.0)),
        ("node_netstat_Tcp_RetransSegs", counter(0.3, 1.0)),
        ("node_netstat_Udp_InDatagrams", counter(40.0, 1.0)),
        ("node_sockstat_TCP_inuse", gauge(80.0, 0.2, 1.0)),
        ("node_sockstat_sockets_used", gauge(600.0, 0.1, 1.0)),
        ("node_entropy_available_bits", konst(256.0, false)),
        ("node_filefd_allocated", gauge(9000.0, 0.05, 1.0)),
        ("node_filefd_maximum", konst(9.2e18, false)),
        ("node_nf_conntrack_entries", gauge(400.0, 0.2, 1.0)),
        ("node_uname_info", konst(1.0, false)),
        ("node_exporter_build_info", konst(1.0, false)),
        ("up", konst(1.0, false)),
        ("scrape_duration_seconds", gauge(0.05, 0.3, 1e-9)),
        ("scrape_samples_scraped", konst(740.0, false)),
    ]),
];

const MODES: [&str; 5] = ["idle", "iowait", "softirq", "system", "user"];
const DISKS: [&str; COMBOS] = [
    "dm-0", "dm-1", "dm-2", "md0", "nvme0n1", "nvme1n1", "sda", "sdb", "sdc", "sdd",
];
const NETDEVS: [&str; COMBOS] = [
    "bond0",
    "br-4f2a9c1e7b3d",
    "docker0",
    "eth0",
    "eth1",
    "eth2",
    "eth3",
    "lo",
    "veth1a2b3c4",
    "veth5d6e7f8",
];
const MOUNTS: [(&str, &str, &str); COMBOS] = [
    ("/dev/sda1", "ext4", "/"),
    ("/dev/sda2", "vfat", "/boot/efi"),
    ("/dev/sdb1", "xfs", "/data"),
    ("tmpfs", "tmpfs", "/run"),
    ("tmpfs", "tmpfs", "/dev/shm"),
    ("tmpfs", "tmpfs", "/run/lock"),
    ("/dev/mapper/vg0-home", "ext4", "/home"),
    ("/dev/mapper/vg0-var", "ext4", "/var"),
    ("/dev/nvme0n1p1", "xfs", "/srv"),
    (
        "overlay",
        "overlay",
        "/var/lib/docker/overlay2/3f9a1c/merged",
    ),
];
const CHIPS: [&str; 2] = ["platform_coretemp_0", "pci0000:00_0000:00:18_3"];
const UNITS: [&str; COMBOS] = [
    "cron.service",
    "dbus.service",
    "docker.service",
    "nginx.service",
    "node-exporter.service",
    "rsyslog.service",
    "ssh.service",
    "systemd-journald.service",
    "systemd-logind.service",
    "systemd-timesyncd.service",
];
const IRQ_TYPES: [&str; 5] = [
    "IO-APIC",
    "Local timer interrupts",
    "PCI-MSI",
    "Rescheduling interrupts",
    "TLB shootdowns",
];

/// One series template of a host: name, labels besides instance/job, value pattern.
struct Template {
    name: &'static str,
    labels: Vec<(&'static str, String)>,
    pattern: Pattern,
}

fn dim_labels(dim: Dim, c: usize) -> Vec<(&'static str, String)> {
    match dim {
        Dim::None => vec![],
        Dim::Cpu => vec![("cpu", c.to_string())],
        Dim::CpuMode => vec![
            ("cpu", (c / MODES.len()).to_string()),
            ("mode", MODES[c % MODES.len()].to_string()),
        ],
        Dim::Disk => vec![("device", DISKS[c].to_string())],
        Dim::NetDev => vec![("device", NETDEVS[c].to_string())],
        Dim::Fs => {
            let (d, t, m) = MOUNTS[c];
            vec![
                ("device", d.to_string()),
                ("fstype", t.to_string()),
                ("mountpoint", m.to_string()),
            ]
        }
        Dim::Hwmon => vec![
            ("chip", CHIPS[c / 5].to_string()),
            ("sensor", format!("temp{}", c % 5 + 1)),
        ],
        Dim::Systemd => vec![("name", UNITS[c].to_string())],
        Dim::Irq => vec![
            ("cpu", (c / IRQ_TYPES.len()).to_string()),
            ("devices", String::new()),
            ("type", IRQ_TYPES[c % IRQ_TYPES.len()].to_string()),
        ],
    }
}

fn host_templates() -> Vec<Template> {
    let mut out = Vec::new();
    for (dim, metrics) in CATALOG {
        let combos = if matches!(dim, Dim::None) { 1 } else { COMBOS };
        for (name, pattern) in *metrics {
            for c in 0..combos {
                out.push(Template {
                    name,
                    labels: dim_labels(*dim, c),
                    pattern: *pattern,
                });
            }
        }
    }
    out
}

/// SplitMix64: small, fast, deterministic; good enough for synthetic values.
#[derive(Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    pub fn f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

fn quantise(v: f64, q: f64) -> f64 {
    (v / q).round() * q
}

/// One series: its wire labels and the state of its value generator.
pub struct Series {
    pub labels: Vec<Label>,
    pattern: Pattern,
    rng: Rng,
    /// Per-series scale of the metric's rate or base, in [0.25, 1.75).
    scale: f64,
    value: f64,
}

impl Series {
    /// The next value, one scrape interval (`interval_s` seconds) after the previous one.
    pub fn next_value(&mut self, interval_s: f64) -> f64 {
        match self.pattern {
            Counter { rate, q } => {
                if rate > 0.0 {
                    // Bursty: some scrapes see no increase at all for slow counters.
                    let inc = rate * self.scale * interval_s * 2.0 * self.rng.f64();
                    self.value = quantise(self.value + inc, q).max(self.value);
                }
                self.value
            }
            Gauge { base, spread, q } => {
                // Mean-reverting random walk around base * scale.
                let centre = base * self.scale;
                let step = (self.rng.f64() - 0.5) * spread * centre * 0.2;
                let pull = (centre - self.value) * 0.05;
                let lo = (centre * (1.0 - spread)).max(0.0);
                let hi = centre * (1.0 + spread);
                self.value = quantise((self.value + step + pull).clamp(lo, hi), q);
                self.value
            }
            Const { .. } => self.value,
        }
    }
}

/// The series of the workload, in order: host 0's templates, host 1's, and so on.
pub struct Workload {
    pub series: Vec<Series>,
    pub series_per_host: usize,
    pub metric_names: usize,
}

impl Workload {
    pub fn new(n: usize, seed: u64) -> Self {
        let templates = host_templates();
        let metric_names = CATALOG.iter().map(|(_, m)| m.len()).sum();
        let per_host = templates.len();
        let series = (0..n)
            .map(|i| {
                let host = i / per_host;
                let t = &templates[i % per_host];
                let mut rng = Rng::new(seed ^ (i as u64).wrapping_mul(0xA24B_AED4_963E_E407));
                let scale = 0.25 + 1.5 * rng.f64();
                let value = match t.pattern {
                    // Counters start at what a host up for days would show.
                    Counter { rate, q } => {
                        quantise(rate * scale * 86_400.0 * (1.0 + 30.0 * rng.f64()), q)
                    }
                    Gauge { base, q, .. } => quantise(base * scale, q),
                    Const { base, vary } => {
                        if vary {
                            (base * (1.0 + rng.f64())).round()
                        } else {
                            base
                        }
                    }
                };
                let mut pairs: Vec<(&str, String)> = vec![
                    ("__name__", t.name.to_string()),
                    ("instance", format!("host-{host:03}:9100")),
                    ("job", "node".to_string()),
                ];
                pairs.extend(t.labels.iter().filter(|(_, v)| !v.is_empty()).cloned());
                pairs.sort();
                let labels = pairs
                    .into_iter()
                    .map(|(n, v)| Label {
                        name: n.as_bytes().to_vec(),
                        value: v.into_bytes(),
                    })
                    .collect();
                Series {
                    labels,
                    pattern: t.pattern,
                    rng,
                    scale,
                    value,
                }
            })
            .collect();
        Workload {
            series,
            series_per_host: per_host,
            metric_names,
        }
    }
}

/// Renders a series' labels as a PromQL selector (`name{a="b",...}`).
pub fn selector(labels: &[Label]) -> String {
    let mut name = String::new();
    let mut rest = Vec::new();
    for l in labels {
        let v = String::from_utf8_lossy(&l.value);
        if l.name == b"__name__" {
            name = v.into_owned();
        } else {
            let escaped = v.replace('\\', "\\\\").replace('"', "\\\"");
            rest.push(format!(
                "{}=\"{}\"",
                String::from_utf8_lossy(&l.name),
                escaped
            ));
        }
    }
    format!("{name}{{{}}}", rest.join(","))
}

/// Which values a [`Workload::cpu`] series carries.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
#[allow(dead_code)] // `Gauge` is used by strix-querybench only; strix-loadgen sends counters.
pub enum CpuKind {
    /// `node_cpu_seconds_total`-like counters (about 0.2 s/s per series, 0.01 s resolution).
    Counter,
    /// A utilisation-like gauge wandering between 0 and 1 (resolution 1e-4).
    Gauge,
}

impl Workload {
    /// The query benchmark's data set: `n` series of one metric, all shaped like
    /// `node_cpu_seconds_total`: `{__name__=name, cpu, instance="host-NNN:9100", job, mode}`
    /// with `cpus` cpus and the 5 modes per host, so 10k series = 250 hosts of 8 cpus.
    /// Deterministic in `seed` and the series index, like [`Workload::new`].
    pub fn cpu(n: usize, seed: u64, cpus: usize, name: &str, job: &str, kind: CpuKind) -> Self {
        let cpus = cpus.max(1);
        let per_host = cpus * MODES.len();
        let series = (0..n)
            .map(|i| {
                let host = i / per_host;
                let cpu = (i / MODES.len()) % cpus;
                let mode = MODES[i % MODES.len()];
                let mut rng = Rng::new(seed ^ (i as u64).wrapping_mul(0xA24B_AED4_963E_E407));
                let scale = 0.25 + 1.5 * rng.f64();
                let (pattern, value) = match kind {
                    CpuKind::Counter => {
                        let p = counter(0.2, 0.01);
                        (
                            p,
                            quantise(0.2 * scale * 86_400.0 * (1.0 + 30.0 * rng.f64()), 0.01),
                        )
                    }
                    CpuKind::Gauge => (gauge(0.4, 0.9, 1e-4), quantise(0.4 * scale, 1e-4)),
                };
                let mut pairs: Vec<(&str, String)> = vec![
                    ("__name__", name.to_string()),
                    ("cpu", cpu.to_string()),
                    ("instance", format!("host-{host:03}:9100")),
                    ("job", job.to_string()),
                    ("mode", mode.to_string()),
                ];
                pairs.sort();
                let labels = pairs
                    .into_iter()
                    .map(|(n, v)| Label {
                        name: n.as_bytes().to_vec(),
                        value: v.into_bytes(),
                    })
                    .collect();
                Series {
                    labels,
                    pattern,
                    rng,
                    scale,
                    value,
                }
            })
            .collect();
        Workload {
            series,
            series_per_host: per_host,
            metric_names: 1,
        }
    }
}
