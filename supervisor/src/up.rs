//! `exporter up`: the single-host mode. Checks the settings, waits for PostgreSQL and runs the
//! migrations, creates the API key on first start, then starts the aggregator, the enabled
//! collectors and the API (in that order, each after the previous one's first heartbeat),
//! supervises them and opens the tunnel; on SIGINT/SIGTERM it stops them in reverse order and
//! exits 0.

use std::path::{Path, PathBuf};

use std::time::Duration;

use exporter_protocol::Subjects;
use exporter_runtime::{Shutdown, bus};
use exporter_settings::Settings;
use exporter_store::Store;
use tokio::signal::unix::{SignalKind, signal};

use crate::SupervisorError;
use crate::bus_server::{self, BusRole, ManagedBus};
use crate::child::{self, ChildSpec, LogFiles, Registry, RestartPolicy};
use crate::child_env::{self, ChildRole};
use crate::keys::{self, KeyStatus};
use crate::report::{self, PidFile};
use crate::state_dir;
use crate::tunnel::{self, TunnelState};

/// Directory of the process binaries: `EXPORTER_BIN_DIR`, else next to this executable.
pub fn binary_dir() -> Result<PathBuf, SupervisorError> {
    if let Some(dir) = std::env::var_os("EXPORTER_BIN_DIR") {
        return Ok(PathBuf::from(dir));
    }
    let exe = std::env::current_exe()
        .map_err(|err| SupervisorError::Binaries("the exporter binary".into(), err))?;
    Ok(exe.parent().map(Path::to_path_buf).unwrap_or_default())
}

/// The processes `up` runs, in start order, each with its environment: the supervisor's own
/// minus the secrets that child does not use.
pub fn children(settings: &Settings, bin_dir: &Path) -> Vec<ChildSpec> {
    let receivers = child_env::receiver_variables(&settings.alert_rules_path());
    let managed = settings
        .nats
        .managed
        .enabled
        .then(|| ManagedBus::of(settings));
    // Its own secrets, and on the managed bus its NATS user.
    let env = |role, bus_role| {
        let mut env = child_env::child_environment(role, std::env::vars_os(), &receivers);
        if let Some(bus) = &managed {
            bus_server::override_env(&mut env, bus.child_env(bus_role));
        }
        env
    };
    let mut specs = vec![ChildSpec {
        name: "aggregator".into(),
        program: bin_dir.join("exporter-aggregator"),
        args: vec![],
        env: env(ChildRole::Aggregator, BusRole::Aggregator),
    }];
    for kind in settings.enabled_collector_kinds() {
        specs.push(ChildSpec {
            name: kind.process_name(),
            program: bin_dir.join("exporter-collector"),
            args: vec![kind.name().to_owned()],
            env: env(ChildRole::Collector(kind), BusRole::Collector(kind)),
        });
    }
    specs.push(ChildSpec {
        name: "api".into(),
        program: bin_dir.join("exporter-api"),
        args: vec![],
        env: env(ChildRole::Api, BusRole::Api),
    });
    specs
}

