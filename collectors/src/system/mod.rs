//! `exporter-collector system`: host health from `sysinfo` (and `/proc/diskstats` for per-disk
//! I/O), one sample per interval.
//!
//! Each family is collected on its own; a family that fails or does not exist on this host is
//! left out of the sample (logged once), never fails the whole sample.

mod diskstats;
mod watch;

use std::collections::HashSet;
use std::time::Instant;

use chrono::{DateTime, Utc};
use exporter_protocol::system::{
    CpuStats, FilesystemStats, HostInfo, LoadAverage, MemoryStats, NetworkStats, SystemSample,
    Temperature,
};
use exporter_protocol::{CollectorKind, SourceKind};
use exporter_settings::SystemCollectorSettings;
use sysinfo::{
    Components, Disks, Networks, ProcessRefreshKind, ProcessesToUpdate, System, UpdateKind,
};

use crate::{CollectorContext, CollectorError};

pub use watch::ProcessMatcher;

/// Filesystem types that describe no real storage.
const PSEUDO_FILESYSTEMS: &[&str] = &[
    "proc",
    "sysfs",
    "devtmpfs",
    "devpts",
    "tmpfs",
    "cgroup",
    "cgroup2",
    "overlay",
    "squashfs",
    "autofs",
    "mqueue",
    "debugfs",
    "tracefs",
    "securityfs",
    "pstore",
    "bpf",
    "configfs",
    "fusectl",
    "hugetlbfs",
    "nsfs",
    "ramfs",
    "binfmt_misc",
    "efivarfs",
    "rpc_pipefs",
];

/// Runs the sampling loop until `shutdown`.
pub async fn run(ctx: &CollectorContext) -> Result<(), CollectorError> {
    let config = &ctx.settings.collectors.system;
    let mut sampler = Sampler::new(config)?;
    // CPU usage needs two refreshes at least MINIMUM_CPU_UPDATE_INTERVAL apart.
    tokio::time::sleep(sysinfo::MINIMUM_CPU_UPDATE_INTERVAL).await;
    let mut ticks = ctx.every(config.interval_seconds);
    tracing::info!(subject = %ctx.subject(SourceKind::System), interval_seconds = config.interval_seconds, "system collector started");
    while ticks.next().await {
        let sample = sampler.sample();
        for family in missing_families(&sample) {
            ctx.family_error(family);
        }
        ctx.publish(SourceKind::System, sample);
    }
    Ok(())
}

/// Keeps the `sysinfo` state between samples (rates and CPU usage are deltas).
#[derive(Debug)]
pub struct Sampler {
    system: System,
    networks: Option<Networks>,
    disks: Option<Disks>,
    components: Option<Components>,
    diskstats: diskstats::DiskRates,
    watches: Vec<ProcessMatcher>,
    ignore_mount_points: HashSet<String>,
    last_network_refresh: Instant,
    reported_missing: HashSet<&'static str>,
}

