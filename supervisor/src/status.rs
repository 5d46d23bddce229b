//! `exporter status [--json]`: each process (running/restarting/held, pid, uptime, restarts,
//! last exit, heartbeat age), each collector's data freshness, NATS and PostgreSQL reachability
//! the tunnel URL, and the disk each tier of points uses. It reads the heartbeats and supervisor reports on NATS, so it works the
//! same whether the processes run under `exporter up` or as systemd units, on this host or others.

use std::collections::BTreeMap;
use std::time::Duration;

use chrono::{DateTime, Utc};
use exporter_protocol::supervisor::{ProcessPhase, SupervisorReport, TunnelReport};
use exporter_protocol::{Heartbeat, Subjects};
use exporter_settings::Settings;
use exporter_store::Store;
use futures::StreamExt;
use serde::Serialize;

use crate::report::age_seconds;

/// The whole status.
#[derive(Debug, Serialize)]
pub struct Status {
    pub nats: Reachability,
    pub postgres: Reachability,
    pub processes: Vec<ProcessStatus>,
    pub collectors: Vec<Freshness>,
    pub tunnels: Vec<HostTunnel>,
    /// Disk per tier of points (empty when PostgreSQL is unreachable).
    pub tiers: Vec<TierDisk>,
}

/// Disk used by one tier of points (`raw`, `1m`, `1h`) and how long it is kept.
#[derive(Debug, Serialize)]
pub struct TierDisk {
    pub resolution: &'static str,
    pub used_bytes: i64,
    pub partitions: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub oldest_day: Option<chrono::NaiveDate>,
    pub retention_days: u32,
}

#[derive(Debug, Serialize)]
pub struct Reachability {
    pub reachable: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct ProcessStatus {
    pub host: String,
    pub name: String,
    /// `running`, `starting`, `restarting`, `held`, `stopped`, or `unknown` for a process seen
    /// only by its heartbeat (under systemd), or `silent` when its heartbeat stopped.
    pub state: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pid: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub uptime_seconds: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restarts: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_exit: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub heartbeat_age_seconds: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dropped_samples_total: Option<u64>,
}

#[derive(Debug, Serialize)]
pub struct Freshness {
    pub source: String,
    pub host: String,
    pub last_sample: DateTime<Utc>,
    pub age_seconds: f64,
    pub fresh: bool,
}

#[derive(Debug, Serialize)]
pub struct HostTunnel {
    pub host: String,
    #[serde(flatten)]
    pub tunnel: TunnelReport,
}

impl Status {
    /// True when both dependencies answer and no process is held back or silent.
    pub fn healthy(&self) -> bool {
        self.nats.reachable
            && self.postgres.reachable
            && self
                .processes
                .iter()
                .all(|p| p.state != "held" && p.state != "silent")
    }
}

/// Gathers the status; listens on NATS for a little more than one heartbeat interval.
pub async fn collect(settings: &Settings) -> Status {
    let interval = Duration::from_secs(settings.collectors.heartbeat_interval_seconds);
    let (nats, heartbeats, reports) =
        listen(settings, interval + Duration::from_millis(1500)).await;
    let (postgres, freshness, tier_disk) = freshness(settings).await;
    let tiers = exporter_store::Tiers::from(&settings.aggregator.retention);
    let mut reports = reports;
    if reports.is_empty() {
        // NATS unreachable or no report yet: a local supervisor's last written report.
        if let Ok(bytes) = std::fs::read(settings.state_dir.join("supervisor.json"))
            && let Ok(report) = serde_json::from_slice::<SupervisorReport>(&bytes)
            // A report older than three heartbeats is from a supervisor that is gone.
            && age_seconds(report.time) < interval.as_secs_f64() * 3.0
        {
            reports.insert(report.host.clone(), report);
        }
    }
    let stale_after = interval.as_secs_f64() * 3.0;
    let mut processes = Vec::new();
    for report in reports.values() {
        for p in &report.processes {
            let beat = heartbeats.get(&(report.host.clone(), p.name.clone()));
            let heartbeat_age = beat.map(|b| age_seconds(b.time));
            processes.push(ProcessStatus {
                host: report.host.clone(),
                name: p.name.clone(),
                state: phase_name(p.phase).to_owned(),
                pid: p.pid,
                uptime_seconds: p.started_at.filter(|_| p.pid.is_some()).map(age_seconds),
                restarts: Some(p.restarts),
                last_exit: p.last_exit.clone(),
                heartbeat_age_seconds: heartbeat_age,
                dropped_samples_total: beat.map(|b| b.dropped_samples_total),
            });
        }
    }
    for ((host, name), beat) in &heartbeats {
        if processes.iter().any(|p| &p.host == host && &p.name == name) || name == "supervisor" {
            continue;
        }
        let age = age_seconds(beat.time);
        processes.push(ProcessStatus {
            host: host.clone(),
            name: name.clone(),
            state: if age > stale_after {
                "silent"
            } else {
                "unknown"
            }
            .to_owned(),
            pid: Some(beat.pid),
            uptime_seconds: Some(age_seconds(beat.started_at)),
            restarts: None,
            last_exit: None,
            heartbeat_age_seconds: Some(age),
            dropped_samples_total: Some(beat.dropped_samples_total),
        });
    }
    processes.sort_by(|a, b| (&a.host, &a.name).cmp(&(&b.host, &b.name)));
    let stale = settings.api.stale_after_seconds as f64;
    Status {
        nats,
        postgres,
        processes,
        collectors: freshness
            .into_iter()
            // The processes' own self-metrics are periodic too, but no collector publishes them.
            .filter(|f| {
                exporter_protocol::is_periodic(&f.source)
                    && exporter_protocol::SourceKind::from_collector(&f.source)
            })
            .map(|f| {
                let age = age_seconds(f.sample_time);
                Freshness {
                    fresh: age <= stale,
                    source: f.source,
                    host: f.host,
                    last_sample: f.sample_time,
                    age_seconds: age,
                }
            })
            .collect(),
        tunnels: reports
            .into_values()
            .map(|r| HostTunnel {
                host: r.host,
                tunnel: r.tunnel,
            })
            .collect(),
        tiers: tier_disk
            .into_iter()
            .map(|t| TierDisk {
                resolution: t.resolution.as_str(),
                used_bytes: t.used_bytes,
                partitions: t.partitions,
                oldest_day: t.oldest_day,
                retention_days: tiers.days(t.resolution),
            })
            .collect(),
    }
}

fn phase_name(phase: ProcessPhase) -> &'static str {
    match phase {
        ProcessPhase::Starting => "starting",
        ProcessPhase::Running => "running",
        ProcessPhase::Restarting => "restarting",
        ProcessPhase::Held => "held",
        ProcessPhase::Stopped => "stopped",
    }
}

