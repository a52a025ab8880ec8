//! The helpdesk bot end to end, against a fake Okdesk and a fake Bot API: registration of
//! individuals and company employees, issues created, listed, checked and commented on from
//! Telegram, and Okdesk's webhooks coming back to the right chat through the notifications
//! queue.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use wiremock::matchers::{method, path, query_param};
use wiremock::{Mock, MockServer, ResponseTemplate};
use zayavka::Deps;
use zayavka::helpdesk::store::{self, Link, Step};
use zayavka::http::HttpFunction;
use zayavka::ports::{Clock, FixedClock, SystemClock};
use zayavka::queues::NOTIFICATIONS;
use zayavka::sqs_batch::QueueWorker;
use zayavka::texts::{EN_HELPDESK, RU_HELPDESK};

use crate::support::{EmbeddedStore, embedded, failed_ids, test_env};
use crate::support_relay::NextId;

const BOT: &str = "123456:ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const SECRET: &str = "main_secret-1";
const OKDESK_TOKEN: &str = "okdesk-api-token-1";
pub const HOOK_TOKEN: &str = "hook_0123456789abcdef0123456789abcdef";
const WEB: &str = "https://acme.okdesk.ru";
/// Valid INNs (checksums hold) and one with a typo.
const INN_FOUND: &str = "7707083893";
const INN_UNKNOWN: &str = "500100732259";
const INN_TYPO: &str = "7707083894";

pub fn env(tg: &str, okdesk: &str) -> HashMap<String, String> {
    env_with(tg, okdesk, &[])
}

fn env_with(tg: &str, okdesk: &str, extra: &[(&str, &str)]) -> HashMap<String, String> {
    let mut env = test_env(&[
        ("TELEGRAM_MAIN_BOT_TOKEN", BOT),
        ("TELEGRAM_MAIN_WEBHOOK_SECRET", SECRET),
        ("TELEGRAM_API_BASE", tg),
        ("OKDESK_API_URL", &format!("{okdesk}/api/v1")),
        ("OKDESK_API_TOKEN", OKDESK_TOKEN),
        ("OKDESK_WEB_URL", WEB),
        ("OKDESK_INN_PARAMETER", "inn"),
        ("OKDESK_TIMEOUT_SECS", "1"),
        ("OKDESK_WEBHOOK_TOKEN", HOOK_TOKEN),
    ]);
    for (k, v) in extra {
        env.insert(k.to_string(), v.to_string());
    }
    env
}

pub struct Desk {
    pub tg: MockServer,
    pub okd: MockServer,
    bot: telegram_webhook::TelegramWebhook,
    hook: okdesk_webhook::OkdeskWebhook,
    notifier: notification_worker::NotificationWorker,
    pub deps: Deps,
    _store: EmbeddedStore,
    next_update: AtomicI64,
}

fn user(chat: i64, lang: &str) -> Value {
    json!({"id": chat, "is_bot": false, "first_name": "Глеб", "language_code": lang})
}

fn chat(id: i64) -> Value {
    json!({"id": id, "type": "private", "first_name": "Глеб"})
}

impl Desk {
    pub async fn start() -> Self {
        Self::start_with(&[]).await
    }

    async fn start_with(extra: &[(&str, &str)]) -> Self {
        let tg = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(NextId(AtomicI64::new(900)))
            .mount(&tg)
            .await;
        let okd = MockServer::start().await;
        let store = embedded(zayavka::queues::catalogue());
        let deps = Deps::embedded(&store.parts, Arc::new(SystemClock));
        let env = env_with(&tg.uri(), &okd.uri(), extra);
        let bot = telegram_webhook::TelegramWebhook::new(
            deps.clone(),
            telegram_webhook::Config::read(&env).unwrap(),
        )
        .unwrap();
        let hook = okdesk_webhook::OkdeskWebhook::new(
            deps.clone(),
            okdesk_webhook::Config::read(&env).unwrap(),
        );
        let notifier = notification_worker::NotificationWorker::new(
            deps.clone(),
            notification_worker::Config::read(&env).unwrap(),
        )
        .unwrap();
        Self {
            tg,
            okd,
            bot,
            hook,
            notifier,
            deps,
            _store: store,
            next_update: AtomicI64::new(1),
        }
    }

    async fn post_update(&self, update: Value) -> u16 {
        let id = self.next_update.fetch_add(1, Ordering::SeqCst);
        self.post_update_as(id, update).await
    }

    /// Posts an update with this id (Telegram delivering it again, say).
    async fn post_update_as(&self, id: i64, mut update: Value) -> u16 {
        update["update_id"] = json!(id);
        let body = serde_json::to_vec(&update).unwrap();
        let event = crate::apigw::api_gateway_event(crate::apigw::HttpInput {
            method: "POST",
            route_key: telegram_webhook::ROUTE,
            path: "/telegram/main/webhook",
            raw_query: "",
            query: Vec::new(),
            headers: vec![("x-telegram-bot-api-secret-token".into(), SECRET.into())],
            path_params: [("bot".to_string(), "main".to_string())].into(),
            body: &body,
            source_ip: "149.154.167.220",
            now_ms: 0,
        })
        .unwrap();
        zayavka::http::dispatch(
            &self.bot as &dyn HttpFunction,
            crate::apigw::lambda_request(event),
        )
        .await
        .status_code
    }

    pub async fn say_as(&self, chat_id: i64, text: &str, lang: &str) {
        let status = self
            .post_update(json!({"message": {"message_id": 10, "date": 1795256100,
                "chat": chat(chat_id), "from": user(chat_id, lang), "text": text}}))
            .await;
        assert_eq!(status, 200);
    }

    pub async fn say(&self, chat_id: i64, text: &str) {
        self.say_as(chat_id, text, "ru").await
    }

    /// A message with whatever content `fields` give (photo, document, caption …).
    async fn send_content(&self, chat_id: i64, fields: Value) {
        let mut message = json!({"message_id": 12, "date": 1795256100,
            "chat": chat(chat_id), "from": user(chat_id, "ru")});
        for (k, v) in fields.as_object().unwrap() {
            message[k] = v.clone();
        }
        assert_eq!(self.post_update(json!({ "message": message })).await, 200);
    }

