//! Replay as the lead's owner uses it: a delivery that failed for good is sent again once
//! the service is fixed, without the request's credentials (its message was kept), what
//! succeeded is never called again, and a replay with nothing left to replay changes
//! nothing.

use std::time::Duration;

use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

use crate::leads::Stack;
use crate::support::{Kind, TEST_API_KEY, unique};

const BOT: &str = "123456:ABCDEFGHIJKLMNOPQRSTUVWXYZ";

fn lead(lead_id: &str, bitrix: &MockServer) -> Value {
    json!({
        "lead_id": lead_id,
        "lead": {"name": "Анна", "phone": "+7 999 000-11-22"},
        "integrations": [
            {"type": "telegram", "settings": {"chat_id": "-100123"}},
            {"type": "bitrix24", "settings": {"source_id": "WEB"}},
        ],
        "credentials": {
            "telegram": {"bot_token": BOT},
            "bitrix24": {"webhook_url": format!("{}/rest/1/abc/", bitrix.uri())},
        },
    })
}

async fn retry(stack: &Stack, lead_id: &str, body: Option<Value>) -> (u16, Value) {
    let mut req = reqwest::Client::new()
        .post(format!("{}/api/leads/{lead_id}/retry", stack.url))
        .bearer_auth(TEST_API_KEY);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

/// Bitrix24 finds no duplicate, and refuses the lead (400) until `fixed` is mounted.
async fn bitrix_refusing(bitrix: &MockServer) {
    Mock::given(method("POST"))
        .and(path("/rest/1/abc/crm.duplicate.findbycomm.json"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"result": []})))
        .mount(bitrix)
        .await;
    Mock::given(method("POST"))
        .and(path("/rest/1/abc/crm.lead.add.json"))
        .respond_with(ResponseTemplate::new(400).set_body_json(json!({
            "error": "ERROR_CORE", "error_description": "Поле SOURCE_ID заполнено неверно"
        })))
        .with_priority(5)
        .mount(bitrix)
        .await;
}

async fn bitrix_fixed(bitrix: &MockServer) {
    Mock::given(method("POST"))
        .and(path("/rest/1/abc/crm.lead.add.json"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"result": 501})))
        .with_priority(1)
        .mount(bitrix)
        .await;
}

async fn posts_to(server: &MockServer, suffix: &str) -> usize {
    server
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|r| r.url.path().ends_with(suffix))
        .count()
}

async fn lead_messages(stack: &Stack) -> usize {
    stack
        .fakes
        .telegram
        .received_requests()
        .await
        .unwrap_or_default()
        .iter()
        .filter(|r| {
            let body: Value = serde_json::from_slice(&r.body).unwrap_or_default();
            // A numeric chat id goes out as a number, as the Bot API takes it.
            body["chat_id"] == json!(-100123) || body["chat_id"] == "-100123"
        })
        .count()
}

