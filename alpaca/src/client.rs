//! The HTTP client: authentication, rate limiting, retries and typed calls.
//!
//! Every call goes through `Client::get_json`: wait for a slot in the rate limiter, send the
//! request with the two key headers, and then decide by status. 2xx is parsed (a body that does
//! not parse is [`AlpacaError::Parse`], naming the endpoint and the field); 401/403 stop at once
//! with a message about the keys and the paper/live endpoint; 429 waits as long as Alpaca asks
//! (`Retry-After`, else `X-Ratelimit-Reset`, else exponential backoff) and retries; 5xx,
//! connection errors and timeouts retry with exponential backoff; other 4xx carry Alpaca's
//! `message`. Retries stop after `max_retries`.

use std::collections::HashSet;
use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use exporter_runtime::RetryPolicy;

use chrono::{DateTime, SecondsFormat, Utc};
use reqwest::StatusCode;
use reqwest::header::{HeaderMap, HeaderValue};
use serde::de::DeserializeOwned;

use crate::activity::{ActivitiesQuery, Activity};
use crate::calendar::{Clock, MarketDay};
use crate::config::ClientConfig;
use crate::error::AlpacaError;
use crate::model::{Account, Order, Position};
use crate::portfolio::{PortfolioHistory, RawPortfolioHistory};
use crate::rate_limit::{RateLimiter, pause_until_epoch};

/// Header carrying the key id.
pub const KEY_ID_HEADER: &str = "APCA-API-KEY-ID";
/// Header carrying the secret key.
pub const SECRET_KEY_HEADER: &str = "APCA-API-SECRET-KEY";
/// Largest page Alpaca serves for orders.
pub const MAX_ORDERS_PAGE_SIZE: u32 = 500;
/// Default first backoff delay; doubled at each retry.
pub const DEFAULT_RETRY_BASE_DELAY: Duration = Duration::from_millis(500);
/// Longest backoff delay between two attempts.
pub const MAX_RETRY_DELAY: Duration = Duration::from_secs(30);
/// Safety stop for the paging loops (100 000 activities at 100 a page).
const MAX_PAGES: usize = 1000;
/// How much of an unreadable error body goes into an error message.
const BODY_EXCERPT_CHARS: usize = 300;

/// A client for Alpaca's Trading API v2. Cheap to clone; clones share the rate limiter.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    base_url: String,
    key_id: String,
    key_id_header: HeaderValue,
    secret_key_header: HeaderValue,
    max_retries: u32,
    retry_base_delay: Duration,
    limiter: Arc<Mutex<RateLimiter>>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("base_url", &self.base_url)
            .field("key_id", &self.key_id)
            .field("secret_key", &"[redacted]")
            .field("max_retries", &self.max_retries)
            .field("retry_base_delay", &self.retry_base_delay)
            .finish_non_exhaustive()
    }
}

