//! `exporter`: the supervisor CLI (`up`, `check`, `migrate`).

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// GH200 Trading System Exporter supervisor.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run every process on this host and supervise them until SIGINT/SIGTERM.
    Up,
    /// Validate the settings and reach NATS and PostgreSQL; exit 1 if anything is wrong.
    Check,
    /// Apply the database migrations and exit.
    Migrate,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match exporter_settings::Settings::load() {
        Ok(settings) => settings,
        Err(err) => {
            eprintln!("exporter: {err}");
            return ExitCode::from(2);
        }
    };
    exporter_runtime::logging::init(&settings.logging);
    match cli.command {
        Command::Up => match exporter_supervisor::up::run(settings).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(err) => {
                tracing::error!(error = %err, "exporter up failed");
                ExitCode::FAILURE
            }
        },
        Command::Check => {
            let findings = exporter_supervisor::check::run(&settings).await;
            for finding in &findings {
                let mark = if finding.ok { "ok  " } else { "FAIL" };
                println!("{mark} {:<11} {}", finding.name, finding.detail);
            }
            if findings.iter().all(|f| f.ok) {
                ExitCode::SUCCESS
            } else {
                ExitCode::FAILURE
            }
        }
        Command::Migrate => {
            let result = async {
                let store = exporter_store::Store::connect(&settings.database).await?;
                store.migrate().await
            }
            .await;
            match result {
                Ok(()) => {
                    println!("migrations applied");
                    ExitCode::SUCCESS
                }
                Err(err) => {
                    eprintln!("exporter migrate: {err}");
                    ExitCode::FAILURE
                }
            }
        }
    }
}
