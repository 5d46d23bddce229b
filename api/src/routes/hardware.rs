//! `GET /metrics/hardware`: the latest hardware sample of every host (GPUs through NVML, or why
//! NVML is unavailable; board power rails and temperatures), with the host's GPU inventory and
//! its most recent XID error.

use axum::Json;
use axum::extract::State;
use exporter_protocol::hardware::{
    EVENT_KIND, GpuInventory, HardwareSample, INVENTORY_KIND, KIND, XidEvent,
};
use serde::Serialize;
use utoipa::ToSchema;

use super::metrics::{HostParam, HostSample, latest_typed};
use crate::extract::AppQuery;
use crate::{ApiError, AppState};

/// One host's hardware.
#[derive(Debug, Serialize, ToSchema)]
pub struct HostHardware {
    #[serde(flatten)]
    pub latest: HostSample<HardwareSample>,
    /// Identity of every GPU, as last reported (sent at start and on change).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub inventory: Option<GpuInventory>,
    /// The most recent critical XID error, if any was ever reported.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_xid_event: Option<XidEvent>,
}

/// `GET /metrics/hardware` answer.
#[derive(Debug, Serialize, ToSchema)]
pub struct HardwareMetrics {
    pub hosts: Vec<HostHardware>,
}

#[utoipa::path(
    get,
    path = "/metrics/hardware", operation_id = "hardware_metrics",
    tag = "metrics",
    params(HostParam),
    responses(
        (status = 200, body = HardwareMetrics),
        (status = 400, body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 401, body = crate::error::Problem, content_type = "application/problem+json"),
        (status = 404, description = "No sample from that host", body = crate::error::Problem, content_type = "application/problem+json"),
    )
)]
pub async fn hardware(
    State(state): State<AppState>,
    AppQuery(HostParam { host }): AppQuery<HostParam>,
) -> Result<Json<HardwareMetrics>, ApiError> {
    let samples = latest_typed::<HardwareSample>(&state, host.clone(), KIND).await?;
    let inventories = latest_typed::<GpuInventory>(&state, None, INVENTORY_KIND).await?;
    let events = latest_typed::<XidEvent>(&state, None, EVENT_KIND).await?;
    let hosts = samples
        .into_iter()
        .map(|latest| HostHardware {
            inventory: inventories
                .iter()
                .find(|i| i.host == latest.host)
                .map(|i| i.sample.clone()),
            last_xid_event: events
                .iter()
                .find(|e| e.host == latest.host)
                .map(|e| e.sample.clone()),
            latest,
        })
        .collect();
    Ok(Json(HardwareMetrics { hosts }))
}
