//! The notification dispatcher: turns the engine's alert changes into grouped, repeated,
//! retried messages to the configured receivers.
//!
//! The engine calls [`DispatchHandle::notify`] whenever an alert becomes firing, resolved or
//! acknowledged, or its silence changes. One task owns all grouping state: per receiver, alerts
//! are grouped by the route's `group_by` labels, and each group's [`GroupState`] (pure, tested
//! with a controlled clock in [`group`]) says when a message is due. Each due message is
//! delivered by a task of its own ([`delivery`]: retries, backoff, delivery log),
//! so a slow or dead receiver delays neither other receivers nor other groups; one group sends
//! one message at a time.
//!
//! The always-firing `Watchdog` for receivers with `watchdog: true` ([`watchdog`]) goes through
//! the same task, around the groups: [`DispatchHandle::watchdog`] sends it at once.
//!
//! Secrets (`url_env`, `url_file`, `token_env`, `token_file`) are resolved in [`spawn`] and
//! [`DispatchHandle::reload`], so a missing variable or a group-readable file is an error the
//! caller sees at once, naming the receiver and the variable, never the value.

pub mod delivery;
pub mod group;
pub mod watchdog;

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use exporter_protocol::alert::{Alert, AlertState};
use exporter_runtime::Shutdown;
use exporter_store::Store;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use uuid::Uuid;

use self::delivery::Delivery;
use self::group::{GroupState, GroupTiming};
use crate::message::Message;
use crate::receivers::{self, Receiver, ReceiverError};
use crate::schema::{ReceiverSettings, RouteSettings};

/// What `in_flight` holds for a Watchdog delivery instead of a group key (a group key always
/// starts with `{`, so a rule named `Watchdog` cannot be taken for it).
const WATCHDOG_IN_FLIGHT: &str = "watchdog";

/// How long in-flight deliveries may finish after shutdown before they are cut off.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// An alert change for the dispatcher.
#[derive(Debug, Clone, PartialEq)]
pub struct Notice {
    pub alert: Alert,
    /// An active silence matches the alert's labels.
    pub silenced: bool,
}

/// Delivery tuning that is not in the rules file.
#[derive(Debug, Clone)]
pub struct DispatchOptions {
    /// First wait after a failed attempt; doubles per attempt (see [`delivery::policy`]).
    pub retry_initial: Duration,
    /// Longest wait between attempts (unless the service asks for more with `Retry-After`).
    pub retry_max: Duration,
    /// Base of links in messages (`generatorURL`, `externalURL`): where the API is reachable.
    pub external_url: String,
}

impl Default for DispatchOptions {
    fn default() -> Self {
        Self {
            retry_initial: Duration::from_secs(1),
            retry_max: Duration::from_secs(60),
            external_url: "http://127.0.0.1:8000".into(),
        }
    }
}

/// Why the dispatcher cannot start or reload. Messages name the receiver and the variable or
/// file, never a secret's value.
#[derive(Debug, thiserror::Error)]
pub enum DispatchError {
    #[error(transparent)]
    Receiver(#[from] ReceiverError),
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
    #[error("the alert dispatcher has stopped")]
    Stopped,
}

enum Command {
    Notice(Notice),
    Restore(Vec<Notice>),
    Reload {
        route: RouteSettings,
        receivers: Vec<Arc<Receiver>>,
    },
    Watchdog {
        host: String,
    },
}

/// Cheap, cloneable access to the dispatcher task.
#[derive(Debug, Clone)]
pub struct DispatchHandle {
    tx: mpsc::UnboundedSender<Command>,
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Notice(n) => f.debug_tuple("Notice").field(&n.alert.id).finish(),
            Self::Restore(n) => f.debug_tuple("Restore").field(&n.len()).finish(),
            Self::Reload { receivers, .. } => f
                .debug_struct("Reload")
                .field("receivers", &receivers.len())
                .finish(),
            Self::Watchdog { host } => f.debug_struct("Watchdog").field("host", host).finish(),
        }
    }
}

