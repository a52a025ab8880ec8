//! Okdesk's webhooks back to the client: status changes and staff comments reach the chats
//! of the issue's contact through the notifications queue, once each; what the client must
//! not hear is not sent; Okdesk or Telegram trouble delays a notice but never loses it.

use std::time::Duration;

use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};

use crate::helpdesk::{Desk, HOOK_TOKEN};

fn issue(client: Option<i64>) -> Value {
    let mut issue = json!({"id": "321", "title": "Не печатает принтер", "status": {"code": "completed", "name": "Решена"},
        "created_at": "2026-11-21T10:00:00+03:00", "priority": {"code": "normal", "name": "Обычный"}});
    if let Some(contact) = client {
        issue["client"] = json!({"company": {"id": "7", "name": "ООО Ромашка"},
            "contact": {"id": contact.to_string(), "first_name": "Глеб", "last_name": "Титов"}});
    }
    issue
}

fn status_event(old: (&str, &str), new: (&str, &str), client: Option<i64>) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "event": {"event_type": "new_ticket_status",
                  "author": {"id": "3", "first_name": "Анна", "last_name": "Смирнова", "type": "employee"},
                  "old_status": {"code": old.0, "name": old.1}, "new_status": {"code": new.0, "name": new.1}},
        "issue": issue(client)}))
    .unwrap()
}

fn comment_event(id: i64, public: bool, author: Value, content: &str) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "event": {"event_type": "new_comment", "author": author,
                  "comment": {"id": id.to_string(), "is_public": public, "content": content}, "attachments": []},
        "issue": issue(Some(55))}))
    .unwrap()
}

fn employee() -> Value {
    json!({"id": "3", "first_name": "Анна", "last_name": "Смирнова", "patronymic": "", "type": "employee"})
}

/// The texts sent to a chat, with their parse mode checked.
async fn texts_to(d: &Desk, chat: i64) -> Vec<String> {
    d.sent_to(chat)
        .await
        .iter()
        .map(|m| {
            assert_eq!(m["parse_mode"], json!("HTML"));
            m["text"].as_str().unwrap().to_string()
        })
        .collect()
}

#[tokio::test]
async fn status_changes_and_staff_comments_reach_the_clients_chats_once() {
    let d = Desk::start().await;
    d.link(1001, 55, Some(7), "ru").await;
    d.link(1002, 55, Some(7), "en").await;
    d.link(1003, 56, None, "ru").await;

    let opened_to_done = status_event(("opened", "Открыта"), ("completed", "Решена"), Some(55));
    let (status, body) = d.okdesk_hook(HOOK_TOKEN, &opened_to_done).await;
    assert_eq!((status, &body["status"]), (202, &json!("queued")));
    assert_eq!(d.pump().await, (1, 0));
    assert_eq!(
        texts_to(&d, 1001).await,
        [
            "<b>Заявка #321: Открыта → Решена</b>\nНе печатает принтер\nhttps://acme.okdesk.ru/issues/321"
        ]
    );
    assert_eq!(
        texts_to(&d, 1002).await,
        [
            "<b>Request #321: Открыта → Решена</b>\nНе печатает принтер\nhttps://acme.okdesk.ru/issues/321"
        ]
    );
    assert!(
        texts_to(&d, 1003).await.is_empty(),
        "another contact's chat"
    );

    // Okdesk delivers the same event again: queued, but nobody hears it twice.
    assert_eq!(d.okdesk_hook(HOOK_TOKEN, &opened_to_done).await.0, 202);
    assert_eq!(d.pump().await, (1, 0));
    assert_eq!(texts_to(&d, 1001).await.len(), 1);

    // Between two closing statuses is a change too.
    let done_to_closed = status_event(("completed", "Решена"), ("closed", "Закрыта"), Some(55));
    d.okdesk_hook(HOOK_TOKEN, &done_to_closed).await;
    d.pump().await;
    assert_eq!(
        texts_to(&d, 1001).await[1],
        "<b>Заявка #321: Решена → Закрыта</b>\nНе печатает принтер\nhttps://acme.okdesk.ru/issues/321"
    );

    // A staff comment in Okdesk's HTML arrives as safe plain text.
    let comment = comment_event(
        9001,
        true,
        employee(),
        "<p>Проверьте <b>картридж</b> &amp; бумагу &lt;A4&gt;</p><script>alert(1)</script><p>Ссылка: <a href=\"https://kb.example/printer?a=1&amp;b=2\">инструкция</a></p>",
    );
    assert_eq!(d.okdesk_hook(HOOK_TOKEN, &comment).await.0, 202);
    assert_eq!(d.okdesk_hook(HOOK_TOKEN, &comment).await.0, 202);
    // Both copies may land in one batch: one sends, the other comes back and finds it sent.
    while d.pump().await != (0, 0) {}
    let texts = texts_to(&d, 1001).await;
    assert_eq!(texts.len(), 3, "{texts:?}");
    assert_eq!(
        texts[2],
        "<b>💬 Новый комментарий к заявке #321 от Анна Смирнова:</b>\n\n\
         Проверьте картридж &amp; бумагу &lt;A4&gt;\n\nСсылка: [инструкция][1]\n\n\
         [1]: https://kb.example/printer?a=1&amp;b=2\n\nhttps://acme.okdesk.ru/issues/321"
    );
    assert!(
        texts_to(&d, 1002).await[2]
            .starts_with("<b>💬 New comment on request #321 from Анна Смирнова:</b>")
    );
    assert_eq!(d.queued().await, 0);
}