/// Runs until SIGINT/SIGTERM; SIGHUP re-reads the settings and restarts the children one by one.
pub async fn run(settings: Settings) -> Result<(), SupervisorError> {
    let shutdown = Shutdown::on_signals().map_err(SupervisorError::Signals)?;
    // Installed first: SIGHUP's default action would kill the supervisor if it came during start.
    let mut hangup = signal(SignalKind::hangup()).map_err(SupervisorError::Signals)?;
    match state_dir::make_private(&settings.state_dir) {
        Ok(0) => {}
        Ok(narrowed) => tracing::warn!(
            state_dir = %settings.state_dir.display(),
            narrowed,
            "the state directory was readable by others: group and other rights removed"
        ),
        Err(err) => tracing::warn!(
            state_dir = %settings.state_dir.display(),
            error = %err,
            "cannot make the state directory private (mode 0700); check its owner"
        ),
    }
    let _pid_file =
        PidFile::acquire(&settings.state_dir).map_err(SupervisorError::AlreadyRunning)?;
    let store = Store::connect_retrying(&settings.database, &shutdown).await?;
    store.migrate().await?;
    tracing::info!("database migrations applied");
    drop(store);

    match keys::ensure_api_key(&settings)? {
        KeyStatus::Created(path) => tracing::info!(
            key_file = %path.display(),
            "no API key was configured: created one (mode 0600). Send it as X-API-Key; read it with `cat {}`",
            path.display()
        ),
        KeyStatus::Existing(path) => {
            tracing::info!(key_file = %path.display(), "using the API key file")
        }
        KeyStatus::FromEnvironment => tracing::info!("using the API key from EXPORTER_API_KEY"),
    }

    let registry = Registry::default();
    let policy = RestartPolicy::from_settings(&settings.supervisor);
    let logs = LogFiles {
        dir: settings.state_dir.join("logs"),
        max_bytes: settings.supervisor.log_max_bytes,
    };
    let readiness_timeout = Duration::from_secs(settings.supervisor.readiness_timeout_seconds);
    // The managed bus first: every other process connects to it.
    let managed_bus = if settings.nats.managed.enabled {
        let bus = ManagedBus::of(&settings);
        bus.prepare(&settings)?;
        let spec = bus.child_spec();
        registry.add(&spec.name);
        let stop = Shutdown::new();
        let task = tokio::spawn(child::supervise(
            spec,
            policy,
            registry.clone(),
            logs.clone(),
            stop.clone(),
            shutdown.clone(),
        ));
        bus.wait_ready(readiness_timeout).await?;
        tokio::spawn(bus.clone().probe(
            registry.clone(),
            Duration::from_secs(settings.collectors.heartbeat_interval_seconds),
            shutdown.clone(),
        ));
        tracing::info!(
            nats_url = %bus.url(),
            users = BusRole::all().len(),
            "managed NATS server ready (one user per role; the trading engine's password is in {})",
            bus.password_file(BusRole::Engine).display()
        );
        Some((stop, task))
    } else {
        None
    };
    let settings = bus_server::settings_for(&settings, BusRole::Supervisor);

    let host = settings.host_name().to_owned();
    let subjects = Subjects::new(&settings.nats.subject_prefix);
    let client = bus::connect(&settings.nats, "supervisor").await?;
    let tunnel_state = TunnelState::default();
    let background = [
        tokio::spawn(report::listen_heartbeats(
            client.clone(),
            subjects.clone(),
            host.clone(),
            registry.clone(),
            shutdown.clone(),
        )),
        tokio::spawn(
            report::Reporter {
                client: client.clone(),
                subjects: subjects.clone(),
                host: host.clone(),
                state_dir: settings.state_dir.clone(),
                registry: registry.clone(),
                tunnel: tunnel_state.clone(),
                interval: Duration::from_secs(settings.collectors.heartbeat_interval_seconds),
            }
            .run(shutdown.clone()),
        ),
        tokio::spawn(tunnel::run(
            settings.clone(),
            tunnel_state,
            shutdown.clone(),
        )),
        tokio::spawn(exporter_runtime::self_metrics::run(
            client.clone(),
            subjects.clone(),
            "supervisor".to_owned(),
            host.clone(),
            Duration::from_secs(settings.collectors.self_metrics_interval_seconds),
            shutdown.clone(),
        )),
    ];

    let bin_dir = binary_dir()?;
    let specs = children(&settings, &bin_dir);
    for spec in &specs {
        registry.add(&spec.name);
    }
    let mut supervisor = Children {
        policy,
        registry: registry.clone(),
        logs,
        readiness_timeout,
        shutdown: shutdown.clone(),
        bin_dir: bin_dir.clone(),
        running: Vec::new(),
    };
    for spec in specs {
        supervisor.start(spec).await;
    }
    tracing::info!(
        url = %format!("http://{}:{}", settings.api.host, settings.api.port),
        "exporter up: API URL (every route but /health needs the X-API-Key header)"
    );
    exporter_runtime::systemd::ready("all processes started");
    tokio::spawn(exporter_runtime::systemd::watchdog(shutdown.clone()));

    loop {
        tokio::select! {
            _ = shutdown.wait() => break,
            _ = hangup.recv() => supervisor.reload().await,
        }
    }
    tracing::info!("stopping every process (reverse start order)");
    supervisor.stop_all().await;
    for task in background {
        let _ = task.await;
    }
    // The bus last: the aggregator has committed and acknowledged what it took.
    if let Some((stop, task)) = managed_bus {
        stop.trigger();
        let _ = task.await;
    }
    tracing::info!("all processes stopped");
    Ok(())
}