impl DispatchHandle {
    /// Hands an alert change over. Pending and inactive alerts are ignored (never notified).
    pub fn notify(&self, notice: Notice) {
        if matches!(
            notice.alert.state,
            AlertState::Pending | AlertState::Inactive
        ) {
            return;
        }
        if self.tx.send(Command::Notice(notice)).is_err() {
            tracing::debug!("alert dispatcher stopped; notice dropped");
        }
    }

    /// Hands over the alerts still firing when the aggregator restarted (the engine's restored
    /// state). Those the store says were notified before are not sent again (their repeat and
    /// their resolution are); the others go out after `group_wait`.
    pub fn restore(&self, notices: Vec<Notice>) {
        let notices: Vec<Notice> = notices
            .into_iter()
            .filter(|n| n.alert.state == AlertState::Firing)
            .collect();
        if !notices.is_empty() && self.tx.send(Command::Restore(notices)).is_err() {
            tracing::debug!("alert dispatcher stopped; restored alerts dropped");
        }
    }

    /// Applies a new route and receivers (secrets resolved now; on error nothing changes).
    /// Groups of receivers that stay keep their state, so nothing is sent twice.
    pub fn reload(
        &self,
        route: RouteSettings,
        receivers: Vec<ReceiverSettings>,
    ) -> Result<(), DispatchError> {
        let receivers = receivers::resolve_all(&receivers)?;
        self.tx
            .send(Command::Reload { route, receivers })
            .map_err(|_| DispatchError::Stopped)
    }

    /// Sends the always-firing `Watchdog` of `host` to every receiver with `watchdog: true` now
    /// (the caller says when all is well; see [`watchdog`]).
    pub fn watchdog(&self, host: &str) {
        let command = Command::Watchdog {
            host: host.to_owned(),
        };
        if self.tx.send(command).is_err() {
            tracing::debug!("alert dispatcher stopped; Watchdog not sent");
        }
    }

    /// True while the dispatcher task runs.
    pub fn is_running(&self) -> bool {
        !self.tx.is_closed()
    }
}

/// Resolves the receivers' secrets, then starts the dispatcher task; it runs until `shutdown`
/// (or until every handle is dropped), then gives in-flight deliveries a few seconds.
pub fn spawn(
    route: RouteSettings,
    receivers: Vec<ReceiverSettings>,
    store: Option<Store>,
    options: DispatchOptions,
    shutdown: Shutdown,
) -> Result<(DispatchHandle, tokio::task::JoinHandle<()>), DispatchError> {
    let receivers = receivers::resolve_all(&receivers)?;
    let client = reqwest::Client::builder()
        // A redirect would carry the request (and its token) somewhere else; refuse.
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("gh200-exporter/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|err| DispatchError::Client(err.without_url().to_string()))?;
    let (tx, rx) = mpsc::unbounded_channel();
    let mut dispatcher = Dispatcher {
        route: route.clone(),
        receivers: Vec::new(),
        active: HashMap::new(),
        store,
        client,
        options,
        external_url: Arc::from(""),
        shutdown: shutdown.clone(),
        deliveries: JoinSet::new(),
        in_flight: HashMap::new(),
        watchdog: None,
    };
    dispatcher.external_url = Arc::from(dispatcher.options.external_url.as_str());
    dispatcher.apply_reload(Instant::now(), route, receivers);
    tracing::info!(
        receivers = dispatcher.receivers.len(),
        group_by = ?dispatcher.route.group_by,
        "alert dispatcher started"
    );
    let task = tokio::spawn(dispatcher.run(rx));
    Ok((DispatchHandle { tx }, task))
}

/// A receiver and its groups.
struct ReceiverGroups {
    receiver: Arc<Receiver>,
    groups: HashMap<String, GroupState>,
}

impl ReceiverGroups {
    /// This receiver's group `key`, created empty when new.
    fn group(
        &mut self,
        key: &str,
        labels: &BTreeMap<String, String>,
        timing: GroupTiming,
    ) -> &mut GroupState {
        let send_resolved = self.receiver.send_resolved;
        self.groups.entry(key.to_owned()).or_insert_with(|| {
            GroupState::new(key.to_owned(), labels.clone(), timing, send_resolved)
        })
    }
}

/// The dispatcher task's state (see the module documentation).
pub struct Dispatcher {
    route: RouteSettings,
    receivers: Vec<ReceiverGroups>,
    /// Firing alerts, as last noticed (a receiver added by a reload starts from these).
    active: HashMap<Uuid, Notice>,
    store: Option<Store>,
    client: reqwest::Client,
    options: DispatchOptions,
    external_url: Arc<str>,
    shutdown: Shutdown,
    deliveries: JoinSet<bool>,
    /// Delivery task → (receiver, group key; [`WATCHDOG_IN_FLIGHT`] for the Watchdog).
    in_flight: HashMap<tokio::task::Id, (String, String)>,
    /// The Watchdog, made at its first message (the same one after).
    watchdog: Option<Alert>,
}

impl std::fmt::Debug for Dispatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Dispatcher")
            .field("receivers", &self.receivers.len())
            .field("active", &self.active.len())
            .field("in_flight", &self.in_flight.len())
            .finish_non_exhaustive()
    }
}

