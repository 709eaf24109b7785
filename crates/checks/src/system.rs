//! Readings of the machine Strix runs on, for its own component health: free space of a
//! directory's file system, memory and CPU use of the host (Linux `/proc`), and the
//! process' resident memory. Every reading is `None` where the platform does not offer it.

use std::path::Path;
use std::sync::Mutex;

/// Space of the file system holding a directory.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DiskUsage {
    pub total_bytes: u64,
    /// Available to unprivileged users.
    pub free_bytes: u64,
}

impl DiskUsage {
    pub fn free_percent(&self) -> f64 {
        if self.total_bytes == 0 {
            return 100.0;
        }
        self.free_bytes as f64 * 100.0 / self.total_bytes as f64
    }
}

/// Free and total space of the file system of `dir`.
pub fn disk_usage(dir: &Path) -> std::io::Result<DiskUsage> {
    let s = rustix::fs::statvfs(dir).map_err(std::io::Error::from)?;
    let frag = s.f_frsize.max(1);
    Ok(DiskUsage {
        total_bytes: s.f_blocks.saturating_mul(frag),
        free_bytes: s.f_bavail.saturating_mul(frag),
    })
}

/// Host memory, bytes.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Memory {
    pub total_bytes: u64,
    pub available_bytes: u64,
}

impl Memory {
    pub fn used_percent(&self) -> f64 {
        if self.total_bytes == 0 {
            return 0.0;
        }
        (self.total_bytes.saturating_sub(self.available_bytes)) as f64 * 100.0
            / self.total_bytes as f64
    }
}

/// `MemTotal` and `MemAvailable` of a `/proc/meminfo` text.
pub fn parse_meminfo(text: &str) -> Option<Memory> {
    let field = |name: &str| -> Option<u64> {
        let line = text.lines().find(|l| l.starts_with(name))?;
        let kb: u64 = line[name.len()..]
            .trim_start_matches(':')
            .split_whitespace()
            .next()?
            .parse()
            .ok()?;
        Some(kb.saturating_mul(1024))
    };
    Some(Memory {
        total_bytes: field("MemTotal")?,
        available_bytes: field("MemAvailable")?,
    })
}

/// Host memory from `/proc/meminfo`.
pub fn memory() -> Option<Memory> {
    parse_meminfo(&read_small("/proc/meminfo")?)
}

/// Resident memory of this process, bytes (`VmRSS` of `/proc/self/status`).
pub fn process_rss() -> Option<u64> {
    let text = read_small("/proc/self/status")?;
    let line = text.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line["VmRSS:".len()..]
        .split_whitespace()
        .next()?
        .parse()
        .ok()?;
    Some(kb.saturating_mul(1024))
}

/// Busy and total jiffies of the `cpu` line of a `/proc/stat` text.
pub fn parse_cpu_line(text: &str) -> Option<(u64, u64)> {
    let line = text.lines().find(|l| l.starts_with("cpu "))?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    let total: u64 = v.iter().sum();
    // idle + iowait
    let idle = v.get(3).copied().unwrap_or(0) + v.get(4).copied().unwrap_or(0);
    Some((total.saturating_sub(idle), total))
}

/// Host CPU busy percent since the previous call (the first call measures since boot).
pub struct CpuMeter {
    last: Mutex<Option<(u64, u64)>>,
}

impl Default for CpuMeter {
    fn default() -> Self {
        CpuMeter {
            last: Mutex::new(None),
        }
    }
}

impl CpuMeter {
    pub fn busy_percent(&self) -> Option<f64> {
        let (busy, total) = parse_cpu_line(&read_small("/proc/stat")?)?;
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        let (b0, t0) = last.unwrap_or((0, 0));
        *last = Some((busy, total));
        let dt = total.saturating_sub(t0);
        (dt > 0).then(|| busy.saturating_sub(b0) as f64 * 100.0 / dt as f64)
    }
}

/// Reads a small `/proc` file (at most 1 MiB).
fn read_small(path: &str) -> Option<String> {
    use std::io::Read;
    let f = std::fs::File::open(path).ok()?;
    let mut s = String::new();
    f.take(1 << 20).read_to_string(&mut s).ok()?;
    Some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_texts() {
        let m = parse_meminfo("MemTotal:       1000 kB\nMemFree: 10 kB\nMemAvailable:    250 kB\n");
        assert_eq!(
            m,
            Some(Memory {
                total_bytes: 1_024_000,
                available_bytes: 256_000
            })
        );
        assert_eq!(m.map(|m| m.used_percent()), Some(75.0));
        assert_eq!(parse_meminfo("MemTotal: 5 kB\n"), None);
        let (busy, total) = parse_cpu_line("cpu  10 0 30 50 10 0 0 0 0 0\ncpu0 1 2 3\n").unwrap();
        assert_eq!((busy, total), (40, 100));
        let d = DiskUsage {
            total_bytes: 200,
            free_bytes: 50,
        };
        assert_eq!(d.free_percent(), 25.0);
    }

    #[test]
    fn reads_this_machine() {
        let dir = tempfile::tempdir().unwrap();
        let d = disk_usage(dir.path()).unwrap();
        assert!(d.total_bytes >= d.free_bytes && d.total_bytes > 0);
        assert!(disk_usage(&dir.path().join("missing")).is_err());
        if cfg!(target_os = "linux") {
            assert!(memory().is_some_and(|m| m.total_bytes > 0));
            assert!(process_rss().is_some_and(|r| r > 0));
            let cpu = CpuMeter::default();
            assert!(cpu
                .busy_percent()
                .is_some_and(|p| (0.0..=100.0).contains(&p)));
        }
    }
}