type Heartbeats = BTreeMap<(String, String), Heartbeat>;
type Reports = BTreeMap<String, SupervisorReport>;

async fn listen(settings: &Settings, window: Duration) -> (Reachability, Heartbeats, Reports) {
    let mut heartbeats = Heartbeats::new();
    let mut reports = Reports::new();
    let settings =
        &crate::bus_server::settings_for(settings, crate::bus_server::BusRole::Supervisor);
    let options = match exporter_runtime::bus::connect_options(&settings.nats).await {
        Ok(options) => options,
        Err(err) => return (unreachable(err.to_string()), heartbeats, reports),
    };
    let connect = options
        .connection_timeout(Duration::from_secs(3))
        .connect(&settings.nats.url);
    let client = match tokio::time::timeout(Duration::from_secs(5), connect).await {
        Ok(Ok(client)) => client,
        Ok(Err(err)) => return (unreachable(err.to_string()), heartbeats, reports),
        Err(_) => {
            return (
                unreachable("no answer within 5 s".into()),
                heartbeats,
                reports,
            );
        }
    };
    let subjects = Subjects::new(&settings.nats.subject_prefix);
    let (Ok(beats), Ok(status)) = (
        client.subscribe(subjects.all_heartbeats()).await,
        client.subscribe(subjects.all_supervisor_status()).await,
    ) else {
        return (
            unreachable("subscription refused".into()),
            heartbeats,
            reports,
        );
    };
    let mut merged = futures::stream::select(beats, status);
    let deadline = tokio::time::sleep(window);
    tokio::pin!(deadline);
    loop {
        tokio::select! {
            _ = &mut deadline => break,
            message = merged.next() => {
                let Some(message) = message else { break };
                if let Ok(beat) = serde_json::from_slice::<Heartbeat>(&message.payload) {
                    heartbeats.insert((beat.host.clone(), beat.process.clone()), beat);
                } else if let Ok(report) = serde_json::from_slice::<SupervisorReport>(&message.payload) {
                    reports.insert(report.host.clone(), report);
                }
            }
        }
    }
    (
        Reachability {
            reachable: true,
            error: None,
        },
        heartbeats,
        reports,
    )
}

