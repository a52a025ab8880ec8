//! The retry schedule as a lead's owner sees it: a delivery that fails waits for the next
//! step of `RETRY_SCHEDULE` (or the service's longer `Retry-After`), the lead stays
//! `processing` and shows when the next attempt is due, and every attempt is on record with
//! its time, outcome, HTTP status, latency and error.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::leads::Stack;
use crate::support::{Kind, unique};

fn webhook_lead(lead_id: &str, url: &str) -> Value {
    json!({
        "lead_id": lead_id,
        "lead": {"name": "Анна", "phone": "+79990001122"},
        "integrations": [{"type": "webhook", "settings": {"url": url}}],
    })
}

fn seconds(ts: &Value) -> f64 {
    let t = time::OffsetDateTime::parse(
        ts.as_str().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    t.unix_timestamp_nanos() as f64 / 1e9
}

crate::both!(a_failing_delivery_waits_on_the_schedule_and_every_attempt_is_on_record);
async fn a_failing_delivery_waits_on_the_schedule_and_every_attempt_is_on_record(kind: Kind) {
    // Three steps: 0 s, then 3 s (long enough to watch the lead wait), then 0 s.
    let stack = Stack::start(kind, &[("RETRY_SCHEDULE", "0s,3s,0s")], &[]).await;
    let hook = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/hook"))
        .respond_with(ResponseTemplate::new(503).set_body_string("down for maintenance"))
        .up_to_n_times(2)
        .with_priority(1)
        .mount(&hook)
        .await;
    Mock::given(method("POST"))
        .and(path("/hook"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&hook)
        .await;
    let lead_id = unique("retry-");
    let (status, b) = stack
        .submit(
            &webhook_lead(&lead_id, &format!("{}/hook", hook.uri())),
            None,
        )
        .await;
    assert_eq!(status, 202, "{b}");

    // After the second refusal the job waits its 3 s: processing, with the time it is due.
    let deadline = Instant::now() + Duration::from_secs(20);
    let waiting = loop {
        let (_, raw) = stack.lead(&lead_id).await;
        let v: Value = serde_json::from_str(&raw).unwrap();
        let job = v["integrations"][0].clone();
        if job["attempts"] == 2 {
            assert_eq!(v["status"], "processing", "{v:#}");
            break job;
        }
        assert!(Instant::now() < deadline, "never saw the wait: {v:#}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(waiting["status"], "retrying", "{waiting:#}");
    let history = waiting["history"].as_array().unwrap();
    assert_eq!(history.len(), 2, "{waiting:#}");
    let due = seconds(&waiting["next_attempt_at"]);
    let second = seconds(&history[1]["at"]);
    assert!(
        (due - second - 3.0).abs() < 0.01,
        "due 3 s after the second answer: {waiting:#}"
    );

    let lead = stack.settled(&lead_id, Duration::from_secs(30)).await;
    assert_eq!(lead["status"], "completed", "{lead:#}");
    let job = &lead["integrations"][0];
    assert!(job["next_attempt_at"].is_null(), "nothing is due: {job:#}");
    let history = job["history"].as_array().unwrap();
    let outcomes: Vec<_> = history.iter().map(|a| a["outcome"].clone()).collect();
    assert_eq!(
        outcomes,
        [json!("retrying"), json!("retrying"), json!("succeeded")]
    );
    let numbers: Vec<_> = history.iter().map(|a| a["number"].clone()).collect();
    assert_eq!(numbers, [json!(1), json!(2), json!(3)]);
    for refused in &history[..2] {
        assert_eq!(refused["http_status"], 503, "{refused:#}");
        let error = refused["error"].as_str().unwrap();
        assert!(error.contains("HTTP 503"), "{error}");
        assert!(error.chars().count() <= 120, "{error}");
        assert!(refused["latency_ms"].as_u64().is_some(), "{refused:#}");
    }
    assert!(history[2]["http_status"].is_null() && history[2]["error"].is_null());
    // The third call came after the 3 s step, not before.
    let calls = hook.received_requests().await.unwrap();
    assert_eq!(calls.len(), 3);
    assert!(seconds(&history[2]["at"]) - seconds(&history[1]["at"]) >= 3.0);
    stack.stop().await;
}

crate::both!(a_longer_retry_after_is_honoured_and_a_permanent_refusal_fails_at_once);
async fn a_longer_retry_after_is_honoured_and_a_permanent_refusal_fails_at_once(kind: Kind) {
    let stack = Stack::start(kind, &[("RETRY_SCHEDULE", "0s")], &[]).await;
    let hook = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/busy"))
        .respond_with(ResponseTemplate::new(429).insert_header("Retry-After", "2"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&hook)
        .await;
    Mock::given(method("POST"))
        .and(path("/busy"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&hook)
        .await;
    Mock::given(method("POST"))
        .and(path("/gone"))
        .respond_with(ResponseTemplate::new(410))
        .mount(&hook)
        .await;
    let busy = unique("busy-");
    let gone = unique("gone-");
    for (id, p) in [(&busy, "/busy"), (&gone, "/gone")] {
        let (status, b) = stack
            .submit(&webhook_lead(id, &format!("{}{p}", hook.uri())), None)
            .await;
        assert_eq!(status, 202, "{b}");
    }
    let lead = stack.settled(&busy, Duration::from_secs(30)).await;
    assert_eq!(lead["status"], "completed", "{lead:#}");
    let history = lead["integrations"][0]["history"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(history.len(), 2, "{lead:#}");
    assert_eq!(history[0]["http_status"], 429);
    assert!(
        seconds(&history[1]["at"]) - seconds(&history[0]["at"]) >= 2.0,
        "the service's 2 s, not the schedule's 0 s: {lead:#}"
    );

    // A 410 from a webhook: no retry although the schedule has steps left.
    let lead = stack.settled(&gone, Duration::from_secs(30)).await;
    assert_eq!(lead["status"], "failed", "{lead:#}");
    let job = &lead["integrations"][0];
    assert_eq!(job["attempts"], 1, "{job:#}");
    assert_eq!(job["history"][0]["outcome"], "failed");
    assert_eq!(job["history"][0]["http_status"], 410);
    stack.stop().await;
}

#[test]
fn a_request_without_tries_gets_the_whole_schedule() {
    let env =
        std::collections::HashMap::from([("RETRY_SCHEDULE".to_string(), "1s,1m,1h".to_string())]);
    let mut r = zayavka::config::EnvReader::new(&env);
    let defaults = zayavka::leads::request::Defaults::read(&mut r);
    assert_eq!(defaults.tries, 4, "one attempt and one per step");
    let empty = std::collections::HashMap::<String, String>::new();
    let mut r = zayavka::config::EnvReader::new(&empty);
    assert_eq!(zayavka::leads::request::Defaults::read(&mut r).tries, 8);
}
