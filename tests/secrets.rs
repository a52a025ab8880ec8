//! Secrets never show: the lead, support and helpdesk flows run with recognisable secrets —
//! the deployment's and a request's own, with services that fail and echo what they were
//! sent — and then every log line captured, every stored byte of the embedded database and
//! the `Debug` of every function's configuration are searched for them.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, Request, ResponseTemplate};
use zayavka::Deps;
use zayavka::http::{HttpFunction, dispatch};
use zayavka::ports::{Queue, SystemClock};
use zayavka::sqs_batch::QueueWorker;

use crate::apigw::{HttpInput, api_gateway_event};
use crate::support::{embedded, test_env, unique};

const API_KEY: &str = "SECRETAPIKEY0123456789abcdef";
const DEFAULT_BOT: &str = "111111:SECRETDEFAULTBOTTOKENabcdefgh";
const REQUEST_BOT: &str = "222222:SECRETREQUESTBOTTOKENabcdefg";
const AMO_TOKEN: &str = "SECRETAMOTOKEN0123456789";
const HOOK_SECRET: &str = "SECRETHOOKSIGNINGKEY01234";
const BITRIX_CODE: &str = "SECRETBITRIXCODE0123";
const SUPPORT_BOT: &str = "333333:SECRETSUPPORTBOTTOKENabcdef";
const SUPPORT_HOOK: &str = "SECRET_SUPPORT_WEBHOOK_0123";
const HASH_SECRET: &str = "SECRETUSERHASHKEY0123456";
const MAIN_BOT: &str = "444444:SECRETMAINBOTTOKENabcdefghi";
const MAIN_HOOK: &str = "SECRET_MAIN_WEBHOOK_012345";
const OKDESK_TOKEN: &str = "SECRETOKDESKTOKEN0123456";
const OKDESK_HOOK: &str = "SECRET_OKDESK_WEBHOOK_TOKEN_0123456789ab";
const STAFF_BOT: &str = "555555:SECRETSTAFFBOTTOKENabcdefghi";
const STAFF_HOOK: &str = "SECRET_STAFF_WEBHOOK_0123456";

const BRIDGE_BOT: &str = "666666:SECRETBRIDGEBOTTOKENabcdefgh";
const BRIDGE_HOOK: &str = "SECRET_BRIDGE_WEBHOOK_01234";
const BRIDGE_SIGNING: &str = "SECRETBRIDGESIGNINGKEY0123";

const ALL: [&str; 18] = [
    BRIDGE_BOT,
    BRIDGE_HOOK,
    BRIDGE_SIGNING,
    STAFF_BOT,
    STAFF_HOOK,
    API_KEY,
    DEFAULT_BOT,
    REQUEST_BOT,
    AMO_TOKEN,
    HOOK_SECRET,
    BITRIX_CODE,
    SUPPORT_BOT,
    SUPPORT_HOOK,
    HASH_SECRET,
    MAIN_BOT,
    MAIN_HOOK,
    OKDESK_TOKEN,
    OKDESK_HOOK,
];

/// Every log line of this test's thread.
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

/// A service that fails and echoes back everything it was sent: URL, headers, body.
fn echo(status: u16) -> impl Fn(&Request) -> ResponseTemplate {
    move |req: &Request| {
        let headers: Vec<String> = req
            .headers
            .iter()
            .map(|(k, v)| format!("{k}: {}", v.to_str().unwrap_or("")))
            .collect();
        ResponseTemplate::new(status).set_body_json(json!({
            "description": format!("you sent {} {} {}", req.url, headers.join("; "), String::from_utf8_lossy(&req.body)),
        }))
    }
}

fn secrets_in(haystack: &str) -> Vec<&'static str> {
    ALL.iter()
        .copied()
        .filter(|s| haystack.contains(s) || haystack.contains(s.split(':').next_back().unwrap()))
        .collect()
}

