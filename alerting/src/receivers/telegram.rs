//! `type: telegram`: the Bot API's `sendMessage` with HTML-escaped text. The bot token is part
//! of the endpoint's path (`/bot<token>/sendMessage`), so the whole endpoint is a secret.

use serde_json::{Value, json};

use super::text::{alert_line, chars, join_limited};
use crate::message::Message;

/// Default Telegram Bot API base.
pub const TELEGRAM_DEFAULT_URL: &str = "https://api.telegram.org";
/// Telegram refuses messages longer than 4096 characters; stay below with room for markup.
pub const TELEGRAM_TEXT_LIMIT_CHARS: usize = 4000;

/// The `sendMessage` endpoint of the bot `token` under the API `base`.
pub fn endpoint(base: &str, token: &str) -> String {
    format!("{}/bot{token}/sendMessage", base.trim_end_matches('/'))
}

/// Escapes `&`, `<`, `>` (Slack's and Telegram's HTML rules).
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            other => out.push(other),
        }
    }
    out
}

/// Telegram `sendMessage` body, HTML parse mode.
pub fn telegram_payload(message: &Message, chat_id: &str) -> Value {
    let title = format!("<b>{}</b>", escape_html(&message.title()));
    let lines: Vec<String> = message
        .alerts
        .iter()
        .map(|a| escape_html(&alert_line(a)))
        .collect();
    let body = join_limited(
        &lines,
        TELEGRAM_TEXT_LIMIT_CHARS.saturating_sub(chars(&title) + 1),
        chars,
    );
    json!({
        "chat_id": chat_id,
        "text": format!("{title}\n{body}"),
        "parse_mode": "HTML",
        "disable_web_page_preview": true,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::fixtures::{alert, message};
    use exporter_protocol::alert::{Alert, AlertState, Severity};

    #[test]
    fn telegram_text_is_escaped_and_truncated() {
        let alerts: Vec<Alert> = (0..300)
            .map(|i| {
                alert(
                    &format!("Alert{i}"),
                    "gh200",
                    Severity::Warning,
                    AlertState::Firing,
                )
            })
            .collect();
        let body = telegram_payload(&message(alerts), "42");
        let text = body["text"].as_str().unwrap();
        assert!(text.chars().count() <= 4096, "{}", text.chars().count());
        assert!(text.contains("&lt;b&gt;&amp;&lt;/b&gt;"), "{text}");
        assert!(
            text.starts_with("<b>[FIRING:300] GpuHot gh200</b>\n"),
            "{text}"
        );
        assert!(text.lines().last().unwrap().starts_with("… and "), "{text}");
        let shown = text.lines().count() - 2;
        assert!(
            text.ends_with(&format!("… and {} more", 300 - shown)),
            "{text}"
        );
        assert_eq!(body["parse_mode"], "HTML");
    }
}
