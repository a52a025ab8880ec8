//! The lead API refuses bad input with a clear error, and a refused request stores and
//! queues nothing.

use std::sync::Arc;

use crate::apigw::{HttpInput, api_gateway_event};
use serde_json::{Value, json};
use zayavka::Deps;
use zayavka::http::{HttpFunction, dispatch};
use zayavka::ports::{Query, Queue as _, SystemClock};

use crate::support::{EmbeddedStore, TEST_API_KEY, embedded, test_env};

struct Api {
    store: EmbeddedStore,
    f: Arc<dyn HttpFunction>,
}

fn api(extra: &[(&str, &str)]) -> Api {
    let store = embedded(zayavka::queues::catalogue());
    let deps = Deps::embedded(&store.parts, Arc::new(SystemClock));
    let cfg = lead_submit::Config::read(&test_env(extra)).unwrap();
    Api {
        f: Arc::new(lead_submit::LeadSubmit::new(deps, cfg)),
        store,
    }
}

impl Api {
    async fn call(
        &self,
        route: &str,
        path: &str,
        body: &[u8],
        headers: &[(&str, &str)],
    ) -> (u16, Value) {
        let mut params = std::collections::BTreeMap::new();
        if let Some(id) = path.strip_prefix("/api/leads/") {
            params.insert("lead_id".to_string(), id.to_string());
        }
        let event = api_gateway_event(HttpInput {
            method: route.split(' ').next().unwrap(),
            route_key: route,
            path,
            raw_query: "",
            query: Vec::new(),
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            path_params: params,
            body,
            source_ip: "203.0.113.9",
            now_ms: 0,
        })
        .unwrap();
        let r = dispatch(self.f.as_ref(), crate::apigw::lambda_request(event)).await;
        (
            r.status_code,
            serde_json::from_str(&r.body).unwrap_or(Value::Null),
        )
    }

    async fn submit(&self, body: &Value) -> (u16, Value) {
        let auth = format!("Bearer {TEST_API_KEY}");
        self.call(
            lead_submit::SUBMIT,
            "/api/integrations/send-batch",
            &serde_json::to_vec(body).unwrap(),
            &[("authorization", &auth)],
        )
        .await
    }

    /// Nothing in the table, nothing in any queue.
    async fn nothing_stored(&self) {
        assert_eq!(
            self.store.parts.table.count().await.unwrap(),
            0,
            "items were stored"
        );
        for spec in zayavka::queues::catalogue() {
            let s = zayavka::ports::Queue::stats(&self.store.parts.queue, &spec.name)
                .await
                .unwrap();
            assert_eq!(
                s.visible + s.delayed + s.in_flight,
                0,
                "{} has messages",
                spec.name
            );
        }
    }
}

fn good() -> Value {
    json!({
        "lead_id": "L-1",
        "lead": {"name": "Глеб", "phone": "+79990001122"},
        "integrations": [{"type": "webhook", "settings": {"url": "https://hooks.example.com/lead"}}]
    })
}

#[tokio::test]
async fn a_missing_or_wrong_key_is_401_and_stores_nothing() {
    let a = api(&[]);
    let body = serde_json::to_vec(&good()).unwrap();
    let (s, v) = a
        .call(
            lead_submit::SUBMIT,
            "/api/integrations/send-batch",
            &body,
            &[],
        )
        .await;
    assert_eq!(s, 401);
    assert_eq!(v["error"]["code"], "unauthorized");
    let (s, _) = a
        .call(
            lead_submit::SUBMIT,
            "/api/integrations/send-batch",
            &body,
            &[("authorization", "Bearer wrong-key-0123456789")],
        )
        .await;
    assert_eq!(s, 401);
    let (s, _) = a
        .call(lead_submit::STATUS, "/api/leads/L-1", b"", &[])
        .await;
    assert_eq!(s, 401);
    a.nothing_stored().await;
}

