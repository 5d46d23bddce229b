//! `exporter-collector hardware`: every GPU through NVML, and the board's power rails and
//! temperatures through hwmon and the thermal zones, one sample per interval; critical XID
//! errors are published as `gpu_event` messages the moment NVML reports them.
//!
//! Without NVML (no driver, no GPU, a container without the library) the collector keeps
//! running: its samples say `nvml: unavailable` with the reason and still carry the hwmon part,
//! and NVML is retried every `nvml_retry_seconds`, logged once rather than every time.

pub mod decode;
pub mod hwmon;
mod nvml;

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use chrono::Utc;
use exporter_protocol::SourceKind;
use exporter_protocol::hardware::{GpuInventory, HardwareSample, NvmlStatus, XidEvent};
use exporter_settings::HardwareCollectorSettings;
use nvml_wrapper::Nvml;
use nvml_wrapper::bitmasks::event::EventTypes;
use nvml_wrapper::enums::event::XidError;
use nvml_wrapper::error::NvmlError;
use tokio::sync::mpsc;

use crate::{CollectorContext, CollectorError};

/// Runs the sampling loop until shutdown.
pub async fn run(ctx: &CollectorContext) -> Result<(), CollectorError> {
    let config = &ctx.settings.collectors.hardware;
    let mut sampler = Sampler::new(config);
    let (event_tx, mut event_rx) = mpsc::channel::<XidEvent>(256);
    let stop_events = Arc::new(AtomicBool::new(false));
    let mut xid_watcher: Option<std::thread::JoinHandle<()>> = None;
    let mut ticker = crate::every(config.interval_seconds);
    tracing::info!(subject = %ctx.subject(SourceKind::Hardware), interval_seconds = config.interval_seconds, sysfs_root = %config.sysfs_root.display(), "hardware collector started");
    loop {
        tokio::select! {
            _ = ctx.shutdown.wait() => break,
            Some(event) = event_rx.recv() => {
                tracing::error!(gpu = event.gpu_index, xid = event.xid, meaning = %event.meaning, "GPU XID error");
                ctx.publish(SourceKind::GpuEvent, event);
            }
            _ = ticker.tick() => {
                let _cycle = ctx.cycle();
                let sample = tokio::task::block_in_place(|| sampler.sample());
                if sample.nvml.status == "ok" && xid_watcher.is_none() {
                    xid_watcher = Some(watch_xid_events(event_tx.clone(), stop_events.clone()));
                }
                if let Some(inventory) = sampler.take_changed_inventory() {
                    ctx.publish(SourceKind::GpuInventory, inventory);
                }
                ctx.publish(SourceKind::Hardware, sample);
            }
        }
    }
    stop_events.store(true, Ordering::Relaxed);
    if let Some(watcher) = xid_watcher {
        let _ = tokio::task::spawn_blocking(move || watcher.join()).await;
    }
    Ok(())
}

/// Keeps NVML (when it loads) and the hwmon state between samples.
#[derive(Debug)]
pub struct Sampler {
    nvml: Option<Nvml>,
    unavailable_reason: Option<String>,
    next_nvml_attempt: Instant,
    nvml_retry: Duration,
    hwmon: hwmon::Hwmon,
    last_identities: Option<Vec<exporter_protocol::hardware::GpuIdentity>>,
    changed_inventory: Option<GpuInventory>,
    unsupported_logged: bool,
}

impl Sampler {
    pub fn new(config: &HardwareCollectorSettings) -> Self {
        Self {
            nvml: None,
            unavailable_reason: None,
            next_nvml_attempt: Instant::now(),
            nvml_retry: Duration::from_secs(config.nvml_retry_seconds),
            hwmon: hwmon::Hwmon::new(&config.sysfs_root),
            last_identities: None,
            changed_inventory: None,
            unsupported_logged: false,
        }
    }

    /// The GPU inventory, once after it first appeared or changed.
    pub fn take_changed_inventory(&mut self) -> Option<GpuInventory> {
        self.changed_inventory.take()
    }

    /// Takes one sample.
    pub fn sample(&mut self) -> HardwareSample {
        self.ensure_nvml();
        let readings = self.hwmon.read();
        let mut sample = HardwareSample {
            power_sensors: readings.power,
            temperature_sensors: readings.temperatures,
            ..Default::default()
        };
        match self.read_gpus(&mut sample) {
            Ok(()) => {}
            Err(err) => self.lose_nvml(format!("NVML stopped answering: {err}")),
        }
        if self.nvml.is_none() {
            sample.nvml = NvmlStatus {
                status: "unavailable".into(),
                reason: self.unavailable_reason.clone(),
                ..Default::default()
            };
            sample.gpus.clear();
        }
        sample
    }

