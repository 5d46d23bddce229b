//! `exporter-aggregator`: writes the bus into PostgreSQL until SIGTERM.

#[tokio::main]
async fn main() -> std::process::ExitCode {
    exporter_runtime::process::main("exporter-aggregator", exporter_aggregator::run).await
}
