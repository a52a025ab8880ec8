//! The chat bridge end to end: Telegram updates through the webhook, the bridge worker
//! calling a fake system (wiremock) with the exact request, the system's replies through
//! bridge-api and the notification worker to a fake Bot API, on the embedded store (a fixed
//! clock for the backoff) and on moto (FIFO queue included), and through `zayavka serve`.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::time::Duration;

use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use wiremock::matchers::{method, path, path_regex};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};
use zayavka::Deps;
use zayavka::http::HttpFunction;
use zayavka::ports::FixedClock;
use zayavka::queues::{BRIDGE_INBOUND, NOTIFICATIONS};
use zayavka::sqs_batch::QueueWorker;
use zayavka::texts::RU_BRIDGE;

use crate::support::{EmbeddedStore, Kind, TEST_API_KEY, failed_ids, test_env};
use crate::tickets::{FakeTelegram, Shared};

const BOT: &str = "888000:BRIDGEBOTTOKENABCDEFGHIJKLMNO";
const SECRET: &str = "bridge_secret-1";
const REPLY_TOKEN: &str = "reply_token_0123456789abcdef0123456789";
const SIGNING: &str = "bridge-signing-secret-42";
const PUBLIC: &str = "https://zayavka.example";
const T0: i64 = 1_796_191_200_000;
const ANNA: i64 = 7001;
const BORIS: i64 = 7002;
const ADMIN: i64 = 7100;

/// An independent HMAC of "t.body", as a receiver would compute it.
fn expected_signature(t: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(SIGNING.as_bytes()).unwrap();
    mac.update(t.as_bytes());
    mac.update(b".");
    mac.update(body);
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A system that answers with the statuses given, then 200.
struct Scripted {
    statuses: Vec<u16>,
    calls: AtomicUsize,
    reply: Option<Value>,
}

impl Respond for Scripted {
    fn respond(&self, _req: &Request) -> ResponseTemplate {
        let n = self.calls.fetch_add(1, Ordering::SeqCst);
        match self.statuses.get(n) {
            Some(429) => ResponseTemplate::new(429).insert_header("retry-after", "42"),
            Some(s) => ResponseTemplate::new(*s).set_body_string("system says no"),
            None => match &self.reply {
                Some(r) => ResponseTemplate::new(200).set_body_json(r),
                None => ResponseTemplate::new(200).set_body_json(json!({"status": "accepted"})),
            },
        }
    }
}

pub struct Link {
    pub tg: MockServer,
    pub system: MockServer,
    fake: Arc<FakeTelegram>,
    pub deps: Deps,
    clock: Option<FixedClock>,
    webhook: telegram_webhook::TelegramWebhook,
    api: bridge_api::BridgeApi,
    worker: bridge_worker::BridgeWorker,
    notifier: notification_worker::NotificationWorker,
    _store: Option<EmbeddedStore>,
    next_update: AtomicI64,
}

impl Link {
    async fn open(kind: Kind, extra: &[(&str, &str)]) -> Self {
        let fake = FakeTelegram::new();
        let tg = MockServer::start().await;
        Mock::given(path_regex("/getFile$"))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({"ok": true,
                "result": {"file_id": "F", "file_unique_id": "u", "file_path": "photos/file_1.jpg"}})))
            .with_priority(1)
            .mount(&tg)
            .await;
        Mock::given(method("GET"))
            .and(path(format!("/file/bot{BOT}/photos/file_1.jpg")))
            .respond_with(ResponseTemplate::new(200).set_body_bytes(b"\xff\xd8jpeg-bytes".to_vec()))
            .mount(&tg)
            .await;
        Mock::given(method("POST"))
            .respond_with(Shared(fake.clone()))
            .mount(&tg)
            .await;
        let system = MockServer::start().await;
        let (deps, clock, store) = match kind {
            Kind::Embedded => {
                // The queue's visibility timeouts run on the same fixed clock as the rest.
                let clock = FixedClock::at_ms(T0);
                let store = crate::support::embedded_at(
                    zayavka::queues::catalogue(),
                    Arc::new(clock.clone()),
                );
                (
                    Deps::embedded(&store.parts, Arc::new(clock.clone())),
                    Some(clock),
                    Some(store),
                )
            }
            Kind::Moto => {
                let cfg = crate::support::moto_config(
                    &crate::support::unique("br"),
                    &format!("{}-", crate::support::unique("bq")),
                );
                zayavka_cli::admin::init_aws(&cfg, &zayavka::queues::catalogue())
                    .await
                    .expect("init moto");
                let clients = zayavka::deps::AwsClients::new(&cfg).await;
                (Deps::aws(&clients, &cfg), None, None)
            }
        };
        let api_url = format!("{}/api/messages/", system.uri());
        let mut env = test_env(&[
            ("TELEGRAM_BRIDGE_BOT_TOKEN", BOT),
            ("TELEGRAM_BRIDGE_WEBHOOK_SECRET", SECRET),
            ("TELEGRAM_API_BASE", &tg.uri()),
            ("BRIDGE_API_URL", &api_url),
            ("BRIDGE_REPLY_TOKEN", REPLY_TOKEN),
            ("BRIDGE_SIGNING_SECRET", SIGNING),
            ("ZAYAVKA_PUBLIC_URL", PUBLIC),
            ("BRIDGE_ADMIN_IDS", &ADMIN.to_string()),
            ("BRIDGE_TIMEOUT_SECONDS", "2"),
        ]);
        for (k, v) in extra {
            env.insert(k.to_string(), v.to_string());
        }
        let w = zayavka::deps::Wiring {
            deps: deps.clone(),
            env: &env,
            queue_prefix: "zayavka-".into(),
        };
        Self {
            webhook: telegram_webhook::from_env(&w).unwrap(),
            api: bridge_api::from_env(&w).unwrap(),
            worker: bridge_worker::from_env(&w).unwrap(),
            notifier: notification_worker::from_env(&w).unwrap(),
            tg,
            system,
            fake,
            deps,
            clock,
            _store: store,
            next_update: AtomicI64::new(1),
        }
    }

    async fn start() -> Self {
        Self::open(Kind::Embedded, &[]).await
    }

    async fn system_answers(&self, statuses: Vec<u16>, reply: Option<Value>) {
        Mock::given(method("POST"))
            .and(path("/api/messages/"))
            .respond_with(Scripted {
                statuses,
                calls: AtomicUsize::new(0),
                reply,
            })
            .mount(&self.system)
            .await;
    }

    async fn update(&self, message: Value) -> u16 {
        let id = self.next_update.fetch_add(1, Ordering::SeqCst);
        let body = serde_json::to_vec(&json!({"update_id": id, "message": message})).unwrap();
        let event = crate::apigw::api_gateway_event(crate::apigw::HttpInput {
            method: "POST",
            route_key: telegram_webhook::ROUTE,
            path: "/telegram/bridge/webhook",
            raw_query: "",
            query: Vec::new(),
            headers: vec![("x-telegram-bot-api-secret-token".into(), SECRET.into())],
            path_params: [("bot".to_string(), "bridge".to_string())].into(),
            body: &body,
            source_ip: "149.154.167.220",
            now_ms: 0,
        })
        .unwrap();
        zayavka::http::dispatch(
            &self.webhook as &dyn HttpFunction,
            crate::apigw::lambda_request(event),
        )
        .await
        .status_code
    }

    fn message(from: i64, message_id: i64, fields: Value) -> Value {
        let mut m = json!({"message_id": message_id, "date": 1796191200,
            "chat": {"id": from, "type": "private", "first_name": "U"},
            "from": {"id": from, "is_bot": false, "first_name": "Анна", "last_name": "Котова",
                     "username": format!("u{from}"), "language_code": "ru"}});
        for (k, v) in fields.as_object().unwrap() {
            m[k] = v.clone();
        }
        m
    }

    async fn say(&self, from: i64, message_id: i64, text: &str) {
        assert_eq!(
            self.update(Self::message(from, message_id, json!({"text": text})))
                .await,
            200
        );
    }

    /// One round of the bridge worker over what the FIFO queue hands out; how many it took
    /// and how many failed.
    async fn work(&self) -> (usize, usize) {
        let got = self
            .deps
            .queue
            .receive(BRIDGE_INBOUND, 10, Duration::from_millis(300))
            .await
            .unwrap();
        if got.is_empty() {
            return (0, 0);
        }
        let event = zayavka_cli::events::sqs_event("zayavka-bridge-inbound.fifo", &got).unwrap();
        let failed = failed_ids(&self.worker.handle(event).await);
        for m in got.iter().filter(|m| !failed.contains(&m.message_id)) {
            self.deps
                .queue
                .delete(BRIDGE_INBOUND, &m.receipt_handle)
                .await
                .unwrap();
        }
        (got.len(), failed.len())
    }

    /// The notification worker until the queue is empty; a message that failed (a claim
    /// another delivery holds) is tried again, as SQS would after its visibility timeout.
    async fn pump(&self) {
        for _ in 0..20 {
            let got = self
                .deps
                .queue
                .receive(NOTIFICATIONS, 10, Duration::ZERO)
                .await
                .unwrap();
            if got.is_empty() {
                return;
            }
            let event = zayavka_cli::events::sqs_event("zayavka-notifications", &got).unwrap();
            let failed = failed_ids(&self.notifier.handle(event).await);
            for m in &got {
                if failed.contains(&m.message_id) {
                    self.deps
                        .queue
                        .change_visibility(NOTIFICATIONS, &m.receipt_handle, 0)
                        .await
                        .unwrap();
                } else {
                    self.deps
                        .queue
                        .delete(NOTIFICATIONS, &m.receipt_handle)
                        .await
                        .unwrap();
                }
            }
        }
        panic!("the notifications queue does not drain");
    }

    fn advance(&self, secs: i64) {
        self.clock.as_ref().unwrap().advance_ms(secs * 1000);
    }

    /// A reply to the URL we gave, signed as the system would (independently).
    async fn reply(&self, token: &str, body: Value, sign: bool) -> (u16, Value) {
        let bytes = serde_json::to_vec(&body).unwrap();
        let signature = sign.then(|| self.sign(&bytes));
        self.post_reply(token, &bytes, signature).await
    }

    /// The system's `X-Zayavka-Signature` for `bytes`, now.
    fn sign(&self, bytes: &[u8]) -> String {
        let t = (self.deps.clock.now_ms() / 1000).to_string();
        format!("t={t},v1={}", expected_signature(&t, bytes))
    }

    /// These very bytes with this very signature (a replay, when sent twice).
    async fn post_reply(
        &self,
        token: &str,
        bytes: &[u8],
        signature: Option<String>,
    ) -> (u16, Value) {
        let mut headers = vec![("content-type".to_string(), "application/json".to_string())];
        if let Some(sig) = signature {
            headers.push(("x-zayavka-signature".into(), sig));
        }
        self.http(
            bridge_api::REPLY,
            &format!("/bridge/reply/{token}"),
            &[("token", token)],
            headers,
            bytes,
        )
        .await
    }

    async fn http(
        &self,
        route: &str,
        path: &str,
        params: &[(&str, &str)],
        headers: Vec<(String, String)>,
        body: &[u8],
    ) -> (u16, Value) {
        let event = crate::apigw::api_gateway_event(crate::apigw::HttpInput {
            method: route.split(' ').next().unwrap(),
            route_key: route,
            path,
            raw_query: "",
            query: Vec::new(),
            headers,
            path_params: params
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            body,
            source_ip: "203.0.113.50",
            now_ms: 0,
        })
        .unwrap();
        let r = zayavka::http::dispatch(
            &self.api as &dyn HttpFunction,
            crate::apigw::lambda_request(event),
        )
        .await;
        let body = serde_json::from_str(&r.body).unwrap_or(Value::String(r.body.clone()));
        (r.status_code, body)
    }

    async fn to_system(&self) -> Vec<Request> {
        self.system.received_requests().await.unwrap()
    }

    async fn sent_to(&self, chat: i64) -> Vec<Value> {
        self.tg
            .received_requests()
            .await
            .unwrap()
            .iter()
            .filter(|r| r.method == wiremock::http::Method::POST)
            .map(|r| serde_json::from_slice::<Value>(&r.body).unwrap_or_default())
            .filter(|b| b["chat_id"] == chat)
            .collect()
    }
}

