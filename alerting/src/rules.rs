//! Compiles `settings/alerts.yaml` rules into what the engine evaluates: the PromQL-like
//! threshold expression, label matchers, regexes and checked templates.
//!
//! Everything that can be wrong in a rule is found here or in [`crate::schema`], at start or
//! reload, with the rule's index and key in the message, so a typo never surfaces at 3 a.m. as
//! a rule that silently never fires.

use std::collections::BTreeMap;
use std::str::FromStr;

use chrono::Duration;
use exporter_protocol::alert::Severity;
use exporter_protocol::logs::LogLevel;
use regex::Regex;

use crate::schema::{self, AbsentOf, AlertRules, RuleSettings};

/// A rule that cannot be compiled: which one, which key, why.
#[derive(Debug, thiserror::Error)]
#[error("alert rule `{rule}` (rules[{index}].{key}): {message}")]
pub struct RuleError {
    pub index: usize,
    pub rule: String,
    pub key: &'static str,
    pub message: String,
}

/// Comparison of a threshold rule.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Gt,
    Ge,
    Lt,
    Le,
    Eq,
    Ne,
}

impl Op {
    pub fn holds(self, value: f64, threshold: f64) -> bool {
        match self {
            Self::Gt => value > threshold,
            Self::Ge => value >= threshold,
            Self::Lt => value < threshold,
            Self::Le => value <= threshold,
            Self::Eq => value == threshold,
            Self::Ne => value != threshold,
        }
    }
}

/// One label matcher of an expression: `=`, `!=`, `=~`, `!~` (regexes fully anchored).
#[derive(Debug, Clone)]
pub enum LabelMatcher {
    Equal(String, String),
    NotEqual(String, String),
    Regex(String, Regex),
    NotRegex(String, Regex),
}

impl LabelMatcher {
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let get = |name: &str| labels.get(name).map(String::as_str).unwrap_or("");
        match self {
            Self::Equal(name, value) => get(name) == value,
            Self::NotEqual(name, value) => get(name) != value,
            Self::Regex(name, re) => re.is_match(get(name)),
            Self::NotRegex(name, re) => !re.is_match(get(name)),
        }
    }
}

/// `series{matchers} op value`.
#[derive(Debug, Clone)]
pub struct Threshold {
    pub series: String,
    pub matchers: Vec<LabelMatcher>,
    pub op: Op,
    pub value: f64,
    /// Hysteresis: a firing alert stays active until the value is back beyond this.
    pub resolve: Option<f64>,
    pub stale_after: Duration,
}

impl Threshold {
    /// Whether `value` keeps the alert active; `firing` selects the resolve threshold.
    pub fn active(&self, value: f64, firing: bool) -> bool {
        if self.op.holds(value, self.value) {
            return true;
        }
        match (firing, self.resolve) {
            (true, Some(resolve)) => match self.op {
                Op::Gt | Op::Ge => value > resolve,
                Op::Lt | Op::Le => value < resolve,
                Op::Eq | Op::Ne => false,
            },
            _ => false,
        }
    }
}

/// Absence of samples (by collector kind) or of heartbeats (by process).
#[derive(Debug, Clone)]
pub enum Absent {
    Source {
        source: String,
        hosts: Vec<String>,
        after: Duration,
    },
    Process {
        process: String,
        hosts: Vec<String>,
        after: Duration,
    },
}

/// Count of matching lines within a window, per host and component.
#[derive(Debug, Clone)]
pub struct LogCondition {
    pub min_level: LogLevel,
    pub component: Option<Regex>,
    pub pattern: Option<Regex>,
    pub count: u32,
    pub window: Duration,
}

#[derive(Debug, Clone)]
pub enum Condition {
    Threshold(Threshold),
    Absent(Absent),
    Logs(LogCondition),
}

/// A compiled rule.
#[derive(Debug, Clone)]
pub struct Rule {
    pub name: String,
    pub severity: Severity,
    pub category: String,
    pub condition: Condition,
    pub for_duration: Duration,
    pub keep_firing_for: Duration,
    pub labels: BTreeMap<String, String>,
    pub summary: String,
    pub description: String,
    /// When the market must be open for the rule to fire.
    pub active_during: crate::schema::ActiveDuring,
}

