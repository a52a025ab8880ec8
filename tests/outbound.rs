//! Calls to URLs a lead's request chose: the worker checks again before it connects (an
//! exemption removed after the lead was taken no longer lets it through), and what a
//! service answers is never echoed whole into the stored and returned error.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};
use zayavka::Deps;
use zayavka::http::{HttpFunction, dispatch};
use zayavka::ports::{Queue, SystemClock};
use zayavka::sqs_batch::QueueWorker;

use crate::apigw::{HttpInput, api_gateway_event};
use crate::support::{EmbeddedStore, TEST_API_KEY, embedded, test_env, unique};

struct Rig {
    store: EmbeddedStore,
    deps: Deps,
}

impl Rig {
    fn new() -> Self {
        let store = embedded(zayavka::queues::catalogue());
        let deps = Deps::embedded(&store.parts, Arc::new(SystemClock));
        Self { store, deps }
    }

    /// Submits through lead-submit configured with `env`.
    async fn submit(&self, env: &[(&str, &str)], body: &Value) -> (u16, Value) {
        let cfg = lead_submit::Config::read(&test_env(env)).unwrap();
        let f = lead_submit::LeadSubmit::new(self.deps.clone(), cfg);
        let auth = format!("Bearer {TEST_API_KEY}");
        let bytes = serde_json::to_vec(body).unwrap();
        let event = api_gateway_event(HttpInput {
            method: "POST",
            route_key: lead_submit::SUBMIT,
            path: "/api/integrations/send-batch",
            raw_query: "",
            query: Vec::new(),
            headers: vec![("authorization".into(), auth)],
            path_params: Default::default(),
            body: &bytes,
            source_ip: "203.0.113.9",
            now_ms: 0,
        })
        .unwrap();
        let r = dispatch(&f as &dyn HttpFunction, crate::apigw::lambda_request(event)).await;
        (r.status_code, serde_json::from_str(&r.body).unwrap())
    }

    /// Runs the integration worker configured with `env` over every job queued now.
    async fn work(&self, env: &[(&str, &str)]) {
        let env = test_env(env);
        let cfg = integration_worker::config(&env, String::new()).unwrap();
        let worker = integration_worker::IntegrationWorker::new(self.deps.clone(), cfg).unwrap();
        for queue in zayavka::queues::INTEGRATIONS {
            let got = self
                .store
                .parts
                .queue
                .receive(queue, 10, Duration::ZERO)
                .await
                .unwrap();
            if got.is_empty() {
                continue;
            }
            let event = zayavka_cli::events::sqs_event(queue, &got).unwrap();
            worker.handle(event).await;
        }
    }

    async fn job(&self, lead_id: &str, integration: &str) -> Value {
        let lead = zayavka::leads::submit::lead_status(&self.deps, lead_id)
            .await
            .unwrap()
            .unwrap();
        lead["integrations"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| i["integration"] == integration)
            .cloned()
            .unwrap_or_else(|| panic!("no {integration} in {lead:#}"))
    }
}

#[tokio::test]
async fn an_exemption_removed_after_the_lead_was_taken_stops_the_call() {
    let rig = Rig::new();
    let sink = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"result": 1})))
        .mount(&sink)
        .await;
    let lead_id = unique("ssrf-");
    let body = json!({
        "lead_id": lead_id,
        "lead": {"name": "Анна"},
        "integrations": [
            {"type": "webhook", "settings": {"url": format!("{}/hook", sink.uri())}},
            {"type": "bitrix24"}
        ],
        "credentials": {"bitrix24": {"webhook_url": format!("{}/rest/1/abc/", sink.uri())}}
    });
    // Taken while 127.0.0.1 is exempt...
    let (status, answer) = rig
        .submit(&[("OUTBOUND_ALLOW_HOSTS", "127.0.0.1")], &body)
        .await;
    assert_eq!(status, 202, "{answer}");
    // ...and worked after the operator removed the exemption (blank is unset).
    rig.work(&[("OUTBOUND_ALLOW_HOSTS", "")]).await;
    for integration in ["webhook", "bitrix24"] {
        let job = rig.job(&lead_id, integration).await;
        assert_eq!(job["status"], "failed", "{job}");
        assert_eq!(job["attempts"], 1, "refused for good at once: {job}");
        let error = job["last_error"].as_str().unwrap();
        assert!(error.contains("refused: must use https"), "{error}");
    }
    assert!(
        sink.received_requests().await.unwrap().is_empty(),
        "no request may reach the internal address"
    );
}

#[tokio::test]
async fn what_a_service_answers_is_never_echoed_whole() {
    let rig = Rig::new();
    let bitrix = MockServer::start().await;
    // A 2xx answer that is not Bitrix24's: its content must not come back to the caller.
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(
                json!({"instance": "INTERNAL-2XX-CONTENT", "error": "not a code <b>"}),
            ),
        )
        .mount(&bitrix)
        .await;
    let hook = MockServer::start().await;
    let long = format!("{}TAIL-OF-A-LONG-ANSWER", "x".repeat(5000));
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(400).set_body_string(long))
        .mount(&hook)
        .await;
    let lead_id = unique("echo-");
    let body = json!({
        "lead_id": lead_id,
        "lead": {"name": "Анна"},
        "integrations": [
            {"type": "webhook", "settings": {"url": format!("{}/hook", hook.uri())}},
            {"type": "bitrix24"}
        ],
        "credentials": {"bitrix24": {"webhook_url": format!("{}/rest/1/abc/", bitrix.uri())}}
    });
    let (status, answer) = rig.submit(&[], &body).await;
    assert_eq!(status, 202, "{answer}");
    rig.work(&[]).await;
    let bx = rig.job(&lead_id, "bitrix24").await;
    let error = bx["last_error"].as_str().unwrap();
    assert_eq!(bx["status"], "failed", "{bx}");
    assert_eq!(error, "Bitrix24: error (in a 2xx answer)");
    let wh = rig.job(&lead_id, "webhook").await;
    let error = wh["last_error"].as_str().unwrap();
    assert_eq!(wh["status"], "failed", "{wh}");
    assert!(error.starts_with("webhook: HTTP 400: xxx"), "{error}");
    assert!(
        error.chars().count() <= 300,
        "{} chars",
        error.chars().count()
    );
    assert!(!error.contains("TAIL-OF-A-LONG-ANSWER"));
}
