//! The batch write's raw points go in with a binary `COPY` (inside the batch's transaction)
//! rather than `INSERT .. SELECT FROM UNNEST`: the same rows, routed to their day's partition
//! the same way, at close to the speed of a plain bulk load (the insert alone ran at about 0.6×
//! of it). Only the points of newly ingested message ids are sent, so idempotency is unchanged.

use chrono::{DateTime, Utc};

use crate::StoreError;

/// Microseconds from the Unix epoch to PostgreSQL's (2000-01-01 00:00:00 UTC).
const POSTGRES_EPOCH_MICROS: i64 = 946_684_800_000_000;

/// `COPY point` binary data of the rows (time, series_id, value): the signature, flags and
/// header extension, then per row its field count and each field's length and bytes, then the
/// trailer.
fn encode(times: &[DateTime<Utc>], series_ids: &[i32], values: &[f64]) -> Vec<u8> {
    const ROW_BYTES: usize = 2 + (4 + 8) + (4 + 4) + (4 + 8);
    let mut out = Vec::with_capacity(19 + times.len() * ROW_BYTES + 2);
    out.extend_from_slice(b"PGCOPY\n\xff\r\n\0");
    out.extend_from_slice(&0_i32.to_be_bytes());
    out.extend_from_slice(&0_i32.to_be_bytes());
    for ((time, id), value) in times.iter().zip(series_ids).zip(values) {
        out.extend_from_slice(&3_i16.to_be_bytes());
        out.extend_from_slice(&8_i32.to_be_bytes());
        out.extend_from_slice(&(time.timestamp_micros() - POSTGRES_EPOCH_MICROS).to_be_bytes());
        out.extend_from_slice(&4_i32.to_be_bytes());
        out.extend_from_slice(&id.to_be_bytes());
        out.extend_from_slice(&8_i32.to_be_bytes());
        out.extend_from_slice(&value.to_be_bytes());
    }
    out.extend_from_slice(&(-1_i16).to_be_bytes());
    out
}

/// Copies the points (parallel arrays) into `point` on `tx`.
pub(crate) async fn copy_points(
    tx: &mut sqlx::PgConnection,
    times: &[DateTime<Utc>],
    series_ids: &[i32],
    values: &[f64],
) -> Result<(), StoreError> {
    let data = encode(times, series_ids, values);
    let mut copy = tx
        .copy_in_raw("COPY point (time, series_id, value) FROM STDIN (FORMAT binary)")
        .await?;
    if let Err(err) = copy.send(data).await {
        copy.abort("the batch write failed").await.ok();
        return Err(err.into());
    }
    copy.finish().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_binary_rows_follow_postgres_copy_format() {
        let time = DateTime::parse_from_rfc3339("2000-01-01T00:00:01Z")
            .expect("RFC 3339")
            .with_timezone(&Utc);
        let data = encode(&[time], &[7], &[1.5]);
        assert_eq!(&data[..11], b"PGCOPY\n\xff\r\n\0");
        assert_eq!(data.len(), 19 + 2 + 12 + 8 + 12 + 2);
        // Field count, then the time as microseconds since 2000-01-01.
        assert_eq!(&data[19..21], &3_i16.to_be_bytes());
        assert_eq!(&data[25..33], &1_000_000_i64.to_be_bytes());
        assert_eq!(&data[37..41], &7_i32.to_be_bytes());
        assert_eq!(&data[45..53], &1.5_f64.to_be_bytes());
        assert_eq!(&data[53..], &(-1_i16).to_be_bytes());
    }
}
