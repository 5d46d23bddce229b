//! Client-side rate limiting: a sliding window plus server-imposed pauses.
//!
//! Alpaca allows 200 requests per minute per key and answers 429 beyond that. Staying under the
//! budget on our side is cheaper than being refused, so every request first takes a slot in a
//! sliding window of `max_requests` per `window`. Alpaca also reports its own count in
//! `X-Ratelimit-Remaining` / `X-Ratelimit-Reset` (epoch seconds); when the remaining count reaches
//! 0, or a 429 says when to come back, the limiter holds every request until then.
//!
//! The limiter takes the current time as an argument instead of reading a clock, so its tests
//! run in microseconds with made-up instants; the client passes `Instant::now()`.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};

/// Longest pause a server header may impose (a bogus reset far in the future must not stall
/// the exporter for hours).
pub const MAX_SERVER_PAUSE: Duration = Duration::from_secs(120);

/// A sliding-window limiter with a "hold until" set by the server's answers.
#[derive(Debug, Clone)]
pub struct RateLimiter {
    max_requests: usize,
    window: Duration,
    granted: VecDeque<Instant>,
    blocked_until: Option<Instant>,
}

impl RateLimiter {
    /// At most `max_requests` (at least 1) per `window`.
    pub fn new(max_requests: u32, window: Duration) -> Self {
        let max_requests = usize::try_from(max_requests.max(1)).unwrap_or(usize::MAX);
        Self {
            max_requests,
            window,
            granted: VecDeque::with_capacity(max_requests.min(1024)),
            blocked_until: None,
        }
    }

    /// At most `max_requests` (at least 1) per minute.
    pub fn per_minute(max_requests: u32) -> Self {
        Self::new(max_requests, Duration::from_secs(60))
    }

    /// Takes a slot at `now`, or says how long to wait before asking again.
    pub fn try_acquire(&mut self, now: Instant) -> Result<(), Duration> {
        if let Some(until) = self.blocked_until {
            if until > now {
                return Err(until - now);
            }
            self.blocked_until = None;
        }
        while let Some(&oldest) = self.granted.front() {
            if oldest + self.window <= now {
                self.granted.pop_front();
            } else {
                break;
            }
        }
        if self.granted.len() < self.max_requests {
            self.granted.push_back(now);
            return Ok(());
        }
        match self.granted.front() {
            Some(&oldest) => Err((oldest + self.window).saturating_duration_since(now)),
            None => Ok(()),
        }
    }

    /// Holds every request until `until` (keeps the later of this and any earlier hold), capped
    /// at [`MAX_SERVER_PAUSE`] after `now`.
    pub fn hold_until(&mut self, until: Instant, now: Instant) {
        let until = until.min(now + MAX_SERVER_PAUSE);
        self.blocked_until = Some(match self.blocked_until {
            Some(existing) if existing > until => existing,
            _ => until,
        });
    }

    /// Applies Alpaca's `X-Ratelimit-Remaining` / `X-Ratelimit-Reset` (epoch seconds): when the
    /// remaining count is 0, holds until the reset. Returns the pause imposed, if any.
    pub fn observe_server_budget(
        &mut self,
        remaining: Option<u64>,
        reset_epoch_seconds: Option<i64>,
        now: Instant,
        now_utc: DateTime<Utc>,
    ) -> Option<Duration> {
        if remaining != Some(0) {
            return None;
        }
        let pause = pause_until_epoch(reset_epoch_seconds?, now_utc)?;
        self.hold_until(now + pause, now);
        Some(pause.min(MAX_SERVER_PAUSE))
    }

    /// Requests granted in the current window (for tests and diagnostics).
    pub fn in_window(&self, now: Instant) -> usize {
        self.granted
            .iter()
            .filter(|&&granted| granted + self.window > now)
            .count()
    }
}

