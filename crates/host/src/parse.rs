//! Pure parsers of the `/proc` file formats the collector reads. Each takes the file's
//! text and returns plain values; unparsable lines are skipped, never fatal.

/// Ticks per second of the times in `/proc/stat` and `/proc/<pid>/stat` (`USER_HZ`,
/// 100 on every Linux architecture Strix runs on; node_exporter assumes the same).
pub const USER_HZ: f64 = 100.0;

/// Modes of `/proc/stat` `cpuN` lines, in column order, as node_exporter names them.
/// `guest` and `guest_nice` (columns 9 and 10) are already included in `user` and `nice`
/// and are left out, as node_exporter leaves them out of `node_cpu_seconds_total`.
pub const CPU_MODES: [&str; 8] = [
    "user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal",
];

/// Per-CPU times from `/proc/stat`.
#[derive(Debug, Clone, PartialEq)]
pub struct CpuTimes {
    /// The number after `cpu` ("0", "1", ...).
    pub cpu: String,
    /// Seconds per mode of [`CPU_MODES`], same order; missing columns are 0.
    pub seconds: [f64; 8],
}

/// Per-CPU lines (not the aggregate `cpu` line) and `btime` of `/proc/stat`.
pub fn parse_stat(text: &str) -> (Vec<CpuTimes>, Option<f64>) {
    let mut cpus = Vec::new();
    let mut btime = None;
    for line in text.lines() {
        let mut f = line.split_ascii_whitespace();
        let Some(key) = f.next() else { continue };
        if key == "btime" {
            btime = f.next().and_then(|v| v.parse::<f64>().ok());
        } else if let Some(n) = key.strip_prefix("cpu") {
            if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
                continue;
            }
            let mut seconds = [0.0; 8];
            for (slot, v) in seconds.iter_mut().zip(f) {
                *slot = v.parse::<f64>().unwrap_or(0.0) / USER_HZ;
            }
            cpus.push(CpuTimes {
                cpu: n.to_owned(),
                seconds,
            });
        }
    }
    (cpus, btime)
}

/// `(key, bytes)` pairs of `/proc/meminfo` (values in kB are multiplied by 1024; the
/// few unitless entries such as `HugePages_Total` are returned as they are).
pub fn parse_meminfo(text: &str) -> Vec<(String, f64)> {
    text.lines()
        .filter_map(|line| {
            let (key, rest) = line.split_once(':')?;
            let mut f = rest.split_ascii_whitespace();
            let v = f.next()?.parse::<f64>().ok()?;
            let v = match f.next() {
                Some("kB") => v * 1024.0,
                _ => v,
            };
            Some((key.trim().to_owned(), v))
        })
        .collect()
}

/// The 1, 5 and 15 minute load averages of `/proc/loadavg`.
pub fn parse_loadavg(text: &str) -> Option<[f64; 3]> {
    let mut f = text.split_ascii_whitespace();
    let mut out = [0.0; 3];
    for slot in &mut out {
        *slot = f.next()?.parse().ok()?;
    }
    Some(out)
}

/// One line of `/proc/mounts`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    pub device: String,
    pub mountpoint: String,
    pub fstype: String,
}