fn body_of(r: &Request) -> Value {
    serde_json::from_slice(&r.body).unwrap()
}

#[tokio::test]
async fn a_text_a_photo_with_a_caption_and_a_document_reach_the_system_as_the_seed_says_signed() {
    let l = Link::start().await;
    l.system_answers(vec![], None).await;
    l.say(ANNA, 11, "Где мой заказ?").await;
    let photo = json!({"caption": "Вот чек", "photo": [
        {"file_id": "small", "file_unique_id": "s", "width": 90, "height": 90, "file_size": 1000},
        {"file_id": "PHOTO-BIG", "file_unique_id": "b", "width": 1280, "height": 960, "file_size": 90000}]});
    assert_eq!(l.update(Link::message(ANNA, 12, photo)).await, 200);
    let doc = json!({"document": {"file_id": "DOC-1", "file_unique_id": "d", "file_name": "счёт.pdf",
        "mime_type": "application/pdf", "file_size": 2048}});
    assert_eq!(l.update(Link::message(ANNA, 13, doc)).await, 200);
    // One client: one at a time, in order.
    for _ in 0..3 {
        assert_eq!(l.work().await, (1, 0));
    }
    let got = l.to_system().await;
    assert_eq!(got.len(), 3);
    for r in &got {
        assert_eq!(
            r.headers.get("x-webhook-url").unwrap().to_str().unwrap(),
            format!("{PUBLIC}/bridge/reply/{REPLY_TOKEN}")
        );
        assert_eq!(r.headers.get("content-type").unwrap(), "application/json");
        let sig = r
            .headers
            .get("x-zayavka-signature")
            .unwrap()
            .to_str()
            .unwrap();
        let t = sig.strip_prefix("t=").unwrap().split(',').next().unwrap();
        assert_eq!(
            sig,
            format!("t={t},v1={}", expected_signature(t, &r.body)),
            "signed over the exact body"
        );
        assert_eq!(t, (T0 / 1000).to_string());
    }
    let text = body_of(&got[0]);
    assert_eq!(
        text,
        json!({"client_id": "telegram_7001", "content": "Где мой заказ?",
        "timestamp": "2026-12-02T06:00:00.000Z", "message_id": "7001-11", "telegram_message_id": 11,
        "user": {"first_name": "Анна", "last_name": "Котова", "username": "u7001", "language_code": "ru"}})
    );
    let photo = body_of(&got[1]);
    assert_eq!(photo["content"], "Вот чек");
    assert_eq!(photo["attachments"][0]["type"], "photo");
    assert_eq!(photo["attachments"][0]["size"], 90000);
    let doc = body_of(&got[2]);
    assert_eq!(doc["content"], "");
    assert_eq!(doc["attachments"][0]["file_name"], "счёт.pdf");
    assert_eq!(doc["attachments"][0]["mime_type"], "application/pdf");
    // The file's link is ours: no bot token, no Telegram URL.
    let url = photo["attachments"][0]["url"].as_str().unwrap();
    assert!(url.starts_with(&format!("{PUBLIC}/bridge/file/")), "{url}");
    for r in &got {
        let raw = String::from_utf8_lossy(&r.body);
        assert!(
            !raw.contains(BOT) && !raw.contains("api.telegram.org") && !raw.contains("PHOTO-BIG"),
            "{raw}"
        );
    }
    // The link streams the file, until it expires (an hour).
    let signed = url.rsplit('/').next().unwrap();
    let (st, _) = l
        .http(
            bridge_api::FILE,
            &format!("/bridge/file/{signed}"),
            &[("signed", signed)],
            vec![],
            b"",
        )
        .await;
    assert_eq!(st, 200);
    let flip = if signed.ends_with('0') { '1' } else { '0' };
    let tampered = format!("{}{flip}", &signed[..signed.len() - 1]);
    let tampered_path = format!("/bridge/file/{tampered}");
    let signed_path = format!("/bridge/file/{signed}");
    assert_eq!(
        l.http(
            bridge_api::FILE,
            &tampered_path,
            &[("signed", &tampered)],
            vec![],
            b""
        )
        .await
        .0,
        404
    );
    l.advance(3601);
    assert_eq!(
        l.http(
            bridge_api::FILE,
            &signed_path,
            &[("signed", signed)],
            vec![],
            b""
        )
        .await
        .0,
        410
    );
    // The history shows all three delivered.
    let (st, h) = l
        .http(
            bridge_api::HISTORY,
            "/api/bridge/clients/telegram_7001/messages",
            &[("client_id", "telegram_7001")],
            vec![("authorization".into(), format!("Bearer {TEST_API_KEY}"))],
            b"",
        )
        .await;
    assert_eq!(st, 200);
    let states: Vec<&str> = h["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, ["delivered", "delivered", "delivered"]);
}

#[tokio::test]
async fn the_file_link_gives_the_files_bytes_and_type() {
    let l = Link::start().await;
    l.system_answers(vec![], None).await;
    let photo =
        json!({"photo": [{"file_id": "F", "file_unique_id": "b", "width": 1, "height": 1}]});
    l.update(Link::message(ANNA, 5, photo)).await;
    l.work().await;
    let url = body_of(&l.to_system().await[0])["attachments"][0]["url"]
        .as_str()
        .unwrap()
        .to_string();
    let signed = url.rsplit('/').next().unwrap();
    let event = crate::apigw::api_gateway_event(crate::apigw::HttpInput {
        method: "GET",
        route_key: bridge_api::FILE,
        path: &format!("/bridge/file/{signed}"),
        raw_query: "",
        query: Vec::new(),
        headers: vec![],
        path_params: [("signed".to_string(), signed.to_string())].into(),
        body: b"",
        source_ip: "203.0.113.50",
        now_ms: 0,
    })
    .unwrap();
    let r = zayavka::http::dispatch(
        &l.api as &dyn HttpFunction,
        crate::apigw::lambda_request(event),
    )
    .await;
    assert_eq!(r.status_code, 200);
    assert_eq!(r.headers["content-type"], "image/jpeg");
    // Always a download, never rendered on our origin.
    assert_eq!(r.headers["x-content-type-options"], "nosniff");
    assert!(r.headers["content-disposition"].starts_with("attachment"));
    assert_eq!(r.body_bytes(), b"\xff\xd8jpeg-bytes".to_vec());
}

#[tokio::test]
async fn the_system_down_means_retries_one_fallback_and_delivery_once_it_is_back() {
    let l = Link::start().await;
    l.system_answers(vec![503, 502, 500, 429, 503], None).await;
    l.say(ANNA, 21, "Первое").await;
    l.say(ANNA, 22, "Второе").await;
    // Tries 1..5 of the first message fail; each waits longer (5, 10, 20 s; 42 s as the 429
    // said; 80 s), and nothing of the second goes ahead of it.
    for wait in [5, 10, 20, 42, 80] {
        assert_eq!(l.work().await, (1, 1));
        l.advance(wait - 1);
        assert_eq!(l.work().await, (0, 0), "not before {wait} s");
        l.advance(1);
    }
    l.pump().await;
    let told = l.sent_to(ANNA).await;
    assert_eq!(
        told.len(),
        1,
        "one fallback, not one per try or message: {told:?}"
    );
    assert_eq!(told[0]["text"], RU_BRIDGE.down);
    // Back: the first, then the second.
    assert_eq!(l.work().await, (1, 0));
    assert_eq!(l.work().await, (1, 0));
    let contents: Vec<String> = l
        .to_system()
        .await
        .iter()
        .map(|r| body_of(r)["content"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        contents,
        ["Первое"; 6]
            .iter()
            .map(|s| s.to_string())
            .chain(["Второе".to_string()])
            .collect::<Vec<_>>()
    );
    let (_, h) = l
        .http(
            bridge_api::HISTORY,
            "/api/bridge/clients/telegram_7001/messages",
            &[("client_id", "telegram_7001")],
            vec![("authorization".into(), format!("Bearer {TEST_API_KEY}"))],
            b"",
        )
        .await;
    assert_eq!(h["items"][0]["attempts"], 6);
    assert_eq!(h["items"][0]["state"], "delivered");
    // /status says up again; the next outage would be told again.
    l.say(ANNA, 23, "/status").await;
    let status = l.sent_to(ANNA).await.pop().unwrap();
    assert!(
        status["text"].as_str().unwrap().contains("Сервис работает"),
        "{status}"
    );
}

#[tokio::test]
async fn a_message_the_system_refuses_or_never_takes_is_given_up_and_the_user_told() {
    let l = Link::start().await;
    l.system_answers(vec![400], None).await;
    l.say(ANNA, 31, "Неправильное").await;
    assert_eq!(l.work().await, (1, 0), "a 400 is final");
    l.pump().await;
    let told = l.sent_to(ANNA).await.pop().unwrap();
    assert!(
        told["text"]
            .as_str()
            .unwrap()
            .starts_with("Не удалось передать ваше сообщение: «Неправильное»"),
        "{told}"
    );
    // Out of tries: given up on the tenth, told, and on to the dead-letter queue.
    let l = Link::start().await;
    l.system_answers(vec![503; 20], None).await;
    l.say(BORIS, 32, "Потеряется?").await;
    for _ in 0..10 {
        l.work().await;
        l.advance(300);
    }
    l.work().await;
    let dlq = l.deps.queue.stats("bridge-inbound-dlq.fifo").await.unwrap();
    assert_eq!(dlq.visible, 1, "dead-lettered, with its alarm");
    assert_eq!(l.to_system().await.len(), 10);
    l.pump().await;
    let texts: Vec<String> = l
        .sent_to(BORIS)
        .await
        .iter()
        .map(|m| m["text"].as_str().unwrap().to_string())
        .collect();
    // (Two notices, in either order, as from the notifications queue.)
    assert_eq!(texts.len(), 2, "{texts:?}");
    assert!(texts.iter().any(|t| t == RU_BRIDGE.down), "{texts:?}");
    assert!(
        texts.iter().any(|t| t.contains("«Потеряется?»")),
        "{texts:?}"
    );
}

async fn one_users_messages_arrive_in_order_and_another_users_are_not_held_up(kind: Kind) {
    let l = Link::open(kind, &[]).await;
    l.system_answers(vec![], None).await;
    for n in 1..=5 {
        l.say(ANNA, 100 + n, &format!("Анна {n}")).await;
    }
    l.say(BORIS, 200, "Борис 1").await;
    let mut rounds = 0;
    while l.to_system().await.len() < 6 && rounds < 40 {
        l.work().await;
        rounds += 1;
    }
    let got: Vec<String> = l
        .to_system()
        .await
        .iter()
        .map(|r| body_of(r)["content"].as_str().unwrap().to_string())
        .collect();
    let anna: Vec<&String> = got.iter().filter(|c| c.starts_with("Анна")).collect();
    assert_eq!(
        anna,
        ["Анна 1", "Анна 2", "Анна 3", "Анна 4", "Анна 5"],
        "{got:?}"
    );
    let boris_at = got
        .iter()
        .position(|c| c == "Борис 1")
        .expect("Boris's message arrived");
    assert!(
        boris_at < 5,
        "Boris did not wait for all of Anna's: {got:?}"
    );
}

crate::both!(one_users_messages_arrive_in_order_and_another_users_are_not_held_up);

#[tokio::test]
async fn a_worker_that_dies_mid_message_loses_nothing() {
    let l = Link::start().await;
    l.system_answers(vec![], None).await;
    l.say(ANNA, 41, "Не потеряйся").await;
    // Received, and the worker dies before answering: nothing deleted, nothing delivered.
    let taken = l
        .deps
        .queue
        .receive(BRIDGE_INBOUND, 10, Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(taken.len(), 1);
    assert_eq!(l.work().await, (0, 0), "held while its lease lasts");
    l.advance(181);
    assert_eq!(l.work().await, (1, 0));
    assert_eq!(body_of(&l.to_system().await[0])["content"], "Не потеряйся");
}

#[tokio::test]
async fn a_reply_in_the_systems_response_is_delivered_at_once() {
    let l = Link::start().await;
    l.system_answers(vec![], Some(json!({"response": "Заказ №5 в пути."})))
        .await;
    l.say(ANNA, 51, "Где заказ №5?").await;
    l.work().await;
    l.pump().await;
    let sent = l.sent_to(ANNA).await;
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0]["text"], "Заказ №5 в пути.");
    assert_eq!(sent[0]["reply_parameters"]["message_id"], 51);
}

#[tokio::test]
async fn webhook_replies_are_checked_split_and_sent_once() {
    let l = Link::start().await;
    l.system_answers(vec![], None).await;
    l.say(ANNA, 61, "Вопрос").await;
    l.work().await;
    // Wrong token: 404, nothing queued. Unknown client: 404. No signature: 401.
    let body = json!({"client_id": "telegram_7001", "content": "Ответ <b>жирный</b>?"});
    assert_eq!(
        l.reply("wrong_token_0123456789abcdef0123456789", body.clone(), true)
            .await
            .0,
        404
    );
    assert_eq!(
        l.reply(
            REPLY_TOKEN,
            json!({"client_id": "telegram_999", "content": "x"}),
            true
        )
        .await
        .0,
        404
    );
    assert_eq!(l.reply(REPLY_TOKEN, body.clone(), false).await.0, 401);
    let (st, e) = l
        .reply(
            REPLY_TOKEN,
            json!({"client_id": "telegram_7001", "content": 5}),
            true,
        )
        .await;
    assert_eq!(st, 422);
    assert!(
        e["error"]["message"]
            .as_str()
            .unwrap()
            .starts_with("content"),
        "{e}"
    );
    assert_eq!(l.deps.queue.stats(NOTIFICATIONS).await.unwrap().visible, 0);
    // Accepted, twice: sent once, escaped.
    assert_eq!(l.reply(REPLY_TOKEN, body.clone(), true).await.0, 202);
    let (st, dup) = l.reply(REPLY_TOKEN, body.clone(), true).await;
    assert_eq!((st, dup["status"].as_str()), (200, Some("duplicate")));
    l.pump().await;
    let sent = l.sent_to(ANNA).await;
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0]["text"], "Ответ &lt;b&gt;жирный&lt;/b&gt;?");
    // A long one: split after sentences, every part within Telegram's limit, with buttons on
    // the last; the system's own HTML kept.
    let long = "Это длинный ответ системы, в котором нет переносов строк вовсе. ".repeat(150);
    let body = json!({"client_id": "telegram_7001", "content": long, "parse_mode": "HTML", "id": "r-2",
        "buttons": [[{"text": "Открыть заказ", "url": "https://shop.example/orders/5"}]]});
    assert_eq!(l.reply(REPLY_TOKEN, body, true).await.0, 202);
    l.pump().await;
    let parts: Vec<Value> = l.sent_to(ANNA).await.into_iter().skip(1).collect();
    assert!(parts.len() >= 3, "{}", parts.len());
    for p in &parts {
        let t = p["text"].as_str().unwrap();
        assert!(crate::support_relay::telegram_length(t, Some("HTML")) <= 4096);
    }
    for p in &parts[..parts.len() - 1] {
        assert!(
            p["text"].as_str().unwrap().ends_with(". "),
            "cut after a sentence"
        );
        assert!(p.get("reply_markup").is_none());
    }
    assert_eq!(
        parts.last().unwrap()["reply_markup"]["inline_keyboard"][0][0]["url"],
        "https://shop.example/orders/5"
    );
    let joined: String = parts.iter().map(|p| p["text"].as_str().unwrap()).collect();
    assert_eq!(joined, long, "nothing lost");
    // A photo by URL.
    let body = json!({"client_id": "telegram_7001", "attachments": [{"type": "photo", "url": "https://cdn.example/p.jpg", "caption": "Фото"}]});
    assert_eq!(l.reply(REPLY_TOKEN, body, true).await.0, 202);
    l.pump().await;
    let photo = l.sent_to(ANNA).await.pop().unwrap();
    assert_eq!(
        (photo["photo"].as_str(), photo["caption"].as_str()),
        (Some("https://cdn.example/p.jpg"), Some("Фото"))
    );
}