/// Time from `now_utc` to the epoch second `reset_epoch_seconds` (zero if already past); `None`
/// for a timestamp chrono cannot represent.
pub fn pause_until_epoch(reset_epoch_seconds: i64, now_utc: DateTime<Utc>) -> Option<Duration> {
    let reset = DateTime::<Utc>::from_timestamp(reset_epoch_seconds, 0)?;
    Some((reset - now_utc).to_std().unwrap_or(Duration::ZERO))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    #[test]
    fn grants_up_to_the_budget_then_says_how_long_to_wait() {
        let start = Instant::now();
        let mut limiter = RateLimiter::per_minute(3);
        assert_eq!(limiter.try_acquire(start), Ok(()));
        assert_eq!(limiter.try_acquire(start + 10 * MS), Ok(()));
        assert_eq!(limiter.try_acquire(start + 20 * MS), Ok(()));
        // Fourth within the minute: wait until the first one leaves the window.
        assert_eq!(
            limiter.try_acquire(start + 30 * MS),
            Err(Duration::from_secs(60) - 30 * MS)
        );
        assert_eq!(limiter.in_window(start + 30 * MS), 3);
        // Just before the first slot expires: still refused.
        assert!(
            limiter
                .try_acquire(start + Duration::from_secs(60) - MS)
                .is_err()
        );
        // The first slot has left the window: one more is granted, and then the second expires.
        assert_eq!(limiter.try_acquire(start + Duration::from_secs(60)), Ok(()));
        assert_eq!(
            limiter.try_acquire(start + Duration::from_secs(60)),
            Err(10 * MS)
        );
        assert_eq!(
            limiter.try_acquire(start + Duration::from_secs(60) + 10 * MS),
            Ok(())
        );
    }

    #[test]
    fn never_more_than_the_budget_in_any_window() {
        let start = Instant::now();
        let window = Duration::from_millis(100);
        let mut limiter = RateLimiter::new(5, window);
        let mut grants = Vec::new();
        for tick in 0..1000u32 {
            let now = start + Duration::from_micros(u64::from(tick) * 700);
            if limiter.try_acquire(now).is_ok() {
                grants.push(now);
            }
        }
        assert!(grants.len() > 5);
        for (i, &t) in grants.iter().enumerate() {
            let in_window = grants[i..].iter().filter(|&&g| g < t + window).count();
            assert!(in_window <= 5, "{in_window} grants within one window");
        }
    }

    #[test]
    fn zero_budget_is_treated_as_one() {
        let start = Instant::now();
        let mut limiter = RateLimiter::new(0, Duration::from_secs(1));
        assert_eq!(limiter.try_acquire(start), Ok(()));
        assert!(limiter.try_acquire(start).is_err());
    }

    #[test]
    fn server_budget_exhausted_holds_until_reset() {
        let start = Instant::now();
        let now_utc = DateTime::<Utc>::from_timestamp(1_700_000_000, 0).unwrap();
        let mut limiter = RateLimiter::per_minute(200);
        // Remaining > 0: nothing happens.
        assert_eq!(
            limiter.observe_server_budget(Some(5), Some(1_700_000_030), start, now_utc),
            None
        );
        assert_eq!(limiter.try_acquire(start), Ok(()));
        // Remaining 0, reset in 30 s: everything waits 30 s.
        let pause = limiter.observe_server_budget(Some(0), Some(1_700_000_030), start, now_utc);
        assert_eq!(pause, Some(Duration::from_secs(30)));
        assert_eq!(
            limiter.try_acquire(start + Duration::from_secs(10)),
            Err(Duration::from_secs(20))
        );
        assert_eq!(limiter.try_acquire(start + Duration::from_secs(30)), Ok(()));
        // A reset already past imposes no wait.
        assert_eq!(
            limiter.observe_server_budget(Some(0), Some(1_699_999_000), start, now_utc),
            Some(Duration::ZERO)
        );
    }

    #[test]
    fn server_pause_is_capped_and_never_shortened() {
        let start = Instant::now();
        let now_utc = DateTime::<Utc>::from_timestamp(1_700_000_000, 0).unwrap();
        let mut limiter = RateLimiter::per_minute(200);
        limiter.observe_server_budget(Some(0), Some(1_800_000_000), start, now_utc);
        assert_eq!(limiter.try_acquire(start), Err(MAX_SERVER_PAUSE));
        limiter.hold_until(start + Duration::from_secs(1), start);
        assert_eq!(limiter.try_acquire(start), Err(MAX_SERVER_PAUSE));
    }
}
