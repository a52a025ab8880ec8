//! Secrets never show: the lead, support and helpdesk flows run with recognisable secrets —
//! the deployment's and a request's own, with services that fail and echo what they were
//! sent — and then every log line captured, every stored byte of the embedded database and
//! the `Debug` of every function's configuration are searched for them. Twice: with the
//! deployment's secrets in the environment (`zayavka serve`), and as in Lambda, stored with
//! `zayavka secrets set` in Parameter Store (moto) and read by each function at its start.

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
const DEFAULT_BOT: &str = "111111:SECRETDEFAULTBOTTOKENabcdefghijkl";
const REQUEST_BOT: &str = "222222:SECRETREQUESTBOTTOKENabcdefghijkl";
const AMO_TOKEN: &str = "SECRETAMOTOKEN0123456789";
const HOOK_SECRET: &str = "SECRETHOOKSIGNINGKEY01234";
const BITRIX_CODE: &str = "SECRETBITRIXCODE0123";
const SUPPORT_BOT: &str = "333333:SECRETSUPPORTBOTTOKENabcdefghijkl";
const SUPPORT_HOOK: &str = "SECRET_SUPPORT_WEBHOOK_0123";
const HASH_SECRET: &str = "SECRETUSERHASHKEY0123456";
const MAIN_BOT: &str = "444444:SECRETMAINBOTTOKENabcdefghijklmno";
const MAIN_HOOK: &str = "SECRET_MAIN_WEBHOOK_012345";
const OKDESK_TOKEN: &str = "SECRETOKDESKTOKEN0123456";
const OKDESK_HOOK: &str = "SECRET_OKDESK_WEBHOOK_TOKEN_0123456789ab";
const STAFF_BOT: &str = "555555:SECRETSTAFFBOTTOKENabcdefghijklmn";
const STAFF_HOOK: &str = "SECRET_STAFF_WEBHOOK_0123456";

const BRIDGE_BOT: &str = "666666:SECRETBRIDGEBOTTOKENabcdefghijklm";
const BRIDGE_HOOK: &str = "SECRET_BRIDGE_WEBHOOK_01234";
const BRIDGE_SIGNING: &str = "SECRETBRIDGESIGNINGKEY0123";

const REPLY_TOKEN: &str = "reply_token_shown_to_the_system_0123456789";

/// Where the deployment's secrets come from.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Source {
    /// The environment, as `zayavka serve` reads them.
    Environment,
    /// Parameter Store (moto), as each function reads its own at start in Lambda.
    ParameterStore,
}

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
    flows(Source::Environment).await;
}

#[tokio::test]
async fn no_secret_read_from_parameter_store_reaches_a_log_line_a_stored_byte_an_answer_or_a_debug_print()
 {
    flows(Source::ParameterStore).await;
}

/// Each function's environment: `all` itself, or what the function reads at its start in
/// Lambda — its secrets from Parameter Store (stored there with `zayavka secrets set`
/// under a stack of its own), the rest from `all` without any secret.
struct Environments {
    all: std::collections::HashMap<String, String>,
    stored: Option<(String, zayavka::adapters::SsmParameters)>,
}

impl Environments {
    async fn new(source: Source, all: std::collections::HashMap<String, String>) -> Self {
        if source == Source::Environment {
            return Self { all, stored: None };
        }
        let ssm = zayavka::adapters::SsmParameters::new(
            zayavka::deps::AwsClients::new(&crate::support::moto_config("unused", ""))
                .await
                .ssm,
        );
        let stack = unique("secrets-");
        let mut plain = all;
        for s in zayavka::secrets::CATALOGUE {
            if let Some(value) = plain.remove(s.name) {
                let said = zayavka_cli::secrets::set(
                    &ssm,
                    &stack,
                    s.name,
                    &zayavka::secret::Secret(value.clone()),
                )
                .await
                .unwrap_or_else(|e| panic!("{}: {e}", s.name));
                assert!(!said.join("\n").contains(&value), "{said:?}");
            }
        }
        plain.insert(
            zayavka::secrets::PATH_VAR.into(),
            zayavka::secrets::stack_path(&stack),
        );
        plain.insert(
            zayavka::secrets::BOTS_VAR.into(),
            zayavka::telegram::webhook::BOTS.join(","),
        );
        Self {
            all: plain,
            stored: Some((stack, ssm)),
        }
    }

    /// What `function` (a binary) sees.
    async fn of(&self, function: &str) -> Box<dyn zayavka::config::EnvSource + '_> {
        match &self.stored {
            None => Box::new(self.all.clone()),
            Some((stack, ssm)) => Box::new(
                zayavka::secrets::load(
                    function,
                    &zayavka::secrets::stack_path(stack),
                    &self.all,
                    ssm,
                )
                .await
                .unwrap_or_else(|e| panic!("{function}: {e}")),
            ),
        }
    }
}

