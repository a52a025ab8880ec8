//! Every route of every HTTP function × {no credential, a wrong one, the right one with each
//! API key scope}: the status each gets, and that a refused request stores and queues
//! nothing. A route that is not in the table fails the test: a new route joins it by adding
//! a row. For a route not proven by an API key, the three scopes' columns are all "the right
//! credential".

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::AtomicI64;

use serde_json::json;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer, ResponseTemplate};
use zayavka::Deps;
use zayavka::http::{HttpFunction, dispatch};
use zayavka::ports::{Queue, SystemClock};

use crate::apigw::{HttpInput, api_gateway_event};
use crate::support::{EmbeddedStore, embedded, test_env};

/// A plain key is a `leads` key (a website's).
const LEADS_KEY: &str = "matrix-leads-key-0123456789";
const TICKETS_KEY: &str = "matrix-tickets-key-0123456789";
const ADMIN_KEY: &str = "matrix-admin-key-0123456789abcdef";
const BOT_SECRET: &str = "matrix_support_secret-1";
const OKDESK_HOOK: &str = "matrix_okdesk_hook_token_0123456789abcdef";
const HASH_SECRET: &str = "matrix-user-hash-secret";
const BRIDGE_TOKEN: &str = "matrix_bridge_reply_token_0123456789abcdef";
const BRIDGE_SIGNING: &str = "matrix_bridge_signing_secret-1";

/// How a route is proven: what "no", "wrong" and "right" mean for it.
#[derive(Debug, Clone, Copy)]
enum Proof {
    /// `Authorization: Bearer <API key>`.
    Bearer,
    /// `X-Telegram-Bot-Api-Secret-Token`.
    TelegramSecret,
    /// The last part of the path (Okdesk's webhook token).
    PathToken,
    /// `user_id` + `user_hash` of a site user.
    UserHash,
    /// The support page's anti-forgery cookie and field.
    PageToken,
    /// The `/executors` page's session cookie (an API key the admin entered).
    AdminSession,
    /// Open to anyone by design (health, the page, CORS preflights, anonymous messages).
    Open,
}

struct Row {
    route: &'static str,
    proof: Proof,
    /// Statuses for no credential, a wrong one, and the right one with a `leads`, a
    /// `tickets` and an `admin` key.
    expect: [u16; 5],
    /// Whether the right credential's call may store something (a lead, a message).
    writes: bool,
}

const fn row(route: &'static str, proof: Proof, expect: [u16; 5], writes: bool) -> Row {
    Row {
        route,
        proof,
        expect,
        writes,
    }
}

