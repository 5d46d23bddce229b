//! Handing one message to one receiver: the HTTP attempts, the retry policy, and the delivery
//! log.
//!
//! Connection errors, timeouts, 429 and 5xx are retried by the [`policy`] (doubling from
//! `retry_initial` up to `retry_max`, or longer when the service says so with `Retry-After` or
//! Telegram's `parameters.retry_after`), up to the receiver's `max_attempts`; any other answer
//! fails at once. Every attempt is one `alert_delivery` row. Error text is stripped of URLs
//! (`reqwest::Error::without_url`) and scrubbed of the receiver's secrets before it is logged or
//! stored: a Slack hook URL or a bot token is a credential.

use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use exporter_runtime::{RetryPolicy, Shutdown};
use exporter_store::Store;
use exporter_store::delivery::{DeliveryAttempt, DeliveryStatus};
use reqwest::StatusCode;
use uuid::Uuid;

use super::DispatchOptions;
use crate::message::Message;
use crate::receivers::Receiver;

/// The longest wait a `Retry-After` may impose; longer values are cut to this.
pub const RETRY_AFTER_CAP: Duration = Duration::from_secs(300);
/// How much of an error response body goes into the log and the delivery log.
const BODY_SNIPPET_CHARS: usize = 200;

/// Everything one delivery needs.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub receiver: Arc<Receiver>,
    pub message: Message,
    pub client: reqwest::Client,
    pub store: Option<Store>,
    /// How failed attempts are retried ([`policy`]).
    pub retry: RetryPolicy,
    pub external_url: Arc<str>,
}

/// Deliveries retry doubling from `retry_initial` to `retry_max`, without jitter: the
/// dispatcher sends one message per group at a time, so there is no crowd of clients to spread.
pub fn policy(options: &DispatchOptions) -> RetryPolicy {
    RetryPolicy::new(options.retry_initial, options.retry_max)
}

/// What one attempt came to.
#[derive(Debug, Clone, PartialEq)]
pub enum Outcome {
    Sent {
        status: u16,
    },
    /// Worth another attempt; `after` is what the service asked for.
    Retry {
        status: Option<u16>,
        error: String,
        after: Option<Duration>,
    },
    Fail {
        status: Option<u16>,
        error: String,
    },
}

/// The wait before attempt `failed + 1`: the policy's delay after `failed` failures, and at
/// least what the service asked for (cut to [`RETRY_AFTER_CAP`]).
pub fn backoff(policy: &RetryPolicy, failed: u32, asked: Option<Duration>) -> Duration {
    let ours = policy.delay(failed.saturating_sub(1));
    match asked {
        Some(asked) => ours.max(asked.min(RETRY_AFTER_CAP)),
        None => ours,
    }
}

/// Reads `Retry-After`: delay-seconds or an HTTP date.
pub fn parse_retry_after(value: &str, now: DateTime<Utc>) -> Option<Duration> {
    let value = value.trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = DateTime::parse_from_rfc2822(value).ok()?;
    let delta = at.with_timezone(&Utc) - now;
    Some(delta.to_std().unwrap_or(Duration::ZERO))
}

/// `error` and its sources, one after another, without any URL.
fn describe(error: reqwest::Error) -> String {
    let error = error.without_url();
    let mut text = error.to_string();
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

fn snippet(body: &str) -> String {
    let flat: String = body.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() > BODY_SNIPPET_CHARS {
        let cut: String = flat.chars().take(BODY_SNIPPET_CHARS).collect();
        format!("{cut}…")
    } else {
        flat
    }
}

/// Sends once and classifies the answer.
pub async fn attempt(delivery: &Delivery) -> Outcome {
    let request =
        delivery
            .receiver
            .request(&delivery.client, &delivery.message, &delivery.external_url);
    let response = match request.send().await {
        Ok(response) => response,
        Err(err) => {
            let permanent = err.is_builder();
            let error = delivery.receiver.redact(&describe(err));
            return if permanent {
                Outcome::Fail {
                    status: None,
                    error,
                }
            } else {
                Outcome::Retry {
                    status: None,
                    error,
                    after: None,
                }
            };
        }
    };
    let status = response.status();
    if status.is_success() {
        return Outcome::Sent {
            status: status.as_u16(),
        };
    }
    let header_after = response
        .headers()
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| parse_retry_after(v, Utc::now()));
    let body = response.text().await.unwrap_or_default();
    // Telegram says how long to wait in its JSON body.
    let body_after = serde_json::from_str::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v["parameters"]["retry_after"].as_u64())
        .map(Duration::from_secs);
    let reason = status.canonical_reason().unwrap_or("");
    let text = snippet(&body);
    let error = delivery.receiver.redact(&if text.is_empty() {
        format!("HTTP {} {reason}", status.as_u16())
    } else {
        format!("HTTP {} {reason}: {text}", status.as_u16())
    });
    if status == StatusCode::TOO_MANY_REQUESTS || status.is_server_error() {
        Outcome::Retry {
            status: Some(status.as_u16()),
            error,
            after: header_after.or(body_after),
        }
    } else {
        Outcome::Fail {
            status: Some(status.as_u16()),
            error,
        }
    }
}

/// One attempt's row, before it is written.
struct Row<'a> {
    time: DateTime<Utc>,
    status: DeliveryStatus,
    attempt: u32,
    http_status: Option<u16>,
    error: Option<&'a str>,
    duration: Duration,
}

