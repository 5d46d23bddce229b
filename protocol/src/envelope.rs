//! The envelope around every sample: who sent it, when, with which unique id.
//!
//! The id is a UUIDv7; collectors also send it as the `Nats-Msg-Id` header so JetStream drops a
//! re-published duplicate, and the aggregator keys its idempotent writes on it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use uuid::Uuid;

/// Version of the envelope layout. Readers accept this version and ignore unknown fields.
pub const SCHEMA_VERSION: u32 = 1;

/// One message on a sample subject.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Envelope<T> {
    /// Layout version ([`SCHEMA_VERSION`]).
    pub schema: u32,
    /// Unique message id (UUIDv7), also the `Nats-Msg-Id` header.
    pub id: Uuid,
    /// Host label of the machine the sample describes.
    pub host: String,
    /// The source kind of the body ([`crate::SourceKind`]: `system`, `gpu_event`, ...).
    pub source: String,
    /// Sequence number of this source in the publishing process, starting at 1 when it
    /// starts: a gap means a lost sample.
    pub seq: u64,
    /// When the sample was taken (UTC, nanosecond precision).
    pub time: DateTime<Utc>,
    /// The typed payload.
    pub body: T,
}

/// Why a message could not be read as an envelope.
#[derive(Debug, thiserror::Error)]
pub enum EnvelopeError {
    #[error("not a JSON envelope: {0}")]
    Json(#[from] serde_json::Error),
    #[error("unsupported envelope schema version {0} (this build reads {SCHEMA_VERSION})")]
    Schema(u32),
    #[error("envelope field `{field}` is invalid: {reason}")]
    Field { field: &'static str, reason: String },
}

impl<T> Envelope<T> {
    /// A new envelope stamped now, with a fresh UUIDv7.
    pub fn new(host: impl Into<String>, source: impl Into<String>, seq: u64, body: T) -> Self {
        Self {
            schema: SCHEMA_VERSION,
            id: Uuid::now_v7(),
            host: host.into(),
            source: source.into(),
            seq,
            time: Utc::now(),
            body,
        }
    }
}

impl<T: DeserializeOwned> Envelope<T> {
    /// Parses and checks an envelope from raw bytes.
    pub fn from_slice(raw: &[u8]) -> Result<Self, EnvelopeError> {
        let envelope: Self = serde_json::from_slice(raw)?;
        if envelope.schema != SCHEMA_VERSION {
            return Err(EnvelopeError::Schema(envelope.schema));
        }
        if envelope.host.is_empty() {
            return Err(EnvelopeError::Field {
                field: "host",
                reason: "empty".into(),
            });
        }
        if envelope.source.is_empty() {
            return Err(EnvelopeError::Field {
                field: "source",
                reason: "empty".into(),
            });
        }
        Ok(envelope)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_ignores_unknown_fields() {
        let envelope = Envelope::new("gh200", "system", 7, serde_json::json!({"a": 1}));
        let mut value = serde_json::to_value(&envelope).unwrap();
        value["future_field"] = serde_json::json!("ignored");
        let raw = serde_json::to_vec(&value).unwrap();
        let back: Envelope<serde_json::Value> = Envelope::from_slice(&raw).unwrap();
        assert_eq!(back, envelope);
        assert_eq!(back.id.get_version_num(), 7);
    }

    #[test]
    fn rejects_other_schema_versions_and_empty_host() {
        let mut envelope = Envelope::new("gh200", "system", 1, 0u8);
        envelope.schema = 99;
        let raw = serde_json::to_vec(&envelope).unwrap();
        let err = Envelope::<u8>::from_slice(&raw).unwrap_err();
        assert!(err.to_string().contains("99"), "{err}");

        let envelope = Envelope::new("", "system", 1, 0u8);
        let raw = serde_json::to_vec(&envelope).unwrap();
        let err = Envelope::<u8>::from_slice(&raw).unwrap_err();
        assert!(err.to_string().contains("host"), "{err}");
    }
}
