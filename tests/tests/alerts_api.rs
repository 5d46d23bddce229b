//! The log, alert and silence endpoints of the real `exporter-api` binary over a real PostgreSQL
//! (fixtures inserted with plain SQL) and a real NATS: filters and paging of `/logs` and
//! `/alerts`, bad parameters named in problem+json, acknowledging (scopes, idempotence, 404,
//! 409, the transition row and the NATS announcement), and silences (validation, listing,
//! deleting, and alerts they cover listed as `silenced`).

#![allow(clippy::unwrap_used)]

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};
use exporter_tests::TestEnv;
use futures::StreamExt;
use reqwest::Method;
use serde_json::{Value, json};
use uuid::Uuid;

/// One HTTP call with `key`: status, JSON body (`null` when none) and content type.
async fn call(
    env: &TestEnv,
    method: Method,
    path: &str,
    key: &str,
    body: Option<Value>,
) -> (u16, Value, String) {
    let mut request = reqwest::Client::new()
        .request(method, env.api_url(path))
        .header("X-API-Key", key)
        .timeout(Duration::from_secs(10));
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let content_type = response
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = response.json().await.unwrap_or(Value::Null);
    (status, body, content_type)
}

async fn get(env: &TestEnv, path: &str) -> Value {
    let (status, body, _) = call(env, Method::GET, path, &env.api_key, None).await;
    assert_eq!(status, 200, "{path}: {body}");
    body
}

/// Asserts a problem+json answer with `status` naming `parameter`.
async fn problem(
    env: &TestEnv,
    method: Method,
    path: &str,
    key: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let (status, body, content_type) = call(env, method, path, key, body).await;
    assert_eq!(content_type, "application/problem+json", "{path}: {body}");
    assert_eq!(body["status"], status, "{path}: {body}");
    (status, body)
}

async fn bad_parameter(env: &TestEnv, path: &str, parameter: &str) {
    let (status, body) = problem(env, Method::GET, path, &env.api_key, None).await;
    assert_eq!(status, 400, "{path}: {body}");
    assert_eq!(body["parameter"], parameter, "{path}: {body}");
    assert!(
        body["detail"].as_str().unwrap().contains(parameter),
        "{path}: {body}"
    );
}

/// Adds a read-scope key `phone` (a 0600 file generated here) to the env's settings.
fn add_read_key(env: &TestEnv) -> String {
    let key = format!("read-{}", Uuid::new_v4().simple());
    let path = env.dir.path().join("phone.key");
    let mut file = std::fs::OpenOptions::new()
        .create_new(true)
        .write(true)
        .mode(0o600)
        .open(&path)
        .unwrap();
    writeln!(file, "{key}").unwrap();
    let yaml = std::fs::read_to_string(&env.settings_path).unwrap();
    let yaml = yaml.replacen(
        "\napi:\n",
        &format!(
            "\napi:\n  extra_keys:\n    - name: phone\n      scope: read\n      key_file: {}\n",
            path.display()
        ),
        1,
    );
    std::fs::write(&env.settings_path, yaml).unwrap();
    key
}

fn at(minute: i64) -> DateTime<Utc> {
    "2026-03-01T10:00:00Z".parse::<DateTime<Utc>>().unwrap() + TimeDelta::minutes(minute)
}

