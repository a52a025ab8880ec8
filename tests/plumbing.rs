//! The plumbing between Lambda events and handlers, and serve's event source.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::apigw::{HttpInput, api_gateway_event, lambda_request};
use async_trait::async_trait;
use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use zayavka::Deps;
use zayavka::http::{ApiError, ApiRequest, ApiResponse, HttpFunction, dispatch};
use zayavka::ports::{OutMessage, Received};
use zayavka::queues::QueueSpec;
use zayavka::sqs_batch::{QueueMessage, QueueWorker, run_batch};
use zayavka_cli::events::sqs_event;
use zayavka_cli::serve::{self, Registry, ServeOptions};

struct Echo;

#[async_trait]
impl HttpFunction for Echo {
    fn name(&self) -> &'static str {
        "echo"
    }
    fn routes(&self) -> Vec<&'static str> {
        vec!["POST /echo/{id}"]
    }
    fn backend(&self) -> zayavka::deps::Backend {
        zayavka::deps::Backend::Embedded
    }
    async fn handle(&self, req: ApiRequest) -> Result<ApiResponse, ApiError> {
        if req.header("x-fail").is_some() {
            return Err(ApiError::invalid("body.name", "must not be empty"));
        }
        let body: serde_json::Value = req.json(64)?;
        let mut response = ApiResponse::json(
            201,
            &serde_json::json!({
                "route": req.route_key,
                "id": req.path_param("id")?,
                "q": req.query.get("tag"),
                "ip": req.source_ip,
                "ua": req.header("user-agent"),
                "body": body,
            }),
        )
        .header("X-Echo", "r1");
        response.cookies.push("seen=1; Path=/".into());
        Ok(response)
    }
}

fn input<'a>(body: &'a [u8], headers: Vec<(String, String)>) -> HttpInput<'a> {
    HttpInput {
        method: "POST",
        route_key: "POST /echo/{id}",
        path: "/echo/42",
        raw_query: "tag=a&tag=b",
        query: vec![("tag".into(), "a".into()), ("tag".into(), "b".into())],
        headers,
        path_params: BTreeMap::from([("id".to_string(), "42".to_string())]),
        body,
        source_ip: "198.51.100.4",
        now_ms: 1,
    }
}

#[tokio::test]
async fn an_http_request_reaches_the_handler_as_api_gateway_would_send_it() {
    let event = api_gateway_event(input(
        br#"{"name":"Gleb"}"#,
        vec![
            ("User-Agent".into(), "test".into()),
            ("Cookie".into(), "a=1; b=2".into()),
        ],
    ))
    .unwrap();
    assert_eq!(
        event.cookies.as_deref(),
        Some(&["a=1".to_string(), "b=2".to_string()][..])
    );
    let r = dispatch(&Echo, lambda_request(event)).await;
    assert_eq!(r.status_code, 201, "{}", r.body);
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(v["route"], "POST /echo/{id}");
    assert_eq!(v["id"], "42");
    assert_eq!(
        v["q"], "a,b",
        "repeated parameters are joined like API Gateway does"
    );
    assert_eq!(v["ip"], "198.51.100.4");
    assert_eq!(v["ua"], "test");
    assert_eq!(v["body"]["name"], "Gleb");
}

#[tokio::test]
async fn binary_bodies_travel_base64_and_bad_input_gets_json_errors() {
    let event = api_gateway_event(input(&[0xff, 0xfe, 0x00], Vec::new())).unwrap();
    assert!(event.is_base64_encoded);
    let r = dispatch(&Echo, lambda_request(event)).await;
    assert_eq!(r.status_code, 400);
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(v["error"]["code"], "malformed");

    let big = vec![b' '; 65];
    let r = dispatch(
        &Echo,
        lambda_request(api_gateway_event(input(&big, Vec::new())).unwrap()),
    )
    .await;
    assert_eq!(r.status_code, 413);

    let r = dispatch(
        &Echo,
        lambda_request(
            api_gateway_event(input(b"{}", vec![("x-fail".into(), "1".into())])).unwrap(),
        ),
    )
    .await;
    assert_eq!(r.status_code, 422);
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(
        v["error"],
        serde_json::json!({"code": "invalid", "message": "body.name: must not be empty"})
    );
}