    async fn share_contact(&self, chat_id: i64, phone: &str, owner: i64) {
        self.send_card(
            chat_id,
            json!({"phone_number": phone, "first_name": "Иван", "user_id": owner}),
        )
        .await;
    }

    /// A contact card as Telegram sends it (a forwarded one has no `user_id`).
    async fn send_card(&self, chat_id: i64, contact: Value) {
        let status = self
            .post_update(json!({"message": {"message_id": 11, "date": 1795256100,
                "chat": chat(chat_id), "from": user(chat_id, "ru"), "contact": contact}}))
            .await;
        assert_eq!(status, 200);
    }

    async fn press(&self, chat_id: i64, data: &str, message_id: i64) {
        let status = self
            .post_update(json!({"callback_query": {"id": format!("cb{message_id}{data}"),
                "from": user(chat_id, "ru"), "chat_instance": "ci", "data": data,
                "message": {"message_id": message_id, "date": 1795256100, "chat": chat(chat_id), "text": "…"}}}))
            .await;
        assert_eq!(status, 200);
    }

    /// Bodies of the Bot API calls of one method, in order.
    async fn tg_calls(&self, api_method: &str) -> Vec<Value> {
        self.tg
            .received_requests()
            .await
            .unwrap()
            .iter()
            .filter(|r| r.url.path().ends_with(&format!("/{api_method}")))
            .map(|r| serde_json::from_slice(&r.body).unwrap())
            .collect()
    }

    /// Every sendMessage to the chat so far.
    pub async fn sent_to(&self, chat_id: i64) -> Vec<Value> {
        self.tg_calls("sendMessage")
            .await
            .into_iter()
            .filter(|b| b["chat_id"] == json!(chat_id))
            .collect()
    }

    pub async fn last_to(&self, chat_id: i64) -> Value {
        self.sent_to(chat_id)
            .await
            .pop()
            .expect("a message to the chat")
    }

    /// Okdesk requests as (method, path, query without the token, body).
    async fn okdesk_calls(&self) -> Vec<(String, String, String, Value)> {
        self.okd
            .received_requests()
            .await
            .unwrap()
            .iter()
            .map(|r| {
                assert_eq!(
                    r.url
                        .query_pairs()
                        .find(|(k, _)| k == "api_token")
                        .map(|(_, v)| v.into_owned()),
                    Some(OKDESK_TOKEN.to_string()),
                    "every Okdesk call carries the token"
                );
                let query: Vec<String> = r
                    .url
                    .query_pairs()
                    .filter(|(k, _)| k != "api_token")
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect();
                (
                    r.method.to_string(),
                    r.url.path().to_string(),
                    query.join("&"),
                    serde_json::from_slice(&r.body).unwrap_or(Value::Null),
                )
            })
            .collect()
    }

    async fn okdesk_posts(&self, to: &str) -> Vec<Value> {
        self.okdesk_calls()
            .await
            .into_iter()
            .filter(|(m, p, _, _)| m == "POST" && p == to)
            .map(|(_, _, _, b)| b)
            .collect()
    }

    pub async fn okdesk_hook(&self, token: &str, body: &[u8]) -> (u16, Value) {
        let event = crate::apigw::api_gateway_event(crate::apigw::HttpInput {
            method: "POST",
            route_key: okdesk_webhook::ROUTE,
            path: &format!("/okdesk/webhook/{token}"),
            raw_query: "",
            query: Vec::new(),
            headers: vec![("content-type".into(), "application/json".into())],
            path_params: [("token".to_string(), token.to_string())].into(),
            body,
            source_ip: "185.60.134.10",
            now_ms: 0,
        })
        .unwrap();
        let resp = zayavka::http::dispatch(
            &self.hook as &dyn HttpFunction,
            crate::apigw::lambda_request(event),
        )
        .await;
        let body = serde_json::from_str(&resp.body).unwrap_or(Value::Null);
        (resp.status_code as u16, body)
    }

