//! One supervised child process: started, its output forwarded line by line with a `[name]`
//! prefix (and kept in `state_dir/logs/<name>.log`), restarted after a crash with exponential
//! backoff and jitter, held back when it crash-loops, and stopped with SIGTERM, then SIGKILL
//! after the grace period. Its state is kept in the shared [`Registry`].

use std::collections::VecDeque;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrono::Utc;
use exporter_protocol::supervisor::{ProcessPhase, ProcessReport};
use exporter_runtime::{RetryPolicy, Shutdown};
use exporter_settings::SupervisorSettings;
use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::{Child, Command};

/// What to run.
#[derive(Debug, Clone)]
pub struct ChildSpec {
    /// Name in log prefixes and heartbeats, e.g. `aggregator`, `collector-system`.
    pub name: String,
    pub program: PathBuf,
    pub args: Vec<String>,
    /// Its whole environment (nothing else is inherited): see [`crate::child_env`].
    pub env: Vec<(std::ffi::OsString, std::ffi::OsString)>,
}

/// Restart timing.
#[derive(Debug, Clone, Copy)]
pub struct RestartPolicy {
    /// Delays between restarts: [`RetryPolicy::RESTART`] with the configured first delay and cap.
    pub backoff: RetryPolicy,
    pub reset_after: Duration,
    pub stop_grace: Duration,
    pub crash_loop_max_exits: usize,
    pub crash_loop_window: Duration,
    pub crash_loop_hold: Duration,
}

impl RestartPolicy {
    pub fn from_settings(settings: &SupervisorSettings) -> Self {
        Self {
            backoff: RetryPolicy::RESTART
                .with_initial(Duration::from_millis(settings.restart_initial_delay_ms))
                .with_max(Duration::from_secs(settings.restart_max_delay_seconds)),
            reset_after: Duration::from_secs(settings.restart_reset_after_seconds),
            stop_grace: Duration::from_secs(settings.stop_grace_seconds),
            crash_loop_max_exits: settings.crash_loop_max_exits as usize,
            crash_loop_window: Duration::from_secs(settings.crash_loop_window_seconds),
            crash_loop_hold: Duration::from_secs(settings.crash_loop_hold_seconds),
        }
    }

    /// Delay before restart number `attempt` (0-based): doubling, capped, ±20 % jitter.
    pub fn delay(&self, attempt: u32) -> Duration {
        self.backoff.delay(attempt)
    }
}

/// The state of every supervised process, shared with the reporter.
#[derive(Debug, Clone, Default)]
pub struct Registry(Arc<Mutex<Vec<ProcessReport>>>);

impl Registry {
    /// Registers `name` (in start order) as not yet started.
    pub fn add(&self, name: &str) {
        self.0.lock().expect("registry").push(ProcessReport {
            name: name.to_owned(),
            phase: ProcessPhase::Starting,
            pid: None,
            started_at: None,
            restarts: 0,
            last_exit: None,
            last_heartbeat: None,
            held_until: None,
        });
    }

    /// Applies `change` to `name`'s report.
    pub fn update(&self, name: &str, change: impl FnOnce(&mut ProcessReport)) {
        if let Some(report) = self
            .0
            .lock()
            .expect("registry")
            .iter_mut()
            .find(|r| r.name == name)
        {
            change(report);
        }
    }

    /// Records a heartbeat from `name` with `pid`: the process is ready.
    pub fn heartbeat(&self, name: &str, pid: u32) {
        self.update(name, |r| {
            if r.pid == Some(pid) {
                r.last_heartbeat = Some(Utc::now());
                if r.phase == ProcessPhase::Starting {
                    r.phase = ProcessPhase::Running;
                }
            }
        });
    }

    /// Records that `name` (a process that sends no heartbeats, like the managed nats-server)
    /// answered a probe: it is ready.
    pub fn probed(&self, name: &str) {
        self.update(name, |r| {
            if r.pid.is_some() {
                r.last_heartbeat = Some(Utc::now());
                if r.phase == ProcessPhase::Starting {
                    r.phase = ProcessPhase::Running;
                }
            }
        });
    }

    /// True once `name` sent a heartbeat since its last start.
    pub fn is_ready(&self, name: &str) -> bool {
        self.snapshot()
            .iter()
            .any(|r| r.name == name && r.phase == ProcessPhase::Running)
    }