/// The running children, in start order.
struct Children {
    policy: RestartPolicy,
    registry: Registry,
    logs: LogFiles,
    readiness_timeout: Duration,
    shutdown: Shutdown,
    bin_dir: std::path::PathBuf,
    running: Vec<(ChildSpec, Shutdown, tokio::task::JoinHandle<()>)>,
}

impl Children {
    /// Starts `spec` and waits for its first heartbeat (up to the readiness timeout), so the
    /// aggregator is ingesting before the collectors publish and the API starts last.
    async fn start(&mut self, spec: ChildSpec) {
        let stop = Shutdown::new();
        let task = tokio::spawn(child::supervise(
            spec.clone(),
            self.policy,
            self.registry.clone(),
            self.logs.clone(),
            stop.clone(),
            self.shutdown.clone(),
        ));
        let deadline = tokio::time::Instant::now() + self.readiness_timeout;
        while !self.registry.is_ready(&spec.name) && !self.shutdown.is_triggered() {
            if tokio::time::Instant::now() >= deadline {
                tracing::warn!(process = %spec.name, timeout_seconds = self.readiness_timeout.as_secs(), "no heartbeat yet; starting the next process anyway");
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        self.running.push((spec, stop, task));
    }

    /// Stops every child, last started first.
    async fn stop_all(&mut self) {
        while let Some((spec, stop, task)) = self.running.pop() {
            stop.trigger();
            if let Err(err) = task.await {
                tracing::error!(process = %spec.name, error = %err, "supervision task failed");
            }
        }
    }

    /// SIGHUP: checks the settings file; if valid, stops the children (reverse order) and starts
    /// the set the new settings ask for, in order, each after the previous one's heartbeat. Bad
    /// settings change nothing.
    async fn reload(&mut self) {
        let settings = match Settings::load() {
            Ok(settings) => settings,
            Err(err) => {
                tracing::error!(error = %err, "SIGHUP: the settings are invalid; nothing restarted");
                return;
            }
        };
        tracing::info!("SIGHUP: settings valid; restarting the processes one by one");
        // The new settings decide which processes run (a collector enabled or disabled).
        let specs = children(&settings, &self.bin_dir);
        let running = std::mem::take(&mut self.running);
        for (spec, stop, task) in running.into_iter().rev() {
            stop.trigger();
            let _ = task.await;
            self.registry
                .update(&spec.name, |r| r.last_exit = Some("reloaded".into()));
        }
        for spec in specs {
            if !self.registry.snapshot().iter().any(|r| r.name == spec.name) {
                self.registry.add(&spec.name);
            }
            if self.shutdown.is_triggered() {
                return;
            }
            self.start(spec).await;
        }
    }
}

/// `exporter tunnel`: only the tunnel and its reports, for systemd deployments where every
/// other process is a unit of its own.
pub async fn run_tunnel_only(settings: Settings) -> Result<(), SupervisorError> {
    let shutdown = Shutdown::on_signals().map_err(SupervisorError::Signals)?;
    let host = settings.host_name().to_owned();
    let subjects = Subjects::new(&settings.nats.subject_prefix);
    let client = bus::connect(&settings.nats, "tunnel").await?;
    let tunnel_state = TunnelState::default();
    let self_metrics = tokio::spawn(exporter_runtime::self_metrics::run(
        client.clone(),
        subjects.clone(),
        "tunnel".to_owned(),
        host.clone(),
        Duration::from_secs(settings.collectors.self_metrics_interval_seconds),
        shutdown.clone(),
    ));
    let reports = tokio::spawn(
        report::Reporter {
            client,
            subjects,
            host,
            state_dir: settings.state_dir.clone(),
            registry: Registry::default(),
            tunnel: tunnel_state.clone(),
            interval: Duration::from_secs(settings.collectors.heartbeat_interval_seconds),
        }
        .run(shutdown.clone()),
    );
    exporter_runtime::systemd::ready("tunnel supervisor running");
    tokio::spawn(exporter_runtime::systemd::watchdog(shutdown.clone()));
    tunnel::run(settings, tunnel_state, shutdown).await;
    let _ = reports.await;
    let _ = self_metrics.await;
    Ok(())
}