impl Client {
    /// Builds a client; fails on empty keys, keys that cannot be HTTP header values, a zero
    /// timeout or an unusable base URL.
    pub fn new(config: ClientConfig) -> Result<Self, AlpacaError> {
        let base_url = normalise_base_url(&config.base_url)?;
        if config.key_id.trim().is_empty() {
            return Err(AlpacaError::Config(
                "alpaca key id is empty: set EXPORTER_ALPACA_KEY_ID".to_owned(),
            ));
        }
        if config.secret_key.is_empty() {
            return Err(AlpacaError::Config(
                "alpaca secret key is empty: set EXPORTER_ALPACA_SECRET_KEY".to_owned(),
            ));
        }
        if config.timeout.is_zero() {
            return Err(AlpacaError::Config(
                "alpaca timeout must be more than 0 seconds".to_owned(),
            ));
        }
        let key_id_header = HeaderValue::from_str(config.key_id.trim()).map_err(|_| {
            AlpacaError::Config("alpaca key id contains characters not allowed in a header".into())
        })?;
        let mut secret_key_header = HeaderValue::from_str(config.secret_key.expose().trim())
            .map_err(|_| {
                AlpacaError::Config(
                    "alpaca secret key contains characters not allowed in a header".into(),
                )
            })?;
        secret_key_header.set_sensitive(true);
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .connect_timeout(config.timeout)
            .user_agent(concat!("exporter-alpaca/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| AlpacaError::Config(format!("cannot build the HTTP client: {e}")))?;
        Ok(Self {
            http,
            base_url,
            key_id: config.key_id.trim().to_owned(),
            key_id_header,
            secret_key_header,
            max_retries: config.max_retries,
            retry_base_delay: DEFAULT_RETRY_BASE_DELAY,
            limiter: Arc::new(Mutex::new(RateLimiter::per_minute(
                config.max_requests_per_minute,
            ))),
        })
    }

    /// Sets the first backoff delay (doubled at each retry, default
    /// [`DEFAULT_RETRY_BASE_DELAY`]); tests use a few milliseconds.
    pub fn with_retry_base_delay(mut self, delay: Duration) -> Self {
        self.retry_base_delay = delay;
        self
    }

    /// Replaces the rate limiter (for example one with a shorter window).
    pub fn with_rate_limiter(mut self, limiter: RateLimiter) -> Self {
        self.limiter = Arc::new(Mutex::new(limiter));
        self
    }

    /// The base URL requests go to, without a trailing `/`.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// `GET /v2/account`.
    pub async fn account(&self) -> Result<Account, AlpacaError> {
        self.get_json("/v2/account", &[]).await
    }

    /// `GET /v2/positions`: every open position.
    pub async fn positions(&self) -> Result<Vec<Position>, AlpacaError> {
        self.get_json("/v2/positions", &[]).await
    }

    /// `GET /v2/orders?status=open`: every open order, oldest first, legs nested.
    ///
    /// Pages of [`MAX_ORDERS_PAGE_SIZE`]: while a page is full, the next one starts just before
    /// the last order's submission time (`after` is exclusive) and orders already seen are
    /// dropped, so none is lost or counted twice.
    pub async fn open_orders(&self) -> Result<Vec<Order>, AlpacaError> {
        let mut orders: Vec<Order> = Vec::new();
        let mut seen = HashSet::new();
        let mut after: Option<DateTime<Utc>> = None;
        for _ in 0..MAX_PAGES {
            let mut query = vec![
                ("status", "open".to_owned()),
                ("limit", MAX_ORDERS_PAGE_SIZE.to_string()),
                ("direction", "asc".to_owned()),
                ("nested", "true".to_owned()),
            ];
            if let Some(after) = after {
                query.push(("after", after.to_rfc3339_opts(SecondsFormat::Micros, true)));
            }
            let page: Vec<Order> = self.get_json("/v2/orders", &query).await?;
            let full = page.len() >= MAX_ORDERS_PAGE_SIZE as usize;
            let last_time = page
                .last()
                .map(|order| order.submitted_at.unwrap_or(order.created_at));
            let before = orders.len();
            for order in page {
                if seen.insert(order.id.clone()) {
                    orders.push(order);
                }
            }
            let progressed = orders.len() > before;
            match last_time {
                Some(time) if full && progressed => {
                    after = Some(time - chrono::Duration::microseconds(1));
                }
                _ => return Ok(orders),
            }
        }
        tracing::warn!(
            orders = orders.len(),
            "stopped paging open orders after {MAX_PAGES} pages"
        );
        Ok(orders)
    }

    /// `GET /v2/orders?status=closed&after=..`: up to [`MAX_ORDERS_PAGE_SIZE`] orders submitted
    /// after `after` that are no longer open (filled, canceled, expired, rejected), newest
    /// first.
    pub async fn closed_orders_since(
        &self,
        after: DateTime<Utc>,
    ) -> Result<Vec<Order>, AlpacaError> {
        self.get_json(
            "/v2/orders",
            &[
                ("status", "closed".to_owned()),
                ("limit", MAX_ORDERS_PAGE_SIZE.to_string()),
                ("direction", "desc".to_owned()),
                ("after", after.to_rfc3339_opts(SecondsFormat::Micros, true)),
            ],
        )
        .await
    }

    /// `GET /v2/account/activities`: one page.
    pub async fn activities(&self, query: &ActivitiesQuery) -> Result<Vec<Activity>, AlpacaError> {
        let mut params = vec![
            ("direction", query.direction.as_str().to_owned()),
            ("page_size", query.effective_page_size().to_string()),
        ];
        if !query.activity_types.is_empty() {
            params.push(("activity_types", query.activity_types.join(",")));
        }
        if let Some(after) = query.after {
            params.push(("after", after.to_rfc3339_opts(SecondsFormat::Micros, true)));
        }
        if let Some(token) = &query.page_token {
            params.push(("page_token", token.clone()));
        }
        self.get_json("/v2/account/activities", &params).await
    }

    /// Every activity matching `query` (its `after` is the "since"), in Alpaca's order, each
    /// once: pages with `page_token` = the last id of the previous page until a short page.
    pub async fn all_activities_since(
        &self,
        query: &ActivitiesQuery,
    ) -> Result<Vec<Activity>, AlpacaError> {
        let mut query = query.clone();
        let page_size = query.effective_page_size() as usize;
        let mut all: Vec<Activity> = Vec::new();
        let mut seen = HashSet::new();
        for _ in 0..MAX_PAGES {
            let page = self.activities(&query).await?;
            let short = page.len() < page_size;
            let last_id = page.last().map(|a| a.id().to_owned());
            for activity in page {
                if seen.insert(activity.id().to_owned()) {
                    all.push(activity);
                }
            }
            match last_id {
                // A server that ignores the token would repeat the page forever.
                Some(id) if !short && query.page_token.as_deref() != Some(id.as_str()) => {
                    query.page_token = Some(id);
                }
                _ => return Ok(all),
            }
        }
        tracing::warn!(
            activities = all.len(),
            "stopped paging activities after {MAX_PAGES} pages"
        );
        Ok(all)
    }

    /// `GET /v2/calendar?start=..&end=..`: the days the market opens in `[start, end]`, with
    /// their hours (a weekday missing from the answer is a holiday).
    pub async fn calendar(
        &self,
        start: chrono::NaiveDate,
        end: chrono::NaiveDate,
    ) -> Result<Vec<MarketDay>, AlpacaError> {
        self.get_json(
            "/v2/calendar",
            &[("start", start.to_string()), ("end", end.to_string())],
        )
        .await
    }

    /// `GET /v2/clock`: whether the market is open now, and its next open and close.
    pub async fn clock(&self) -> Result<Clock, AlpacaError> {
        self.get_json("/v2/clock", &[]).await
    }

    /// `GET /v2/account/portfolio/history?period=..&timeframe=..`, e.g. `("1M", "1D")`.
    pub async fn portfolio_history(
        &self,
        period: &str,
        timeframe: &str,
    ) -> Result<PortfolioHistory, AlpacaError> {
        const PATH: &str = "/v2/account/portfolio/history";
        let raw: RawPortfolioHistory = self
            .get_json(
                PATH,
                &[
                    ("period", period.to_owned()),
                    ("timeframe", timeframe.to_owned()),
                ],
            )
            .await?;
        PortfolioHistory::try_from(raw).map_err(|message| AlpacaError::Parse {
            endpoint: format!("GET {PATH}"),
            path: ".".to_owned(),
            message,
        })
    }

    /// Sends `GET path?query` with the keys, rate limiting and retries, and parses the JSON.
    async fn get_json<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(&str, String)],
    ) -> Result<T, AlpacaError> {
        let endpoint = format!("GET {path}");
        let url = format!("{}{}", self.base_url, path);
        let mut attempt: u32 = 0;
        loop {
            attempt += 1;
            let exhausted = attempt > self.max_retries;
            self.acquire_slot().await;
            // Sending and reading the body fail the same way (connection lost, timeout): one
            // retry path for both.
            let exchange = async {
                let response = self
                    .http
                    .get(&url)
                    .query(query)
                    .header(KEY_ID_HEADER, self.key_id_header.clone())
                    .header(SECRET_KEY_HEADER, self.secret_key_header.clone())
                    .send()
                    .await?;
                let status = response.status();
                let headers = response.headers().clone();
                let body = response.bytes().await?;
                Ok::<_, reqwest::Error>((status, headers, body))
            };
            let (status, headers, body) = match exchange.await {
                Ok(answer) => answer,
                Err(source) => {
                    if exhausted {
                        return Err(AlpacaError::Transport {
                            endpoint,
                            attempts: attempt,
                            source,
                        });
                    }
                    let delay = self.backoff(attempt);
                    tracing::warn!(%endpoint, attempt, error = %source, ?delay, "Alpaca unreachable or answer cut short, retrying");
                    tokio::time::sleep(delay).await;
                    continue;
                }
            };
            self.observe_server_budget(&headers);
            tracing::debug!(%endpoint, status = status.as_u16(), attempt, bytes = body.len(), "Alpaca answered");

            if status.is_success() {
                return parse_body(&endpoint, &body);
            }
            if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
                return Err(AlpacaError::Unauthorized {
                    status: status.as_u16(),
                    endpoint,
                    message: error_message(&body),
                });
            }
            if status == StatusCode::TOO_MANY_REQUESTS {
                if exhausted {
                    return Err(AlpacaError::RateLimited {
                        endpoint,
                        attempts: attempt,
                    });
                }
                let delay =
                    retry_after(&headers, Utc::now()).unwrap_or_else(|| self.backoff(attempt));
                tracing::warn!(%endpoint, attempt, ?delay, "Alpaca rate limit hit (HTTP 429), waiting");
                let now = Instant::now();
                self.lock_limiter().hold_until(now + delay, now);
                continue;
            }
            if status.is_server_error() {
                if exhausted {
                    return Err(AlpacaError::Server {
                        status: status.as_u16(),
                        endpoint,
                        attempts: attempt,
                        message: error_message(&body),
                    });
                }
                let delay = self.backoff(attempt);
                tracing::warn!(%endpoint, attempt, status = status.as_u16(), ?delay, "Alpaca server error, retrying");
                tokio::time::sleep(delay).await;
                continue;
            }
            return Err(AlpacaError::Rejected {
                status: status.as_u16(),
                endpoint,
                message: error_message(&body),
            });
        }
    }

    /// Waits until the rate limiter grants a slot.
    async fn acquire_slot(&self) {
        loop {
            let wait = match self.lock_limiter().try_acquire(Instant::now()) {
                Ok(()) => return,
                Err(wait) => wait,
            };
            tracing::debug!(?wait, "waiting for the Alpaca rate limit");
            tokio::time::sleep(wait).await;
        }
    }

    fn lock_limiter(&self) -> MutexGuard<'_, RateLimiter> {
        // The limiter's state stays consistent even if a holder panicked.
        self.limiter
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn observe_server_budget(&self, headers: &HeaderMap) {
        let remaining = header_number::<u64>(headers, "x-ratelimit-remaining");
        let reset = header_number::<i64>(headers, "x-ratelimit-reset");
        if let Some(pause) =
            self.lock_limiter()
                .observe_server_budget(remaining, reset, Instant::now(), Utc::now())
        {
            tracing::info!(
                ?pause,
                "Alpaca request budget used up, pausing until its reset"
            );
        }
    }

    /// Exponential backoff for the `attempt`-th failure (1-based): [`RetryPolicy::REMOTE`]
    /// from the configured first delay, capped at [`MAX_RETRY_DELAY`], with up to 25 % more
    /// (never sooner than the doubling: Alpaca's limits are per minute).
    fn backoff(&self, attempt: u32) -> Duration {
        RetryPolicy::REMOTE
            .with_initial(self.retry_base_delay)
            .with_max(MAX_RETRY_DELAY)
            .with_upward_jitter(0.25)
            .delay(attempt.saturating_sub(1))
    }
}