    fn read_gpus(&mut self, sample: &mut HardwareSample) -> Result<(), NvmlError> {
        let Some(nvml) = &self.nvml else {
            return Ok(());
        };
        sample.nvml = nvml::status(nvml);
        let count = nvml.device_count()?;
        let mut probe = nvml::Probe::default();
        let mut identities = Vec::new();
        for index in 0..count {
            let device = nvml.device_by_index(index)?;
            identities.push(nvml::identity(&device, index));
            sample.gpus.push(nvml::stats(&device, index, &mut probe));
        }
        if !self.unsupported_logged {
            self.unsupported_logged = true;
            tracing::info!(
                gpus = count,
                unsupported = ?probe.unsupported,
                "NVML loaded; fields this driver/GPU does not support are left out of samples"
            );
        }
        if self.last_identities.as_ref() != Some(&identities) {
            self.changed_inventory = Some(GpuInventory {
                gpus: identities.clone(),
            });
            self.last_identities = Some(identities);
        }
        Ok(())
    }

    fn ensure_nvml(&mut self) {
        if self.nvml.is_some() || Instant::now() < self.next_nvml_attempt {
            return;
        }
        match Nvml::init() {
            Ok(nvml) => {
                tracing::info!("NVML available");
                self.nvml = Some(nvml);
                self.unavailable_reason = None;
                self.unsupported_logged = false;
            }
            Err(err) => self.lose_nvml(unavailable_reason(&err)),
        }
    }

    fn lose_nvml(&mut self, reason: String) {
        if self.unavailable_reason.as_deref() != Some(reason.as_str()) {
            tracing::warn!(
                %reason,
                retry_in_seconds = self.nvml_retry.as_secs(),
                "NVML unavailable: GPU metrics left out, hwmon still reported"
            );
        } else {
            tracing::debug!(%reason, "NVML still unavailable");
        }
        self.nvml = None;
        self.last_identities = None;
        self.unavailable_reason = Some(reason);
        self.next_nvml_attempt = Instant::now() + self.nvml_retry;
    }
}

/// A reason a person can act on.
fn unavailable_reason(err: &NvmlError) -> String {
    match err {
        NvmlError::LibloadingError(inner) => format!(
            "libnvidia-ml.so could not be loaded ({inner}); is the NVIDIA driver installed?"
        ),
        NvmlError::DriverNotLoaded => "the NVIDIA kernel driver is not loaded".to_owned(),
        NvmlError::NoPermission => "no permission to use NVML (access to /dev/nvidia*)".to_owned(),
        other => format!("NVML init failed: {other}"),
    }
}

/// Listens for critical XID errors on every GPU in its own thread (NVML's wait blocks).
fn watch_xid_events(
    events: mpsc::Sender<XidEvent>,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let Ok(nvml) = Nvml::init() else {
            return;
        };
        let Ok(mut set) = nvml.create_event_set() else {
            return;
        };
        let count = nvml.device_count().unwrap_or(0);
        for index in 0..count {
            let Ok(device) = nvml.device_by_index(index) else {
                continue;
            };
            let supported = device
                .supported_event_types()
                .is_ok_and(|types| types.contains(EventTypes::CRITICAL_XID_ERROR));
            if !supported {
                tracing::info!(gpu = index, "XID events not supported on this GPU");
                continue;
            }
            match device.register_events(EventTypes::CRITICAL_XID_ERROR, set) {
                Ok(registered) => set = registered,
                Err(err) => {
                    tracing::warn!(gpu = index, error = %err.error, "cannot listen for XID events");
                    return;
                }
            }
        }
        while !stop.load(Ordering::Relaxed) {
            match set.wait(1000) {
                Ok(data) => {
                    let xid = match data.event_data {
                        Some(XidError::Value(xid)) => xid,
                        _ => continue,
                    };
                    let event = XidEvent {
                        time: Utc::now(),
                        gpu_index: data.device.index().unwrap_or(u32::MAX),
                        gpu_uuid: data.device.uuid().ok(),
                        xid,
                        meaning: decode::xid_meaning(xid).to_owned(),
                    };
                    if events.blocking_send(event).is_err() {
                        return;
                    }
                }
                Err(NvmlError::Timeout) => {}
                Err(err) => {
                    tracing::warn!(error = %err, "waiting for XID events failed; retrying");
                    std::thread::sleep(Duration::from_secs(5));
                }
            }
        }
    })
}
