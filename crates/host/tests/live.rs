//! Collects on this machine and checks names, labels and sanity of values (Linux only).
#![allow(clippy::unwrap_used)]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use strix_core::storage::TimeSeries;
use strix_core::Labels;
use strix_host::HostCollector;

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn value(series: &[TimeSeries], name: &str) -> f64 {
    series
        .iter()
        .find(|s| s.labels.metric_name() == Some(name))
        .unwrap_or_else(|| panic!("no {name}"))
        .samples[0]
        .v
}

fn sum(series: &[TimeSeries], name: &str) -> f64 {
    series
        .iter()
        .filter(|s| s.labels.metric_name() == Some(name))
        .map(|s| s.samples[0].v)
        .sum()
}

#[cfg(target_os = "linux")]
#[test]
fn live_collection_is_sane() {
    let mut c = HostCollector::new(Labels::from_pairs([
        ("job", "strix"),
        ("instance", "test:9090"),
        ("__name__", "ignored"),
    ]));
    let t1 = now_ms();
    let a = c.collect(t1);
    for s in &a {
        assert_eq!(s.labels.get("job"), Some("strix"), "{}", s.labels);
        assert_eq!(s.labels.get("instance"), Some("test:9090"), "{}", s.labels);
        assert_eq!(s.samples.len(), 1);
        assert_eq!(s.samples[0].t, t1);
        assert!(
            s.samples[0].v.is_finite() && s.samples[0].v >= 0.0,
            "{} = {}",
            s.labels,
            s.samples[0].v
        );
        assert!(s.labels.first_duplicate().is_none());
    }
    let names: std::collections::BTreeSet<&str> =
        a.iter().filter_map(|s| s.labels.metric_name()).collect();
    for want in [
        "node_cpu_seconds_total",
        "node_memory_MemTotal_bytes",
        "node_memory_MemFree_bytes",
        "node_memory_MemAvailable_bytes",
        "node_memory_Buffers_bytes",
        "node_memory_Cached_bytes",
        "node_memory_SwapTotal_bytes",
        "node_memory_SwapFree_bytes",
        "node_load1",
        "node_load5",
        "node_load15",
        "node_filesystem_size_bytes",
        "node_filesystem_avail_bytes",
        "node_filesystem_free_bytes",
        "node_network_receive_bytes_total",
        "node_network_transmit_bytes_total",
        "node_network_receive_packets_total",
        "node_network_transmit_packets_total",
        "node_boot_time_seconds",
        "node_time_seconds",
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "process_virtual_memory_bytes",
        "process_open_fds",
        "process_max_fds",
        "process_start_time_seconds",
        "process_threads",
    ] {
        assert!(names.contains(want), "missing {want}; have {names:?}");
    }
    // Disks may be absent in some containers; when present, they carry a device label.
    for s in a
        .iter()
        .filter(|s| s.labels.metric_name() == Some("node_disk_read_bytes_total"))
    {
        assert!(s.labels.get("device").is_some());
    }

    assert!(value(&a, "node_memory_MemTotal_bytes") > 64.0 * 1024.0 * 1024.0);
    assert!(value(&a, "node_memory_MemAvailable_bytes") <= value(&a, "node_memory_MemTotal_bytes"));
    assert!(value(&a, "process_resident_memory_bytes") > 1024.0 * 1024.0);
    assert!(
        value(&a, "process_virtual_memory_bytes") >= value(&a, "process_resident_memory_bytes")
    );
    assert!(value(&a, "process_threads") >= 1.0);
    assert!(value(&a, "process_open_fds") >= 3.0);
    let now_s = t1 as f64 / 1000.0;
    let boot = value(&a, "node_boot_time_seconds");
    assert!(boot > 1e9 && boot < now_s, "boot {boot}");
    let start = value(&a, "process_start_time_seconds");
    assert!(
        start >= boot && start <= now_s + 1.0,
        "start {start}, now {now_s}"
    );
    assert!(
        (now_s - start) < 3600.0,
        "the test process started {} s ago?",
        now_s - start
    );
    assert_eq!(value(&a, "node_time_seconds"), now_s);
    let root = a
        .iter()
        .find(|s| {
            s.labels.metric_name() == Some("node_filesystem_size_bytes")
                && s.labels.get("mountpoint") == Some("/")
        })
        .expect("root filesystem");
    assert!(root.samples[0].v > 0.0);
    assert!(root.labels.get("fstype").is_some() && root.labels.get("device").is_some());
    let modes: std::collections::BTreeSet<&str> = a
        .iter()
        .filter(|s| s.labels.metric_name() == Some("node_cpu_seconds_total"))
        .filter_map(|s| s.labels.get("mode"))
        .collect();
    assert!(modes.contains("idle") && modes.contains("user") && modes.contains("system"));
    assert!(a
        .iter()
        .any(|s| s.labels.metric_name() == Some("node_cpu_seconds_total")
            && s.labels.get("cpu") == Some("0")));

    // Burn some CPU so both the machine's and the process' CPU seconds visibly advance
    // (1/USER_HZ = 10 ms resolution).
    let busy_until = std::time::Instant::now() + Duration::from_millis(300);
    let mut x: u64 = 0;
    while std::time::Instant::now() < busy_until {
        x = x.wrapping_mul(6364136223846793005).wrapping_add(1);
    }
    std::hint::black_box(x);
    let b = c.collect(now_ms());
    assert!(sum(&b, "node_cpu_seconds_total") > sum(&a, "node_cpu_seconds_total"));
    assert!(value(&b, "process_cpu_seconds_total") > value(&a, "process_cpu_seconds_total"));
}