async fn record(delivery: &Delivery, ids: &[Uuid], row: Row<'_>) {
    let Some(store) = &delivery.store else {
        return;
    };
    let attempt = DeliveryAttempt {
        time: row.time,
        receiver: &delivery.receiver.name,
        group_key: &delivery.message.group_key,
        alert_ids: ids,
        status: row.status,
        attempt: row.attempt,
        http_status: row.http_status,
        error: row.error,
        duration_ms: u64::try_from(row.duration.as_millis()).unwrap_or(u64::MAX),
    };
    if let Err(err) = store.record_delivery(&attempt).await {
        tracing::warn!(
            receiver = %delivery.receiver.name,
            error = %err,
            "cannot write the delivery log"
        );
    }
}

/// Tries until the receiver accepts, a permanent error, the last attempt, or `shutdown`.
/// Returns true when delivered, and counts the outcome in
/// `exporter.notifications_total{receiver, outcome}` (`sent`, or `failed` when given up on).
pub async fn deliver(delivery: Delivery, shutdown: Shutdown) -> bool {
    let receiver = delivery.receiver.name.clone();
    let sent = try_deliver(delivery, shutdown).await;
    exporter_runtime::self_metrics::global()
        .counter(
            &exporter_protocol::self_metrics::NOTIFICATIONS,
            &[
                ("receiver", &receiver),
                ("outcome", if sent { "sent" } else { "failed" }),
            ],
        )
        .inc();
    sent
}

async fn try_deliver(delivery: Delivery, shutdown: Shutdown) -> bool {
    let receiver = delivery.receiver.name.clone();
    let group_key = delivery.message.group_key.clone();
    let ids: Vec<Uuid> = delivery.message.alerts.iter().map(|a| a.id).collect();
    let max_attempts = delivery.receiver.max_attempts.max(1);
    for attempt_no in 1..=max_attempts {
        let time = Utc::now();
        let started = Instant::now();
        let outcome = attempt(&delivery).await;
        let duration = started.elapsed();
        let duration_ms = u64::try_from(duration.as_millis()).unwrap_or(u64::MAX);
        match outcome {
            Outcome::Sent { status } => {
                let row = Row {
                    time,
                    status: DeliveryStatus::Sent,
                    attempt: attempt_no,
                    http_status: Some(status),
                    error: None,
                    duration,
                };
                record(&delivery, &ids, row).await;
                tracing::info!(
                    %receiver,
                    %group_key,
                    alerts = ids.len(),
                    attempt = attempt_no,
                    http_status = status,
                    duration_ms,
                    "alert notification delivered"
                );
                if let Some(store) = &delivery.store
                    && let Err(err) = store.mark_notified(&ids, Utc::now()).await
                {
                    tracing::warn!(%receiver, error = %err, "cannot mark alerts as notified");
                }
                return true;
            }
            Outcome::Retry {
                status,
                error,
                after,
            } if attempt_no < max_attempts && !shutdown.is_triggered() => {
                let wait = backoff(&delivery.retry, attempt_no, after);
                let row = Row {
                    time,
                    status: DeliveryStatus::Retrying,
                    attempt: attempt_no,
                    http_status: status,
                    error: Some(&error),
                    duration,
                };
                record(&delivery, &ids, row).await;
                tracing::warn!(
                    %receiver,
                    %group_key,
                    attempt = attempt_no,
                    max_attempts,
                    http_status = status,
                    %error,
                    retry_in_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                    "alert notification not delivered; retrying"
                );
                if shutdown.sleep(wait).await {
                    tracing::warn!(%receiver, %group_key, "shutting down: alert notification dropped");
                    return false;
                }
            }
            Outcome::Retry { status, error, .. } | Outcome::Fail { status, error } => {
                let row = Row {
                    time,
                    status: DeliveryStatus::Failed,
                    attempt: attempt_no,
                    http_status: status,
                    error: Some(&error),
                    duration,
                };
                record(&delivery, &ids, row).await;
                tracing::error!(
                    %receiver,
                    %group_key,
                    attempt = attempt_no,
                    http_status = status,
                    %error,
                    "alert notification failed; giving up on this message"
                );
                return false;
            }
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_the_cap_and_honours_retry_after() {
        let ms = Duration::from_millis;
        let policy = &policy(&DispatchOptions {
            retry_initial: ms(100),
            retry_max: ms(1000),
            ..DispatchOptions::default()
        });
        assert_eq!(backoff(policy, 1, None), ms(100));
        assert_eq!(backoff(policy, 2, None), ms(200));
        assert_eq!(backoff(policy, 4, None), ms(800));
        assert_eq!(backoff(policy, 5, None), ms(1000));
        assert_eq!(backoff(policy, 30, None), ms(1000));
        assert_eq!(backoff(policy, 1, Some(ms(3000))), ms(3000));
        assert_eq!(
            backoff(policy, 1, Some(Duration::from_secs(86_400))),
            RETRY_AFTER_CAP
        );
        assert_eq!(backoff(policy, 3, Some(ms(10))), ms(400));
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        let now = DateTime::parse_from_rfc3339("2015-10-21T07:27:00Z")
            .unwrap()
            .with_timezone(&Utc);
        assert_eq!(parse_retry_after(" 7 ", now), Some(Duration::from_secs(7)));
        assert_eq!(
            parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now),
            Some(Duration::from_secs(60))
        );
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn snippets_are_short_and_flat() {
        assert_eq!(snippet(" a\n  b "), "a b");
        let long = "x".repeat(500);
        assert_eq!(snippet(&long).chars().count(), BODY_SNIPPET_CHARS + 1);
    }
}
