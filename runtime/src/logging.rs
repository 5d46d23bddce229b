//! `tracing` set-up: readable lines by default, JSON lines when the settings ask for it, level
//! from `RUST_LOG` or the settings. Logs go to stderr so a supervisor can prefix them.

use std::io::IsTerminal;

use exporter_settings::{LogFormat, LoggingSettings};
use tracing_subscriber::EnvFilter;

/// Installs the global subscriber; a second call is a no-op (tests start several components).
pub fn init(settings: &LoggingSettings) {
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&settings.level))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        // A failed write (the supervisor holding our stderr died) must not panic the task
        // that logged, which is what the default `eprintln!` report of the failure does.
        .log_internal_errors(false)
        .with_target(true);
    let result = match settings.format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    drop(result);
}