/// Compiles every enabled rule; the first mistake is the error.
pub fn compile(rules: &AlertRules) -> Result<Vec<Rule>, RuleError> {
    rules
        .rules
        .iter()
        .enumerate()
        .filter(|(_, rule)| rule.enabled)
        .map(|(index, rule)| compile_one(index, rule))
        .collect()
}

fn compile_one(index: usize, rule: &RuleSettings) -> Result<Rule, RuleError> {
    let err = |key: &'static str, message: String| RuleError {
        index,
        rule: rule.name.clone(),
        key,
        message,
    };
    let duration = |key: &'static str, d: std::time::Duration| {
        Duration::from_std(d).map_err(|e| err(key, e.to_string()))
    };
    let condition = match &rule.condition {
        schema::Condition::Threshold(threshold) => {
            let (series, matchers, op, value) =
                parse_expr(&threshold.expr).map_err(|m| err("expr", m))?;
            Condition::Threshold(Threshold {
                series,
                matchers,
                op,
                value,
                resolve: threshold.resolve_threshold,
                stale_after: duration("stale_after", threshold.stale_after)?,
            })
        }
        schema::Condition::Absent(absent) => {
            let after = duration("absent.after", absent.after)?;
            let hosts = absent.hosts.clone();
            Condition::Absent(match &absent.of {
                AbsentOf::Source(source) => Absent::Source {
                    source: source.clone(),
                    hosts,
                    after,
                },
                AbsentOf::Process(process) => Absent::Process {
                    process: process.clone(),
                    hosts,
                    after,
                },
            })
        }
        schema::Condition::Logs(logs) => {
            let regex = |key: &'static str, text: Option<String>| {
                text.as_deref()
                    .map(Regex::new)
                    .transpose()
                    .map_err(|e| err(key, format!("invalid regex: {e}")))
            };
            Condition::Logs(LogCondition {
                min_level: LogLevel::from_str(&logs.min_level)
                    .map_err(|m| err("logs.min_level", m))?,
                // The component must match whole (as label matchers do); the pattern is
                // searched anywhere in the message.
                component: regex(
                    "logs.component",
                    logs.component.as_ref().map(|c| format!("^(?:{c})$")),
                )?,
                pattern: regex("logs.pattern", logs.pattern.clone())?,
                count: logs.count,
                window: duration("logs.window", logs.window)?,
            })
        }
    };
    check_template(&rule.summary).map_err(|m| err("summary", m))?;
    check_template(&rule.description).map_err(|m| err("description", m))?;
    Ok(Rule {
        name: rule.name.clone(),
        severity: rule.severity,
        category: rule.category.clone(),
        condition,
        for_duration: duration("for", rule.for_duration)?,
        keep_firing_for: duration("keep_firing_for", rule.keep_firing_for)?,
        labels: rule.labels.clone(),
        summary: rule.summary.clone(),
        description: rule.description.clone(),
        active_during: rule.active_during,
    })
}

/// Parses `name{label="v", label=~"re"} op number`.
pub fn parse_expr(expr: &str) -> Result<(String, Vec<LabelMatcher>, Op, f64), String> {
    let text = expr.trim();
    let name_end = text
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.' || c == ':'))
        .unwrap_or(text.len());
    let name = &text[..name_end];
    if name.is_empty() {
        return Err(format!(
            "`{expr}` must start with a series name, e.g. `cpu.usage_percent > 90`"
        ));
    }
    let mut rest = text[name_end..].trim_start();
    let mut matchers = Vec::new();
    if let Some(inner) = rest.strip_prefix('{') {
        let close = find_closing_brace(inner)
            .ok_or_else(|| format!("`{expr}`: `{{` without a closing `}}`"))?;
        matchers = parse_matchers(&inner[..close])?;
        rest = inner[close + 1..].trim_start();
    }
    let (op, after) = [
        (">=", Op::Ge),
        ("<=", Op::Le),
        ("==", Op::Eq),
        ("!=", Op::Ne),
        (">", Op::Gt),
        ("<", Op::Lt),
    ]
    .iter()
    .find_map(|(token, op)| rest.strip_prefix(token).map(|after| (*op, after)))
    .ok_or_else(|| format!("`{expr}`: expected a comparison (> >= < <= == !=) after the series"))?;
    let number = after.trim();
    let value: f64 = number
        .parse()
        .map_err(|_| format!("`{expr}`: `{number}` is not a number"))?;
    if !value.is_finite() {
        return Err(format!("`{expr}`: the threshold must be finite"));
    }
    Ok((name.to_owned(), matchers, op, value))
}

