//! Cost of one collection cycle, in CPU time: the hardware collector (NVML unavailable, hwmon
//! and thermal zones read from the checked-in GH200 sysfs fixture) next to the system collector's
//! cycle on this machine, measured in the same process and printed as a ratio.
//!
//! Run: `cargo bench -p exporter-tests --bench collection_cycle` (env `BENCH_CYCLES`, default 500).

#![allow(clippy::unwrap_used, clippy::print_stdout)]

use std::time::Duration;

use exporter_settings::{HardwareCollectorSettings, SystemCollectorSettings};
use nix::sys::resource::{UsageWho, getrusage};

/// CPU time (user + system) this process has used so far.
fn cpu_time() -> Duration {
    let usage = getrusage(UsageWho::RUSAGE_SELF).unwrap();
    let to_duration =
        |tv: nix::sys::time::TimeVal| Duration::new(tv.tv_sec() as u64, tv.tv_usec() as u32 * 1000);
    to_duration(usage.user_time()) + to_duration(usage.system_time())
}

fn measure(cycles: u32, mut cycle: impl FnMut()) -> Duration {
    cycle();
    let start = cpu_time();
    for _ in 0..cycles {
        cycle();
    }
    (cpu_time() - start) / cycles
}

fn main() {
    let cycles: u32 = exporter_tests::bench_size("BENCH_CYCLES", 500);
    let hardware_config = HardwareCollectorSettings {
        sysfs_root: exporter_tests::sysfs_fixture(),
        ..Default::default()
    };
    let mut hardware = exporter_collectors::hardware::Sampler::new(&hardware_config);
    let mut system =
        exporter_collectors::system::Sampler::new(&SystemCollectorSettings::default()).unwrap();

    let hardware_cost = measure(cycles, || {
        let sample = hardware.sample();
        assert_eq!(sample.power_sensors.len(), 4);
    });
    let system_cost = measure(cycles, || {
        let sample = system.sample();
        assert!(sample.cpu.is_some());
    });
    println!("collection cycle CPU time, mean of {cycles} cycles:");
    println!(
        "  hardware (fixture sysfs, NVML unavailable): {:>9.1} us",
        hardware_cost.as_secs_f64() * 1e6
    );
    println!(
        "  system (this machine, baseline):            {:>9.1} us",
        system_cost.as_secs_f64() * 1e6
    );
    println!(
        "  ratio hardware / system: {:.3}",
        hardware_cost.as_secs_f64() / system_cost.as_secs_f64()
    );
}
