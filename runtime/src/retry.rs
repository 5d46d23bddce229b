//! The one retry policy every loop uses: how long to wait before the next attempt after a
//! failure, doubling from an initial delay up to a cap, with optional jitter and an optional
//! deadline after which the caller gives up.
//!
//! Before this module the project had eleven hand-written backoff loops with different delays,
//! caps and jitter. Each loop now names a [`RetryPolicy`] in one line and keeps a [`Backoff`] (the
//! state: attempts so far, when the first failure happened) or calls [`retry`] for the common
//! "until it works or we shut down" case.

use std::future::Future;
use std::time::{Duration, Instant};

use rand::Rng;

use crate::Shutdown;

/// How a delay is spread around its doubling.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Jitter {
    /// Exactly the doubling.
    None,
    /// Scaled by a random factor in `1 - f ..= 1 + f`.
    Symmetric(f64),
    /// Scaled by a random factor in `1 ..= 1 + f`: never sooner than the doubling (for a
    /// service that asked for a minimum pause, such as a rate-limited API).
    UpTo(f64),
}

/// How a failing operation is retried. Plain data, so a policy can be a `const`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RetryPolicy {
    /// Delay after the first failure.
    pub initial: Duration,
    /// No delay is longer than this (before jitter).
    pub max: Duration,
    /// How each delay is spread, so many clients that failed together do not retry together.
    pub jitter: Jitter,
    /// Give up once this much time has passed since the first failure (`None`: never).
    pub deadline: Option<Duration>,
}

impl RetryPolicy {
    /// Reconnecting to a local service (NATS, PostgreSQL, a JetStream set-up call): 250 ms
    /// doubling to 30 s, ±20 %.
    pub const SERVICE: Self =
        Self::new(Duration::from_millis(250), Duration::from_secs(30)).with_jitter(0.2);

    /// Re-sending to a local service that answers in milliseconds when it is up (a JetStream
    /// publish, a database write): 200 ms doubling to 30 s, ±20 %.
    pub const FAST: Self =
        Self::new(Duration::from_millis(200), Duration::from_secs(30)).with_jitter(0.2);

    /// Calling a web API on the internet (Alpaca, Yahoo, a receiver): 500 ms doubling to 30 s,
    /// ±25 %.
    pub const REMOTE: Self =
        Self::new(Duration::from_millis(500), Duration::from_secs(30)).with_jitter(0.25);

    /// Restarting a child process or a helper command: 1 s doubling to 60 s, ±20 %.
    pub const RESTART: Self =
        Self::new(Duration::from_secs(1), Duration::from_secs(60)).with_jitter(0.2);

    /// Doubling from `initial` up to `max`, no jitter, no deadline.
    pub const fn new(initial: Duration, max: Duration) -> Self {
        Self {
            initial,
            max,
            jitter: Jitter::None,
            deadline: None,
        }
    }

    /// The same policy with ±`fraction` of jitter (clamped to `0.0..=1.0`).
    pub const fn with_jitter(mut self, fraction: f64) -> Self {
        self.jitter = Jitter::Symmetric(fraction.clamp(0.0, 1.0));
        self
    }

    /// The same policy with up to +`fraction` of jitter: never sooner than the doubling.
    pub const fn with_upward_jitter(mut self, fraction: f64) -> Self {
        self.jitter = Jitter::UpTo(fraction.clamp(0.0, 1.0));
        self
    }

    /// The same policy giving up `deadline` after the first failure.
    pub const fn with_deadline(mut self, deadline: Duration) -> Self {
        self.deadline = Some(deadline);
        self
    }

    /// The same policy starting at `initial` (for settings that choose the first delay).
    pub const fn with_initial(mut self, initial: Duration) -> Self {
        self.initial = initial;
        self
    }

    /// The same policy capped at `max`.
    pub const fn with_max(mut self, max: Duration) -> Self {
        self.max = max;
        self
    }

    /// The delay before retry number `attempt` (0-based: 0 is the wait after the first
    /// failure), without jitter: `initial × 2^attempt`, capped at `max`.
    pub fn base_delay(&self, attempt: u32) -> Duration {
        self.initial
            .saturating_mul(2u32.saturating_pow(attempt.min(20)))
            .min(self.max)
    }

    /// The delay before retry number `attempt` (0-based), jitter applied.
    pub fn delay(&self, attempt: u32) -> Duration {
        let base = self.base_delay(attempt);
        let (low, high) = match self.jitter {
            Jitter::Symmetric(f) if f > 0.0 => (1.0 - f, 1.0 + f),
            Jitter::UpTo(f) if f > 0.0 => (1.0, 1.0 + f),
            _ => return base,
        };
        base.mul_f64(rand::rng().random_range(low..=high))
    }

    /// A fresh [`Backoff`] following this policy.
    pub fn backoff(&self) -> Backoff {
        Backoff {
            policy: *self,
            attempt: 0,
            first_failure: None,
        }
    }
}

/// The state of one retry loop: how many failures in a row, and since when.
#[derive(Debug, Clone)]
pub struct Backoff {
    policy: RetryPolicy,
    attempt: u32,
    first_failure: Option<Instant>,
}

impl Backoff {
    /// Records a failure and returns how long to wait before the next attempt, or `None` when
    /// the policy's deadline has passed (give up).
    pub fn next_delay(&mut self) -> Option<Duration> {
        let first = *self.first_failure.get_or_insert_with(Instant::now);
        if let Some(deadline) = self.policy.deadline
            && first.elapsed() >= deadline
        {
            return None;
        }
        let delay = self.policy.delay(self.attempt);
        self.attempt = self.attempt.saturating_add(1);
        Some(match self.policy.deadline {
            Some(deadline) => delay.min(deadline.saturating_sub(first.elapsed())),
            None => delay,
        })
    }

