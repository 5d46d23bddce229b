//! A flood of huge malformed messages: bounded memory, short reasons and log lines.

use std::time::Duration;

use exporter_tests::faults::{Counts, Profile};
use exporter_tests::{TestEnv, eventually, poll_until};

use crate::common::{padded, publish, rss_bytes, started, stream_messages};

/// Issue 13, item 4: a flood of 900 KB malformed bodies is written a few at a time
/// (`aggregator.batch_max_bytes`), leaves no log line and no stored reason over 1 KB, and the
/// aggregator's memory returns under twice its working size within a minute.
pub async fn a_flood_of_huge_malformed_messages_leaves_memory_at_its_working_size(
    profile: Profile,
) -> Vec<Counts> {
    let count = if profile.name == "long" { 10_000 } else { 200 };
    let env = TestEnv::new("").await;
    let js = env.jetstream().await;
    let aggregator = env.spawn("exporter-aggregator", &[]);
    started(&aggregator);
    let warm_up: Vec<_> = (1..=200).map(|seq| padded("flood-host", seq)).collect();
    for envelope in &warm_up {
        publish(&js, envelope).await.unwrap();
    }
    env.ingested(warm_up[199].id).await;
    let working = rss_bytes(&aggregator);

    let body = format!("{{not json {}", "€".repeat(300_000)).into_bytes();
    let subject = "exporter.v1.sample.system.flood-host";
    let mut peak = working;
    for chunk in 0..count / 20 {
        let mut acks = Vec::new();
        for _ in 0..20 {
            acks.push(js.publish(subject, body.clone().into()).await.unwrap());
        }
        for ack in acks {
            ack.await.unwrap();
        }
        if chunk % 2 == 0 {
            peak = peak.max(rss_bytes(&aggregator));
        }
    }
    let dead_letters = eventually("every dead letter", Duration::from_secs(600), || async {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM dead_letter")
            .fetch_one(&env.pool)
            .await
            .ok()?;
        (n >= count as i64 && stream_messages(&js).await == 0).then_some(n)
    })
    .await;
    peak = peak.max(rss_bytes(&aggregator));
    let back = poll_until(Duration::from_secs(60), || async {
        rss_bytes(&aggregator) < 2 * working
    })
    .await;
    let after = rss_bytes(&aggregator);
    let longest_reason: i32 =
        sqlx::query_scalar("SELECT coalesce(max(octet_length(reason)), 0) FROM dead_letter")
            .fetch_one(&env.pool)
            .await
            .unwrap();
    let longest_line = aggregator.output().lines().map(str::len).max().unwrap_or(0);
    assert!(longest_reason < 1024, "a reason of {longest_reason} B");
    assert!(longest_line < 1024, "a log line of {longest_line} B");
    assert!(back, "RSS {after} B, working size {working} B");
    // The valid warm-up samples, and every malformed body kept once as a dead letter.
    let ids: Vec<_> = warm_up.iter().map(|e| e.id).collect();
    let warm = Counts::of(&env, "", "flood-host", &ids, back).await;
    let flood = count as i64;
    let row = Counts {
        scenario: format!("flood of {count} malformed 900 KB bodies"),
        published: warm.published + flood,
        stored: warm.stored + dead_letters.min(flood),
        lost: warm.lost + (flood - dead_letters).max(0),
        duplicated: warm.duplicated + (dead_letters - flood).max(0),
        recovered_alone: back,
        note: format!(
            "bodies kept as dead letters; RSS {} MB working, {} MB peak, {} MB after; longest reason {longest_reason} B, log line {longest_line} B",
            working >> 20,
            peak >> 20,
            after >> 20
        ),
    };
    env.finish().await;
    vec![row]
}