/// Undoes the octal escapes (`\040` for space, `\011`, `\012`, `\134`) of mount fields.
fn unescape_octal(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 4 <= b.len() {
            let oct = &b[i + 1..i + 4];
            if oct.iter().all(|c| (b'0'..=b'7').contains(c)) {
                let v = u32::from(oct[0] - b'0') * 64
                    + u32::from(oct[1] - b'0') * 8
                    + u32::from(oct[2] - b'0');
                if let Ok(byte) = u8::try_from(v) {
                    out.push(byte);
                    i += 4;
                    continue;
                }
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The lines of `/proc/mounts` (or `/proc/self/mounts`).
pub fn parse_mounts(text: &str) -> Vec<Mount> {
    text.lines()
        .filter_map(|line| {
            let mut f = line.split_ascii_whitespace();
            let device = unescape_octal(f.next()?);
            let mountpoint = unescape_octal(f.next()?);
            let fstype = f.next()?.to_owned();
            Some(Mount {
                device,
                mountpoint,
                fstype,
            })
        })
        .collect()
}

/// node_exporter's default `--collector.filesystem.fs-types-exclude`.
const IGNORED_FS_TYPES: &[&str] = &[
    "autofs",
    "binfmt_misc",
    "bpf",
    "cgroup",
    "cgroup2",
    "configfs",
    "debugfs",
    "devpts",
    "devtmpfs",
    "fusectl",
    "hugetlbfs",
    "iso9660",
    "mqueue",
    "nsfs",
    "overlay",
    "proc",
    "procfs",
    "pstore",
    "rpc_pipefs",
    "securityfs",
    "selinuxfs",
    "squashfs",
    "erofs",
    "sysfs",
    "tracefs",
];

/// Whether a mount is a "real" filesystem worth reporting, by node_exporter's default
/// exclusions: pseudo filesystem types, and mount points under `/dev`, `/proc`, `/sys`,
/// `/run/credentials/`, `/var/lib/docker/` and `/var/lib/containers/storage/`.
pub fn is_real_filesystem(m: &Mount) -> bool {
    if IGNORED_FS_TYPES.contains(&m.fstype.as_str()) {
        return false;
    }
    let p = m.mountpoint.as_str();
    let under = |root: &str| p == root || p.strip_prefix(root).is_some_and(|r| r.starts_with('/'));
    let under_strict = |root: &str| {
        p.strip_prefix(root)
            .is_some_and(|r| r.starts_with('/') && r.len() > 1)
    };
    !(under("/dev")
        || under("/proc")
        || under("/sys")
        || under_strict("/run/credentials")
        || under_strict("/var/lib/docker")
        || under_strict("/var/lib/containers/storage"))
}

/// Counters of one `/proc/diskstats` line.
#[derive(Debug, Clone, PartialEq)]
pub struct DiskStats {
    pub device: String,
    pub reads_completed: f64,
    pub writes_completed: f64,
    /// Sectors are always 512 bytes in `/proc/diskstats`, whatever the device's sector size.
    pub read_bytes: f64,
    pub written_bytes: f64,
    pub io_time_seconds: f64,
}

/// The lines of `/proc/diskstats`.
pub fn parse_diskstats(text: &str) -> Vec<DiskStats> {
    text.lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split_ascii_whitespace().collect();
            if f.len() < 14 {
                return None;
            }
            let n = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
            Some(DiskStats {
                device: f[2].to_owned(),
                reads_completed: n(3),
                read_bytes: n(5) * 512.0,
                writes_completed: n(7),
                written_bytes: n(9) * 512.0,
                io_time_seconds: n(12) / 1000.0,
            })
        })
        .collect()
}

/// node_exporter's default `--collector.diskstats.device-exclude`
/// (`^(z?ram|loop|fd|(h|s|v|xv)d[a-z]|nvme\d+n\d+p)\d+$`): RAM disks, loop devices,
/// floppies and partitions.
pub fn is_ignored_disk(device: &str) -> bool {
    let digits_tail = |rest: &str| !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit());
    for prefix in ["zram", "ram", "loop", "fd"] {
        if let Some(rest) = device.strip_prefix(prefix) {
            if digits_tail(rest) {
                return true;
            }
        }
    }
    for prefix in ["hd", "sd", "vd", "xvd"] {
        if let Some(rest) = device.strip_prefix(prefix) {
            let mut chars = rest.chars();
            if chars.next().is_some_and(|c| c.is_ascii_lowercase()) && digits_tail(chars.as_str()) {
                return true;
            }
        }
    }
    if let Some(rest) = device.strip_prefix("nvme") {
        // nvme<d>n<d>p<d>
        let parts: Vec<&str> = rest.splitn(2, 'n').collect();
        if let [ctrl, ns] = parts.as_slice() {
            if let Some((nsid, part)) = ns.split_once('p') {
                return digits_tail(ctrl) && digits_tail(nsid) && digits_tail(part);
            }
        }
    }
    false
}

/// Counters of one `/proc/net/dev` interface.
#[derive(Debug, Clone, PartialEq)]
pub struct NetDev {
    pub device: String,
    pub receive_bytes: f64,
    pub receive_packets: f64,
    pub receive_errs: f64,
    pub receive_drop: f64,
    pub transmit_bytes: f64,
    pub transmit_packets: f64,
    pub transmit_errs: f64,
    pub transmit_drop: f64,
}

