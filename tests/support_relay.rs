//! The support bot against a fake Bot API: a site message reaches the admins, `/start
//! <token>` binds a chat once, an admin's reply reaches the user, and what must not be relayed
//! is not.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use serde_json::{Value, json};
use wiremock::matchers::{body_partial_json, method, path};
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};
use zayavka::Deps;
use zayavka::http::HttpFunction;
use zayavka::ports::{AttributeValue, SystemClock, Update};
use zayavka::support::bot::{SupportBot, SupportConfig};
use zayavka::telegram::BotApi;
use zayavka::texts::{Lang, RU};

use crate::support::{embedded, test_env};

const BOT: &str = "123456:ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const SECRET: &str = "support_secret-1";
const ADMINS: i64 = -100777;

/// Answers every send with a new message id, as Telegram does, and refuses a text longer
/// than Telegram takes, as it does.
pub struct NextId(pub AtomicI64);

/// A message text's length as Telegram counts it: the HTML parsed, in UTF-16 code units.
/// (Written here on its own, not with the code under test.)
pub fn telegram_length(html: &str, parse_mode: Option<&str>) -> usize {
    if parse_mode != Some("HTML") {
        return html.encode_utf16().count();
    }
    let mut shown = String::new();
    let mut in_tag = false;
    for c in html.chars() {
        match c {
            '<' => in_tag = true,
            '>' if in_tag => in_tag = false,
            c if !in_tag => shown.push(c),
            _ => {}
        }
    }
    let shown = shown
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&amp;", "&");
    shown.encode_utf16().count()
}

/// Telegram's answer to a sendMessage whose text is too long.
pub fn too_long(req: &Request) -> Option<ResponseTemplate> {
    let body: Value = serde_json::from_slice(&req.body).ok()?;
    let text = body["text"].as_str()?;
    (telegram_length(text, body["parse_mode"].as_str()) > 4096).then(|| {
        ResponseTemplate::new(400).set_body_json(json!({"ok": false, "error_code": 400,
            "description": "Bad Request: message is too long"}))
    })
}

impl Respond for NextId {
    fn respond(&self, req: &Request) -> ResponseTemplate {
        if let Some(refused) = too_long(req) {
            return refused;
        }
        let id = self.0.fetch_add(1, Ordering::SeqCst);
        let body: Value = serde_json::from_slice(&req.body).unwrap_or_default();
        if req.url.path().ends_with("/answerCallbackQuery") {
            return ResponseTemplate::new(200).set_body_json(json!({"ok": true, "result": true}));
        }
        if req.url.path().ends_with("/copyMessage") {
            return ResponseTemplate::new(200)
                .set_body_json(json!({"ok": true, "result": {"message_id": id}}));
        }
        ResponseTemplate::new(200).set_body_json(json!({"ok": true, "result": {
            "message_id": id, "date": 1795256100,
            "chat": {"id": body["chat_id"], "type": "private"}, "text": body["text"]}}))
    }
}

struct Relay {
    api: MockServer,
    f: telegram_webhook::TelegramWebhook,
    site_bot: SupportBot,
    deps: Deps,
    _store: crate::support::EmbeddedStore,
    next_update: AtomicI64,
}

impl Relay {
    async fn start() -> Self {
        let api = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(NextId(AtomicI64::new(500)))
            .mount(&api)
            .await;
        let store = embedded(zayavka::queues::catalogue());
        let deps = Deps::embedded(&store.parts, Arc::new(SystemClock));
        let env = test_env(&[
            ("TELEGRAM_SUPPORT_BOT_TOKEN", BOT),
            ("TELEGRAM_SUPPORT_WEBHOOK_SECRET", SECRET),
            ("TELEGRAM_ADMIN_CHAT_ID", &ADMINS.to_string()),
            ("TELEGRAM_API_BASE", &api.uri()),
        ]);
        let f = telegram_webhook::TelegramWebhook::new(
            deps.clone(),
            telegram_webhook::Config::read(&env).unwrap(),
        )
        .unwrap();
        let site_bot = SupportBot::new(
            deps.clone(),
            BotApi::new(reqwest::Client::new(), &api.uri(), BOT),
            SupportConfig {
                admin_chat_id: ADMINS,
                admin_lang: Lang::Ru,
            },
        );
        Self {
            api,
            f,
            site_bot,
            deps,
            _store: store,
            next_update: AtomicI64::new(1),
        }
    }

    /// Posts an update the way Telegram does.
    async fn update(&self, message: Value) -> u16 {
        let id = self.next_update.fetch_add(1, Ordering::SeqCst);
        self.update_as(id, message).await
    }

    /// Posts an update with this id (Telegram's redelivery of it, say).
    async fn update_as(&self, id: i64, message: Value) -> u16 {
        let body = serde_json::to_vec(&json!({"update_id": id, "message": message})).unwrap();
        let event = crate::apigw::api_gateway_event(crate::apigw::HttpInput {
            method: "POST",
            route_key: telegram_webhook::ROUTE,
            path: "/telegram/support/webhook",
            raw_query: "",
            query: Vec::new(),
            headers: vec![("x-telegram-bot-api-secret-token".into(), SECRET.into())],
            path_params: [("bot".to_string(), "support".to_string())].into(),
            body: &body,
            source_ip: "149.154.167.220",
            now_ms: 0,
        })
        .unwrap();
        zayavka::http::dispatch(
            &self.f as &dyn HttpFunction,
            crate::apigw::lambda_request(event),
        )
        .await
        .status_code
    }

    /// The notifications queue's messages (left in it).
    async fn queued_notices(&self) -> Vec<Value> {
        let q = &self._store.parts.queue;
        let got = zayavka::ports::Queue::receive(q, "notifications", 10, std::time::Duration::ZERO)
            .await
            .unwrap();
        for m in &got {
            zayavka::ports::Queue::change_visibility(q, "notifications", &m.receipt_handle, 0)
                .await
                .unwrap();
        }
        got.iter()
            .map(|m| serde_json::from_str(&m.body).unwrap())
            .collect()
    }

    /// Every sendMessage so far, as (chat_id, text).
    async fn sent(&self) -> Vec<(i64, String)> {
        self.api
            .received_requests()
            .await
            .unwrap()
            .iter()
            .filter(|r| r.url.path().ends_with("/sendMessage"))
            .map(|r| {
                let b: Value = serde_json::from_slice(&r.body).unwrap();
                (
                    b["chat_id"].as_i64().unwrap(),
                    b["text"].as_str().unwrap().to_string(),
                )
            })
            .collect()
    }
}

/// Now, as Telegram dates messages: a thread is ordered by it.
fn date() -> i64 {
    SystemClock_now()
}

fn private(chat: i64, text: &str) -> Value {
    json!({"message_id": 10, "date": date(), "chat": {"id": chat, "type": "private", "first_name": "Глеб"},
           "from": {"id": chat, "is_bot": false, "first_name": "Глеб", "language_code": "ru"}, "text": text})
}

