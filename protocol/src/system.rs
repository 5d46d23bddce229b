//! The system collector's payload: host CPU, memory, filesystems, disks, network, temperatures
//! and the watched processes (is the trading engine alive?).
//!
//! Every family is optional: a family the host cannot report (no temperature sensors in a VM) is
//! absent from the sample, and the rest of the sample is still good.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::series::SeriesDef;
use crate::series::{HasSeries, Labels, SeriesPoint};

/// Collector kind name of this payload.
pub const KIND: &str = "system";

/// One system sample.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SystemSample {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<CpuStats>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load: Option<LoadAverage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<MemoryStats>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filesystems: Option<Vec<FilesystemStats>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disks: Option<Vec<DiskIo>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub networks: Option<Vec<NetworkStats>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperatures: Option<Vec<Temperature>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<HostInfo>,
    /// One entry per configured watch, present even when the process is down.
    #[serde(default)]
    pub watched_processes: Vec<WatchedProcess>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CpuStats {
    /// Average over all logical cores since the previous sample.
    #[serde(deserialize_with = "crate::nullable::f64")]
    pub usage_percent: f64,
    /// One value per logical core, in core order.
    #[serde(deserialize_with = "crate::nullable::vec_f64")]
    pub per_core_percent: Vec<f64>,
    pub logical_cores: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub physical_cores: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub brand: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct LoadAverage {
    #[serde(deserialize_with = "crate::nullable::f64")]
    pub one: f64,
    #[serde(deserialize_with = "crate::nullable::f64")]
    pub five: f64,
    #[serde(deserialize_with = "crate::nullable::f64")]
    pub fifteen: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MemoryStats {
    pub total_bytes: u64,
    pub used_bytes: u64,
    pub available_bytes: u64,
    pub free_bytes: u64,
    #[serde(deserialize_with = "crate::nullable::f64")]
    pub used_percent: f64,
    pub swap_total_bytes: u64,
    pub swap_used_bytes: u64,
    pub swap_free_bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct FilesystemStats {
    pub mount_point: String,
    pub device: String,
    pub fs_type: String,
    pub total_bytes: u64,
    pub used_bytes: u64,
    pub available_bytes: u64,
    #[serde(deserialize_with = "crate::nullable::f64")]
    pub used_percent: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DiskIo {
    /// Block device name as in `/proc/diskstats` (`nvme0n1`, `sda`).
    pub device: String,
    #[serde(deserialize_with = "crate::nullable::f64")]
    pub read_bytes_per_second: f64,
    #[serde(deserialize_with = "crate::nullable::f64")]
    pub write_bytes_per_second: f64,
    pub read_bytes_total: u64,
    pub written_bytes_total: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct NetworkStats {
    pub interface: String,
    #[serde(deserialize_with = "crate::nullable::f64")]
    pub rx_bytes_per_second: f64,
    #[serde(deserialize_with = "crate::nullable::f64")]
    pub tx_bytes_per_second: f64,
    pub rx_bytes_total: u64,
    pub tx_bytes_total: u64,
    pub rx_errors_total: u64,
    pub tx_errors_total: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Temperature {
    pub label: String,
    #[serde(deserialize_with = "crate::nullable::f64")]
    pub celsius: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_celsius: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub critical_celsius: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct HostInfo {
    pub uptime_seconds: u64,
    pub boot_time: DateTime<Utc>,
    pub process_count: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kernel: Option<String>,
}

/// State of one configured process watch (e.g. the trading engine).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct WatchedProcess {
    /// The watch's name from the settings.
    pub name: String,
    pub up: bool,
    /// Matching processes; empty when down.
    pub instances: Vec<ProcessInstance>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ProcessInstance {
    pub pid: u32,
    pub name: String,
    #[serde(deserialize_with = "crate::nullable::f64")]
    pub cpu_percent: f64,
    pub rss_bytes: u64,
    pub started_at: DateTime<Utc>,
}

fn push(points: &mut Vec<SeriesPoint>, def: &'static SeriesDef, labels: Labels, value: f64) {
    if value.is_finite() {
        points.push(def.point(labels, value));
    }
}

fn one(key: &str, value: &str) -> Labels {
    Labels::from([(key.to_owned(), value.to_owned())])
}

crate::series_catalogue! {
    CPU_USAGE_PERCENT = gauge("cpu.usage_percent", Percent, "CPU time busy across all cores");
    CPU_CORE_USAGE_PERCENT = gauge("cpu.core_usage_percent", Percent, "CPU time busy on one core");
    LOAD_ONE = gauge("load.one", None, "Load average over one minute");
    LOAD_FIVE = gauge("load.five", None, "Load average over five minutes");
    LOAD_FIFTEEN = gauge("load.fifteen", None, "Load average over fifteen minutes");
    MEMORY_TOTAL_BYTES = gauge("memory.total_bytes", Bytes, "Physical memory installed");
    MEMORY_USED_BYTES = gauge("memory.used_bytes", Bytes, "Physical memory in use");
    MEMORY_AVAILABLE_BYTES = gauge("memory.available_bytes", Bytes, "Physical memory available to new work");
    MEMORY_USED_PERCENT = gauge("memory.used_percent", Percent, "Share of physical memory in use");
    SWAP_TOTAL_BYTES = gauge("swap.total_bytes", Bytes, "Swap space configured");
    SWAP_USED_BYTES = gauge("swap.used_bytes", Bytes, "Swap space in use");
    FILESYSTEM_TOTAL_BYTES = gauge("filesystem.total_bytes", Bytes, "Size of a mounted file system");
    FILESYSTEM_USED_BYTES = gauge("filesystem.used_bytes", Bytes, "Space used on a mounted file system");
    FILESYSTEM_AVAILABLE_BYTES = gauge("filesystem.available_bytes", Bytes, "Space available to unprivileged users on a mounted file system");
    FILESYSTEM_USED_PERCENT = gauge("filesystem.used_percent", Percent, "Share of a mounted file system in use");
    DISK_READ_BYTES_PER_SECOND = gauge("disk.read_bytes_per_second", BytesPerSecond, "Bytes read from a block device per second");
    DISK_WRITE_BYTES_PER_SECOND = gauge("disk.write_bytes_per_second", BytesPerSecond, "Bytes written to a block device per second");
    NETWORK_RX_BYTES_PER_SECOND = gauge("network.rx_bytes_per_second", BytesPerSecond, "Bytes received on an interface per second");
    NETWORK_TX_BYTES_PER_SECOND = gauge("network.tx_bytes_per_second", BytesPerSecond, "Bytes sent on an interface per second");
    NETWORK_RX_ERRORS_TOTAL = counter("network.rx_errors_total", Count, "Receive errors on an interface since boot");
    NETWORK_TX_ERRORS_TOTAL = counter("network.tx_errors_total", Count, "Transmit errors on an interface since boot");
    TEMPERATURE_CELSIUS = gauge("temperature.celsius", Celsius, "Temperature of a host sensor");
    HOST_UPTIME_SECONDS = gauge("host.uptime_seconds", Seconds, "Time since the host booted");
    HOST_PROCESS_COUNT = gauge("host.process_count", Count, "Processes running on the host");
    PROCESS_UP = gauge("process.up", Boolean, "Whether a watched process is running");
    PROCESS_CPU_PERCENT = gauge("process.cpu_percent", Percent, "CPU used by a watched process");
    PROCESS_RSS_BYTES = gauge("process.rss_bytes", Bytes, "Resident memory of a watched process");
}

impl HasSeries for SystemSample {
    fn series(&self) -> Vec<SeriesPoint> {
        let mut p = Vec::new();
        if let Some(cpu) = &self.cpu {
            push(&mut p, &CPU_USAGE_PERCENT, Labels::new(), cpu.usage_percent);
            for (core, value) in cpu.per_core_percent.iter().enumerate() {
                push(
                    &mut p,
                    &CPU_CORE_USAGE_PERCENT,
                    one("core", &core.to_string()),
                    *value,
                );
            }
        }
        if let Some(load) = &self.load {
            push(&mut p, &LOAD_ONE, Labels::new(), load.one);
            push(&mut p, &LOAD_FIVE, Labels::new(), load.five);
            push(&mut p, &LOAD_FIFTEEN, Labels::new(), load.fifteen);
        }
        if let Some(m) = &self.memory {
            push(
                &mut p,
                &MEMORY_TOTAL_BYTES,
                Labels::new(),
                m.total_bytes as f64,
            );
            push(
                &mut p,
                &MEMORY_USED_BYTES,
                Labels::new(),
                m.used_bytes as f64,
            );
            push(
                &mut p,
                &MEMORY_AVAILABLE_BYTES,
                Labels::new(),
                m.available_bytes as f64,
            );
            push(&mut p, &MEMORY_USED_PERCENT, Labels::new(), m.used_percent);
            push(
                &mut p,
                &SWAP_TOTAL_BYTES,
                Labels::new(),
                m.swap_total_bytes as f64,
            );
            push(
                &mut p,
                &SWAP_USED_BYTES,
                Labels::new(),
                m.swap_used_bytes as f64,
            );
        }
        for fs in self.filesystems.iter().flatten() {
            let l = one("mount_point", &fs.mount_point);
            push(
                &mut p,
                &FILESYSTEM_TOTAL_BYTES,
                l.clone(),
                fs.total_bytes as f64,
            );
            push(
                &mut p,
                &FILESYSTEM_USED_BYTES,
                l.clone(),
                fs.used_bytes as f64,
            );
            push(
                &mut p,
                &FILESYSTEM_AVAILABLE_BYTES,
                l.clone(),
                fs.available_bytes as f64,
            );
            push(&mut p, &FILESYSTEM_USED_PERCENT, l, fs.used_percent);
        }
        for disk in self.disks.iter().flatten() {
            let l = one("device", &disk.device);
            push(
                &mut p,
                &DISK_READ_BYTES_PER_SECOND,
                l.clone(),
                disk.read_bytes_per_second,
            );
            push(
                &mut p,
                &DISK_WRITE_BYTES_PER_SECOND,
                l,
                disk.write_bytes_per_second,
            );
        }
        for net in self.networks.iter().flatten() {
            let l = one("interface", &net.interface);
            push(
                &mut p,
                &NETWORK_RX_BYTES_PER_SECOND,
                l.clone(),
                net.rx_bytes_per_second,
            );
            push(
                &mut p,
                &NETWORK_TX_BYTES_PER_SECOND,
                l.clone(),
                net.tx_bytes_per_second,
            );
            push(
                &mut p,
                &NETWORK_RX_ERRORS_TOTAL,
                l.clone(),
                net.rx_errors_total as f64,
            );
            push(
                &mut p,
                &NETWORK_TX_ERRORS_TOTAL,
                l,
                net.tx_errors_total as f64,
            );
        }
        for t in self.temperatures.iter().flatten() {
            push(
                &mut p,
                &TEMPERATURE_CELSIUS,
                one("sensor", &t.label),
                t.celsius,
            );
        }
        if let Some(host) = &self.host {
            push(
                &mut p,
                &HOST_UPTIME_SECONDS,
                Labels::new(),
                host.uptime_seconds as f64,
            );
            push(
                &mut p,
                &HOST_PROCESS_COUNT,
                Labels::new(),
                host.process_count as f64,
            );
        }
        for watch in &self.watched_processes {
            let l = one("process", &watch.name);
            push(
                &mut p,
                &PROCESS_UP,
                l.clone(),
                if watch.up { 1.0 } else { 0.0 },
            );
            if watch.up {
                let cpu: f64 = watch.instances.iter().map(|i| i.cpu_percent).sum();
                let rss: u64 = watch.instances.iter().map(|i| i.rss_bytes).sum();
                push(&mut p, &PROCESS_CPU_PERCENT, l.clone(), cpu);
                push(&mut p, &PROCESS_RSS_BYTES, l, rss as f64);
            }
        }
        p
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_families_give_no_points_and_nan_is_skipped() {
        let sample = SystemSample {
            cpu: Some(CpuStats {
                usage_percent: f64::NAN,
                per_core_percent: vec![10.0, 20.0],
                logical_cores: 2,
                physical_cores: None,
                brand: None,
            }),
            ..Default::default()
        };
        let points = sample.series();
        assert_eq!(points.len(), 2);
        // Over the wire NaN becomes null, and null reads back as a left-out value.
        let wire = serde_json::to_vec(&sample).unwrap();
        let back: SystemSample = serde_json::from_slice(&wire).unwrap();
        assert!(back.cpu.as_ref().unwrap().usage_percent.is_nan());
        assert_eq!(back.series().len(), 2);
        assert_eq!(points[1].name, "cpu.core_usage_percent");
        assert_eq!(points[1].labels["core"], "1");
        assert_eq!(points[1].value, 20.0);
        let json = serde_json::to_value(&sample).unwrap();
        assert!(json.get("temperatures").is_none());
    }

    #[test]
    fn a_down_watch_reports_zero_up() {
        let sample = SystemSample {
            watched_processes: vec![WatchedProcess {
                name: "engine".into(),
                up: false,
                instances: vec![],
            }],
            ..Default::default()
        };
        let points = sample.series();
        assert_eq!(
            points,
            vec![SeriesPoint::labelled(
                "process.up",
                "process",
                "engine",
                0.0
            )]
        );
    }
}