#[tokio::test]
async fn what_the_client_must_not_hear_is_not_sent() {
    let d = Desk::start().await;
    d.link(2001, 55, None, "ru").await;

    // A private note among staff: acknowledged, not even queued.
    let private = comment_event(9100, false, employee(), "<p>клиент сложный</p>");
    let (status, body) = d.okdesk_hook(HOOK_TOKEN, &private).await;
    assert_eq!((status, &body["reason"]), (200, &json!("private comment")));
    assert_eq!(d.queued().await, 0);

    // The client's own comment (sent through the bot) comes back from Okdesk: not echoed.
    let own = comment_event(
        9101,
        true,
        json!({"id": "55", "first_name": "Глеб", "last_name": "Титов", "type": "contact"}),
        "Жду мастера",
    );
    assert_eq!(d.okdesk_hook(HOOK_TOKEN, &own).await.0, 202);
    assert_eq!(d.pump().await, (1, 0));

    // Other events are acknowledged and dropped.
    for event_type in ["new_assignee", "new_ticket", "some_future_event"] {
        let body = serde_json::to_vec(
            &json!({"event": {"event_type": event_type}, "issue": issue(Some(55))}),
        )
        .unwrap();
        let (status, answer) = d.okdesk_hook(HOOK_TOKEN, &body).await;
        assert_eq!(
            (status, &answer["status"]),
            (200, &json!("ignored")),
            "{event_type}"
        );
    }

    // Malformed: 400 with the reason.
    for (body, says) in [
        (&b"{not json"[..], "not JSON"),
        (&br#"{"issue": {"id": 1}}"#[..], "event"),
        (
            &br#"{"event": {"event_type": "new_ticket_status"}, "issue": {}}"#[..],
            "issue.id",
        ),
    ] {
        let (status, answer) = d.okdesk_hook(HOOK_TOKEN, body).await;
        assert_eq!(status, 400);
        assert!(
            answer["error"]["message"].as_str().unwrap().contains(says),
            "{answer}"
        );
    }

    // A wrong token: 404, as if there were no such route, and nothing happens.
    let status_change = status_event(("opened", "Открыта"), ("completed", "Решена"), Some(55));
    for token in ["hook_0123456789abcdef0123456789abcdeX", "", "x"] {
        assert_eq!(
            d.okdesk_hook(token, &status_change).await.0,
            404,
            "{token:?}"
        );
    }
    assert_eq!(d.queued().await, 0);
    assert!(d.sent_to(2001).await.is_empty());
}

#[tokio::test]
async fn a_notice_is_retried_while_okdesk_or_telegram_fail_and_sent_once() {
    let d = Desk::start().await;
    d.link(3001, 55, None, "ru").await;
    // No client in the webhook: the worker asks Okdesk, which fails, then times out, then
    // answers.
    Mock::given(method("GET"))
        .and(path("/api/v1/issues/321"))
        .respond_with(ResponseTemplate::new(500))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&d.okd)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/issues/321"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"id": 321}))
                .set_delay(Duration::from_secs(3)),
        )
        .up_to_n_times(1)
        .with_priority(2)
        .mount(&d.okd)
        .await;
    Mock::given(method("GET"))
        .and(path("/api/v1/issues/321"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({
            "id": 321, "title": "Не печатает принтер", "status": {"code": "completed", "name": "Решена"},
            "contact": {"id": 55, "name": "Глеб Титов"}})))
        .with_priority(3)
        .mount(&d.okd)
        .await;
    let body = status_event(("opened", "Открыта"), ("completed", "Решена"), None);
    assert_eq!(d.okdesk_hook(HOOK_TOKEN, &body).await.0, 202);
    assert_eq!(d.pump().await, (1, 1), "Okdesk 500: kept for a retry");
    assert_eq!(d.pump().await, (1, 1), "Okdesk timeout: kept for a retry");
    assert!(d.sent_to(3001).await.is_empty());
    assert_eq!(d.pump().await, (1, 0));
    assert_eq!(d.sent_to(3001).await.len(), 1);

    // Telegram fails once: the notice comes back and is sent, once.
    Mock::given(method("POST"))
        .and(path(format!(
            "/bot{}/sendMessage",
            "123456:ABCDEFGHIJKLMNOPQRSTUVWXYZ"
        )))
        .respond_with(ResponseTemplate::new(502).set_body_string("Bad Gateway"))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&d.tg)
        .await;
    let comment = comment_event(9200, true, employee(), "<p>Готово</p>");
    d.okdesk_hook(HOOK_TOKEN, &comment).await;
    assert_eq!(d.pump().await, (1, 1));
    assert_eq!(d.pump().await, (1, 0));
    assert_eq!(d.pump().await, (0, 0));
    let texts = texts_to(&d, 3001).await;
    assert_eq!(
        texts.len(),
        3,
        "the failed attempt and one delivery: {texts:?}"
    );
    assert_eq!(texts[1], texts[2]);
}