fn find_closing_brace(text: &str) -> Option<usize> {
    let mut in_quotes = false;
    let mut escaped = false;
    for (i, c) in text.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if in_quotes => escaped = true,
            '"' => in_quotes = !in_quotes,
            '}' if !in_quotes => return Some(i),
            _ => {}
        }
    }
    None
}

fn parse_matchers(text: &str) -> Result<Vec<LabelMatcher>, String> {
    let mut matchers = Vec::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        let name_end = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        let name = rest[..name_end].to_owned();
        if name.is_empty() {
            return Err(format!("matcher `{rest}` needs a label name"));
        }
        rest = rest[name_end..].trim_start();
        let (kind, after) = ["=~", "!~", "!=", "="]
            .iter()
            .find_map(|op| rest.strip_prefix(op).map(|after| (*op, after)))
            .ok_or_else(|| format!("label `{name}`: expected =, !=, =~ or !~"))?;
        let after = after.trim_start();
        let Some(quoted) = after.strip_prefix('"') else {
            return Err(format!(
                "label `{name}`: the value must be in double quotes"
            ));
        };
        let mut value = String::new();
        let mut end = None;
        let mut escaped = false;
        for (i, c) in quoted.char_indices() {
            if escaped {
                value.push(c);
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                end = Some(i);
                break;
            } else {
                value.push(c);
            }
        }
        let end = end.ok_or_else(|| format!("label `{name}`: unterminated quote"))?;
        let regex = |name: &str, v: &str| {
            Regex::new(&format!("^(?:{v})$"))
                .map_err(|e| format!("label `{name}`: invalid regex: {e}"))
        };
        matchers.push(match kind {
            "=" => LabelMatcher::Equal(name, value),
            "!=" => LabelMatcher::NotEqual(name, value),
            "=~" => {
                let re = regex(&name, &value)?;
                LabelMatcher::Regex(name, re)
            }
            _ => {
                let re = regex(&name, &value)?;
                LabelMatcher::NotRegex(name, re)
            }
        });
        rest = quoted[end + 1..].trim_start();
        rest = rest.strip_prefix(',').unwrap_or(rest).trim_start();
    }
    Ok(matchers)
}

/// Checks that every `{{ ... }}` names something [`render`] knows.
fn check_template(template: &str) -> Result<(), String> {
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or_else(|| "`{{` without a closing `}}`".to_owned())?;
        let key = after[..end].trim();
        let known = matches!(key, "value" | "rule" | "severity" | "category")
            || key
                .strip_prefix("labels.")
                .is_some_and(|label| !label.is_empty());
        if !known {
            return Err(format!(
                "unknown template field `{{{{ {key} }}}}` (value, rule, severity, category, labels.<name>)"
            ));
        }
        rest = &after[end + 2..];
    }
    Ok(())
}

/// Fills a template: `{{ value }}` (rounded to 2 decimals), `{{ labels.host }}`, `{{ rule }}`,
/// `{{ severity }}`, `{{ category }}`. A missing label renders empty.
pub fn render(
    template: &str,
    value: Option<f64>,
    labels: &BTreeMap<String, String>,
    rule: &Rule,
) -> String {
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let Some(end) = after.find("}}") else {
            out.push_str(&rest[start..]);
            return out;
        };
        let key = after[..end].trim();
        match key {
            "value" => out.push_str(&format_value(value)),
            "rule" => out.push_str(&rule.name),
            "severity" => out.push_str(rule.severity.as_str()),
            "category" => out.push_str(&rule.category),
            _ => {
                if let Some(label) = key.strip_prefix("labels.") {
                    out.push_str(labels.get(label).map(String::as_str).unwrap_or(""));
                }
            }
        }
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    out
}

