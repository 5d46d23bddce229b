//! A sample's whole payload, kept as its source's latest snapshot (`latest_sample.body`).
//!
//! The aggregator's decoder keeps the message's own JSON text instead of a parsed tree: building
//! a tree of every message was most of its CPU per message (issue #13), and only the newest
//! sample of each source and host in a batch ever needs one, to be stored. Both forms store the
//! same jsonb: the text is parsed into the same tree the decoder used to build, at write time.

use std::borrow::Cow;

use serde_json::value::RawValue;

/// A sample's payload: a tree, or the JSON text it came as.
#[derive(Debug, Clone)]
pub enum SampleBody {
    /// Built by code (a positions report, a test's sample).
    Value(serde_json::Value),
    /// The message's own text, valid JSON that a tree reads the same as the typed payload did
    /// (the decoder keeps a text only then).
    Raw(Box<RawValue>),
}

impl From<serde_json::Value> for SampleBody {
    fn from(value: serde_json::Value) -> Self {
        Self::Value(value)
    }
}

/// Serialised as its tree (a text re-serialised the way its tree would be).
impl serde::Serialize for SampleBody {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.to_value().serialize(serializer)
    }
}

impl SampleBody {
    /// The payload as a tree (parsed from the text where it is one; `null` if the text were
    /// not JSON, which the decoder never keeps).
    pub fn to_value(&self) -> Cow<'_, serde_json::Value> {
        match self {
            Self::Value(value) => Cow::Borrowed(value),
            Self::Raw(raw) => {
                Cow::Owned(serde_json::from_str(raw.get()).unwrap_or(serde_json::Value::Null))
            }
        }
    }

    /// The text stored as jsonb: a tree's serialisation (for a text, the serialisation of the
    /// tree it parses into, so what is stored is the same either way).
    pub(crate) fn stored_text(&self) -> String {
        match self {
            Self::Value(value) => value.to_string(),
            Self::Raw(raw) => match serde_json::from_str::<serde_json::Value>(raw.get()) {
                Ok(value) => value.to_string(),
                Err(_) => raw.get().to_owned(),
            },
        }
    }

    /// The string at `key` of a top-level object, if there is one.
    pub(crate) fn top_level_str(&self, key: &str) -> Option<String> {
        self.to_value()[key].as_str().map(str::to_owned)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_text_is_stored_as_its_tree_would_be() {
        let text = r#"{ "b": 1.50, "a": [1, 2.0, "x\u00e9"], "n": null }"#;
        let raw = SampleBody::Raw(RawValue::from_string(text.to_owned()).unwrap());
        let tree = SampleBody::from(serde_json::from_str::<serde_json::Value>(text).unwrap());
        assert_eq!(raw.stored_text(), tree.stored_text());
        assert_eq!(raw.to_value(), tree.to_value());
        assert_eq!(raw.top_level_str("process"), None);
        assert_eq!(
            serde_json::to_string(&raw).unwrap(),
            serde_json::to_string(&tree).unwrap()
        );
    }
}
