//! `type: ntfy`: a JSON publish to the server root (`topic`, `title`, `message`, `priority`,
//! `tags`), to ntfy.sh or a self-hosted server; bearer token when configured.

use exporter_protocol::alert::Severity;
use serde_json::{Value, json};

use super::text::{alert_line, bytes, join_limited};
use crate::message::Message;

/// Default ntfy server.
pub const NTFY_DEFAULT_URL: &str = "https://ntfy.sh";
/// ntfy turns messages over 4096 bytes into attachments; stay below.
pub const NTFY_TEXT_LIMIT_BYTES: usize = 3800;

/// ntfy JSON publish (`POST` to the server root).
pub fn ntfy_payload(message: &Message, topic: &str) -> Value {
    let lines: Vec<String> = message.alerts.iter().map(alert_line).collect();
    let (priority, tag) = match message.worst_firing() {
        Some(Severity::Critical) => (5, "rotating_light"),
        Some(Severity::Warning) => (4, "warning"),
        Some(Severity::Info) => (3, "information_source"),
        None => (3, "white_check_mark"),
    };
    json!({
        "topic": topic,
        "title": message.title(),
        "message": join_limited(&lines, NTFY_TEXT_LIMIT_BYTES, bytes),
        "priority": priority,
        "tags": [tag],
    })
}