crate::both!(a_replay_sends_what_failed_and_nothing_else_once);
async fn a_replay_sends_what_failed_and_nothing_else_once(kind: Kind) {
    let stack = Stack::start(kind, &[], &[]).await;
    stack.fakes.telegram_ok().await;
    let bitrix = &stack.fakes.bitrix;
    bitrix_refusing(bitrix).await;
    let id = unique("replay-");
    let (status, b) = stack.submit(&lead(&id, bitrix), None).await;
    assert_eq!(status, 202, "{b}");
    let first = stack.settled(&id, Duration::from_secs(30)).await;
    assert_eq!(first["status"], "partial", "{first:#}");

    // Asking for what succeeded, or while nothing is fixed yet for the wrong thing, changes
    // nothing.
    let (status, b) = retry(&stack, &id, Some(json!({"integrations": ["telegram"]}))).await;
    assert_eq!(status, 409, "{b}");
    assert!(
        b["error"]["message"]
            .as_str()
            .unwrap()
            .contains("never sent again"),
        "{b}"
    );
    let (status, b) = retry(&stack, &id, Some(json!({"integrations": ["webhook"]}))).await;
    assert_eq!(status, 409, "{b}");
    let (status, b) = retry(&stack, &id, Some(json!({"only": ["bitrix24"]}))).await;
    assert_eq!(status, 422, "{b}");
    let (status, _) = retry(&stack, "no-such-lead", None).await;
    assert_eq!(status, 404);

    bitrix_fixed(bitrix).await;
    // No credentials in the replay: the failed job's message was kept.
    let (status, b) = retry(&stack, &id, None).await;
    assert_eq!(status, 202, "{b}");
    assert_eq!(b["replayed"], json!(["bitrix24"]), "{b}");
    assert_eq!(b["status"], "processing", "{b}");
    let done = stack.settled(&id, Duration::from_secs(30)).await;
    assert_eq!(done["status"], "completed", "{done:#}");
    let jobs = done["integrations"].as_array().unwrap();
    let job = |name: &str| {
        jobs.iter()
            .find(|j| j["integration"] == name)
            .unwrap()
            .clone()
    };
    assert_eq!(job("bitrix24")["status"], "succeeded", "{done:#}");
    assert_eq!(job("bitrix24")["external_id"], "501", "{done:#}");
    assert_eq!(job("telegram")["status"], "succeeded", "{done:#}");
    let replays = done["replays"].as_array().unwrap();
    assert_eq!(replays.len(), 1, "{done:#}");
    assert_eq!(replays[0]["integrations"], json!(["bitrix24"]));
    assert_eq!(replays[0]["from_batch"], first["batch_id"]);
    assert_eq!(replays[0]["batch_id"], done["batch_id"]);

    // Bitrix24 got the lead twice (refused, then taken); the Telegram chat once.
    assert_eq!(posts_to(bitrix, "crm.lead.add.json").await, 2);
    assert_eq!(lead_messages(&stack).await, 1);

    // A replay of the replay: nothing failed, nothing changes.
    let (status, b) = retry(&stack, &id, None).await;
    assert_eq!(status, 409, "{b}");
    assert!(
        b["error"]["message"]
            .as_str()
            .unwrap()
            .contains("nothing to replay"),
        "{b}"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(posts_to(bitrix, "crm.lead.add.json").await, 2);
    assert_eq!(lead_messages(&stack).await, 1);
    let (_, raw) = stack.lead(&id).await;
    let again: Value = serde_json::from_str(&raw).unwrap();
    assert_eq!(again["status"], "completed");
    assert_eq!(again["replays"].as_array().unwrap().len(), 1);
    stack.stop().await;
}

crate::both!(a_delivery_whose_message_is_gone_replays_with_the_credentials_sent_again);
async fn a_delivery_whose_message_is_gone_replays_with_the_credentials_sent_again(kind: Kind) {
    let stack = Stack::start(kind, &[("REPLAY_KEEP", "0")], &[]).await;
    stack.fakes.telegram_ok().await;
    let bitrix = &stack.fakes.bitrix;
    bitrix_refusing(bitrix).await;
    let id = unique("replay-");
    let (status, b) = stack.submit(&lead(&id, bitrix), None).await;
    assert_eq!(status, 202, "{b}");
    assert_eq!(
        stack.settled(&id, Duration::from_secs(30)).await["status"],
        "partial"
    );
    bitrix_fixed(bitrix).await;

    let (status, b) = retry(&stack, &id, None).await;
    assert_eq!(status, 409, "{b}");
    let why = b["error"]["message"].as_str().unwrap();
    assert!(
        why.contains("bitrix24") && why.contains("no longer kept"),
        "{b}"
    );
    assert_eq!(posts_to(bitrix, "crm.lead.add.json").await, 1);

    let whole = json!({
        "integrations": [{"type": "bitrix24", "settings": {"source_id": "WEB"}}],
        "credentials": {"bitrix24": {"webhook_url": format!("{}/rest/1/abc/", bitrix.uri())}},
    });
    let (status, b) = retry(&stack, &id, Some(whole)).await;
    assert_eq!(status, 202, "{b}");
    let done = stack.settled(&id, Duration::from_secs(30)).await;
    assert_eq!(done["status"], "completed", "{done:#}");
    assert_eq!(posts_to(bitrix, "crm.lead.add.json").await, 2);
    assert_eq!(lead_messages(&stack).await, 1);
    stack.stop().await;
}

crate::both!(leads_retry_replays_every_failure_since_a_time_and_only_those);
async fn leads_retry_replays_every_failure_since_a_time_and_only_those(kind: Kind) {
    let stack = Stack::start(kind, &[], &[]).await;
    stack.fakes.telegram_ok().await;
    let bitrix = &stack.fakes.bitrix;
    bitrix_refusing(bitrix).await;
    let mut failed = Vec::new();
    for _ in 0..3 {
        let id = unique("bulk-");
        let (status, b) = stack.submit(&lead(&id, bitrix), None).await;
        assert_eq!(status, 202, "{b}");
        failed.push(id);
    }
    for id in &failed {
        assert_eq!(
            stack.settled(id, Duration::from_secs(30)).await["status"],
            "partial"
        );
    }
    bitrix_fixed(bitrix).await;
    let now = stack.deps.clock.now_ms();
    let bulk = |since_ms, integration| zayavka_cli::leads::Bulk {
        since_ms,
        integration,
        status: Some("partial".into()),
        rate: 50.0,
        patience_ms: 3_600_000,
    };
    // Nothing settled in the future; nothing failed on the webhook.
    let none = zayavka_cli::leads::retry(&stack.deps, &bulk(now + 60_000, None))
        .await
        .unwrap();
    assert_eq!(none.last().unwrap(), "0 of 0 leads replayed");
    let webhook = Some(zayavka::leads::Integration::Webhook);
    let none = zayavka_cli::leads::retry(&stack.deps, &bulk(now - 3_600_000, webhook))
        .await
        .unwrap();
    assert_eq!(none.last().unwrap(), "0 of 0 leads replayed");

    let since = zayavka_cli::leads::parse_since("1h", now).unwrap();
    assert_eq!(since, now - 3_600_000);
    let bitrix24 = Some(zayavka::leads::Integration::Bitrix24);
    let lines = zayavka_cli::leads::retry(&stack.deps, &bulk(since, bitrix24))
        .await
        .unwrap();
    assert_eq!(lines.last().unwrap(), "3 of 3 leads replayed", "{lines:?}");
    for id in &failed {
        assert!(
            lines
                .iter()
                .any(|l| l == &format!("{id}: replayed bitrix24")),
            "{lines:?}"
        );
        let done = stack.settled(id, Duration::from_secs(30)).await;
        assert_eq!(done["status"], "completed", "{done:#}");
    }
    assert_eq!(posts_to(bitrix, "crm.lead.add.json").await, 6);
    assert_eq!(lead_messages(&stack).await, 3);
    // Run again: the replays completed, so nothing is left to send.
    let again = zayavka_cli::leads::retry(&stack.deps, &bulk(since, bitrix24))
        .await
        .unwrap();
    assert_eq!(again.last().unwrap(), "0 of 3 leads replayed", "{again:?}");
    assert_eq!(posts_to(bitrix, "crm.lead.add.json").await, 6);
    stack.stop().await;
}

/// A press of the notice's button, as Telegram posts it to the bot's webhook.
fn press(update_id: i64, chat: i64, data: &str) -> Value {
    json!({"update_id": update_id, "callback_query": {
        "id": format!("q{update_id}"), "chat_instance": "1", "data": data,
        "from": {"id": 777, "is_bot": false, "first_name": "Админ", "language_code": "ru"},
        "message": {"message_id": 42, "date": 1, "chat": {"id": chat, "type": "supergroup", "title": "Админы"}}
    }})
}

crate::both!(the_failure_notice_s_button_replays_from_the_admins_chat_only);
async fn the_failure_notice_s_button_replays_from_the_admins_chat_only(kind: Kind) {
    // The notices' bot is also the staff bot, so its presses reach this stack.
    let stack = Stack::start(
        kind,
        &[
            ("TELEGRAM_STAFF_BOT_TOKEN", BOT),
            ("TELEGRAM_STAFF_WEBHOOK_SECRET", "staff-secret"),
        ],
        &[],
    )
    .await;
    stack.fakes.telegram_ok().await;
    Mock::given(method("POST"))
        .and(path(format!("/bot{BOT}/answerCallbackQuery")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"ok": true, "result": true})))
        .mount(&stack.fakes.telegram)
        .await;
    let bitrix = &stack.fakes.bitrix;
    bitrix_refusing(bitrix).await;
    let id = unique("button-");
    let (status, b) = stack.submit(&lead(&id, bitrix), None).await;
    assert_eq!(status, 202, "{b}");
    assert_eq!(
        stack.settled(&id, Duration::from_secs(30)).await["status"],
        "partial"
    );
    // The admins' notice carries the button, naming the lead.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let data = loop {
        let sent = stack.fakes.telegram.received_requests().await.unwrap();
        let notice = sent.iter().find_map(|r| {
            let body: Value = serde_json::from_slice(&r.body).ok()?;
            (body["chat_id"] == json!(-100999) && body["text"].as_str()?.contains(&id))
                .then_some(body)
        });
        if let Some(n) = notice {
            let button = &n["reply_markup"]["inline_keyboard"][0][0];
            assert_eq!(button["text"], "Повторить", "{n:#}");
            break button["callback_data"].as_str().unwrap().to_string();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no notice with a button"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    bitrix_fixed(bitrix).await;
    let post = |update: Value| {
        reqwest::Client::new()
            .post(format!("{}/telegram/staff/webhook", stack.url))
            .header("X-Telegram-Bot-Api-Secret-Token", "staff-secret")
            .json(&update)
            .send()
    };
    // Pressed in another chat (a forwarded notice): nothing happens.
    assert_eq!(
        post(press(9001, -100555, &data)).await.unwrap().status(),
        200
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(posts_to(bitrix, "crm.lead.add.json").await, 1);
    let (_, raw) = stack.lead(&id).await;
    assert!(raw.contains("\"partial\""), "{raw}");

    assert_eq!(
        post(press(9002, -100999, &data)).await.unwrap().status(),
        200
    );
    // The replay is made by the notification worker, a moment after the press.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let done = loop {
        let (_, raw) = stack.lead(&id).await;
        let v: Value = serde_json::from_str(&raw).unwrap();
        if v["status"] == "completed" {
            break v;
        }
        assert!(std::time::Instant::now() < deadline, "not replayed: {v:#}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(done["replays"][0]["by"], "telegram:777", "{done:#}");
    assert_eq!(posts_to(bitrix, "crm.lead.add.json").await, 2);
    let answers: Vec<Value> = stack
        .fakes
        .telegram
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path().ends_with("/answerCallbackQuery"))
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect();
    assert_eq!(answers.len(), 2, "{answers:?}");
    assert!(
        answers[0]["text"]
            .as_str()
            .unwrap()
            .contains("только в чате администраторов")
    );
    assert!(answers[1]["text"].as_str().unwrap().contains("Принято"));
    // What came of it is told in the admins' chat, once.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let said = format!("Отправляется снова {id}: bitrix24");
    loop {
        let told = stack
            .fakes
            .telegram
            .received_requests()
            .await
            .unwrap()
            .iter()
            .filter_map(|r| serde_json::from_slice::<Value>(&r.body).ok())
            .filter(|b| b["chat_id"] == json!(-100999))
            .filter(|b| b["text"].as_str().is_some_and(|t| t.contains(&said)))
            .count();
        if told == 1 {
            break;
        }
        assert!(
            told == 0 && std::time::Instant::now() < deadline,
            "told {told} times"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stack.stop().await;
}
