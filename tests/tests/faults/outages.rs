//! Faults that leave a process alive but unable to go on: an aggregator hung by SIGSTOP (not
//! dead: it holds what it was given, then wakes up with it), PostgreSQL's disk full, and
//! PostgreSQL refusing the aggregator long enough for the shipped lag rule to fire.

use std::time::{Duration, Instant};

use exporter_tests::faults::{self, Counts, Profile, SmallDisk, Stopped};
use exporter_tests::{StandIn, TestEnv, eventually, get_json, poll_until};

use crate::common::{aggregator_consumer, started, stream_messages};

/// Issue 13, item 5: an aggregator hung (SIGSTOP) for three times `ack_wait` under load while it
/// holds messages, a second one started meanwhile, then the first woken (SIGCONT). What it held
/// stays unacknowledged until `ack_wait` passes, then goes to the other one; `/health` (with the
/// key) shows the oldest uncommitted message ageing meanwhile. Woken, it finishes writing what
/// it held (idempotent on the message id) and ingests again: nothing lost, nothing twice.
pub async fn a_hung_aggregator_holds_nothing_back(profile: Profile) -> Vec<Counts> {
    let ack_wait = Duration::from_secs(5);
    let hang = ack_wait * if profile.name == "long" { 6 } else { 3 };
    let env = TestEnv::new(
        "collectors:\n  heartbeat_interval_seconds: 1\n  self_metrics_interval_seconds: 1\n",
    )
    .await;
    // Pulls that wait a second, so the one the hung instance left open is still served.
    let text = std::fs::read_to_string(&env.settings_path)
        .unwrap()
        .replace("batch_max_wait_ms: 50", "batch_max_wait_ms: 1000");
    std::fs::write(&env.settings_path, text).unwrap();
    env.migrate().await;
    let js = env.jetstream().await;
    let mut hung = env.spawn("exporter-aggregator", &[]);
    started(&hung);
    let _api = env.spawn("exporter-api", &[]);

    let seconds = hang.as_secs() + 8;
    let load = faults::publish_paced(
        js.clone(),
        "hung-host",
        profile.rate_per_second * seconds,
        profile.rate_per_second,
    );
    tokio::time::sleep(Duration::from_secs(2)).await;
    // Stopped while it holds something (the batch it writes, or what its open pull was given):
    // alone on the consumer, whatever is unacknowledged is its. Between two batches it may hold
    // nothing; then it is woken and stopped again a moment later. The second instance comes
    // after, as a standby would.
    let mut consumer = aggregator_consumer(&js).await;
    let mut tries = 0;
    let (stopped, held) = loop {
        tries += 1;
        let stopped = Stopped::new(hung.pid());
        tokio::time::sleep(Duration::from_millis(200)).await;
        let held = consumer.info().await.unwrap().num_ack_pending;
        if held > 0 {
            break (stopped, held);
        }
        assert!(
            tries < 20,
            "the aggregator never held a message when stopped"
        );
        drop(stopped);
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let until = Instant::now() + hang;
    let mut other = env.spawn("exporter-aggregator", &[]);
    started(&other);
    let mut oldest_seen: f64 = 0.0;
    while Instant::now() < until {
        let (_, health) = get_json(&env.api_url("/health"), Some(&env.api_key)).await;
        if let Some(age) = health["ingest"]["oldest_age_seconds"].as_f64() {
            oldest_seen = oldest_seen.max(age);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    drop(stopped);

    let acked = load.await.unwrap();
    eventually("every sample stored", Duration::from_secs(120), || async {
        (stream_messages(&js).await == 0).then_some(())
    })
    .await;
    // Woken, it ingests again: a sample published now is stored with the other one stopped.
    let stopped_other = Stopped::new(other.pid());
    let after = faults::publish_paced(js.clone(), "hung-host", 50, 500)
        .await
        .unwrap();
    let woke = poll_until(Duration::from_secs(30), || async {
        stream_messages(&js).await == 0
    })
    .await;
    drop(stopped_other);
    assert!(
        woke,
        "the woken aggregator ingests nothing\n{}",
        hung.output()
    );
    assert!(
        oldest_seen >= 1.0,
        "/health never showed the held messages waiting (oldest {oldest_seen} s)"
    );
    let published: Vec<_> = acked.into_iter().chain(after).collect();
    let alive = hung.alive() && other.alive();
    let row = Counts::of(
        &env,
        format!(
            "aggregator SIGSTOP {} s (a second one started), then SIGCONT",
            hang.as_secs()
        ),
        "hung-host",
        &published,
        alive && woke,
    )
    .await
    .note(format!(
        "stopped holding {held} messages; /health: oldest uncommitted message up to {oldest_seen:.1} s during the hang; the woken one ingests alone"
    ));
    env.finish().await;
    vec![row]
}

/// Issue 13, item 5 (long profile: it mounts a file system): PostgreSQL's disk fills up under
/// load. The database lives on a tablespace of its own on a small tmpfs; a file takes the room
/// left. Writes fail with "No space left on device" and are retried, nothing is acknowledged,
/// samples wait in the stream; once the room is freed every one is stored, none twice, without
/// a restart.
pub async fn a_full_database_disk_loses_nothing(profile: Profile) -> Vec<Counts> {
    let env = TestEnv::new(
        "collectors:\n  heartbeat_interval_seconds: 1\n  self_metrics_interval_seconds: 1\n",
    )
    .await;
    let disk = SmallDisk::mount(&env, 64 << 20).await;
    let js = env.jetstream().await;
    let mut aggregator = env.spawn("exporter-aggregator", &[]);
    started(&aggregator);
    let rate = profile.rate_per_second;
    let before = faults::publish_paced(js.clone(), "disk-host", rate, rate)
        .await
        .unwrap();
    eventually("stored before", Duration::from_secs(60), || async {
        (stream_messages(&js).await == 0).then_some(())
    })
    .await;

    let filled = disk.fill();
    let load = faults::publish_paced(js.clone(), "disk-host", rate * 15, rate);
    let refused = poll_until(Duration::from_secs(60), || async {
        let log = aggregator.output();
        log.contains("No space left on device") && log.contains("retrying (nothing acked)")
    })
    .await;
    assert!(refused, "the writes never failed\n{}", aggregator.output());
    let during = load.await.unwrap();
    let waiting = stream_messages(&js).await;
    assert!(waiting > 0, "nothing waited while the disk was full");

    disk.free();
    eventually("every sample stored", Duration::from_secs(180), || async {
        (stream_messages(&js).await == 0).then_some(())
    })
    .await;
    let published: Vec<_> = before.into_iter().chain(during).collect();
    let alive = aggregator.alive();
    let row = Counts::of(
        &env,
        "PostgreSQL disk full (tablespace on a 64 MB tmpfs), then freed",
        "disk-host",
        &published,
        alive,
    )
    .await
    .note(format!(
        "a {} MB file took the room left; writes refused with ENOSPC and retried, {waiting} messages waited in the stream",
        filled >> 20
    ));
    env.finish().await;
    drop(disk);
    vec![row]
}

/// Whether `hook` got a message about `alertname` with `status`.
fn notified(hook: &StandIn, alertname: &str, status: &str) -> bool {
    hook.requests().iter().any(|r| {
        r.json["status"] == status
            && r.json["alerts"]
                .as_array()
                .is_some_and(|a| a.iter().any(|a| a["labels"]["alertname"] == alertname))
    })
}

/// Issue 13, item 2 ("the shipped lag rule fires and resolves"), long profile: it takes the
/// rule's own durations. The shipped rules file as it is (`IngestLagging`: the oldest
/// uncommitted sample over 60 s for 1 m, resolved under 30 s), with a webhook stand-in as its
/// receiver. PostgreSQL refuses the aggregator while samples come in: the rule fires (the
/// engine reads the lag live, and alerting goes on without the database); PostgreSQL back, the
/// backlog drains and the rule resolves. Nothing lost or doubled on the way.
pub async fn the_shipped_lag_rule_fires_and_resolves_across_a_database_outage(
    _profile: Profile,
) -> Vec<Counts> {
    let hook = StandIn::start().await;
    let env = TestEnv::new(
        "collectors:\n  heartbeat_interval_seconds: 1\n  self_metrics_interval_seconds: 1\n\
         alerts:\n  evaluation_interval_seconds: 1\n  watch_interval_seconds: 0\n",
    )
    .await;
    let rules_path = env.dir.path().join("alerts.yaml");
    let shipped = std::fs::read_to_string(&rules_path).unwrap();
    assert!(shipped.contains("- name: IngestLagging"));
    let rules = shipped
        .replace(
            "receivers: []",
            &format!(
                "receivers:\n  - {{name: hook, type: webhook, url: '{}/hook'}}",
                hook.url()
            ),
        )
        .replace("group_wait: 30s", "group_wait: 1s")
        .replace("group_interval: 5m", "group_interval: 5s");
    std::fs::write(&rules_path, rules).unwrap();
    env.migrate().await;
    let js = env.jetstream().await;
    let mut aggregator = env.spawn("exporter-aggregator", &[]);
    started(&aggregator);

    let outage = Instant::now();
    env.allow_connections(false).await;
    let load = faults::publish_paced(js.clone(), "lag-host", 100 * 30, 100);
    let fired = poll_until(Duration::from_secs(240), || async {
        notified(&hook, "IngestLagging", "firing")
    })
    .await;
    let fired_after = outage.elapsed();
    env.allow_connections(true).await;
    let back = Instant::now();
    assert!(fired, "IngestLagging never fired\n{}", aggregator.output());
    let resolved = poll_until(Duration::from_secs(180), || async {
        notified(&hook, "IngestLagging", "resolved")
    })
    .await;
    assert!(
        resolved,
        "IngestLagging never resolved\n{}",
        aggregator.output()
    );
    let resolved_after = back.elapsed();
    let acked = load.await.unwrap();
    eventually("every sample stored", Duration::from_secs(60), || async {
        (stream_messages(&js).await == 0).then_some(())
    })
    .await;
    let alive = aggregator.alive();
    let row = Counts::of(
        &env,
        "PostgreSQL refusing the aggregator until IngestLagging fires",
        "lag-host",
        &acked,
        alive,
    )
    .await
    .note(format!(
        "the shipped IngestLagging fired {} s into the outage, resolved {} s after PostgreSQL was back (webhook got both)",
        fired_after.as_secs(),
        resolved_after.as_secs()
    ));
    env.finish().await;
    vec![row]
}