/// The group of `labels` under `group_by` (`...` groups by every label): its key
/// (`{alertname="GpuHot", host="gh200"}`) and labels. Labels an alert lacks are left out.
pub fn group_of(
    labels: &BTreeMap<String, String>,
    group_by: &[String],
) -> (String, BTreeMap<String, String>) {
    let chosen: BTreeMap<String, String> = if group_by.iter().any(|l| l == "...") {
        labels.clone()
    } else {
        group_by
            .iter()
            .filter_map(|name| labels.get(name).map(|v| (name.clone(), v.clone())))
            .collect()
    };
    let inner: Vec<String> = chosen.iter().map(|(k, v)| format!("{k}={v:?}")).collect();
    (format!("{{{}}}", inner.join(", ")), chosen)
}

impl Dispatcher {
    async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Command>) {
        let shutdown = self.shutdown.clone();
        loop {
            let next = self.next_due();
            let sleep = async move {
                match next {
                    Some(at) => tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = shutdown.wait() => break,
                command = rx.recv() => match command {
                    Some(Command::Notice(notice)) => self.on_notice(Instant::now(), notice),
                    Some(Command::Restore(notices)) => self.on_restore(notices).await,
                    Some(Command::Reload { route, receivers }) => {
                        self.apply_reload(Instant::now(), route, receivers);
                        tracing::info!(receivers = self.receivers.len(), "alert dispatcher reloaded");
                    }
                    Some(Command::Watchdog { host }) => self.send_watchdog(&host),
                    None => break,
                },
                Some(done) = self.deliveries.join_next_with_id(), if !self.deliveries.is_empty() => {
                    self.on_done(done);
                }
                () = sleep => {}
            }
            self.flush_due(Instant::now());
        }
        // Deliveries stop retrying on shutdown; let the attempts under way finish.
        let drain = async {
            while let Some(done) = self.deliveries.join_next_with_id().await {
                self.on_done(done);
            }
        };
        if tokio::time::timeout(SHUTDOWN_GRACE, drain).await.is_err() {
            self.deliveries.abort_all();
        }
        tracing::info!("alert dispatcher stopped");
    }

    fn next_due(&self) -> Option<Instant> {
        self.receivers
            .iter()
            .flat_map(|r| r.groups.values())
            .filter_map(GroupState::next_due)
            .min()
    }

    fn timing(&self) -> GroupTiming {
        GroupTiming::from(&self.route)
    }

    fn on_notice(&mut self, now: Instant, notice: Notice) {
        let alert = &notice.alert;
        match alert.state {
            AlertState::Pending | AlertState::Inactive => return,
            AlertState::Firing => {
                self.active.insert(alert.id, notice.clone());
            }
            AlertState::Resolved => {
                self.active.remove(&alert.id);
            }
        }
        let (key, labels) = group_of(&alert.labels, &self.route.group_by);
        let timing = self.timing();
        for rg in &mut self.receivers {
            let known = rg.groups.get(&key).is_some_and(|g| g.contains(alert.id));
            if !known && (alert.state != AlertState::Firing || !rg.receiver.accepts(alert)) {
                continue;
            }
            let group = rg.group(&key, &labels, timing);
            group.on_notice(now, alert, notice.silenced);
            if group.is_empty() {
                rg.groups.remove(&key);
            }
        }
    }

    async fn on_restore(&mut self, notices: Vec<Notice>) {
        let ids: Vec<Uuid> = notices.iter().map(|n| n.alert.id).collect();
        // Per receiver: one whose delivery had failed before the restart still gets it.
        let notified: HashSet<(Uuid, String)> = match &self.store {
            Some(store) => {
                match tokio::time::timeout(Duration::from_secs(10), store.notified_receivers(&ids))
                    .await
                {
                    Ok(Ok(rows)) => rows.into_iter().collect(),
                    Ok(Err(err)) => {
                        tracing::warn!(error = %err, "cannot read which alerts were notified; they are sent again");
                        HashSet::new()
                    }
                    Err(_) => {
                        tracing::warn!(
                            "reading which alerts were notified timed out; they are sent again"
                        );
                        HashSet::new()
                    }
                }
            }
            None => HashSet::new(),
        };
        let now = Instant::now();
        let timing = self.timing();
        for notice in notices {
            let alert = &notice.alert;
            if alert.state != AlertState::Firing {
                continue;
            }
            self.active.insert(alert.id, notice.clone());
            let (key, labels) = group_of(&alert.labels, &self.route.group_by);
            for rg in &mut self.receivers {
                if !rg.receiver.accepts(alert) {
                    continue;
                }
                let was_notified = notified.contains(&(alert.id, rg.receiver.name.clone()));
                let group = rg.group(&key, &labels, timing);
                if group.contains(alert.id) {
                    continue;
                }
                if was_notified {
                    group.restore_notified(now, alert, notice.silenced);
                } else {
                    group.on_notice(now, alert, notice.silenced);
                }
            }
        }
        tracing::info!(
            alerts = ids.len(),
            notified_before = notified.len(),
            "alert dispatcher restored firing alerts"
        );
    }

    /// One Watchdog message to each opted-in receiver that has none in flight.
    fn send_watchdog(&mut self, host: &str) {
        if self.shutdown.is_triggered() {
            return;
        }
        let alert = self
            .watchdog
            .get_or_insert_with(|| watchdog::alert(host, chrono::Utc::now()))
            .clone();
        for rg in &self.receivers {
            let name = &rg.receiver.name;
            let busy = self
                .in_flight
                .values()
                .any(|(r, key)| r == name && key == WATCHDOG_IN_FLIGHT);
            if !rg.receiver.watchdog || busy {
                continue;
            }
            let handle = self.deliveries.spawn(watchdog::send(
                rg.receiver.clone(),
                self.client.clone(),
                watchdog::message(name, &alert),
                self.external_url.clone(),
                self.shutdown.clone(),
            ));
            self.in_flight
                .insert(handle.id(), (name.clone(), WATCHDOG_IN_FLIGHT.to_owned()));
        }
    }

    fn on_done(&mut self, done: Result<(tokio::task::Id, bool), tokio::task::JoinError>) {
        let (id, ok) = match done {
            Ok((id, ok)) => (id, ok),
            Err(err) => {
                if err.is_panic() {
                    tracing::error!("an alert delivery task panicked");
                }
                (err.id(), false)
            }
        };
        let Some((receiver, key)) = self.in_flight.remove(&id) else {
            return;
        };
        let now = Instant::now();
        if let Some(rg) = self
            .receivers
            .iter_mut()
            .find(|r| r.receiver.name == receiver)
            && let Some(group) = rg.groups.get_mut(&key)
        {
            group.on_delivered(now, ok);
            if group.is_empty() {
                rg.groups.remove(&key);
            }
        }
    }

    fn flush_due(&mut self, now: Instant) {
        if self.shutdown.is_triggered() {
            return;
        }
        for rg in &mut self.receivers {
            for group in rg.groups.values_mut() {
                let Some(flush) = group.take_flush(now) else {
                    continue;
                };
                tracing::debug!(
                    receiver = %rg.receiver.name,
                    group_key = group.key(),
                    reason = ?flush.reason,
                    alerts = flush.alerts.len(),
                    "alert notification due"
                );
                let job = Delivery {
                    receiver: rg.receiver.clone(),
                    message: Message {
                        receiver: rg.receiver.name.clone(),
                        group_key: group.key().to_owned(),
                        group_labels: group.labels().clone(),
                        alerts: flush.alerts,
                        watchdog: false,
                    },
                    client: self.client.clone(),
                    store: self.store.clone(),
                    retry: delivery::policy(&self.options),
                    external_url: self.external_url.clone(),
                };
                let handle = self
                    .deliveries
                    .spawn(delivery::deliver(job, self.shutdown.clone()));
                self.in_flight.insert(
                    handle.id(),
                    (rg.receiver.name.clone(), group.key().to_owned()),
                );
            }
            rg.groups.retain(|_, g| !g.is_empty());
        }
    }

    /// Installs a route and receivers. A receiver that stays (same name, same `group_by`)
    /// keeps its groups; otherwise its groups are rebuilt from the firing alerts, keeping which
    /// of them were already notified so nothing is sent twice.
    fn apply_reload(&mut self, now: Instant, route: RouteSettings, receivers: Vec<Arc<Receiver>>) {
        let regroup = route.group_by != self.route.group_by;
        self.route = route;
        let timing = self.timing();
        let mut old: HashMap<String, ReceiverGroups> = self
            .receivers
            .drain(..)
            .map(|rg| (rg.receiver.name.clone(), rg))
            .collect();
        let mut fresh = Vec::with_capacity(receivers.len());
        for receiver in receivers {
            let previous = old.remove(&receiver.name);
            let mut groups = HashMap::new();
            let mut notified = HashSet::new();
            if let Some(previous) = previous {
                if regroup {
                    for group in previous.groups.values() {
                        notified.extend(group.notified_ids());
                    }
                } else {
                    groups = previous.groups;
                    for group in groups.values_mut() {
                        group.reconfigure(timing, receiver.send_resolved);
                        group.retain(|a| receiver.accepts(a), now);
                    }
                    groups.retain(|_, g| !g.is_empty());
                }
            }
            for notice in self.active.values() {
                let alert = &notice.alert;
                if !receiver.accepts(alert) {
                    continue;
                }
                let (key, labels) = group_of(&alert.labels, &self.route.group_by);
                let group = groups.entry(key.clone()).or_insert_with(|| {
                    GroupState::new(key, labels, timing, receiver.send_resolved)
                });
                if group.contains(alert.id) {
                    continue;
                }
                if notified.contains(&alert.id) {
                    group.restore_notified(now, alert, notice.silenced);
                } else {
                    group.on_notice(now, alert, notice.silenced);
                }
            }
            groups.retain(|_, g| !g.is_empty());
            fresh.push(ReceiverGroups { receiver, groups });
        }
        // Deliveries of removed receivers finish on their own; their results are ignored.
        self.receivers = fresh;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_are_keyed_by_the_group_by_labels_present() {
        let labels = BTreeMap::from([
            ("alertname".to_owned(), "GpuHot".to_owned()),
            ("host".to_owned(), "gh200".to_owned()),
            ("gpu".to_owned(), "0".to_owned()),
        ]);
        let by = |names: &[&str]| names.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        let (key, group) = group_of(&labels, &by(&["alertname", "host", "missing"]));
        assert_eq!(key, r#"{alertname="GpuHot", host="gh200"}"#);
        assert_eq!(group.len(), 2);
        let (key, _) = group_of(&labels, &by(&[]));
        assert_eq!(key, "{}");
        let (_, all) = group_of(&labels, &by(&["..."]));
        assert_eq!(all, labels);
    }
}