    /// Records a failure and returns how long to wait, for a loop that never gives up (the
    /// policy's deadline is not consulted).
    pub fn failed(&mut self) -> Duration {
        let delay = self.policy.delay(self.attempt);
        self.first_failure.get_or_insert_with(Instant::now);
        self.attempt = self.attempt.saturating_add(1);
        delay
    }

    /// The delay [`next_delay`](Self::next_delay) would return next, without recording a
    /// failure and without jitter (for log lines and tests).
    pub fn peek(&self) -> Duration {
        self.policy.base_delay(self.attempt)
    }

    /// Failures in a row so far.
    pub fn failures(&self) -> u32 {
        self.attempt
    }

    /// After a success: the next failure starts again at the initial delay.
    pub fn reset(&mut self) {
        self.attempt = 0;
        self.first_failure = None;
    }

    /// The policy this loop follows.
    pub fn policy(&self) -> &RetryPolicy {
        &self.policy
    }
}

/// Why [`retry`] gave up.
#[derive(Debug, thiserror::Error)]
pub enum RetryError<E> {
    #[error("shutdown requested while retrying")]
    Shutdown,
    #[error("gave up after {failures} failures: {last}")]
    Deadline { failures: u32, last: E },
}

/// Runs `attempt` until it succeeds, waiting by `policy` between failures, with a log line per
/// failure that says what is being waited for and what to check (`hint`). Stops early on
/// shutdown, or with the last error when the policy's deadline passes.
pub async fn retry<T, E, F, Fut>(
    policy: RetryPolicy,
    what: &str,
    hint: &str,
    shutdown: &Shutdown,
    mut attempt: F,
) -> Result<T, RetryError<E>>
where
    E: std::fmt::Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut backoff = policy.backoff();
    loop {
        let err = match attempt().await {
            Ok(value) => return Ok(value),
            Err(err) => err,
        };
        let Some(delay) = backoff.next_delay() else {
            tracing::error!(error = %err, failures = backoff.failures(), "{what} failed; giving up. {hint}");
            return Err(RetryError::Deadline {
                failures: backoff.failures(),
                last: err,
            });
        };
        tracing::warn!(
            error = %err,
            retry_in_ms = delay.as_millis() as u64,
            "{what} failed; retrying. {hint}"
        );
        if shutdown.sleep(delay).await {
            return Err(RetryError::Shutdown);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_double_up_to_the_cap() {
        let policy = RetryPolicy::new(Duration::from_millis(100), Duration::from_millis(700));
        let delays: Vec<u128> = (0..6).map(|n| policy.delay(n).as_millis()).collect();
        assert_eq!(delays, vec![100, 200, 400, 700, 700, 700]);
        assert_eq!(policy.delay(u32::MAX), Duration::from_millis(700));
    }

    #[test]
    fn jitter_stays_within_its_fraction() {
        let policy =
            RetryPolicy::new(Duration::from_secs(1), Duration::from_secs(1)).with_jitter(0.2);
        let delays: Vec<Duration> = (0..200).map(|_| policy.delay(0)).collect();
        assert!(
            delays
                .iter()
                .all(|d| *d >= Duration::from_millis(800) && *d <= Duration::from_millis(1200))
        );
        let distinct: std::collections::BTreeSet<_> = delays.iter().collect();
        assert!(distinct.len() > 10, "jitter should vary the delays");
    }

    #[test]
    fn upward_jitter_is_never_sooner_than_the_doubling() {
        let policy = RetryPolicy::new(Duration::from_secs(1), Duration::from_secs(1))
            .with_upward_jitter(0.25);
        for _ in 0..200 {
            let delay = policy.delay(0);
            assert!(delay >= Duration::from_secs(1) && delay <= Duration::from_millis(1250));
        }
    }

    #[test]
    fn a_backoff_resets_after_success_and_gives_up_at_its_deadline() {
        let mut backoff =
            RetryPolicy::new(Duration::from_millis(10), Duration::from_secs(1)).backoff();
        assert_eq!(backoff.next_delay(), Some(Duration::from_millis(10)));
        assert_eq!(backoff.next_delay(), Some(Duration::from_millis(20)));
        assert_eq!(backoff.failures(), 2);
        backoff.reset();
        assert_eq!(backoff.next_delay(), Some(Duration::from_millis(10)));

        let mut bounded = RetryPolicy::new(Duration::from_millis(5), Duration::from_millis(5))
            .with_deadline(Duration::from_millis(30))
            .backoff();
        let mut waited = 0;
        while let Some(delay) = bounded.next_delay() {
            std::thread::sleep(delay);
            waited += 1;
            assert!(waited < 100, "the deadline must end the loop");
        }
        assert!(waited >= 3);
    }

    #[tokio::test]
    async fn retry_returns_the_first_success_and_the_last_error_at_the_deadline() {
        let shutdown = Shutdown::new();
        let mut calls = 0;
        let policy = RetryPolicy::new(Duration::from_millis(1), Duration::from_millis(2));
        let value = retry(policy, "test", "", &shutdown, || {
            calls += 1;
            let result = if calls < 3 { Err("not yet") } else { Ok(calls) };
            async move { result }
        })
        .await;
        assert_eq!(value.ok(), Some(3));

        let bounded = policy.with_deadline(Duration::from_millis(20));
        let failed: Result<(), _> =
            retry(bounded, "test", "", &shutdown, || async { Err("down") }).await;
        assert!(matches!(
            failed,
            Err(RetryError::Deadline { last: "down", .. })
        ));
    }
}