    pub fn snapshot(&self) -> Vec<ProcessReport> {
        self.0.lock().expect("registry").clone()
    }
}

/// Where a child's output goes besides our stderr.
#[derive(Debug, Clone)]
pub struct LogFiles {
    pub dir: PathBuf,
    pub max_bytes: u64,
}

/// Runs `spec` until `stop` is triggered, restarting it when it exits (never once `shutdown`,
/// the whole supervisor's, has begun).
pub async fn supervise(
    spec: ChildSpec,
    policy: RestartPolicy,
    registry: Registry,
    logs: LogFiles,
    stop: Shutdown,
    shutdown: Shutdown,
) {
    let mut attempt = 0u32;
    let mut exits: VecDeque<Instant> = VecDeque::new();
    // At zero from the start, so the first restart is an increase Prometheus sees.
    let restarts = exporter_runtime::self_metrics::global().counter(
        &exporter_protocol::self_metrics::PROCESS_RESTARTS,
        &[("child", &spec.name)],
    );
    loop {
        let started_at = Instant::now();
        let mut child = match spawn(&spec, &logs) {
            Ok(child) => child,
            Err(err) => {
                tracing::error!(process = %spec.name, program = %spec.program.display(), error = %err, "cannot start; run `cargo build` or check the install");
                registry.update(&spec.name, |r| {
                    r.phase = ProcessPhase::Restarting;
                    r.last_exit = Some(format!("could not start: {err}"));
                });
                if stop.sleep(policy.delay(attempt)).await {
                    registry.update(&spec.name, |r| r.phase = ProcessPhase::Stopped);
                    return;
                }
                attempt = attempt.saturating_add(1);
                continue;
            }
        };
        let pid = child.id();
        registry.update(&spec.name, |r| {
            r.phase = ProcessPhase::Starting;
            r.pid = pid;
            r.started_at = Some(Utc::now());
            r.held_until = None;
        });
        tracing::info!(process = %spec.name, pid, "started");
        let status = tokio::select! {
            status = child.wait() => status,
            _ = stop.wait() => {
                terminate(&spec.name, &mut child, policy.stop_grace).await;
                registry.update(&spec.name, |r| { r.phase = ProcessPhase::Stopped; r.pid = None; });
                return;
            }
        };
        let status = describe(status);
        registry.update(&spec.name, |r| {
            r.last_exit = Some(status.clone());
            r.pid = None;
        });
        if shutdown.is_triggered() || stop.is_triggered() {
            tracing::info!(process = %spec.name, last_exit = %status, "exited during shutdown; not restarted");
            registry.update(&spec.name, |r| r.phase = ProcessPhase::Stopped);
            stop.wait().await;
            return;
        }
        if started_at.elapsed() >= policy.reset_after {
            attempt = 0;
        }
        let now = Instant::now();
        exits.push_back(now);
        while exits
            .front()
            .is_some_and(|t| now.duration_since(*t) > policy.crash_loop_window)
        {
            exits.pop_front();
        }
        let delay = if exits.len() >= policy.crash_loop_max_exits {
            tracing::error!(
                process = %spec.name,
                exits = exits.len(),
                window_seconds = policy.crash_loop_window.as_secs(),
                hold_seconds = policy.crash_loop_hold.as_secs(),
                last_exit = %status,
                "crash loop: held back instead of restarted. Find the cause with `exporter logs {}`",
                spec.name
            );
            exits.clear();
            attempt = 0;
            let until =
                Utc::now() + chrono::Duration::from_std(policy.crash_loop_hold).unwrap_or_default();
            registry.update(&spec.name, |r| {
                r.phase = ProcessPhase::Held;
                r.held_until = Some(until);
            });
            policy.crash_loop_hold
        } else {
            let delay = policy.delay(attempt);
            attempt = attempt.saturating_add(1);
            registry.update(&spec.name, |r| r.phase = ProcessPhase::Restarting);
            tracing::warn!(
                process = %spec.name,
                last_exit = %status,
                restart_in_ms = delay.as_millis() as u64,
                "exited; restarting"
            );
            delay
        };
        if stop.sleep(delay).await {
            registry.update(&spec.name, |r| r.phase = ProcessPhase::Stopped);
            return;
        }
        registry.update(&spec.name, |r| r.restarts += 1);
        restarts.inc();
    }
}

