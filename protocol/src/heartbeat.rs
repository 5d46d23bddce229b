//! Liveness message every long-running process publishes on `exporter.v1.heartbeat.<process>.<host>`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// One heartbeat. Core NATS only (not stored): a missing heartbeat is itself the signal.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Heartbeat {
    /// Process role, e.g. `collector-system`, `aggregator`, `api`.
    pub process: String,
    pub host: String,
    pub pid: u32,
    pub version: String,
    pub started_at: DateTime<Utc>,
    pub time: DateTime<Utc>,
    /// Samples this process had to drop because its buffer was full while NATS was away.
    #[serde(default)]
    pub dropped_samples_total: u64,
    /// Samples waiting in its buffer for a JetStream ack.
    #[serde(default)]
    pub buffered_samples: u64,
}
