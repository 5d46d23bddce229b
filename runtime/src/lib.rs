//! Process plumbing every binary shares: logging set-up, the shutdown signal, the NATS
//! connection with its JetStream stream, the heartbeat and self-metrics tasks, and the one retry policy.
//!
//! Keeping it here means each `main.rs` stays a few lines and every process behaves the same way
//! on SIGTERM, on a dead NATS server and in its log format.

pub mod bus;
pub mod heartbeat;
pub mod logging;
pub mod process;
pub mod retry;
pub mod self_metrics;
pub mod shutdown;
pub mod systemd;

pub use retry::{Backoff, Jitter, RetryPolicy};
pub use shutdown::Shutdown;