/// Each admin message has its own id, as in Telegram.
static ADMIN_MESSAGE: AtomicI64 = AtomicI64::new(2000);

fn admin_reply(chat: i64, to: i32, text: &str) -> Value {
    json!({"message_id": ADMIN_MESSAGE.fetch_add(1, Ordering::SeqCst), "date": date(), "chat": {"id": chat, "type": "supergroup", "title": "Поддержка"},
           "from": {"id": 5, "is_bot": false, "first_name": "Админ"}, "text": text,
           "reply_to_message": {"message_id": to, "date": 1795256000, "chat": {"id": chat, "type": "supergroup", "title": "Поддержка"}, "text": "…"}})
}

#[tokio::test]
async fn the_whole_relay_loop() {
    let r = Relay::start().await;
    // A site user's message reaches the admins, escaped, with its id, name, e-mail, source.
    let thread = zayavka::support::store::ensure_thread(
        &r.deps,
        "u:42",
        "Глеб <Т>",
        Some("gleb@example.com"),
    )
    .await
    .unwrap();
    let mut msg = zayavka::support::new_message(
        &r.deps,
        "u:42",
        false,
        "site",
        Some("Оплата".into()),
        "Не проходит оплата & всё".into(),
    );
    zayavka::support::store::record(&r.deps, &msg)
        .await
        .unwrap();
    let admin_msg = r.site_bot.to_admin(&thread, &mut msg).await.unwrap();
    let body: Value =
        serde_json::from_slice(&r.api.received_requests().await.unwrap()[0].body).unwrap();
    assert_eq!(
        body,
        json!({"chat_id": ADMINS, "parse_mode": "HTML", "link_preview_options": {"is_disabled": true},
               "text": format!("<b>#{}</b> от Глеб &lt;Т&gt; (gleb@example.com, сайт)\n<b>Оплата</b>\nНе проходит оплата &amp; всё", msg.id)})
    );

    // An admin reply before the user bound a chat: kept for the site, and queued to go by
    // e-mail (see `a_reply_to_a_visitor_without_telegram_goes_by_email_once`).
    assert_eq!(
        r.update(admin_reply(ADMINS, admin_msg as i32, "Проверьте карту"))
            .await,
        200
    );
    assert_eq!(r.queued_notices().await.len(), 1);

    // Binding: valid once, then "used"; an expired token says so.
    let token = zayavka::support::store::new_binding_token(&r.deps, "u:42")
        .await
        .unwrap();
    assert!(zayavka::support::store::valid_token(&token) && token.len() <= 64);
    assert_eq!(r.update(private(77, &format!("/start {token}"))).await, 200);
    assert_eq!(
        r.sent().await.last().unwrap(),
        &(77, RU.support_bound.to_string())
    );
    assert_eq!(r.update(private(78, &format!("/start {token}"))).await, 200);
    assert_eq!(
        r.sent().await.last().unwrap(),
        &(78, RU.support_token_used.to_string())
    );
    zayavka::support::store::ensure_thread(&r.deps, "u:43", "Анна", None)
        .await
        .unwrap();
    let old = zayavka::support::store::new_binding_token(&r.deps, "u:43")
        .await
        .unwrap();
    r.deps
        .table
        .update(
            &zayavka::ports::Key::new(format!("support#token#{old}"), "token"),
            Update::new().set(
                "expires_at",
                AttributeValue::N((SystemClock_now() - 60).to_string()),
            ),
        )
        .await
        .unwrap();
    assert_eq!(r.update(private(79, &format!("/start {old}"))).await, 200);
    assert_eq!(
        r.sent().await.last().unwrap(),
        &(79, RU.support_token_expired.to_string())
    );
    assert_eq!(r.update(private(80, "/start not-a-token")).await, 200);
    assert_eq!(
        r.sent().await.last().unwrap(),
        &(80, RU.support_token_unknown.to_string())
    );

    // The admins' reply reaches the bound user, and the admins are told it did.
    assert_eq!(
        r.update(admin_reply(
            ADMINS,
            admin_msg as i32,
            "Здравствуйте! Проверьте <карту>."
        ))
        .await,
        200
    );
    let sent = r.sent().await;
    assert!(
        sent.contains(&(
            77,
            "📩 Ответ поддержки:\n\nЗдравствуйте! Проверьте &lt;карту&gt;.".to_string()
        )),
        "{sent:?}"
    );
    assert_eq!(
        sent.last().unwrap(),
        &(ADMINS, RU.support_reply_delivered.to_string())
    );

    // A reply from any other chat is not an admin reply; a reply to something else gets a hint.
    let before = r.sent().await.len();
    assert_eq!(
        r.update(admin_reply(-100555, admin_msg as i32, "я не админ"))
            .await,
        200
    );
    assert_eq!(
        r.sent().await.len(),
        before,
        "nothing relayed from a non-admin chat"
    );
    assert_eq!(
        r.update(admin_reply(ADMINS, 9999, "ответ в никуда")).await,
        200
    );
    assert_eq!(
        r.sent().await.last().unwrap(),
        &(ADMINS, RU.support_reply_hint.to_string())
    );

    // The bound user writes from Telegram: stored, relayed to the admins, acknowledged.
    assert_eq!(r.update(private(77, "Ещё вопрос")).await, 200);
    let sent = r.sent().await;
    let to_admins = &sent[sent.len() - 2];
    assert_eq!(to_admins.0, ADMINS);
    assert!(
        to_admins
            .1
            .ends_with("от Глеб &lt;Т&gt; (gleb@example.com, Telegram)\nЕщё вопрос"),
        "{to_admins:?}"
    );
    assert_eq!(sent.last().unwrap(), &(77, RU.support_received.to_string()));
    // An unbound chat is asked to bind first.
    assert_eq!(r.update(private(99, "Привет")).await, 200);
    assert_eq!(
        r.sent().await.last().unwrap(),
        &(99, RU.support_not_bound.to_string())
    );

    let thread_msgs = zayavka::support::store::messages(&r.deps, "u:42")
        .await
        .unwrap();
    let summary: Vec<(bool, &str, &str)> = thread_msgs
        .iter()
        .map(|m| (m.from_admin, m.source.as_str(), m.text.as_str()))
        .collect();
    assert_eq!(
        summary,
        vec![
            (false, "site", "Не проходит оплата & всё"),
            (true, "telegram", "Проверьте карту"),
            (true, "telegram", "Здравствуйте! Проверьте <карту>."),
            (false, "telegram", "Ещё вопрос"),
        ]
    );
}

