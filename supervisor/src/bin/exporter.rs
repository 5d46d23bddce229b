//! `exporter`: the supervisor CLI.

use std::process::ExitCode;
use std::time::Duration;

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
    /// Run every process on this host (and the tunnel) until SIGINT/SIGTERM; SIGHUP reloads.
    Up,
    /// Validate the settings and reach NATS and PostgreSQL; exit 1 if anything is wrong.
    Check,
    /// Apply the database migrations and exit.
    Migrate,
    /// Every process, data freshness, NATS/PostgreSQL and the tunnel; exit 1 if unhealthy.
    Status {
        /// JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Stop a running `exporter up` (SIGTERM) and wait until it is gone.
    Stop,
    /// Re-read the settings and restart the processes one by one (SIGHUP to `exporter up`).
    Reload,
    /// Print the tail of a process's log under `exporter up` (e.g. `api`, `collector-system`).
    Logs {
        process: String,
        /// Number of lines.
        #[arg(short = 'n', long, default_value_t = 100)]
        lines: usize,
        /// Keep printing new lines.
        #[arg(short, long)]
        follow: bool,
    },
    /// Only the ngrok tunnel to the API (for systemd, where each process is its own unit).
    Tunnel,
    /// Managed API keys (state_dir/keys): the API picks up a change within seconds.
    Key {
        #[command(subcommand)]
        action: KeyAction,
    },
}

#[derive(Debug, Subcommand)]
enum KeyAction {
    /// Create a key and print it once (only its hash is stored).
    Create {
        name: String,
        /// `read` (every GET) or `admin` (also acknowledge and silence).
        #[arg(long, default_value = "read", value_parser = ["read", "admin"])]
        scope: String,
        /// Expiry: a duration from now (90d, 12h) or an RFC 3339 time; default never.
        #[arg(long)]
        expires: Option<String>,
    },
    /// List the managed keys with their scope, expiry and state.
    List {
        /// JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
    /// Revoke a key: the API refuses it within seconds.
    Revoke { name: String },
}

fn key(settings: &exporter_settings::Settings, action: KeyAction) -> Result<(), String> {
    use exporter_settings::{KeyScope, keyring};
    match action {
        KeyAction::Create {
            name,
            scope,
            expires,
        } => {
            let scope = if scope == "admin" {
                KeyScope::Admin
            } else {
                KeyScope::Read
            };
            let (record, key) = exporter_supervisor::keys::create_managed(
                settings,
                &name,
                scope,
                expires.as_deref(),
            )?;
            // The key on stdout alone (for `KEY=$(exporter key create phone)`), the rest on stderr.
            println!("{}", key.expose());
            eprintln!(
                "created key `{}` (scope {}, expires {}); it is shown only now",
                record.name,
                if scope == KeyScope::Admin {
                    "admin"
                } else {
                    "read"
                },
                record
                    .expires_at
                    .map_or_else(|| "never".to_owned(), |at| at.to_rfc3339())
            );
            Ok(())
        }
        KeyAction::List { json } => {
            let (records, problems) =
                keyring::read_all(&settings.api_keys_dir()).map_err(|e| e.to_string())?;
            for problem in problems {
                eprintln!("left out: {problem}");
            }
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&records).unwrap_or_default()
                );
            } else {
                print!("{}", exporter_supervisor::keys::render_list(&records));
            }
            Ok(())
        }
        KeyAction::Revoke { name } => keyring::revoke(&settings.api_keys_dir(), &name)
            .map(|record| eprintln!("revoked key `{}`", record.name))
            .map_err(|e| e.to_string()),
    }
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
    let outcome: Result<(), String> = match cli.command {
        Command::Up => exporter_supervisor::up::run(settings)
            .await
            .map_err(|err| err.to_string()),
        Command::Tunnel => exporter_supervisor::up::run_tunnel_only(settings)
            .await
            .map_err(|err| err.to_string()),
        Command::Check => {
            let findings = exporter_supervisor::check::run(&settings).await;
            for finding in &findings {
                let mark = if finding.ok { "ok  " } else { "FAIL" };
                println!("{mark} {:<11} {}", finding.name, finding.detail);
            }
            if findings.iter().all(|f| f.ok) {
                Ok(())
            } else {
                return ExitCode::FAILURE;
            }
        }
        Command::Migrate => async {
            let store = exporter_store::Store::connect(&settings.database).await?;
            store.migrate().await
        }
        .await
        .map(|()| println!("migrations applied"))
        .map_err(|err| err.to_string()),
        Command::Status { json } => {
            let status = exporter_supervisor::status::collect(&settings).await;
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&status).unwrap_or_default()
                );
            } else {
                print!("{}", exporter_supervisor::status::render(&status));
            }
            if status.healthy() {
                Ok(())
            } else {
                return ExitCode::FAILURE;
            }
        }
        Command::Stop => {
            let grace = Duration::from_secs(settings.supervisor.stop_grace_seconds * 3 + 5);
            exporter_supervisor::ops::signal_supervisor(
                &settings.state_dir,
                nix::sys::signal::Signal::SIGTERM,
                Some(grace),
            )
            .map(|pid| println!("stopped exporter up (pid {pid})"))
        }
        Command::Reload => exporter_supervisor::ops::signal_supervisor(
            &settings.state_dir,
            nix::sys::signal::Signal::SIGHUP,
            None,
        )
        .map(|pid| println!("asked exporter up (pid {pid}) to reload")),
        Command::Logs {
            process,
            lines,
            follow,
        } => exporter_supervisor::ops::logs(&settings.state_dir, &process, lines, follow),
        Command::Key { action } => key(&settings, action),
    };
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("exporter: {err}");
            ExitCode::FAILURE
        }
    }
}
