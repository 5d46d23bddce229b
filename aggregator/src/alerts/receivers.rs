//! Receivers: where alert notifications go, and what each service expects on the wire.
//!
//! A [`Receiver`] is a `receivers:` entry of `settings/alerts.yaml` with its secrets resolved
//! once, up front (a Slack URL, a bot token: from an environment variable or a 0600 file, never
//! from the rules file), so a missing secret is an error at start-up or reload rather than at
//! 3 a.m. when the first alert fires. It builds one HTTP request per [`Message`]:
//!
//! - `webhook`: Alertmanager's webhook JSON (version 4), so anything written for Alertmanager
//!   receives it; bearer token when configured. The exporter's own fields sit under `exporter`.
//! - `slack`: an incoming-webhook message (`text` plus one coloured attachment).
//! - `ntfy`: a JSON publish to the server root (`topic`, `title`, `message`, `priority`, `tags`).
//! - `telegram`: the Bot API's `sendMessage` with HTML-escaped text.
//!
//! Secrets never leave this module except inside the request itself: [`Receiver`]'s `Debug`
//! shows no URL or token, and [`Receiver::redact`] scrubs them from any error text.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use exporter_protocol::alert::{Alert, AlertState, Severity};
use exporter_settings::alerts::{ReceiverSettings, ReceiverType};
use exporter_settings::secrets::{Secret, read_secret_file};
use serde_json::{Value, json};

use super::dispatch::DispatchError;

/// Default ntfy server.
pub const NTFY_DEFAULT_URL: &str = "https://ntfy.sh";
/// Default Telegram Bot API base.
pub const TELEGRAM_DEFAULT_URL: &str = "https://api.telegram.org";
/// Telegram refuses messages longer than 4096 characters; stay below with room for markup.
pub const TELEGRAM_TEXT_LIMIT_CHARS: usize = 4000;
/// ntfy turns messages over 4096 bytes into attachments; stay below.
pub const NTFY_TEXT_LIMIT_BYTES: usize = 3800;
/// Slack truncates long attachment text; keep one message readable.
pub const SLACK_TEXT_LIMIT_CHARS: usize = 3500;
/// Alertmanager's "zero time": `endsAt` of an alert still firing.
const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

/// One message for one receiver: a group's alerts that passed the receiver's filters.
#[derive(Debug, Clone)]
pub struct Message {
    pub receiver: String,
    /// `{alertname="HostDown", host="gh200"}`.
    pub group_key: String,
    /// The `group_by` labels and their values.
    pub group_labels: BTreeMap<String, String>,
    /// Firing (possibly acknowledged) and resolved alerts, in display order.
    pub alerts: Vec<Alert>,
}

impl Message {
    fn firing(&self) -> impl Iterator<Item = &Alert> {
        self.alerts
            .iter()
            .filter(|a| a.state != AlertState::Resolved)
    }

    /// `firing` when any alert fires, else `resolved` (Alertmanager's group status).
    pub fn status(&self) -> &'static str {
        if self.firing().next().is_some() {
            "firing"
        } else {
            "resolved"
        }
    }

    /// `[FIRING:2] GpuHot gh200` or `[RESOLVED] GpuHot gh200`.
    pub fn title(&self) -> String {
        let firing = self.firing().count();
        let what = if self.group_labels.is_empty() {
            "alerts".to_owned()
        } else {
            self.group_labels
                .values()
                .cloned()
                .collect::<Vec<_>>()
                .join(" ")
        };
        if firing > 0 {
            format!("[FIRING:{firing}] {what}")
        } else {
            format!("[RESOLVED] {what}")
        }
    }

    /// The highest severity among firing alerts (none when all resolved).
    fn worst_firing(&self) -> Option<Severity> {
        self.firing().map(|a| a.severity).max()
    }
}

