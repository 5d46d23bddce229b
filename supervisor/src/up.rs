//! `exporter up`: the single-host mode. Checks the settings, waits for PostgreSQL and runs the
//! migrations, creates the API key on first start, then starts the aggregator, the enabled
//! collectors and the API (in that order) and supervises them; on SIGINT/SIGTERM it stops them
//! in reverse order and exits 0.

use std::path::{Path, PathBuf};

use exporter_runtime::Shutdown;
use exporter_settings::Settings;
use exporter_store::Store;

use crate::SupervisorError;
use crate::child::{self, ChildSpec, RestartPolicy};
use crate::keys::{self, KeyStatus};

/// Directory of the process binaries: `EXPORTER_BIN_DIR`, else next to this executable.
pub fn binary_dir() -> Result<PathBuf, SupervisorError> {
    if let Some(dir) = std::env::var_os("EXPORTER_BIN_DIR") {
        return Ok(PathBuf::from(dir));
    }
    let exe = std::env::current_exe()
        .map_err(|err| SupervisorError::Binaries("the exporter binary".into(), err))?;
    Ok(exe.parent().map(Path::to_path_buf).unwrap_or_default())
}

/// The processes `up` runs, in start order.
pub fn children(settings: &Settings, bin_dir: &Path) -> Vec<ChildSpec> {
    let mut specs = vec![ChildSpec {
        name: "aggregator".into(),
        program: bin_dir.join("exporter-aggregator"),
        args: vec![],
    }];
    for kind in settings.collectors.enabled_kinds() {
        specs.push(ChildSpec {
            name: format!("collector-{kind}"),
            program: bin_dir.join("exporter-collector"),
            args: vec![kind.to_owned()],
        });
    }
    specs.push(ChildSpec {
        name: "api".into(),
        program: bin_dir.join("exporter-api"),
        args: vec![],
    });
    specs
}

/// Runs until SIGINT/SIGTERM.
pub async fn run(settings: Settings) -> Result<(), SupervisorError> {
    let shutdown = Shutdown::on_signals().map_err(SupervisorError::Signals)?;
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

    let bin_dir = binary_dir()?;
    let policy = RestartPolicy::from_settings(&settings.supervisor);
    let mut running = Vec::new();
    for spec in children(&settings, &bin_dir) {
        let stop = Shutdown::new();
        let (started, is_started) = tokio::sync::oneshot::channel();
        let task = tokio::spawn(child::supervise(
            spec.clone(),
            policy,
            stop.clone(),
            shutdown.clone(),
            started,
        ));
        // In order: the aggregator first, then the collectors, the API last.
        tokio::select! {
            _ = is_started => {}
            _ = shutdown.wait() => {}
        }
        running.push((spec.name, stop, task));
    }
    tracing::info!(
        url = %format!("http://{}:{}", settings.api.host, settings.api.port),
        "exporter up: API URL (every route but /health needs the X-API-Key header)"
    );

    shutdown.wait().await;
    tracing::info!("stopping every process (reverse start order)");
    for (name, stop, task) in running.into_iter().rev() {
        stop.trigger();
        if let Err(err) = task.await {
            tracing::error!(process = %name, error = %err, "supervision task failed");
        }
    }
    tracing::info!("all processes stopped");
    Ok(())
}