#[tokio::test]
async fn a_user_who_blocked_the_bot_is_reported_to_the_admins_not_retried() {
    let r = Relay::start().await;
    Mock::given(method("POST"))
        .and(path(format!("/bot{BOT}/sendMessage")))
        .and(body_partial_json(json!({"chat_id": 77})))
        .respond_with(ResponseTemplate::new(403).set_body_json(json!({"ok": false, "error_code": 403, "description": "Forbidden: bot was blocked by the user"})))
        .with_priority(1)
        .mount(&r.api)
        .await;
    let thread = zayavka::support::store::ensure_thread(&r.deps, "u:7", "Пётр", None)
        .await
        .unwrap();
    let token = zayavka::support::store::new_binding_token(&r.deps, "u:7")
        .await
        .unwrap();
    zayavka::support::store::bind(&r.deps, &token, 77, Some("ru"))
        .await
        .unwrap();
    let thread = zayavka::support::Thread {
        chat_id: Some(77),
        ..thread
    };
    let mut msg =
        zayavka::support::new_message(&r.deps, "u:7", false, "site", None, "Вопрос".into());
    zayavka::support::store::record(&r.deps, &msg)
        .await
        .unwrap();
    let admin_msg = r.site_bot.to_admin(&thread, &mut msg).await.unwrap();
    assert_eq!(
        r.update(admin_reply(ADMINS, admin_msg as i32, "Ответ"))
            .await,
        200
    );
    let to_user = r.sent().await.iter().filter(|(c, _)| *c == 77).count();
    assert_eq!(to_user, 1, "tried once, not again and again");
    assert_eq!(
        r.sent().await.last().unwrap(),
        &(ADMINS, RU.support_reply_blocked.to_string())
    );
}

#[allow(non_snake_case)]
fn SystemClock_now() -> i64 {
    zayavka::ports::Clock::now_secs(&SystemClock)
}

// --- The website side: the form, the widget API, who is who, and abuse. ---------------

mod site {
    use super::*;
    use crate::apigw::{HttpInput, api_gateway_event};
    use zayavka::http::dispatch;

    pub struct Site {
        pub relay: Relay,
        pub form: support_form::SupportForm,
    }

    pub async fn site(extra: &[(&str, &str)]) -> Site {
        let relay = Relay::start().await;
        let mut pairs = vec![
            ("TELEGRAM_SUPPORT_BOT_TOKEN", BOT.to_string()),
            ("TELEGRAM_ADMIN_CHAT_ID", ADMINS.to_string()),
            ("TELEGRAM_API_BASE", relay.api.uri()),
            (
                "TELEGRAM_SUPPORT_BOT_USERNAME",
                "zayavka_support_bot".to_string(),
            ),
            ("SUPPORT_USER_HASH_SECRET", "site-shared-secret".to_string()),
            (
                "SUPPORT_ALLOWED_ORIGINS",
                "https://shop.example".to_string(),
            ),
        ];
        for (k, v) in extra {
            pairs.push((k, v.to_string()));
        }
        let env: Vec<(&str, &str)> = pairs.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let env = test_env(&env);
        let form = support_form::from_env(&zayavka::deps::Wiring {
            deps: relay.deps.clone(),
            env: &env,
            queue_prefix: "zayavka-".into(),
        })
        .unwrap();
        Site { relay, form }
    }