/// A receiver with its secrets resolved.
pub struct Receiver {
    pub name: String,
    pub kind: ReceiverType,
    /// Where the request goes; may hold a secret (Slack path, Telegram bot token).
    endpoint: Secret,
    /// Bearer token (webhook, ntfy); the bot token for Telegram (already in `endpoint`).
    token: Option<Secret>,
    topic: Option<String>,
    chat_id: Option<String>,
    pub send_resolved: bool,
    pub min_severity: Severity,
    pub categories: Vec<String>,
    pub timeout: Duration,
    pub max_attempts: u32,
    /// Strings scrubbed from error text.
    secrets: Vec<String>,
}

impl fmt::Debug for Receiver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Receiver")
            .field("name", &self.name)
            .field("kind", &self.kind)
            .field("send_resolved", &self.send_resolved)
            .field("min_severity", &self.min_severity)
            .field("categories", &self.categories)
            .field("timeout", &self.timeout)
            .field("max_attempts", &self.max_attempts)
            .finish_non_exhaustive()
    }
}

/// Reads one secret from `*_env` (first) or `*_file`.
fn secret_from(
    receiver: &str,
    env_name: Option<&String>,
    file: Option<&std::path::PathBuf>,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<Option<Secret>, DispatchError> {
    if let Some(variable) = env_name {
        let value = env(variable).ok_or_else(|| DispatchError::MissingEnv {
            receiver: receiver.to_owned(),
            variable: variable.clone(),
        })?;
        let value = value.trim();
        if value.is_empty() {
            return Err(DispatchError::EmptyEnv {
                receiver: receiver.to_owned(),
                variable: variable.clone(),
            });
        }
        return Ok(Some(Secret::new(value)));
    }
    if let Some(path) = file {
        return read_secret_file(path)
            .map(Some)
            .map_err(|source| DispatchError::SecretFile {
                receiver: receiver.to_owned(),
                source,
            });
    }
    Ok(None)
}

impl Receiver {
    /// Resolves the secrets of `settings` (environment through `env`) and checks the URL.
    pub fn resolve(
        settings: &ReceiverSettings,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, DispatchError> {
        let name = settings.name.as_str();
        let invalid = |message: &str| DispatchError::Invalid {
            receiver: name.to_owned(),
            message: message.to_owned(),
        };
        let url_secret = secret_from(
            name,
            settings.url_env.as_ref(),
            settings.url_file.as_ref(),
            env,
        )?;
        let token = secret_from(
            name,
            settings.token_env.as_ref(),
            settings.token_file.as_ref(),
            env,
        )?;
        let base = match (&url_secret, &settings.url, settings.kind) {
            (Some(secret), _, _) => secret.expose().to_owned(),
            (None, Some(url), _) => url.clone(),
            (None, None, ReceiverType::Ntfy) => NTFY_DEFAULT_URL.to_owned(),
            (None, None, ReceiverType::Telegram) => TELEGRAM_DEFAULT_URL.to_owned(),
            (None, None, _) => return Err(invalid("needs url, url_env or url_file")),
        };
        let parsed = reqwest::Url::parse(base.trim())
            .map_err(|err| invalid(&format!("the URL does not parse ({err})")))?;
        if !matches!(parsed.scheme(), "http" | "https") {
            return Err(invalid("the URL must start with http:// or https://"));
        }
        let mut secrets = Vec::new();
        let endpoint = match settings.kind {
            ReceiverType::Telegram => {
                let token = token
                    .as_ref()
                    .ok_or_else(|| invalid("a telegram receiver needs token_env or token_file"))?;
                if settings.chat_id.as_deref().is_none_or(str::is_empty) {
                    return Err(invalid("a telegram receiver needs chat_id"));
                }
                format!(
                    "{}/bot{}/sendMessage",
                    base.trim().trim_end_matches('/'),
                    token.expose()
                )
            }
            ReceiverType::Ntfy => {
                if settings.topic.as_deref().is_none_or(str::is_empty) {
                    return Err(invalid("an ntfy receiver needs a topic"));
                }
                base.trim().to_owned()
            }
            ReceiverType::Webhook | ReceiverType::Slack => base.trim().to_owned(),
        };
        if url_secret.is_some() {
            // The whole URL is a secret; so is its path (a Slack hook's path is the credential).
            secrets.push(base.trim().to_owned());
            let path = parsed.path();
            if path.len() > 1 {
                secrets.push(path.to_owned());
            }
            if let Some(query) = parsed.query() {
                secrets.push(query.to_owned());
            }
        }
        if let Some(token) = &token {
            secrets.push(token.expose().to_owned());
        }
        if settings.kind == ReceiverType::Telegram {
            secrets.push(endpoint.clone());
        }
        // An ntfy topic on a public server is a password too.
        if let Some(topic) = &settings.topic {
            secrets.push(topic.clone());
        }
        secrets.retain(|s| s.len() >= 4);
        secrets.sort_by_key(|s| std::cmp::Reverse(s.len()));
        Ok(Self {
            name: settings.name.clone(),
            kind: settings.kind,
            endpoint: Secret::new(endpoint),
            token,
            topic: settings.topic.clone(),
            chat_id: settings.chat_id.clone(),
            send_resolved: settings.send_resolved,
            min_severity: settings.min_severity,
            categories: settings.categories.clone(),
            timeout: Duration::from_secs(settings.timeout_seconds.max(1)),
            max_attempts: settings.max_attempts.max(1),
            secrets,
        })
    }

    /// Resolves with the process environment.
    pub fn from_settings(settings: &ReceiverSettings) -> Result<Self, DispatchError> {
        Self::resolve(settings, &|name| std::env::var(name).ok())
    }

    /// True when `alert` passes this receiver's severity and category filters.
    pub fn accepts(&self, alert: &Alert) -> bool {
        alert.severity >= self.min_severity
            && (self.categories.is_empty() || self.categories.contains(&alert.category))
    }

    /// `text` with every secret of this receiver replaced by `[redacted]`.
    pub fn redact(&self, text: &str) -> String {
        let mut out = text.to_owned();
        for secret in &self.secrets {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), "[redacted]");
            }
        }
        out
    }

    /// The JSON body this receiver sends for `message`.
    pub fn payload(&self, message: &Message, external_url: &str) -> Value {
        match self.kind {
            ReceiverType::Webhook => webhook_payload(message, external_url),
            ReceiverType::Slack => slack_payload(message),
            ReceiverType::Ntfy => ntfy_payload(message, self.topic.as_deref().unwrap_or("")),
            ReceiverType::Telegram => {
                telegram_payload(message, self.chat_id.as_deref().unwrap_or(""))
            }
        }
    }

    /// The HTTP request for `message` (not sent).
    pub fn request(
        &self,
        client: &reqwest::Client,
        message: &Message,
        external_url: &str,
    ) -> reqwest::RequestBuilder {
        let mut request = client
            .post(self.endpoint.expose())
            .timeout(self.timeout)
            .json(&self.payload(message, external_url));
        if let Some(token) = &self.token
            && matches!(self.kind, ReceiverType::Webhook | ReceiverType::Ntfy)
        {
            request = request.bearer_auth(token.expose());
        }
        request
    }
}

