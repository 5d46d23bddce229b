//! The supervisor's view of itself, shared with everyone: it listens to the children's
//! heartbeats (a child counts as started only after its first one), and every heartbeat interval
//! publishes a [`SupervisorReport`] on NATS and writes it to `state_dir/supervisor.json`. Also the
//! pid file that keeps a second `exporter up` from starting over the first.

use std::path::{Path, PathBuf};
use std::time::Duration;

use chrono::{DateTime, Utc};
use exporter_protocol::supervisor::SupervisorReport;
use exporter_protocol::{Heartbeat, Subjects};
use exporter_runtime::Shutdown;
use futures::StreamExt;

use crate::child::Registry;
use crate::tunnel::TunnelState;

/// Marks children ready as their heartbeats arrive (same host, same pid).
pub async fn listen_heartbeats(
    client: async_nats::Client,
    subjects: Subjects,
    host: String,
    registry: Registry,
    shutdown: Shutdown,
) {
    let mut subscription = loop {
        match client.subscribe(subjects.all_heartbeats()).await {
            Ok(subscription) => break subscription,
            Err(err) => {
                tracing::debug!(error = %err, "heartbeat subscription failed; retrying");
                tokio::select! {
                    _ = shutdown.wait() => return,
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
        }
    };
    loop {
        let message = tokio::select! {
            _ = shutdown.wait() => return,
            message = subscription.next() => match message {
                Some(message) => message,
                None => return,
            },
        };
        if let Ok(beat) = serde_json::from_slice::<Heartbeat>(&message.payload)
            && beat.host == host
        {
            registry.heartbeat(&beat.process, beat.pid);
        }
    }
}

/// What the report is built from and where it goes.
#[derive(Debug)]
pub struct Reporter {
    pub client: async_nats::Client,
    pub subjects: Subjects,
    pub host: String,
    pub state_dir: PathBuf,
    pub registry: Registry,
    pub tunnel: TunnelState,
    pub interval: Duration,
}

impl Reporter {
    /// Publishes and writes the report every interval until shutdown (and once more at the end).
    pub async fn run(self, shutdown: Shutdown) {
        let started_at = Utc::now();
        let subject = self.subjects.supervisor_status(&self.host);
        let mut ticker = tokio::time::interval(self.interval);
        loop {
            let stopping = tokio::select! {
                _ = shutdown.wait() => true,
                _ = ticker.tick() => false,
            };
            let report = SupervisorReport {
                host: self.host.clone(),
                pid: std::process::id(),
                started_at,
                time: Utc::now(),
                processes: self.registry.snapshot(),
                tunnel: self.tunnel.lock().expect("tunnel state").clone(),
            };
            if let Ok(json) = serde_json::to_vec(&report) {
                let _ = self
                    .client
                    .publish(subject.clone(), json.clone().into())
                    .await;
                write_atomically(&self.state_dir.join("supervisor.json"), &json);
            }
            if stopping {
                let _ = self.client.flush().await;
                return;
            }
        }
    }
}

fn write_atomically(path: &Path, bytes: &[u8]) {
    let tmp = path.with_extension("json.tmp");
    if std::fs::write(&tmp, bytes).is_ok() {
        let _ = std::fs::rename(&tmp, path);
    }
}

/// `state_dir/supervisor.pid`, removed when dropped.
#[derive(Debug)]
pub struct PidFile(PathBuf);

impl PidFile {
    /// Path of the pid file in `state_dir`.
    pub fn path(state_dir: &Path) -> PathBuf {
        state_dir.join("supervisor.pid")
    }

    /// The pid of a live supervisor recorded in `state_dir`, if any.
    pub fn running(state_dir: &Path) -> Option<i32> {
        let pid: i32 = std::fs::read_to_string(Self::path(state_dir))
            .ok()?
            .trim()
            .parse()
            .ok()?;
        is_alive(pid).then_some(pid)
    }

    /// Records this process, unless another live supervisor already did.
    pub fn acquire(state_dir: &Path) -> Result<Self, String> {
        if let Some(pid) = Self::running(state_dir) {
            return Err(format!(
                "exporter up is already running here (pid {pid}); stop it first with `exporter stop`"
            ));
        }
        std::fs::create_dir_all(state_dir)
            .and_then(|()| {
                std::fs::write(Self::path(state_dir), format!("{}\n", std::process::id()))
            })
            .map_err(|err| format!("cannot write {}: {err}", Self::path(state_dir).display()))?;
        Ok(Self(Self::path(state_dir)))
    }
}

impl Drop for PidFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Seconds between `then` and now.
pub fn age_seconds(then: DateTime<Utc>) -> f64 {
    (Utc::now() - then).num_milliseconds() as f64 / 1000.0
}

/// True while `pid` exists and is not a zombie (exited, waiting for its parent to reap it).
pub fn is_alive(pid: i32) -> bool {
    if nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None).is_err() {
        return false;
    }
    std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |stat| {
        !stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
    })
}
