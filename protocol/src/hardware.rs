//! The hardware collector's payload: every GPU as NVML reports it, and the board's power and
//! temperature sensors from hwmon and the thermal zones (the GH200's Grace CPU and module rails).
//!
//! A field the driver does not support is absent (`None`), never zero. When NVML is missing the
//! sample still carries the hwmon part and says why NVML is unavailable.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::series::SeriesDef;
use crate::series::{HasSeries, Labels, SeriesPoint};

/// Collector kind name of this payload.
pub const KIND: &str = "hardware";

/// One hardware sample.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct HardwareSample {
    pub nvml: NvmlStatus,
    #[serde(default)]
    pub gpus: Vec<GpuStats>,
    #[serde(default)]
    pub power_sensors: Vec<PowerSensor>,
    #[serde(default)]
    pub temperature_sensors: Vec<TemperatureSensor>,
}

/// Whether NVML could be used.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct NvmlStatus {
    /// `ok` or `unavailable`.
    pub status: String,
    /// Why NVML is unavailable (no driver, no GPU, library missing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub driver_version: Option<String>,
    /// CUDA driver version, e.g. `12.4`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cuda_driver_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nvml_version: Option<String>,
}

/// Collector kind of the GPU inventory, published at start and whenever an identity changes
/// (not with every sample).
pub const INVENTORY_KIND: &str = "gpu_inventory";

/// Identity of every GPU of a host.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct GpuInventory {
    pub gpus: Vec<GpuIdentity>,
}

crate::series_catalogue! {
    NVML_UP = gauge("nvml.up", Boolean, "Whether NVML answered this cycle");
    GPU_COUNT = gauge("gpu.count", Count, "GPUs NVML reports");
    GPU_UTILIZATION_PERCENT = gauge("gpu.utilization_percent", Percent, "Time the GPU was busy running kernels");
    GPU_MEMORY_UTILIZATION_PERCENT = gauge("gpu.memory_utilization_percent", Percent, "Time the GPU memory was being read or written");
    GPU_ENCODER_UTILIZATION_PERCENT = gauge("gpu.encoder_utilization_percent", Percent, "Video encoder utilisation");
    GPU_DECODER_UTILIZATION_PERCENT = gauge("gpu.decoder_utilization_percent", Percent, "Video decoder utilisation");
    GPU_MEMORY_TOTAL_BYTES = gauge("gpu.memory_total_bytes", Bytes, "GPU memory installed");
    GPU_MEMORY_USED_BYTES = gauge("gpu.memory_used_bytes", Bytes, "GPU memory in use");
    GPU_MEMORY_FREE_BYTES = gauge("gpu.memory_free_bytes", Bytes, "GPU memory free");
    GPU_MEMORY_RESERVED_BYTES = gauge("gpu.memory_reserved_bytes", Bytes, "GPU memory reserved by the driver");
    GPU_BAR1_USED_BYTES = gauge("gpu.bar1_used_bytes", Bytes, "BAR1 memory in use");
    GPU_TEMPERATURE_CELSIUS = gauge("gpu.temperature_celsius", Celsius, "GPU die temperature");
    GPU_MEMORY_TEMPERATURE_CELSIUS = gauge("gpu.memory_temperature_celsius", Celsius, "GPU memory (HBM) temperature");
    GPU_POWER_WATTS = gauge("gpu.power_watts", Watts, "GPU power draw");
    GPU_POWER_LIMIT_WATTS = gauge("gpu.power_limit_watts", Watts, "GPU power limit in force");
    GPU_ENERGY_JOULES_TOTAL = counter("gpu.energy_joules_total", Joules, "GPU energy consumed since the driver loaded");
    GPU_SM_CLOCK_MHZ = gauge("gpu.sm_clock_mhz", Megahertz, "Streaming multiprocessor clock");
    GPU_MEMORY_CLOCK_MHZ = gauge("gpu.memory_clock_mhz", Megahertz, "GPU memory clock");
    GPU_GRAPHICS_CLOCK_MHZ = gauge("gpu.graphics_clock_mhz", Megahertz, "Graphics clock");
    GPU_PERFORMANCE_STATE = gauge("gpu.performance_state", None, "Performance state (0 is the fastest, 15 the slowest)");
    GPU_THROTTLED = gauge("gpu.throttled", Boolean, "Whether the GPU clocks are held back for a reason other than idling");
    GPU_ECC_CORRECTED_VOLATILE_TOTAL = counter("gpu.ecc_corrected_volatile_total", Count, "Corrected ECC errors since the driver loaded");
    GPU_ECC_UNCORRECTED_VOLATILE_TOTAL = counter("gpu.ecc_uncorrected_volatile_total", Count, "Uncorrected ECC errors since the driver loaded");
    GPU_ECC_CORRECTED_AGGREGATE_TOTAL = counter("gpu.ecc_corrected_aggregate_total", Count, "Corrected ECC errors over the GPU lifetime");
    GPU_ECC_UNCORRECTED_AGGREGATE_TOTAL = counter("gpu.ecc_uncorrected_aggregate_total", Count, "Uncorrected ECC errors over the GPU lifetime");
    GPU_RETIRED_PAGES_TOTAL = counter("gpu.retired_pages_total", Count, "Memory pages retired");
    GPU_REMAPPED_ROWS_CORRECTABLE = gauge("gpu.remapped_rows_correctable", Count, "Memory rows remapped for correctable errors");
    GPU_REMAPPED_ROWS_UNCORRECTABLE = gauge("gpu.remapped_rows_uncorrectable", Count, "Memory rows remapped for uncorrectable errors");
    GPU_REMAPPED_ROWS_PENDING = gauge("gpu.remapped_rows_pending", Boolean, "Whether a row remapping waits for a GPU reset");
    GPU_PCIE_REPLAY_TOTAL = counter("gpu.pcie_replay_total", Count, "PCIe replays");
    GPU_PCIE_RX_BYTES_PER_SECOND = gauge("gpu.pcie_rx_bytes_per_second", BytesPerSecond, "PCIe bytes received per second");
    GPU_PCIE_TX_BYTES_PER_SECOND = gauge("gpu.pcie_tx_bytes_per_second", BytesPerSecond, "PCIe bytes sent per second");
    GPU_NVLINK_ACTIVE_LINKS = gauge("gpu.nvlink_active_links", Count, "NVLink links up");
    GPU_C2C_LINK_UP = gauge("gpu.c2c_link_up", Boolean, "Whether the NVLink-C2C link to the Grace CPU is up");
    GPU_XID = gauge("gpu.xid", None, "The code of an XID error event");
    HWMON_POWER_WATTS = gauge("hwmon.power_watts", Watts, "Power of a hwmon sensor (GH200 module, Grace, CPU, SysIO rails)");
    HWMON_ENERGY_JOULES_TOTAL = counter("hwmon.energy_joules_total", Joules, "Energy of a hwmon sensor, integrated from its power");
    HWMON_TEMPERATURE_CELSIUS = gauge("hwmon.temperature_celsius", Celsius, "Temperature of a hwmon sensor");
}