/// The whole Lambda path: an API Gateway v2 event in, through `lambda_http` and the function,
/// and the v2 response JSON out, as the runtime would send it.
#[tokio::test]
async fn a_response_reaches_lambda_in_the_v2_shape() {
    use lambda_http::Service;
    let event = api_gateway_event(input(br#"{"name":"Gleb"}"#, Vec::new())).unwrap();
    let payload: lambda_http::request::LambdaRequest =
        serde_json::from_value(serde_json::to_value(&event).unwrap()).unwrap();
    let mut adapter =
        lambda_http::Adapter::from(zayavka::lambda::http_service(std::sync::Arc::new(Echo)));
    let response = adapter
        .call(lambda_http::LambdaEvent::new(
            payload,
            lambda_http::Context::default(),
        ))
        .await
        .unwrap();
    let v = serde_json::to_value(&response).unwrap();
    assert_eq!(v["statusCode"], 201);
    assert_eq!(v["headers"]["content-type"], "application/json");
    assert_eq!(v["headers"]["x-echo"], "r1");
    assert_eq!(v["cookies"], serde_json::json!(["seen=1; Path=/"]));
    assert_eq!(v["isBase64Encoded"], false);
    let body: serde_json::Value = serde_json::from_str(v["body"].as_str().unwrap()).unwrap();
    assert_eq!(body["id"], "42");
}

fn received(id: &str, body: &str, count: u32) -> Received {
    Received {
        message_id: id.into(),
        receipt_handle: format!("rh-{id}"),
        body: body.into(),
        attributes: BTreeMap::from([("integration".to_string(), "email".to_string())]),
        receive_count: count,
        sent_at_ms: 0,
    }
}

#[tokio::test]
async fn a_batch_reports_only_the_messages_that_failed() {
    let event: SqsEvent = sqs_event(
        "zayavka-integration-email",
        &[
            received("m1", "ok", 1),
            received("m2", "fail", 3),
            received("m3", "ok", 1),
        ],
    )
    .unwrap();
    let seen = Arc::new(Mutex::new(Vec::<QueueMessage>::new()));
    let response = run_batch(event, 4, |m| {
        let seen = seen.clone();
        async move {
            seen.lock().unwrap().push(m.clone());
            if m.body == "fail" {
                Err("boom")
            } else {
                Ok(())
            }
        }
    })
    .await;
    let failed = crate::support::failed_ids(&response);
    assert_eq!(failed, vec!["m2"]);
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 3);
    let m2 = seen.iter().find(|m| m.message_id == "m2").unwrap();
    assert_eq!(m2.receive_count, 3);
    assert_eq!(m2.receipt_handle, "rh-m2");
    assert_eq!(m2.attributes["integration"], "email");
    assert_eq!(m2.source_queue, "zayavka-integration-email");
    assert_eq!(m2.logical_queue("zayavka-"), "integration-email");
    let json = serde_json::to_value(&response).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"batchItemFailures": [{"itemIdentifier": "m2"}]})
    );
}

/// Fails every message whose body starts with "fail"; records every delivery.
struct Flaky {
    deliveries: Arc<Mutex<Vec<(String, u32)>>>,
}

#[async_trait]
impl QueueWorker for Flaky {
    fn name(&self) -> &'static str {
        "flaky"
    }
    fn queues(&self) -> Vec<String> {
        vec!["jobs".into()]
    }
    async fn handle(&self, event: SqsEvent) -> SqsBatchResponse {
        run_batch(event, 2, |m| {
            let deliveries = self.deliveries.clone();
            async move {
                deliveries
                    .lock()
                    .unwrap()
                    .push((m.body.clone(), m.receive_count));
                if m.body.starts_with("fail") {
                    Err("refused")
                } else {
                    Ok(())
                }
            }
        })
        .await
    }
}

