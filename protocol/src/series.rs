//! How a sample becomes numeric time series: a name, a label set and a value.
//!
//! Each payload type lists its own points, so the aggregator and the history endpoint stay
//! generic: `cpu.usage_percent{core="3"}` is stored once in the series dictionary and then only
//! as `(time, series_id, value)`.

use std::collections::BTreeMap;

use serde::Serialize;

/// Labels of a series, sorted so the same set always serialises the same way.
pub type Labels = BTreeMap<String, String>;

/// One numeric value of one series at the sample's time.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesPoint {
    pub name: &'static str,
    pub labels: Labels,
    pub value: f64,
}

impl SeriesPoint {
    /// A point without labels.
    pub fn plain(name: &'static str, value: f64) -> Self {
        Self {
            name,
            labels: Labels::new(),
            value,
        }
    }

    /// A point with one label.
    pub fn labelled(name: &'static str, key: &str, label: &str, value: f64) -> Self {
        let mut labels = Labels::new();
        labels.insert(key.to_owned(), label.to_owned());
        Self {
            name,
            labels,
            value,
        }
    }
}

/// A payload that knows its numeric series.
pub trait HasSeries {
    /// Every finite numeric value in the payload, as points. Non-finite values are left out.
    fn series(&self) -> Vec<SeriesPoint>;
}

/// Whether a series goes up and down (a gauge) or only up, resetting to zero when its source
/// restarts (a counter: rates and increases make sense, averages do not).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SeriesType {
    Gauge,
    Counter,
    /// A distribution, flattened as Prometheus does: `<name>_bucket{le="…"}` (cumulative
    /// counts, `le="+Inf"` last), `<name>_sum` and `<name>_count`, all counters. The catalogue
    /// declares `<name>` once; [`describe`] finds it from any of the three.
    Histogram,
}

/// The unit of a series' values, as flattened (before any conversion for an exposition).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Unit {
    /// A plain number (a load average, a performance state, an event code).
    None,
    /// 1 for yes/up, 0 for no/down.
    Boolean,
    /// How many of something.
    Count,
    /// 0–100.
    Percent,
    Bytes,
    BytesPerSecond,
    Seconds,
    Celsius,
    Watts,
    Joules,
    Megahertz,
    /// Money in the account's currency.
    Currency,
}

/// What one numeric series is: its name, whether it is a gauge or a counter, its unit and a
/// one-line description. Declared next to the code that flattens it (with
/// [`series_catalogue!`](crate::series_catalogue)), so roll-ups, rates and expositions read
/// it instead of guessing from names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct SeriesDef {
    pub name: &'static str,
    #[serde(rename = "type")]
    pub kind: SeriesType,
    pub unit: Unit,
    pub help: &'static str,
}

impl SeriesDef {
    /// A point of this series with `labels`.
    pub fn point(&'static self, labels: Labels, value: f64) -> SeriesPoint {
        SeriesPoint {
            name: self.name,
            labels,
            value,
        }
    }

    /// A point of this series without labels.
    pub fn plain(&'static self, value: f64) -> SeriesPoint {
        self.point(Labels::new(), value)
    }

    /// A point of this series with one label.
    pub fn labelled(&'static self, key: &str, label: &str, value: f64) -> SeriesPoint {
        SeriesPoint::labelled(self.name, key, label, value)
    }

    pub fn is_counter(&self) -> bool {
        self.kind == SeriesType::Counter
    }

    /// The Prometheus metric family of this series (the naming contract of docs/metrics.md):
    /// `gh200_` + the name with `.` as `_`, percent as a 0–1 `_ratio` and MHz as `_hertz`
    /// (see [`Self::prometheus_value`]); every other name unchanged, except a gauge named
    /// like a histogram's parts, which Prometheus reserves ([`RESERVED_SUFFIX_RENAMES`]).
    /// Counters keep their `_total`, as the text format 0.0.4 wants; OpenMetrics strips it
    /// from the family.
    pub fn prometheus_family(&self) -> String {
        if let Some((_, family)) = RESERVED_SUFFIX_RENAMES
            .iter()
            .find(|(name, _)| *name == self.name)
        {
            return (*family).to_owned();
        }
        let name = match self.unit {
            Unit::Percent => self
                .name
                .strip_suffix("_percent")
                .map(|n| format!("{n}_ratio")),
            Unit::Megahertz => self.name.strip_suffix("_mhz").map(|n| format!("{n}_hertz")),
            _ => None,
        }
        .unwrap_or_else(|| self.name.to_owned());
        format!("gh200_{}", name.replace('.', "_"))
    }

    /// A flattened value in the exposition's base unit: percent / 100, MHz × 10⁶.
    pub fn prometheus_value(&self, value: f64) -> f64 {
        match self.unit {
            Unit::Percent => value / 100.0,
            Unit::Megahertz => value * 1e6,
            _ => value,
        }
    }