    /// Calls the form as a browser would: the widget's posts are JSON unless the test says
    /// otherwise, and the page's form is posted with the token its page handed out (unless
    /// the test brings its own cookie).
    pub async fn call(
        f: &support_form::SupportForm,
        route: &str,
        path: &str,
        query: &[(&str, &str)],
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> zayavka::http::ApiResponse {
        let has = |name: &str| headers.iter().any(|(k, _)| k.eq_ignore_ascii_case(name));
        let mut headers: Vec<(String, String)> = headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut body = body.to_vec();
        if route == support_form::SUBMIT && !has("content-type") {
            headers.push(("content-type".into(), "application/json".into()));
        }
        if route == support_form::POST_PAGE && !has("cookie") {
            let token = page_token(f).await;
            headers.push((
                "cookie".into(),
                format!("{}={token}", support_form::CSRF_COOKIE),
            ));
            body.extend_from_slice(format!("&csrf={token}").as_bytes());
        }
        let headers: Vec<(&str, &str)> = headers
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        raw_call(f, route, path, query, &headers, &body).await
    }

    /// The anti-forgery token the page hands out: in its cookie and in its form, the same.
    pub async fn page_token(f: &support_form::SupportForm) -> String {
        let page = raw_call(f, support_form::PAGE, "/support", &[], &[], b"").await;
        let cookie = page
            .cookies
            .iter()
            .find_map(|c| c.strip_prefix(&format!("{}=", support_form::CSRF_COOKIE)))
            .and_then(|c| c.split(';').next())
            .expect("the page sets its token cookie")
            .to_string();
        let field = page
            .body
            .split("name=\"csrf\" value=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .expect("the form carries its token");
        assert_eq!(cookie, field);
        cookie
    }

    pub async fn raw_call(
        f: &support_form::SupportForm,
        route: &str,
        path: &str,
        query: &[(&str, &str)],
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> zayavka::http::ApiResponse {
        let event = api_gateway_event(HttpInput {
            method: route.split(' ').next().unwrap(),
            route_key: route,
            path,
            raw_query: "",
            query: query
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            headers: headers
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            path_params: Default::default(),
            body,
            source_ip: "203.0.113.50",
            now_ms: 0,
        })
        .unwrap();
        dispatch(f, crate::apigw::lambda_request(event)).await
    }

    fn form_body(pairs: &[(&str, &str)]) -> Vec<u8> {
        let mut u = reqwest::Url::parse("http://x/").unwrap();
        u.query_pairs_mut().extend_pairs(pairs);
        u.query().unwrap_or_default().as_bytes().to_vec()
    }

    #[tokio::test]
    async fn the_form_page_reaches_the_admins_and_offers_the_binding_link() {
        let s = site(&[]).await;
        let page = call(
            &s.form,
            support_form::PAGE,
            "/support",
            &[],
            &[("accept-language", "ru-RU,ru;q=0.9")],
            b"",
        )
        .await;
        assert_eq!(page.status_code, 200);
        assert!(
            page.body
                .contains("<label for=\"message\">Сообщение</label>"),
            "{}",
            page.body
        );
        assert!(page.body.contains("method=\"post\""));

        let body = form_body(&[
            ("subject", "Доставка"),
            ("message", "Где мой заказ <№5>?"),
            ("name", "Ольга"),
            ("email", "olga@example.com"),
            ("website", ""),
        ]);
        let r = call(
            &s.form,
            support_form::POST_PAGE,
            "/support",
            &[],
            &[("content-type", "application/x-www-form-urlencoded")],
            &body,
        )
        .await;
        assert_eq!(r.status_code, 200, "{}", r.body);
        assert!(
            r.body.contains("https://t.me/zayavka_support_bot?start="),
            "{}",
            r.body
        );
        let cookie = r.cookies.first().expect("thread cookie").clone();
        assert!(
            cookie.contains("HttpOnly") && cookie.starts_with("zayavka_thread="),
            "{cookie}"
        );
        let token = cookie
            .trim_start_matches("zayavka_thread=")
            .split(';')
            .next()
            .unwrap()
            .to_string();
        let sent = s.relay.sent().await;
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0].0, ADMINS);
        assert!(
            sent[0].1.ends_with(
                " от Ольга (olga@example.com, сайт)\n<b>Доставка</b>\nГде мой заказ &lt;№5&gt;?"
            ),
            "{:?}",
            sent[0]
        );

        // The binding link's token binds this visitor's thread; then the admin's reply arrives.
        let start = r
            .body
            .split("?start=")
            .nth(1)
            .unwrap()
            .split('"')
            .next()
            .unwrap()
            .to_string();
        assert_eq!(
            s.relay
                .update(private(4242, &format!("/start {start}")))
                .await,
            200
        );
        let admin_msg = 500; // the first message id the fake Bot API handed out
        assert_eq!(
            s.relay
                .update(admin_reply(ADMINS, admin_msg, "Заказ в пути"))
                .await,
            200
        );
        assert!(
            s.relay
                .sent()
                .await
                .contains(&(4242, "📩 Ответ поддержки:\n\nЗаказ в пути".to_string()))
        );
        // The widget lists the thread, both directions, newest last.
        let t = call(
            &s.form,
            support_form::THREADS,
            "/api/feedback/threads",
            &[("thread_token", &token)],
            &[],
            b"",
        )
        .await;
        assert_eq!(t.status_code, 200, "{}", t.body);
        let v: Value = serde_json::from_str(&t.body).unwrap();
        let texts: Vec<(&str, &str)> = v["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| (m["from"].as_str().unwrap(), m["text"].as_str().unwrap()))
            .collect();
        assert_eq!(
            texts,
            vec![("you", "Где мой заказ <№5>?"), ("support", "Заказ в пути")]
        );
    }

    #[tokio::test]
    async fn the_widget_api_knows_site_users_by_their_hash_and_guards_cors() {
        let s = site(&[]).await;
        let hash = support_form::user_hash("site-shared-secret", "42");
        let body = serde_json::to_vec(&json!({"user_id": "42", "user_hash": hash, "message": "Вопрос", "name": "Глеб", "email": "gleb@example.com"})).unwrap();
        let r = call(
            &s.form,
            support_form::SUBMIT,
            "/api/feedback/submit",
            &[],
            &[("origin", "https://shop.example")],
            &body,
        )
        .await;
        assert_eq!(r.status_code, 200, "{}", r.body);
        let v: Value = serde_json::from_str(&r.body).unwrap();
        assert!(
            v["telegram_binding_url"]
                .as_str()
                .unwrap()
                .starts_with("https://t.me/zayavka_support_bot?start=")
        );
        assert!(
            v["thread_token"].is_null(),
            "a site user needs no thread token"
        );
        assert_eq!(
            r.headers
                .get("access-control-allow-origin")
                .map(String::as_str),
            Some("https://shop.example")
        );

        let forged = serde_json::to_vec(&json!({"user_id": "42", "user_hash": "00", "message": "x", "name": "x", "email": "x@example.com"})).unwrap();
        let r = call(
            &s.form,
            support_form::SUBMIT,
            "/api/feedback/submit",
            &[],
            &[("origin", "https://evil.example")],
            &forged,
        )
        .await;
        assert_eq!(r.status_code, 403);
        assert!(!r.headers.contains_key("access-control-allow-origin"));
        let t = call(
            &s.form,
            support_form::THREADS,
            "/api/feedback/threads",
            &[("user_id", "42"), ("user_hash", &hash)],
            &[],
            b"",
        )
        .await;
        let v: Value = serde_json::from_str(&t.body).unwrap();
        assert_eq!(v["messages"].as_array().unwrap().len(), 1);
        let pre = call(
            &s.form,
            support_form::SUBMIT_PREFLIGHT,
            "/api/feedback/submit",
            &[],
            &[("origin", "https://shop.example")],
            b"",
        )
        .await;
        assert_eq!(pre.status_code, 204);
        assert_eq!(
            pre.headers["access-control-allow-methods"],
            "GET, POST, OPTIONS"
        );
    }

    /// The form honours `SUPPORT_ADMIN_LANGUAGE` as the support bot does (it used to write
    /// to the admins in Russian whatever the setting).
    #[tokio::test]
    async fn the_admins_read_a_site_message_in_their_own_language() {
        let s = site(&[("SUPPORT_ADMIN_LANGUAGE", "en")]).await;
        let body = serde_json::to_vec(
            &json!({"subject": "Delivery", "message": "Where is my order?", "name": "Ann", "email": "ann@example.com"}),
        )
        .unwrap();
        let r = call(
            &s.form,
            support_form::SUBMIT,
            "/api/feedback/submit",
            &[],
            &[],
            &body,
        )
        .await;
        assert_eq!(r.status_code, 200, "{}", r.body);
        let sent = s.relay.sent().await;
        assert_eq!(sent.len(), 1, "{sent:?}");
        assert_eq!(sent[0].0, ADMINS);
        assert!(
            sent[0].1.ends_with(
                " from Ann (ann@example.com, site)\n<b>Delivery</b>\nWhere is my order?"
            ),
            "{:?}",
            sent[0]
        );
    }

    #[tokio::test]
    async fn bad_input_honeypots_and_floods_change_nothing() {
        let s = site(&[("SUPPORT_RATE_LIMIT", "2")]).await;
        let bad =
            serde_json::to_vec(&json!({"message": "  ", "name": "A", "email": "a@example.com"}))
                .unwrap();
        let r = call(
            &s.form,
            support_form::SUBMIT,
            "/api/feedback/submit",
            &[],
            &[],
            &bad,
        )
        .await;
        assert_eq!(r.status_code, 422);
        assert!(r.body.contains("message"));
        let bad = serde_json::to_vec(&json!({"message": "hi", "name": "A", "email": "not-mail"}))
            .unwrap();
        assert_eq!(
            call(
                &s.form,
                support_form::SUBMIT,
                "/api/feedback/submit",
                &[],
                &[],
                &bad
            )
            .await
            .status_code,
            422
        );
        let bot = serde_json::to_vec(&json!({"message": "buy now", "name": "A", "email": "a@example.com", "website": "http://spam.example"})).unwrap();
        assert_eq!(
            call(
                &s.form,
                support_form::SUBMIT,
                "/api/feedback/submit",
                &[],
                &[],
                &bot
            )
            .await
            .status_code,
            200
        );
        assert!(
            s.relay.sent().await.is_empty(),
            "nothing reached the admins"
        );
        assert_eq!(
            s.relay._store.parts.table.count().await.unwrap(),
            0,
            "nothing stored"
        );

        let ok =
            serde_json::to_vec(&json!({"message": "hi", "name": "A", "email": "a@example.com"}))
                .unwrap();
        for _ in 0..2 {
            assert_eq!(
                call(
                    &s.form,
                    support_form::SUBMIT,
                    "/api/feedback/submit",
                    &[],
                    &[],
                    &ok
                )
                .await
                .status_code,
                200
            );
        }
        let r = call(
            &s.form,
            support_form::SUBMIT,
            "/api/feedback/submit",
            &[],
            &[],
            &ok,
        )
        .await;
        assert_eq!(r.status_code, 429, "{}", r.body);
        assert!(r.body.contains("too many messages"));
        let page = call(
            &s.form,
            support_form::POST_PAGE,
            "/support",
            &[],
            &[],
            &form_body(&[("message", "hi"), ("name", "A"), ("email", "a@example.com")]),
        )
        .await;
        assert_eq!(page.status_code, 429);
        assert!(page.body.contains("role=\"alert\""), "the page explains it");
        assert_eq!(s.relay.sent().await.len(), 2);
    }
}

#[tokio::test]
async fn photos_and_documents_travel_both_ways_as_themselves() {
    let r = Relay::start().await;
    zayavka::support::store::ensure_thread(&r.deps, "u:5", "Инна", Some("inna@example.com"))
        .await
        .unwrap();
    let token = zayavka::support::store::new_binding_token(&r.deps, "u:5")
        .await
        .unwrap();
    zayavka::support::store::bind(&r.deps, &token, 55, Some("ru"))
        .await
        .unwrap();
    let photo = json!({"message_id": 31, "date": 1795256100, "chat": {"id": 55, "type": "private", "first_name": "Инна"},
        "from": {"id": 55, "is_bot": false, "first_name": "Инна", "language_code": "ru"},
        "caption": "чек", "photo": [{"file_id": "AgAD1", "file_unique_id": "u1", "width": 90, "height": 90}]});
    assert_eq!(r.update(photo).await, 200);
    let copies: Vec<Value> = r
        .api
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|q| q.url.path().ends_with("/copyMessage"))
        .map(|q| serde_json::from_slice(&q.body).unwrap())
        .collect();
    assert_eq!(
        copies,
        vec![json!({"chat_id": ADMINS, "from_chat_id": 55, "message_id": 31})]
    );
    // The header (id 500) came first, the copy got id 501: a reply to either finds Инна.
    let doc = json!({"message_id": 12, "date": 1795256100, "chat": {"id": ADMINS, "type": "supergroup", "title": "Поддержка"},
        "from": {"id": 5, "is_bot": false, "first_name": "Админ"},
        "document": {"file_id": "BQAD2", "file_unique_id": "u2", "file_name": "invoice.pdf"},
        "reply_to_message": {"message_id": 501, "date": 1795256000, "chat": {"id": ADMINS, "type": "supergroup", "title": "Поддержка"}}});
    assert_eq!(r.update(doc).await, 200);
    let copies: Vec<Value> = r
        .api
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|q| q.url.path().ends_with("/copyMessage"))
        .map(|q| serde_json::from_slice(&q.body).unwrap())
        .collect();
    assert_eq!(
        copies[1],
        json!({"chat_id": 55, "from_chat_id": ADMINS, "message_id": 12})
    );
    assert_eq!(
        r.sent().await.last().unwrap(),
        &(ADMINS, RU.support_reply_delivered.to_string())
    );
    let texts: Vec<String> = zayavka::support::store::messages(&r.deps, "u:5")
        .await
        .unwrap()
        .into_iter()
        .map(|m| m.text)
        .collect();
    assert_eq!(
        texts,
        vec!["чек".to_string(), RU.support_attachment.to_string()]
    );
}