fn rows() -> Vec<Row> {
    use Proof::*;
    vec![
        row("GET /health/lead-submit", Open, [200; 5], false),
        // A `tickets` key posts no leads.
        row(
            "POST /api/integrations/send-batch",
            Bearer,
            [401, 401, 202, 403, 202],
            true,
        ),
        row(
            "GET /api/leads/{lead_id}",
            Bearer,
            [401, 401, 404, 403, 404],
            false,
        ),
        row(
            "POST /api/leads/{lead_id}/retry",
            Bearer,
            [401, 401, 404, 403, 404],
            true,
        ),
        row("GET /health/support-form", Open, [200; 5], false),
        row("GET /support", Open, [200; 5], false),
        row("POST /support", PageToken, [403, 403, 200, 200, 200], true),
        // Anonymous messages are open by design (limited per address and in all); a site
        // user must prove who they are.
        row(
            "POST /api/feedback/submit",
            UserHash,
            [200, 403, 200, 200, 200],
            true,
        ),
        row(
            "GET /api/feedback/threads",
            UserHash,
            [422, 403, 200, 200, 200],
            false,
        ),
        row("OPTIONS /api/feedback/submit", Open, [204; 5], false),
        row("OPTIONS /api/feedback/threads", Open, [204; 5], false),
        row("GET /health/telegram-webhook", Open, [200; 5], false),
        row(
            "POST /telegram/{bot}/webhook",
            TelegramSecret,
            [401, 401, 200, 200, 200],
            true,
        ),
        row("GET /health/okdesk-webhook", Open, [200; 5], false),
        row(
            "POST /okdesk/webhook/{token}",
            PathToken,
            [404, 404, 202, 202, 202],
            true,
        ),
        row("GET /health/ticket-api", Open, [200; 5], false),
        // Staff, executors and binding links are the admins' alone.
        row("POST /api/users", Bearer, [401, 401, 403, 403, 201], true),
        row("GET /api/users", Bearer, [401, 401, 403, 403, 200], false),
        row(
            "GET /api/users/{id}",
            Bearer,
            [401, 401, 403, 403, 404],
            false,
        ),
        row(
            "PATCH /api/users/{id}",
            Bearer,
            [401, 401, 403, 403, 404],
            false,
        ),
        row(
            "POST /api/users/{id}/telegram-link",
            Bearer,
            [401, 401, 403, 403, 404],
            false,
        ),
        row(
            "POST /api/categories",
            Bearer,
            [401, 401, 403, 403, 201],
            true,
        ),
        // An internal system files tickets under the categories it can read.
        row(
            "GET /api/categories",
            Bearer,
            [401, 401, 403, 200, 200],
            false,
        ),
        // A ticket or executor naming a user and category that do not exist.
        row(
            "POST /api/executors",
            Bearer,
            [401, 401, 403, 403, 422],
            false,
        ),
        row(
            "GET /api/executors",
            Bearer,
            [401, 401, 403, 403, 200],
            false,
        ),
        row(
            "PATCH /api/executors/{id}",
            Bearer,
            [401, 401, 403, 403, 404],
            false,
        ),
        row(
            "DELETE /api/executors/{id}",
            Bearer,
            [401, 401, 403, 403, 404],
            false,
        ),
        row(
            "POST /api/tickets",
            Bearer,
            [401, 401, 403, 422, 422],
            false,
        ),
        row("GET /api/tickets", Bearer, [401, 401, 403, 200, 200], false),
        row(
            "GET /api/tickets/{id}",
            Bearer,
            [401, 401, 403, 404, 404],
            false,
        ),
        // The sign-in form is open; every action needs the session, which only an admin
        // key can sign (a cookie a `leads` key holder signs with their own key is refused).
        row("GET /executors", Open, [200; 5], false),
        row(
            "POST /executors",
            AdminSession,
            [401, 401, 401, 401, 404],
            false,
        ),
        row("GET /health/bridge-api", Open, [200; 5], false),
        // The reply URL's last part; a client nobody wrote from is 404 even with it.
        row("POST /bridge/reply/{token}", PathToken, [404; 5], false),
        // A signed file link: tampered, or ours (Telegram then gives the file).
        row(
            "GET /bridge/file/{signed}",
            PathToken,
            [404, 404, 200, 200, 200],
            false,
        ),
        // Every bridge conversation: the admins' alone.
        row(
            "GET /api/bridge/clients/{client_id}/messages",
            Bearer,
            [401, 401, 403, 403, 404],
            false,
        ),
    ]
}

/// Which of the five tries this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Try {
    No,
    Wrong,
    /// The right credential; for an API key, one with this scope.
    Leads,
    Tickets,
    Admin,
}

impl Try {
    const ALL: [Try; 5] = [Try::No, Try::Wrong, Try::Leads, Try::Tickets, Try::Admin];

    /// The API key of this try, when it is one of the right ones.
    fn key(self) -> Option<&'static str> {
        match self {
            Try::Leads => Some(LEADS_KEY),
            Try::Tickets => Some(TICKETS_KEY),
            Try::Admin => Some(ADMIN_KEY),
            Try::No | Try::Wrong => None,
        }
    }
}

