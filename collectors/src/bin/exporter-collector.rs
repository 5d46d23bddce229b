//! `exporter-collector <kind>`: runs one collector until SIGTERM.

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    let Some(kind) = std::env::args().nth(1) else {
        eprintln!(
            "usage: exporter-collector <kind>   (kinds: {})",
            exporter_collectors::KINDS.join(", ")
        );
        return ExitCode::from(2);
    };
    let settings = match exporter_settings::Settings::load() {
        Ok(settings) => settings,
        Err(err) => {
            eprintln!("exporter-collector: {err}");
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
    match exporter_collectors::run(&kind, settings, shutdown).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = %err, "collector stopped");
            ExitCode::FAILURE
        }
    }
}
