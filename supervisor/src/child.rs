//! One supervised child process: started, its output forwarded line by line with a `[name]`
//! prefix, restarted after a crash with exponential backoff and jitter, and stopped with
//! SIGTERM, then SIGKILL after the grace period.

use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use exporter_runtime::Shutdown;
use exporter_settings::SupervisorSettings;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use rand::Rng;
use std::io::Write;

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};

/// What to run.
#[derive(Debug, Clone)]
pub struct ChildSpec {
    /// Name in log prefixes, e.g. `aggregator`, `collector-system`.
    pub name: String,
    pub program: PathBuf,
    pub args: Vec<String>,
}

/// Restart timing.
#[derive(Debug, Clone, Copy)]
pub struct RestartPolicy {
    pub initial_delay: Duration,
    pub max_delay: Duration,
    pub reset_after: Duration,
    pub stop_grace: Duration,
}

impl RestartPolicy {
    pub fn from_settings(settings: &SupervisorSettings) -> Self {
        Self {
            initial_delay: Duration::from_millis(settings.restart_initial_delay_ms),
            max_delay: Duration::from_secs(settings.restart_max_delay_seconds),
            reset_after: Duration::from_secs(settings.restart_reset_after_seconds),
            stop_grace: Duration::from_secs(settings.stop_grace_seconds),
        }
    }

    /// Delay before restart number `attempt` (0-based): doubling, capped, ±20 % jitter.
    pub fn delay(&self, attempt: u32) -> Duration {
        let base = self
            .initial_delay
            .saturating_mul(2u32.saturating_pow(attempt.min(16)))
            .min(self.max_delay);
        let jitter = rand::rng().random_range(0.8..1.2);
        base.mul_f64(jitter)
    }
}

/// Runs `spec` until `stop` is triggered, restarting it when it exits (never once `shutdown`,
/// the whole supervisor's, has begun). `started` is told once the first process was spawned, so
/// the caller can start processes in order.
pub async fn supervise(
    spec: ChildSpec,
    policy: RestartPolicy,
    stop: Shutdown,
    shutdown: Shutdown,
    started: tokio::sync::oneshot::Sender<()>,
) {
    let mut attempt = 0u32;
    let mut restarts = 0u64;
    let mut started = Some(started);
    loop {
        let started_at = Instant::now();
        let mut child = match spawn(&spec) {
            Ok(child) => child,
            Err(err) => {
                tracing::error!(process = %spec.name, program = %spec.program.display(), error = %err, "cannot start; run `cargo build` or check the install");
                if let Some(started) = started.take() {
                    let _ = started.send(());
                }
                if wait_or_stop(policy.delay(attempt), &stop).await {
                    return;
                }
                attempt += 1;
                continue;
            }
        };
        let pid = child.id();
        tracing::info!(process = %spec.name, pid, restarts, "started");
        if let Some(started) = started.take() {
            let _ = started.send(());
        }
        let status = tokio::select! {
            status = child.wait() => status,
            _ = stop.wait() => {
                terminate(&spec.name, &mut child, policy.stop_grace).await;
                return;
            }
        };
        let status = describe(status);
        if shutdown.is_triggered() || stop.is_triggered() {
            tracing::info!(process = %spec.name, last_exit = %status, "exited during shutdown; not restarted");
            stop.wait().await;
            return;
        }
        if started_at.elapsed() >= policy.reset_after {
            attempt = 0;
        }
        let delay = policy.delay(attempt);
        restarts += 1;
        tracing::warn!(
            process = %spec.name,
            last_exit = %status,
            restarts,
            restart_in_ms = delay.as_millis() as u64,
            "exited; restarting"
        );
        if wait_or_stop(delay, &stop).await {
            return;
        }
        attempt += 1;
    }
}

fn spawn(spec: &ChildSpec) -> std::io::Result<Child> {
    let mut child = Command::new(&spec.program)
        .args(&spec.args)
        .env("EXPORTER_PARENT_PID", std::process::id().to_string())
        // Its own process group: a Ctrl-C at the terminal reaches only the supervisor, which
        // then stops the children itself, in reverse start order.
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    if let Some(out) = child.stdout.take() {
        tokio::spawn(forward(spec.name.clone(), out));
    }
    if let Some(err) = child.stderr.take() {
        tokio::spawn(forward(spec.name.clone(), err));
    }
    Ok(child)
}

/// Copies a child's output to our stderr, each line prefixed with its name. Invalid UTF-8 is
/// replaced, not fatal; a closed stderr is ignored, never a panic.
async fn forward(name: String, stream: impl AsyncRead + Unpin) {
    let mut reader = BufReader::new(stream);
    let mut line = Vec::new();
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {
                let text = String::from_utf8_lossy(&line);
                let mut err = std::io::stderr().lock();
                let _ = writeln!(err, "[{name}] {}", text.trim_end_matches(['\n', '\r']));
            }
        }
    }
}

/// SIGTERM, then SIGKILL if the child is still there after `grace`.
async fn terminate(name: &str, child: &mut Child, grace: Duration) {
    let Some(pid) = child.id() else {
        return;
    };
    let _ = kill(Pid::from_raw(pid as i32), Signal::SIGTERM);
    match tokio::time::timeout(grace, child.wait()).await {
        Ok(status) => tracing::info!(process = name, last_exit = %describe(status), "stopped"),
        Err(_) => {
            tracing::warn!(
                process = name,
                grace_seconds = grace.as_secs(),
                "did not stop in time; sending SIGKILL"
            );
            let _ = child.kill().await;
        }
    }
}

fn describe(status: std::io::Result<ExitStatus>) -> String {
    match status {
        Ok(status) => status.to_string(),
        Err(err) => format!("unknown ({err})"),
    }
}

/// Sleeps `delay`; true when `stop` came first.
async fn wait_or_stop(delay: Duration, stop: &Shutdown) -> bool {
    tokio::select! {
        _ = stop.wait() => true,
        _ = tokio::time::sleep(delay) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_caps_and_jitters() {
        let policy = RestartPolicy {
            initial_delay: Duration::from_millis(100),
            max_delay: Duration::from_secs(2),
            reset_after: Duration::from_secs(60),
            stop_grace: Duration::from_secs(1),
        };
        let first = policy.delay(0).as_millis();
        assert!((80..=120).contains(&first), "{first}");
        let third = policy.delay(2).as_millis();
        assert!((320..=480).contains(&third), "{third}");
        let capped = policy.delay(30).as_millis();
        assert!((1600..=2400).contains(&capped), "{capped}");
    }
}
