//! The GPU side through NVML (`nvml-wrapper`, which loads `libnvidia-ml.so` at run time, so this
//! builds and runs on machines without a GPU).
//!
//! Every reading goes through [`Probe::get`]: "not supported" becomes an absent field, and the
//! first time a field turns out unsupported it is remembered and logged once per GPU at start.

use std::collections::BTreeSet;

use exporter_protocol::hardware::{GpuIdentity, GpuProcess, GpuStats, NvmlStatus};
use nvml_wrapper::enum_wrappers::device::{
    Clock, EccCounter, MemoryError, PcieUtilCounter, RetirementCause, TemperatureSensor,
    TemperatureThreshold,
};
use nvml_wrapper::enums::device::UsedGpuMemory;
use nvml_wrapper::error::NvmlError;
use nvml_wrapper::structs::device::FieldId;
use nvml_wrapper::{Device, Nvml};

use super::decode;

/// NVML field ids without a dedicated wrapper call (`nvml.h`).
const FI_MEMORY_TEMP: u32 = 82;
const FI_REMAPPED_COR: u32 = 142;
const FI_REMAPPED_UNC: u32 = 143;
const FI_REMAPPED_PENDING: u32 = 144;
const FI_REMAPPED_FAILURE: u32 = 145;
const FI_C2C_LINK_COUNT: u32 = 170;
const FI_C2C_LINK_STATUS: u32 = 171;
/// `NVML_NVLINK_MAX_LINKS`.
const NVLINK_MAX_LINKS: u32 = 18;

/// Collects which fields a GPU does not support.
#[derive(Debug, Default)]
pub struct Probe {
    pub unsupported: BTreeSet<&'static str>,
}

impl Probe {
    /// The value, or `None` (remembering `field`) when NVML says it is not available.
    fn get<T>(&mut self, field: &'static str, result: Result<T, NvmlError>) -> Option<T> {
        match result {
            Ok(value) => Some(value),
            Err(_) => {
                self.unsupported.insert(field);
                None
            }
        }
    }
}

/// NVML's status line for a sample.
pub fn status(nvml: &Nvml) -> NvmlStatus {
    NvmlStatus {
        status: "ok".into(),
        reason: None,
        driver_version: nvml.sys_driver_version().ok(),
        cuda_driver_version: nvml
            .sys_cuda_driver_version()
            .ok()
            .map(|v| format!("{}.{}", v / 1000, (v % 1000) / 10)),
        nvml_version: nvml.sys_nvml_version().ok(),
    }
}

/// Identity of GPU `index`.
pub fn identity(device: &Device<'_>, index: u32) -> GpuIdentity {
    GpuIdentity {
        index,
        name: device.name().ok(),
        uuid: device.uuid().ok(),
        serial: device.serial().ok(),
        pci_bus_id: device.pci_info().ok().map(|pci| pci.bus_id),
        vbios_version: device.vbios_version().ok(),
    }
}