async fn flows(source: Source) {
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
    let settings = test_env(&[
        // An admin key: it signs in to /executors and mints binding links below.
        ("ZAYAVKA_API_KEYS", &format!("admin:{API_KEY}")),
        ("TELEGRAM_BOT_TOKEN", DEFAULT_BOT),
        ("TELEGRAM_API_BASE", &fake.uri()),
        ("AMOCRM_BASE_URL", &fake.uri()),
        ("RETRY_SCHEDULE", "0s,0s"),
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
        ("BRIDGE_REPLY_TOKEN", REPLY_TOKEN),
        ("BRIDGE_SIGNING_SECRET", BRIDGE_SIGNING),
        ("ZAYAVKA_PUBLIC_URL", "https://api.example"),
    ]);
    let envs = Environments::new(source, settings).await;
    let mut env = std::collections::BTreeMap::new();
    for function in [
        "lead-submit",
        "integration-worker",
        "telegram-webhook",
        "support-form",
        "okdesk-webhook",
        "notification-worker",
        "ticket-api",
        "sweeper",
        "bridge-api",
        "bridge-worker",
    ] {
        env.insert(function, envs.of(function).await);
    }
    let wiring = |function: &str| zayavka::deps::Wiring {
        deps: deps.clone(),
        env: env[function].as_ref(),
        queue_prefix: "zayavka-".into(),
    };
    let submit = lead_submit::from_env(&wiring("lead-submit")).unwrap();
    let worker = integration_worker::from_env(&wiring("integration-worker")).unwrap();
    let webhook = telegram_webhook::from_env(&wiring("telegram-webhook")).unwrap();
    let form = support_form::from_env(&wiring("support-form")).unwrap();
    let okdesk = okdesk_webhook::from_env(&wiring("okdesk-webhook")).unwrap();
    let notifier = notification_worker::from_env(&wiring("notification-worker")).unwrap();
    let tickets = ticket_api::from_env(&wiring("ticket-api")).unwrap();
    let bridge_worker = bridge_worker::from_env(&wiring("bridge-worker")).unwrap();

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
    let e = |function: &str| env[function].as_ref();
    let mut configs = vec![
        format!("{:?}", lead_submit::Config::read(e("lead-submit")).unwrap()),
        format!(
            "{:?}",
            integration_worker::config(e("integration-worker"), String::new()).unwrap()
        ),
        format!(
            "{:?}",
            telegram_webhook::Config::read(e("telegram-webhook")).unwrap()
        ),
        format!(
            "{:?}",
            notification_worker::Config::read(e("notification-worker")).unwrap()
        ),
        format!(
            "{:?}",
            okdesk_webhook::Config::read(e("okdesk-webhook")).unwrap()
        ),
        format!("{:?}", ticket_api::Config::read(e("ticket-api")).unwrap()),
        format!("{:?}", sweeper::Config::read(e("sweeper")).unwrap()),
        format!("{:?}", bridge_api::Config::read(e("bridge-api")).unwrap()),
        format!(
            "{:?}",
            bridge_worker::Config::read(e("bridge-worker")).unwrap()
        ),
        format!(
            "{:?}",
            zayavka::support::config::SiteConfig::read_if_configured(
                &mut zayavka::config::EnvReader::new(e("support-form"))
            )
        ),
    ];
    if let Some((stack, ssm)) = &envs.stored {
        // What the functions hold from Parameter Store, and the deployer's own view of it.
        let path = zayavka::secrets::stack_path(stack);
        for function in env.keys() {
            let loaded = zayavka::secrets::load(function, &path, &envs.all, ssm)
                .await
                .unwrap();
            configs.push(format!("{loaded:?}"));
        }
        let all = zayavka::secrets::load_all(&path, &zayavka::config::ProcessEnv, ssm)
            .await
            .unwrap();
        assert!(all.has("BRIDGE_SIGNING_SECRET"), "{all:?}");
        configs.push(format!("{all:?}"));
        configs.extend(zayavka_cli::secrets::list(ssm, stack).await.unwrap());
    }

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
    // Everything stored: every item of the table and every message of every queue but a
    // job's own — the request's credentials travel in the job's message on its encrypted
    // integration queue, and a failed job's message is kept there for replay.
    let db = rusqlite::Connection::open(store._dir.path().join("zayavka.db")).unwrap();
    let mut stored = Vec::new();
    for sql in [
        "SELECT pk || ' ' || sk || ' ' || body FROM items",
        "SELECT body || ' ' || attributes FROM queue_messages WHERE queue NOT LIKE '%integration-%'",
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

/// The environment a function's start reads, noting each name it asks for.
struct Asked<'a> {
    env: &'a std::collections::HashMap<String, String>,
    names: Mutex<std::collections::BTreeSet<String>>,
}

impl zayavka::config::EnvSource for Asked<'_> {
    fn var(&self, name: &str) -> Option<String> {
        self.names.lock().unwrap().insert(name.to_string());
        self.env.get(name).cloned()
    }
}