    /// One round of the notification worker over what is queued; failed messages become
    /// visible again at once (SQS would wait for the visibility timeout). Returns how many
    /// messages were handled and how many failed.
    pub async fn pump(&self) -> (usize, usize) {
        let got = self
            .deps
            .queue
            .receive(NOTIFICATIONS, 10, Duration::ZERO)
            .await
            .unwrap();
        if got.is_empty() {
            return (0, 0);
        }
        let event = zayavka_cli::events::sqs_event("zayavka-notifications", &got).unwrap();
        let failures = failed_ids(&self.notifier.handle(event).await);
        for m in &got {
            if failures.contains(&m.message_id) {
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
        (got.len(), failures.len())
    }

    pub async fn queued(&self) -> u64 {
        let s = self.deps.queue.stats(NOTIFICATIONS).await.unwrap();
        s.visible + s.in_flight + s.delayed
    }

    pub async fn link(&self, chat_id: i64, contact_id: i64, company_id: Option<i64>, lang: &str) {
        store::save_link(
            &self.deps,
            &Link {
                chat_id,
                contact_id,
                company_id,
                company_name: company_id.map(|_| "ООО Ромашка".into()),
                name: "Глеб Титов".into(),
                phone: "+79990001122".into(),
                lang: lang.into(),
                registered_at: "2026-11-21T10:00:00Z".into(),
            },
        )
        .await
        .unwrap();
    }
}

fn text_of(msg: &Value) -> &str {
    msg["text"].as_str().unwrap_or_default()
}

fn inline_data(msg: &Value) -> Vec<String> {
    msg["reply_markup"]["inline_keyboard"]
        .as_array()
        .map(|rows| {
            rows.iter()
                .flat_map(|r| r.as_array().unwrap().iter())
                .map(|b| b["callback_data"].as_str().unwrap().to_string())
                .collect()
        })
        .unwrap_or_default()
}

fn has_menu(msg: &Value) -> bool {
    let kb = &msg["reply_markup"]["keyboard"];
    kb == &json!([
        [{"text": RU_HELPDESK.menu_create}, {"text": RU_HELPDESK.menu_list}],
        [{"text": RU_HELPDESK.menu_status}, {"text": RU_HELPDESK.menu_comment}]
    ])
}

async fn mount_contact_lookup(okd: &MockServer, stored_as: &str, contact: Value) {
    Mock::given(method("GET"))
        .and(path("/api/v1/contacts/"))
        .and(query_param("phone", stored_as))
        .respond_with(ResponseTemplate::new(200).set_body_json(contact))
        .mount(okd)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/contacts/"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({})))
        .mount(okd)
        .await;
}

#[tokio::test]
async fn a_typed_number_of_an_existing_contact_links_nothing_until_the_button_proves_it() {
    let d = Desk::start().await;
    // Okdesk holds the number as 8…: found on the third spelling tried.
    mount_contact_lookup(
        &d.okd,
        "89990001122",
        json!({"id": 55, "name": "Глеб Титов", "phone": "89990001122"}),
    )
    .await;
    // Whoever knows the client's number types it, in any usual format: not linked.
    let formats = ["8 (999) 000-11-22", "+7 999 000 11 22", "999-000-11-22"];
    for (i, typed) in formats.iter().enumerate() {
        let c = 1000 + i as i64;
        d.say(c, "/start").await;
        let greeting = d.last_to(c).await;
        assert_eq!(text_of(&greeting), RU_HELPDESK.greeting);
        assert_eq!(inline_data(&greeting), ["reg:p", "reg:c"]);
        d.press(c, "reg:p", 901).await;
        assert_eq!(text_of(&d.last_to(c).await), RU_HELPDESK.ask_full_name);
        d.say(c, "  Титов   Глеб  ").await;
        let ask = d.last_to(c).await;
        assert_eq!(text_of(&ask), RU_HELPDESK.ask_phone);
        assert_eq!(
            ask["reply_markup"]["keyboard"],
            json!([[{"text": RU_HELPDESK.share_phone, "request_contact": true}]])
        );
        d.say(c, typed).await;
        let proof = d.last_to(c).await;
        assert_eq!(text_of(&proof), RU_HELPDESK.prove_number, "{typed}");
        assert_eq!(
            proof["reply_markup"]["keyboard"][0][0]["request_contact"],
            json!(true)
        );
        assert!(store::link_of_chat(&d.deps, c).await.unwrap().is_none());
        assert!(matches!(
            store::step(&d.deps, c).await.unwrap(),
            Some(Step::Phone { .. })
        ));
    }
    // A forwarded card (no user_id) proves nothing either.
    d.send_card(
        1000,
        json!({"phone_number": "79990001122", "first_name": "Глеб"}),
    )
    .await;
    assert_eq!(text_of(&d.last_to(1000).await), RU_HELPDESK.prove_number);
    // Nor does somebody else's card.
    d.share_contact(1001, "79990001122", 1000).await;
    assert_eq!(text_of(&d.last_to(1001).await), RU_HELPDESK.not_own_contact);
    assert!(
        store::chats_of_contact(&d.deps, 55)
            .await
            .unwrap()
            .is_empty()
    );
    // The owner presses the button: Telegram vouches for the number, and the chat is linked.
    d.share_contact(1002, "79990001122", 1002).await;
    let done = d.last_to(1002).await;
    assert!(text_of(&done).starts_with("Готово, Титов Глеб!"), "{done}");
    assert!(has_menu(&done), "{done}");
    let link = store::link_of_chat(&d.deps, 1002).await.unwrap().unwrap();
    assert_eq!(
        (
            link.contact_id,
            link.phone.as_str(),
            link.company_id,
            link.name.as_str()
        ),
        (55, "+79990001122", None, "Титов Глеб"),
    );
    assert_eq!(store::step(&d.deps, 1002).await.unwrap(), None);
    let calls = d.okdesk_calls().await;
    let lookups: Vec<&str> = calls.iter().map(|(_, _, q, _)| q.as_str()).collect();
    assert_eq!(
        lookups,
        [
            "phone=+79990001122",
            "phone=79990001122",
            "phone=89990001122"
        ]
        .repeat(5),
        "the same variants for each format and card, and nothing created"
    );
    // Only the proven chat hears about the contact's issues.
    let chats: Vec<i64> = store::chats_of_contact(&d.deps, 55)
        .await
        .unwrap()
        .iter()
        .map(|l| l.chat_id)
        .collect();
    assert_eq!(chats, [1002]);
}

#[tokio::test]
async fn a_new_individual_is_created_from_a_shared_contact_and_bad_input_is_explained() {
    let d = Desk::start().await;
    mount_contact_lookup(&d.okd, "nobody", json!({})).await;
    Mock::given(method("POST"))
        .and(path("/api/v1/contacts/"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!({"id": 77, "name": "Иван Иванов"})),
        )
        .mount(&d.okd)
        .await;
    let c = 2000;
    d.say(c, "hello").await;
    // An unknown chat is led to registration by anything it says.
    assert_eq!(text_of(&d.last_to(c).await), RU_HELPDESK.greeting);
    d.say(c, "what?").await;
    assert_eq!(text_of(&d.last_to(c).await), RU_HELPDESK.choose_kind);
    d.press(c, "reg:p", 901).await;
    d.say(c, "+7 916 123 45 67").await;
    assert_eq!(text_of(&d.last_to(c).await), RU_HELPDESK.bad_full_name);
    d.say(c, "Иванов Иван Иванович").await;
    d.say(c, "позвоните мне").await;
    let bad = d.last_to(c).await;
    assert!(text_of(&bad).contains("«позвоните мне»"), "{bad}");
    assert_eq!(
        bad["reply_markup"]["keyboard"][0][0]["request_contact"],
        json!(true),
        "the share button stays"
    );
    // Somebody else's contact card is not a registration.
    d.share_contact(c, "79161234567", 4242).await;
    assert_eq!(text_of(&d.last_to(c).await), RU_HELPDESK.not_own_contact);
    d.share_contact(c, "79161234567", c).await;
    assert!(text_of(&d.last_to(c).await).starts_with("Готово, Иванов Иван Иванович!"));
    assert_eq!(
        d.okdesk_posts("/api/v1/contacts/").await,
        [
            json!({"contact": {"first_name": "Иван", "last_name": "Иванов", "patronymic": "Иванович", "phone": "+79161234567"}})
        ]
    );
    let link = store::link_of_chat(&d.deps, c).await.unwrap().unwrap();
    assert_eq!((link.contact_id, link.phone.as_str()), (77, "+79161234567"));
}

#[tokio::test]
async fn a_company_employee_registers_by_inn_with_typos_and_unknown_inns_explained() {
    let d = Desk::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/companies/list"))
        .and(query_param("custom_parameters[inn]", INN_FOUND))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!([{"id": 7, "name": "ООО Ромашка"}])),
        )
        .mount(&d.okd)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/companies/list"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .mount(&d.okd)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/companies/"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({})))
        .mount(&d.okd)
        .await;
    mount_contact_lookup(&d.okd, "nobody", json!({})).await;
    Mock::given(method("POST"))
        .and(path("/api/v1/contacts/"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": 78, "company_id": 7})))
        .mount(&d.okd)
        .await;
    let c = 3000;
    d.say(c, "/start").await;
    d.press(c, "reg:c", 901).await;
    assert_eq!(text_of(&d.last_to(c).await), RU_HELPDESK.ask_inn);
    d.say(c, INN_TYPO).await;
    assert_eq!(text_of(&d.last_to(c).await), RU_HELPDESK.inn_checksum);
    d.say(c, "77070838").await;
    assert_eq!(
        text_of(&d.last_to(c).await),
        "В ИНН 10 цифр (организация) или 12 (ИП), а здесь 8. Проверьте и введите ещё раз."
    );
    d.say(c, "ИНН ромашки").await;
    assert_eq!(text_of(&d.last_to(c).await), RU_HELPDESK.inn_not_digits);
    assert!(
        d.okdesk_calls().await.is_empty(),
        "a wrong INN never reaches Okdesk"
    );
    d.say(c, INN_UNKNOWN).await;
    let not_found = d.last_to(c).await;
    assert_eq!(
        text_of(&not_found),
        format!(
            "Компания с ИНН {INN_UNKNOWN} не найдена в Okdesk. Проверьте ИНН или зарегистрируйтесь как физическое лицо."
        )
    );
    assert_eq!(inline_data(&not_found), ["reg:c", "reg:p"]);
    // The attribute first, then the substring search.
    let calls = d.okdesk_calls().await;
    assert_eq!(
        calls
            .iter()
            .map(|(_, p, q, _)| format!("{p}?{q}"))
            .collect::<Vec<_>>(),
        [
            format!("/api/v1/companies/list?custom_parameters[inn]={INN_UNKNOWN}"),
            format!("/api/v1/companies/?search_string={INN_UNKNOWN}"),
        ]
    );
    // Still at the INN step: the right one now (with spaces, as people copy it).
    d.say(c, "7707 083 893").await;
    assert_eq!(
        text_of(&d.last_to(c).await),
        "Компания найдена: «ООО Ромашка».\nТеперь введите ваше ФИО, например: Иванов Иван Иванович."
    );
    d.say(c, "Петрова Анна").await;
    d.say(c, "+7 (495) 123-45-67").await;
    let done = d.last_to(c).await;
    assert!(
        text_of(&done).ends_with("Компания: «ООО Ромашка»."),
        "{done}"
    );
    assert!(has_menu(&done));
    assert_eq!(
        d.okdesk_posts("/api/v1/contacts/").await,
        [
            json!({"contact": {"first_name": "Анна", "last_name": "Петрова", "phone": "+74951234567", "company_id": 7}})
        ]
    );
    let link = store::link_of_chat(&d.deps, c).await.unwrap().unwrap();
    assert_eq!((link.contact_id, link.company_id), (78, Some(7)));
}

#[tokio::test]
async fn an_existing_contact_of_another_company_is_linked_as_it_is_and_never_moved() {
    let d = Desk::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/companies/list"))
        .respond_with(
            ResponseTemplate::new(200).set_body_json(json!([{"id": 7, "name": "ООО Ромашка"}])),
        )
        .mount(&d.okd)
        .await;
    mount_contact_lookup(
        &d.okd,
        "+79990001122",
        json!({"id": 55, "name": "Глеб", "company_id": 3}),
    )
    .await;
    // A public INN must not let anyone move a contact into their company.
    Mock::given(method("PATCH"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": 55, "company_id": 7})))
        .expect(0)
        .mount(&d.okd)
        .await;
    let c = 3100;
    d.say(c, "/start").await;
    d.press(c, "reg:c", 901).await;
    d.say(c, INN_FOUND).await;
    d.say(c, "Титов Глеб").await;
    d.share_contact(c, "79990001122", c).await;
    let done = text_of(&d.last_to(c).await).to_string();
    assert_eq!(
        done,
        format!(
            "{}\nВаш контакт в Okdesk не относится к компании «ООО Ромашка», а бот его не переносит: заявки будут создаваться от вашего контакта как есть. Чтобы сменить компанию, напишите в поддержку.",
            zayavka::texts::fill(RU_HELPDESK.registered, &[("name", "Титов Глеб")])
        )
    );
    let link = store::link_of_chat(&d.deps, c).await.unwrap().unwrap();
    assert_eq!(
        (link.contact_id, link.company_id, link.company_name),
        (55, Some(3), None),
        "the contact's own company, not the one named"
    );
    assert!(d.okdesk_posts("/api/v1/contacts/").await.is_empty());
}

#[tokio::test]
async fn an_issue_is_created_from_one_message_with_its_number_and_link() {
    let d = Desk::start().await;
    d.link(4000, 55, Some(7), "ru").await;
    Mock::given(method("POST"))
        .and(path("/api/v1/issues/"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"id": 321, "title": "Не печатает принтер в бухгалтерии", "status": {"code": "opened", "name": "Открыта"}}),
        ))
        .mount(&d.okd)
        .await;
    d.say(4000, RU_HELPDESK.menu_create).await;
    assert_eq!(text_of(&d.last_to(4000).await), RU_HELPDESK.ask_issue_text);
    let description = "Не печатает принтер в бухгалтерии. Горит красная лампа, перезагрузка не помогла.\nКабинет 204.";
    d.say(4000, description).await;
    assert_eq!(
        d.okdesk_posts("/api/v1/issues/").await,
        [
            json!({"issue": {"title": "Не печатает принтер в бухгалтерии", "description": description,
                          "contact_id": 55, "company_id": 7}})
        ]
    );
    let reply = d.last_to(4000).await;
    assert_eq!(
        text_of(&reply),
        "✅ Заявка #321 создана: Не печатает принтер в бухгалтерии\nhttps://acme.okdesk.ru/issues/321"
    );
    assert!(has_menu(&reply));
    assert_eq!(store::step(&d.deps, 4000).await.unwrap(), None);
    // The next message is not another issue by itself: it is offered as one, and declined.
    d.say(4000, "спасибо").await;
    let offer = d.last_to(4000).await;
    assert_eq!(
        text_of(&offer),
        "Создать заявку из этого сообщения?\nЗаголовок: спасибо"
    );
    assert_eq!(inline_data(&offer), ["new:y", "new:n"]);
    d.press(4000, "new:n", 990).await;
    assert_eq!(text_of(&d.last_to(4000).await), RU_HELPDESK.cancelled);
    assert_eq!(d.okdesk_posts("/api/v1/issues/").await.len(), 1);
    // The old button pressed again does nothing but say so.
    d.press(4000, "new:y", 990).await;
    assert_eq!(text_of(&d.last_to(4000).await), RU_HELPDESK.draft_gone);
    assert_eq!(d.okdesk_posts("/api/v1/issues/").await.len(), 1);
}

#[tokio::test]
async fn a_message_written_straight_away_becomes_an_issue_with_one_press() {
    let d = Desk::start().await;
    d.link(4300, 55, Some(7), "ru").await;
    Mock::given(method("POST"))
        .and(path("/api/v1/issues/"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": 700})))
        .mount(&d.okd)
        .await;
    d.say(4300, "Не работает касса в зале 2").await;
    d.say(
        4300,
        "Не работает касса в зале 2! Ошибка E-13 при оплате картой.",
    )
    .await;
    assert!(
        d.okdesk_posts("/api/v1/issues/").await.is_empty(),
        "nothing filed unasked"
    );
    // The latest message is the draft.
    d.press(4300, "new:y", 991).await;
    assert_eq!(
        d.okdesk_posts("/api/v1/issues/").await,
        [json!({"issue": {"title": "Не работает касса в зале 2!",
                          "description": "Не работает касса в зале 2! Ошибка E-13 при оплате картой.",
                          "contact_id": 55, "company_id": 7}})]
    );
    assert!(text_of(&d.last_to(4300).await).starts_with("✅ Заявка #700 создана"));
    assert_eq!(store::step(&d.deps, 4300).await.unwrap(), None);
}

#[tokio::test]
async fn a_chat_creates_a_limited_number_of_issues_per_hour() {
    let d = Desk::start_with(&[("HELPDESK_ISSUES_PER_HOUR", "2")]).await;
    d.link(4100, 55, None, "ru").await;
    for (priority, answer) in [
        (
            1,
            ResponseTemplate::new(200).set_body_json(json!({"id": 501})),
        ),
        (2, ResponseTemplate::new(500)),
    ] {
        Mock::given(method("POST"))
            .and(path("/api/v1/issues/"))
            .respond_with(answer)
            .up_to_n_times(1)
            .with_priority(priority)
            .mount(&d.okd)
            .await;
    }
    Mock::given(method("POST"))
        .and(path("/api/v1/issues/"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": 502})))
        .with_priority(3)
        .mount(&d.okd)
        .await;
    d.say(4100, RU_HELPDESK.menu_create).await;
    d.say(4100, "Первая проблема").await;
    assert!(text_of(&d.last_to(4100).await).contains("#501"));
    d.say(4100, RU_HELPDESK.menu_create).await;
    d.say(4100, "Вторая проблема").await;
    // Okdesk failed: that attempt does not count.
    assert!(text_of(&d.last_to(4100).await).ends_with(RU_HELPDESK.issue_not_created));
    d.say(4100, "Вторая проблема").await;
    assert!(text_of(&d.last_to(4100).await).contains("#502"));
    d.say(4100, RU_HELPDESK.menu_create).await;
    d.say(4100, "Третья проблема").await;
    assert_eq!(text_of(&d.last_to(4100).await), RU_HELPDESK.too_many_issues);
    assert_eq!(d.okdesk_posts("/api/v1/issues/").await.len(), 3);
    // Another chat has its own allowance.
    d.link(4101, 56, None, "ru").await;
    d.say(4101, RU_HELPDESK.menu_create).await;
    d.say(4101, "Проблема соседа").await;
    assert!(text_of(&d.last_to(4101).await).contains("#502"));
}

/// One part of a multipart body: field name, file name, content type, bytes.
type Part = (String, Option<String>, Option<String>, Vec<u8>);

/// The multipart parts of a request.
fn parts(req: &wiremock::Request) -> Vec<Part> {
    let content_type = req.headers.get("content-type").unwrap().to_str().unwrap();
    let boundary = content_type
        .split("boundary=")
        .nth(1)
        .expect("a multipart body")
        .to_string();
    let delimiter = format!("--{boundary}");
    let body = &req.body;
    let mut out = Vec::new();
    let positions: Vec<usize> = body
        .windows(delimiter.len())
        .enumerate()
        .filter(|(_, w)| *w == delimiter.as_bytes())
        .map(|(i, _)| i)
        .collect();
    for pair in positions.windows(2) {
        let part = &body[pair[0] + delimiter.len() + 2..pair[1] - 2];
        let split = part.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        let head = String::from_utf8_lossy(&part[..split]).to_string();
        let field = |key: &str| {
            head.split(&format!("{key}=\""))
                .nth(1)
                .map(|rest| rest.split('"').next().unwrap().to_string())
        };
        let kind = head
            .lines()
            .find_map(|l| {
                l.strip_prefix("content-type: ")
                    .or(l.strip_prefix("Content-Type: "))
            })
            .map(String::from);
        out.push((
            field("name").unwrap(),
            field("filename"),
            kind,
            part[split + 4..].to_vec(),
        ));
    }
    out
}

#[tokio::test]
async fn photos_and_files_reach_okdesk_as_the_contacts_comments() {
    let d = Desk::start().await;
    d.link(4200, 55, None, "ru").await;
    Mock::given(method("POST"))
        .and(path(format!("/bot{BOT}/getFile")))
        .and(wiremock::matchers::body_partial_json(
            json!({"file_id": "too-big"}),
        ))
        .respond_with(ResponseTemplate::new(400).set_body_json(
            json!({"ok": false, "error_code": 400, "description": "Bad Request: file is too big"}),
        ))
        .with_priority(1)
        .mount(&d.tg)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("/bot{BOT}/getFile")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"ok": true, "result": {
            "file_id": "x", "file_unique_id": "u", "file_size": 9, "file_path": "documents/file_7.bin"}})))
        .with_priority(2)
        .mount(&d.tg)
        .await;
    Mock::given(method("GET"))
        .and(path(format!("/file/bot{BOT}/documents/file_7.bin")))
        .respond_with(ResponseTemplate::new(200).set_body_bytes(b"FILEBYTES".to_vec()))
        .mount(&d.tg)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/v1/issues/"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": 601})))
        .mount(&d.okd)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/v1/issues/601/comments"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": 1})))
        .mount(&d.okd)
        .await;
    mount_issues(&d.okd, 55, &[601]).await;

    // An issue from a photo with a caption: the caption is the issue, the photo its comment.
    d.say(4200, RU_HELPDESK.menu_create).await;
    d.send_content(
        4200,
        json!({"caption": "Сломался монитор, фото прилагаю",
        "photo": [{"file_id": "small", "file_unique_id": "s1", "width": 90, "height": 90},
                  {"file_id": "big", "file_unique_id": "AQADbig", "width": 1280, "height": 960}]}),
    )
    .await;
    assert_eq!(
        d.okdesk_posts("/api/v1/issues/").await,
        [json!({"issue": {"title": "Сломался монитор, фото прилагаю",
                          "description": "Сломался монитор, фото прилагаю", "contact_id": 55}})]
    );
    assert!(text_of(&d.last_to(4200).await).starts_with("✅ Заявка #601 создана"));
    let got_file: Vec<Value> = d.tg_calls("getFile").await;
    assert_eq!(got_file, [json!({"file_id": "big"})], "the largest size");
    let comments: Vec<wiremock::Request> = d
        .okd
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .filter(|r| r.url.path() == "/api/v1/issues/601/comments")
        .collect();
    assert_eq!(comments.len(), 1);
    assert_eq!(
        parts(&comments[0]),
        [
            (
                "comment[content]".into(),
                None,
                None,
                "Файл из Telegram".as_bytes().to_vec()
            ),
            ("comment[author_id]".into(), None, None, b"55".to_vec()),
            (
                "comment[author_type]".into(),
                None,
                None,
                b"contact".to_vec()
            ),
            ("comment[public]".into(), None, None, b"true".to_vec()),
            (
                "comment[attachments_attributes][0][file]".into(),
                Some("photo-AQADbig.jpg".into()),
                Some("image/jpeg".into()),
                b"FILEBYTES".to_vec()
            ),
        ]
    );

    // A document as a comment, without a caption.
    d.say(4200, RU_HELPDESK.menu_comment).await;
    d.press(4200, "cm:601", 970).await;
    d.send_content(
        4200,
        json!({"document": {"file_id": "doc", "file_unique_id": "d1",
        "file_name": "акт <1>.pdf", "mime_type": "application/pdf"}}),
    )
    .await;
    assert_eq!(
        text_of(&d.last_to(4200).await),
        "💬 Комментарий добавлен к заявке #601."
    );
    let last = d
        .okd
        .received_requests()
        .await
        .unwrap()
        .into_iter()
        .rfind(|r| r.url.path() == "/api/v1/issues/601/comments")
        .unwrap();
    let file = parts(&last).pop().unwrap();
    assert_eq!(
        (file.1.as_deref(), file.2.as_deref(), file.3.as_slice()),
        (
            Some("акт <1>.pdf"),
            Some("application/pdf"),
            &b"FILEBYTES"[..]
        )
    );

    // A file Telegram will not hand over: the client is told, the step waits.
    d.say(4200, RU_HELPDESK.menu_comment).await;
    d.press(4200, "cm:601", 971).await;
    d.send_content(
        4200,
        json!({"caption": "вот акт", "document": {"file_id": "too-big", "file_unique_id": "d2"}}),
    )
    .await;
    assert_eq!(
        text_of(&d.last_to(4200).await),
        format!(
            "{}\n{}",
            RU_HELPDESK.attachment_failed, RU_HELPDESK.comment_not_added
        )
    );
    assert_eq!(
        store::step(&d.deps, 4200).await.unwrap(),
        Some(Step::CommentText { issue_id: 601 })
    );
}