    /// `gauge`, `counter` or `histogram`, as `# TYPE` writes it.
    pub fn prometheus_type(&self) -> &'static str {
        match self.kind {
            SeriesType::Gauge => "gauge",
            SeriesType::Counter => "counter",
            SeriesType::Histogram => "histogram",
        }
    }

    /// The base unit OpenMetrics' `# UNIT` names, when the family ends with it.
    pub fn prometheus_unit(&self) -> Option<&'static str> {
        let unit = match self.unit {
            Unit::Percent => "ratio",
            Unit::Bytes => "bytes",
            Unit::Seconds => "seconds",
            Unit::Celsius => "celsius",
            Unit::Watts => "watts",
            Unit::Joules => "joules",
            Unit::Megahertz => "hertz",
            _ => return None,
        };
        let family = self.prometheus_family();
        let family = family.strip_suffix("_total").unwrap_or(&family);
        family.ends_with(&format!("_{unit}")).then_some(unit)
    }

    /// True when the series is money: its family gets a `currency` label.
    pub fn is_currency(&self) -> bool {
        self.unit == Unit::Currency
    }
}

/// Series whose name ends in `_count`, `_sum` or `_bucket` without being a histogram: Prometheus
/// reserves those suffixes (`promtool check metrics` refuses them), so their families are named
/// here. A unit test keeps new series from needing an entry unnoticed.
pub const RESERVED_SUFFIX_RENAMES: &[(&str, &str)] = &[
    ("gpu.count", "gh200_gpus"),
    ("host.process_count", "gh200_host_processes"),
];

/// Declares a module's series: one `pub const NAME: SeriesDef` each, and `pub const SERIES`
/// listing them all (the module's catalogue, gathered by [`describe`]).
///
/// ```
/// mod payload {
///     exporter_protocol::series_catalogue! {
///         CPU_USAGE = gauge("cpu.usage_percent", Percent, "CPU time busy across all cores");
///         RX_ERRORS = counter("network.rx_errors_total", Count, "Receive errors since boot");
///     }
/// }
/// assert_eq!(payload::SERIES.len(), 2);
/// assert!(payload::RX_ERRORS.is_counter());
/// ```
#[macro_export]
macro_rules! series_catalogue {
    ($($const_name:ident = $kind:ident($name:literal, $unit:ident, $help:literal);)+) => {
        $(
            #[doc = $help]
            pub const $const_name: $crate::series::SeriesDef = $crate::series::SeriesDef {
                name: $name,
                kind: $crate::series_catalogue!(@kind $kind),
                unit: $crate::series::Unit::$unit,
                help: $help,
            };
        )+
        /// Every series this module flattens.
        pub const SERIES: &[$crate::series::SeriesDef] = &[$($const_name),+];
    };
    (@kind gauge) => { $crate::series::SeriesType::Gauge };
    (@kind counter) => { $crate::series::SeriesType::Counter };
    (@kind histogram) => { $crate::series::SeriesType::Histogram };
}

/// What the series called `name` is, if this build flattens it.
pub fn describe(name: &str) -> Option<&'static SeriesDef> {
    let histogram = ["_bucket", "_sum", "_count"]
        .iter()
        .find_map(|suffix| name.strip_suffix(suffix));
    all().find(|def| {
        def.name == name || (def.kind == SeriesType::Histogram && Some(def.name) == histogram)
    })
}

