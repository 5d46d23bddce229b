//! The supervisor CLI `exporter`: `up` runs the whole system on one host as child processes
//! and opens the ngrok tunnel to the API, `check` says exactly what is wrong with the settings,
//! the alert rules, NATS or PostgreSQL, `migrate` applies the schema, and `status`, `logs`,
//! `stop`, `reload` and `tunnel` operate a running `up` (or the systemd units).

pub mod bus_server;
pub mod check;
pub mod child;
pub mod child_env;
pub mod keys;
pub mod ops;
pub mod report;
pub mod state_dir;
pub mod status;
pub mod tunnel;
pub mod up;

/// Why a command failed.
#[derive(Debug, thiserror::Error)]
pub enum SupervisorError {
    #[error(transparent)]
    Secret(#[from] exporter_settings::secrets::SecretError),
    #[error(transparent)]
    Store(#[from] exporter_store::StoreError),
    #[error(transparent)]
    Bus(#[from] exporter_runtime::bus::BusError),
    #[error("cannot find the process binaries next to {0}: {1}")]
    Binaries(String, std::io::Error),
    #[error("cannot install signal handlers: {0}")]
    Signals(std::io::Error),
    #[error("{0}")]
    AlreadyRunning(String),
    #[error(transparent)]
    BusServer(#[from] bus_server::BusServerError),
}