/// The interfaces of `/proc/net/dev` (the two header lines have no `:` and are skipped).
pub fn parse_net_dev(text: &str) -> Vec<NetDev> {
    text.lines()
        .filter_map(|line| {
            let (name, rest) = line.split_once(':')?;
            let f: Vec<f64> = rest
                .split_ascii_whitespace()
                .map(|v| v.parse::<f64>().unwrap_or(0.0))
                .collect();
            if f.len() < 16 {
                return None;
            }
            Some(NetDev {
                device: name.trim().to_owned(),
                receive_bytes: f[0],
                receive_packets: f[1],
                receive_errs: f[2],
                receive_drop: f[3],
                transmit_bytes: f[8],
                transmit_packets: f[9],
                transmit_errs: f[10],
                transmit_drop: f[11],
            })
        })
        .collect()
}

/// What `/proc/<pid>/stat` tells about a process.
#[derive(Debug, Clone, PartialEq)]
pub struct ProcStat {
    /// utime + stime, in seconds.
    pub cpu_seconds: f64,
    pub threads: f64,
    /// Start time in seconds after boot.
    pub start_after_boot_seconds: f64,
    pub virtual_bytes: f64,
    /// Resident set in pages.
    pub rss_pages: f64,
}

/// Parses `/proc/<pid>/stat`. The command name (field 2) is in parentheses and may hold
/// spaces and parentheses, so fields are counted from the last `)`.
pub fn parse_proc_stat(text: &str) -> Option<ProcStat> {
    let rest = &text[text.rfind(')')? + 1..];
    // rest starts at field 3 (state); field N is at index N - 3.
    let f: Vec<&str> = rest.split_ascii_whitespace().collect();
    let n = |field: usize| -> Option<f64> { f.get(field - 3)?.parse::<f64>().ok() };
    Some(ProcStat {
        cpu_seconds: (n(14)? + n(15)?) / USER_HZ,
        threads: n(20)?,
        start_after_boot_seconds: n(22)? / USER_HZ,
        virtual_bytes: n(23)?,
        rss_pages: n(24)?,
    })
}

/// `VmRSS` of `/proc/<pid>/status`, in bytes.
pub fn parse_status_rss(text: &str) -> Option<f64> {
    parse_meminfo(text)
        .into_iter()
        .find(|(k, _)| k == "VmRSS")
        .map(|(_, v)| v)
}

/// The soft "Max open files" limit of `/proc/<pid>/limits` (`None` when unlimited).
pub fn parse_max_fds(text: &str) -> Option<f64> {
    let line = text.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..]
        .split_ascii_whitespace()
        .next()?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    // Samples copied from a Linux 6.x VM (two CPUs).
    const STAT: &str = "cpu  159957 0 28687 184039 3635 0 444 201 0 0
