//! The common `main` of the long-running binaries: load and validate the settings (exit 2 with
//! the message on a mistake), set up logging and the shutdown signal, run, and turn the outcome
//! into an exit code.

use std::fmt::Display;
use std::future::Future;
use std::process::ExitCode;

use exporter_settings::Settings;

use crate::{Shutdown, logging};

/// Runs `body` as the process `name`.
pub async fn main<F, Fut, E>(name: &str, body: F) -> ExitCode
where
    F: FnOnce(Settings, Shutdown) -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: Display,
{
    let settings = match Settings::load() {
        Ok(settings) => settings,
        Err(err) => {
            eprintln!("{name}: {err}");
            return ExitCode::from(2);
        }
    };
    logging::init(&settings.logging);
    let shutdown = match Shutdown::on_signals() {
        Ok(shutdown) => shutdown,
        Err(err) => {
            tracing::error!(error = %err, "cannot install signal handlers");
            return ExitCode::FAILURE;
        }
    };
    tokio::spawn(crate::systemd::watchdog(shutdown.clone()));
    let result = body(settings, shutdown).await;
    crate::systemd::stopping();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = %err, "{name} stopped");
            ExitCode::FAILURE
        }
    }
}
