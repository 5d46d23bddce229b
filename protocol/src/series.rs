//! How a sample becomes numeric time series: a name, a label set and a value.
//!
//! Each payload type lists its own points, so the aggregator and the history endpoint stay
//! generic: `cpu.usage_percent{core="3"}` is stored once in the series dictionary and then only
//! as `(time, series_id, value)`.

use std::collections::BTreeMap;

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