impl HasSeries for GpuInventory {
    fn series(&self) -> Vec<SeriesPoint> {
        vec![GPU_COUNT.plain(self.gpus.len() as f64)]
    }
}

/// What identifies a GPU; changes only with hardware or driver changes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct GpuIdentity {
    pub index: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uuid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pci_bus_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vbios_version: Option<String>,
}

/// One GPU's readings. Every field is optional: absent means unsupported by this GPU/driver.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct GpuStats {
    pub index: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uuid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub utilization_percent: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_utilization_percent: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoder_utilization_percent: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decoder_utilization_percent: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_total_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_used_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_free_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_reserved_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bar1_used_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bar1_total_bytes: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub temperature_celsius: Option<f64>,
    /// HBM temperature, where the device reports it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_temperature_celsius: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub slowdown_temperature_celsius: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shutdown_temperature_celsius: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub power_watts: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub power_limit_watts: Option<f64>,
    /// Energy since the driver was loaded (a counter).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub energy_joules_total: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sm_clock_mhz: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sm_clock_max_mhz: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_clock_mhz: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_clock_max_mhz: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub graphics_clock_mhz: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub graphics_clock_max_mhz: Option<u32>,
    /// P-state, 0 (maximum performance) to 15; absent when unknown.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub performance_state: Option<u32>,
    /// Why clocks are held down now, decoded (`sw_power_cap`, `hw_thermal_slowdown`, ...);
    /// empty when nothing holds them down, absent when unsupported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub throttle_reasons: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ecc_corrected_volatile_total: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ecc_uncorrected_volatile_total: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ecc_corrected_aggregate_total: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ecc_uncorrected_aggregate_total: Option<u64>,
    /// Retired pages (pre-Ampere GPUs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retired_pages_total: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retired_pages_pending: Option<bool>,
    /// Row remapping (Ampere and later, Hopper included).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remapped_rows_correctable: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remapped_rows_uncorrectable: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remapped_rows_pending: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remapped_rows_failure: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pcie_replay_total: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pcie_link_generation: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pcie_link_width: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pcie_tx_bytes_per_second: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pcie_rx_bytes_per_second: Option<f64>,
    /// Active NVLink links (of those the device has), where present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nvlink_active_links: Option<u32>,
    /// NVLink-C2C (the GH200's CPU-GPU link): number of links, where present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub c2c_link_count: Option<u32>,
    /// NVLink-C2C link status as NVML reports it (true: up).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub c2c_link_up: Option<bool>,
    /// Processes holding GPU memory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub processes: Option<Vec<GpuProcess>>,
}