#[tokio::test]
async fn malformed_and_oversized_bodies_are_400_and_413() {
    let a = api(&[]);
    let auth = format!("Bearer {TEST_API_KEY}");
    let (s, v) = a
        .call(
            lead_submit::SUBMIT,
            "/api/integrations/send-batch",
            b"{\"lead\": ",
            &[("authorization", &auth)],
        )
        .await;
    assert_eq!(s, 400, "{v}");
    assert_eq!(v["error"]["code"], "malformed");
    let huge = vec![b' '; 257 * 1024];
    let (s, v) = a
        .call(
            lead_submit::SUBMIT,
            "/api/integrations/send-batch",
            &huge,
            &[("authorization", &auth)],
        )
        .await;
    assert_eq!(s, 413, "{v}");
    a.nothing_stored().await;
}

#[tokio::test]
async fn every_invalid_field_is_named_in_a_422() {
    let a = api(&[]);
    let cases: Vec<(Value, &str)> = vec![
        (
            json!({"lead": {"name": "x"}, "integrations": []}),
            "integrations",
        ),
        (
            json!({"lead": {"name": "x"}, "integrations": [{"type": "fax"}]}),
            "integrations[0].type",
        ),
        (
            json!({"lead": {"name": "x"}, "integrations": [{"type": "webhook", "settings": {"url": "https://a.example"}}, {"type": "webhook", "settings": {"url": "https://b.example"}}]}),
            "integrations[1].type",
        ),
        (
            json!({"lead": {"name": "x"}, "integrations": [{"type": "telegram", "settings": {"chat_id": "1"}}]}),
            "credentials.telegram.bot_token",
        ),
        (
            json!({"lead": {"name": "x"}, "integrations": [{"type": "amocrm"}]}),
            "credentials.amocrm.subdomain",
        ),
        (
            json!({"lead": {"name": "x"}, "integrations": [{"type": "amocrm"}], "credentials": {"amocrm": {"subdomain": "acme"}}}),
            "credentials.amocrm.access_token",
        ),
        (
            json!({"lead": {"name": "x"}, "integrations": [{"type": "bitrix24"}]}),
            "credentials.bitrix24.webhook_url",
        ),
        (
            json!({"lead": {"name": "x"}, "integrations": [{"type": "email"}], "credentials": {"email": {"emails": ["not-an-address"]}}}),
            "credentials.email.emails[0]",
        ),
        (
            json!({"lead": {"name": "x"}, "integrations": [{"type": "email"}]}),
            "credentials.email.emails",
        ),
        (
            json!({"lead": {"name": "x"}, "integrations": [{"type": "webhook", "settings": {"url": "ftp://files.example"}}]}),
            "integrations[0].settings.url",
        ),
        (
            json!({"lead": {"name": "x"}, "integrations": [{"type": "webhook", "settings": {"url": "http://hooks.example.com"}}]}),
            "integrations[0].settings.url",
        ),
        (
            json!({"lead": {"name": "x"}, "integrations": [{"type": "webhook"}]}),
            "integrations[0].settings.url",
        ),
        (
            json!({"lead": {"name": "x", "email": "nope"}, "integrations": [{"type": "webhook", "settings": {"url": "https://a.example"}}]}),
            "lead.email",
        ),
        (
            json!({"lead": {"phone": "call me"}, "integrations": [{"type": "webhook", "settings": {"url": "https://a.example"}}]}),
            "lead.phone",
        ),
        (
            json!({"lead": {}, "integrations": [{"type": "webhook", "settings": {"url": "https://a.example"}}]}),
            "lead",
        ),
        (
            json!({"lead": {"name": "x", "nickname": "y"}, "integrations": [{"type": "webhook", "settings": {"url": "https://a.example"}}]}),
            "lead",
        ),
        (
            json!({"lead": {"name": "x"}, "integrations": [{"type": "webhook", "settings": {"url": "https://a.example"}, "tries": 0}]}),
            "integrations[0].tries",
        ),
        (
            json!({"lead_id": "has space", "lead": {"name": "x"}, "integrations": [{"type": "webhook", "settings": {"url": "https://a.example"}}]}),
            "lead_id",
        ),
        (
            json!({"lead": {"name": "x"}, "integrations": [{"type": "webhook", "settings": {"url": "https://a.example"}}], "credentials": {"fax": {}}}),
            "credentials.fax",
        ),
        (
            json!({"lead": {"name": "x"}, "integrations": [{"type": "email", "settings": {"template": "nope"}}], "credentials": {"email": {"emails": ["a@example.com"]}}}),
            "integrations[0].settings.template",
        ),
        (json!(["not", "an", "object"]), "body"),
    ];
    for (body, field) in cases {
        let (s, v) = a.submit(&body).await;
        assert_eq!(s, 422, "{body} -> {v}");
        assert_eq!(v["error"]["code"], "invalid");
        let message = v["error"]["message"].as_str().unwrap();
        assert!(
            message.starts_with(&format!("{field}:")),
            "{body}: expected {field}, got {message}"
        );
    }
    a.nothing_stored().await;
}