/// The `message` of every line of a `/logs` answer, in order.
fn messages(body: &Value) -> Vec<&str> {
    body["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["message"].as_str().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_filter_page_newest_first_and_name_bad_parameters() {
    let env = TestEnv::new("").await;
    env.migrate().await;
    let _api = env.spawn("exporter-api", &[]);

    // (minute, host, level rank, component, message)
    let lines: [(i64, &str, i16, Option<&str>, &str); 7] = [
        (0, "gh200", 3, Some("trading.engine"), "order filled AAPL"),
        (1, "gh200", 4, Some("trading.risk"), "margin 50% used"),
        (
            2,
            "gh200",
            5,
            Some("trading.engine"),
            "order rejected: insufficient_funds",
        ),
        (3, "lab", 6, Some("exporter"), "disk full"),
        (4, "lab", 2, Some("trading.engine"), "tick"),
        (5, "gh200", 0, None, "???"),
        (
            6,
            "gh200",
            5,
            Some("trading.engine"),
            "ORDER rejected again",
        ),
    ];
    let message_id = Uuid::now_v7();
    for (i, (minute, host, level, component, message)) in lines.iter().enumerate() {
        sqlx::query(
            "INSERT INTO log_line (message_id, line_no, time, host, source, level, component, \
                                   message, fields, file_offset, truncated) \
             VALUES ($1, $2, $3, $4, '/var/log/trading/engine.log', $5, $6, $7, $8, $9, $10)",
        )
        .bind(message_id)
        .bind(i as i32)
        .bind(at(*minute))
        .bind(host)
        .bind(level)
        .bind(component)
        .bind(message)
        .bind(if i == 6 {
            json!({"symbol": "AAPL"})
        } else {
            json!({})
        })
        .bind((i == 6).then_some(1234_i64))
        .bind(i == 6)
        .execute(&env.pool)
        .await
        .unwrap();
    }
    exporter_tests::wait_for_port(env.api_port, Duration::from_secs(20));

    let all = get(&env, "/logs").await;
    assert_eq!(all["total"], 7);
    assert_eq!(
        (all["limit"].clone(), all["offset"].clone()),
        (json!(100), json!(0))
    );
    assert_eq!(
        messages(&all),
        [
            "ORDER rejected again",
            "???",
            "tick",
            "disk full",
            "order rejected: insufficient_funds",
            "margin 50% used",
            "order filled AAPL"
        ]
    );
    let newest = &all["lines"][0];
    assert_eq!(newest["level"], "error");
    assert_eq!(newest["host"], "gh200");
    assert_eq!(newest["component"], "trading.engine");
    assert_eq!(newest["source"], "/var/log/trading/engine.log");
    assert_eq!(newest["fields"], json!({"symbol": "AAPL"}));
    assert_eq!(newest["offset"], 1234);
    assert_eq!(newest["truncated"], true);
    assert!(newest["id"].as_i64().unwrap() > 0);
    assert_eq!(
        newest["time"]
            .as_str()
            .unwrap()
            .parse::<DateTime<Utc>>()
            .unwrap(),
        at(6)
    );
    assert!(newest["received_at"].is_string());
    assert_eq!(all["lines"][1]["level"], "unknown");
    assert_eq!(all["lines"][1]["component"], Value::Null);
    assert_eq!(all["lines"][1]["offset"], Value::Null);

    // `level` is that level and above; `warn` is read as warning.
    let cases: [(&str, &[&str]); 10] = [
        (
            "/logs?level=warn",
            &[
                "ORDER rejected again",
                "disk full",
                "order rejected: insufficient_funds",
                "margin 50% used",
            ],
        ),
        ("/logs?level=critical", &["disk full"]),
        (
            "/logs?level=error&component=trading.engine",
            &["ORDER rejected again", "order rejected: insufficient_funds"],
        ),
        (
            "/logs?component=trading.risk,exporter",
            &["disk full", "margin 50% used"],
        ),
        ("/logs?host=lab", &["tick", "disk full"]),
        (
            "/logs?q=order%20REJECTED",
            &["ORDER rejected again", "order rejected: insufficient_funds"],
        ),
        // `%` and `_` are literal, not wildcards.
        ("/logs?q=50%25", &["margin 50% used"]),
        ("/logs?q=_", &["order rejected: insufficient_funds"]),
        (
            "/logs?start=2026-03-01T10:02:00Z&end=2026-03-01T10:05:00Z",
            &["tick", "disk full", "order rejected: insufficient_funds"],
        ),
        // A start after the end is an empty range.
        (
            "/logs?start=2026-03-02T00:00:00Z&end=2026-03-01T00:00:00Z",
            &[],
        ),
    ];
    for (path, expected) in cases {
        let body = get(&env, path).await;
        assert_eq!(messages(&body), expected, "{path}");
        assert_eq!(body["total"], expected.len(), "{path}");
    }

    // A page: the total is the filter's, not the page's.
    let page = get(&env, "/logs?limit=2&offset=1").await;
    assert_eq!(page["total"], 7);
    assert_eq!(page["limit"], 2);
    assert_eq!(page["offset"], 1);
    assert_eq!(messages(&page), ["???", "tick"]);
    let beyond = get(&env, "/logs?level=error&offset=50").await;
    assert_eq!(beyond["total"], 3);
    assert_eq!(beyond["lines"], json!([]));

    for (path, parameter) in [
        ("/logs?level=loud", "level"),
        ("/logs?limit=0", "limit"),
        ("/logs?limit=1001", "limit"),
        ("/logs?limit=many", "limit"),
        ("/logs?offset=-1", "offset"),
        ("/logs?start=yesterday", "start"),
        ("/logs?end=2026-13-01T00:00:00Z", "end"),
        ("/logs?component=a,,b", "component"),
        ("/logs?q=", "q"),
        ("/logs?levle=error", "levle"),
        ("/logs?level=error&level=info", "level"),
    ] {
        bad_parameter(&env, path, parameter).await;
    }

    // Every new route is in the OpenAPI document.
    let doc = get(&env, "/openapi.json").await;
    let paths = doc["paths"].as_object().unwrap();
    for route in [
        "/logs",
        "/alerts",
        "/alerts/deliveries",
        "/alerts/{alert_id}",
        "/alerts/{alert_id}/acknowledge",
        "/silences",
        "/silences/{id}",
    ] {
        assert!(paths.contains_key(route), "{route} missing from OpenAPI");
    }
    assert!(doc["paths"]["/silences"]["post"].is_object());
    assert!(doc["paths"]["/silences/{id}"]["delete"].is_object());
    assert!(doc["paths"]["/alerts/{alert_id}/acknowledge"]["post"].is_object());
    env.finish().await;
}

/// Inserts an alert; returns its id.
#[allow(clippy::too_many_arguments)]
async fn insert_alert(
    env: &TestEnv,
    name: &str,
    host: &str,
    severity: &str,
    category: &str,
    state: &str,
    minute: i64,
    acknowledged_by: Option<&str>,
) -> Uuid {
    let id = Uuid::now_v7();
    sqlx::query(
        "INSERT INTO alert (alert_id, fingerprint, rule, severity, category, state, labels, \
                            annotations, value, started_at, fired_at, resolved_at, last_active_at, \
                            acknowledged_at, acknowledged_by) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 91.5, $9, $10, $11, $9, $12, $13)",
    )
    .bind(id)
    .bind(format!("fp-{name}-{host}"))
    .bind(name)
    .bind(severity)
    .bind(category)
    .bind(state)
    .bind(json!({"alertname": name, "host": host}))
    .bind(json!({"summary": format!("{name} on {host}")}))
    .bind(at(minute))
    .bind((state != "pending").then(|| at(minute + 1)))
    .bind((state == "resolved").then(|| at(minute + 2)))
    .bind(acknowledged_by.map(|_| at(minute + 1)))
    .bind(acknowledged_by)
    .execute(&env.pool)
    .await
    .unwrap();
    id
}

fn ids(body: &Value) -> Vec<Uuid> {
    body["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap().parse().unwrap())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alerts_filter_acknowledge_and_silence() {
    let env = TestEnv::new("").await;
    env.migrate().await;
    let read_key = add_read_key(&env);
    let _api = env.spawn("exporter-api", &[]);

    let gpu = insert_alert(
        &env, "GpuHot", "gh200", "critical", "hardware", "firing", 30, None,
    )
    .await;
    let disk = insert_alert(
        &env, "DiskFull", "lab", "warning", "system", "pending", 20, None,
    )
    .await;
    let rejected = insert_alert(
        &env,
        "OrderRejected",
        "gh200",
        "warning",
        "trading",
        "resolved",
        10,
        None,
    )
    .await;
    let logs = insert_alert(
        &env,
        "LogErrors",
        "gh200",
        "info",
        "logs",
        "firing",
        0,
        Some("alice"),
    )
    .await;
    for kind in ["pending", "firing"] {
        sqlx::query(
            "INSERT INTO alert_transition (alert_id, time, kind, value) VALUES ($1, $2, $3, 91.5)",
        )
        .bind(gpu)
        .bind(at(30))
        .bind(kind)
        .execute(&env.pool)
        .await
        .unwrap();
    }
    sqlx::query(
        "INSERT INTO alert_delivery (receiver, group_key, alert_ids, status, attempt, http_status, duration_ms) \
         VALUES ('ops-webhook', '{alertname=\"GpuHot\"}', $1, 'sent', 1, 200, 12)",
    )
    .bind(vec![gpu])
    .execute(&env.pool)
    .await
    .unwrap();
    let nats = async_nats::connect(env.nats.url()).await.unwrap();
    let subject =
        exporter_protocol::Subjects::new(&env.settings().nats.subject_prefix).alert("acknowledged");
    let mut announcements = nats.subscribe(subject).await.unwrap();
    nats.flush().await.unwrap();
    exporter_tests::wait_for_port(env.api_port, Duration::from_secs(20));

    // Listing and filters, newest first by started_at.
    let all = get(&env, "/alerts").await;
    assert_eq!(all["total"], 4);
    assert_eq!(ids(&all), [gpu, disk, rejected, logs]);
    let first = &all["alerts"][0];
    assert_eq!(first["rule"], "GpuHot");
    assert_eq!(first["severity"], "critical");
    assert_eq!(first["state"], "firing");
    assert_eq!(first["labels"]["host"], "gh200");
    assert_eq!(first["annotations"]["summary"], "GpuHot on gh200");
    assert_eq!(first["value"], 91.5);
    assert_eq!(first["silenced"], false);
    assert!(first.get("transitions").is_none());
    for (path, expected) in [
        ("/alerts?severity=warning", vec![disk, rejected]),
        ("/alerts?severity=critical,info", vec![gpu, logs]),
        ("/alerts?state=firing", vec![gpu, logs]),
        ("/alerts?state=pending,resolved", vec![disk, rejected]),
        ("/alerts?acknowledged=true", vec![logs]),
        ("/alerts?acknowledged=false", vec![gpu, disk, rejected]),
        ("/alerts?category=hardware", vec![gpu]),
        ("/alerts?host=lab", vec![disk]),
        ("/alerts?state=firing&acknowledged=false", vec![gpu]),
        ("/alerts?limit=1&offset=1", vec![disk]),
    ] {
        let body = get(&env, path).await;
        assert_eq!(ids(&body), expected, "{path}");
    }
    assert_eq!(get(&env, "/alerts?limit=1&offset=1").await["total"], 4);
    for (path, parameter) in [
        ("/alerts?severity=loud", "severity"),
        ("/alerts?state=open", "state"),
        ("/alerts?acknowledged=yes", "acknowledged"),
        ("/alerts?limit=0", "limit"),
        ("/alerts/not-a-uuid", "alert_id"),
        ("/silences?state=later", "state"),
    ] {
        bad_parameter(&env, path, parameter).await;
    }

    // One alert, with its transitions and deliveries.
    let one = get(&env, &format!("/alerts/{gpu}")).await;
    assert_eq!(one["id"], gpu.to_string());
    let kinds: Vec<&str> = one["transitions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["pending", "firing"]);
    assert_eq!(one["deliveries"][0]["receiver"], "ops-webhook");
    assert_eq!(one["deliveries"][0]["status"], "sent");
    let deliveries = get(&env, "/alerts/deliveries?limit=5").await;
    assert_eq!(deliveries["deliveries"][0]["alert_ids"], json!([gpu]));
    let (status, _) = problem(
        &env,
        Method::GET,
        &format!("/alerts/{}", Uuid::now_v7()),
        &env.api_key,
        None,
    )
    .await;
    assert_eq!(status, 404);

    // Acknowledging: admin scope only; ids checked; resolved alerts refused.
    let ack = |id: String, query: &str| format!("/alerts/{id}/acknowledge{query}");
    let (status, body) = problem(
        &env,
        Method::POST,
        &ack(gpu.to_string(), ""),
        &read_key,
        None,
    )
    .await;
    assert_eq!(status, 403, "{body}");
    let (status, body) = get_status(&env, "/alerts", &read_key).await;
    assert_eq!(status, 200, "a read key still reads: {body}");
    let (status, body) = problem(
        &env,
        Method::POST,
        &ack("nope".into(), ""),
        &env.api_key,
        None,
    )
    .await;
    assert_eq!(
        (status, body["parameter"].as_str()),
        (400, Some("alert_id"))
    );
    let (status, _) = problem(
        &env,
        Method::POST,
        &ack(Uuid::now_v7().to_string(), ""),
        &env.api_key,
        None,
    )
    .await;
    assert_eq!(status, 404);
    let (status, body) = problem(
        &env,
        Method::POST,
        &ack(rejected.to_string(), ""),
        &env.api_key,
        None,
    )
    .await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("resolved"),
        "{body}"
    );
    let (status, body) = problem(
        &env,
        Method::POST,
        &ack(gpu.to_string(), "?user=a%0Ab"),
        &env.api_key,
        None,
    )
    .await;
    assert_eq!((status, body["parameter"].as_str()), (400, Some("user")));

    let (status, first, _) = call(
        &env,
        Method::POST,
        &ack(gpu.to_string(), "?user=bob"),
        &env.api_key,
        None,
    )
    .await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first["acknowledged_by"], "bob");
    let acknowledged_at = first["acknowledged_at"].as_str().unwrap().to_owned();
    // Idempotent: the second acknowledgement keeps the first one's who and when.
    let (status, second, _) = call(
        &env,
        Method::POST,
        &ack(gpu.to_string(), "?user=carol"),
        &env.api_key,
        None,
    )
    .await;
    assert_eq!(status, 200, "{second}");
    assert_eq!(second["acknowledged_by"], "bob");
    assert_eq!(second["acknowledged_at"], acknowledged_at.as_str());
    // Without `user`, the key's name; an alert acknowledged before keeps its acknowledgement.
    let (_, by_key, _) = call(
        &env,
        Method::POST,
        &ack(disk.to_string(), ""),
        &env.api_key,
        None,
    )
    .await;
    assert_eq!(by_key["acknowledged_by"], "main");
    let (status, old, _) = call(
        &env,
        Method::POST,
        &ack(logs.to_string(), "?user=bob"),
        &env.api_key,
        None,
    )
    .await;
    assert_eq!(
        (status, old["acknowledged_by"].as_str()),
        (200, Some("alice"))
    );

    let transitions: Vec<(String, Option<String>)> = sqlx::query_as(
        "SELECT kind, actor FROM alert_transition WHERE alert_id = $1 ORDER BY transition_id",
    )
    .bind(gpu)
    .fetch_all(&env.pool)
    .await
    .unwrap();
    assert_eq!(
        transitions,
        [
            ("pending".to_owned(), None),
            ("firing".to_owned(), None),
            ("acknowledged".to_owned(), Some("bob".to_owned()))
        ]
    );
    let one = get(&env, &format!("/alerts/{gpu}")).await;
    assert_eq!(one["transitions"][2]["actor"], "bob");
    assert_eq!(
        ids(&get(&env, "/alerts?acknowledged=false").await),
        [rejected]
    );

    // Each first acknowledgement was announced on NATS, once.
    let mut announced = Vec::new();
    for _ in 0..2 {
        let message = tokio::time::timeout(Duration::from_secs(5), announcements.next())
            .await
            .unwrap()
            .unwrap();
        let event: exporter_protocol::alert::AlertEvent =
            serde_json::from_slice(&message.payload).unwrap();
        assert_eq!(
            event.kind,
            exporter_protocol::alert::AlertEventKind::Acknowledged
        );
        announced.push((event.alert.id, event.alert.acknowledged_by.unwrap()));
    }
    assert_eq!(
        announced,
        [(gpu, "bob".to_owned()), (disk, "main".to_owned())]
    );
    assert!(
        tokio::time::timeout(Duration::from_millis(300), announcements.next())
            .await
            .is_err(),
        "an idempotent acknowledgement was announced again"
    );

    // Silences: admin scope to write; each field checked and named.
    let gpu_silence = json!({
        "matchers": [{"name": "alertname", "value": "Gpu.*", "is_regex": true}],
        "duration": "2h",
        "comment": "replacing the fan",
    });
    let (status, _) = problem(
        &env,
        Method::POST,
        "/silences",
        &read_key,
        Some(gpu_silence.clone()),
    )
    .await;
    assert_eq!(status, 403);
    let now = Utc::now();
    for (body, field) in [
        (
            json!({"matchers": [{"name": "alertname", "value": "Gpu(", "is_regex": true}], "duration": "2h", "comment": "x"}),
            "matchers[0].value",
        ),
        (
            json!({"matchers": [], "duration": "2h", "comment": "x"}),
            "matchers",
        ),
        (
            json!({"matchers": [{"name": "alertname", "value": "GpuHot"}], "comment": "x"}),
            "ends_at",
        ),
        (
            json!({"matchers": [{"name": "alertname", "value": "GpuHot"}], "ends_at": (now + TimeDelta::days(91)).to_rfc3339(), "comment": "x"}),
            "ends_at",
        ),
        (
            json!({"matchers": [{"name": "alertname", "value": "GpuHot"}], "starts_at": (now + TimeDelta::hours(2)).to_rfc3339(), "ends_at": (now + TimeDelta::hours(1)).to_rfc3339(), "comment": "x"}),
            "ends_at",
        ),
        (
            json!({"matchers": [{"name": "alertname", "value": "GpuHot"}], "duration": "soon", "comment": "x"}),
            "duration",
        ),
        (
            json!({"matchers": [{"name": "alertname", "value": "GpuHot"}], "duration": "2h"}),
            "comment",
        ),
        (
            json!({"matchers": [{"name": "alertname", "value": "GpuHot", "regex": true}], "duration": "2h", "comment": "x"}),
            "matchers[0].regex",
        ),
    ] {
        let (status, problem_body) = problem(
            &env,
            Method::POST,
            "/silences",
            &env.api_key,
            Some(body.clone()),
        )
        .await;
        assert_eq!(status, 422, "{body}: {problem_body}");
        assert_eq!(problem_body["parameter"], field, "{body}: {problem_body}");
    }

    let (status, created, _) = call(
        &env,
        Method::POST,
        "/silences",
        &env.api_key,
        Some(gpu_silence),
    )
    .await;
    assert_eq!(status, 201, "{created}");
    assert_eq!(created["state"], "active");
    assert_eq!(created["created_by"], "main");
    assert_eq!(created["matchers"][0]["is_equal"], true);
    let starts: DateTime<Utc> = created["starts_at"].as_str().unwrap().parse().unwrap();
    let ends: DateTime<Utc> = created["ends_at"].as_str().unwrap().parse().unwrap();
    assert_eq!(ends - starts, TimeDelta::hours(2));
    let silence_id = created["id"].as_str().unwrap().to_owned();
    let (status, pending, _) = call(
        &env,
        Method::POST,
        "/silences",
        &env.api_key,
        Some(json!({
            "matchers": [{"name": "host", "value": "lab"}],
            "starts_at": (now + TimeDelta::hours(1)).to_rfc3339(),
            "ends_at": (now + TimeDelta::hours(3)).to_rfc3339(),
            "created_by": "ops",
            "comment": "tonight's maintenance",
        })),
    )
    .await;
    assert_eq!(status, 201, "{pending}");
    assert_eq!(pending["state"], "pending");
    assert_eq!(pending["created_by"], "ops");

    // The active silence covers the GPU alert only (the pending one covers nothing yet).
    let listed = get(&env, "/alerts").await;
    let silenced: Vec<bool> = listed["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["silenced"].as_bool().unwrap())
        .collect();
    assert_eq!(silenced, [true, false, false, false]);
    assert_eq!(get(&env, &format!("/alerts/{gpu}")).await["silenced"], true);

    let count = |body: Value| body["total"].as_i64().unwrap();
    assert_eq!(count(get(&env, "/silences").await), 2);
    assert_eq!(count(get(&env, "/silences?state=active").await), 1);
    assert_eq!(count(get(&env, "/silences?state=pending").await), 1);
    assert_eq!(count(get(&env, "/silences?state=expired").await), 0);
    let (status, _) = get_status(&env, "/silences", &read_key).await;
    assert_eq!(status, 200);

    // Deleting: admin only, 404 unknown, 400 not a UUID, idempotent.
    let delete = format!("/silences/{silence_id}");
    let (status, _) = problem(&env, Method::DELETE, &delete, &read_key, None).await;
    assert_eq!(status, 403);
    let (status, _) = problem(
        &env,
        Method::DELETE,
        &format!("/silences/{}", Uuid::now_v7()),
        &env.api_key,
        None,
    )
    .await;
    assert_eq!(status, 404);
    let (status, body) = problem(&env, Method::DELETE, "/silences/nope", &env.api_key, None).await;
    assert_eq!((status, body["parameter"].as_str()), (400, Some("id")));
    let (status, expired, _) = call(&env, Method::DELETE, &delete, &env.api_key, None).await;
    assert_eq!(status, 200, "{expired}");
    assert_eq!(expired["state"], "expired");
    let expired_at = expired["expired_at"].as_str().unwrap().to_owned();
    let (status, again, _) = call(&env, Method::DELETE, &delete, &env.api_key, None).await;
    assert_eq!(status, 200);
    assert_eq!(again["expired_at"], expired_at.as_str());
    assert_eq!(count(get(&env, "/silences").await), 1);
    assert_eq!(count(get(&env, "/silences?state=expired").await), 1);
    assert_eq!(count(get(&env, "/silences?state=all").await), 2);
    assert_eq!(
        get(&env, &format!("/alerts/{gpu}")).await["silenced"],
        false
    );
    let stored: Option<DateTime<Utc>> =
        sqlx::query_scalar("SELECT expired_at FROM silence WHERE silence_id = $1")
            .bind(silence_id.parse::<Uuid>().unwrap())
            .fetch_one(&env.pool)
            .await
            .unwrap();
    assert!(stored.is_some());
    env.finish().await;
}

async fn get_status(env: &TestEnv, path: &str, key: &str) -> (u16, Value) {
    let (status, body, _) = call(env, Method::GET, path, key, None).await;
    (status, body)
}
