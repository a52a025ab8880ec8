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

#[tokio::test]
async fn sends_to_one_chat_are_spaced_a_second_apart_and_other_chats_do_not_wait() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(ok_message()))
        .mount(&server)
        .await;
    let limits = std::sync::Arc::new(zayavka::telegram::limits::SendLimits::telegram_defaults());
    let api = api(&server).await.with_limits(limits);
    let started = Instant::now();
    api.send_html(chat_id("77"), "one").await.unwrap();
    api.send_html(chat_id("78"), "other chat").await.unwrap();
    assert!(
        started.elapsed() < Duration::from_millis(700),
        "another chat waited: {:?}",
        started.elapsed()
    );
    api.send_html(chat_id("77"), "two").await.unwrap();
    api.send_html(chat_id("77"), "three").await.unwrap();
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "one chat got 3 messages in {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn copy_answer_and_get_me_use_the_documented_shapes() {
    use frankenstein::methods::{AnswerCallbackQueryParams, CopyMessageParams};
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path(format!("/bot{TOKEN}/copyMessage")))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(json!({"ok": true, "result": {"message_id": 9}})),
        )
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("/bot{TOKEN}/answerCallbackQuery")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"ok": true, "result": true})))
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("/bot{TOKEN}/getMe")))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!({"ok": true, "result": {"id": 123456, "is_bot": true, "first_name": "Support", "username": "zayavka_support_bot"}})))
        .mount(&server)
        .await;
    let api = api(&server).await;
    let copied = api
        .copy_message(
            &CopyMessageParams::builder()
                .chat_id(-100500i64)
                .from_chat_id(77i64)
                .message_id(5)
                .build(),
        )
        .await
        .unwrap();
    assert_eq!(copied.message_id, 9);
    assert!(
        api.answer_callback_query(
            &AnswerCallbackQueryParams::builder()
                .callback_query_id("cb-1")
                .build()
        )
        .await
        .unwrap()
    );
    assert_eq!(
        api.get_me().await.unwrap().username.as_deref(),
        Some("zayavka_support_bot")
    );
    let bodies: Vec<serde_json::Value> = server
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| serde_json::from_slice(&r.body).unwrap())
        .collect();
    assert_eq!(
        bodies[0],
        json!({"chat_id": -100500, "from_chat_id": 77, "message_id": 5})
    );
    assert_eq!(bodies[1], json!({"callback_query_id": "cb-1"}));
}

// --- The webhook: which bot, is it Telegram, seen before? ---------------------------

mod webhook {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use crate::apigw::{HttpInput, api_gateway_event};
    use async_trait::async_trait;
    use serde_json::{Value, json};
    use zayavka::Deps;
    use zayavka::http::{HttpFunction, dispatch};
    use zayavka::ports::table::Cond;
    use zayavka::ports::{Item, Key, Page, Query, StoreError, SystemClock, Table, TxOp, Update};
    use zayavka::telegram::webhook::{BotError, BotHandler};

    use crate::support::{embedded, test_env};

    const SECRET: &str = "s3cret_webhook-token";

    #[derive(Default)]
    struct Counting(AtomicUsize);

    #[async_trait]
    impl BotHandler for Counting {
        async fn handle(
            &self,
            _update: zayavka::telegram::webhook::Update,
        ) -> Result<(), BotError> {
            self.0.fetch_add(1, Ordering::SeqCst);
            Err(BotError::fatal(
                "a failure inside the bot still answers 200",
            ))
        }
    }

    fn update(id: i64) -> Value {
        json!({"update_id": id, "message": {"message_id": 5, "date": 1795256100,
               "chat": {"id": 77, "type": "private", "first_name": "Gleb"},
               "from": {"id": 77, "is_bot": false, "first_name": "Gleb", "language_code": "ru"},
               "text": "Здравствуйте"}})
    }

    async fn post(
        f: &dyn HttpFunction,
        bot: &str,
        secret: Option<&str>,
        body: &[u8],
    ) -> (u16, String) {
        let mut headers = vec![("content-type".to_string(), "application/json".to_string())];
        if let Some(s) = secret {
            headers.push(("X-Telegram-Bot-Api-Secret-Token".to_string(), s.to_string()));
        }
        let path = format!("/telegram/{bot}/webhook");
        let event = api_gateway_event(HttpInput {
            method: "POST",
            route_key: telegram_webhook::ROUTE,
            path: &path,
            raw_query: "",
            query: Vec::new(),
            headers,
            path_params: [("bot".to_string(), bot.to_string())].into(),
            body,
            source_ip: "149.154.167.220",
            now_ms: 0,
        })
        .unwrap();
        let r = dispatch(f, crate::apigw::lambda_request(event)).await;
        (r.status_code, r.body)
    }