async fn mount_issues(okd: &MockServer, contact: i64, ids: &[i64]) {
    Mock::given(method("GET"))
        .and(path("/api/v1/issues/count"))
        .and(query_param("contact_ids[]", contact.to_string()))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!(ids)))
        .mount(okd)
        .await;
    for id in ids {
        let (code, name) = if id % 2 == 0 {
            ("in_progress", "В работе")
        } else {
            ("opened", "Открыта")
        };
        Mock::given(method("GET"))
            .and(path(format!("/api/v1/issues/{id}")))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!({
                "id": id, "title": format!("Проблема {id}"), "status": {"code": code, "name": name},
                "contact": {"id": contact}})))
            .mount(okd)
            .await;
    }
}

#[tokio::test]
async fn issues_are_listed_newest_first_paged_and_their_status_checked() {
    let d = Desk::start().await;
    d.link(5000, 55, None, "ru").await;
    mount_issues(&d.okd, 55, &[301, 302, 303, 304, 305, 306, 307]).await;
    d.say(5000, RU_HELPDESK.menu_list).await;
    let list = d.last_to(5000).await;
    assert_eq!(
        text_of(&list),
        "📋 Ваши заявки (1–5 из 7):\n#307 · Проблема 307 — Открыта\n#306 · Проблема 306 — В работе\n\
         #305 · Проблема 305 — Открыта\n#304 · Проблема 304 — В работе\n#303 · Проблема 303 — Открыта"
    );
    assert_eq!(inline_data(&list), ["ls:l:1"]);
    d.press(5000, "ls:l:1", 950).await;
    let edit = d.tg_calls("editMessageText").await.pop().unwrap();
    assert_eq!(edit["message_id"], json!(950));
    assert_eq!(
        text_of(&edit),
        "📋 Ваши заявки (6–7 из 7):\n#302 · Проблема 302 — В работе\n#301 · Проблема 301 — Открыта"
    );
    assert_eq!(inline_data(&edit), ["ls:l:0"]);
    for data in inline_data(&list).iter().chain(inline_data(&edit).iter()) {
        assert!(data.len() <= 64);
    }

    d.say(5000, RU_HELPDESK.menu_status).await;
    let choose = d.last_to(5000).await;
    assert_eq!(text_of(&choose), RU_HELPDESK.choose_status);
    assert_eq!(
        inline_data(&choose),
        ["st:307", "st:306", "st:305", "st:304", "st:303", "ls:s:1"]
    );
    d.press(5000, "st:306", 951).await;
    assert_eq!(
        text_of(&d.last_to(5000).await),
        "Заявка #306: Проблема 306\nСтатус: В работе\nhttps://acme.okdesk.ru/issues/306"
    );
    // A button for an issue that is not the client's (an old or forged one) shows nothing.
    let before = d.okdesk_calls().await.len();
    d.press(5000, "st:999", 952).await;
    assert_eq!(text_of(&d.last_to(5000).await), RU_HELPDESK.issue_not_yours);
    let after = d.okdesk_calls().await;
    assert!(
        after[before..]
            .iter()
            .all(|(_, p, _, _)| p != "/api/v1/issues/999")
    );
    // Every button press was answered.
    assert_eq!(d.tg_calls("answerCallbackQuery").await.len(), 3);
}