/// Checks the base URL and strips a trailing `/` or `/v2`.
fn normalise_base_url(base_url: &str) -> Result<String, AlpacaError> {
    let mut trimmed = base_url.trim().trim_end_matches('/');
    if let Some(stripped) = trimmed.strip_suffix("/v2") {
        trimmed = stripped.trim_end_matches('/');
    }
    let parsed = reqwest::Url::parse(trimmed).map_err(|e| {
        AlpacaError::Config(format!("alpaca.base_url {trimmed:?} is not a URL: {e}"))
    })?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host_str().is_none() {
        return Err(AlpacaError::Config(format!(
            "alpaca.base_url {trimmed:?} must be an http(s) URL with a host"
        )));
    }
    Ok(trimmed.to_owned())
}

/// Parses a 2xx body, naming the endpoint and the field on failure.
fn parse_body<T: DeserializeOwned>(endpoint: &str, body: &[u8]) -> Result<T, AlpacaError> {
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let parsed: Result<T, _> = serde_path_to_error::deserialize(&mut deserializer);
    let parse_error = |path: String, message: String| AlpacaError::Parse {
        endpoint: endpoint.to_owned(),
        path,
        message,
    };
    let value = parsed.map_err(|e| parse_error(e.path().to_string(), e.inner().to_string()))?;
    deserializer
        .end()
        .map_err(|e| parse_error(".".to_owned(), e.to_string()))?;
    Ok(value)
}

