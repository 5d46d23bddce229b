//! Runs the alert engine inside the aggregator: feeds it every live sample, heartbeat and log
//! line (core NATS subscriptions, so every aggregator sees all of them, whichever consumer
//! instance stores them), the stored notifications (by row id, so none is missed while the
//! aggregator was down), acknowledgements and silences (written by the API); evaluates on a
//! fixed interval; stores and publishes every transition; and hands notifications to the
//! dispatcher.
//!
//! PostgreSQL being away does not stop alerting: transitions are still published and delivered,
//! and their rows are written once the database is back.
//!
//! `inputs.rs` holds what each evaluation reads from the store (notifications, acknowledgements,
//! silences, known sources) and the realised-P&L task.

mod inputs;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};
use exporter_protocol::alert::{Alert, AlertEvent, AlertEventKind, AlertState};
use exporter_protocol::self_metrics as names;
use exporter_protocol::{Heartbeat, Subjects};
use exporter_runtime::{Shutdown, self_metrics};
use exporter_settings::Settings;
use exporter_store::{Domain, IncomingSample, Store};
use futures::StreamExt;
use tokio::signal::unix::{SignalKind, signal};
use uuid::Uuid;

use crate::dispatch::{self, DispatchHandle, DispatchOptions, Notice};
use crate::engine::{Change, Engine, REALISED_PNL_TODAY_SERIES};
use crate::load::{LoadedRules, RulesError, load_rules};
use inputs::{
    ENGINE_UP_WITHIN, TradingHealth, follow_market_calendar, follow_realised_pnl,
    follow_trading_health, seed_sources,
};

/// Key of the notification cursor in `alert_engine_state`.
const NOTIFICATION_CURSOR: &str = "notification_cursor";
/// A source silent for longer than this before the aggregator started counts as retired, not
/// absent (it is not seeded into absence detection).
const RETIRED_AFTER: chrono::Duration = chrono::Duration::hours(24);
/// Notification row ids read again at every evaluation (see `read_notifications`).
const NOTIFICATION_LOOKBACK: i64 = 500;
/// Transitions kept while PostgreSQL is away; beyond, the oldest are dropped (and logged).
const MAX_UNWRITTEN: usize = 10_000;
/// Longest a state read or write may hold up an evaluation (PostgreSQL slow or away).
const DB_STEP_TIMEOUT: Duration = Duration::from_secs(2);

/// Why the alert engine could not start.
#[derive(Debug, thiserror::Error)]
pub enum AlertsError {
    #[error(transparent)]
    Rules(#[from] RulesError),
    #[error("alert receivers: {0}")]
    Dispatch(#[from] dispatch::DispatchError),
    #[error("cannot subscribe to {subject}: {message}")]
    Subscribe { subject: String, message: String },
}

/// Turns a live message of `<prefix>.v1.sample.>` into the sample the engine observes (`None`
/// for anything else). The aggregator passes its decoder: payload kinds are its business, not
/// the alerting crate's.
pub struct SampleDecoder(Box<DecodeFn>);

type DecodeFn = dyn Fn(&async_nats::Message) -> Option<IncomingSample> + Send + Sync;

impl SampleDecoder {
    pub fn new(
        decode: impl Fn(&async_nats::Message) -> Option<IncomingSample> + Send + Sync + 'static,
    ) -> Self {
        Self(Box::new(decode))
    }
}

impl std::fmt::Debug for SampleDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SampleDecoder")
    }
}

