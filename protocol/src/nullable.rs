//! JSON has no NaN or infinity: `serde_json` writes them as `null`. These helpers read such a
//! `null` back as NaN, so one sensor's bad reading leaves that value out (points skip non-finite
//! numbers) instead of making the whole sample unreadable.

use serde::{Deserialize, Deserializer};

/// An `f64` that may arrive as `null`.
pub fn f64<'de, D: Deserializer<'de>>(deserializer: D) -> Result<f64, D::Error> {
    Ok(Option::<f64>::deserialize(deserializer)?.unwrap_or(f64::NAN))
}

/// A list of `f64` whose elements may arrive as `null`.
pub fn vec_f64<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Vec<f64>, D::Error> {
    Ok(Vec::<Option<f64>>::deserialize(deserializer)?
        .into_iter()
        .map(|v| v.unwrap_or(f64::NAN))
        .collect())
}