struct Call {
    path: String,
    params: Vec<(String, String)>,
    query: Vec<(String, String)>,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

/// The request for `route` with the credential `t`.
async fn call_for(
    route: &str,
    proof: Proof,
    t: Try,
    page_token: &str,
    admin_session: &str,
    bridge_link: &str,
) -> Call {
    let mut c = Call {
        path: route.split_once(' ').unwrap().1.to_string(),
        params: Vec::new(),
        query: Vec::new(),
        headers: vec![("content-type".into(), "application/json".into())],
        body: Vec::new(),
    };
    let wrong_or_right = |wrong: &str, right: &str| match t {
        Try::No => None,
        Try::Wrong => Some(wrong.to_string()),
        Try::Leads | Try::Tickets | Try::Admin => Some(right.to_string()),
    };
    match route {
        "POST /api/integrations/send-batch" => {
            c.body = serde_json::to_vec(&json!({"lead": {"name": "x"},
                "integrations": [{"type": "webhook", "settings": {"url": "https://hooks.example.com/l"}}]}))
            .unwrap();
        }
        "GET /api/leads/{lead_id}" => {
            c.path = "/api/leads/L-none".into();
            c.params.push(("lead_id".into(), "L-none".into()));
        }
        "POST /api/leads/{lead_id}/retry" => {
            c.path = "/api/leads/L-none/retry".into();
            c.params.push(("lead_id".into(), "L-none".into()));
        }
        "POST /support" => {
            c.headers = vec![(
                "content-type".into(),
                "application/x-www-form-urlencoded".into(),
            )];
            let mut body = "message=hi&name=A&email=a%40example.com".to_string();
            if let Some(token) =
                wrong_or_right("0123456789abcdef0123456789abcdef01234567", page_token)
            {
                body.push_str(&format!("&csrf={token}"));
                c.headers.push((
                    "cookie".into(),
                    format!("{}={page_token}", support_form::CSRF_COOKIE),
                ));
            }
            c.body = body.into_bytes();
        }
        "POST /api/feedback/submit" => {
            let mut body = json!({"message": "hi", "name": "A", "email": "a@example.com"});
            if let Some(hash) = wrong_or_right("00", &support_form::user_hash(HASH_SECRET, "42")) {
                body["user_id"] = json!("42");
                body["user_hash"] = json!(hash);
            }
            c.body = serde_json::to_vec(&body).unwrap();
        }
        "GET /api/feedback/threads" => {
            if let Some(hash) = wrong_or_right("00", &support_form::user_hash(HASH_SECRET, "42")) {
                c.query.push(("user_id".into(), "42".into()));
                c.query.push(("user_hash".into(), hash));
            }
        }
        "POST /telegram/{bot}/webhook" => {
            c.path = "/telegram/support/webhook".into();
            c.params.push(("bot".into(), "support".into()));
            c.body = serde_json::to_vec(&json!({"update_id": 7, "message": {"message_id": 1,
                "date": 1700000000, "chat": {"id": 5, "type": "private"},
                "from": {"id": 5, "is_bot": false, "first_name": "A"}, "text": "hi"}}))
            .unwrap();
        }
        "POST /okdesk/webhook/{token}" => {
            let token = wrong_or_right("wrong_okdesk_hook_token_0123456789abcdef", OKDESK_HOOK)
                .unwrap_or_default();
            c.path = format!("/okdesk/webhook/{token}");
            c.params.push(("token".into(), token));
            c.body = br#"{"event":{"event_type":"new_ticket_status","new_status":{"code":"completed","name":"Completed"}},"issue":{"id":1,"client":{"contact":{"id":5}}}}"#.to_vec();
        }
        "POST /bridge/reply/{token}" => {
            let token = wrong_or_right("wrong_reply_token_0123456789abcdef0123", BRIDGE_TOKEN)
                .unwrap_or_default();
            c.path = format!("/bridge/reply/{token}");
            c.body = br#"{"client_id": "telegram_5", "content": "hi"}"#.to_vec();
            // The right URL's reply is signed too, as the system signs it.
            if token == BRIDGE_TOKEN {
                let now = zayavka::ports::Clock::now_secs(&SystemClock);
                let signature = zayavka::signature::signature(BRIDGE_SIGNING, now, &c.body);
                c.headers
                    .push((zayavka::signature::HEADER.into(), signature));
            }
            c.params.push(("token".into(), token));
        }
        "GET /bridge/file/{signed}" => {
            let link = bridge_link.rsplit('/').next().unwrap_or_default();
            let flip = if link.ends_with('0') { '1' } else { '0' };
            let tampered = format!("{}{flip}", &link[..link.len() - 1]);
            let signed = wrong_or_right(&tampered, link).unwrap_or_default();
            c.path = format!("/bridge/file/{signed}");
            c.params.push(("signed".into(), signed));
        }
        "GET /api/bridge/clients/{client_id}/messages" => {
            c.path = "/api/bridge/clients/telegram_5/messages".into();
            c.params.push(("client_id".into(), "telegram_5".into()));
        }
        "POST /api/users" => c.body = br#"{"name": "Matrix"}"#.to_vec(),
        "PATCH /api/users/{id}" => {
            c.path = "/api/users/999".into();
            c.params.push(("id".into(), "999".into()));
            c.body = br#"{"name": "Other"}"#.to_vec();
        }
        "GET /api/users/{id}" | "POST /api/users/{id}/telegram-link" => {
            c.path = c.path.replace("{id}", "999");
            c.params.push(("id".into(), "999".into()));
        }
        "POST /api/categories" => c.body = br#"{"name": "IT"}"#.to_vec(),
        "POST /api/executors" => c.body = br#"{"user_id": 999, "category_id": 999}"#.to_vec(),
        "PATCH /api/executors/{id}" | "DELETE /api/executors/{id}" => {
            c.path = "/api/executors/999".into();
            c.params.push(("id".into(), "999".into()));
            c.body = br#"{"priority": 1}"#.to_vec();
        }
        "POST /api/tickets" => {
            c.body = br#"{"category_id": 999, "author_user_id": 999, "description": "d"}"#.to_vec()
        }
        "GET /api/tickets/{id}" => {
            c.path = "/api/tickets/999".into();
            c.params.push(("id".into(), "999".into()));
        }
        "POST /executors" => {
            c.headers = vec![(
                "content-type".into(),
                "application/x-www-form-urlencoded".into(),
            )];
            c.body = b"action=remove&id=999".to_vec();
            // Wrong: the key itself, or a proof signed with another key.
            let forged = format!(
                "{}=1700000000.abc.{}",
                ticket_api::SESSION_COOKIE,
                "0".repeat(64)
            );
            // A non-admin key holder signs a session with their own key, as the page would
            // (the signature is an HMAC anyone with a key can compute).
            // Signed now, so only the key's scope can refuse it.
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs();
            let own = |key: &str| {
                let message = format!("{now}.nonce");
                format!(
                    "{}={message}.{}",
                    ticket_api::SESSION_COOKIE,
                    zayavka::api_keys::sign(key, &message)
                )
            };
            let cookie = match t {
                Try::No => None,
                Try::Wrong => Some(forged),
                Try::Leads => Some(own(LEADS_KEY)),
                Try::Tickets => Some(own(TICKETS_KEY)),
                Try::Admin => Some(admin_session.to_string()),
            };
            if let Some(cookie) = cookie {
                c.headers.push(("cookie".into(), cookie));
            }
        }
        _ => {}
    }
    match (proof, t) {
        (Proof::Bearer, Try::Wrong) => c.headers.push((
            "authorization".into(),
            "Bearer not-the-key-0123456789".into(),
        )),
        (Proof::Bearer, t) if t.key().is_some() => c.headers.push((
            "authorization".into(),
            format!("Bearer {}", t.key().unwrap_or_default()),
        )),
        (Proof::TelegramSecret, Try::Wrong) => c.headers.push((
            "x-telegram-bot-api-secret-token".into(),
            "not_the_secret".into(),
        )),
        (Proof::TelegramSecret, t) if t.key().is_some() => c
            .headers
            .push(("x-telegram-bot-api-secret-token".into(), BOT_SECRET.into())),
        _ => {}
    }
    c
}

/// The anti-forgery token the support page hands out (cookie and field alike).
async fn page_token(form: &dyn HttpFunction) -> String {
    let event = api_gateway_event(HttpInput {
        method: "GET",
        route_key: support_form::PAGE,
        path: "/support",
        raw_query: "",
        query: Vec::new(),
        headers: Vec::new(),
        path_params: Default::default(),
        body: b"",
        source_ip: "203.0.113.77",
        now_ms: 0,
    })
    .unwrap();
    let page = dispatch(form, crate::apigw::lambda_request(event)).await;
    page.body
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the form carries its token")
        .to_string()
}

/// Everything stored or queued, as one number to compare.
async fn footprint(store: &EmbeddedStore) -> u64 {
    let mut n = store.parts.table.count().await.unwrap();
    for spec in zayavka::queues::catalogue() {
        let s = store.parts.queue.stats(&spec.name).await.unwrap();
        n += s.visible + s.delayed + s.in_flight;
    }
    n
}

#[tokio::test]
async fn every_route_answers_each_credential_as_the_table_says_and_a_refusal_changes_nothing() {
    let tg = MockServer::start().await;
    Mock::given(wiremock::matchers::path_regex("/getFile$"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"ok": true,
            "result": {"file_id": "FILE1", "file_unique_id": "u", "file_path": "documents/a.txt"}})))
        .with_priority(1)
        .mount(&tg)
        .await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(b"hello".to_vec()))
        .mount(&tg)
        .await;
    Mock::given(method("POST"))
        .respond_with(crate::support_relay::NextId(AtomicI64::new(1)))
        .mount(&tg)
        .await;
    let okdesk = MockServer::start().await;
    Mock::given(method("GET"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": 1})))
        .mount(&okdesk)
        .await;
    let store = embedded(zayavka::queues::catalogue());
    let deps = Deps::embedded(&store.parts, Arc::new(SystemClock));
    let okdesk_api = format!("{}/api/v1", okdesk.uri());
    let env = test_env(&[
        (
            "ZAYAVKA_API_KEYS",
            &format!("{LEADS_KEY},tickets:{TICKETS_KEY},admin:{ADMIN_KEY}"),
        ),
        ("TELEGRAM_API_BASE", &tg.uri()),
        ("TELEGRAM_SUPPORT_BOT_TOKEN", "1:ABCDEFGHIJKLMNOPQRSTUVWXYZ"),
        ("TELEGRAM_SUPPORT_WEBHOOK_SECRET", BOT_SECRET),
        ("TELEGRAM_SUPPORT_BOT_USERNAME", "zayavka_support_bot"),
        ("TELEGRAM_ADMIN_CHAT_ID", "-100777"),
        ("SUPPORT_USER_HASH_SECRET", HASH_SECRET),
        ("SUPPORT_ALLOWED_ORIGINS", "https://shop.example"),
        ("OKDESK_API_URL", &okdesk_api),
        ("OKDESK_API_TOKEN", "okdesk-token"),
        ("OKDESK_WEBHOOK_TOKEN", OKDESK_HOOK),
        ("TELEGRAM_BRIDGE_BOT_TOKEN", "9:ABCDEFGHIJKLMNOPQRSTUVWXYZ"),
        ("TELEGRAM_BRIDGE_WEBHOOK_SECRET", "matrix_bridge_secret-1"),
        ("BRIDGE_API_URL", "https://system.example/api/messages/"),
        ("BRIDGE_REPLY_TOKEN", BRIDGE_TOKEN),
        ("BRIDGE_SIGNING_SECRET", BRIDGE_SIGNING),
        ("ZAYAVKA_PUBLIC_URL", "https://api.example"),
    ]);
    let wiring = zayavka::deps::Wiring {
        deps,
        env: &env,
        queue_prefix: "zayavka-".into(),
    };
    let functions: Vec<Box<dyn HttpFunction>> = vec![
        Box::new(lead_submit::from_env(&wiring).unwrap()),
        Box::new(support_form::from_env(&wiring).unwrap()),
        Box::new(telegram_webhook::from_env(&wiring).unwrap()),
        Box::new(okdesk_webhook::from_env(&wiring).unwrap()),
        Box::new(ticket_api::from_env(&wiring).unwrap()),
        Box::new(bridge_api::from_env(&wiring).unwrap()),
    ];
    let every_route: BTreeSet<&str> = functions.iter().flat_map(|f| f.routes()).collect();
    let rows = rows();
    let in_table: BTreeSet<&str> = rows.iter().map(|r| r.route).collect();
    assert_eq!(
        every_route, in_table,
        "every route has its row, and only those"
    );
    let page_token = page_token(functions[1].as_ref()).await;
    let admin_session = crate::tickets::sign_in(functions[4].as_ref(), ADMIN_KEY).await;
    // A link to a file a user sent, as the bridge makes them (Telegram's fake gives it).
    let bridge_cfg = zayavka::bridge::config::BridgeConfig::read_if_configured(
        &mut zayavka::config::EnvReader::new(&env),
    )
    .unwrap();
    let file = zayavka::bridge::inbound::FileRef {
        kind: "document".into(),
        file_id: "FILE1".into(),
        file_name: Some("a.txt".into()),
        mime_type: Some("text/plain".into()),
        size: Some(5),
    };
    let in_half_an_hour = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
        + 1800;
    let bridge_link =
        zayavka::bridge::files::link(&bridge_cfg, "https://api.example", &file, in_half_an_hour);

    for r in &rows {
        let f = functions
            .iter()
            .find(|f| f.routes().contains(&r.route))
            .unwrap();
        for (i, t) in Try::ALL.into_iter().enumerate() {
            let c = call_for(
                r.route,
                r.proof,
                t,
                &page_token,
                &admin_session,
                &bridge_link,
            )
            .await;
            let before = footprint(&store).await;
            let (m, _) = r.route.split_once(' ').unwrap();
            // One address per try, so the support form's per-address limit (5 in its
            // window) is not what answers the later columns.
            let source_ip = format!("203.0.113.{}", 70 + i);
            let event = api_gateway_event(HttpInput {
                method: m,
                route_key: r.route,
                path: &c.path,
                raw_query: "",
                query: c.query.clone(),
                headers: c.headers.clone(),
                path_params: c.params.iter().cloned().collect(),
                body: &c.body,
                source_ip: &source_ip,
                now_ms: 0,
            })
            .unwrap();
            let answer = dispatch(f.as_ref(), crate::apigw::lambda_request(event)).await;
            assert_eq!(
                answer.status_code, r.expect[i],
                "{} with {t:?} credential: {}",
                r.route, answer.body
            );
            let after = footprint(&store).await;
            if answer.status_code >= 400 || !r.writes {
                assert_eq!(
                    after, before,
                    "{} with {t:?}: something was stored",
                    r.route
                );
            }
        }
    }
}