/// Everything the runner needs.
#[derive(Debug)]
pub struct AlertRunner {
    settings: Settings,
    store: Store,
    client: async_nats::Client,
    subjects: Subjects,
    decoder: SampleDecoder,
    engine: Engine,
    dispatcher: DispatchHandle,
    rules_path: PathBuf,
    rules_modified: Option<SystemTime>,
    /// Changes not yet written to PostgreSQL (it was away), oldest first.
    unwritten: Vec<Change>,
    /// Open alerts currently silenced.
    silenced: HashSet<Uuid>,
    notification_cursor: Option<i64>,
    notifications_seen: HashSet<i64>,
    /// Latest realised P&L of today (see [`follow_realised_pnl`]).
    realised_pnl: tokio::sync::watch::Receiver<Option<f64>>,
    /// The latest stored market calendar (see [`follow_market_calendar`]).
    market_calendar: tokio::sync::watch::Receiver<Option<exporter_trading::MarketCalendar>>,
    /// What the trading-health series are derived from (see [`follow_trading_health`]).
    trading_health: tokio::sync::watch::Receiver<TradingHealth>,
    subscriptions: Option<(async_nats::Subscriber, async_nats::Subscriber)>,
}

impl AlertRunner {
    /// Sets up the engine from the stored state and starts the dispatcher.
    pub async fn start(
        settings: Settings,
        store: Store,
        client: async_nats::Client,
        subjects: Subjects,
        loaded: LoadedRules,
        decoder: SampleDecoder,
        shutdown: &Shutdown,
    ) -> Result<(Self, tokio::task::JoinHandle<()>), AlertsError> {
        let now = Utc::now();
        let resolve_after =
            chrono::Duration::seconds(settings.alerts.notification_resolve_after_seconds as i64);
        let mut engine = Engine::new(loaded.compiled, now, resolve_after);
        match store.open_alerts().await {
            Ok(open) => engine.restore(open),
            Err(err) => {
                tracing::warn!(error = %err, "cannot read open alerts; starting without them")
            }
        }
        seed_sources(&mut engine, &store, now).await;
        // The stored calendar from the start, so an `active_during` rule does not fire in the
        // moments before its first refresh.
        if let Ok(Some(message)) = store.market_calendar().await {
            engine
                .set_market_calendar(exporter_trading::MarketCalendar::from_message(&message).ok());
        }
        if let Ok(Some(peak)) = store.max_equity().await {
            engine.seed_equity_peak(settings.host_name(), peak);
        }
        let (dispatcher, task) = dispatch::spawn(
            loaded.file.route.clone(),
            loaded.file.receivers.clone(),
            Some(store.clone()),
            DispatchOptions {
                external_url: format!("http://{}:{}", settings.api.host, settings.api.port),
                ..DispatchOptions::default()
            },
            shutdown.clone(),
        )?;
        dispatcher.restore(
            engine
                .open_alerts()
                .map(|alert| Notice {
                    alert: alert.clone(),
                    silenced: false,
                })
                .collect(),
        );
        let (pnl_sender, realised_pnl) = tokio::sync::watch::channel(None);
        tokio::spawn(follow_realised_pnl(
            store.clone(),
            settings.trading.timezone.clone(),
            settings.trading.cost_basis.parse().unwrap_or_default(),
            pnl_sender,
            shutdown.clone(),
        ));
        let (calendar_sender, market_calendar) = tokio::sync::watch::channel(None);
        tokio::spawn(follow_market_calendar(
            store.clone(),
            calendar_sender,
            shutdown.clone(),
        ));
        let (health_sender, trading_health) = tokio::sync::watch::channel(TradingHealth::default());
        tokio::spawn(follow_trading_health(
            store.clone(),
            health_sender,
            shutdown.clone(),
        ));
        // Subscribed before the aggregator reports ready, so no sample of a collector started
        // after it is missed.
        let subscribe = |subject: String| {
            let client = client.clone();
            async move {
                client
                    .subscribe(subject.clone())
                    .await
                    .map_err(|err| AlertsError::Subscribe {
                        subject,
                        message: err.to_string(),
                    })
            }
        };
        let subscriptions = Some((
            subscribe(subjects.all_samples()).await?,
            subscribe(subjects.all_heartbeats()).await?,
        ));
        Ok((
            Self {
                rules_path: loaded.path,
                rules_modified: loaded.modified,
                settings,
                store,
                client,
                subjects,
                decoder,
                engine,
                dispatcher,
                unwritten: Vec::new(),
                silenced: HashSet::new(),
                notification_cursor: None,
                notifications_seen: HashSet::new(),
                realised_pnl,
                market_calendar,
                trading_health,
                subscriptions,
            },
            task,
        ))
    }