#[tokio::test]
async fn a_user_who_blocked_the_bot_is_recorded_and_the_next_reply_is_410() {
    let l = Link::start().await;
    l.system_answers(vec![], None).await;
    l.say(ANNA, 71, "Привет").await;
    l.work().await;
    l.fake.blocked.lock().unwrap().insert(ANNA);
    assert_eq!(
        l.reply(
            REPLY_TOKEN,
            json!({"client_id": "telegram_7001", "content": "Ответ"}),
            true
        )
        .await
        .0,
        202
    );
    l.pump().await;
    let (st, e) = l
        .reply(
            REPLY_TOKEN,
            json!({"client_id": "telegram_7001", "content": "Ещё"}),
            true,
        )
        .await;
    assert_eq!(st, 410, "{e}");
    // Writing again unblocks.
    l.fake.blocked.lock().unwrap().clear();
    l.say(ANNA, 72, "Я вернулась").await;
    assert_eq!(
        l.reply(
            REPLY_TOKEN,
            json!({"client_id": "telegram_7001", "content": "С возвращением"}),
            true
        )
        .await
        .0,
        202
    );
}

#[tokio::test]
async fn status_stats_and_the_off_switch() {
    let l = Link::start().await;
    l.system_answers(vec![503], None).await;
    l.say(ANNA, 81, "/status").await;
    assert!(
        l.sent_to(ANNA).await[0]["text"]
            .as_str()
            .unwrap()
            .starts_with(RU_BRIDGE.status_unknown)
    );
    l.say(ANNA, 82, "Вопрос").await;
    l.work().await;
    l.say(ANNA, 83, "/status").await;
    let down = l.sent_to(ANNA).await.pop().unwrap();
    let text = down["text"].as_str().unwrap();
    assert!(
        text.contains("Сервис сейчас недоступен") && text.contains("ждут отправки: 1"),
        "{text}"
    );
    // /stats: for admins only.
    l.say(ANNA, 84, "/stats").await;
    assert_eq!(
        l.sent_to(ANNA).await.pop().unwrap()["text"],
        RU_BRIDGE.unknown_command
    );
    l.advance(5);
    l.work().await;
    assert_eq!(
        l.reply(
            REPLY_TOKEN,
            json!({"client_id": "telegram_7001", "content": "Ответ"}),
            true
        )
        .await
        .0,
        202
    );
    l.pump().await;
    l.say(ADMIN, 85, "/stats").await;
    let stats = l.sent_to(ADMIN).await.pop().unwrap()["text"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        stats.contains("Сегодня: входящих 1, исходящих 1, ошибок 0"),
        "{stats}"
    );
    assert!(
        stats.contains("(DLQ): 0") && stats.contains("медиана ≤ 5 s"),
        "{stats}"
    );
    // Off: the bot says so and forwards nothing.
    let off = Link::open(Kind::Embedded, &[("BRIDGE_ENABLED", "false")]).await;
    off.say(ANNA, 1, "Есть кто?").await;
    assert_eq!(off.sent_to(ANNA).await[0]["text"], RU_BRIDGE.off);
    assert_eq!(
        off.deps.queue.stats(BRIDGE_INBOUND).await.unwrap().visible,
        0
    );
}

