//! An upgrade in place: an existing durable consumer whose settings differ from what the
//! aggregator wants (`ack_wait`, `max_ack_pending`) is updated on the server, and the messages it
//! held, delivered or not, are still delivered afterwards.

#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::time::Duration;

use async_nats::jetstream::consumer::PullConsumer;
use exporter_runtime::bus;
use exporter_tests::TestEnv;
use futures::StreamExt;

/// Fetches up to `max` messages within `expires`, acking each when `ack`; their payloads.
async fn fetch(consumer: &PullConsumer, max: usize, expires: Duration, ack: bool) -> Vec<String> {
    let mut batch = consumer
        .fetch()
        .max_messages(max)
        .expires(expires)
        .messages()
        .await
        .unwrap();
    let mut payloads = Vec::new();
    while let Some(message) = batch.next().await {
        let message = message.unwrap();
        payloads.push(String::from_utf8(message.payload.to_vec()).unwrap());
        if ack {
            message.double_ack().await.unwrap();
        }
    }
    payloads
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_ack_wait_updates_the_consumer_and_loses_nothing() {
    let env = TestEnv::new("").await;
    let settings = env.settings();
    let js = env.jetstream().await;
    let stream = js.get_stream(&settings.nats.stream).await.unwrap();
    let subject = "exporter.v1.sample.system.test-host";
    for payload in ["first", "second"] {
        js.publish(subject, payload.into())
            .await
            .unwrap()
            .await
            .unwrap();
    }

    // As an older install left it: 30 s, 100 pending; "first" delivered but not acknowledged.
    let old = bus::ensure_consumer(&stream, &settings.nats, Duration::from_secs(30), 100)
        .await
        .unwrap();
    assert_eq!(old.cached_info().config.ack_wait, Duration::from_secs(30));
    assert_eq!(
        fetch(&old, 1, Duration::from_secs(2), false).await,
        ["first"]
    );

    let mut new = bus::ensure_consumer(&stream, &settings.nats, Duration::from_secs(2), 50)
        .await
        .unwrap();
    let info = new.info().await.unwrap().clone();
    assert_eq!(info.config.ack_wait, Duration::from_secs(2), "{info:?}");
    assert_eq!(info.config.max_ack_pending, 50);
    assert_eq!(info.config.durable_name.as_deref(), Some("aggregator"));
    assert_eq!(
        info.num_ack_pending, 1,
        "the delivered one is still pending"
    );
    assert_eq!(info.num_pending, 1, "the undelivered one is still there");
    // The same settings again change nothing.
    let same = bus::ensure_consumer(&stream, &settings.nats, Duration::from_secs(2), 50)
        .await
        .unwrap();
    assert_eq!(same.cached_info().config.ack_wait, Duration::from_secs(2));

    // Both are delivered: "second" now, "first" again once its acknowledgement is overdue.
    let mut received = BTreeSet::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while received.len() < 2 && tokio::time::Instant::now() < deadline {
        received.extend(fetch(&new, 2, Duration::from_secs(1), true).await);
    }
    assert_eq!(
        received,
        BTreeSet::from(["first".to_owned(), "second".to_owned()])
    );
    let info = new.info().await.unwrap();
    assert_eq!((info.num_pending, info.num_ack_pending), (0, 0));
    assert_eq!(stream.get_info().await.unwrap().state.messages, 0);
    env.finish().await;
}
