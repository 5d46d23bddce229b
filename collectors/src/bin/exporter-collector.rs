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
    exporter_runtime::process::main("exporter-collector", |settings, shutdown| {
        exporter_collectors::run(&kind, settings, shutdown)
    })
    .await
}
