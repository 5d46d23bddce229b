//! `exporter-collector <kind>`: runs one collector until SIGTERM.

use std::process::ExitCode;

use exporter_protocol::CollectorKind;

#[tokio::main]
async fn main() -> ExitCode {
    let usage = || {
        eprintln!(
            "usage: exporter-collector <kind>   (kinds: {})",
            CollectorKind::names()
        );
        ExitCode::from(2)
    };
    let Some(name) = std::env::args().nth(1) else {
        return usage();
    };
    let Ok(kind) = name.parse::<CollectorKind>() else {
        eprintln!("exporter-collector: unknown collector kind `{name}`");
        return usage();
    };
    exporter_runtime::process::main("exporter-collector", |settings, shutdown| {
        exporter_collectors::run(kind, settings, shutdown)
    })
    .await
}