/// The whole way through `zayavka serve`: Okdesk's HTTP call, the queue, the worker's poller,
/// the client's chat.
#[tokio::test]
async fn through_the_local_stack_a_status_change_reaches_the_client() {
    use std::sync::Arc;
    use std::sync::atomic::AtomicI64;
    use zayavka_cli::serve::{self, ServeOptions};

    let tg = wiremock::MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(crate::support_relay::NextId(AtomicI64::new(1)))
        .mount(&tg)
        .await;
    let okd = wiremock::MockServer::start().await;
    let env = crate::helpdesk::env(&tg.uri(), &okd.uri());
    let dir = tempfile::tempdir().unwrap();
    let keep = Arc::new(std::sync::Mutex::new(None));
    let keep2 = keep.clone();
    let started = serve::start(
        ServeOptions::local(dir.path().to_path_buf()),
        zayavka::queues::catalogue(),
        move |deps, prefix| {
            *keep2.lock().unwrap() = Some(deps.clone());
            serve::functions(deps, &env, prefix)
        },
    )
    .await
    .unwrap();
    let deps: zayavka::Deps = keep.lock().unwrap().clone().unwrap();
    zayavka::helpdesk::store::save_link(
        &deps,
        &zayavka::helpdesk::store::Link {
            chat_id: 4242,
            contact_id: 55,
            company_id: None,
            company_name: None,
            name: "Глеб".into(),
            phone: "+79990001122".into(),
            lang: "ru".into(),
            registered_at: "2026-11-21T10:00:00Z".into(),
        },
    )
    .await
    .unwrap();
    let client = reqwest::Client::new();
    let url = format!("http://{}/okdesk/webhook/{HOOK_TOKEN}", started.addr);
    let r = client
        .post(&url)
        .header("content-type", "application/json")
        .body(status_event(
            ("opened", "Открыта"),
            ("in_progress", "В работе"),
            Some(55),
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 202);
    let wrong = client
        .post(format!("http://{}/okdesk/webhook/nope", started.addr))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(wrong.status(), 404);
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let text = loop {
        let sent: Vec<Value> = tg
            .received_requests()
            .await
            .unwrap()
            .iter()
            .map(|r| serde_json::from_slice(&r.body).unwrap())
            .filter(|b: &Value| b["chat_id"] == 4242)
            .collect();
        if let Some(m) = sent.first() {
            break m["text"].as_str().unwrap().to_string();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no notice reached the chat"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert!(
        text.starts_with("<b>Заявка #321: Открыта → В работе</b>"),
        "{text}"
    );
    started.stop().await;
}
