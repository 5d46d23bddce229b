//! Turns one bus message into a sample to store, or into a dead letter with the reason.
//!
//! Nothing here fails the aggregator: whatever does not parse is kept aside, raw, and counted.

use chrono::{Duration, Utc};
use exporter_protocol::hardware::{GpuInventory, HardwareSample, XidEvent};
use exporter_protocol::system::SystemSample;
use exporter_protocol::{Envelope, HasSeries, SeriesPoint, Subjects};
use exporter_store::{DeadLetter, IncomingSample};

/// How far in the future a sample's time may be before it is refused (clock skew guard).
const MAX_FUTURE: Duration = Duration::hours(1);

/// Knows the subject layout and every payload kind.
#[derive(Debug, Clone)]
pub struct Decoder {
    sample_prefix: String,
}

/// The raw parts of a message the decoder needs.
#[derive(Debug, Clone)]
pub struct RawMessage<'a> {
    pub subject: &'a str,
    pub payload: &'a [u8],
    /// `Nats-Msg-Id` header, if any.
    pub message_id: Option<&'a str>,
    /// `<stream>:<sequence>`, the fallback dedupe key of a dead letter.
    pub stream_position: &'a str,
    pub headers: Option<serde_json::Value>,
}

/// The decoder's verdict.
#[derive(Debug)]
pub enum Decoded {
    Sample(IncomingSample),
    Dead(DeadLetter),
}

impl Decoder {
    pub fn new(subjects: &Subjects) -> Self {
        let all = subjects.all_samples();
        Self {
            sample_prefix: all.trim_end_matches('>').to_owned(),
        }
    }

    pub fn decode(&self, raw: RawMessage<'_>) -> Decoded {
        match self.sample(&raw) {
            Ok(sample) => Decoded::Sample(sample),
            Err(reason) => Decoded::Dead(DeadLetter {
                dedupe_key: raw
                    .message_id
                    .map_or_else(|| raw.stream_position.to_owned(), str::to_owned),
                subject: raw.subject.to_owned(),
                reason,
                raw: raw.payload.to_vec(),
                headers: raw.headers,
            }),
        }
    }

    fn sample(&self, raw: &RawMessage<'_>) -> Result<IncomingSample, String> {
        let Some(rest) = raw.subject.strip_prefix(&self.sample_prefix) else {
            return Err(format!("no handler for subject {}", raw.subject));
        };
        let subject_kind = rest.split('.').next().unwrap_or_default();
        let envelope: Envelope<serde_json::Value> =
            Envelope::from_slice(raw.payload).map_err(|err| err.to_string())?;
        if exporter_protocol::subjects::token(&envelope.source) != subject_kind {
            return Err(format!(
                "envelope source `{}` does not match the subject's kind `{subject_kind}`",
                envelope.source
            ));
        }
        if envelope.time > Utc::now() + MAX_FUTURE {
            return Err(format!(
                "sample time {} is more than an hour in the future (clock skew on {}?)",
                envelope.time, envelope.host
            ));
        }
        let points = points_of(&envelope.source, &envelope.body)?;
        Ok(IncomingSample {
            message_id: envelope.id,
            subject: raw.subject.to_owned(),
            source: envelope.source,
            host: envelope.host,
            seq: envelope.seq,
            time: envelope.time,
            body: envelope.body,
            points,
        })
    }
}

/// The numeric series of a payload of kind `source`.
fn points_of(source: &str, body: &serde_json::Value) -> Result<Vec<SeriesPoint>, String> {
    fn typed<T: serde::de::DeserializeOwned + HasSeries>(
        source: &str,
        body: &serde_json::Value,
    ) -> Result<Vec<SeriesPoint>, String> {
        T::deserialize(body)
            .map(|payload| payload.series())
            .map_err(|err| format!("{source} body does not parse: {err}"))
    }
    match source {
        exporter_protocol::system::KIND => typed::<SystemSample>(source, body),
        exporter_protocol::hardware::KIND => typed::<HardwareSample>(source, body),
        exporter_protocol::hardware::EVENT_KIND => typed::<XidEvent>(source, body),
        exporter_protocol::hardware::INVENTORY_KIND => typed::<GpuInventory>(source, body),
        other => Err(format!("unknown sample kind `{other}`")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw<'a>(subject: &'a str, payload: &'a [u8]) -> RawMessage<'a> {
        RawMessage {
            subject,
            payload,
            message_id: Some("id-1"),
            stream_position: "S:1",
            headers: None,
        }
    }

    #[test]
    fn a_good_system_sample_decodes_with_points() {
        let decoder = Decoder::new(&Subjects::new("exporter"));
        let envelope = Envelope::new("h", "system", 1, SystemSample::default());
        let payload = serde_json::to_vec(&envelope).unwrap();
        match decoder.decode(raw("exporter.v1.sample.system.h", &payload)) {
            Decoded::Sample(sample) => {
                assert_eq!(sample.message_id, envelope.id);
                assert_eq!(sample.host, "h");
            }
            Decoded::Dead(dead) => panic!("{}", dead.reason),
        }
    }

    #[test]
    fn garbage_and_mismatches_become_dead_letters_with_reasons() {
        let decoder = Decoder::new(&Subjects::new("exporter"));
        let cases: Vec<(&str, Vec<u8>, &str)> = vec![
            (
                "exporter.v1.sample.system.h",
                b"{not json".to_vec(),
                "not a JSON envelope",
            ),
            (
                "exporter.v1.sample.hardware.h",
                serde_json::to_vec(&Envelope::new("h", "system", 1, SystemSample::default()))
                    .unwrap(),
                "does not match",
            ),
            (
                "exporter.v1.sample.system.h",
                serde_json::to_vec(&Envelope::new(
                    "h",
                    "system",
                    1,
                    serde_json::json!({"cpu": 5}),
                ))
                .unwrap(),
                "system body does not parse",
            ),
            (
                "exporter.v1.sample.weird.h",
                serde_json::to_vec(&Envelope::new("h", "weird", 1, 0)).unwrap(),
                "unknown sample kind",
            ),
        ];
        for (subject, payload, reason) in cases {
            match decoder.decode(raw(subject, &payload)) {
                Decoded::Dead(dead) => {
                    assert!(dead.reason.contains(reason), "{} vs {reason}", dead.reason);
                    assert_eq!(dead.raw, payload);
                    assert_eq!(dead.dedupe_key, "id-1");
                }
                Decoded::Sample(_) => panic!("{subject} should be dead"),
            }
        }
    }
}