    /// The dispatcher's handle (the aggregator's dead-man's loop sends the Watchdog through it).
    pub fn dispatcher(&self) -> DispatchHandle {
        self.dispatcher.clone()
    }

    /// Evaluates until `shutdown`.
    pub async fn run(mut self, shutdown: Shutdown) -> Result<(), AlertsError> {
        let (mut samples, mut heartbeats) =
            self.subscriptions
                .take()
                .ok_or_else(|| AlertsError::Subscribe {
                    subject: self.subjects.all_samples(),
                    message: "run called twice".into(),
                })?;
        let mut hangup = signal(SignalKind::hangup()).ok();
        let mut evaluate = tokio::time::interval(Duration::from_secs(
            self.settings.alerts.evaluation_interval_seconds.max(1),
        ));
        evaluate.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let watch_seconds = self.settings.alerts.watch_interval_seconds;
        let mut watch = tokio::time::interval(Duration::from_secs(watch_seconds.max(1)));
        watch.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        tracing::info!(
            rules = self.engine.rules().len(),
            file = %self.rules_path.display(),
            "alert engine started"
        );
        loop {
            tokio::select! {
                _ = shutdown.wait() => break,
                Some(message) = samples.next() => self.on_sample(&message),
                Some(message) = heartbeats.next() => {
                    if let Ok(beat) = serde_json::from_slice::<Heartbeat>(&message.payload) {
                        self.engine.observe_heartbeat(&beat.process, &beat.host, Utc::now());
                    }
                }
                _ = evaluate.tick() => self.tick().await,
                _ = watch.tick(), if watch_seconds > 0 => {
                    let modified = std::fs::metadata(&self.rules_path).and_then(|m| m.modified()).ok();
                    if modified.is_some() && modified != self.rules_modified {
                        self.reload("the rules file changed");
                    }
                }
                Some(()) = async { match hangup.as_mut() { Some(h) => h.recv().await, None => std::future::pending().await } } => {
                    self.reload("SIGHUP");
                }
            }
        }
        // Last chance to store what changed.
        self.write_changes(Vec::new()).await;
        Ok(())
    }

    fn on_sample(&mut self, message: &async_nats::Message) {
        let Some(sample) = (self.decoder.0)(message) else {
            return;
        };
        let now = Utc::now();
        self.engine
            .observe_sample(&sample.source, &sample.host, &sample.points, now);
        if let Domain::Logs(lines) = &sample.domain {
            self.engine.observe_logs(&sample.host, lines, now);
        }
    }

    /// Re-reads the rules file; a broken edit keeps the running rules.
    fn reload(&mut self, why: &str) {
        match load_rules(&self.rules_path) {
            Ok(loaded) => {
                self.rules_modified = loaded.modified;
                let count = loaded.compiled.len();
                self.engine.set_rules(loaded.compiled);
                if let Err(err) = self
                    .dispatcher
                    .reload(loaded.file.route, loaded.file.receivers)
                {
                    tracing::error!(error = %err, "alert receivers not reloaded; the previous receivers stay");
                }
                tracing::info!(rules = count, reason = why, "alert rules reloaded");
            }
            Err(err) => {
                self.rules_modified = std::fs::metadata(&self.rules_path)
                    .and_then(|m| m.modified())
                    .ok();
                tracing::error!(error = %err, reason = why, "alert rules not reloaded: fix the file; the previous rules keep running");
            }
        }
    }

