//! The Bot API client against a fake Bot API: the request it sends and what each kind of
//! answer becomes.

use std::time::{Duration, Instant};

use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};
use zayavka::telegram::client::{BotApi, TelegramError, chat_id};

const TOKEN: &str = "123456:ABCDEFGHIJKLMNOPQRSTUVWXYZ";

fn ok_message() -> serde_json::Value {
    json!({"ok": true, "result": {"message_id": 42, "date": 1795256100, "chat": {"id": 77, "type": "private", "first_name": "Gleb"}}})
}

async fn api(server: &MockServer) -> BotApi {
    BotApi::new(reqwest::Client::new(), &server.uri(), TOKEN)
}

#[tokio::test]
async fn send_html_posts_the_documented_body_and_returns_the_message() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(format!("/bot{TOKEN}/sendMessage")))
        .respond_with(ResponseTemplate::new(200).set_body_json(ok_message()))
        .expect(1)
        .mount(&server)
        .await;
    let m = api(&server)
        .await
        .send_html(chat_id("77"), "<b>Привет</b> &amp; all")
        .await
        .unwrap();
    assert_eq!(m.message_id, 42);
    let req = &server.received_requests().await.unwrap()[0];
    let body: serde_json::Value = serde_json::from_slice(&req.body).unwrap();
    assert_eq!(
        body,
        json!({"chat_id": 77, "text": "<b>Привет</b> &amp; all", "parse_mode": "HTML", "link_preview_options": {"is_disabled": true}})
    );
    assert_eq!(req.headers.get("content-type").unwrap(), "application/json");
}

#[tokio::test]
async fn errors_say_what_to_do_next() {
    let server = MockServer::start().await;
    let answer =
        |code: u16, body: serde_json::Value| ResponseTemplate::new(code).set_body_json(body);
    for (code, body, expected) in [
        (
            429,
            json!({"ok": false, "error_code": 429, "description": "Too Many Requests: retry after 35", "parameters": {"retry_after": 35}}),
            TelegramError::RetryAfter(35),
        ),
        (
            403,
            json!({"ok": false, "error_code": 403, "description": "Forbidden: bot was blocked by the user"}),
            TelegramError::Blocked("Forbidden: bot was blocked by the user".into()),
        ),
        (
            400,
            json!({"ok": false, "error_code": 400, "description": "Bad Request: chat not found"}),
            TelegramError::Refused {
                code: 400,
                description: "Bad Request: chat not found".into(),
            },
        ),
    ] {
        server.reset().await;
        Mock::given(method("POST"))
            .respond_with(answer(code, body))
            .mount(&server)
            .await;
        let err = api(&server)
            .await
            .send_html(chat_id("@chan_name"), "x")
            .await
            .unwrap_err();
        assert_eq!(err, expected);
        assert_eq!(err.is_retryable(), code == 429);
    }
    server.reset().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(502))
        .mount(&server)
        .await;
    let err = api(&server)
        .await
        .send_html(chat_id("1"), "x")
        .await
        .unwrap_err();
    assert!(
        matches!(err, TelegramError::Unavailable(_)) && err.is_retryable(),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_short_flood_wait_is_waited_out_once() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(429).set_body_json(json!({"ok": false, "error_code": 429, "description": "Too Many Requests: retry after 1", "parameters": {"retry_after": 1}})))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(ok_message()))
        .mount(&server)
        .await;
    let started = Instant::now();
    let m = api(&server)
        .await
        .with_inline_wait(Duration::from_secs(2))
        .send_html(chat_id("77"), "x")
        .await
        .unwrap();
    assert_eq!(m.message_id, 42);
    assert!(started.elapsed() >= Duration::from_secs(1));
    assert_eq!(server.received_requests().await.unwrap().len(), 2);
}

#[test]
fn the_token_never_shows_in_debug_output() {
    let api = BotApi::new(reqwest::Client::new(), "https://api.telegram.org", TOKEN);
    assert!(!format!("{api:?}").contains("ABCDEFGHIJ"));
}
