//! Everything that can go wrong talking to Alpaca, as one enum.
//!
//! Each variant says what to do about it: wrong keys are told apart from a server that is down,
//! a rate limit that would not lift, a request Alpaca refused, and an answer this client cannot
//! read (which names the endpoint and the field, so a changed API is found quickly).

/// An error from the Alpaca client.
#[derive(Debug, thiserror::Error)]
pub enum AlpacaError {
    /// The settings cannot make a client (empty key, unusable base URL, ...).
    #[error("invalid Alpaca client settings: {0}")]
    Config(String),

    /// HTTP 401 or 403: the keys are wrong, revoked, or meant for the other endpoint.
    /// Never retried.
    #[error(
        "Alpaca rejected the API keys (HTTP {status}) on {endpoint}: check EXPORTER_ALPACA_KEY_ID / \
         EXPORTER_ALPACA_SECRET_KEY and that alpaca.base_url is the paper endpoint for paper keys \
         (https://paper-api.alpaca.markets) or the live endpoint for live keys \
         (https://api.alpaca.markets); Alpaca said: {message}"
    )]
    Unauthorized {
        /// 401 or 403.
        status: u16,
        /// Method and path, e.g. `GET /v2/account`.
        endpoint: String,
        /// Alpaca's `message`, or the start of the body.
        message: String,
    },

    /// Another 4xx: Alpaca refused the request; its `message` says why. Never retried.
    #[error("Alpaca refused {endpoint} (HTTP {status}): {message}")]
    Rejected {
        /// The HTTP status.
        status: u16,
        /// Method and path, e.g. `GET /v2/account/activities`.
        endpoint: String,
        /// Alpaca's `message`, or the start of the body.
        message: String,
    },

    /// HTTP 429 on every attempt.
    #[error(
        "Alpaca kept answering HTTP 429 (rate limited) on {endpoint} after {attempts} attempts"
    )]
    RateLimited {
        /// Method and path.
        endpoint: String,
        /// Requests sent, the first included.
        attempts: u32,
    },

    /// HTTP 5xx on every attempt.
    #[error("Alpaca answered HTTP {status} on {endpoint} after {attempts} attempts: {message}")]
    Server {
        /// The last HTTP status.
        status: u16,
        /// Method and path.
        endpoint: String,
        /// Requests sent, the first included.
        attempts: u32,
        /// Alpaca's `message`, or the start of the body.
        message: String,
    },

    /// Connection failure, timeout or broken body on every attempt.
    #[error("could not reach Alpaca for {endpoint} after {attempts} attempts: {source}")]
    Transport {
        /// Method and path.
        endpoint: String,
        /// Requests tried, the first included.
        attempts: u32,
        /// The last transport error.
        #[source]
        source: reqwest::Error,
    },

    /// A 2xx answer whose body does not have the expected shape.
    #[error("could not parse Alpaca's answer to {endpoint} at `{path}`: {message}")]
    Parse {
        /// Method and path.
        endpoint: String,
        /// Where in the body it failed, e.g. `[0].qty` (`.` for the whole body).
        path: String,
        /// serde's message.
        message: String,
    },
}

impl AlpacaError {
    /// Whether this error means the API keys (or the endpoint they belong to) are wrong.
    pub fn is_unauthorized(&self) -> bool {
        matches!(self, Self::Unauthorized { .. })
    }
}
