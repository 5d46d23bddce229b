//! `exporter-collector notifications`: the trading system's own notifications, appended as JSON
//! lines ([`Notification`]) to `collectors.notifications.file`, published in batches
//! ([`NotificationBatch`]) on `<prefix>.v1.sample.notifications.<host>`; the aggregator stores
//! them and turns each into an alert of its category.
//!
//! The file is followed like a log file (rotation, truncation, a file that appears later) and with
//! the same guarantee: the position is saved only after JetStream acknowledged the batch. Unlike
//! a log file, a partial last line is never handed out while the file is still in place (a JSON
//! document written in two chunks stays one notification). A line that is not a valid notification is not lost: it is logged with a warning
//! and published as a `warning` notification of category `invalid_notification` whose message
//! is the raw line (cut to 4 KiB).

use std::collections::BTreeMap;
use std::time::Duration;

use exporter_protocol::SourceKind;
use exporter_protocol::alert::{Notification, NotificationBatch};

use crate::follow::{FollowConfig, Follower, LineSource, RawLine, cut};
use crate::logs::parse::strip_nul;
use crate::{CollectorContext, CollectorError};
/// Category of a line that is not a valid notification.
pub const INVALID_CATEGORY: &str = "invalid_notification";
/// Most bytes of an invalid line kept in its message.
pub const INVALID_MESSAGE_BYTES: usize = 4096;
/// Longest notification line read whole (a longer one is cut, so it is invalid).
const MAX_LINE_BYTES: usize = 256 * 1024;
const BATCH_MAX_LINES: usize = 500;
const BATCH_MAX_WAIT: Duration = Duration::from_millis(200);

/// One line of the notifications file, read.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadLine {
    /// The notification, or the warning that stands in for a line that is not one.
    pub notification: Notification,
    /// Why the line is not a valid notification.
    pub invalid: Option<String>,
}

/// Reads one line of the notifications file.
pub fn read_line(line: &[u8], file: &str) -> ReadLine {
    let mut text = String::from_utf8_lossy(line).into_owned();
    if text.ends_with('\r') {
        text.pop();
    }
    let reason = match serde_json::from_str::<Notification>(&text) {
        Ok(notification) => match notification.validate() {
            Ok(_) => {
                return ReadLine {
                    notification,
                    invalid: None,
                };
            }
            Err(reason) => reason,
        },
        Err(err) => format!("not a notification: {err}"),
    };
    strip_nul(&mut text);
    cut(&mut text, INVALID_MESSAGE_BYTES);
    let mut file = file.to_owned();
    strip_nul(&mut file);
    ReadLine {
        notification: Notification {
            time: None,
            severity: "warning".into(),
            category: INVALID_CATEGORY.into(),
            title: "unreadable notification line".into(),
            message: text,
            labels: BTreeMap::from([("file".to_owned(), file)]),
            resolved: false,
        },
        invalid: Some(reason),
    }
}

#[derive(Debug)]
struct NotificationFile;

impl LineSource for NotificationFile {
    type Item = Notification;
    type Body = NotificationBatch;

    fn item(&mut self, line: RawLine<'_>) -> Option<Notification> {
        if line.bytes.iter().all(u8::is_ascii_whitespace) {
            return None;
        }
        let read = read_line(line.bytes, line.source);
        if let Some(reason) = &read.invalid {
            tracing::warn!(file = %line.source, offset_bytes = line.offset, %reason, truncated = line.truncated, "a line of the notifications file is not a valid notification; published as an invalid_notification warning");
        }
        Some(read.notification)
    }

    fn shrink(&self, mut notification: Notification, max_bytes: usize) -> Notification {
        cut(&mut notification.message, max_bytes / 8);
        cut(&mut notification.title, max_bytes / 8);
        notification
    }

    fn origin(notification: &Notification) -> String {
        let file = notification.labels.get("file").map_or("", String::as_str);
        format!(
            "notification of category {} titled {:?} {file}",
            notification.category, notification.title
        )
    }

    fn body(notifications: Vec<Notification>) -> NotificationBatch {
        NotificationBatch { notifications }
    }
}

/// Follows the notifications file until shutdown.
pub async fn run(ctx: &CollectorContext) -> Result<(), CollectorError> {
    let config = &ctx.settings.collectors.notifications;
    let Some(path) = config.file.as_ref() else {
        return Err(ctx.init_error("collectors.notifications.file is not set"));
    };
    let follow = FollowConfig {
        source: SourceKind::Notifications,
        patterns: vec![glob::Pattern::escape(&path.to_string_lossy())],
        patterns_error: "collectors.notifications.file",
        start_position: config.start_position,
        max_line_bytes: MAX_LINE_BYTES,
        // A JSON document written in two chunks must not become two invalid lines.
        partial_line_wait: None,
        batch_max_lines: BATCH_MAX_LINES,
        batch_max_wait: BATCH_MAX_WAIT,
        poll_interval: Duration::from_millis(config.poll_interval_ms),
    };
    let Some(follower) = Follower::start(ctx, follow).await? else {
        return Ok(());
    };
    tracing::info!(file = %path.display(), "notifications collector started");
    follower.run(&mut NotificationFile, None).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_and_invalid_lines() {
        let ok = read_line(
            br#"{"severity":"critical","category":"risk_limit","title":"drawdown 5%","labels":{"strategy":"momo"}}"#,
            "/x/n.jsonl",
        );
        assert_eq!(ok.invalid, None);
        assert_eq!(ok.notification.category, "risk_limit");
        assert_eq!(ok.notification.labels["strategy"], "momo");

        let bad = read_line(
            b"{\"severity\":\"loud\",\"category\":\"c\",\"title\":\"t\"}",
            "/x/n.jsonl",
        );
        let reason = bad.invalid.unwrap();
        assert!(reason.contains("loud"), "{reason}");
        let stand_in = bad.notification;
        assert_eq!(stand_in.category, INVALID_CATEGORY);
        assert_eq!(stand_in.severity, "warning");
        assert!(stand_in.message.contains("loud"));
        assert_eq!(stand_in.labels["file"], "/x/n.jsonl");
        assert!(stand_in.validate().is_ok());

        let long = read_line(&[b'x'; 10_000], "f");
        assert!(long.invalid.is_some());
        assert_eq!(long.notification.message.len(), INVALID_MESSAGE_BYTES);
        let garbage = read_line(b"\0\xff{", "f");
        assert!(garbage.invalid.is_some());
        assert_eq!(garbage.notification.message, "\u{fffd}{");
        assert!(garbage.notification.validate().is_ok());
    }
}
