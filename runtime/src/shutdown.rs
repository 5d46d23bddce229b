//! The shutdown signal passed into every long-running `run`: cancelled on SIGINT or SIGTERM, or
//! by a test.

use tokio::signal::unix::{SignalKind, signal};
use tokio_util::sync::CancellationToken;

/// A cloneable shutdown handle; `wait()` resolves once shutdown was asked for.
#[derive(Debug, Clone, Default)]
pub struct Shutdown(CancellationToken);

impl Shutdown {
    pub fn new() -> Self {
        Self::default()
    }

    /// A handle cancelled when the process receives SIGINT or SIGTERM, or, when started by
    /// the supervisor (`EXPORTER_PARENT_PID` set), when that parent is gone: a supervisor killed
    /// with SIGKILL leaves no orphans behind.
    pub fn on_signals() -> std::io::Result<Self> {
        let shutdown = Self::new();
        if let Some(parent) = std::env::var("EXPORTER_PARENT_PID")
            .ok()
            .and_then(|pid| pid.parse::<i32>().ok())
        {
            tokio::spawn(watch_parent(parent, shutdown.clone()));
        }
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        // SIGHUP's default action would end the process: a process with nothing to reload
        // (a collector) notes it and goes on; those that reload (the API's keys, the
        // aggregator's rules, the supervisor) listen for it themselves as well.
        let mut hangup = signal(SignalKind::hangup())?;
        tokio::spawn(async move {
            while hangup.recv().await.is_some() {
                tracing::debug!(signal = "SIGHUP", "received");
            }
        });
        let token = shutdown.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = term.recv() => tracing::info!(signal = "SIGTERM", "shutting down"),
                _ = int.recv() => tracing::info!(signal = "SIGINT", "shutting down"),
            }
            token.trigger();
        });
        Ok(shutdown)
    }

    pub fn trigger(&self) {
        self.0.cancel();
    }

    pub fn is_triggered(&self) -> bool {
        self.0.is_cancelled()
    }

    pub async fn wait(&self) {
        self.0.cancelled().await;
    }

    /// Sleeps for `duration`, or less if shutdown comes first. Returns true on shutdown.
    pub async fn sleep(&self, duration: std::time::Duration) -> bool {
        tokio::select! {
            _ = self.wait() => true,
            _ = tokio::time::sleep(duration) => false,
        }
    }
}

/// Triggers `shutdown` once the process's parent is no longer `parent` (it died and the process
/// was re-parented).
async fn watch_parent(parent: i32, shutdown: Shutdown) {
    let mut ticker = tokio::time::interval(std::time::Duration::from_millis(500));
    loop {
        tokio::select! {
            _ = shutdown.wait() => return,
            _ = ticker.tick() => {}
        }
        if nix::unistd::getppid().as_raw() != parent {
            // Trigger first: the log line may go nowhere (the supervisor held our stderr).
            shutdown.trigger();
            tracing::warn!(parent, "supervisor is gone; shutting down");
            return;
        }
    }
}