impl Sampler {
    /// Prepares the state and takes the first readings.
    pub fn new(config: &SystemCollectorSettings) -> Result<Self, CollectorError> {
        let system = System::new().map_err(|err| CollectorError::Init {
            kind: CollectorKind::System,
            message: err.to_string(),
        })?;
        let watches = config
            .watch_processes
            .iter()
            .map(ProcessMatcher::new)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|message| CollectorError::Init {
                kind: CollectorKind::System,
                message,
            })?;
        let mut sampler = Self {
            system,
            networks: Networks::new_with_refreshed_list().ok(),
            disks: Disks::new_with_refreshed_list().ok(),
            components: Components::new_with_refreshed_list().ok(),
            diskstats: diskstats::DiskRates::default(),
            watches,
            ignore_mount_points: config.ignore_mount_points.iter().cloned().collect(),
            last_network_refresh: Instant::now(),
            reported_missing: HashSet::new(),
        };
        sampler.system.refresh_cpu_usage();
        sampler.refresh_processes();
        sampler.diskstats.sample();
        Ok(sampler)
    }

    /// Takes one sample.
    pub fn sample(&mut self) -> SystemSample {
        self.system.refresh_cpu_usage();
        self.system.refresh_memory();
        let process_count = self.refresh_processes();
        let sample = SystemSample {
            cpu: self.cpu(),
            load: System::load_average().ok().map(|l| LoadAverage {
                one: l.one,
                five: l.five,
                fifteen: l.fifteen,
            }),
            memory: self.memory(),
            filesystems: self.filesystems(),
            disks: self.diskstats.sample(),
            networks: self.networks(),
            temperatures: self.temperatures(),
            host: host_info(process_count),
            watched_processes: self
                .watches
                .iter()
                .map(|watch| watch.evaluate(self.system.processes()))
                .collect(),
        };
        self.log_missing_families(&sample);
        sample
    }

    fn refresh_processes(&mut self) -> usize {
        self.system.refresh_processes_specifics(
            ProcessesToUpdate::All,
            true,
            ProcessRefreshKind::nothing()
                .with_cpu()
                .with_memory()
                .with_cmd(UpdateKind::OnlyIfNotSet),
        );
        self.system.processes().len()
    }

    fn cpu(&self) -> Option<CpuStats> {
        let cpus = self.system.cpus();
        if cpus.is_empty() {
            return None;
        }
        Some(CpuStats {
            usage_percent: f64::from(self.system.global_cpu_usage()),
            per_core_percent: cpus.iter().map(|c| f64::from(c.usage())).collect(),
            logical_cores: cpus.len() as u32,
            physical_cores: System::physical_core_count().ok().map(|n| n as u32),
            brand: cpus
                .first()
                .map(|c| c.brand().trim().to_owned())
                .filter(|b| !b.is_empty()),
        })
    }

    fn memory(&self) -> Option<MemoryStats> {
        let total = self.system.total_memory();
        if total == 0 {
            return None;
        }
        let available = self.system.available_memory();
        let used = total.saturating_sub(available);
        Some(MemoryStats {
            total_bytes: total,
            used_bytes: used,
            available_bytes: available,
            free_bytes: self.system.free_memory(),
            used_percent: used as f64 * 100.0 / total as f64,
            swap_total_bytes: self.system.total_swap(),
            swap_used_bytes: self.system.used_swap(),
            swap_free_bytes: self.system.free_swap(),
        })
    }

    fn filesystems(&mut self) -> Option<Vec<FilesystemStats>> {
        let disks = self.disks.as_mut()?;
        disks.refresh(true);
        let mut seen_mounts = HashSet::new();
        let list: Vec<FilesystemStats> = disks
            .iter()
            .filter_map(|disk| {
                let fs_type = disk.file_system().to_string_lossy().into_owned();
                let mount_point = disk.mount_point().to_string_lossy().into_owned();
                if PSEUDO_FILESYSTEMS.contains(&fs_type.as_str())
                    || self.ignore_mount_points.contains(&mount_point)
                    || !seen_mounts.insert(mount_point.clone())
                {
                    return None;
                }
                let space = space_like_df(disk.mount_point()).unwrap_or(Space {
                    total: disk.total_space(),
                    used: disk.total_space().saturating_sub(disk.available_space()),
                    available: disk.available_space(),
                });
                if space.total == 0 {
                    return None;
                }
                let usable = (space.used + space.available).max(1);
                Some(FilesystemStats {
                    mount_point,
                    device: disk.name().to_string_lossy().into_owned(),
                    fs_type,
                    total_bytes: space.total,
                    used_bytes: space.used,
                    available_bytes: space.available,
                    used_percent: space.used as f64 * 100.0 / usable as f64,
                })
            })
            .collect();
        (!list.is_empty()).then_some(list)
    }

    fn networks(&mut self) -> Option<Vec<NetworkStats>> {
        let networks = self.networks.as_mut()?;
        // The rates divide by the time between the two refreshes themselves, not between samples
        // (the process scan before this one takes a varying time).
        let now = Instant::now();
        networks.refresh(true);
        let elapsed_seconds = now
            .duration_since(self.last_network_refresh)
            .as_secs_f64()
            .max(0.001);
        self.last_network_refresh = now;
        let mut list: Vec<NetworkStats> = networks
            .iter()
            .map(|(name, data)| NetworkStats {
                interface: name.to_string_lossy().into_owned(),
                rx_bytes_per_second: data.received() as f64 / elapsed_seconds,
                tx_bytes_per_second: data.transmitted() as f64 / elapsed_seconds,
                rx_bytes_total: data.total_received(),
                tx_bytes_total: data.total_transmitted(),
                rx_errors_total: data.total_errors_on_received(),
                tx_errors_total: data.total_errors_on_transmitted(),
            })
            .collect();
        list.sort_by(|a, b| a.interface.cmp(&b.interface));
        (!list.is_empty()).then_some(list)
    }

    fn temperatures(&mut self) -> Option<Vec<Temperature>> {
        let components = self.components.as_mut()?;
        components.refresh(true);
        let list: Vec<Temperature> = components
            .iter()
            .filter_map(|c| {
                Some(Temperature {
                    label: c.label().to_owned(),
                    celsius: f64::from(c.temperature().filter(|t| t.is_finite())?),
                    max_celsius: c.max().filter(|t| t.is_finite()).map(f64::from),
                    critical_celsius: c.critical().filter(|t| t.is_finite()).map(f64::from),
                })
            })
            .collect();
        (!list.is_empty()).then_some(list)
    }

    fn log_missing_families(&mut self, sample: &SystemSample) {
        for family in missing_families(sample) {
            if self.reported_missing.insert(family) {
                tracing::info!(
                    family,
                    "not available on this host; left out of system samples"
                );
            }
        }
    }
}

