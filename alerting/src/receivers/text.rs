//! Text shared by the chat receivers (Slack, ntfy, Telegram): one line per alert, and a list
//! of lines cut to a service's limit with a final `… and N more`.

use exporter_protocol::alert::{Alert, AlertState};

/// `[FIRING]`, `[ACK]` or `[RESOLVED]`.
pub fn state_tag(alert: &Alert) -> &'static str {
    if alert.state == AlertState::Resolved {
        "[RESOLVED]"
    } else if alert.acknowledged_at.is_some() {
        "[ACK]"
    } else {
        "[FIRING]"
    }
}

/// One line per alert: `[FIRING] critical: GPU 0 at 91 °C (host gh200)`.
pub fn alert_line(alert: &Alert) -> String {
    let summary = alert
        .annotations
        .get("summary")
        .filter(|s| !s.trim().is_empty())
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|| {
            alert
                .labels
                .get("alertname")
                .cloned()
                .unwrap_or_else(|| alert.rule.clone())
        });
    let summary = summary.replace(['\n', '\r'], " ");
    match alert.labels.get("host") {
        Some(host) => format!(
            "{} {}: {summary} (host {host})",
            state_tag(alert),
            alert.severity
        ),
        None => format!("{} {}: {summary}", state_tag(alert), alert.severity),
    }
}

/// Lines (already escaped for the service) joined by newlines, cut at `limit` (as `measure`
/// counts) with a final `… and N more`.
pub(super) fn join_limited(lines: &[String], limit: usize, measure: fn(&str) -> usize) -> String {
    let mut out = String::new();
    for (i, line) in lines.iter().enumerate() {
        let left = lines.len() - i - 1;
        let tail = if left > 0 {
            format!("\n… and {left} more")
        } else {
            String::new()
        };
        let sep = usize::from(!out.is_empty());
        let budget = limit.saturating_sub(measure(&out) + sep + measure(&tail));
        if measure(line) <= budget {
            if sep == 1 {
                out.push('\n');
            }
            out.push_str(line);
        } else if out.is_empty() {
            // A single monstrous first line: cut it.
            out.push_str(&truncate_to(line, budget, measure));
        } else {
            out.push_str(&format!("\n… and {} more", left + 1));
            return out;
        }
    }
    out
}

/// The longest prefix of `text` (plus `…`) that `measure` finds within `budget`.
pub(super) fn truncate_to(text: &str, budget: usize, measure: fn(&str) -> usize) -> String {
    let mut out = String::new();
    let mut used = measure("…");
    let mut buf = [0u8; 4];
    for c in text.chars() {
        let size = measure(c.encode_utf8(&mut buf));
        if used + size > budget {
            break;
        }
        used += size;
        out.push(c);
    }
    // Never end inside an escaped entity (`&amp;` cut to `&am`): Telegram refuses such HTML.
    if let Some(amp) = out.rfind('&')
        && !out[amp..].contains(';')
    {
        out.truncate(amp);
    }
    out.push('…');
    out
}

pub(super) fn chars(s: &str) -> usize {
    s.chars().count()
}

pub(super) fn bytes(s: &str) -> usize {
    s.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::fixtures::{alert, message};
    use crate::receivers::ntfy::ntfy_payload;
    use crate::receivers::telegram::escape_html;
    use chrono::Utc;
    use exporter_protocol::alert::Severity;

    #[test]
    fn a_cut_never_ends_inside_an_entity() {
        let line = escape_html(&"a&b".repeat(50));
        for budget in 1..60 {
            let cut = truncate_to(&line, budget, chars);
            let tail = cut.rfind('&').map_or("", |i| &cut[i..]);
            assert!(tail.is_empty() || tail.contains(';'), "{cut}");
        }
    }

    #[test]
    fn lines_say_state_severity_summary_and_host() {
        let mut a = alert("GpuHot", "gh200", Severity::Critical, AlertState::Firing);
        assert_eq!(
            alert_line(&a),
            "[FIRING] critical: GpuHot on gh200 <b>&</b> (host gh200)"
        );
        a.acknowledged_at = Some(Utc::now());
        assert!(alert_line(&a).starts_with("[ACK] critical"));
        a.state = AlertState::Resolved;
        assert!(alert_line(&a).starts_with("[RESOLVED] critical"));
        let ntfy = ntfy_payload(&message(vec![a]), "t");
        assert_eq!(ntfy["priority"], 3);
        assert_eq!(ntfy["title"], "[RESOLVED] GpuHot gh200");
    }
}