#[tokio::test]
async fn defaults_from_the_environment_stand_in_for_missing_credentials() {
    let a = api(&[
        ("TELEGRAM_BOT_TOKEN", "1:ABCDEFGHIJKLMNOPQRSTUVWXYZ"),
        ("TELEGRAM_CHAT_ID", "-100500"),
        ("LEAD_EMAILS", "ops@example.com"),
    ]);
    let (s, v) = a
        .submit(&json!({"lead": {"name": "x"}, "integrations": [{"type": "telegram"}, {"type": "email"}]}))
        .await;
    assert_eq!(s, 202, "{v}");
    assert_eq!(v["jobs"].as_array().unwrap().len(), 2);
    // The defaults fill the jobs in, but the default token is copied neither into the
    // table nor into the queued jobs (the worker adds its own); no target enters the table.
    let lead_id = v["lead_id"].as_str().unwrap();
    let items = zayavka::ports::Table::query_all(
        &a.store.parts.table,
        Query::pk(format!("lead#{lead_id}")),
    )
    .await
    .unwrap();
    let stored = format!("{items:?}");
    assert!(!stored.contains("ABCDEFGHIJKLMNOPQRSTUVWXYZ"), "{stored}");
    assert!(!stored.contains("-100500"), "{stored}");
    let mut queued = String::new();
    for q in [
        zayavka::queues::INTEGRATION_TELEGRAM,
        zayavka::queues::INTEGRATION_EMAIL,
    ] {
        let got = a
            .store
            .parts
            .queue
            .receive(q, 10, std::time::Duration::ZERO)
            .await
            .unwrap();
        assert_eq!(got.len(), 1, "{q}");
        queued.push_str(&got[0].body);
    }
    assert!(!queued.contains("ABCDEFGHIJKLMNOPQRSTUVWXYZ"), "{queued}");
    assert!(
        queued.contains("-100500") && queued.contains("ops@example.com"),
        "{queued}"
    );
}

#[tokio::test]
async fn an_unknown_lead_is_404() {
    let a = api(&[]);
    let auth = format!("Bearer {TEST_API_KEY}");
    let (s, v) = a
        .call(
            lead_submit::STATUS,
            "/api/leads/nope",
            b"",
            &[("authorization", &auth)],
        )
        .await;
    assert_eq!(s, 404);
    assert_eq!(v["error"]["code"], "not_found");
}

#[test]
fn the_function_will_not_start_without_api_keys() {
    let env =
        std::collections::HashMap::from([("ZAYAVKA_API_KEYS".to_string(), "short".to_string())]);
    let err = lead_submit::Config::read(&env).unwrap_err().to_string();
    assert!(err.contains("at least 16 characters"), "{err}");
    let empty = std::collections::HashMap::new();
    let err = lead_submit::Config::read(&empty).unwrap_err().to_string();
    assert!(err.contains("ZAYAVKA_API_KEYS is not set"), "{err}");
}

/// A queue whose integration queues are down (the notifications queue still works).
struct IntegrationQueuesDown(Arc<dyn zayavka::ports::Queue>);