#[tokio::test]
async fn serve_feeds_workers_with_sqs_retry_and_dead_letter_behaviour() {
    let dir = tempfile::tempdir().unwrap();
    let specs = vec![
        QueueSpec::new("jobs", 1).with_dead_letter("jobs-dlq", 3),
        QueueSpec::new("jobs-dlq", 1),
    ];
    let deliveries = Arc::new(Mutex::new(Vec::new()));
    let worker = Arc::new(Flaky {
        deliveries: deliveries.clone(),
    });
    let queue: Arc<Mutex<Option<Deps>>> = Arc::default();
    let keep = queue.clone();
    let started = serve::start(
        ServeOptions::local(dir.path().to_path_buf()),
        specs,
        move |deps, _| {
            *keep.lock().unwrap() = Some(deps.clone());
            Ok(Registry {
                http: vec![Arc::new(Echo)],
                workers: vec![worker],
                ..Registry::default()
            })
        },
    )
    .await
    .unwrap();
    let deps = queue.lock().unwrap().clone().unwrap();
    deps.queue
        .send_batch(
            "jobs",
            vec![OutMessage::new("good"), OutMessage::new("fail-always")],
        )
        .await
        .unwrap();

    // HTTP goes through the same stack meanwhile.
    let r = reqwest::Client::new()
        .post(format!("http://{}/echo/7?tag=x", started.addr))
        .body(r#"{"n":1}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);

    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let dlq = deps.queue.stats("jobs-dlq").await.unwrap();
        let main = deps.queue.stats("jobs").await.unwrap();
        if dlq.visible == 1 && main.visible + main.in_flight == 0 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "not settled: jobs {main:?}, dlq {dlq:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    started.stop().await;
    let d = deliveries.lock().unwrap().clone();
    assert_eq!(d.iter().filter(|(b, _)| b == "good").count(), 1, "{d:?}");
    let failing: Vec<u32> = d
        .iter()
        .filter(|(b, _)| b == "fail-always")
        .map(|(_, c)| *c)
        .collect();
    assert_eq!(
        failing,
        vec![1, 2, 3],
        "delivered max_receives times, counting up"
    );
}

/// Collects what a subscriber writes.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

#[tokio::test]
async fn lambda_logs_are_flat_json_lines_carrying_the_request_and_correlation_ids() {
    let out = Captured::default();
    let subscriber = zayavka::logging::json_subscriber(out.clone());
    let _guard = tracing::subscriber::set_default(subscriber);
    // The span lambda_runtime opens around every invocation.
    let span = tracing::info_span!(
        "Lambda runtime invoke",
        requestId = "8476a536-e9f4-11e8-9739-2dfe598c3fcd"
    );
    let event = api_gateway_event(input(br#"{"name":"x"}"#, Vec::new())).unwrap();
    let response = {
        let _entered = span.enter();
        // And one of ours inside it, with a correlation id.
        let ours = tracing::info_span!("lead", lead_id = "lead-42", attempt = 2);
        let _inner = ours.enter();
        dispatch(&Echo, lambda_request(event)).await
    };
    assert_eq!(response.status_code, 201);
    let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
    let line: serde_json::Value =
        serde_json::from_str(text.lines().next().expect("a log line")).unwrap();
    assert_eq!(line["message"], "request");
    assert_eq!(line["function"], "echo");
    assert_eq!(line["status"], 201);
    // Every span's fields sit beside the event's, so a query filters on them directly.
    assert_eq!(line["requestId"], "8476a536-e9f4-11e8-9739-2dfe598c3fcd");
    assert_eq!(line["lead_id"], "lead-42");
    assert_eq!(line["attempt"], 2);
    assert!(line.get("spans").is_none(), "{line}");
    assert_eq!(line["level"], "INFO");
    let at = line["timestamp"].as_str().unwrap();
    // RFC 3339 in UTC to the millisecond: 2026-12-02T21:46:48.123Z.
    let shape: String = at
        .chars()
        .map(|c| if c.is_ascii_digit() { '9' } else { c })
        .collect();
    assert_eq!(shape, "9999-99-99T99:99:99.999Z", "{at}");
}

/// In AWS the tracker's queue is Lambda's: a send to `batch-results` is an asynchronous
/// invocation of the tracker, which the fake Lambda API here receives as Lambda would; the
/// other queues are untouched.
#[tokio::test]
async fn a_queue_lambda_keeps_is_an_asynchronous_invocation() {
    use wiremock::matchers::{header, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    use zayavka::adapters::InvokedQueues;
    use zayavka::adapters::aws::{AwsSettings, load};
    use zayavka::ports::{Queue, QueueError};

    let lambda = MockServer::start().await;
    // Lambda's answer to an asynchronous invocation: 202, queued.
    let accepts_events = || {
        Mock::given(method("POST"))
            .and(path("/2015-03-31/functions/acme-batch-tracker/invocations"))
            .and(header("x-amz-invocation-type", "Event"))
            .respond_with(ResponseTemplate::new(202).insert_header("x-amzn-RequestId", "req-1"))
    };
    accepts_events().mount(&lambda).await;
    // As Lambda wires it: the variable the template sets names the tracker, and a send to
    // batch-results through the AWS dependencies is an invocation.
    let mut cfg = crate::support::moto_config("t", "acme-");
    cfg.endpoint_url = Some(lambda.uri());
    cfg.invoked = [(
        "batch-results".to_string(),
        "acme-batch-tracker".to_string(),
    )]
    .into();
    let deps = Deps::aws(&zayavka::deps::AwsClients::new(&cfg).await, &cfg);
    deps.queue
        .send("batch-results", OutMessage::new("{\"via\":\"deps\"}"))
        .await
        .unwrap();
    assert_eq!(lambda.received_requests().await.unwrap().len(), 1);
    lambda.reset().await;
    accepts_events().mount(&lambda).await;
    let store = crate::support::embedded(zayavka::queues::catalogue());
    let sdk = load(&AwsSettings {
        endpoint_url: Some(lambda.uri()),
        region: Some("eu-central-1".into()),
    })
    .await;
    let queues = InvokedQueues::new(
        Arc::new(store.parts.queue.clone()),
        aws_sdk_lambda::Client::new(&sdk),
        [(
            "batch-results".to_string(),
            "acme-batch-tracker".to_string(),
        )]
        .into(),
    );
    let body = r#"{"lead_id":"l-1","batch_id":"b-1","lead_name":"Анна","succeeded":["email"],"failed":[],"errors":{}}"#;
    assert_eq!(
        queues
            .send("batch-results", OutMessage::new(body))
            .await
            .unwrap(),
        "req-1"
    );
    queues
        .send_batch(
            "batch-results",
            vec![OutMessage::new("{\"n\":1}"), OutMessage::new("{\"n\":2}")],
        )
        .await
        .unwrap();
    queues
        .send("notifications", OutMessage::new("{}"))
        .await
        .unwrap();
    let calls = lambda.received_requests().await.unwrap();
    let bodies: Vec<String> = calls
        .iter()
        .map(|r| String::from_utf8(r.body.clone()).unwrap())
        .collect();
    // One invocation per message, the message as the event, signed like any AWS call.
    assert_eq!(bodies, [body, "{\"n\":1}", "{\"n\":2}"]);
    assert!(calls.iter().all(|r| {
        r.headers
            .get("authorization")
            .is_some_and(|a| a.to_str().unwrap().starts_with("AWS4-HMAC-SHA256"))
    }));
    let stats = |q: &'static str| {
        let queue = store.parts.queue.clone();
        async move { queue.stats(q).await.unwrap().visible }
    };
    assert_eq!(stats("batch-results").await, 0, "nothing queued in SQS");
    assert_eq!(stats("notifications").await, 1, "other queues are SQS");

    // Lambda has no delay, groups or attributes: refused before any call, a batch whole.
    for msg in [
        OutMessage::new("{}").delay(5),
        OutMessage::new("{}").in_group("g", "d"),
        OutMessage::new("{}").attribute("a", "b"),
    ] {
        let err = queues.send("batch-results", msg.clone()).await.unwrap_err();
        assert!(matches!(err, QueueError::Invalid(_)), "{err}");
        let err = queues
            .send_batch("batch-results", vec![OutMessage::new("{}"), msg])
            .await
            .unwrap_err();
        assert!(matches!(err, QueueError::Invalid(_)), "{err}");
    }
    assert_eq!(lambda.received_requests().await.unwrap().len(), 3);

    // Anything but 202 means Lambda did not queue the event.
    lambda.reset().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_string("null"))
        .mount(&lambda)
        .await;
    let err = queues
        .send("batch-results", OutMessage::new(body))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("instead of 202"), "{err}");

    // Throttled: a retryable error, so the job's message comes back and asks again.
    lambda.reset().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(429)
                .insert_header("x-amzn-ErrorType", "TooManyRequestsException")
                .set_body_json(serde_json::json!({"Type": "User", "message": "Rate exceeded"})),
        )
        .mount(&lambda)
        .await;
    let err = queues
        .send("batch-results", OutMessage::new(body))
        .await
        .unwrap_err();
    assert!(err.is_retryable(), "{err}");
    // A tracker that does not exist is a deployment error, named as such.
    lambda.reset().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(404)
                .insert_header("x-amzn-ErrorType", "ResourceNotFoundException")
                .set_body_json(
                    serde_json::json!({"Type": "User", "Message": "Function not found"}),
                ),
        )
        .mount(&lambda)
        .await;
    let err = queues
        .send("batch-results", OutMessage::new(body))
        .await
        .unwrap_err();
    assert!(
        matches!(&err, QueueError::UnknownQueue(m) if m.contains("acme-batch-tracker")),
        "{err}"
    );
}