fn spawn(spec: &ChildSpec, logs: &LogFiles) -> std::io::Result<Child> {
    let mut child = Command::new(&spec.program)
        .args(&spec.args)
        .env_clear()
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .env("EXPORTER_PARENT_PID", std::process::id().to_string())
        // Its own process group: a Ctrl-C at the terminal reaches only the supervisor, which
        // then stops the children itself, in reverse start order.
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()?;
    let file = Arc::new(Mutex::new(LogFile::open(
        &logs.dir,
        &spec.name,
        logs.max_bytes,
    )));
    if let Some(out) = child.stdout.take() {
        tokio::spawn(forward(spec.name.clone(), out, file.clone()));
    }
    if let Some(err) = child.stderr.take() {
        tokio::spawn(forward(spec.name.clone(), err, file));
    }
    Ok(child)
}

/// A child's log file with size-based rotation (one old generation, `.1`).
#[derive(Debug)]
struct LogFile {
    path: PathBuf,
    file: Option<std::fs::File>,
    written: u64,
    max_bytes: u64,
}

impl LogFile {
    fn open(dir: &Path, name: &str, max_bytes: u64) -> Self {
        let path = dir.join(format!("{name}.log"));
        let _ = std::fs::create_dir_all(dir);
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .ok();
        let written = file
            .as_ref()
            .and_then(|f| f.metadata().ok())
            .map_or(0, |m| m.len());
        Self {
            path,
            file,
            written,
            max_bytes,
        }
    }

    fn write_line(&mut self, line: &str) {
        if self.written >= self.max_bytes {
            let _ = std::fs::rename(&self.path, self.path.with_extension("log.1"));
            self.file = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&self.path)
                .ok();
            self.written = 0;
        }
        if let Some(file) = &mut self.file
            && writeln!(file, "{line}").is_ok()
        {
            self.written += line.len() as u64 + 1;
        }
    }
}

/// Copies a child's output to our stderr, each line prefixed with its name, and to its log
/// file. Invalid UTF-8 is replaced, not fatal; a closed stderr is ignored, never a panic.
async fn forward(name: String, stream: impl AsyncRead + Unpin, file: Arc<Mutex<LogFile>>) {
    let mut reader = BufReader::new(stream);
    let mut line = Vec::new();
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {
                let text = String::from_utf8_lossy(&line);
                let text = text.trim_end_matches(['\n', '\r']);
                let mut err = std::io::stderr().lock();
                let _ = writeln!(err, "[{name}] {text}");
                if let Ok(mut file) = file.lock() {
                    file.write_line(text);
                }
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
#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> RestartPolicy {
        RestartPolicy {
            backoff: RetryPolicy::RESTART
                .with_initial(Duration::from_millis(100))
                .with_max(Duration::from_secs(2)),
            reset_after: Duration::from_secs(60),
            stop_grace: Duration::from_secs(1),
            crash_loop_max_exits: 3,
            crash_loop_window: Duration::from_secs(10),
            crash_loop_hold: Duration::from_secs(60),
        }
    }

    #[test]
    fn backoff_doubles_caps_and_jitters() {
        let policy = policy();
        let first = policy.delay(0).as_millis();
        assert!((80..=120).contains(&first), "{first}");
        let third = policy.delay(2).as_millis();
        assert!((320..=480).contains(&third), "{third}");
        let capped = policy.delay(30).as_millis();
        assert!((1600..=2400).contains(&capped), "{capped}");
    }

    #[test]
    fn log_files_rotate_past_their_size() {
        let dir = tempfile::tempdir().unwrap();
        let mut log = LogFile::open(dir.path(), "api", 4096);
        let line = "x".repeat(1000);
        for _ in 0..6 {
            log.write_line(&line);
        }
        let current = std::fs::metadata(dir.path().join("api.log")).unwrap().len();
        let old = std::fs::metadata(dir.path().join("api.log.1"))
            .unwrap()
            .len();
        assert_eq!(old, 5 * 1001);
        assert_eq!(current, 1001);
    }
}