cpu0 77716 0 13619 95901 1004 0 85 93 0 0
cpu1 82241 0 15067 88138 2630 0 359 107 12 0
intr 1657977 0 0 0 0 0 0
ctxt 3069419
btime 1795358249
processes 23222
procs_running 1
";

    #[test]
    fn stat() {
        let (cpus, btime) = parse_stat(STAT);
        assert_eq!(btime, Some(1795358249.0));
        assert_eq!(cpus.len(), 2);
        assert_eq!(cpus[0].cpu, "0");
        assert_eq!(cpus[0].seconds[0], 777.16);
        assert_eq!(cpus[1].seconds[3], 881.38);
        assert_eq!(cpus[1].seconds[7], 1.07);
        let (cpus, btime) = parse_stat("cpu 1 2\ncpufreq x\n");
        assert!(cpus.is_empty());
        assert_eq!(btime, None);
    }

    #[test]
    fn meminfo() {
        let text = "MemTotal:       24684096 kB
MemFree:        18133484 kB
MemAvailable:   24114524 kB
Buffers:           35588 kB
Cached:          5917184 kB
SwapTotal:             0 kB
Active(anon):      12 kB
HugePages_Total:       0
";
        let m = parse_meminfo(text);
        assert_eq!(m[0], ("MemTotal".to_owned(), 24684096.0 * 1024.0));
        assert_eq!(m[5], ("SwapTotal".to_owned(), 0.0));
        assert_eq!(m[6].0, "Active(anon)");
        assert_eq!(m[7], ("HugePages_Total".to_owned(), 0.0));
    }

    #[test]
    fn loadavg() {
        assert_eq!(
            parse_loadavg("1.83 2.04 1.79 1/94 8344\n"),
            Some([1.83, 2.04, 1.79])
        );
        assert_eq!(parse_loadavg("1.0"), None);
    }

    #[test]
    fn mounts_and_filter() {
        let text = "proc /proc proc rw,relatime 0 0
sysfs /sys sysfs rw,relatime 0 0
devtmpfs /dev devtmpfs rw,relatime,size=12334524k,nr_inodes=3083631,mode=755 0 0
tmpfs /dev/shm tmpfs rw,relatime,size=24684096k 0 0
/dev/vda / ext4 rw,relatime,discard 0 0
/dev/vdb1 /mnt/my\\040data xfs rw 0 0
overlay /var/lib/docker/overlay2/abc/merged overlay rw 0 0
tmpfs /run tmpfs rw,nosuid 0 0
/dev/sda1 /var/lib/docker/volumes/x ext4 rw 0 0
";
        let m = parse_mounts(text);
        assert_eq!(m.len(), 9);
        assert_eq!(m[5].mountpoint, "/mnt/my data");
        let real: Vec<&str> = m
            .iter()
            .filter(|m| is_real_filesystem(m))
            .map(|m| m.mountpoint.as_str())
            .collect();
        assert_eq!(real, vec!["/", "/mnt/my data", "/run"]);
        assert_eq!(unescape_octal("a\\134b\\011"), "a\\b\t");
        assert_eq!(unescape_octal("trail\\04"), "trail\\04");
    }

    #[test]
    fn diskstats() {
        let text = "   7       0 loop0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0
 253       0 vda 23456 120 1834567 9876 54321 987 4567890 54321 0 43210 64197 0 0 0 0 1200 345
 253       1 vda1 100 0 800 10 0 0 0 0 0 20 10 0 0 0 0
   8       0 sda 1 2 3
";
        let d = parse_diskstats(text);
        assert_eq!(d.len(), 3, "short lines are skipped");
        assert_eq!(d[1].device, "vda");
        assert_eq!(d[1].read_bytes, 1834567.0 * 512.0);
        assert_eq!(d[1].written_bytes, 4567890.0 * 512.0);
        assert_eq!(d[1].io_time_seconds, 43.21);
        assert_eq!(d[1].reads_completed, 23456.0);
        assert_eq!(d[1].writes_completed, 54321.0);
        for (dev, ignored) in [
            ("loop0", true),
            ("ram1", true),
            ("zram0", true),
            ("vda", false),
            ("vda1", true),
            ("sda", false),
            ("sdb12", true),
            ("xvda1", true),
            ("nvme0n1", false),
            ("nvme0n1p2", true),
            ("dm-0", false),
            ("md0", false),
        ] {
            assert_eq!(is_ignored_disk(dev), ignored, "{dev}");
        }
    }

    #[test]
    fn net_dev() {
        let text = "Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo: 667813634  280457    0    0    0     0          0         0 667813634  280457    0    0    0     0       0          0
  eth0: 1000 10 1 2 0 0 0 0 2000 20 3 4 0 0 0 0
";
        let n = parse_net_dev(text);
        assert_eq!(n.len(), 2);
        assert_eq!(n[0].device, "lo");
        assert_eq!(n[0].receive_bytes, 667813634.0);
        assert_eq!(n[1].transmit_packets, 20.0);
        assert_eq!(n[1].receive_errs, 1.0);
        assert_eq!(n[1].transmit_drop, 4.0);
    }

    #[test]
    fn proc_stat() {
        let text = "8348 (cat) R 8338 8338 23222 0 -1 4194304 102 0 0 0 7 3 0 0 20 0 1 0 189474 3133440 417 18446744073709551615 94417786417152 94417786437033 140721000127696 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0";
        let p = parse_proc_stat(text).unwrap();
        assert_eq!(p.cpu_seconds, 0.1);
        assert_eq!(p.threads, 1.0);
        assert_eq!(p.start_after_boot_seconds, 1894.74);
        assert_eq!(p.virtual_bytes, 3133440.0);
        assert_eq!(p.rss_pages, 417.0);
        let odd = text.replace("(cat)", "(a) b (c))");
        assert_eq!(parse_proc_stat(&odd), Some(p));
        assert_eq!(parse_proc_stat("garbage"), None);
    }

    #[test]
    fn status_and_limits() {
        assert_eq!(
            parse_status_rss("Name:\tcat\nVmRSS:\t    2092 kB\nThreads:\t1\n"),
            Some(2092.0 * 1024.0)
        );
        let limits =
            "Limit                     Soft Limit           Hard Limit           Units     
Max cpu time              unlimited            unlimited            seconds   
Max open files            20000                40000                files     
";
        assert_eq!(parse_max_fds(limits), Some(20000.0));
        assert_eq!(
            parse_max_fds(
                "Max open files            unlimited            unlimited            files"
            ),
            None
        );
    }
}