#[tokio::test]
async fn the_loop_runs_through_zayavka_serve() {
    use zayavka_cli::serve::{self, ServeOptions};
    let tg_fake = FakeTelegram::new();
    let tg = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(Shared(tg_fake))
        .mount(&tg)
        .await;
    let system = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"text": "Синхронный ответ"})))
        .mount(&system)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let env = test_env(&[
        ("TELEGRAM_BRIDGE_BOT_TOKEN", BOT),
        ("TELEGRAM_BRIDGE_WEBHOOK_SECRET", SECRET),
        ("TELEGRAM_API_BASE", &tg.uri()),
        ("BRIDGE_API_BASE", &system.uri()),
        ("BRIDGE_REPLY_TOKEN", REPLY_TOKEN),
        ("BRIDGE_SIGNING_SECRET", SIGNING),
    ]);
    let started = serve::start(
        ServeOptions::local(dir.path().to_path_buf()),
        zayavka::queues::catalogue(),
        move |deps, place| serve::functions(deps, &env, place),
    )
    .await
    .unwrap();
    let base = format!("http://{}", started.addr);
    let client = reqwest::Client::new();
    let update = json!({"update_id": 1, "message": Link::message(ANNA, 1, json!({"text": "Привет через serve"}))});
    let r = client
        .post(format!("{base}/telegram/bridge/webhook"))
        .header("x-telegram-bot-api-secret-token", SECRET)
        .json(&update)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // The worker delivers (with serve's own address to answer at); the system's synchronous
    // answer comes back; then a webhook-style reply through serve's HTTP.
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while tg
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path().ends_with("/sendMessage"))
        .count()
        < 1
    {
        assert!(
            std::time::Instant::now() < deadline,
            "no answer through serve"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let asked = &system.received_requests().await.unwrap()[0];
    assert_eq!(asked.url.path(), "/api/messages/");
    assert_eq!(
        asked
            .headers
            .get("x-webhook-url")
            .unwrap()
            .to_str()
            .unwrap(),
        format!("{base}/bridge/reply/{REPLY_TOKEN}")
    );
    // Signed as the system would, on serve's own (real) clock.
    let body =
        serde_json::to_vec(&json!({"client_id": "telegram_7001", "content": "Ответ через вебхук"}))
            .unwrap();
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        .to_string();
    let r = client
        .post(format!("{base}/bridge/reply/{REPLY_TOKEN}"))
        .header("content-type", "application/json")
        .header(
            "x-zayavka-signature",
            format!("t={t},v1={}", expected_signature(&t, &body)),
        )
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    while tg
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path().ends_with("/sendMessage"))
        .count()
        < 2
    {
        assert!(
            std::time::Instant::now() < deadline,
            "no webhook reply through serve"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let texts: Vec<String> = tg
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path().ends_with("/sendMessage"))
        .map(|r| body_of(r)["text"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(texts, ["Синхронный ответ", "Ответ через вебхук"]);
    started.stop().await;
}

/// The README's worked example: `zayavka serve` with the bridge pointed at
/// `examples/echo_system.py`, which answers every message on the URL it came with.
#[tokio::test]
async fn the_readmes_echo_system_answers_through_the_bridge() {
    use zayavka_cli::serve::{self, ServeOptions};
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let script =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/echo_system.py");
    let mut echo = std::process::Command::new("python3")
        .arg(&script)
        .arg(port.to_string())
        .env("BRIDGE_SIGNING_SECRET", SIGNING)
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("python3 runs the example");
    let tg = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(Shared(FakeTelegram::new()))
        .mount(&tg)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let env = test_env(&[
        ("TELEGRAM_BRIDGE_BOT_TOKEN", BOT),
        ("TELEGRAM_BRIDGE_WEBHOOK_SECRET", SECRET),
        ("TELEGRAM_API_BASE", &tg.uri()),
        ("BRIDGE_API_BASE", &format!("http://127.0.0.1:{port}")),
        ("BRIDGE_REPLY_TOKEN", REPLY_TOKEN),
        ("BRIDGE_SIGNING_SECRET", SIGNING),
    ]);
    let started = serve::start(
        ServeOptions::local(dir.path().to_path_buf()),
        zayavka::queues::catalogue(),
        move |deps, place| serve::functions(deps, &env, place),
    )
    .await
    .unwrap();
    let update =
        json!({"update_id": 1, "message": Link::message(ANNA, 1, json!({"text": "Привет"}))});
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    // The script may take a moment to listen; Telegram would deliver the update again too.
    let client = reqwest::Client::new();
    let r = client
        .post(format!("http://{}/telegram/bridge/webhook", started.addr))
        .header("x-telegram-bot-api-secret-token", SECRET)
        .json(&update)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let echoed = loop {
        let sent: Vec<Value> = tg
            .received_requests()
            .await
            .unwrap()
            .iter()
            .filter(|r| r.url.path().ends_with("/sendMessage"))
            .map(body_of)
            .collect();
        if let Some(m) = sent.first() {
            break m.clone();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the echo never came back"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(echoed["text"], "Эхо: Привет");
    assert_eq!(echoed["chat_id"], ANNA);
    let _ = echo.kill();
    let _ = echo.wait();
    started.stop().await;
}

#[tokio::test]
async fn a_worker_that_dies_after_the_system_took_the_message_does_not_send_it_again() {
    let l = Link::start().await;
    l.system_answers(vec![], Some(json!({"response": "Принято"})))
        .await;
    l.say(ANNA, 91, "Один раз").await;
    // Handled, but the worker dies before the event source deletes the message.
    let got = l
        .deps
        .queue
        .receive(BRIDGE_INBOUND, 10, Duration::ZERO)
        .await
        .unwrap();
    let event = zayavka_cli::events::sqs_event("zayavka-bridge-inbound.fifo", &got).unwrap();
    assert!(failed_ids(&l.worker.handle(event).await).is_empty());
    l.advance(181);
    assert_eq!(l.work().await, (1, 0));
    assert_eq!(l.to_system().await.len(), 1, "the system was asked once");
    l.pump().await;
    let sent = l.sent_to(ANNA).await;
    assert_eq!(sent.len(), 1, "its answer sent once: {sent:?}");
    assert_eq!(sent[0]["text"], "Принято");
}

#[tokio::test]
async fn the_users_text_echoed_back_is_not_an_answer_and_replies_may_name_our_message_id() {
    let l = Link::start().await;
    l.system_answers(
        vec![],
        Some(json!({"client_id": "telegram_7001", "content": "Эхо?"})),
    )
    .await;
    l.say(ANNA, 95, "Эхо?").await;
    l.work().await;
    l.pump().await;
    assert!(
        l.sent_to(ANNA).await.is_empty(),
        "the stored message is not a reply"
    );
    let sent = body_of(&l.to_system().await[0]);
    assert_eq!(
        (
            sent["message_id"].as_str(),
            sent["telegram_message_id"].as_i64()
        ),
        (Some("7001-95"), Some(95))
    );
    let body = json!({"client_id": "telegram_7001", "content": "Ответ на ваше", "reply_to_message_id": "7001-95"});
    assert_eq!(l.reply(REPLY_TOKEN, body, true).await.0, 202);
    l.pump().await;
    assert_eq!(
        l.sent_to(ANNA).await[0]["reply_parameters"]["message_id"],
        95
    );
}

#[tokio::test]
async fn the_same_text_sent_twice_on_purpose_goes_out_twice_and_a_refused_reply_is_failed() {
    let l = Link::start().await;
    l.system_answers(vec![], None).await;
    l.say(ANNA, 97, "Вопрос").await;
    l.work().await;
    let body = json!({"client_id": "telegram_7001", "content": "Принято"});
    assert_eq!(l.reply(REPLY_TOKEN, body.clone(), true).await.0, 202);
    l.advance(2);
    assert_eq!(
        l.reply(REPLY_TOKEN, body, true).await.0,
        202,
        "signed anew: not a replay"
    );
    l.pump().await;
    assert_eq!(l.sent_to(ANNA).await.len(), 2);
    // HTML Telegram refuses: recorded as failed, not delivered.
    let bad = json!({"client_id": "telegram_7001", "content": "<p>абзац</p>", "parse_mode": "HTML", "id": "bad-1"});
    assert_eq!(l.reply(REPLY_TOKEN, bad, true).await.0, 202);
    l.pump().await;
    let (_, h) = l
        .http(
            bridge_api::HISTORY,
            "/api/bridge/clients/telegram_7001/messages",
            &[("client_id", "telegram_7001")],
            vec![("authorization".into(), format!("Bearer {TEST_API_KEY}"))],
            b"",
        )
        .await;
    let last = h["items"].as_array().unwrap().last().unwrap().clone();
    assert_eq!(
        (last["state"].as_str(), last["direction"].as_str()),
        (Some("failed"), Some("out")),
        "{last}"
    );
    assert!(
        last["error"]
            .as_str()
            .unwrap()
            .contains("can't parse entities")
    );
}

/// What one message in and its answer out cost in table and queue requests (a count, so
/// deterministic; BENCHMARKS.md turns it into money).
#[tokio::test]
async fn one_message_and_its_answer_cost_a_known_number_of_requests() {
    let counts: crate::costs::Shared = Arc::default();
    let mut l = Link::start().await;
    let observed =
        crate::recording::observed(&l.deps, Arc::new(crate::costs::Counter(counts.clone())));
    // Rebuilt on the counted store (same env).
    let env = test_env(&[
        ("TELEGRAM_BRIDGE_BOT_TOKEN", BOT),
        ("TELEGRAM_BRIDGE_WEBHOOK_SECRET", SECRET),
        ("TELEGRAM_API_BASE", &l.tg.uri()),
        (
            "BRIDGE_API_URL",
            &format!("{}/api/messages/", l.system.uri()),
        ),
        ("BRIDGE_REPLY_TOKEN", REPLY_TOKEN),
        ("BRIDGE_SIGNING_SECRET", SIGNING),
        ("ZAYAVKA_PUBLIC_URL", PUBLIC),
    ]);
    let w = zayavka::deps::Wiring {
        deps: observed.clone(),
        env: &env,
        queue_prefix: "zayavka-".into(),
    };
    l.webhook = telegram_webhook::from_env(&w).unwrap();
    l.api = bridge_api::from_env(&w).unwrap();
    l.worker = bridge_worker::from_env(&w).unwrap();
    l.notifier = notification_worker::from_env(&w).unwrap();
    l.deps = observed;
    l.system_answers(vec![], None).await;
    let total = |c: &crate::costs::Counts| c.0.clone();
    l.say(ANNA, 1, "Вопрос").await;
    let after_webhook = total(&counts.lock().unwrap());
    l.work().await;
    assert_eq!(
        l.reply(
            REPLY_TOKEN,
            json!({"client_id": "telegram_7001", "content": "Ответ"}),
            true
        )
        .await
        .0,
        202
    );
    l.pump().await;
    let all = total(&counts.lock().unwrap());
    println!("webhook: {after_webhook:?}");
    println!("whole round trip: {all:?}");
    let n = |k: &str| all.get(k).copied().unwrap_or(0.0) as u64;
    assert_eq!(
        n("sqs SendMessage"),
        2,
        "one onto the FIFO queue, one reply notice"
    );
    let writes = n("ddb PutItem")
        + n("ddb UpdateItem")
        + n("ddb DeleteItem")
        + n("ddb items in transactions");
    let reads = n("ddb GetItem") + n("ddb Query");
    println!("per round trip: {writes} writes, {reads} reads");
    // 17: the per-user limit's counter is one of them.
    assert!(writes <= 17 && reads <= 8, "{writes} writes, {reads} reads");
}

/// What the bridge's functions make of these settings at start: the problems they name.
fn bridge_settings(set: &[(&str, &str)], unset: &[&str]) -> Result<(), Vec<String>> {
    let mut env = test_env(&[
        ("TELEGRAM_BRIDGE_BOT_TOKEN", BOT),
        ("TELEGRAM_BRIDGE_WEBHOOK_SECRET", SECRET),
        ("BRIDGE_API_URL", "https://system.example/api/messages/"),
        ("BRIDGE_REPLY_TOKEN", REPLY_TOKEN),
        ("BRIDGE_SIGNING_SECRET", SIGNING),
        ("OUTBOUND_ALLOW_HOSTS", ""),
    ]);
    for (k, v) in set {
        env.insert(k.to_string(), v.to_string());
    }
    for k in unset {
        env.remove(*k);
    }
    bridge_api::Config::read(&env)
        .map(|_| ())
        .map_err(|e| e.problems)
}

/// The reply token travels with every message (`X-Webhook-URL`), so it cannot be what proves
/// a reply: a bridge bot without a signing secret, or talking plain http to its system, does
/// not start.
#[test]
fn the_bridge_does_not_start_without_its_signing_secret_or_with_a_plain_http_system() {
    let named = |r: Result<(), Vec<String>>, var: &str| {
        let problems = r.expect_err("refused");
        assert!(
            problems.iter().any(|p| p.contains(var)),
            "{var} not named: {problems:?}"
        );
    };
    assert_eq!(bridge_settings(&[], &[]), Ok(()));
    named(
        bridge_settings(&[], &["BRIDGE_SIGNING_SECRET"]),
        "BRIDGE_SIGNING_SECRET",
    );
    named(
        bridge_settings(&[("BRIDGE_SIGNING_SECRET", "short")], &[]),
        "BRIDGE_SIGNING_SECRET",
    );
    named(
        bridge_settings(
            &[("BRIDGE_API_URL", "http://system.example/api/messages/")],
            &[],
        ),
        "BRIDGE_API_URL",
    );
    named(
        bridge_settings(
            &[("BRIDGE_API_BASE", "http://system.example")],
            &["BRIDGE_API_URL"],
        ),
        "BRIDGE_API_URL",
    );
    // Plain http to a host the operator exempted (a fake, an on-premise system), on its
    // port only.
    let local = [
        ("BRIDGE_API_URL", "http://127.0.0.1:8099/api/messages/"),
        ("OUTBOUND_ALLOW_HOSTS", "127.0.0.1"),
    ];
    assert_eq!(bridge_settings(&local, &[]), Ok(()));
    named(
        bridge_settings(
            &[
                ("BRIDGE_API_URL", "http://127.0.0.1:8099/api/messages/"),
                ("OUTBOUND_ALLOW_HOSTS", "127.0.0.1:9000"),
            ],
            &[],
        ),
        "BRIDGE_API_URL",
    );
    // Without the bridge bot nothing of it is asked for.
    assert_eq!(
        bridge_settings(
            &[],
            &[
                "TELEGRAM_BRIDGE_BOT_TOKEN",
                "BRIDGE_SIGNING_SECRET",
                "BRIDGE_API_URL"
            ]
        ),
        Ok(())
    );
}

/// The texts of the sendMessage calls to `chat`.
async fn texts_to(l: &Link, chat: i64) -> Vec<String> {
    l.tg.received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path().ends_with("/sendMessage"))
        .map(body_of)
        .filter(|b| b["chat_id"] == chat)
        .map(|b| b["text"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// The client's history entries going out, with their states.
async fn out_states(l: &Link) -> Vec<(String, String)> {
    zayavka::bridge::store::messages(&l.deps, "telegram_7001", 100)
        .await
        .unwrap()
        .into_iter()
        .filter(|m| m.direction == zayavka::bridge::store::Direction::Out)
        .map(|m| {
            let state = serde_json::to_value(m.state).unwrap();
            (m.text, state.as_str().unwrap().to_string())
        })
        .collect()
}

/// A reply without an id: the very request again (the system did not hear our 202) is
/// dropped while it could still be a replay; the same text signed anew 11 minutes later is
/// a reply of its own, sent, with its own history entry.
#[tokio::test]
async fn the_same_reply_text_again_after_the_duplicate_window_is_sent_and_a_replay_is_not() {
    let l = Link::start().await;
    l.system_answers(vec![], None).await;
    l.say(ANNA, 98, "Вопрос").await;
    l.work().await;
    let body = json!({"client_id": "telegram_7001", "content": "Ваш заказ готов"});
    let bytes = serde_json::to_vec(&body).unwrap();
    let signature = l.sign(&bytes);
    assert_eq!(
        l.post_reply(REPLY_TOKEN, &bytes, Some(signature.clone()))
            .await
            .0,
        202
    );
    l.advance(60);
    let (st, answer) = l.post_reply(REPLY_TOKEN, &bytes, Some(signature)).await;
    assert_eq!((st, answer["status"].as_str()), (200, Some("duplicate")));
    l.pump().await;
    assert_eq!(texts_to(&l, ANNA).await, ["Ваш заказ готов"]);
    l.advance(660);
    assert_eq!(l.reply(REPLY_TOKEN, body, true).await.0, 202);
    l.pump().await;
    assert_eq!(
        texts_to(&l, ANNA).await,
        ["Ваш заказ готов", "Ваш заказ готов"]
    );
    let delivered = ("Ваш заказ готов".to_string(), "delivered".to_string());
    assert_eq!(out_states(&l).await, [delivered.clone(), delivered]);
}

/// What made a repeated reply vanish: its sends were claimed under the reply's key alone
/// (`body#<hash>`, kept 30 days) while the key itself is free again after ten minutes, so
/// the same key accepted again found its sends "done" and recorded itself delivered. The
/// sends are the history entry's now.
#[tokio::test]
async fn a_reply_accepted_again_under_its_key_later_is_sent_not_recorded_as_sent() {
    let l = Link::start().await;
    l.system_answers(vec![], None).await;
    l.say(ANNA, 99, "Вопрос").await;
    l.work().await;
    let env = test_env(&[
        ("TELEGRAM_BRIDGE_BOT_TOKEN", BOT),
        ("BRIDGE_API_URL", "https://system.example/api/messages/"),
        ("BRIDGE_REPLY_TOKEN", REPLY_TOKEN),
        ("BRIDGE_SIGNING_SECRET", SIGNING),
    ]);
    let mut r = zayavka::config::EnvReader::new(&env);
    let cfg = zayavka::bridge::config::BridgeConfig::read_if_configured(&mut r).unwrap();
    r.finish().unwrap();
    let reply = zayavka::bridge::replies::parse(
        &json!({"client_id": "telegram_7001", "content": "Готово"}),
    )
    .unwrap();
    let key = "body#one-request";
    for _ in 0..2 {
        let now = l.deps.clock.now_ms();
        zayavka::bridge::worker::accept_reply(&l.deps, &cfg, key, reply.clone(), now, 0)
            .await
            .unwrap();
        l.pump().await;
        l.advance(660);
    }
    assert_eq!(texts_to(&l, ANNA).await, ["Готово", "Готово"]);
    let delivered = ("Готово".to_string(), "delivered".to_string());
    assert_eq!(out_states(&l).await, [delivered.clone(), delivered]);
}

/// Telegram's file calls so far: getFile and the downloads.
async fn asked_telegram_for_files(l: &Link) -> Vec<String> {
    l.tg.received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| r.url.path().to_string())
        .filter(|p| p.ends_with("/getFile") || p.starts_with("/file/"))
        .collect()
}

/// Opens the file link of the `n`th message the system got.
async fn open_file_link(l: &Link, n: usize) -> (u16, Value) {
    let url = body_of(&l.to_system().await[n])["attachments"][0]["url"]
        .as_str()
        .unwrap()
        .to_string();
    let signed = url.rsplit('/').next().unwrap().to_string();
    l.http(
        bridge_api::FILE,
        &format!("/bridge/file/{signed}"),
        &[("signed", &signed)],
        vec![],
        b"",
    )
    .await
}

/// The size Telegram gave travels in the signed link: a file over `BRIDGE_FILE_MAX_BYTES`
/// is refused without a getFile or a download; one Telegram gave no size for is measured.
#[tokio::test]
async fn a_file_link_over_the_size_limit_is_refused_without_asking_telegram() {
    let l = Link::open(Kind::Embedded, &[("BRIDGE_FILE_MAX_BYTES", "8")]).await;
    l.system_answers(vec![], None).await;
    // The fake's file has 12 bytes, and Telegram says so.
    let sized = json!({"photo": [{"file_id": "F", "file_unique_id": "b", "width": 1, "height": 1, "file_size": 12}]});
    l.update(Link::message(ANNA, 6, sized)).await;
    l.work().await;
    let (st, e) = open_file_link(&l, 0).await;
    assert_eq!(st, 413, "{e}");
    assert_eq!(asked_telegram_for_files(&l).await, Vec::<String>::new());
    let no_size =
        json!({"photo": [{"file_id": "F", "file_unique_id": "b", "width": 1, "height": 1}]});
    l.update(Link::message(ANNA, 7, no_size)).await;
    l.work().await;
    let (st, e) = open_file_link(&l, 1).await;
    assert_eq!(st, 413, "{e}");
    assert_eq!(
        asked_telegram_for_files(&l).await,
        [
            format!("/bot{BOT}/getFile"),
            format!("/file/bot{BOT}/photos/file_1.jpg")
        ]
    );
}

/// `BRIDGE_USER_LIMIT` messages a minute from one user reach the system; the first over is
/// answered politely (once, not per message), the rest go nowhere; others are not held up.
async fn one_user_over_the_limit_is_told_once_and_others_are_unaffected(kind: Kind) {
    let l = Link::open(kind, &[("BRIDGE_USER_LIMIT", "3")]).await;
    l.system_answers(vec![], None).await;
    // All within one minute: T0 starts one on the test clock; on moto (the real clock) a
    // minute about to end is waited out.
    let second = l.deps.clock.now_secs().rem_euclid(60);
    if second > 40 {
        tokio::time::sleep(Duration::from_secs((61 - second) as u64)).await;
    }
    for n in 1..=5 {
        l.say(ANNA, 300 + n, &format!("Анна {n}")).await;
    }
    l.say(BORIS, 400, "Борис").await;
    let mut rounds = 0;
    while l.to_system().await.len() < 4 && rounds < 40 {
        l.work().await;
        rounds += 1;
    }
    // Nothing more is waiting.
    assert_eq!(l.work().await, (0, 0));
    let mut got: Vec<String> = l
        .to_system()
        .await
        .iter()
        .map(|r| body_of(r)["content"].as_str().unwrap().to_string())
        .collect();
    got.sort();
    assert_eq!(got, ["Анна 1", "Анна 2", "Анна 3", "Борис"]);
    let told = zayavka::texts::fill(RU_BRIDGE.too_many, &[("n", "3")]);
    assert_eq!(texts_to(&l, ANNA).await, [told]);
    assert_eq!(texts_to(&l, BORIS).await, Vec::<String>::new());
    if kind == Kind::Embedded {
        // The next minute counts afresh.
        l.advance(60);
        l.say(ANNA, 306, "Анна 6").await;
        l.work().await;
        assert_eq!(
            body_of(l.to_system().await.last().unwrap())["content"],
            "Анна 6"
        );
    }
}

crate::both!(one_user_over_the_limit_is_told_once_and_others_are_unaffected);

/// The system verifies our calls with the Standard Webhooks reference library (PyPI
/// `standardwebhooks`), holding `BRIDGE_SIGNING_SECRET` (its text as the key) or, during a
/// rotation, `BRIDGE_SIGNING_SECRET_NEXT` (a `whsec_` one); a retry keeps the message's
/// `webhook-id`; a reply signed with the next secret is taken, one signed with neither is
/// not. Before, no `webhook-*` header was sent and the next secret was not read.
#[tokio::test]
async fn the_bridges_calls_verify_with_the_standard_webhooks_library_under_either_secret() {
    use crate::standard_webhooks::{Key, verify};
    const NEXT: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let l = Link::open(Kind::Embedded, &[("BRIDGE_SIGNING_SECRET_NEXT", NEXT)]).await;
    l.system_answers(vec![503], None).await;
    l.say(ANNA, 11, "Где мой заказ?").await;
    assert_eq!(l.work().await, (1, 1), "the system said 503");
    l.advance(5);
    assert_eq!(l.work().await, (1, 0));
    let got = l.to_system().await;
    assert_eq!(got.len(), 2);
    let now = l.deps.clock.now_ms() / 1000;
    for r in &got {
        let id = r.headers.get("webhook-id").unwrap().to_str().unwrap();
        assert_eq!(id, format!("{ANNA}-11"), "the message's id, on every try");
        assert_eq!(r.headers.get("x-zayavka-delivery").unwrap(), id);
        assert_eq!(verify(Key::Bytes(SIGNING.as_bytes()), r, now), Ok(()));
        assert_eq!(verify(Key::Whsec(NEXT), r, now), Ok(()));
        assert!(verify(Key::Bytes(b"another-signing-secret"), r, now).is_err());
        // Today's header, with the current secret only, as the system checks it now.
        let sig = r
            .headers
            .get("x-zayavka-signature")
            .unwrap()
            .to_str()
            .unwrap();
        let t = sig.strip_prefix("t=").unwrap().split(',').next().unwrap();
        assert_eq!(sig, format!("t={t},v1={}", expected_signature(t, &r.body)));
    }
    // The system signs its reply with the next secret already: taken.
    let sign_with = |key: &[u8], bytes: &[u8]| {
        let t = (l.deps.clock.now_ms() / 1000).to_string();
        let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
        mac.update(format!("{t}.").as_bytes());
        mac.update(bytes);
        let hex: String = mac
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        format!("t={t},v1={hex}")
    };
    let body =
        serde_json::to_vec(&json!({"client_id": "telegram_7001", "content": "В пути"})).unwrap();
    let stranger = sign_with(b"another-signing-secret", &body);
    assert_eq!(
        l.post_reply(REPLY_TOKEN, &body, Some(stranger)).await.0,
        401
    );
    let next = sign_with(NEXT.as_bytes(), &body);
    assert_eq!(l.post_reply(REPLY_TOKEN, &body, Some(next)).await.0, 202);
}
