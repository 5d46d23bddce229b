//! Alerting: rules compiled from `settings/alerts.yaml`, the engine that evaluates them against
//! live samples, heartbeats, log lines and notifications (pending → firing → resolved), and the
//! dispatcher that groups, silences, repeats and delivers notifications.

pub mod dispatch;
pub mod dispatch_delivery;
pub mod dispatch_group;
pub mod engine;
pub mod receivers;
pub mod rules;
pub mod runner;