    /// One evaluation: notifications, acknowledgements, silences, rules; then store, publish,
    /// dispatch.
    async fn tick(&mut self) {
        let started = std::time::Instant::now();
        let now = Utc::now();
        // State reads are bounded: with PostgreSQL slow or away, evaluation goes on with what
        // the engine knows, at its normal pace.
        let _ = tokio::time::timeout(
            DB_STEP_TIMEOUT,
            seed_sources(&mut self.engine, &self.store, now),
        )
        .await;
        let _ = tokio::time::timeout(DB_STEP_TIMEOUT, self.read_notifications(now)).await;
        let acknowledged = tokio::time::timeout(DB_STEP_TIMEOUT, self.read_acknowledgements())
            .await
            .unwrap_or_default();
        let realised_pnl = *self.realised_pnl.borrow();
        if let Some(value) = realised_pnl {
            let host = self.settings.host_name().to_owned();
            // Re-observed every evaluation: a loss that stands must not go stale.
            self.engine.observe_value(
                REALISED_PNL_TODAY_SERIES,
                &Default::default(),
                &host,
                value,
                now,
            );
        }
        if self.market_calendar.has_changed().unwrap_or(false) {
            let calendar = self.market_calendar.borrow_and_update().clone();
            self.engine.set_market_calendar(calendar);
        }
        self.observe_trading_health(realised_pnl, now);
        self.engine.derive_quote_ages(now);
        let changes = self.engine.evaluate(now);
        let silence_changed = tokio::time::timeout(DB_STEP_TIMEOUT, self.read_silences(now))
            .await
            .unwrap_or_default();
        for change in &changes {
            self.publish(change).await;
        }
        let mut notices: HashMap<Uuid, Alert> = HashMap::new();
        for change in &changes {
            if matches!(
                change.alert.state,
                AlertState::Firing | AlertState::Resolved
            ) {
                notices.insert(change.alert.id, change.alert.clone());
            }
        }
        for alert in acknowledged.into_iter().chain(silence_changed) {
            if alert.state == AlertState::Firing {
                notices.entry(alert.id).or_insert(alert);
            }
        }
        for (id, alert) in notices {
            // A resolved alert is no longer "open", so look its silence up from the last tick.
            let silenced = self.silenced.contains(&id);
            self.dispatcher.notify(Notice { alert, silenced });
        }
        self.write_changes(changes).await;
        let open: Vec<&Alert> = self.engine.open_alerts().collect();
        if let Ok(Err(err)) =
            tokio::time::timeout(DB_STEP_TIMEOUT, self.store.touch_alerts(&open)).await
        {
            tracing::debug!(error = %err, "alert values not updated");
        }
        self.count_rules();
        self_metrics::global()
            .histogram(&names::ALERT_EVALUATION, &[])
            .observe_since(started);
    }

    /// `exporter.alert_rules{state}`: open alerts pending and firing, and the rules with no
    /// open alert (inactive).
    /// The trading-health series, re-observed at every evaluation: positions mismatched
    /// (while the trading system's report is fresh), seconds since the last fill of the open
    /// session (while the trading system is up), today's P&L in percent of equity.
    fn observe_trading_health(&mut self, realised_pnl: Option<f64>, now: DateTime<Utc>) {
        use crate::engine::{
            PNL_TODAY_PERCENT_SERIES, POSITIONS_MISMATCHED_SERIES, SECONDS_SINCE_FILL_SERIES,
        };
        let health = self.trading_health.borrow().clone();
        let host = self.settings.host_name().to_owned();
        let labels = Default::default();
        let engine_up = health
            .engine_reported_at
            .is_some_and(|at| now - at <= ENGINE_UP_WITHIN);
        if engine_up {
            if let Some(count) = health.mismatched {
                self.engine.observe_value(
                    POSITIONS_MISMATCHED_SERIES,
                    &labels,
                    &host,
                    count as f64,
                    now,
                );
            }
            // Since the last fill, or since today's regular open when that is later.
            let open_today = self.market_calendar.borrow().as_ref().and_then(|m| {
                let tz = m.timezone();
                let today = now.with_timezone(&tz).date_naive();
                let session = m.session_of(today)?;
                today
                    .and_time(session.open)
                    .and_local_timezone(tz)
                    .earliest()
                    .map(|t| t.with_timezone(&Utc))
                    .filter(|open| *open <= now)
            });
            if let Some(since) = health.last_fill.max(open_today) {
                let seconds = (now - since).num_milliseconds() as f64 / 1000.0;
                self.engine.observe_value(
                    SECONDS_SINCE_FILL_SERIES,
                    &labels,
                    &host,
                    seconds.max(0.0),
                    now,
                );
            }
        }
        if let (Some(pnl), Some(equity)) = (realised_pnl, health.last_equity)
            && equity > 0.0
        {
            self.engine.observe_value(
                PNL_TODAY_PERCENT_SERIES,
                &labels,
                &host,
                pnl / equity * 100.0,
                now,
            );
        }
    }

