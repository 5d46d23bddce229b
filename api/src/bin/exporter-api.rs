//! `exporter-api`: serves the REST API until SIGTERM.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    exporter_runtime::process::main("exporter-api", exporter_api::run).await
}