#[tokio::test]
async fn a_comment_goes_to_okdesk_as_the_contacts_public_comment() {
    let d = Desk::start().await;
    d.link(6000, 55, None, "ru").await;
    mount_issues(&d.okd, 55, &[301, 302]).await;
    Mock::given(method("POST"))
        .and(path("/api/v1/issues/301/comments"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"id": 9001})))
        .mount(&d.okd)
        .await;
    d.say(6000, RU_HELPDESK.menu_comment).await;
    let choose = d.last_to(6000).await;
    assert_eq!(text_of(&choose), RU_HELPDESK.choose_comment);
    assert_eq!(inline_data(&choose), ["cm:302", "cm:301"]);
    d.press(6000, "cm:301", 960).await;
    assert_eq!(
        text_of(&d.last_to(6000).await),
        "Напишите комментарий к заявке #301 одним сообщением.\n/cancel — отмена."
    );
    d.say(6000, "Жду мастера <после 15:00> & не раньше\nСпасибо")
        .await;
    assert_eq!(
        d.okdesk_posts("/api/v1/issues/301/comments").await,
        [
            json!({"comment": {"content": "Жду мастера &lt;после 15:00&gt; &amp; не раньше<br>Спасибо",
                            "author_id": 55, "author_type": "contact", "public": true}})
        ]
    );
    assert_eq!(
        text_of(&d.last_to(6000).await),
        "💬 Комментарий добавлен к заявке #301."
    );
    d.say(6000, RU_HELPDESK.menu_comment).await;
    d.press(6000, "cm:302", 961).await;
    d.say(6000, "/cancel").await;
    let cancelled = d.last_to(6000).await;
    assert_eq!(text_of(&cancelled), RU_HELPDESK.cancelled);
    assert!(has_menu(&cancelled));
    assert_eq!(store::step(&d.deps, 6000).await.unwrap(), None);
    d.say(6000, "и это тоже").await;
    assert_eq!(
        d.okdesk_posts("/api/v1/issues/302/comments").await.len(),
        0,
        "after /cancel nothing is posted"
    );
}