fn format_value(value: Option<f64>) -> String {
    match value {
        Some(v) if v.is_finite() => {
            let rounded = (v * 100.0).round() / 100.0;
            if rounded.fract() == 0.0 && rounded.abs() < 1e15 {
                format!("{}", rounded as i64)
            } else {
                format!("{rounded}")
            }
        }
        _ => "n/a".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expressions_parse_with_matchers() {
        let (name, matchers, op, value) =
            parse_expr(r#"filesystem.used_percent{mount=~"/data.*", host!="lab"} >= 90.5"#)
                .unwrap();
        assert_eq!(name, "filesystem.used_percent");
        assert_eq!(op, Op::Ge);
        assert_eq!(value, 90.5);
        let labels = |mount: &str, host: &str| {
            BTreeMap::from([
                ("mount".to_owned(), mount.to_owned()),
                ("host".to_owned(), host.to_owned()),
            ])
        };
        assert!(
            matchers
                .iter()
                .all(|m| m.matches(&labels("/data/pg", "gh200")))
        );
        assert!(!matchers.iter().all(|m| m.matches(&labels("/", "gh200"))));
        assert!(!matchers.iter().all(|m| m.matches(&labels("/data", "lab"))));
        let (_, _, op, value) = parse_expr("portfolio.day_change_percent < -3").unwrap();
        assert_eq!((op, value), (Op::Lt, -3.0));
    }

    #[test]
    fn bad_expressions_say_what_is_wrong() {
        assert!(parse_expr("> 5").unwrap_err().contains("series name"));
        assert!(
            parse_expr("cpu.usage_percent 5")
                .unwrap_err()
                .contains("comparison")
        );
        assert!(
            parse_expr("cpu.usage_percent > lots")
                .unwrap_err()
                .contains("lots")
        );
        assert!(
            parse_expr(r#"x{a=~"("} > 1"#)
                .unwrap_err()
                .contains("regex")
        );
        assert!(
            parse_expr(r#"x{a=b} > 1"#)
                .unwrap_err()
                .contains("double quotes")
        );
    }

    #[test]
    fn the_shipped_rules_compile_and_templates_render() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../settings/alerts.yaml");
        let rules = compile(&AlertRules::load(&path).unwrap()).unwrap();
        let rule = rules.iter().find(|r| r.name == "DiskAlmostFull").unwrap();
        let labels = BTreeMap::from([
            ("mount_point".to_owned(), "/data".to_owned()),
            ("host".to_owned(), "gh200".to_owned()),
        ]);
        assert_eq!(
            render(&rule.summary, Some(93.456), &labels, rule),
            "/data is 93.46% full on gh200"
        );
    }

    #[test]
    fn rule_mistakes_name_the_rule() {
        let text = "rules:\n- {name: Hot, severity: warning, category: hardware, expr: 'gpu.t > 1', summary: '{{ valu }}'}\n";
        let err = compile(&AlertRules::parse(text).unwrap()).unwrap_err();
        assert_eq!(err.key, "summary");
        assert!(err.to_string().contains("Hot"), "{err}");
    }

    #[test]
    fn hysteresis_keeps_a_firing_alert_until_the_resolve_threshold() {
        let (series, matchers, op, value) = parse_expr("cpu.usage_percent > 90").unwrap();
        let t = Threshold {
            series,
            matchers,
            op,
            value,
            resolve: Some(80.0),
            stale_after: Duration::minutes(5),
        };
        assert!(t.active(95.0, false));
        assert!(!t.active(85.0, false));
        assert!(t.active(85.0, true));
        assert!(!t.active(79.0, true));
    }
}
