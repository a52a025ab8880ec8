//! The embedded-format metrics a lead produces, as CloudWatch would read them off the log:
//! every line's directives, dimensions and units, and the points a lead's path makes.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::leads::Stack;
use crate::support::{Kind, unique};

const BOT: &str = "123456:ABCDEFGHIJKLMNOPQRSTUVWXYZ";

/// Checks a line is what CloudWatch accepts as EMF and returns it: one `_aws` member with a
/// millisecond timestamp, directives naming metrics of the catalogue with their own unit
/// and dimensions, and every dimension and metric present as a member of the line.
fn checked(line: &str) -> Value {
    let v: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
    let aws = &v["_aws"];
    let ts = aws["Timestamp"].as_u64().expect("a timestamp in ms");
    assert!(ts > 1_700_000_000_000, "{line}");
    let directives = aws["CloudWatchMetrics"].as_array().expect("directives");
    assert!(!directives.is_empty());
    for d in directives {
        assert_eq!(d["Namespace"], "Zayavka/test", "{line}");
        let sets = d["Dimensions"].as_array().unwrap();
        assert_eq!(sets.len(), 1, "{line}");
        for m in d["Metrics"].as_array().unwrap() {
            let name = m["Name"].as_str().unwrap();
            let spec = zayavka::metrics::CATALOGUE
                .iter()
                .find(|s| s.name == name)
                .unwrap_or_else(|| panic!("{name} is not in the catalogue"));
            assert_eq!(m["Unit"], spec.unit.as_str(), "{line}");
            assert_eq!(sets[0], json!(spec.dimensions), "{line}");
            assert!(v[name].is_number(), "{name} has no value: {line}");
            for dim in spec.dimensions {
                assert!(v[*dim].is_string(), "{dim} missing: {line}");
            }
        }
    }
    v
}

/// The points of metric `name` as (dimension values, value), in the order emitted.
fn points(lines: &[Value], name: &str, dims: &[&str]) -> Vec<(Vec<String>, f64)> {
    lines
        .iter()
        .filter(|l| l[name].is_number())
        .map(|l| {
            let d = dims
                .iter()
                .map(|k| l[*k].as_str().unwrap_or_default().to_string())
                .collect();
            (d, l[name].as_f64().unwrap())
        })
        .collect()
}

fn sorted(mut v: Vec<Vec<String>>) -> Vec<Vec<String>> {
    v.sort();
    v
}

fn keys(v: &[(&str, &str)]) -> Vec<Vec<String>> {
    sorted(
        v.iter()
            .map(|(a, b)| vec![a.to_string(), b.to_string()])
            .collect(),
    )
}