/// A process using a GPU.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct GpuProcess {
    pub pid: u32,
    /// From the host's process table; absent if the process is in another PID namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub used_memory_bytes: Option<u64>,
}

/// Collector kind of XID events, published one message per event as they happen.
pub const EVENT_KIND: &str = "gpu_event";

/// A critical XID error event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct XidEvent {
    pub time: DateTime<Utc>,
    pub gpu_index: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gpu_uuid: Option<String>,
    pub xid: u64,
    /// What NVIDIA documents the code to mean, for the common codes.
    pub meaning: String,
}

/// A power rail from hwmon (ACPI power meters on Grace: module, Grace, CPU, SysIO).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PowerSensor {
    /// Rail name (`Module Power Socket 0`) or `<chip> <label>`.
    pub label: String,
    /// hwmon chip name (`acpi_power_meter`, ...).
    pub chip: String,
    pub power_watts: f64,
    /// Averaging interval of the meter, when it reports one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub average_interval_ms: Option<u64>,
    /// Energy integrated from the power readings since the collector started.
    pub energy_joules_total: f64,
}

/// A temperature sensor from hwmon or a thermal zone.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TemperatureSensor {
    /// `<chip> <label>` for hwmon, `thermal <type>` for thermal zones.
    pub label: String,
    pub celsius: f64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_celsius: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub critical_celsius: Option<f64>,
}

impl HasSeries for XidEvent {
    fn series(&self) -> Vec<SeriesPoint> {
        vec![GPU_XID.labelled("gpu", &self.gpu_index.to_string(), self.xid as f64)]
    }
}

fn gpu_labels(gpu: &GpuStats) -> Labels {
    let mut labels = Labels::from([("gpu".to_owned(), gpu.index.to_string())]);
    if let Some(uuid) = &gpu.uuid {
        labels.insert("uuid".to_owned(), uuid.clone());
    }
    labels
}