/// Read but never used, so never given (their roles, as their environments before, lack
/// them): the notification worker reads the deployment's credentials as one
/// (`credentials.rs`) and sends only with their bot; the ticket API and the sweeper read the
/// executor workflow's settings as one (`tickets/config.rs`) and never send with its bot.
const UNUSED: &[(&str, &str)] = &[
    ("notification-worker", "AMOCRM_ACCESS_TOKEN"),
    ("notification-worker", "BITRIX24_WEBHOOK_URL"),
    ("ticket-api", "TELEGRAM_STAFF_BOT_TOKEN"),
    ("sweeper", "TELEGRAM_STAFF_BOT_TOKEN"),
];

/// The catalogue says which functions read each secret, and so which parameters each role
/// may read: it must be what each function's start really asks for, with everything set.
#[tokio::test]
async fn the_catalogue_names_exactly_the_secrets_each_function_reads() {
    let store = embedded(zayavka::queues::catalogue());
    let deps = Deps::embedded(&store.parts, Arc::new(SystemClock));
    let full = test_env(&[
        ("ZAYAVKA_API_KEYS", &format!("admin:{API_KEY}")),
        ("TELEGRAM_BOT_TOKEN", DEFAULT_BOT),
        ("TELEGRAM_CHAT_ID", "-100123"),
        ("NOTIFY_TELEGRAM_CHAT_ID", "-100123"),
        ("AMOCRM_SUBDOMAIN", "acme"),
        ("AMOCRM_ACCESS_TOKEN", AMO_TOKEN),
        (
            "BITRIX24_WEBHOOK_URL",
            "https://acme.bitrix24.ru/rest/1/abc/",
        ),
        ("TELEGRAM_MAIN_BOT_TOKEN", MAIN_BOT),
        ("TELEGRAM_MAIN_WEBHOOK_SECRET", MAIN_HOOK),
        ("OKDESK_API_URL", "https://acme.okdesk.ru/api/v1"),
        ("OKDESK_API_TOKEN", OKDESK_TOKEN),
        ("OKDESK_WEBHOOK_TOKEN", OKDESK_HOOK),
        ("TELEGRAM_SUPPORT_BOT_TOKEN", SUPPORT_BOT),
        ("TELEGRAM_SUPPORT_WEBHOOK_SECRET", SUPPORT_HOOK),
        ("TELEGRAM_ADMIN_CHAT_ID", "-100777"),
        ("SUPPORT_USER_HASH_SECRET", HASH_SECRET),
        ("TELEGRAM_STAFF_BOT_TOKEN", STAFF_BOT),
        ("TELEGRAM_STAFF_WEBHOOK_SECRET", STAFF_HOOK),
        ("TELEGRAM_BRIDGE_BOT_TOKEN", BRIDGE_BOT),
        ("TELEGRAM_BRIDGE_WEBHOOK_SECRET", BRIDGE_HOOK),
        ("BRIDGE_API_URL", "https://system.example/api/messages/"),
        ("BRIDGE_REPLY_TOKEN", REPLY_TOKEN),
        ("BRIDGE_SIGNING_SECRET", BRIDGE_SIGNING),
    ]);
    type Start = fn(&zayavka::deps::Wiring<'_>) -> Result<(), String>;
    fn ok<T, E: std::fmt::Display>(r: Result<T, E>) -> Result<(), String> {
        r.map(|_| ()).map_err(|e| e.to_string())
    }
    let starts: [(&str, Start); 11] = [
        ("lead-submit", |w| ok(lead_submit::from_env(w))),
        ("support-form", |w| ok(support_form::from_env(w))),
        ("telegram-webhook", |w| ok(telegram_webhook::from_env(w))),
        ("okdesk-webhook", |w| ok(okdesk_webhook::from_env(w))),
        ("integration-worker", |w| {
            ok(integration_worker::from_env(w))
        }),
        ("batch-tracker", |w| ok(batch_tracker::from_env(w))),
        ("notification-worker", |w| {
            ok(notification_worker::from_env(w))
        }),
        ("sweeper", |w| ok(sweeper::from_env(w))),
        ("ticket-api", |w| ok(ticket_api::from_env(w))),
        ("bridge-worker", |w| ok(bridge_worker::from_env(w))),
        ("bridge-api", |w| ok(bridge_api::from_env(w))),
    ];
    for (function, start) in starts {
        let asked = Asked {
            env: &full,
            names: Mutex::default(),
        };
        let w = zayavka::deps::Wiring {
            deps: deps.clone(),
            env: &asked,
            queue_prefix: "zayavka-".into(),
        };
        start(&w).unwrap_or_else(|e| panic!("{function}: {e}"));
        let read: Vec<String> = asked
            .names
            .lock()
            .unwrap()
            .iter()
            .filter(|n| zayavka::secrets::spec(n).is_some())
            .filter(|n| !UNUSED.contains(&(function, n.as_str())))
            .cloned()
            .collect();
        let catalogued: Vec<String> = {
            let mut v: Vec<String> = zayavka::secrets::of_function(function)
                .map(|s| s.name.to_string())
                .collect();
            v.sort();
            v
        };
        assert_eq!(read, catalogued, "{function}");
    }
}

/// A Lambda start as `main.rs` makes it (`Wiring::lambda`): the path from the environment,
/// the SSM client from the AWS settings, the function's own secrets read once; a secret left
/// in the environment, or one not stored, stops the start without showing a value.
#[tokio::test]
async fn a_lambda_start_reads_its_secrets_from_parameter_store_and_nowhere_else() {
    let moto = crate::support::moto_config(&unique("start-t-"), &format!("{}-", unique("start-q")));
    zayavka_cli::admin::init_aws(&moto, &zayavka::queues::catalogue())
        .await
        .expect("init moto");
    let ssm =
        zayavka::adapters::SsmParameters::new(zayavka::deps::AwsClients::new(&moto).await.ssm);
    let stack = unique("start-");
    let key = "start-admin-key-0123456789abcdef";
    zayavka_cli::secrets::set(
        &ssm,
        &stack,
        "ZAYAVKA_API_KEYS",
        &zayavka::secret::Secret(format!("admin:{key}")),
    )
    .await
    .unwrap();
    let env_for = |stack: &str| {
        std::collections::HashMap::from([
            ("TABLE_NAME".to_string(), moto.table_name.clone()),
            ("QUEUE_NAME_PREFIX".to_string(), moto.queue_prefix.clone()),
            ("AWS_ENDPOINT_URL".to_string(), crate::support::moto_url()),
            ("AWS_REGION".to_string(), "us-east-1".to_string()),
            (
                "BATCH_TRACKER_FUNCTION".to_string(),
                "start-tracker".to_string(),
            ),
            (
                zayavka::secrets::PATH_VAR.to_string(),
                zayavka::secrets::stack_path(stack),
            ),
        ])
    };
    let env = env_for(&stack);
    let wiring = zayavka::deps::Wiring::lambda("lead-submit", &env)
        .await
        .expect("starts with its key from Parameter Store");
    let f = lead_submit::from_env(&wiring).expect("configured");
    for (auth, status) in [
        (format!("Bearer {key}"), 404),
        ("Bearer not-the-key-0123456789".to_string(), 401),
    ] {
        let event = api_gateway_event(HttpInput {
            method: "GET",
            route_key: lead_submit::STATUS,
            path: "/api/leads/none",
            raw_query: "",
            query: Vec::new(),
            headers: vec![("authorization".into(), auth)],
            path_params: [("lead_id".to_string(), "none".to_string())].into(),
            body: b"",
            source_ip: "203.0.113.9",
            now_ms: 0,
        })
        .unwrap();
        let r = dispatch(&f, crate::apigw::lambda_request(event)).await;
        assert_eq!(r.status_code, status, "{}", r.body);
    }

    // The key in the environment as well: refused, named, not shown.
    let mut doubled = env_for(&stack);
    doubled.insert("ZAYAVKA_API_KEYS".into(), format!("admin:{key}"));
    let err = match zayavka::deps::Wiring::lambda("lead-submit", &doubled).await {
        Ok(_) => panic!("a secret in the environment must stop the start"),
        Err(e) => e.to_string(),
    };
    assert!(
        err.contains("ZAYAVKA_API_KEYS") && !err.contains(key),
        "{err}"
    );

    // A stack where it was never stored: the start says how to store it.
    let empty = env_for(&unique("nothing-"));
    let err = match zayavka::deps::Wiring::lambda("lead-submit", &empty).await {
        Ok(_) => panic!("a missing required secret must stop the start"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("zayavka secrets set"), "{err}");
}
