//! Payload of the `pressure` collector: Linux pressure stall information (PSI, the kernel's
//! `/proc/pressure/{cpu,memory,io}`), the share of time tasks waited for a resource. A trading
//! engine that misses fills while the host is fine by CPU percentage is often stalled on memory
//! reclaim or I/O: PSI says so directly.
//!
//! It is also the worked example of "Adding a collector" in `docs/architecture.md`: a periodic
//! collector with no table of its own is this file, its module in `exporter-collectors` and its
//! settings section.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::series::{HasSeries, Labels, SeriesPoint};

/// One sample: each resource the kernel reports (absent when PSI is off or unsupported).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PressureSample {
    pub cpu: Option<ResourcePressure>,
    pub memory: Option<ResourcePressure>,
    pub io: Option<ResourcePressure>,
}

/// The two lines of one `/proc/pressure/<resource>` file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ResourcePressure {
    /// Some task waited.
    pub some: StallShare,
    /// Every non-idle task waited at once (absent for `cpu` on older kernels).
    pub full: Option<StallShare>,
}

/// Averages over 10 s, 60 s and 300 s, and the total stall time since boot.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct StallShare {
    pub avg10_percent: f64,
    pub avg60_percent: f64,
    pub avg300_percent: f64,
    pub stalled_seconds_total: f64,
}

crate::series_catalogue! {
    PRESSURE_AVG10 = gauge("pressure.avg10_percent", Percent, "Share of the last 10 s that tasks stalled on a resource");
    PRESSURE_AVG60 = gauge("pressure.avg60_percent", Percent, "Share of the last 60 s that tasks stalled on a resource");
    PRESSURE_AVG300 = gauge("pressure.avg300_percent", Percent, "Share of the last 300 s that tasks stalled on a resource");
    PRESSURE_STALLED = counter("pressure.stalled_seconds_total", Seconds, "Time tasks stalled on a resource since boot");
}

impl HasSeries for PressureSample {
    /// Labelled `resource` (cpu, memory, io) and `scope` (some, full).
    fn series(&self) -> Vec<SeriesPoint> {
        let mut points = Vec::new();
        let resources = [
            ("cpu", &self.cpu),
            ("memory", &self.memory),
            ("io", &self.io),
        ];
        for (resource, pressure) in resources {
            let Some(pressure) = pressure else { continue };
            let scopes = [("some", Some(pressure.some)), ("full", pressure.full)];
            for (scope, share) in scopes {
                let Some(share) = share else { continue };
                let labels = Labels::from([
                    ("resource".to_owned(), resource.to_owned()),
                    ("scope".to_owned(), scope.to_owned()),
                ]);
                let values = [
                    (&PRESSURE_AVG10, share.avg10_percent),
                    (&PRESSURE_AVG60, share.avg60_percent),
                    (&PRESSURE_AVG300, share.avg300_percent),
                    (&PRESSURE_STALLED, share.stalled_seconds_total),
                ];
                for (def, value) in values {
                    if value.is_finite() {
                        points.push(def.point(labels.clone(), value));
                    }
                }
            }
        }
        points
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_resource_and_scope_is_a_labelled_series() {
        let share = StallShare {
            avg10_percent: 1.5,
            avg60_percent: 0.5,
            avg300_percent: 0.25,
            stalled_seconds_total: 12.0,
        };
        let sample = PressureSample {
            cpu: Some(ResourcePressure {
                some: share,
                full: None,
            }),
            memory: None,
            io: Some(ResourcePressure {
                some: share,
                full: Some(share),
            }),
        };
        let points = sample.series();
        assert_eq!(points.len(), 12);
        let io_full = points
            .iter()
            .find(|p| p.name == "pressure.stalled_seconds_total" && p.labels["scope"] == "full")
            .unwrap();
        assert_eq!(io_full.labels["resource"], "io");
        assert_eq!(io_full.value, 12.0);
    }
}
