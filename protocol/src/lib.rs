//! What crosses the bus, and nothing else: the envelope every message travels in, the typed
//! payloads of each collector, the subject names, and how a sample flattens into numeric series.
//!
//! Collectors serialise these types, the aggregator parses them, the API returns them: keeping
//! them in one crate is what lets a new collector be one module at each stage.

pub mod alert;
pub mod brokerage;
pub mod envelope;
pub mod hardware;
pub mod heartbeat;
pub mod logs;
pub mod market;
pub mod nullable;
pub mod series;
pub mod subjects;
pub mod supervisor;
pub mod system;

pub use envelope::{Envelope, EnvelopeError, SCHEMA_VERSION};
pub use heartbeat::Heartbeat;
pub use series::{HasSeries, Labels, SeriesPoint};
pub use subjects::Subjects;

/// True for sources sent on a schedule, whose age says whether their collector is alive. Events
/// (XIDs), inventories, log lines and notifications arrive only when something happens.
pub fn is_periodic(source: &str) -> bool {
    !matches!(
        source,
        hardware::EVENT_KIND | hardware::INVENTORY_KIND | logs::KIND | alert::NOTIFICATIONS_KIND
    )
}