    fn env() -> std::collections::HashMap<String, String> {
        test_env(&[
            ("TELEGRAM_SUPPORT_BOT_TOKEN", "1:ABCDEFGHIJKLMNOPQRSTUVWXYZ"),
            ("TELEGRAM_SUPPORT_WEBHOOK_SECRET", SECRET),
            ("TELEGRAM_ADMIN_CHAT_ID", "-100777"),
        ])
    }

    #[tokio::test]
    async fn forged_unknown_and_repeated_updates_have_no_effect() {
        let store = embedded(Vec::new());
        let deps = Deps::embedded(&store.parts, Arc::new(SystemClock));
        let counting = Arc::new(Counting::default());
        let f = telegram_webhook::TelegramWebhook::new(
            deps,
            telegram_webhook::Config::read(&env()).unwrap(),
        )
        .unwrap()
        .with_handler("support", counting.clone());
        let body = serde_json::to_vec(&update(1001)).unwrap();

        assert_eq!(post(&f, "support", None, &body).await.0, 401);
        assert_eq!(post(&f, "support", Some("guess"), &body).await.0, 401);
        assert_eq!(
            post(&f, "main", Some(SECRET), &body).await.0,
            404,
            "a bot that is not configured"
        );
        assert_eq!(
            store.parts.table.count().await.unwrap(),
            0,
            "a forged request leaves no trace"
        );
        assert_eq!(counting.0.load(Ordering::SeqCst), 0);

        for _ in 0..3 {
            let (status, body_out) = post(&f, "support", Some(SECRET), &body).await;
            assert_eq!(status, 200, "{body_out}");
        }
        assert_eq!(
            counting.0.load(Ordering::SeqCst),
            1,
            "three deliveries, one effect"
        );
        let (status, _) = post(&f, "support", Some(SECRET), b"{not json").await;
        assert_eq!(status, 400);
        // A kind of update we do not know yet: accepted quietly.
        let (status, _) = post(
            &f,
            "support",
            Some(SECRET),
            br#"{"update_id": 1002, "brand_new_kind": {"x": 1}}"#,
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(counting.0.load(Ordering::SeqCst), 1);
    }

    /// Fails with an outage (a retry can help) its first `fails` times.
    struct Flaky {
        fails: usize,
        calls: AtomicUsize,
    }

    #[async_trait]
    impl BotHandler for Flaky {
        async fn handle(
            &self,
            _update: zayavka::telegram::webhook::Update,
        ) -> Result<(), BotError> {
            if self.calls.fetch_add(1, Ordering::SeqCst) < self.fails {
                return Err(BotError::retryable("Telegram unavailable: HTTP 502"));
            }
            Ok(())
        }
    }

    #[tokio::test]
    async fn an_outage_inside_the_handler_is_retried_through_telegram_a_bounded_number_of_times() {
        for (fails, statuses, calls, outcomes) in [
            // Fails twice, then handled; a later repeat does nothing.
            (
                2,
                vec![503, 503, 200, 200],
                3,
                vec!["retry", "retry", "handled"],
            ),
            // Never recovers: the fifth handling is taken as final, and it stops there.
            (
                usize::MAX,
                vec![503, 503, 503, 503, 200, 200],
                5,
                vec!["retry", "retry", "retry", "retry", "failed"],
            ),
        ] {
            let store = embedded(Vec::new());
            let metrics = zayavka::metrics::Metrics::in_memory("Zayavka/test");
            let deps = Deps {
                metrics: metrics.clone(),
                ..Deps::embedded(&store.parts, Arc::new(SystemClock))
            };
            let flaky = Arc::new(Flaky {
                fails,
                calls: AtomicUsize::new(0),
            });
            let f = telegram_webhook::TelegramWebhook::new(
                deps,
                telegram_webhook::Config::read(&env()).unwrap(),
            )
            .unwrap()
            .with_handler("support", flaky.clone());
            let body = serde_json::to_vec(&update(3001)).unwrap();
            let mut seen = Vec::new();
            for _ in 0..statuses.len() {
                seen.push(post(&f, "support", Some(SECRET), &body).await.0);
            }
            assert_eq!(seen, statuses, "fails {fails}");
            assert_eq!(flaky.calls.load(Ordering::SeqCst), calls, "fails {fails}");
            // One Updates point per handling, by bot and outcome; repeats of a done update
            // are not handlings.
            let lines: Vec<serde_json::Value> = metrics
                .lines()
                .iter()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect();
            let seen_outcomes: Vec<&str> = lines
                .iter()
                .map(|l| {
                    assert_eq!(l["Bot"], "support", "{l}");
                    assert_eq!(l["Updates"], 1.0, "{l}");
                    assert_eq!(
                        l["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
                        serde_json::json!([["Bot", "Outcome"]])
                    );
                    l["Outcome"].as_str().unwrap()
                })
                .collect();
            assert_eq!(seen_outcomes, outcomes, "fails {fails}");
        }
    }

    /// Hangs on its first update (a Lambda killed mid-handling), counts the others.
    #[derive(Default)]
    struct DiesOnce(AtomicUsize);

    #[async_trait]
    impl BotHandler for DiesOnce {
        async fn handle(
            &self,
            _update: zayavka::telegram::webhook::Update,
        ) -> Result<(), BotError> {
            if self.0.fetch_add(1, Ordering::SeqCst) == 0 {
                std::future::pending::<()>().await;
            }
            Ok(())
        }
    }

    #[tokio::test]
    async fn an_update_whose_handling_died_is_handled_again_after_its_lease() {
        let store = embedded(Vec::new());
        let clock = Arc::new(zayavka::ports::FixedClock::at_ms(
            zayavka::ports::Clock::now_ms(&SystemClock),
        ));
        let deps = Deps {
            clock: clock.clone(),
            ..Deps::embedded(&store.parts, Arc::new(SystemClock))
        };
        let handler = Arc::new(DiesOnce::default());
        let f = Arc::new(
            telegram_webhook::TelegramWebhook::new(
                deps,
                telegram_webhook::Config::read(&env()).unwrap(),
            )
            .unwrap()
            .with_handler("support", handler.clone()),
        );
        let body = serde_json::to_vec(&update(2001)).unwrap();
        // The first delivery is claimed, then its process dies.
        let first = {
            let (f, body) = (f.clone(), body.clone());
            tokio::spawn(async move { post(f.as_ref(), "support", Some(SECRET), &body).await })
        };
        while handler.0.load(Ordering::SeqCst) == 0 {
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        first.abort();
        // Telegram asks again at once: the lease still holds, so "later".
        assert_eq!(
            post(f.as_ref(), "support", Some(SECRET), &body).await.0,
            503
        );
        assert_eq!(handler.0.load(Ordering::SeqCst), 1);
        // After the lease the redelivery is handled, once.
        clock.advance_ms((zayavka::telegram::webhook::CLAIM_LEASE_SECS + 1) * 1000);
        assert_eq!(
            post(f.as_ref(), "support", Some(SECRET), &body).await.0,
            200
        );
        assert_eq!(
            post(f.as_ref(), "support", Some(SECRET), &body).await.0,
            200
        );
        assert_eq!(handler.0.load(Ordering::SeqCst), 2);
    }

    /// A table that is down.
    struct Down;

    #[async_trait]
    impl Table for Down {
        async fn get(&self, _: &Key) -> Result<Option<Item>, StoreError> {
            Err(StoreError::Unavailable("down".into()))
        }
        async fn put(&self, _: Item, _: Option<Cond>) -> Result<(), StoreError> {
            Err(StoreError::Unavailable("down".into()))
        }
        async fn update(&self, _: &Key, _: Update) -> Result<Item, StoreError> {
            Err(StoreError::Unavailable("down".into()))
        }
        async fn delete(&self, _: &Key, _: Option<Cond>) -> Result<(), StoreError> {
            Err(StoreError::Unavailable("down".into()))
        }
        async fn query(&self, _: Query) -> Result<Page, StoreError> {
            Err(StoreError::Unavailable("down".into()))
        }
        async fn transact(&self, _: Vec<TxOp>) -> Result<(), StoreError> {
            Err(StoreError::Unavailable("down".into()))
        }
    }

    #[tokio::test]
    async fn a_storage_outage_answers_503_so_telegram_retries() {
        let store = embedded(Vec::new());
        let deps = Deps {
            table: Arc::new(Down),
            ..Deps::embedded(&store.parts, Arc::new(SystemClock))
        };
        let counting = Arc::new(Counting::default());
        let f = telegram_webhook::TelegramWebhook::new(
            deps,
            telegram_webhook::Config::read(&env()).unwrap(),
        )
        .unwrap()
        .with_handler("support", counting.clone());
        let (status, _) = post(
            &f,
            "support",
            Some(SECRET),
            &serde_json::to_vec(&update(7)).unwrap(),
        )
        .await;
        assert_eq!(status, 503);
        assert_eq!(counting.0.load(Ordering::SeqCst), 0);
    }

    #[test]
    fn a_bot_without_a_valid_secret_is_a_configuration_error() {
        let missing = test_env(&[("TELEGRAM_MAIN_BOT_TOKEN", "1:ABCDEFGHIJKLMNOPQRSTUVWXYZ")]);
        let err = telegram_webhook::Config::read(&missing)
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("TELEGRAM_MAIN_WEBHOOK_SECRET is not set"),
            "{err}"
        );
        let bad = test_env(&[
            ("TELEGRAM_MAIN_BOT_TOKEN", "1:ABCDEFGHIJKLMNOPQRSTUVWXYZ"),
            ("TELEGRAM_MAIN_WEBHOOK_SECRET", "has spaces!"),
        ]);
        assert!(telegram_webhook::Config::read(&bad).is_err());
    }
}