/// A lead with a Telegram chat that answers 429 once, a Bitrix24 that keeps failing and an
/// e-mail: each attempt, the rate limit, the partial outcome and both of the admins'
/// notifications are a point each.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lead_emits_its_acceptance_each_attempt_its_outcome_and_its_notifications() {
    let stack = Stack::start(Kind::Embedded, &[("RETRY_SCHEDULE", "0s,0s")], &[]).await;
    let f = stack.fakes.clone();
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(429).set_body_json(json!({
            "ok": false, "error_code": 429, "description": "Too Many Requests: retry after 1",
            "parameters": {"retry_after": 1}
        })))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&f.telegram)
        .await;
    f.telegram_ok().await;
    Mock::given(method("POST"))
        .and(path("/rest/1/abc/crm.lead.add.json"))
        .respond_with(ResponseTemplate::new(500).set_body_string("boom"))
        .mount(&f.bitrix)
        .await;
    let lead_id = unique("lead-");
    let body = json!({
        "lead_id": lead_id,
        "lead": {"name": "Анна", "phone": "+79990001122"},
        "integrations": [
            {"type": "telegram", "settings": {"chat_id": "-100123"}},
            {"type": "bitrix24", "tries": 2},
            {"type": "email"}
        ],
        "credentials": {
            "telegram": {"bot_token": BOT},
            "bitrix24": {"webhook_url": format!("{}/rest/1/abc", f.bitrix.uri())},
            "email": {"emails": ["sales@example.com"]}
        }
    });
    let (status, b) = stack.submit(&body, None).await;
    assert_eq!(status, 202, "{b}");
    let lead = stack.settled(&lead_id, Duration::from_secs(30)).await;
    assert_eq!(lead["status"], "partial", "{lead:#}");
    // The admins hear of it by e-mail and Telegram after the settling.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let lines: Vec<Value> = stack.metrics.lines().iter().map(|l| checked(l)).collect();
        if points(&lines, "NotificationsSent", &["Channel"]).len() >= 2 {
            break;
        }
        assert!(Instant::now() < deadline, "{lines:#?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // A moment more, so a duplicate would show.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let raw = stack.metrics.lines();
    let lines: Vec<Value> = raw.iter().map(|l| checked(l)).collect();
    // What CloudWatch Logs ingests for them (BENCHMARKS.md prices it).
    println!(
        "embedded metrics of one lead: {} lines, {} bytes",
        raw.len(),
        raw.iter().map(|l| l.len() + 1).sum::<usize>()
    );

    assert_eq!(points(&lines, "LeadsAccepted", &[]), vec![(vec![], 1.0)]);
    let deliveries = points(&lines, "Deliveries", &["Integration", "Outcome"]);
    assert!(deliveries.iter().all(|(_, v)| *v == 1.0));
    assert_eq!(
        sorted(deliveries.into_iter().map(|(d, _)| d).collect()),
        keys(&[
            ("telegram", "retried"),
            ("telegram", "delivered"),
            ("bitrix24", "retried"),
            ("bitrix24", "failed"),
            ("email", "delivered"),
        ])
    );
    // Each attempt's latency, under its integration only; the fakes answer at once.
    let latency = points(&lines, "DeliveryLatency", &["Integration"]);
    assert_eq!(latency.len(), 5, "{latency:?}");
    assert!(
        latency.iter().all(|(_, ms)| (0.0..5_000.0).contains(ms)),
        "{latency:?}"
    );
    assert_eq!(
        points(&lines, "TelegramRateLimited", &[]),
        vec![(vec![], 1.0)]
    );
    assert!(points(&lines, "TelegramBlocked", &[]).is_empty());
    assert_eq!(
        points(&lines, "LeadsSettled", &["Status"]),
        vec![(vec!["partial".to_string()], 1.0)]
    );
    assert_eq!(
        sorted(
            points(&lines, "NotificationsSent", &["Channel"])
                .into_iter()
                .map(|(d, _)| d)
                .collect()
        ),
        vec![vec!["email".to_string()], vec!["telegram".to_string()]]
    );
    stack.stop().await;
}

/// A chat that blocked the bot is a 403, counted as such.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_chat_that_blocked_the_bot_is_counted() {
    let stack = Stack::start(Kind::Embedded, &[], &[]).await;
    let f = stack.fakes.clone();
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(403).set_body_json(json!({
            "ok": false, "error_code": 403, "description": "Forbidden: bot was blocked by the user"
        })))
        .mount(&f.telegram)
        .await;
    let lead_id = unique("lead-");
    let body = json!({
        "lead_id": lead_id,
        "lead": {"name": "Иван"},
        "integrations": [{"type": "telegram", "settings": {"chat_id": "555"}}],
        "credentials": {"telegram": {"bot_token": BOT}}
    });
    assert_eq!(stack.submit(&body, None).await.0, 202);
    let lead = stack.settled(&lead_id, Duration::from_secs(30)).await;
    assert_eq!(lead["status"], "failed", "{lead:#}");
    let lines: Vec<Value> = stack.metrics.lines().iter().map(|l| checked(l)).collect();
    assert!(
        !points(&lines, "TelegramBlocked", &[]).is_empty(),
        "{lines:#?}"
    );
    assert!(
        points(&lines, "Deliveries", &["Integration", "Outcome"])
            .contains(&(vec!["telegram".into(), "failed".into()], 1.0)),
        "{lines:#?}"
    );
    assert_eq!(
        points(&lines, "LeadsSettled", &["Status"]),
        vec![(vec!["failed".to_string()], 1.0)]
    );
    stack.stop().await;
}
