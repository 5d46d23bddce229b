//! Board sensors from sysfs: hwmon power and temperature sensors and the thermal zones, read
//! under a configurable root so tests can point it at a fixture tree.
//!
//! On a GH200 the Grace power rails are ACPI power meters (`acpi_power_meter`, kernel doc
//! `Documentation/hwmon/acpi_power_meter.rst`): their files sit in `hwmonN/device/`, the rail's
//! name in `power1_oem_info` (`Module Power Socket 0`, `Grace Power Socket 0`, ...), the power in
//! `power1_average` (microwatts) averaged over `power1_average_interval` (milliseconds). Other
//! chips use `powerN_input` with `powerN_label`. Temperatures are `tempN_input` in millidegrees
//! Celsius. No energy counter exists, so energy is integrated from the readings.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use exporter_protocol::hardware::{PowerSensor, TemperatureSensor};

/// Reads the sensors and integrates power into energy between calls.
#[derive(Debug)]
pub struct Hwmon {
    root: PathBuf,
    /// Per rail: when it was last read, the power then, energy so far.
    energy: HashMap<String, (Instant, f64, f64)>,
}

/// One reading of every sensor.
#[derive(Debug, Default, PartialEq)]
pub struct Readings {
    pub power: Vec<PowerSensor>,
    pub temperatures: Vec<TemperatureSensor>,
}

fn read_trimmed(path: &Path) -> Option<String> {
    std::fs::read_to_string(path)
        .ok()
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
}

fn read_number(path: &Path) -> Option<f64> {
    read_trimmed(path)?.parse::<f64>().ok()
}

/// Entries of `dir` whose names start with `prefix`, sorted by their numeric suffix.
fn numbered_entries(dir: &Path, prefix: &str) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found: Vec<(u64, PathBuf)> = entries
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            let number = name.strip_prefix(prefix)?.parse().ok()?;
            Some((number, entry.path()))
        })
        .collect();
    found.sort();
    found.into_iter().map(|(_, path)| path).collect()
}

/// Sensor indices `N` for which `dir/<kind>N_<suffix>` exists.
fn sensor_indices(dir: &Path, kind: &str, suffix: &str) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut indices: Vec<u32> = entries
        .flatten()
        .filter_map(|entry| {
            let name = entry.file_name().to_string_lossy().into_owned();
            name.strip_prefix(kind)?.strip_suffix(suffix)?.parse().ok()
        })
        .collect();
    indices.sort_unstable();
    indices.dedup();
    indices
}

impl Hwmon {
    /// `root` is the sysfs mount point (`/sys` in production).
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self {
            root: root.into(),
            energy: HashMap::new(),
        }
    }

    /// Reads every sensor now.
    pub fn read(&mut self) -> Readings {
        let mut readings = Readings::default();
        for chip_dir in numbered_entries(&self.root.join("class/hwmon"), "hwmon") {
            let chip = read_trimmed(&chip_dir.join("name")).unwrap_or_else(|| {
                chip_dir
                    .file_name()
                    .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
            });
            // ACPI power meters keep their attributes under device/, others at the top.
            for dir in [chip_dir.clone(), chip_dir.join("device")] {
                self.read_power(&chip, &dir, &mut readings.power);
                read_temperatures(&chip, &dir, &mut readings.temperatures);
            }
        }
        for zone in numbered_entries(&self.root.join("class/thermal"), "thermal_zone") {
            let Some(millidegrees) = read_number(&zone.join("temp")) else {
                continue;
            };
            let kind = read_trimmed(&zone.join("type")).unwrap_or_else(|| "zone".to_owned());
            let name = zone
                .file_name()
                .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
            readings.temperatures.push(TemperatureSensor {
                label: format!("thermal {kind} ({name})"),
                celsius: millidegrees / 1000.0,
                max_celsius: None,
                critical_celsius: None,
            });
        }
        readings
    }

    fn read_power(&mut self, chip: &str, dir: &Path, out: &mut Vec<PowerSensor>) {
        let mut indices = sensor_indices(dir, "power", "_average");
        indices.extend(sensor_indices(dir, "power", "_input"));
        indices.sort_unstable();
        indices.dedup();
        for n in indices {
            let microwatts = read_number(&dir.join(format!("power{n}_input")))
                .or_else(|| read_number(&dir.join(format!("power{n}_average"))));
            let Some(microwatts) = microwatts else {
                continue;
            };
            let label = read_trimmed(&dir.join(format!("power{n}_oem_info")))
                .or_else(|| {
                    read_trimmed(&dir.join(format!("power{n}_label")))
                        .map(|label| format!("{chip} {label}"))
                })
                .unwrap_or_else(|| format!("{chip} power{n}"));
            let power_watts = microwatts / 1_000_000.0;
            let energy_joules_total = self.integrate(&label, power_watts);
            out.push(PowerSensor {
                label,
                chip: chip.to_owned(),
                power_watts,
                average_interval_ms: read_number(&dir.join(format!("power{n}_average_interval")))
                    .map(|ms| ms as u64),
                energy_joules_total,
            });
        }
    }

    /// Adds the energy since the previous reading of `label` (trapezoid rule) and returns the
    /// total since the first reading.
    fn integrate(&mut self, label: &str, watts: f64) -> f64 {
        let now = Instant::now();
        let entry = self
            .energy
            .entry(label.to_owned())
            .or_insert((now, watts, 0.0));
        let seconds = now.duration_since(entry.0).as_secs_f64();
        entry.2 += (entry.1 + watts) / 2.0 * seconds;
        entry.0 = now;
        entry.1 = watts;
        entry.2
    }
}

