//! What crosses the bus, and nothing else: the envelope every message travels in, the typed
//! payloads of each collector, the subject names, and how a sample flattens into numeric series.
//!
//! Collectors serialise these types, the aggregator parses them, the API returns them: keeping
//! them in one crate is what lets a new collector be one module at each stage. [`kinds`] names
//! every collector and every source as an enum, so the compiler lists what a new one must touch.

pub mod alert;
pub mod brokerage;
pub mod calendar;
pub mod envelope;
pub mod hardware;
pub mod heartbeat;
pub mod kinds;
pub mod logs;
pub mod market;
pub mod nullable;
pub mod pressure;
pub mod self_metrics;
pub mod series;
pub mod subjects;
pub mod supervisor;
pub mod system;

pub use envelope::{Envelope, EnvelopeError, SCHEMA_VERSION};
pub use heartbeat::Heartbeat;
pub use kinds::{CollectorKind, JsonBody, SourceKind, UnknownKind, is_periodic};
pub use series::{HasSeries, Labels, SeriesPoint};
pub use subjects::Subjects;
