//! `type: slack`: an incoming-webhook message (`text` plus one coloured attachment); also
//! Mattermost, Rocket.Chat and Discord's `/slack` endpoint. The webhook URL is the credential:
//! it comes from `url_env` or `url_file` only.

use exporter_protocol::alert::Severity;
use serde_json::{Value, json};

use super::text::{alert_line, chars, join_limited};
use crate::message::Message;

/// Slack truncates long attachment text; keep one message readable.
pub const SLACK_TEXT_LIMIT_CHARS: usize = 3500;

/// Slack-style escaping: only `&`, `<`, `>`.
fn escape_slack(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Slack incoming-webhook message (also Mattermost, Rocket.Chat, Discord's `/slack`).
pub fn slack_payload(message: &Message) -> Value {
    let title = escape_slack(&message.title());
    let lines: Vec<String> = message
        .alerts
        .iter()
        .map(|a| escape_slack(&alert_line(a)))
        .collect();
    let color = match message.worst_firing() {
        Some(Severity::Critical) => "#d63232",
        Some(_) => "#e8a317",
        None => "#2eb886",
    };
    json!({
        "text": title,
        "attachments": [{
            "color": color,
            "fallback": title,
            "title": title,
            "text": join_limited(&lines, SLACK_TEXT_LIMIT_CHARS, chars),
        }],
    })
}