#[tokio::test]
async fn okdesk_trouble_gets_a_plain_answer_and_the_step_waits() {
    let d = Desk::start().await;
    d.link(7000, 55, None, "ru").await;
    // 500, then a timeout (the client waits 1 s), then a rejected token.
    Mock::given(method("POST"))
        .and(path("/api/v1/issues/"))
        .respond_with(ResponseTemplate::new(500).set_body_string("oops"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&d.okd)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/v1/issues/"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"id": 1}))
                .set_delay(Duration::from_secs(3)),
        )
        .up_to_n_times(1)
        .with_priority(2)
        .mount(&d.okd)
        .await;
    Mock::given(method("POST"))
        .and(path("/api/v1/issues/"))
        .respond_with(ResponseTemplate::new(401).set_body_json(json!({"errors": "unauthorized"})))
        .with_priority(3)
        .mount(&d.okd)
        .await;
    d.say(7000, RU_HELPDESK.menu_create).await;
    for expected in [
        RU_HELPDESK.okdesk_unreachable,
        RU_HELPDESK.okdesk_unreachable,
        RU_HELPDESK.okdesk_token_rejected,
    ] {
        d.say(7000, "Не работает интернет").await;
        assert_eq!(
            text_of(&d.last_to(7000).await),
            format!("{expected}\n{}", RU_HELPDESK.issue_not_created)
        );
        assert_eq!(
            store::step(&d.deps, 7000).await.unwrap(),
            Some(Step::IssueText),
            "sending the text again tries again"
        );
    }
    assert_eq!(d.okdesk_posts("/api/v1/issues/").await.len(), 3);
    // The list, too, says so instead of failing silently.
    Mock::given(method("GET"))
        .and(path("/api/v1/issues/count"))
        .respond_with(
            ResponseTemplate::new(422)
                .set_body_json(json!({"errors": {"contact_ids": ["не найден"]}})),
        )
        .mount(&d.okd)
        .await;
    d.say(7000, RU_HELPDESK.menu_list).await;
    assert_eq!(text_of(&d.last_to(7000).await), RU_HELPDESK.okdesk_refused);
}