#[async_trait::async_trait]
impl zayavka::ports::Queue for IntegrationQueuesDown {
    async fn send(
        &self,
        q: &str,
        m: zayavka::ports::OutMessage,
    ) -> Result<String, zayavka::ports::QueueError> {
        if q.starts_with("integration-") {
            return Err(zayavka::ports::QueueError::Unavailable(
                "simulated outage".into(),
            ));
        }
        self.0.send(q, m).await
    }
    async fn send_batch(
        &self,
        q: &str,
        m: Vec<zayavka::ports::OutMessage>,
    ) -> Result<Vec<String>, zayavka::ports::QueueError> {
        if q.starts_with("integration-") {
            return Err(zayavka::ports::QueueError::Unavailable(
                "simulated outage".into(),
            ));
        }
        self.0.send_batch(q, m).await
    }
    async fn receive(
        &self,
        q: &str,
        max: u32,
        wait: std::time::Duration,
    ) -> Result<Vec<zayavka::ports::Received>, zayavka::ports::QueueError> {
        self.0.receive(q, max, wait).await
    }
    async fn delete(&self, q: &str, r: &str) -> Result<(), zayavka::ports::QueueError> {
        self.0.delete(q, r).await
    }
    async fn change_visibility(
        &self,
        q: &str,
        r: &str,
        s: u32,
    ) -> Result<(), zayavka::ports::QueueError> {
        self.0.change_visibility(q, r, s).await
    }
    async fn stats(
        &self,
        q: &str,
    ) -> Result<zayavka::ports::QueueStats, zayavka::ports::QueueError> {
        self.0.stats(q).await
    }
}

