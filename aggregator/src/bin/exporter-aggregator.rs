//! `exporter-aggregator`: writes the bus into PostgreSQL until SIGTERM.

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let settings = match exporter_settings::Settings::load() {
        Ok(settings) => settings,
        Err(err) => {
            eprintln!("exporter-aggregator: {err}");
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
    match exporter_aggregator::run(settings, shutdown).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = %err, "aggregator stopped");
            ExitCode::FAILURE
        }
    }
}