fn rfc3339(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::AutoSi, true)
}

/// The labels a receiver sees: the alert's, plus `severity` and `category` when the rule did
/// not set them (Alertmanager routes and templates conventionally use `severity`).
fn wire_labels(alert: &Alert) -> BTreeMap<String, String> {
    let mut labels = alert.labels.clone();
    labels
        .entry("severity".into())
        .or_insert_with(|| alert.severity.as_str().to_owned());
    labels
        .entry("category".into())
        .or_insert_with(|| alert.category.clone());
    labels
}

/// Pairs every map shares with the same value.
fn common(maps: &[BTreeMap<String, String>]) -> BTreeMap<String, String> {
    let Some((first, rest)) = maps.split_first() else {
        return BTreeMap::new();
    };
    first
        .iter()
        .filter(|(k, v)| rest.iter().all(|m| m.get(*k) == Some(*v)))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// Alertmanager webhook JSON, version 4.
pub fn webhook_payload(message: &Message, external_url: &str) -> Value {
    let external_url = external_url.trim_end_matches('/');
    let labels: Vec<_> = message.alerts.iter().map(wire_labels).collect();
    let annotations: Vec<_> = message
        .alerts
        .iter()
        .map(|a| a.annotations.clone())
        .collect();
    let alerts: Vec<Value> = message
        .alerts
        .iter()
        .zip(&labels)
        .map(|(alert, labels)| {
            let resolved = alert.state == AlertState::Resolved;
            let ends_at = match (resolved, alert.resolved_at) {
                (true, Some(at)) => rfc3339(at),
                (true, None) => rfc3339(alert.last_active_at),
                (false, _) => ZERO_TIME.to_owned(),
            };
            json!({
                "status": if resolved { "resolved" } else { "firing" },
                "labels": labels,
                "annotations": alert.annotations,
                "startsAt": rfc3339(alert.fired_at.unwrap_or(alert.started_at)),
                "endsAt": ends_at,
                "generatorURL": format!("{external_url}/alerts/{}", alert.id),
                "fingerprint": alert.fingerprint,
                "exporter": {
                    "alert_id": alert.id,
                    "rule": alert.rule,
                    "severity": alert.severity,
                    "category": alert.category,
                    "value": alert.value.filter(|v| v.is_finite()),
                    "acknowledged": alert.acknowledged_at.is_some(),
                    "acknowledged_at": alert.acknowledged_at.map(rfc3339),
                    "acknowledged_by": alert.acknowledged_by,
                },
            })
        })
        .collect();
    json!({
        "version": "4",
        "groupKey": message.group_key,
        "truncatedAlerts": 0,
        "status": message.status(),
        "receiver": message.receiver,
        "groupLabels": message.group_labels,
        "commonLabels": common(&labels),
        "commonAnnotations": common(&annotations),
        "externalURL": external_url,
        "alerts": alerts,
    })
}

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
fn join_limited(lines: &[String], limit: usize, measure: fn(&str) -> usize) -> String {
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
fn truncate_to(text: &str, budget: usize, measure: fn(&str) -> usize) -> String {
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

fn chars(s: &str) -> usize {
    s.chars().count()
}

fn bytes(s: &str) -> usize {
    s.len()
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
    use std::os::unix::fs::PermissionsExt;

    use super::*;
    use uuid::Uuid;

    /// Builds receiver settings through the real rules parser.
    fn settings(kind: &str, extra: &str) -> ReceiverSettings {
        let text = format!("receivers:\n- {{name: r1, type: {kind}{extra}}}\n");
        exporter_settings::AlertRules::parse(&text)
            .unwrap()
            .receivers
            .remove(0)
    }

    fn alert(name: &str, host: &str, severity: Severity, state: AlertState) -> Alert {
        let now = Utc::now();
        Alert {
            id: Uuid::now_v7(),
            fingerprint: format!("fp-{name}-{host}"),
            rule: name.into(),
            severity,
            category: "system".into(),
            state,
            labels: BTreeMap::from([
                ("alertname".to_owned(), name.to_owned()),
                ("host".to_owned(), host.to_owned()),
            ]),
            annotations: BTreeMap::from([(
                "summary".to_owned(),
                format!("{name} on {host} <b>&</b>"),
            )]),
            value: Some(1.0),
            started_at: now,
            fired_at: Some(now),
            resolved_at: (state == AlertState::Resolved).then_some(now),
            acknowledged_at: None,
            acknowledged_by: None,
            last_active_at: now,
        }
    }

    fn message(alerts: Vec<Alert>) -> Message {
        Message {
            receiver: "r1".into(),
            group_key: "{alertname=\"GpuHot\", host=\"gh200\"}".into(),
            group_labels: BTreeMap::from([
                ("alertname".to_owned(), "GpuHot".to_owned()),
                ("host".to_owned(), "gh200".to_owned()),
            ]),
            alerts,
        }
    }

    #[test]
    fn an_unset_variable_names_the_receiver_and_variable() {
        let s = settings("slack", ", url_env: HOOK_URL_FOR_TEST");
        let err = Receiver::resolve(&s, &|_| None).unwrap_err().to_string();
        assert!(
            err.contains("r1") && err.contains("HOOK_URL_FOR_TEST"),
            "{err}"
        );
        let value = "https://hooks.example.com/services/T0/B0/abcdefgh";
        let receiver = Receiver::resolve(&s, &|_| Some(value.into())).unwrap();
        let shown = format!("{receiver:?}");
        assert!(!shown.contains("abcdefgh"), "{shown}");
        let scrubbed = receiver.redact(&format!("error sending to {value}: boom"));
        assert!(!scrubbed.contains("abcdefgh"), "{scrubbed}");
    }

    #[test]
    fn a_readable_secret_file_is_refused_and_a_0600_one_used() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        let token = format!("{}:{}", 123456, Uuid::new_v4().simple());
        std::fs::write(&path, format!("{token}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let s = settings(
            "telegram",
            &format!(", chat_id: '42', token_file: {}", path.display()),
        );
        let err = Receiver::resolve(&s, &|_| None).unwrap_err().to_string();
        assert!(err.contains("chmod 600") && err.contains("r1"), "{err}");
        assert!(!err.contains(&token), "{err}");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let receiver = Receiver::resolve(&s, &|_| None).unwrap();
        assert_eq!(
            receiver.endpoint.expose(),
            format!("{TELEGRAM_DEFAULT_URL}/bot{token}/sendMessage")
        );
        assert_eq!(
            receiver.redact(&format!("GET /bot{token}/x")),
            "GET /bot[redacted]/x"
        );
    }

    #[test]
    fn filters_apply_severity_and_categories() {
        let s = settings(
            "webhook",
            ", url: 'http://127.0.0.1:1/x', min_severity: warning, categories: [system]",
        );
        let r = Receiver::resolve(&s, &|_| None).unwrap();
        assert!(r.accepts(&alert("A", "h", Severity::Critical, AlertState::Firing)));
        assert!(!r.accepts(&alert("A", "h", Severity::Info, AlertState::Firing)));
        let mut trading = alert("A", "h", Severity::Critical, AlertState::Firing);
        trading.category = "trading".into();
        assert!(!r.accepts(&trading));
    }

    #[test]
    fn webhook_payload_follows_alertmanager_v4() {
        let firing = alert("GpuHot", "gh200", Severity::Critical, AlertState::Firing);
        let mut resolved = alert("GpuHot", "gh200", Severity::Critical, AlertState::Resolved);
        resolved.labels.insert("gpu".into(), "1".into());
        let body = webhook_payload(&message(vec![firing.clone(), resolved]), "http://x:8000/");
        assert_eq!(body["version"], "4");
        assert_eq!(body["status"], "firing");
        assert_eq!(body["externalURL"], "http://x:8000");
        assert_eq!(body["groupLabels"]["alertname"], "GpuHot");
        assert_eq!(body["commonLabels"]["host"], "gh200");
        assert!(body["commonLabels"].get("gpu").is_none());
        assert_eq!(body["alerts"][0]["endsAt"], ZERO_TIME);
        assert_eq!(body["alerts"][0]["labels"]["severity"], "critical");
        assert_eq!(body["alerts"][1]["status"], "resolved");
        assert_ne!(body["alerts"][1]["endsAt"], ZERO_TIME);
        assert_eq!(
            body["alerts"][0]["generatorURL"],
            format!("http://x:8000/alerts/{}", firing.id)
        );
    }

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