#[tokio::test]
async fn a_lead_whose_queues_are_down_is_reported_not_stored_and_its_retry_goes_through() {
    let store = embedded(zayavka::queues::catalogue());
    let healthy = Deps::embedded(&store.parts, Arc::new(SystemClock));
    let broken = Deps {
        queue: Arc::new(IntegrationQueuesDown(healthy.queue.clone())),
        ..healthy.clone()
    };
    let cfg = || lead_submit::Config::read(&test_env(&[])).unwrap();
    let a = Api {
        f: Arc::new(lead_submit::LeadSubmit::new(broken, cfg())),
        store,
    };
    let (s, v) = a.submit(&good()).await;
    assert_eq!(
        s, 503,
        "the jobs are not queued, so the caller must try again: {v}"
    );
    assert!(v.to_string().contains("send the same request again"), "{v}");
    // Not stored: a lead is stored only once its jobs are queued.
    assert!(
        zayavka::leads::submit::lead_status(&healthy, "L-1")
            .await
            .unwrap()
            .is_none()
    );

    // The admins hear of it at once (the "catch" case, whatever NOTIFY_ON says).
    let note = a
        .store
        .parts
        .queue
        .receive("notifications", 10, std::time::Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(note.len(), 1);
    let body: Value = serde_json::from_str(&note[0].body).unwrap();
    assert_eq!(body["kind"], "dispatch_failed");
    assert_eq!(body["lead_id"], "L-1");
    assert!(body["error"].as_str().unwrap().contains("simulated outage"));

    // The caller's retry, once the queues are back: stored, its job queued.
    let a = Api {
        f: Arc::new(lead_submit::LeadSubmit::new(healthy.clone(), cfg())),
        store: a.store,
    };
    let (s, v) = a.submit(&good()).await;
    assert_eq!(s, 202, "{v}");
    assert_eq!(v["batch_id"], zayavka::leads::submit::batch_id_for("L-1"));
    let queued = a
        .store
        .parts
        .queue
        .receive(
            zayavka::queues::INTEGRATION_WEBHOOK,
            10,
            std::time::Duration::ZERO,
        )
        .await
        .unwrap();
    assert_eq!(queued.len(), 1);
    let job: Value = serde_json::from_str(&queued[0].body).unwrap();
    assert_eq!(job["lead_id"], "L-1");
    assert_eq!(job["batch_id"], v["batch_id"]);
    assert_eq!(job["target"]["url"], "https://hooks.example.com/lead");
    // The same request again while it is open: the stored batch (200); its job queued again
    // is a copy within five minutes, which the FIFO queue drops.
    let (s, again) = a.submit(&good()).await;
    assert_eq!((s, &again["batch_id"]), (200, &v["batch_id"]));
    let s =
        zayavka::ports::Queue::stats(&a.store.parts.queue, zayavka::queues::INTEGRATION_WEBHOOK)
            .await
            .unwrap();
    assert_eq!(s.visible + s.delayed, 0, "{s:?}");
}

#[tokio::test]
async fn targets_at_internal_addresses_or_over_plain_http_are_refused() {
    // No exemption: what every deployment starts with (blank is unset).
    let a = api(&[("OUTBOUND_ALLOW_HOSTS", "")]);
    let webhook = |url: &str| json!({"lead": {"name": "x"}, "integrations": [{"type": "webhook", "settings": {"url": url}}]});
    let bitrix = |url: &str| json!({"lead": {"name": "x"}, "integrations": [{"type": "bitrix24"}], "credentials": {"bitrix24": {"webhook_url": url}}});
    let cases = [
        (
            webhook("https://169.254.169.254/latest/meta-data/"),
            "integrations[0].settings.url",
            "internal address",
        ),
        (
            webhook("https://10.0.0.5/hook"),
            "integrations[0].settings.url",
            "internal address",
        ),
        (
            webhook("https://[::1]/hook"),
            "integrations[0].settings.url",
            "internal address",
        ),
        (
            webhook("https://[fd00::7]/hook"),
            "integrations[0].settings.url",
            "internal address",
        ),
        (
            webhook("https://[::ffff:127.0.0.1]/hook"),
            "integrations[0].settings.url",
            "internal address",
        ),
        (
            webhook("https://100.64.1.1/hook"),
            "integrations[0].settings.url",
            "internal address",
        ),
        (
            webhook("https://2130706433/hook"),
            "integrations[0].settings.url",
            "internal address",
        ),
        (
            webhook("https://localhost/hook"),
            "integrations[0].settings.url",
            "internal addresses",
        ),
        (
            webhook("http://127.0.0.1:9001/2018-06-01/runtime/invocation/next"),
            "integrations[0].settings.url",
            "https",
        ),
        (
            webhook("http://localhost:8080/hook"),
            "integrations[0].settings.url",
            "https",
        ),
        (
            webhook("https://user:pw@hooks.example.com/"),
            "integrations[0].settings.url",
            "password",
        ),
        (
            bitrix("https://10.0.0.5/admin?x=/rest/"),
            "credentials.bitrix24.webhook_url",
            "internal address",
        ),
        (
            bitrix("https://portal.bitrix24.ru/admin?x=/rest/"),
            "credentials.bitrix24.webhook_url",
            "/rest/",
        ),
        (
            bitrix("http://portal.bitrix24.ru/rest/1/abc/"),
            "credentials.bitrix24.webhook_url",
            "https",
        ),
    ];
    for (body, field, why) in cases {
        let (s, v) = a.submit(&body).await;
        assert_eq!(s, 422, "{body} -> {v}");
        let message = v["error"]["message"].as_str().unwrap();
        assert!(
            message.starts_with(&format!("{field}:")) && message.contains(why),
            "{body}: expected {field} ({why}), got {message}"
        );
    }
    a.nothing_stored().await;
    // A public name and a public literal pass (the worker checks each address it connects to).
    for url in ["https://hooks.example.com/lead", "https://8.8.8.8/hook"] {
        let (s, v) = a.submit(&webhook(url)).await;
        assert_eq!(s, 202, "{url} -> {v}");
    }
}

#[tokio::test]
async fn another_amocrm_account_never_gets_the_deployments_token() {
    let a = api(&[
        ("AMOCRM_SUBDOMAIN", "acme"),
        ("AMOCRM_ACCESS_TOKEN", "deployment-token"),
    ]);
    let amo = |creds: Value| json!({"lead": {"name": "x"}, "integrations": [{"type": "amocrm"}], "credentials": {"amocrm": creds}});
    let (s, v) = a.submit(&amo(json!({"subdomain": "attacker"}))).await;
    assert_eq!(s, 422, "{v}");
    assert!(
        v["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("credentials.amocrm.access_token: is required with a subdomain other"),
        "{v}"
    );
    a.nothing_stored().await;
    // The deployment's own subdomain, named or not, uses the deployment's token.
    for creds in [json!({"subdomain": "acme"}), json!({})] {
        let (s, v) = a.submit(&amo(creds)).await;
        assert_eq!(s, 202, "{v}");
    }
    // Another account with its own token is fine.
    let (s, v) = a
        .submit(&amo(
            json!({"subdomain": "other", "access_token": "their-token"}),
        ))
        .await;
    assert_eq!(s, 202, "{v}");
}

#[tokio::test]
async fn a_backlog_of_dead_letters_is_drained_a_page_per_run() {
    let a = api(&[]);
    for i in 0..5 {
        let body = json!({"lead_id": format!("L-{i}"), "lead": {"name": "x"},
            "integrations": [{"type": "webhook", "settings": {"url": "https://hooks.example.com/lead"}}]});
        assert_eq!(a.submit(&body).await.0, 202);
    }
    // Every job's message reached the dead-letter queue (moved there by hand).
    let q = &a.store.parts.queue;
    let dlq = zayavka::queues::dead_letter_name(zayavka::queues::INTEGRATION_WEBHOOK);
    for m in q
        .receive(
            zayavka::queues::INTEGRATION_WEBHOOK,
            10,
            std::time::Duration::ZERO,
        )
        .await
        .unwrap()
    {
        q.send(
            &dlq,
            // Each keeps its own group (its batch), as a message moved there does.
            zayavka::ports::OutMessage::new(m.body).in_group(&m.message_id, &m.message_id),
        )
        .await
        .unwrap();
    }
    let deps = Deps::embedded(&a.store.parts, Arc::new(SystemClock));
    let cfg = zayavka::leads::sweep::SweepConfig {
        per_queue_per_run: 2,
    };
    let mut seen = Vec::new();
    for _ in 0..4 {
        let report = zayavka::leads::sweep::sweep(&deps, cfg).await.unwrap();
        seen.push(report.dead_jobs);
    }
    assert_eq!(seen, [2, 2, 1, 0], "two a run, until none is left");
    // Each failure was recorded, and each batch, complete now, asked to be settled.
    for i in 0..5 {
        let lead = zayavka::leads::submit::lead_status(&deps, &format!("L-{i}"))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(lead["integrations"][0]["status"], "failed", "{lead}");
    }
    let asked = q
        .stats(zayavka::queues::BATCH_RESULTS)
        .await
        .unwrap()
        .visible;
    assert_eq!(asked, 5);
}

#[tokio::test]
async fn a_batch_whose_lead_is_not_written_yet_is_settled_once_it_is() {
    use zayavka::sqs_batch::QueueWorker;
    let a = api(&[]);
    let deps = Deps::embedded(&a.store.parts, Arc::new(SystemClock));
    let q = &a.store.parts.queue;
    let batch_id = zayavka::leads::submit::batch_id_for("L-9");
    // Its jobs went out first and all reported before the request wrote the lead.
    let settle =
        json!({"lead_id": "L-9", "batch_id": batch_id, "succeeded": ["webhook"], "failed": []});
    q.send(
        zayavka::queues::BATCH_RESULTS,
        zayavka::ports::OutMessage::new(settle.to_string()),
    )
    .await
    .unwrap();
    let tracker = batch_tracker::BatchTracker::new(deps.clone(), "zayavka-".into());
    let handle = |wait: std::time::Duration| {
        let tracker = &tracker;
        async move {
            let got = q
                .receive(zayavka::queues::BATCH_RESULTS, 10, wait)
                .await
                .unwrap();
            assert_eq!(got.len(), 1, "the batch to settle is there");
            let event = zayavka_cli::events::sqs_event("zayavka-batch-results", &got).unwrap();
            tracker.handle(event).await
        }
    };
    let first = handle(std::time::Duration::ZERO).await;
    assert_eq!(first.batch_item_failures.len(), 1, "no lead yet: kept");
    // The lead is written a moment later; the batch comes back in two seconds, not after the
    // queue's three-minute visibility timeout.
    let body = json!({"lead_id": "L-9", "lead": {"name": "x"},
        "integrations": [{"type": "webhook", "settings": {"url": "https://hooks.example.com/lead"}}]});
    assert_eq!(a.submit(&body).await.0, 202);
    let second = handle(std::time::Duration::from_secs(4)).await;
    assert!(second.batch_item_failures.is_empty());
    let lead = zayavka::leads::submit::lead_status(&deps, "L-9")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(lead["status"], "completed", "{lead}");
}

/// The same in Lambda, where the tracker is invoked with the batch: the invocation fails
/// (so Lambda runs it again a minute later), and a later run settles it; one that still
/// finds no lead after Lambda's retries reaches the dead-letter queue, which the sweeper
/// drops.
#[tokio::test]
async fn an_invoked_tracker_fails_until_the_lead_is_written() {
    use zayavka::lambda::{EventFunction, invoke_once};
    let a = api(&[]);
    let deps = Deps::embedded(&a.store.parts, Arc::new(SystemClock));
    let batch_id = zayavka::leads::submit::batch_id_for("L-10");
    let event =
        json!({"lead_id": "L-10", "batch_id": batch_id, "succeeded": ["webhook"], "failed": []});
    let tracker = batch_tracker::BatchTracker::new(deps.clone(), "zayavka-".into());
    // It looks twice, two seconds apart, before it gives up (and Lambda runs it again).
    let started = std::time::Instant::now();
    let err = invoke_once(&tracker, event.clone()).await.unwrap_err();
    assert!(err.to_string().contains("L-10"), "{err}");
    assert!(started.elapsed() >= zayavka::leads::batch::LOOK_AGAIN);
    let body = json!({"lead_id": "L-10", "lead": {"name": "x"},
        "integrations": [{"type": "webhook", "settings": {"url": "https://hooks.example.com/lead"}}]});
    assert_eq!(a.submit(&body).await.0, 202);
    invoke_once(&tracker, event.clone()).await.unwrap();
    let lead = zayavka::leads::submit::lead_status(&deps, "L-10")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(lead["status"], "completed", "{lead}");
    // Lambda may deliver an event twice: the second run changes nothing.
    let updated = lead["updated_at"].clone();
    tracker
        .handle_event(serde_json::from_value(event).unwrap())
        .await
        .unwrap();
    let again = zayavka::leads::submit::lead_status(&deps, "L-10")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(again["status"], "completed");
    assert_eq!(again["updated_at"], updated);
    // An event that is no batch is dropped, not retried into the dead-letter queue.
    invoke_once(&tracker, json!({"hello": "world"}))
        .await
        .unwrap();

    // While an older stack is updated, its batch-results event source still hands the new
    // tracker SQS events: they are settled too, not dropped.
    let body = json!({"lead_id": "L-11", "lead": {"name": "x"},
        "integrations": [{"type": "webhook", "settings": {"url": "https://hooks.example.com/lead"}}]});
    assert_eq!(a.submit(&body).await.0, 202);
    let settle = json!({"lead_id": "L-11", "batch_id": zayavka::leads::submit::batch_id_for("L-11"),
        "succeeded": [], "failed": ["webhook"]});
    let sqs = json!({"Records": [{
        "messageId": "m-1", "receiptHandle": "r-1", "body": settle.to_string(),
        "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1795256100000"},
        "messageAttributes": {}, "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:eu-central-1:123456789012:zayavka-batch-results",
        "awsRegion": "eu-central-1"
    }]});
    invoke_once(&tracker, sqs).await.unwrap();
    let lead = zayavka::leads::submit::lead_status(&deps, "L-11")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(lead["status"], "failed", "{lead}");
}