#[tokio::test]
async fn a_reply_speaks_the_language_the_user_bound_with() {
    let r = Relay::start().await;
    let thread = zayavka::support::store::ensure_thread(&r.deps, "u:9", "Tom", None)
        .await
        .unwrap();
    let token = zayavka::support::store::new_binding_token(&r.deps, "u:9")
        .await
        .unwrap();
    let english = json!({"message_id": 10, "date": 1795256100, "chat": {"id": 90, "type": "private", "first_name": "Tom"},
        "from": {"id": 90, "is_bot": false, "first_name": "Tom", "language_code": "en"}, "text": format!("/start {token}")});
    assert_eq!(r.update(english).await, 200);
    assert_eq!(
        r.sent().await.last().unwrap(),
        &(90, zayavka::texts::EN.support_bound.to_string())
    );
    let thread = zayavka::support::Thread {
        chat_id: Some(90),
        ..thread
    };
    let mut msg = zayavka::support::new_message(&r.deps, "u:9", false, "site", None, "Hi".into());
    zayavka::support::store::record(&r.deps, &msg)
        .await
        .unwrap();
    let admin_msg = r.site_bot.to_admin(&thread, &mut msg).await.unwrap();
    assert_eq!(
        r.update(admin_reply(ADMINS, admin_msg as i32, "Hello!"))
            .await,
        200
    );
    assert!(
        r.sent()
            .await
            .contains(&(90, "📩 Reply from support:\n\nHello!".to_string())),
        "{:?}",
        r.sent().await
    );
}

// --- Other sites cannot post through their visitors' browsers. ---------------------------

mod forgery {
    use super::site::{call, page_token, raw_call, site};
    use super::*;

    fn form(token: Option<&str>) -> Vec<u8> {
        let mut u = reqwest::Url::parse("http://x/").unwrap();
        u.query_pairs_mut().extend_pairs([
            ("message", "Переведите деньги"),
            ("name", "Ольга"),
            ("email", "olga@example.com"),
        ]);
        if let Some(t) = token {
            u.query_pairs_mut().append_pair("csrf", t);
        }
        u.query().unwrap().as_bytes().to_vec()
    }