/// Every reading of GPU `index`.
pub fn stats(device: &Device<'_>, index: u32, probe: &mut Probe) -> GpuStats {
    let utilization = probe.get("utilization", device.utilization_rates());
    let memory = probe.get("memory", device.memory_info());
    let bar1 = probe.get("bar1_memory", device.bar1_memory_info());
    let fields = device
        .field_values_for(&[
            FieldId(FI_MEMORY_TEMP),
            FieldId(FI_REMAPPED_COR),
            FieldId(FI_REMAPPED_UNC),
            FieldId(FI_REMAPPED_PENDING),
            FieldId(FI_REMAPPED_FAILURE),
            FieldId(FI_C2C_LINK_COUNT),
            FieldId(FI_C2C_LINK_STATUS),
        ])
        .unwrap_or_default();
    let mut field = |position: usize, name: &'static str| -> Option<u64> {
        let value = fields.get(position).and_then(|sample| match sample {
            Ok(sample) => sample.value.as_ref().ok().and_then(sample_as_u64),
            Err(_) => None,
        });
        if value.is_none() {
            probe.unsupported.insert(name);
        }
        value
    };
    let memory_temperature = field(0, "memory_temperature");
    let remapped_cor = field(1, "remapped_rows");
    let remapped_unc = field(2, "remapped_rows");
    let remapped_pending = field(3, "remapped_rows");
    let remapped_failure = field(4, "remapped_rows");
    let c2c_count = field(5, "c2c_link");
    let c2c_status = field(6, "c2c_link");

    let ecc = |probe: &mut Probe, error: MemoryError, counter: EccCounter| {
        probe.get("ecc", device.total_ecc_errors(error, counter))
    };
    let retired = [
        RetirementCause::MultipleSingleBitEccErrors,
        RetirementCause::DoubleBitEccError,
    ]
    .into_iter()
    .map(|cause| device.retired_pages(cause).map(|pages| pages.len() as u64))
    .collect::<Result<Vec<u64>, _>>()
    .map(|counts| counts.iter().sum());
    let nvlink_states: Vec<bool> = (0..NVLINK_MAX_LINKS)
        .filter_map(|link| device.link_wrapper_for(link).is_active().ok())
        .collect();

    GpuStats {
        index,
        uuid: device.uuid().ok(),
        utilization_percent: utilization.as_ref().map(|u| f64::from(u.gpu)),
        memory_utilization_percent: utilization.as_ref().map(|u| f64::from(u.memory)),
        encoder_utilization_percent: probe
            .get("encoder_utilization", device.encoder_utilization())
            .map(|u| f64::from(u.utilization)),
        decoder_utilization_percent: probe
            .get("decoder_utilization", device.decoder_utilization())
            .map(|u| f64::from(u.utilization)),
        memory_total_bytes: memory.as_ref().map(|m| m.total),
        memory_used_bytes: memory.as_ref().map(|m| m.used),
        memory_free_bytes: memory.as_ref().map(|m| m.free),
        memory_reserved_bytes: memory.as_ref().map(|m| m.reserved),
        bar1_used_bytes: bar1.as_ref().map(|b| b.used),
        bar1_total_bytes: bar1.as_ref().map(|b| b.total),
        temperature_celsius: probe
            .get("temperature", device.temperature(TemperatureSensor::Gpu))
            .map(f64::from),
        memory_temperature_celsius: memory_temperature.map(|t| t as f64),
        slowdown_temperature_celsius: probe
            .get(
                "slowdown_temperature",
                device.temperature_threshold(TemperatureThreshold::Slowdown),
            )
            .map(f64::from),
        shutdown_temperature_celsius: probe
            .get(
                "shutdown_temperature",
                device.temperature_threshold(TemperatureThreshold::Shutdown),
            )
            .map(f64::from),
        power_watts: probe.get("power", device.power_usage()).map(milli_to_unit),
        power_limit_watts: probe
            .get("power_limit", device.enforced_power_limit())
            .map(milli_to_unit),
        energy_joules_total: probe
            .get("energy", device.total_energy_consumption())
            .map(|mj| mj as f64 / 1000.0),
        sm_clock_mhz: probe.get("sm_clock", device.clock_info(Clock::SM)),
        sm_clock_max_mhz: probe.get("sm_clock_max", device.max_clock_info(Clock::SM)),
        memory_clock_mhz: probe.get("memory_clock", device.clock_info(Clock::Memory)),
        memory_clock_max_mhz: probe.get("memory_clock_max", device.max_clock_info(Clock::Memory)),
        graphics_clock_mhz: probe.get("graphics_clock", device.clock_info(Clock::Graphics)),
        graphics_clock_max_mhz: probe
            .get("graphics_clock_max", device.max_clock_info(Clock::Graphics)),
        performance_state: probe
            .get("performance_state", device.performance_state())
            .map(|state| state.as_c())
            .filter(|state| *state <= 15),
        throttle_reasons: probe
            .get("throttle_reasons", device.current_throttle_reasons())
            .map(|reasons| decode::throttle_reasons(reasons.bits())),
        ecc_corrected_volatile_total: ecc(probe, MemoryError::Corrected, EccCounter::Volatile),
        ecc_uncorrected_volatile_total: ecc(probe, MemoryError::Uncorrected, EccCounter::Volatile),
        ecc_corrected_aggregate_total: ecc(probe, MemoryError::Corrected, EccCounter::Aggregate),
        ecc_uncorrected_aggregate_total: ecc(
            probe,
            MemoryError::Uncorrected,
            EccCounter::Aggregate,
        ),
        retired_pages_total: probe.get("retired_pages", retired),
        retired_pages_pending: probe.get("retired_pages", device.are_pages_pending_retired()),
        remapped_rows_correctable: remapped_cor,
        remapped_rows_uncorrectable: remapped_unc,
        remapped_rows_pending: remapped_pending.map(|v| v != 0),
        remapped_rows_failure: remapped_failure.map(|v| v != 0),
        pcie_replay_total: probe
            .get("pcie_replay", device.pcie_replay_counter())
            .map(u64::from),
        pcie_link_generation: probe.get("pcie_link", device.current_pcie_link_gen()),
        pcie_link_width: probe.get("pcie_link", device.current_pcie_link_width()),
        pcie_tx_bytes_per_second: probe
            .get(
                "pcie_throughput",
                device.pcie_throughput(PcieUtilCounter::Send),
            )
            .map(|kib| f64::from(kib) * 1024.0),
        pcie_rx_bytes_per_second: probe
            .get(
                "pcie_throughput",
                device.pcie_throughput(PcieUtilCounter::Receive),
            )
            .map(|kib| f64::from(kib) * 1024.0),
        nvlink_active_links: (!nvlink_states.is_empty())
            .then(|| nvlink_states.iter().filter(|up| **up).count() as u32),
        c2c_link_count: c2c_count.and_then(|n| u32::try_from(n).ok()),
        c2c_link_up: c2c_status.map(|s| s != 0),
        processes: probe
            .get("processes", device.running_compute_processes())
            .map(|list| {
                let mut processes: Vec<GpuProcess> = list
                    .into_iter()
                    .map(|p| GpuProcess {
                        pid: p.pid,
                        name: process_name(p.pid),
                        used_memory_bytes: match p.used_gpu_memory {
                            UsedGpuMemory::Used(bytes) => Some(bytes),
                            UsedGpuMemory::Unavailable => None,
                        },
                    })
                    .collect();
                processes.sort_by_key(|p| p.pid);
                processes
            }),
    }
}

/// NVML reports milliwatts (and millijoules): to watts (joules).
pub fn milli_to_unit(milli: u32) -> f64 {
    f64::from(milli) / 1000.0
}

fn sample_as_u64(value: &nvml_wrapper::enums::device::SampleValue) -> Option<u64> {
    use nvml_wrapper::enums::device::SampleValue;
    match *value {
        SampleValue::U32(v) => Some(u64::from(v)),
        SampleValue::U64(v) => Some(v),
        SampleValue::I64(v) => u64::try_from(v).ok(),
        SampleValue::F64(v) if v >= 0.0 && v.is_finite() => Some(v as u64),
        SampleValue::F64(_) => None,
    }
}

/// The host's name for a pid (`/proc/<pid>/comm`).
fn process_name(pid: u32) -> Option<String> {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .ok()
        .map(|name| name.trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn converts_nvml_units() {
        assert_eq!(milli_to_unit(412_345), 412.345);
        assert_eq!(milli_to_unit(0), 0.0);
    }
}