/// Alpaca's `message` from an error body, else the start of the body.
fn error_message(body: &[u8]) -> String {
    if let Ok(serde_json::Value::Object(map)) = serde_json::from_slice::<serde_json::Value>(body)
        && let Some(message) = map.get("message").and_then(serde_json::Value::as_str)
    {
        return message.to_owned();
    }
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    if text.is_empty() {
        return "(empty body)".to_owned();
    }
    text.chars().take(BODY_EXCERPT_CHARS).collect()
}

fn header_number<T: std::str::FromStr>(headers: &HeaderMap, name: &str) -> Option<T> {
    headers.get(name)?.to_str().ok()?.trim().parse().ok()
}

/// How long a 429 asks to wait: `Retry-After` (seconds or an HTTP date), else the
/// `X-Ratelimit-Reset` epoch second.
fn retry_after(headers: &HeaderMap, now_utc: DateTime<Utc>) -> Option<Duration> {
    if let Some(value) = headers
        .get(reqwest::header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
    {
        let value = value.trim();
        if let Ok(seconds) = value.parse::<u64>() {
            return Some(Duration::from_secs(seconds));
        }
        if let Ok(when) = DateTime::parse_from_rfc2822(value) {
            return Some(
                (when.with_timezone(&Utc) - now_utc)
                    .to_std()
                    .unwrap_or(Duration::ZERO),
            );
        }
    }
    let reset = header_number::<i64>(headers, "x-ratelimit-reset")?;
    pause_until_epoch(reset, now_utc)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_url_is_normalised() {
        assert_eq!(
            normalise_base_url("https://paper-api.alpaca.markets/v2/").unwrap(),
            "https://paper-api.alpaca.markets"
        );
        assert_eq!(
            normalise_base_url(" http://127.0.0.1:8080/ ").unwrap(),
            "http://127.0.0.1:8080"
        );
        assert!(normalise_base_url("paper-api.alpaca.markets").is_err());
        assert!(normalise_base_url("ftp://example.com").is_err());
    }

    #[test]
    fn retry_after_reads_seconds_dates_and_the_reset_header() {
        let now = DateTime::<Utc>::from_timestamp(1_700_000_000, 0).unwrap();
        let mut headers = HeaderMap::new();
        assert_eq!(retry_after(&headers, now), None);
        headers.insert("x-ratelimit-reset", HeaderValue::from_static("1700000007"));
        assert_eq!(retry_after(&headers, now), Some(Duration::from_secs(7)));
        headers.insert("retry-after", HeaderValue::from_static("2"));
        assert_eq!(retry_after(&headers, now), Some(Duration::from_secs(2)));
        headers.insert(
            "retry-after",
            HeaderValue::from_static("Tue, 14 Nov 2023 22:13:25 GMT"),
        );
        assert_eq!(retry_after(&headers, now), Some(Duration::from_secs(5)));
    }

    #[test]
    fn error_message_prefers_alpacas_message() {
        assert_eq!(
            error_message(br#"{"code":40010001,"message":"invalid page_size"}"#),
            "invalid page_size"
        );
        assert_eq!(error_message(b"  "), "(empty body)");
        assert_eq!(
            error_message(b"<html>bad gateway</html>"),
            "<html>bad gateway</html>"
        );
    }

    #[test]
    fn backoff_doubles_and_is_capped() {
        let client = Client::new(ClientConfig::new("http://127.0.0.1:1", "id", "s"))
            .unwrap()
            .with_retry_base_delay(Duration::from_millis(100));
        let first = client.backoff(1);
        assert!(first >= Duration::from_millis(100) && first < Duration::from_millis(126));
        let third = client.backoff(3);
        assert!(third >= Duration::from_millis(400) && third < Duration::from_millis(501));
        assert!(client.backoff(40) <= MAX_RETRY_DELAY + MAX_RETRY_DELAY / 4);
    }
}
