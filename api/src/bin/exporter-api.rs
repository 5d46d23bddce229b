//! `exporter-api`: serves the REST API until SIGTERM.

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let settings = match exporter_settings::Settings::load() {
        Ok(settings) => settings,
        Err(err) => {
            eprintln!("exporter-api: {err}");
            return ExitCode::from(2);
        }
    };
    exporter_runtime::logging::init(&settings.logging);
    let shutdown = match exporter_runtime::Shutdown::on_signals() {
        Ok(shutdown) => shutdown,
        Err(err) => {
            tracing::error!(error = %err, "cannot install signal handlers");
            return ExitCode::FAILURE;
        }
    };
    match exporter_api::run(settings, shutdown).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = %err, "API stopped");
            ExitCode::FAILURE
        }
    }
}