async fn freshness(
    settings: &Settings,
) -> (
    Reachability,
    Vec<exporter_store::Freshness>,
    Vec<exporter_store::TierDisk>,
) {
    let attempt = tokio::time::timeout(Duration::from_secs(5), async {
        let store = Store::connect(&settings.database).await?;
        let freshness = store.freshness().await?;
        let tiers = store.tier_disk_usage().await?;
        Ok::<_, exporter_store::StoreError>((freshness, tiers))
    })
    .await;
    match attempt {
        Ok(Ok((rows, tiers))) => (
            Reachability {
                reachable: true,
                error: None,
            },
            rows,
            tiers,
        ),
        Ok(Err(err)) => (unreachable(err.to_string()), Vec::new(), Vec::new()),
        Err(_) => (
            unreachable("no answer within 5 s".into()),
            Vec::new(),
            Vec::new(),
        ),
    }
}

/// `used_bytes` in B, KiB, MiB, GiB (one decimal above bytes).
fn human_bytes(used_bytes: i64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if used_bytes < 1024 {
        return format!("{used_bytes} B");
    }
    let mut value = used_bytes as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

fn unreachable(error: String) -> Reachability {
    Reachability {
        reachable: false,
        error: Some(error),
    }
}

/// The status as a readable table.
pub fn render(status: &Status) -> String {
    let mut out = String::new();
    let dep = |r: &Reachability| match &r.error {
        None => "reachable".to_owned(),
        Some(err) => format!("UNREACHABLE: {err}"),
    };
    out.push_str(&format!("NATS        {}\n", dep(&status.nats)));
    out.push_str(&format!("PostgreSQL  {}\n\n", dep(&status.postgres)));
    out.push_str(&format!(
        "{:<12} {:<20} {:<11} {:>8} {:>10} {:>8} {:>10}  {}\n",
        "HOST", "PROCESS", "STATE", "PID", "UPTIME", "RESTARTS", "HEARTBEAT", "LAST EXIT"
    ));
    let secs = |v: Option<f64>| v.map_or("-".to_owned(), |s| format!("{s:.0}s"));
    for p in &status.processes {
        out.push_str(&format!(
            "{:<12} {:<20} {:<11} {:>8} {:>10} {:>8} {:>10}  {}\n",
            p.host,
            p.name,
            p.state,
            p.pid.map_or("-".to_owned(), |pid| pid.to_string()),
            secs(p.uptime_seconds),
            p.restarts.map_or("-".to_owned(), |r| r.to_string()),
            secs(p.heartbeat_age_seconds),
            p.last_exit.as_deref().unwrap_or("-"),
        ));
    }
    out.push_str(&format!(
        "\n{:<12} {:<16} {:>10}  {}\n",
        "HOST", "SOURCE", "AGE", "DATA"
    ));
    for c in &status.collectors {
        out.push_str(&format!(
            "{:<12} {:<16} {:>10}  {}\n",
            c.host,
            c.source,
            format!("{:.0}s", c.age_seconds),
            if c.fresh { "fresh" } else { "STALE" }
        ));
    }
    if !status.tiers.is_empty() {
        out.push_str(&format!(
            "\n{:<6} {:>12} {:>10} {:>12} {:>10}\n",
            "TIER", "DISK", "PARTITIONS", "OLDEST", "KEPT"
        ));
        for t in &status.tiers {
            out.push_str(&format!(
                "{:<6} {:>12} {:>10} {:>12} {:>10}\n",
                t.resolution,
                human_bytes(t.used_bytes),
                t.partitions,
                t.oldest_day.map_or("-".to_owned(), |d| d.to_string()),
                format!("{} d", t.retention_days),
            ));
        }
    }
    out.push('\n');
    for t in &status.tunnels {
        out.push_str(&format!(
            "tunnel ({}): {}{}{}\n",
            t.host,
            t.tunnel.status,
            t.tunnel
                .url
                .as_deref()
                .map_or(String::new(), |u| format!(" {u}")),
            t.tunnel
                .reason
                .as_deref()
                .map_or(String::new(), |r| format!(" ({r})")),
        ));
    }
    out
}