async fn call(
    f: &dyn HttpFunction,
    route: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> (u16, String) {
    // The one path parameter these routes have is the path's last part.
    let params = match route.rsplit_once('{') {
        Some((_, name)) => [(
            name.trim_end_matches('}').to_string(),
            path.rsplit('/').next().unwrap_or_default().to_string(),
        )]
        .into(),
        None => Default::default(),
    };
    let (method, _) = route.split_once(' ').unwrap();
    let event = api_gateway_event(HttpInput {
        method,
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
    let r = dispatch(f, crate::apigw::lambda_request(event)).await;
    (r.status_code, r.body)
}

#[tokio::test]
async fn no_secret_reaches_a_log_line_a_stored_byte_an_answer_or_a_debug_print() {
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_max_level(tracing::Level::TRACE)
        .with_ansi(false)
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let fake = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/api/v4/leads/complex"))
        .respond_with(echo(401))
        .mount(&fake)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("/rest/1/{BITRIX_CODE}/crm.lead.add.json")))
        .respond_with(echo(400))
        .mount(&fake)
        .await;
    Mock::given(method("POST"))
        .and(path("/hook"))
        .respond_with(echo(422))
        .mount(&fake)
        .await;
    // The Bot API and Okdesk: down, echoing.
    Mock::given(method("POST"))
        .respond_with(echo(502))
        .mount(&fake)
        .await;
    Mock::given(method("GET"))
        .respond_with(echo(500))
        .mount(&fake)
        .await;

    let store = embedded(zayavka::queues::catalogue());
    let deps = Deps::embedded(&store.parts, Arc::new(SystemClock));
    let okdesk_api = format!("{}/api/v1", fake.uri());
    let env = test_env(&[
        ("ZAYAVKA_API_KEYS", API_KEY),
        ("TELEGRAM_BOT_TOKEN", DEFAULT_BOT),
        ("TELEGRAM_API_BASE", &fake.uri()),
        ("AMOCRM_BASE_URL", &fake.uri()),
        ("RETRY_BASE_DELAY_SECONDS", "0"),
        ("TELEGRAM_SUPPORT_BOT_TOKEN", SUPPORT_BOT),
        ("TELEGRAM_SUPPORT_WEBHOOK_SECRET", SUPPORT_HOOK),
        ("TELEGRAM_ADMIN_CHAT_ID", "-100777"),
        ("TELEGRAM_SUPPORT_BOT_USERNAME", "zayavka_support_bot"),
        ("SUPPORT_USER_HASH_SECRET", HASH_SECRET),
        ("TELEGRAM_MAIN_BOT_TOKEN", MAIN_BOT),
        ("TELEGRAM_MAIN_WEBHOOK_SECRET", MAIN_HOOK),
        ("OKDESK_API_URL", &okdesk_api),
        ("OKDESK_API_TOKEN", OKDESK_TOKEN),
        ("OKDESK_WEBHOOK_TOKEN", OKDESK_HOOK),
        ("OKDESK_TIMEOUT_SECS", "1"),
        ("TELEGRAM_STAFF_BOT_TOKEN", STAFF_BOT),
        ("TELEGRAM_STAFF_WEBHOOK_SECRET", STAFF_HOOK),
        ("TELEGRAM_STAFF_BOT_USERNAME", "zayavka_staff_bot"),
        ("TELEGRAM_BRIDGE_BOT_TOKEN", BRIDGE_BOT),
        ("TELEGRAM_BRIDGE_WEBHOOK_SECRET", BRIDGE_HOOK),
        ("BRIDGE_API_URL", &format!("{}/api/messages/", fake.uri())),
        (
            "BRIDGE_REPLY_TOKEN",
            "reply_token_shown_to_the_system_0123456789",
        ),
        ("BRIDGE_SIGNING_SECRET", BRIDGE_SIGNING),
        ("ZAYAVKA_PUBLIC_URL", "https://api.example"),
    ]);
    let wiring = zayavka::deps::Wiring {
        deps: deps.clone(),
        env: &env,
        queue_prefix: "zayavka-".into(),
    };
    let submit = lead_submit::from_env(&wiring).unwrap();
    let worker = integration_worker::from_env(&wiring).unwrap();
    let webhook = telegram_webhook::from_env(&wiring).unwrap();
    let form = support_form::from_env(&wiring).unwrap();
    let okdesk = okdesk_webhook::from_env(&wiring).unwrap();
    let notifier = notification_worker::from_env(&wiring).unwrap();
    let tickets = ticket_api::from_env(&wiring).unwrap();
    let bridge_worker = bridge_worker::from_env(&wiring).unwrap();

    // Leads: the request's own credentials, every service refusing and echoing them.
    let lead_id = unique("secret-");
    let request = json!({
        "lead_id": lead_id,
        "lead": {"name": "Анна", "phone": "+79990001122"},
        "integrations": [
            {"type": "amocrm", "tries": 1},
            {"type": "telegram", "settings": {"chat_id": "-100123"}, "tries": 1},
            {"type": "bitrix24", "tries": 1},
            {"type": "webhook", "settings": {"url": format!("{}/hook", fake.uri())}, "tries": 1}
        ],
        "credentials": {
            "amocrm": {"subdomain": "acme", "access_token": AMO_TOKEN},
            "telegram": {"bot_token": REQUEST_BOT},
            "bitrix24": {"webhook_url": format!("{}/rest/1/{BITRIX_CODE}/", fake.uri())},
            "webhook": {"secret": HOOK_SECRET}
        }
    });
    let auth = format!("Bearer {API_KEY}");
    let (status, answer) = call(
        &submit,
        lead_submit::SUBMIT,
        "/api/integrations/send-batch",
        &[("authorization", &auth)],
        &serde_json::to_vec(&request).unwrap(),
    )
    .await;
    assert_eq!(status, 202, "{answer}");
    let mut answers = vec![answer];
    for queue in zayavka::queues::INTEGRATIONS {
        let got = store
            .parts
            .queue
            .receive(queue, 10, Duration::ZERO)
            .await
            .unwrap();
        if !got.is_empty() {
            let event = zayavka_cli::events::sqs_event(&format!("zayavka-{queue}"), &got).unwrap();
            let response = worker.handle(event).await;
            // A job's credentials travel in its message (on an encrypted queue) and go with
            // it: the event source deletes what the worker handled.
            for m in &got {
                if !response
                    .batch_item_failures
                    .iter()
                    .any(|f| f.item_identifier == m.message_id)
                {
                    store
                        .parts
                        .queue
                        .delete(queue, &m.receipt_handle)
                        .await
                        .unwrap();
                }
            }
        }
    }
    let (status, lead) = call(
        &submit,
        lead_submit::STATUS,
        &format!("/api/leads/{lead_id}"),
        &[("authorization", &auth)],
        b"",
    )
    .await;
    assert_eq!(status, 200, "{lead}");
    let lead_json: Value = serde_json::from_str(&lead).unwrap();
    for i in lead_json["integrations"].as_array().unwrap() {
        assert_eq!(i["status"], "failed", "{i}");
    }
    answers.push(lead);

    // Support: a site user proves who they are; the admins' chat is down.
    let hash = support_form::user_hash(HASH_SECRET, "42");
    let body = serde_json::to_vec(&json!({"message": "Вопрос", "name": "Ольга",
        "email": "olga@example.com", "user_id": "42", "user_hash": hash}))
    .unwrap();
    let (status, answer) = call(
        &form,
        support_form::SUBMIT,
        "/api/feedback/submit",
        &[("content-type", "application/json")],
        &body,
    )
    .await;
    assert_eq!(status, 200, "{answer}");
    answers.push(answer);
    // The notification worker tries again (the Bot API still down).
    let got = store
        .parts
        .queue
        .receive("notifications", 10, Duration::ZERO)
        .await
        .unwrap();
    let event = zayavka_cli::events::sqs_event("zayavka-notifications", &got).unwrap();
    notifier.handle(event).await;

    // Helpdesk: a client writes; Okdesk and the Bot API fail and echo.
    let update = json!({"update_id": 5, "message": {"message_id": 1, "date": 1700000000,
        "chat": {"id": 77, "type": "private"}, "from": {"id": 77, "is_bot": false, "first_name": "A"},
        "text": "/start"}});
    let path = "/telegram/main/webhook";
    let event = api_gateway_event(HttpInput {
        method: "POST",
        route_key: telegram_webhook::ROUTE,
        path,
        raw_query: "",
        query: Vec::new(),
        headers: vec![("x-telegram-bot-api-secret-token".into(), MAIN_HOOK.into())],
        path_params: [("bot".to_string(), "main".to_string())].into(),
        body: &serde_json::to_vec(&update).unwrap(),
        source_ip: "149.154.167.220",
        now_ms: 0,
    })
    .unwrap();
    let r = dispatch(&webhook, crate::apigw::lambda_request(event)).await;
    answers.push(r.body);
    // Okdesk's webhook, with a wrong token and with the right one.
    let hook_body = br#"{"event":{"event_type":"new_ticket_status"},"issue":{"id":1}}"#;
    for token in ["wrong-token-wrong-token-wrong-token-1234", OKDESK_HOOK] {
        let p = format!("/okdesk/webhook/{token}");
        let event = api_gateway_event(HttpInput {
            method: "POST",
            route_key: okdesk_webhook::ROUTE,
            path: &p,
            raw_query: "",
            query: Vec::new(),
            headers: vec![("content-type".into(), "application/json".into())],
            path_params: [("token".to_string(), token.to_string())].into(),
            body: hook_body,
            source_ip: "203.0.113.20",
            now_ms: 0,
        })
        .unwrap();
        answers.push(
            dispatch(&okdesk, crate::apigw::lambda_request(event))
                .await
                .body,
        );
    }

    // Tickets: the API (with its key), a ticket offered through the failing Bot API, the
    // staff bot's webhook, and the /executors page's sign-in (its cookie included).
    let bearer = format!("Bearer {API_KEY}");
    let json_api = [
        ("content-type", "application/json"),
        ("authorization", bearer.as_str()),
    ];
    for (route, path, body) in [
        (
            ticket_api::USERS_POST,
            "/api/users",
            json!({"name": "Исполнитель", "telegram_id": 88}),
        ),
        (
            ticket_api::CATEGORIES_POST,
            "/api/categories",
            json!({"name": "IT", "manager_user_ids": [1]}),
        ),
        (
            ticket_api::EXECUTORS_POST,
            "/api/executors",
            json!({"user_id": 1, "category_id": 1}),
        ),
        (
            ticket_api::TICKETS_POST,
            "/api/tickets",
            json!({"category_id": 1, "author_user_id": 1, "description": "Не печатает"}),
        ),
        (
            ticket_api::USER_LINK,
            "/api/users/1/telegram-link",
            json!({"rebind": true}),
        ),
    ] {
        let (status, answer) = call(
            &tickets,
            route,
            path,
            &json_api,
            &serde_json::to_vec(&body).unwrap(),
        )
        .await;
        assert!(status < 300, "{route}: {answer}");
        answers.push(answer);
    }
    let got = store
        .parts
        .queue
        .receive("notifications", 10, Duration::ZERO)
        .await
        .unwrap();
    let event = zayavka_cli::events::sqs_event("zayavka-notifications", &got).unwrap();
    notifier.handle(event).await;
    let staff_update = json!({"update_id": 6, "callback_query": {"id": "q1", "chat_instance": "c",
        "data": "tk:t:1", "from": {"id": 88, "is_bot": false, "first_name": "И"},
        "message": {"message_id": 3, "date": 1700000000, "chat": {"id": 88, "type": "private"}, "text": "x"}}});
    let (_, answer) = call(
        &webhook,
        telegram_webhook::ROUTE,
        "/telegram/staff/webhook",
        &[("x-telegram-bot-api-secret-token", STAFF_HOOK)],
        &serde_json::to_vec(&staff_update).unwrap(),
    )
    .await;
    answers.push(answer);
    let login = format!("action=login&key={API_KEY}");
    let event = api_gateway_event(HttpInput {
        method: "POST",
        route_key: ticket_api::PAGE_POST,
        path: "/executors",
        raw_query: "",
        query: Vec::new(),
        headers: vec![(
            "content-type".into(),
            "application/x-www-form-urlencoded".into(),
        )],
        path_params: Default::default(),
        body: login.as_bytes(),
        source_ip: "203.0.113.9",
        now_ms: 0,
    })
    .unwrap();
    let signed_in = dispatch(&tickets, crate::apigw::lambda_request(event)).await;
    assert_eq!(signed_in.status_code, 303);
    answers.push(format!("{:?}", signed_in));

    // The bridge: a user's photo goes to the failing (echoing) system, retried.
    let photo = json!({"update_id": 7, "message": {"message_id": 9, "date": 1700000000,
        "chat": {"id": 91, "type": "private"}, "from": {"id": 91, "is_bot": false, "first_name": "Б"},
        "caption": "чек", "photo": [{"file_id": "FILEID-1", "file_unique_id": "u", "width": 1, "height": 1}]}});
    let (_, answer) = call(
        &webhook,
        telegram_webhook::ROUTE,
        "/telegram/bridge/webhook",
        &[("x-telegram-bot-api-secret-token", BRIDGE_HOOK)],
        &serde_json::to_vec(&photo).unwrap(),
    )
    .await;
    answers.push(answer);
    let got = store
        .parts
        .queue
        .receive("bridge-inbound.fifo", 10, Duration::ZERO)
        .await
        .unwrap();
    let event = zayavka_cli::events::sqs_event("zayavka-bridge-inbound.fifo", &got).unwrap();
    bridge_worker.handle(event).await;

    // Every function's configuration, printed as a careless log line would.
    let configs = [
        format!("{:?}", lead_submit::Config::read(&env).unwrap()),
        format!(
            "{:?}",
            integration_worker::config(&env, String::new()).unwrap()
        ),
        format!("{:?}", telegram_webhook::Config::read(&env).unwrap()),
        format!("{:?}", notification_worker::Config::read(&env).unwrap()),
        format!("{:?}", okdesk_webhook::Config::read(&env).unwrap()),
        format!("{:?}", ticket_api::Config::read(&env).unwrap()),
        format!("{:?}", sweeper::Config::read(&env).unwrap()),
        format!("{:?}", bridge_api::Config::read(&env).unwrap()),
        format!("{:?}", bridge_worker::Config::read(&env).unwrap()),
        format!(
            "{:?}",
            zayavka::support::config::SiteConfig::read_if_configured(
                &mut zayavka::config::EnvReader::new(&env)
            )
        ),
    ];

    drop(_guard);
    let logs = String::from_utf8_lossy(&logs.0.lock().unwrap()).to_string();
    assert!(
        logs.contains("delivery failed for good"),
        "the flows ran and logged: {logs}"
    );
    let leaking: Vec<&str> = logs.lines().filter(|l| !secrets_in(l).is_empty()).collect();
    assert!(leaking.is_empty(), "in the logs: {leaking:#?}");
    for a in &answers {
        assert!(secrets_in(a).is_empty(), "in an answer: {a}");
    }
    for c in &configs {
        assert!(secrets_in(c).is_empty(), "in a Debug print: {c}");
    }
    // Everything stored: every item of the table and every message of every queue.
    let db = rusqlite::Connection::open(store._dir.path().join("zayavka.db")).unwrap();
    let mut stored = Vec::new();
    for sql in [
        "SELECT pk || ' ' || sk || ' ' || body FROM items",
        "SELECT body || ' ' || attributes FROM queue_messages",
    ] {
        let mut q = db.prepare(sql).unwrap();
        let rows = q.query_map([], |r| r.get::<_, String>(0)).unwrap();
        stored.extend(rows.map(Result::unwrap));
    }
    assert!(
        stored.len() > 20,
        "the flows stored their state: {}",
        stored.len()
    );
    let leaking: Vec<&String> = stored
        .iter()
        .filter(|i| !secrets_in(i).is_empty())
        .collect();
    assert!(leaking.is_empty(), "stored: {leaking:#?}");
}