/// Every series this build flattens.
pub fn all() -> impl Iterator<Item = &'static SeriesDef> {
    crate::kinds::CATALOGUES
        .iter()
        .flat_map(|catalogue| catalogue.iter())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_catalogue_names_each_series_once_and_counters_end_in_total() {
        let mut names = std::collections::BTreeSet::new();
        for def in all() {
            assert!(names.insert(def.name), "{} declared twice", def.name);
            assert!(!def.help.is_empty(), "{} has no help", def.name);
            if def.kind == SeriesType::Histogram {
                assert!(!def.name.ends_with("_total"), "{}", def.name);
                continue;
            }
            assert_eq!(
                def.is_counter(),
                def.name.ends_with("_total"),
                "{}: counters, and only counters, end in _total",
                def.name
            );
        }
        assert_eq!(
            describe("gpu.energy_joules_total").map(|d| (d.kind, d.unit)),
            Some((SeriesType::Counter, Unit::Joules))
        );
        assert_eq!(
            describe("memory.total_bytes").map(|d| d.unit),
            Some(Unit::Bytes)
        );
        assert!(describe("no.such_series").is_none());
    }

    fn family(name: &str) -> String {
        describe(name).unwrap().prometheus_family()
    }

    #[test]
    fn prometheus_families_follow_the_naming_contract() {
        assert_eq!(family("cpu.usage_percent"), "gh200_cpu_usage_ratio");
        assert_eq!(family("memory.used_percent"), "gh200_memory_used_ratio");
        assert_eq!(
            family("filesystem.used_percent"),
            "gh200_filesystem_used_ratio"
        );
        assert_eq!(
            family("gpu.utilization_percent"),
            "gh200_gpu_utilization_ratio"
        );
        assert_eq!(
            family("pressure.avg10_percent"),
            "gh200_pressure_avg10_ratio"
        );
        assert_eq!(family("gpu.sm_clock_mhz"), "gh200_gpu_sm_clock_hertz");
        assert_eq!(family("memory.total_bytes"), "gh200_memory_total_bytes");
        assert_eq!(
            family("gpu.temperature_celsius"),
            "gh200_gpu_temperature_celsius"
        );
        assert_eq!(
            family("gpu.energy_joules_total"),
            "gh200_gpu_energy_joules_total"
        );
        assert_eq!(family("load.one"), "gh200_load_one");
        assert_eq!(family("process.up"), "gh200_process_up");
        assert_eq!(family("gpu.xid"), "gh200_gpu_xid");
        assert_eq!(family("gpu.count"), "gh200_gpus");
        assert_eq!(family("host.process_count"), "gh200_host_processes");
        assert_eq!(family("portfolio.equity"), "gh200_portfolio_equity");
        assert_eq!(
            family("trading.realized_pnl_today"),
            "gh200_trading_realized_pnl_today"
        );
        assert!(describe("portfolio.equity").unwrap().is_currency());
    }

    #[test]
    fn prometheus_values_are_in_base_units() {
        let percent = describe("cpu.usage_percent").unwrap();
        assert_eq!(percent.prometheus_value(42.0), 0.42);
        assert_eq!(percent.prometheus_unit(), Some("ratio"));
        let clock = describe("gpu.sm_clock_mhz").unwrap();
        assert_eq!(clock.prometheus_value(1980.0), 1.98e9);
        assert_eq!(clock.prometheus_unit(), Some("hertz"));
        let bytes = describe("memory.total_bytes").unwrap();
        assert_eq!(bytes.prometheus_value(1024.0), 1024.0);
        assert_eq!(bytes.prometheus_type(), "gauge");
        let energy = describe("gpu.energy_joules_total").unwrap();
        assert_eq!(
            (energy.prometheus_type(), energy.prometheus_unit()),
            ("counter", Some("joules"))
        );
        assert_eq!(describe("load.one").unwrap().prometheus_unit(), None);
    }

    #[test]
    fn every_family_is_a_valid_prometheus_name_and_no_two_series_share_one() {
        let mut families = std::collections::BTreeSet::new();
        let mut openmetrics_families = std::collections::BTreeSet::new();
        for def in all() {
            let family = def.prometheus_family();
            assert!(
                family
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_'),
                "{family}"
            );
            assert!(families.insert(family.clone()), "{family} twice");
            // OpenMetrics names a counter's family without `_total`: no gauge may be called
            // that.
            let openmetrics = match def.kind {
                SeriesType::Counter => family.trim_end_matches("_total").to_owned(),
                _ => family.clone(),
            };
            assert!(
                openmetrics_families.insert(openmetrics.clone()),
                "{openmetrics} twice in OpenMetrics"
            );
            if def.kind != SeriesType::Histogram {
                for reserved in ["_count", "_sum", "_bucket"] {
                    assert!(
                        !family.ends_with(reserved),
                        "{family}: {reserved} is reserved for histograms; add {} to RESERVED_SUFFIX_RENAMES",
                        def.name
                    );
                }
            }
        }
    }

    /// docs/metrics.md's table lists every catalogued series with the family, type and unit
    /// this build exports, and nothing else.
    #[test]
    fn the_docs_table_matches_the_catalogue() {
        let docs = include_str!("../../docs/metrics.md");
        let (_, families) = docs.split_once("## Families").unwrap();
        let documented: Vec<Vec<String>> = families
            .lines()
            .filter(|line| line.starts_with("| `"))
            .map(|line| {
                line.trim_matches('|')
                    .split('|')
                    .map(|cell| cell.trim().trim_matches('`').to_owned())
                    .collect()
            })
            .collect();
        let mut expected: Vec<String> = all()
            .map(|def| {
                format!(
                    "| `{}` | `{}` | {} | {} |",
                    def.name,
                    def.prometheus_family(),
                    def.prometheus_type(),
                    unit_word(def)
                )
            })
            .collect();
        expected.sort();
        let mut actual: Vec<String> = documented
            .iter()
            .map(|cells| {
                format!(
                    "| `{}` | `{}` | {} | {} |",
                    cells[0], cells[1], cells[2], cells[3]
                )
            })
            .collect();
        actual.sort();
        assert_eq!(
            actual,
            expected,
            "docs/metrics.md's table has drifted; the rows should be (labels column aside):\n{}",
            expected.join("\n")
        );
        for cells in &documented {
            assert!(
                cells.len() >= 5 && cells[4].starts_with("host"),
                "{cells:?}"
            );
        }
    }

    /// The unit as exported (after the conversion of [`SeriesDef::prometheus_value`]).
    fn unit_word(def: &SeriesDef) -> String {
        match def.unit {
            Unit::Percent => "ratio".to_owned(),
            Unit::Megahertz => "hertz".to_owned(),
            unit => serde_json::to_value(unit)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
        }
    }
}
