//! Updates as others write them (tests/fixtures/foreign_updates.json), posted twice each to
//! both bots: one a handler can read is answered once; one it cannot is answered 200 and
//! stays done; one without a Telegram update id is refused and leaves nothing claimed.
//! None of them is ever answered 503, which would make Telegram queue later updates
//! behind it.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::AtomicI64;

use serde_json::Value;
use wiremock::matchers::method;
use wiremock::{Mock, MockServer};
use zayavka::Deps;
use zayavka::http::HttpFunction;
use zayavka::ports::SystemClock;

use crate::support::{embedded, test_env};
use crate::support_relay::NextId;

const TOKEN: &str = "123456:ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const SECRETS: [(&str, &str); 2] = [("main", "main_secret-1"), ("support", "support_secret-1")];

async fn post(f: &dyn HttpFunction, bot: &str, body: &[u8]) -> u16 {
    let secret = SECRETS.iter().find(|(b, _)| *b == bot).unwrap().1;
    let path = format!("/telegram/{bot}/webhook");
    let event = crate::apigw::api_gateway_event(crate::apigw::HttpInput {
        method: "POST",
        route_key: telegram_webhook::ROUTE,
        path: &path,
        raw_query: "",
        query: Vec::new(),
        headers: vec![("x-telegram-bot-api-secret-token".into(), secret.into())],
        path_params: [("bot".to_string(), bot.to_string())].into(),
        body,
        source_ip: "149.154.167.220",
        now_ms: 0,
    })
    .unwrap();
    zayavka::http::dispatch(f, crate::apigw::lambda_request(event))
        .await
        .status_code
}

#[tokio::test]
async fn updates_written_by_others_are_handled_once_or_set_aside_never_stalled() {
    let fixtures: Value =
        serde_json::from_str(include_str!("fixtures/foreign_updates.json")).unwrap();
    let tg = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(NextId(AtomicI64::new(1)))
        .mount(&tg)
        .await;
    let okdesk = MockServer::start().await;
    let store = embedded(zayavka::queues::catalogue());
    let deps = Deps::embedded(&store.parts, Arc::new(SystemClock));
    let okdesk_api = format!("{}/api/v1", okdesk.uri());
    let env = test_env(&[
        ("TELEGRAM_MAIN_BOT_TOKEN", TOKEN),
        ("TELEGRAM_MAIN_WEBHOOK_SECRET", SECRETS[0].1),
        ("TELEGRAM_SUPPORT_BOT_TOKEN", TOKEN),
        ("TELEGRAM_SUPPORT_WEBHOOK_SECRET", SECRETS[1].1),
        ("TELEGRAM_ADMIN_CHAT_ID", "-100777"),
        ("TELEGRAM_API_BASE", &tg.uri()),
        ("OKDESK_API_URL", &okdesk_api),
        ("OKDESK_API_TOKEN", "okdesk-token"),
    ]);
    let f = telegram_webhook::from_env(&zayavka::deps::Wiring {
        deps: deps.clone(),
        env: &env,
        queue_prefix: "zayavka-".into(),
    })
    .unwrap();
    let sends_to = |chat: i64| {
        let tg = &tg;
        async move {
            tg.received_requests()
                .await
                .unwrap()
                .iter()
                .filter(|r| serde_json::from_slice::<Value>(&r.body).unwrap()["chat_id"] == chat)
                .count()
        }
    };
    let mut statuses: HashMap<&str, Vec<u16>> = HashMap::new();
    for (group, expected) in [("handled", 200), ("ignored", 200), ("refused", 400)] {
        for update in fixtures[group].as_array().unwrap() {
            let body = serde_json::to_vec(update).unwrap();
            for (bot, _) in SECRETS {
                let before = store.parts.table.count().await.unwrap();
                for _ in 0..2 {
                    let status = post(&f, bot, &body).await;
                    statuses.entry(group).or_default().push(status);
                    assert_eq!(status, expected, "{group} to {bot}: {update}");
                }
                if group == "refused" {
                    assert_eq!(
                        store.parts.table.count().await.unwrap(),
                        before,
                        "nothing claimed for {update}"
                    );
                }
            }
            if group == "handled" {
                // One answer from each bot, although each got the update twice.
                let chat = update["message"]["chat"]["id"].as_i64().unwrap();
                assert_eq!(sends_to(chat).await, 2, "{update}");
            }
        }
    }
    // The groups in the private chats of the "ignored" updates heard nothing.
    for chat in [61, 62, 66, 67, 68, 69, -100200] {
        assert_eq!(sends_to(chat).await, 0, "chat {chat}");
    }
    assert!(
        statuses.values().flatten().all(|s| *s != 503),
        "{statuses:?}"
    );
}