    fn count_rules(&self) {
        let open: Vec<&Alert> = self.engine.open_alerts().collect();
        let in_state = |state: AlertState| open.iter().filter(|a| a.state == state).count();
        let rules_open: HashSet<&str> = open.iter().map(|a| a.rule.as_str()).collect();
        let inactive = self
            .engine
            .rules()
            .iter()
            .filter(|rule| !rules_open.contains(rule.name.as_str()))
            .count();
        let registry = self_metrics::global();
        for (state, count) in [
            ("inactive", inactive),
            ("pending", in_state(AlertState::Pending)),
            ("firing", in_state(AlertState::Firing)),
        ] {
            registry
                .gauge(&names::ALERT_RULES, &[("state", state)])
                .set(count as f64);
        }
    }

    async fn write_changes(&mut self, changes: Vec<Change>) {
        self.unwritten.extend(changes);
        if self.unwritten.is_empty() {
            return;
        }
        if self.unwritten.len() > MAX_UNWRITTEN {
            let dropped = self.unwritten.len() - MAX_UNWRITTEN;
            self.unwritten.drain(..dropped);
            tracing::error!(
                dropped,
                "PostgreSQL has been away too long: the oldest alert transitions were not stored (they were published and delivered)"
            );
        }
        let events: Vec<(AlertEventKind, DateTime<Utc>, &Alert)> = self
            .unwritten
            .iter()
            .map(|c| (c.kind, c.time, &c.alert))
            .collect();
        let limit = DB_STEP_TIMEOUT * 5;
        let written =
            match tokio::time::timeout(limit, self.store.record_alert_events(&events)).await {
                Ok(result) => result.map_err(|err| err.to_string()),
                Err(_) => Err(format!("PostgreSQL did not answer within {limit:?}")),
            };
        match written {
            Ok(()) => self.unwritten.clear(),
            Err(err) => tracing::warn!(
                error = %err,
                waiting = self.unwritten.len(),
                "alert transitions not stored yet (PostgreSQL away?); they are kept and written at the next evaluation. Notifications still go out"
            ),
        }
    }

    async fn publish(&self, change: &Change) {
        let event = AlertEvent {
            kind: change.kind,
            time: change.time,
            alert: change.alert.clone(),
        };
        let Ok(payload) = serde_json::to_vec(&event) else {
            return;
        };
        if let Err(err) = self
            .client
            .publish(self.subjects.alert(change.kind.as_str()), payload.into())
            .await
        {
            tracing::warn!(error = %err, "alert event not published on NATS");
        }
        tracing::info!(
            alert_id = %change.alert.id,
            rule = %change.alert.rule,
            event = change.kind.as_str(),
            severity = change.alert.severity.as_str(),
            value = ?change.alert.value,
            "alert {}", change.kind.as_str()
        );
    }
}