impl HasSeries for HardwareSample {
    fn series(&self) -> Vec<SeriesPoint> {
        let mut points = Vec::new();
        let mut push = |def: &'static SeriesDef, labels: &Labels, value: Option<f64>| {
            if let Some(value) = value.filter(|v| v.is_finite()) {
                points.push(def.point(labels.clone(), value));
            }
        };
        let nvml_up = Some(if self.nvml.status == "ok" { 1.0 } else { 0.0 });
        push(&NVML_UP, &Labels::new(), nvml_up);
        let f = |v: Option<u64>| v.map(|v| v as f64);
        let c = |v: Option<u32>| v.map(f64::from);
        let b = |v: Option<bool>| v.map(|v| if v { 1.0 } else { 0.0 });
        for gpu in &self.gpus {
            let l = gpu_labels(gpu);
            push(&GPU_UTILIZATION_PERCENT, &l, gpu.utilization_percent);
            push(
                &GPU_MEMORY_UTILIZATION_PERCENT,
                &l,
                gpu.memory_utilization_percent,
            );
            push(
                &GPU_ENCODER_UTILIZATION_PERCENT,
                &l,
                gpu.encoder_utilization_percent,
            );
            push(
                &GPU_DECODER_UTILIZATION_PERCENT,
                &l,
                gpu.decoder_utilization_percent,
            );
            push(&GPU_MEMORY_TOTAL_BYTES, &l, f(gpu.memory_total_bytes));
            push(&GPU_MEMORY_USED_BYTES, &l, f(gpu.memory_used_bytes));
            push(&GPU_MEMORY_FREE_BYTES, &l, f(gpu.memory_free_bytes));
            push(&GPU_MEMORY_RESERVED_BYTES, &l, f(gpu.memory_reserved_bytes));
            push(&GPU_BAR1_USED_BYTES, &l, f(gpu.bar1_used_bytes));
            push(&GPU_TEMPERATURE_CELSIUS, &l, gpu.temperature_celsius);
            push(
                &GPU_MEMORY_TEMPERATURE_CELSIUS,
                &l,
                gpu.memory_temperature_celsius,
            );
            push(&GPU_POWER_WATTS, &l, gpu.power_watts);
            push(&GPU_POWER_LIMIT_WATTS, &l, gpu.power_limit_watts);
            push(&GPU_ENERGY_JOULES_TOTAL, &l, gpu.energy_joules_total);
            push(&GPU_SM_CLOCK_MHZ, &l, c(gpu.sm_clock_mhz));
            push(&GPU_MEMORY_CLOCK_MHZ, &l, c(gpu.memory_clock_mhz));
            push(&GPU_GRAPHICS_CLOCK_MHZ, &l, c(gpu.graphics_clock_mhz));
            push(&GPU_PERFORMANCE_STATE, &l, c(gpu.performance_state));
            push(
                &GPU_THROTTLED,
                &l,
                gpu.throttle_reasons.as_ref().map(|r| {
                    if r.iter().any(|r| r != "gpu_idle") {
                        1.0
                    } else {
                        0.0
                    }
                }),
            );
            push(
                &GPU_ECC_CORRECTED_VOLATILE_TOTAL,
                &l,
                f(gpu.ecc_corrected_volatile_total),
            );
            push(
                &GPU_ECC_UNCORRECTED_VOLATILE_TOTAL,
                &l,
                f(gpu.ecc_uncorrected_volatile_total),
            );
            push(
                &GPU_ECC_CORRECTED_AGGREGATE_TOTAL,
                &l,
                f(gpu.ecc_corrected_aggregate_total),
            );
            push(
                &GPU_ECC_UNCORRECTED_AGGREGATE_TOTAL,
                &l,
                f(gpu.ecc_uncorrected_aggregate_total),
            );
            push(&GPU_RETIRED_PAGES_TOTAL, &l, f(gpu.retired_pages_total));
            push(
                &GPU_REMAPPED_ROWS_CORRECTABLE,
                &l,
                f(gpu.remapped_rows_correctable),
            );
            push(
                &GPU_REMAPPED_ROWS_UNCORRECTABLE,
                &l,
                f(gpu.remapped_rows_uncorrectable),
            );
            push(&GPU_REMAPPED_ROWS_PENDING, &l, b(gpu.remapped_rows_pending));
            push(&GPU_PCIE_REPLAY_TOTAL, &l, f(gpu.pcie_replay_total));
            push(
                &GPU_PCIE_TX_BYTES_PER_SECOND,
                &l,
                gpu.pcie_tx_bytes_per_second,
            );
            push(
                &GPU_PCIE_RX_BYTES_PER_SECOND,
                &l,
                gpu.pcie_rx_bytes_per_second,
            );
            push(&GPU_C2C_LINK_UP, &l, b(gpu.c2c_link_up));
            push(&GPU_NVLINK_ACTIVE_LINKS, &l, c(gpu.nvlink_active_links));
        }
        for sensor in &self.power_sensors {
            let l = Labels::from([("sensor".to_owned(), sensor.label.clone())]);
            push(&HWMON_POWER_WATTS, &l, Some(sensor.power_watts));
            push(
                &HWMON_ENERGY_JOULES_TOTAL,
                &l,
                Some(sensor.energy_joules_total),
            );
        }
        for sensor in &self.temperature_sensors {
            let l = Labels::from([("sensor".to_owned(), sensor.label.clone())]);
            push(&HWMON_TEMPERATURE_CELSIUS, &l, Some(sensor.celsius));
        }
        points
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsupported_fields_give_no_points_and_nvml_down_is_zero() {
        let sample = HardwareSample {
            nvml: NvmlStatus {
                status: "unavailable".into(),
                reason: Some("libnvidia-ml.so not found".into()),
                ..Default::default()
            },
            gpus: vec![GpuStats {
                index: 0,
                power_watts: Some(412.5),
                ..Default::default()
            }],
            ..Default::default()
        };
        let points = sample.series();
        assert_eq!(points.len(), 2);
        assert_eq!(points[0], SeriesPoint::plain("nvml.up", 0.0));
        assert_eq!(points[1].name, "gpu.power_watts");
        assert_eq!(points[1].labels["gpu"], "0");
        let json = serde_json::to_value(&sample).unwrap();
        assert!(json["gpus"][0].get("temperature_celsius").is_none());
    }
}
