//! Failed-authentication throttling and audit. Every request without a valid key counts
//! against its client address ([`crate::serve::client_address`]: the TCP peer, loopback
//! included, or through the tunnel the address ngrok saw); past `api.auth_failure_limit` within
//! `api.auth_failure_window_seconds`, that address's failed attempts get 429 with `Retry-After`
//! instead of 401. A request with a valid key is never throttled, so the owner is not locked out
//! by someone else guessing from the same address (behind the tunnel, a shared NAT). Failures
//! are logged in aggregate (one line per address every [`AUDIT_INTERVAL`]) and counted in
//! self-metrics, which the shipped `AuthFailureBurst` rule watches.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use exporter_runtime::Shutdown;

/// How often the failures since the last line are logged, and the gauge updated.
pub const AUDIT_INTERVAL: Duration = Duration::from_secs(10);

/// Addresses remembered at most; past it, those whose failures left the window are forgotten
/// first, then the whole table (memory stays bounded under a spray of addresses).
const MAX_ADDRESSES: usize = 10_000;

#[derive(Debug)]
pub struct AuthFailures {
    limit: usize,
    window: Duration,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    recent: HashMap<String, VecDeque<Instant>>,
    /// Failures per address since the last audit line.
    unlogged: BTreeMap<String, u64>,
}

impl AuthFailures {
    pub fn new(limit: u32, window: Duration) -> Self {
        Self {
            limit: limit as usize,
            window,
            state: Mutex::default(),
        }
    }

    /// Records a failed attempt from `address`; `Some(retry_after)` when the address is past
    /// its limit (answer 429), `None` for a plain 401.
    pub fn record(&self, address: &str, now: Instant) -> Option<Duration> {
        let mut state = self.state.lock().expect("auth failures");
        *state.unlogged.entry(address.to_owned()).or_default() += 1;
        if state.recent.len() >= MAX_ADDRESSES && !state.recent.contains_key(address) {
            let window = self.window;
            state.recent.retain(|_, times| {
                times
                    .back()
                    .is_some_and(|last| now.duration_since(*last) < window)
            });
            if state.recent.len() >= MAX_ADDRESSES {
                state.recent.clear();
            }
        }
        let times = state.recent.entry(address.to_owned()).or_default();
        while times
            .front()
            .is_some_and(|first| now.duration_since(*first) >= self.window)
        {
            times.pop_front();
        }
        times.push_back(now);
        // Keep no more than needed to judge the limit.
        while times.len() > self.limit + 1 {
            times.pop_front();
        }
        (times.len() > self.limit).then(|| {
            let oldest = times.front().copied().unwrap_or(now);
            self.window
                .saturating_sub(now.duration_since(oldest))
                .max(Duration::from_secs(1))
        })
    }

    /// Failures within the window, every address together.
    pub fn recent_total(&self, now: Instant) -> usize {
        let state = self.state.lock().expect("auth failures");
        state
            .recent
            .values()
            .map(|times| {
                times
                    .iter()
                    .filter(|t| now.duration_since(**t) < self.window)
                    .count()
            })
            .sum()
    }

    fn take_unlogged(&self) -> BTreeMap<String, u64> {
        std::mem::take(&mut self.state.lock().expect("auth failures").unlogged)
    }

    /// Logs the failures of each address since the last line and updates the gauge, every
    /// [`AUDIT_INTERVAL`], until `shutdown`.
    pub async fn audit(self: std::sync::Arc<Self>, shutdown: Shutdown) {
        let gauge = exporter_runtime::self_metrics::global()
            .gauge(&exporter_protocol::self_metrics::AUTH_FAILURES_RECENT, &[]);
        loop {
            for (address, failures) in self.take_unlogged() {
                tracing::warn!(
                    client_address = %address,
                    failures,
                    interval_seconds = AUDIT_INTERVAL.as_secs(),
                    "failed authentication (missing or wrong API key)"
                );
            }
            gauge.set(self.recent_total(Instant::now()) as f64);
            if shutdown.sleep(AUDIT_INTERVAL).await {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_address_past_its_limit_is_throttled_until_its_failures_age_out() {
        let failures = AuthFailures::new(3, Duration::from_secs(60));
        let start = Instant::now();
        for i in 0..3 {
            assert_eq!(
                failures.record("10.0.0.1", start + Duration::from_secs(i)),
                None
            );
        }
        let retry = failures
            .record("10.0.0.1", start + Duration::from_secs(10))
            .expect("the fourth failure is throttled");
        assert_eq!(
            retry,
            Duration::from_secs(50),
            "until the oldest leaves the window"
        );
        assert_eq!(
            failures.record("10.0.0.2", start + Duration::from_secs(10)),
            None,
            "another address is not"
        );
        assert_eq!(failures.recent_total(start + Duration::from_secs(10)), 5);
        assert_eq!(
            failures.record("10.0.0.1", start + Duration::from_secs(200)),
            None,
            "once the window passed"
        );
        let logged = failures.take_unlogged();
        assert_eq!(logged["10.0.0.1"], 5);
        assert_eq!(logged["10.0.0.2"], 1);
        assert!(failures.take_unlogged().is_empty());
    }
}
