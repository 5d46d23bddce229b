//! What the scenarios share: waiting for an aggregator to start, the stream's size, ~1 KB
//! samples published one by one, heartbeats, resident memory, copying the stream's files.

use std::time::{Duration, Instant};

use exporter_protocol::Envelope;
use exporter_tests::Proc;
use exporter_tests::faults;

/// Waits until `aggregator` logged that it ingests.
pub fn started(aggregator: &Proc) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while !aggregator.output().contains("aggregator started") {
        assert!(Instant::now() < deadline, "{}", aggregator.output());
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The aggregators' shared consumer on the work-queue stream.
pub async fn aggregator_consumer(
    js: &async_nats::jetstream::Context,
) -> async_nats::jetstream::consumer::PullConsumer {
    js.get_stream("EXPORTER_TELEMETRY")
        .await
        .unwrap()
        .get_consumer("aggregator")
        .await
        .unwrap()
}

pub async fn stream_messages(js: &async_nats::jetstream::Context) -> u64 {
    let mut stream = js.get_stream("EXPORTER_TELEMETRY").await.unwrap();
    stream.info().await.unwrap().state.messages
}

/// A ~1 KB system sample (the CPU brand pads it; it makes no series).
pub fn padded(host: &str, seq: u64) -> Envelope<exporter_protocol::system::SystemSample> {
    let mut sample = faults::system_sample(seq);
    if let Some(cpu) = sample.cpu.as_mut() {
        cpu.brand = Some("x".repeat(800));
    }
    Envelope::new(host, "system", seq, sample)
}

/// Publishes `envelope` with its id and waits for JetStream's answer.
pub async fn publish(
    js: &async_nats::jetstream::Context,
    envelope: &Envelope<exporter_protocol::system::SystemSample>,
) -> Result<(), String> {
    let publish = async_nats::jetstream::message::PublishMessage::build()
        .payload(serde_json::to_vec(envelope).unwrap().into())
        .message_id(envelope.id.to_string());
    js.send_publish(
        format!("exporter.v1.sample.system.{}", envelope.host),
        publish,
    )
    .await
    .map_err(|err| err.to_string())?
    .await
    .map(|_| ())
    .map_err(|err| err.to_string())
}

/// The last heartbeat of `process` seen within `limit`.
pub async fn last_heartbeat(
    client: &async_nats::Client,
    process: &str,
    limit: Duration,
) -> exporter_protocol::Heartbeat {
    let mut beats = client
        .subscribe(format!("exporter.v1.heartbeat.{process}.test-host"))
        .await
        .unwrap();
    let first = tokio::time::timeout(limit, futures::StreamExt::next(&mut beats))
        .await
        .unwrap_or_else(|_| panic!("no heartbeat from {process}"))
        .unwrap();
    serde_json::from_slice(&first.payload).unwrap()
}

/// Resident memory of `proc`, in bytes (`VmRSS`).
pub fn rss_bytes(proc: &Proc) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", proc.pid())).unwrap();
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    kb * 1024
}

/// Copies the files of `from` into `to` (created).
pub fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        std::fs::copy(entry.path(), to.join(entry.file_name())).unwrap();
    }
}