fn read_temperatures(chip: &str, dir: &Path, out: &mut Vec<TemperatureSensor>) {
    for n in sensor_indices(dir, "temp", "_input") {
        let Some(millidegrees) = read_number(&dir.join(format!("temp{n}_input"))) else {
            continue;
        };
        let label =
            read_trimmed(&dir.join(format!("temp{n}_label"))).unwrap_or_else(|| format!("temp{n}"));
        let celsius =
            |suffix: &str| read_number(&dir.join(format!("temp{n}_{suffix}"))).map(|m| m / 1000.0);
        out.push(TemperatureSensor {
            label: format!("{chip} {label}"),
            celsius: millidegrees / 1000.0,
            max_celsius: celsius("max"),
            critical_celsius: celsius("crit"),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures/sysfs-gh200")
    }

    #[test]
    fn reads_the_grace_power_rails_in_watts() {
        let readings = Hwmon::new(fixture()).read();
        let rails: Vec<(&str, f64)> = readings
            .power
            .iter()
            .map(|p| (p.label.as_str(), p.power_watts))
            .collect();
        assert_eq!(
            rails,
            [
                ("Module Power Socket 0", 612.345),
                ("Grace Power Socket 0", 148.5),
                ("CPU Power Socket 0", 121.25),
                ("SysIO Power Socket 0", 17.0),
            ]
        );
        let module = &readings.power[0];
        assert_eq!(module.chip, "power_meter");
        assert_eq!(module.average_interval_ms, Some(50));
        assert_eq!(
            module.energy_joules_total, 0.0,
            "no energy before a second reading"
        );
    }

    #[test]
    fn reads_temperatures_in_celsius_with_limits() {
        let readings = Hwmon::new(fixture()).read();
        let nvme = readings
            .temperatures
            .iter()
            .find(|t| t.label == "nvme Composite")
            .expect("nvme sensor");
        assert_eq!(nvme.celsius, 38.85);
        assert_eq!(nvme.max_celsius, Some(84.85));
        assert_eq!(nvme.critical_celsius, Some(89.85));
        let zone = readings
            .temperatures
            .iter()
            .find(|t| t.label.starts_with("thermal cpu-thermal"))
            .expect("thermal zone");
        assert_eq!(zone.celsius, 45.0);
        assert_eq!(
            readings.temperatures.len(),
            4,
            "{:?}",
            readings.temperatures
        );
    }

    #[test]
    fn integrates_energy_between_readings() {
        let mut hwmon = Hwmon::new(fixture());
        hwmon.read();
        std::thread::sleep(std::time::Duration::from_millis(100));
        let second = hwmon.read();
        let joules = second.power[0].energy_joules_total;
        // 612.345 W for at least 0.1 s.
        assert!((61.0..200.0).contains(&joules), "{joules}");
    }

    #[test]
    fn a_missing_tree_reads_as_no_sensors() {
        assert_eq!(Hwmon::new("/nonexistent").read(), Readings::default());
    }
}