#[tokio::test]
async fn commands_menu_and_english_speakers() {
    let d = Desk::start().await;
    let c = 8000;
    d.say_as(c, "/menu", "en").await;
    assert_eq!(text_of(&d.last_to(c).await), EN_HELPDESK.need_registration);
    d.say_as(c, "/start", "en").await;
    let greeting = d.last_to(c).await;
    assert_eq!(text_of(&greeting), EN_HELPDESK.greeting);
    d.say_as(c, "/help", "en").await;
    assert_eq!(text_of(&d.last_to(c).await), EN_HELPDESK.help);
    d.say_as(c, "/whatever", "en").await;
    assert_eq!(text_of(&d.last_to(c).await), EN_HELPDESK.unknown_command);
    d.link(c, 55, None, "en").await;
    d.say_as(c, "/start@zayavka_bot", "en").await;
    let back = d.last_to(c).await;
    assert_eq!(
        text_of(&back),
        "Welcome back, Глеб Титов! Choose an action in the menu."
    );
    assert_eq!(
        back["reply_markup"]["keyboard"][0][0]["text"],
        json!(EN_HELPDESK.menu_create)
    );
    // Registering again is always possible.
    d.say_as(c, "/register", "en").await;
    assert_eq!(text_of(&d.last_to(c).await), EN_HELPDESK.greeting);
    assert_eq!(
        store::step(&d.deps, c).await.unwrap(),
        Some(Step::ChooseKind)
    );
    // A Russian menu label works for an English speaker too (and the other way round).
    d.say_as(c, RU_HELPDESK.menu_create, "en").await;
    assert_eq!(text_of(&d.last_to(c).await), EN_HELPDESK.ask_issue_text);
    // Groups are not listened to.
    let before = d.tg_calls("sendMessage").await.len();
    d.post_update(json!({"message": {"message_id": 12, "date": 1795256100,
        "chat": {"id": -100, "type": "group", "title": "Офис"}, "from": user(c, "en"), "text": "/start"}}))
        .await;
    assert_eq!(d.tg_calls("sendMessage").await.len(), before);
}