/// The families left out of `sample` (failed, or absent on this host): the `family` label of
/// `exporter.collection_errors_total`.
fn missing_families(sample: &SystemSample) -> impl Iterator<Item = &'static str> {
    let families: [(&'static str, bool); 7] = [
        ("cpu", sample.cpu.is_some()),
        ("load", sample.load.is_some()),
        ("memory", sample.memory.is_some()),
        ("filesystems", sample.filesystems.is_some()),
        ("disks", sample.disks.is_some()),
        ("networks", sample.networks.is_some()),
        ("temperatures", sample.temperatures.is_some()),
    ];
    families
        .into_iter()
        .filter(|(_, present)| !present)
        .map(|(family, _)| family)
}

/// Space of one filesystem in bytes.
struct Space {
    total: u64,
    used: u64,
    available: u64,
}

/// Space as `df` computes it: used = total − free; blocks reserved for root count neither as
/// used nor as available, so the percentage is used / (used + available).
fn space_like_df(mount_point: &std::path::Path) -> Option<Space> {
    let stat = nix::sys::statvfs::statvfs(mount_point).ok()?;
    let unit = stat.fragment_size() as u64;
    let blocks = stat.blocks() as u64;
    let free = stat.blocks_free() as u64;
    Some(Space {
        total: blocks * unit,
        used: blocks.saturating_sub(free) * unit,
        available: stat.blocks_available() as u64 * unit,
    })
}

fn host_info(process_count: usize) -> Option<HostInfo> {
    let uptime_seconds = System::uptime().ok()?;
    let boot_time = System::boot_time()
        .ok()
        .and_then(|secs| DateTime::<Utc>::from_timestamp(secs as i64, 0))?;
    Some(HostInfo {
        uptime_seconds,
        boot_time,
        process_count: process_count as u64,
        os: System::long_os_version().ok(),
        kernel: System::kernel_version().ok(),
    })
}