    #[tokio::test]
    async fn a_form_or_widget_post_from_another_site_writes_nothing() {
        let s = site(&[]).await;
        let table = &s.relay._store.parts.table;
        let before = table.count().await.unwrap();
        let token = page_token(&s.form).await;
        let cookie = format!("{}={token}", support_form::CSRF_COOKIE);
        let other = "0123456789abcdef0123456789abcdef01234567";
        let ours = "abc123.execute-api.eu-central-1.amazonaws.com";
        type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, Vec<u8>);
        let cases: Vec<Case> = vec![
            ("no token at all", vec![], form(None)),
            ("the field without its cookie", vec![], form(Some(&token))),
            (
                "a cookie the field does not match",
                vec![("cookie", &cookie)],
                form(Some(other)),
            ),
            (
                "the right token posted from another site",
                vec![
                    ("cookie", &cookie),
                    ("host", ours),
                    ("origin", "https://evil.example"),
                ],
                form(Some(&token)),
            ),
            (
                "an opaque origin",
                vec![("cookie", &cookie), ("host", ours), ("origin", "null")],
                form(Some(&token)),
            ),
        ];
        for (what, headers, body) in cases {
            let mut h = vec![("content-type", "application/x-www-form-urlencoded")];
            h.extend(headers);
            let r = raw_call(&s.form, support_form::POST_PAGE, "/support", &[], &h, &body).await;
            assert_eq!(r.status_code, 403, "{what}: {}", r.body);
            assert!(
                r.body.contains("форма устарела"),
                "{what}: the page explains it"
            );
        }
        // The widget API: a simple (preflight-free) post from another site, and a non-JSON
        // one from an allowed site.
        let json = br#"{"message": "x", "name": "A", "email": "a@example.com"}"#;
        for (origin, content_type, status) in [
            ("https://evil.example", "text/plain", 403),
            ("https://evil.example", "application/json", 403),
            ("https://shop.example", "text/plain", 415),
            (
                "https://shop.example",
                "application/x-www-form-urlencoded",
                415,
            ),
        ] {
            let r = call(
                &s.form,
                support_form::SUBMIT,
                "/api/feedback/submit",
                &[],
                &[("origin", origin), ("content-type", content_type)],
                json,
            )
            .await;
            assert_eq!(r.status_code, status, "{origin} {content_type}: {}", r.body);
        }
        assert_eq!(table.count().await.unwrap(), before, "nothing was written");
        assert!(s.relay.sent().await.is_empty(), "the admins heard nothing");
        // Our own page, posted by the browser: accepted.
        let r = raw_call(
            &s.form,
            support_form::POST_PAGE,
            "/support",
            &[],
            &[
                ("content-type", "application/x-www-form-urlencoded"),
                ("cookie", &cookie),
                ("host", ours),
                ("origin", &format!("https://{ours}")),
            ],
            &form(Some(&token)),
        )
        .await;
        assert_eq!(r.status_code, 200, "{}", r.body);
    }

    #[tokio::test]
    async fn thread_tokens_are_ours_to_issue() {
        let s = site(&[]).await;
        let post = |token: &str| {
            let body = serde_json::to_vec(&json!({"message": "Вопрос", "name": "А",
                "email": "a@example.com", "thread_token": token}))
            .unwrap();
            let f = &s.form;
            async move {
                call(
                    f,
                    support_form::SUBMIT,
                    "/api/feedback/submit",
                    &[],
                    &[],
                    &body,
                )
                .await
            }
        };
        // Made up: refused.
        let r = post("abc123").await;
        assert_eq!(r.status_code, 422, "{}", r.body);
        // Well formed but not one of ours: a new thread, with a token we issued.
        let unknown = "0123456789abcdef0123456789abcdef01234567";
        let r = post(unknown).await;
        assert_eq!(r.status_code, 200, "{}", r.body);
        let issued: Value = serde_json::from_str(&r.body).unwrap();
        let issued = issued["thread_token"].as_str().unwrap().to_string();
        assert_ne!(issued, unknown);
        // The issued one keeps its thread.
        let r = post(&issued).await;
        let again: Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(again["thread_token"], issued.as_str());
        let threads = raw_call(
            &s.form,
            support_form::THREADS,
            "/api/feedback/threads",
            &[("thread_token", unknown)],
            &[],
            b"",
        )
        .await;
        assert_eq!(
            threads.body, r#"{"messages":[]}"#,
            "nothing under a made-up token"
        );
    }

    #[tokio::test]
    async fn everyone_together_has_a_ceiling_and_a_refusal_counts_against_no_one() {
        let s = site(&[
            ("SUPPORT_RATE_LIMIT", "100"),
            ("SUPPORT_GLOBAL_RATE_LIMIT", "3"),
        ])
        .await;
        let body = serde_json::to_vec(
            &json!({"message": "Вопрос", "name": "А", "email": "a@example.com"}),
        )
        .unwrap();
        for _ in 0..3 {
            let r = call(
                &s.form,
                support_form::SUBMIT,
                "/api/feedback/submit",
                &[],
                &[],
                &body,
            )
            .await;
            assert_eq!(r.status_code, 200, "{}", r.body);
        }
        let table = &s.relay._store.parts.table;
        let before = table.count().await.unwrap();
        let r = call(
            &s.form,
            support_form::SUBMIT,
            "/api/feedback/submit",
            &[],
            &[],
            &body,
        )
        .await;
        assert_eq!(r.status_code, 429, "{}", r.body);
        assert_eq!(
            table.count().await.unwrap(),
            before,
            "the refusal wrote nothing new"
        );
    }
}

// --- Nothing lost when the Bot API or the mail service fails at the moment. -------------

mod delivery {
    use super::site::{call, site};
    use super::*;
    use async_trait::async_trait;
    use zayavka::ports::{Email, MailError, Mailer};
    use zayavka::sqs_batch::QueueWorker;

    /// The notification worker on the relay's table and queues, with `mailer` for e-mail.
    fn worker(
        r: &Relay,
        mailer: Option<Arc<dyn Mailer>>,
    ) -> notification_worker::NotificationWorker {
        let env = test_env(&[
            ("TELEGRAM_SUPPORT_BOT_TOKEN", BOT),
            ("TELEGRAM_ADMIN_CHAT_ID", &ADMINS.to_string()),
            ("TELEGRAM_API_BASE", &r.api.uri()),
            ("TELEGRAM_SUPPORT_BOT_USERNAME", "zayavka_support_bot"),
        ]);
        let mut deps = r.deps.clone();
        if let Some(m) = mailer {
            deps.mailer = m;
        }
        notification_worker::from_env(&zayavka::deps::Wiring {
            deps,
            env: &env,
            queue_prefix: "zayavka-".into(),
        })
        .unwrap()
    }

    /// Hands the worker whatever the notifications queue holds, twice (a redelivery), and
    /// deletes it as Lambda would after a success.
    async fn work(r: &Relay, w: &notification_worker::NotificationWorker) {
        let q = &r._store.parts.queue;
        let got = zayavka::ports::Queue::receive(q, "notifications", 10, std::time::Duration::ZERO)
            .await
            .unwrap();
        assert!(!got.is_empty(), "nothing was queued");
        let event = zayavka_cli::events::sqs_event("zayavka-notifications", &got).unwrap();
        assert!(w.handle(event.clone()).await.batch_item_failures.is_empty());
        assert!(w.handle(event).await.batch_item_failures.is_empty());
        for m in &got {
            zayavka::ports::Queue::delete(q, "notifications", &m.receipt_handle)
                .await
                .unwrap();
        }
    }

    /// Fails the next `n` sends to the admins' chat with a Telegram outage.
    async fn admins_down(r: &Relay, n: u64) {
        Mock::given(method("POST"))
            .and(path(format!("/bot{BOT}/sendMessage")))
            .and(body_partial_json(json!({"chat_id": ADMINS})))
            .respond_with(ResponseTemplate::new(502).set_body_string("Bad Gateway"))
            .up_to_n_times(n)
            .with_priority(1)
            .mount(&r.api)
            .await;
    }

