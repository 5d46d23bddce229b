//! A UTC time written into JSON as chrono writes it (RFC 3339, `Z`, fractional seconds only
//! when there are any: 3, 6 or 9 digits), without chrono's general formatting machinery. A
//! 24-hour history of 72 series holds 52,000 of them; chrono's `Display` spends a few hundred
//! nanoseconds on each.

use chrono::{DateTime, Datelike, Timelike, Utc};
use serde::Serializer;

/// `#[serde(serialize_with = "json_time::serialize")]` for a `DateTime<Utc>` field.
pub fn serialize<S: Serializer>(time: &DateTime<Utc>, serializer: S) -> Result<S::Ok, S::Error> {
    let year = time.year();
    if !(0..=9999).contains(&year) {
        return serde::Serialize::serialize(time, serializer);
    }
    let mut out = Text::default();
    out.digits(year as u32, 4);
    out.byte(b'-');
    out.digits(time.month(), 2);
    out.byte(b'-');
    out.digits(time.day(), 2);
    out.byte(b'T');
    out.digits(time.hour(), 2);
    out.byte(b':');
    out.digits(time.minute(), 2);
    out.byte(b':');
    // A leap second is chrono's nanosecond past 1e9; `second()` stays at 59.
    let nanos = time.nanosecond();
    let (second, nanos) = if nanos >= 1_000_000_000 {
        (60, nanos - 1_000_000_000)
    } else {
        (time.second(), nanos)
    };
    out.digits(second, 2);
    if nanos != 0 {
        out.byte(b'.');
        if nanos % 1_000_000 == 0 {
            out.digits(nanos / 1_000_000, 3);
        } else if nanos % 1_000 == 0 {
            out.digits(nanos / 1_000, 6);
        } else {
            out.digits(nanos, 9);
        }
    }
    out.byte(b'Z');
    // Only ASCII digits and separators were written.
    let text = std::str::from_utf8(&out.bytes[..out.len]).map_err(serde::ser::Error::custom)?;
    serializer.serialize_str(text)
}

/// The text being written: at most `YYYY-MM-DDTHH:MM:SS.nnnnnnnnnZ`, 30 bytes.
#[derive(Default)]
struct Text {
    bytes: [u8; 30],
    len: usize,
}

impl Text {
    fn byte(&mut self, byte: u8) {
        if let Some(slot) = self.bytes.get_mut(self.len) {
            *slot = byte;
            self.len += 1;
        }
    }

    /// `value` in exactly `digits` decimal digits, zero-padded.
    fn digits(&mut self, value: u32, digits: u32) {
        for i in (0..digits).rev() {
            self.byte(b'0' + ((value / 10u32.pow(i)) % 10) as u8);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Serialize)]
    struct Fast(#[serde(serialize_with = "serialize")] DateTime<Utc>);

    #[test]
    fn writes_what_chrono_writes() {
        let mut times: Vec<DateTime<Utc>> = [
            "2026-12-01T18:00:00Z",
            "0001-01-01T00:00:00Z",
            "9999-12-31T23:59:59.999999999Z",
            "2026-03-08T07:00:00.5Z",
            "2026-03-08T07:00:00.000123Z",
            "2026-03-08T07:00:00.000000007Z",
            "1970-01-01T00:00:00Z",
        ]
        .iter()
        .map(|t| t.parse().unwrap())
        .collect();
        // A spread of instants with and without fractions.
        let mut x: i64 = 0x2545_f491_4f6c_dd1d;
        for _ in 0..2000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let micros = x.rem_euclid(4_000_000_000_000_000);
            let micros = if x % 3 == 0 {
                micros / 1_000_000 * 1_000_000
            } else {
                micros
            };
            times.push(DateTime::from_timestamp_micros(micros).unwrap());
        }
        times.push(DateTime::from_timestamp(-62_200_000_000, 0).unwrap());
        for time in times {
            assert_eq!(
                serde_json::to_string(&Fast(time)).unwrap(),
                serde_json::to_string(&time).unwrap()
            );
        }
    }
}
