//! Alerting: the rules file (`settings/alerts.yaml`), the engine that evaluates its rules
//! against live samples, heartbeats, log lines and notifications (pending → firing → resolved),
//! and the dispatcher that groups, silences, repeats and delivers notifications to receivers.
//!
//! The aggregator runs it ([`runner::AlertRunner`]); `exporter check` calls [`check_rules`].
//! Where things go:
//!
//! - [`schema`]: the file's types, with a rule's kind as an enum ([`schema::Condition`]), and
//!   the shape checks. A new rule kind starts as a variant there.
//! - [`rules`]: compiling a rule (expression, matchers, regexes, templates).
//! - [`load`]: load + compile + check, the one entry point for the aggregator and the CLI.
//! - [`engine`]: the pure, clock-free state machine.
//! - [`dispatch`]: grouping and timing ([`dispatch::group`]) and delivery with retries
//!   ([`dispatch::delivery`]).
//! - [`receivers`]: one module per receiver type; a new receiver goes there.
//! - [`message`]: the unit the dispatcher hands to a receiver.
//! - [`runner`]: the aggregator-side loop (subscriptions, store, reloads).
//!
//! Dependencies run one way: `runner` → `dispatch` → `receivers` → `message`/`schema`.

pub mod dispatch;
pub mod engine;
pub mod load;
pub mod message;
pub mod receivers;
pub mod rules;
pub mod runner;
pub mod schema;

pub use load::{LoadedRules, RulesError, calendar_gated_rules, check_rules, load_rules};
pub use runner::{AlertRunner, AlertsError, SampleDecoder};
pub use schema::AlertRules;