    async fn bound(r: &Relay, user_key: &str, chat: i64) {
        zayavka::support::store::ensure_thread(&r.deps, user_key, "Пётр", None)
            .await
            .unwrap();
        let token = zayavka::support::store::new_binding_token(&r.deps, user_key)
            .await
            .unwrap();
        zayavka::support::store::bind(&r.deps, &token, chat, Some("ru"))
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn a_telegram_message_the_admins_chat_refused_once_arrives_there_once() {
        let r = Relay::start().await;
        bound(&r, "u:8", 88).await;
        admins_down(&r, 1).await;
        let update = private(88, "Срочно: не работает касса");
        // The outage: Telegram is asked to deliver again (503), and does.
        assert_eq!(r.update_as(7001, update.clone()).await, 503);
        assert_eq!(r.update_as(7001, update.clone()).await, 200);
        assert_eq!(r.update_as(7001, update).await, 200);
        let sent = r.sent().await;
        let to_admins = sent
            .iter()
            .filter(|(c, t)| *c == ADMINS && t.ends_with("Срочно: не работает касса"))
            .count();
        // Two tries reached the fake (the 502 and the success), one message arrived.
        assert_eq!(to_admins, 2, "{sent:?}");
        assert_eq!(
            sent.iter().filter(|(c, _)| *c == 88).count(),
            1,
            "the user is told once: {sent:?}"
        );
        let msgs = zayavka::support::store::messages(&r.deps, "u:8")
            .await
            .unwrap();
        assert_eq!(msgs.len(), 1, "stored once: {msgs:?}");
        assert!(msgs[0].admin_message_id.is_some());
    }

    #[tokio::test]
    async fn a_site_message_the_admins_could_not_see_at_once_reaches_them_once_later() {
        let s = site(&[]).await;
        admins_down(&s.relay, 1).await;
        let body = serde_json::to_vec(&json!({"subject": "", "message": "Касса не печатает чек",
            "name": "Ольга", "email": "olga@example.com"}))
        .unwrap();
        let r = call(
            &s.form,
            support_form::SUBMIT,
            "/api/feedback/submit",
            &[],
            &[
                ("content-type", "application/json"),
                ("origin", "https://shop.example"),
            ],
            &body,
        )
        .await;
        assert!(r.status_code < 300, "{} {}", r.status_code, r.body);
        let queued = s.relay.queued_notices().await;
        assert_eq!(queued.len(), 1, "{queued:?}");
        assert_eq!(queued[0]["kind"], "support");
        assert_eq!(queued[0]["action"], "to_admins");
        let w = worker(&s.relay, None);
        work(&s.relay, &w).await;
        let sent = s.relay.sent().await;
        let arrived: Vec<_> = sent
            .iter()
            .filter(|(c, t)| *c == ADMINS && t.ends_with("Касса не печатает чек"))
            .collect();
        assert_eq!(
            arrived.len(),
            2,
            "the refused try and one delivery: {sent:?}"
        );
        assert!(arrived[1].1.contains("olga@example.com"), "{arrived:?}");
        // The admins can reply to it: it is linked to the thread.
        let msgs = zayavka::support::store::messages(
            &s.relay.deps,
            queued[0]["user_key"].as_str().unwrap(),
        )
        .await
        .unwrap();
        assert!(msgs[0].admin_message_id.is_some(), "{msgs:?}");
    }

    async fn site_thread_with_admin_message(r: &Relay) -> i64 {
        let thread = zayavka::support::store::ensure_thread(
            &r.deps,
            "u:50",
            "Ольга",
            Some("olga@example.com"),
        )
        .await
        .unwrap();
        let mut msg = zayavka::support::new_message(
            &r.deps,
            "u:50",
            false,
            "site",
            None,
            "Где заказ?".into(),
        );
        zayavka::support::store::record(&r.deps, &msg)
            .await
            .unwrap();
        r.site_bot.to_admin(&thread, &mut msg).await.unwrap()
    }

    #[tokio::test]
    async fn a_reply_to_a_visitor_without_telegram_goes_by_email_once() {
        let r = Relay::start().await;
        let admin_msg = site_thread_with_admin_message(&r).await;
        assert_eq!(
            r.update(admin_reply(
                ADMINS,
                admin_msg as i32,
                "Заказ приедет завтра"
            ))
            .await,
            200
        );
        let w = worker(&r, None);
        work(&r, &w).await;
        let outbox: Vec<Vec<u8>> = std::fs::read_dir(r._store._dir.path().join("outbox"))
            .map(|d| {
                d.map(|e| std::fs::read(e.unwrap().path()).unwrap())
                    .collect()
            })
            .unwrap_or_default();
        assert_eq!(outbox.len(), 1, "one e-mail although the notice came twice");
        let mail = mail_parser::MessageParser::default()
            .parse(&outbox[0])
            .unwrap();
        let to: Vec<&str> = mail
            .to()
            .unwrap()
            .iter()
            .filter_map(|a| a.address())
            .collect();
        assert_eq!(to, ["olga@example.com"]);
        assert_eq!(mail.subject(), Some("Ответ на ваше обращение в поддержку"));
        let text = mail.body_text(0).unwrap();
        assert!(
            text.starts_with("📩 Ответ поддержки:\n\nЗаказ приедет завтра\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "Продолжить переписку в Telegram: https://t.me/zayavka_support_bot?start="
            ),
            "{text}"
        );
        let notes: Vec<_> = r
            .sent()
            .await
            .into_iter()
            .filter(|(c, t)| *c == ADMINS && t.starts_with("✉️"))
            .collect();
        assert_eq!(
            notes,
            [(
                ADMINS,
                "✉️ У пользователя нет привязки к Telegram: ответ отправлен на e-mail olga@example.com.".to_string()
            )]
        );
    }

    /// The table, except that the first write of a support message fails as a DynamoDB
    /// outage would.
    struct FailsOnce {
        inner: Arc<dyn zayavka::ports::Table>,
        failed: std::sync::atomic::AtomicBool,
    }

    #[async_trait]
    impl zayavka::ports::Table for FailsOnce {
        async fn get(
            &self,
            key: &zayavka::ports::Key,
        ) -> Result<Option<zayavka::ports::Item>, zayavka::ports::StoreError> {
            self.inner.get(key).await
        }
        async fn put(
            &self,
            item: zayavka::ports::Item,
            cond: Option<zayavka::ports::table::Cond>,
        ) -> Result<(), zayavka::ports::StoreError> {
            let is_message =
                matches!(item.get("sk"), Some(AttributeValue::S(sk)) if sk.starts_with("msg#"));
            if is_message && !self.failed.swap(true, Ordering::SeqCst) {
                return Err(zayavka::ports::StoreError::Unavailable(
                    "throttled (simulated)".into(),
                ));
            }
            self.inner.put(item, cond).await
        }
        async fn update(
            &self,
            key: &zayavka::ports::Key,
            u: Update,
        ) -> Result<zayavka::ports::Item, zayavka::ports::StoreError> {
            self.inner.update(key, u).await
        }
        async fn delete(
            &self,
            key: &zayavka::ports::Key,
            cond: Option<zayavka::ports::table::Cond>,
        ) -> Result<(), zayavka::ports::StoreError> {
            self.inner.delete(key, cond).await
        }
        async fn query(
            &self,
            q: zayavka::ports::Query,
        ) -> Result<zayavka::ports::Page, zayavka::ports::StoreError> {
            self.inner.query(q).await
        }
        async fn transact(
            &self,
            ops: Vec<zayavka::ports::TxOp>,
        ) -> Result<(), zayavka::ports::StoreError> {
            self.inner.transact(ops).await
        }
    }

    #[tokio::test]
    async fn a_telegram_message_the_store_refused_once_is_stored_and_relayed_once() {
        let r = Relay::start().await;
        bound(&r, "u:9", 99).await;
        let deps = Deps {
            table: Arc::new(FailsOnce {
                inner: r.deps.table.clone(),
                failed: std::sync::atomic::AtomicBool::new(false),
            }),
            ..r.deps.clone()
        };
        let env = test_env(&[
            ("TELEGRAM_SUPPORT_BOT_TOKEN", BOT),
            ("TELEGRAM_SUPPORT_WEBHOOK_SECRET", SECRET),
            ("TELEGRAM_ADMIN_CHAT_ID", &ADMINS.to_string()),
            ("TELEGRAM_API_BASE", &r.api.uri()),
        ]);
        let f = telegram_webhook::TelegramWebhook::new(
            deps,
            telegram_webhook::Config::read(&env).unwrap(),
        )
        .unwrap();
        let body = serde_json::to_vec(
            &json!({"update_id": 7101, "message": private(99, "Не пришёл чек")}),
        )
        .unwrap();
        let post = || async {
            let event = crate::apigw::api_gateway_event(crate::apigw::HttpInput {
                method: "POST",
                route_key: telegram_webhook::ROUTE,
                path: "/telegram/support/webhook",
                raw_query: "",
                query: Vec::new(),
                headers: vec![("x-telegram-bot-api-secret-token".into(), SECRET.into())],
                path_params: [("bot".to_string(), "support".to_string())].into(),
                body: &body,
                source_ip: "149.154.167.220",
                now_ms: 0,
            })
            .unwrap();
            zayavka::http::dispatch(&f as &dyn HttpFunction, crate::apigw::lambda_request(event))
                .await
                .status_code
        };
        assert_eq!(post().await, 503, "the outage is Telegram's to retry");
        assert_eq!(post().await, 200);
        let sent = r.sent().await;
        assert_eq!(
            sent.iter()
                .filter(|(c, t)| *c == ADMINS && t.ends_with("Не пришёл чек"))
                .count(),
            1,
            "{sent:?}"
        );
        let msgs = zayavka::support::store::messages(&r.deps, "u:9")
            .await
            .unwrap();
        assert_eq!(msgs.len(), 1, "{msgs:?}");
    }

    /// A bounce as SES event publishing writes it (raw SNS delivery puts it in the queue
    /// as is); `tag` is the value of our `zayavka` tag, if any.
    fn bounce(message_id: &str, tag: Option<&str>) -> String {
        let mut tags = json!({"ses:configuration-set": ["zayavka-mail-events"],
            "ses:source-ip": ["192.0.2.10"], "ses:from-domain": ["zayavka.test"]});
        if let Some(t) = tag {
            tags["zayavka"] = json!([t]);
        }
        json!({
            "eventType": "Bounce",
            "bounce": {"bounceType": "Permanent", "bounceSubType": "General",
                "bouncedRecipients": [{"emailAddress": "olga@example.com", "action": "failed",
                    "status": "5.1.1", "diagnosticCode": "smtp; 550 5.1.1 user unknown"}],
                "timestamp": "2026-12-01T10:00:02.669Z", "feedbackId": "0100017c-bounce",
                "reportingMTA": "dsn; a8-31.smtp-out.amazonses.com"},
            "mail": {"timestamp": "2026-12-01T10:00:01.000Z", "source": "noreply@zayavka.test",
                "sendingAccountId": "123456789012", "messageId": message_id,
                "destination": ["olga@example.com"], "headersTruncated": false,
                "commonHeaders": {"from": ["noreply@zayavka.test"], "to": ["olga@example.com"],
                    "subject": "Ответ на ваше обращение в поддержку"},
                "tags": tags}
        })
        .to_string()
    }

    #[tokio::test]
    async fn a_reply_that_bounced_later_is_reported_to_the_admins_once() {
        let r = Relay::start().await;
        let q = &r._store.parts.queue;
        for body in [
            bounce("0100017c-ours", Some("support_reply")),
            // Another of our e-mails (a lead's), and one without our tag: nobody to tell.
            bounce("0100017c-lead", Some("lead")),
            bounce("0100017c-untagged", None),
        ] {
            zayavka::ports::Queue::send(q, "notifications", zayavka::ports::OutMessage::new(body))
                .await
                .unwrap();
        }
        let w = worker(&r, None);
        work(&r, &w).await;
        let notes: Vec<_> = r
            .sent()
            .await
            .into_iter()
            .filter(|(c, _)| *c == ADMINS)
            .collect();
        assert_eq!(
            notes,
            [(
                ADMINS,
                "⚠️ Ответ на e-mail olga@example.com не доставлен (Permanent General smtp; 550 5.1.1 user unknown). Он сохранён в обращении на сайте.".to_string()
            )],
            "one note although SNS delivered it twice"
        );
    }

    /// SES refusing the message for good, as it does for an unverified sender.
    struct Refusing;

    #[async_trait]
    impl Mailer for Refusing {
        async fn send(&self, _email: &Email) -> Result<String, MailError> {
            Err(MailError::Rejected(
                "Email address is not verified: olga@example.com".into(),
            ))
        }
    }

    #[tokio::test]
    async fn a_reply_the_mail_service_refused_is_reported_to_the_admins() {
        let r = Relay::start().await;
        let admin_msg = site_thread_with_admin_message(&r).await;
        r.update(admin_reply(
            ADMINS,
            admin_msg as i32,
            "Заказ приедет завтра",
        ))
        .await;
        let w = worker(&r, Some(Arc::new(Refusing)));
        work(&r, &w).await;
        let notes: Vec<_> = r
            .sent()
            .await
            .into_iter()
            .filter(|(c, t)| *c == ADMINS && t.starts_with("⚠️"))
            .collect();
        assert_eq!(notes.len(), 1, "{notes:?}");
        assert!(
            notes[0].1.starts_with("⚠️ Ответ не удалось отправить на e-mail olga@example.com: mail rejected: Email address is not verified"),
            "{notes:?}"
        );
    }
}