#[tokio::test]
async fn a_conversation_step_survives_a_cold_start_and_expires_after_a_day() {
    let mut d = Desk::start().await;
    mount_contact_lookup(&d.okd, "+79990001122", json!({"id": 55})).await;
    d.say(9000, "/start").await;
    d.press(9000, "reg:p", 901).await;
    d.say(9000, "Сидоров Пётр").await;
    // A new instance (a cold start) over the same table carries on at the phone step.
    let env = env(&d.tg.uri(), &d.okd.uri());
    d.bot = telegram_webhook::TelegramWebhook::new(
        d.deps.clone(),
        telegram_webhook::Config::read(&env).unwrap(),
    )
    .unwrap();
    d.share_contact(9000, "79990001122", 9000).await;
    assert!(text_of(&d.last_to(9000).await).starts_with("Готово, Сидоров Пётр!"));
    assert_eq!(
        store::link_of_chat(&d.deps, 9000)
            .await
            .unwrap()
            .unwrap()
            .contact_id,
        55
    );
    // A step last touched more than a day ago is gone: the chat starts over.
    let day_ago = Deps {
        clock: Arc::new(FixedClock::at_ms(
            SystemClock.now_ms() - (store::STEP_TTL_SECS + 60) * 1000,
        )),
        ..d.deps.clone()
    };
    store::set_step(&day_ago, 9100, &Step::CompanyInn)
        .await
        .unwrap();
    assert_eq!(store::step(&d.deps, 9100).await.unwrap(), None);
    d.say(9100, INN_FOUND).await;
    assert_eq!(text_of(&d.last_to(9100).await), RU_HELPDESK.greeting);
    store::set_step(&d.deps, 9200, &Step::CompanyInn)
        .await
        .unwrap();
    assert_eq!(
        store::step(&d.deps, 9200).await.unwrap(),
        Some(Step::CompanyInn)
    );
}

#[tokio::test]
async fn registering_again_moves_the_chat_to_the_new_contact() {
    let d = Desk::start().await;
    d.link(4400, 55, None, "ru").await;
    mount_contact_lookup(&d.okd, "+79161234567", json!({"id": 77, "name": "Новый"})).await;
    d.say(4400, "/register").await;
    d.press(4400, "reg:p", 901).await;
    d.say(4400, "Новиков Пётр").await;
    d.share_contact(4400, "79161234567", 4400).await;
    assert!(text_of(&d.last_to(4400).await).starts_with("Готово, Новиков Пётр!"));
    let chats = |contact| {
        let deps = d.deps.clone();
        async move {
            store::chats_of_contact(&deps, contact)
                .await
                .unwrap()
                .iter()
                .map(|l| l.chat_id)
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(chats(77).await, [4400]);
    assert!(
        chats(55).await.is_empty(),
        "the old contact's news no longer come here"
    );
}

#[tokio::test]
async fn an_issue_is_filed_once_whatever_fails_after_okdesk_was_asked() {
    let d = Desk::start().await;
    let c = 4900;
    d.link(c, 55, None, "ru").await;
    Mock::given(method("POST"))
        .and(path("/api/v1/issues/"))
        .respond_with(ResponseTemplate::new(200).set_body_json(
            json!({"id": 654, "title": "Не работает сканер", "status": {"code": "opened", "name": "Открыта"}}),
        ))
        .mount(&d.okd)
        .await;
    d.say(c, RU_HELPDESK.menu_create).await;
    // The issue is created, then the answer to the client hits a Bot API outage.
    Mock::given(method("POST"))
        .and(path(format!("/bot{BOT}/sendMessage")))
        .and(wiremock::matchers::body_partial_json(json!({"chat_id": c})))
        .respond_with(ResponseTemplate::new(502).set_body_string("Bad Gateway"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&d.tg)
        .await;
    let update = json!({"message": {"message_id": 30, "date": 1795256100,
        "chat": chat(c), "from": user(c, "ru"), "text": "Не работает сканер"}});
    assert_eq!(
        d.post_update_as(8001, update.clone()).await,
        503,
        "Telegram is asked to deliver it again"
    );
    assert_eq!(d.post_update_as(8001, update).await, 200);
    assert_eq!(
        d.okdesk_posts("/api/v1/issues/").await.len(),
        1,
        "filed once"
    );
    let answer = d.last_to(c).await;
    assert!(text_of(&answer).contains("654"), "{answer}");

    // A handling that died after asking Okdesk (its record says so, without an id): the
    // redelivery does not file a second issue, and the client is told to look.
    d.say(c, RU_HELPDESK.menu_create).await;
    assert_eq!(
        store::begin_issue(&d.deps, c, 8002).await.unwrap(),
        store::IssueAttempt::First
    );
    let again = json!({"message": {"message_id": 31, "date": 1795256100,
        "chat": chat(c), "from": user(c, "ru"), "text": "Не работает сканер"}});
    assert_eq!(d.post_update_as(8002, again).await, 200);
    assert_eq!(d.okdesk_posts("/api/v1/issues/").await.len(), 1);
    assert_eq!(
        text_of(&d.last_to(c).await),
        RU_HELPDESK.issue_maybe_created
    );
    assert_eq!(store::step(&d.deps, c).await.unwrap(), None);
}
