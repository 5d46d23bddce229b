//! The GH200-sized system sample the ingest benchmarks publish: 72 Grace cores, memory and a
//! few filesystems (77 series), as the system collector sends them on that machine.

use exporter_protocol::system::{CpuStats, FilesystemStats, MemoryStats, SystemSample};

/// A GH200-sized sample: 72 Grace cores, memory, a few filesystems.
pub fn sample(seq: u64) -> SystemSample {
    SystemSample {
        cpu: Some(CpuStats {
            usage_percent: (seq % 100) as f64,
            per_core_percent: (0..72).map(|c| ((seq + c) % 100) as f64).collect(),
            logical_cores: 72,
            physical_cores: Some(72),
            brand: None,
        }),
        memory: Some(MemoryStats {
            total_bytes: 480 << 30,
            used_bytes: seq << 20,
            available_bytes: (480 << 30) - (seq << 20),
            free_bytes: 0,
            used_percent: 1.0,
            swap_total_bytes: 0,
            swap_used_bytes: 0,
            swap_free_bytes: 0,
        }),
        filesystems: Some(
            ["/", "/data", "/scratch"]
                .iter()
                .map(|mount| FilesystemStats {
                    mount_point: (*mount).to_owned(),
                    device: "nvme0n1".into(),
                    fs_type: "ext4".into(),
                    total_bytes: 1 << 40,
                    used_bytes: seq,
                    available_bytes: (1 << 40) - seq,
                    used_percent: 0.0,
                })
                .collect(),
        ),
        ..Default::default()
    }
}
