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
}

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
}
