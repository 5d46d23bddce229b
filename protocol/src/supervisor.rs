//! What the supervisor reports about itself, its children and the tunnel: published on
//! `<prefix>.v1.status.supervisor.<host>` every heartbeat interval and written to
//! `state_dir/supervisor.json`, so `exporter status` and `/health` can show it from anywhere.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Life-cycle state of one supervised process.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProcessPhase {
    /// Spawned, no heartbeat yet.
    Starting,
    /// Heartbeating.
    Running,
    /// Exited; waiting out the backoff before the next start.
    Restarting,
    /// Crash loop detected: not restarted until the hold period ends.
    Held,
    /// Stopped by the supervisor.
    Stopped,
}

/// One supervised process.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ProcessReport {
    pub name: String,
    pub phase: ProcessPhase,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<DateTime<Utc>>,
    pub restarts: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_exit: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_heartbeat: Option<DateTime<Utc>>,
    /// Until when a held process is held back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held_until: Option<DateTime<Utc>>,
}

/// State of the ngrok tunnel.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct TunnelReport {
    /// `off` (no auth token), `connecting`, `up` or `down`.
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Why it is down or off.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<DateTime<Utc>>,
}

/// The whole report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SupervisorReport {
    pub host: String,
    pub pid: u32,
    pub started_at: DateTime<Utc>,
    pub time: DateTime<Utc>,
    pub processes: Vec<ProcessReport>,
    pub tunnel: TunnelReport,
}
