//! `zayavka doctor`: a verdict per check and the fix for each problem, against the embedded
//! store, moto, and fake Bot API and Okdesk servers, each failure included.

use std::sync::Arc;

use serde_json::json;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};
use zayavka::ports::{OutMessage, Queue, SystemClock};
use zayavka_cli::doctor::{Check, Options, Verdict, run, summary};

use crate::support::{moto_config, unique};

const MAIN: &str = "2:MAINMAINMAINMAINMAINMAINMAIN";
const SUPPORT: &str = "1:SUPPORTSUPPORTSUPPORTSUPPORT";
const NOTICES: &str = "3:NOTICESNOTICESNOTICESNOTICES";
const STAFF: &str = "3:STAFFSTAFFSTAFFSTAFFSTAFFSTA";
const NOW: i64 = 1_795_256_100;

fn find<'a>(checks: &'a [Check], name: &str) -> &'a Check {
    checks
        .iter()
        .find(|c| c.name == name)
        .unwrap_or_else(|| panic!("no check {name}: {checks:#?}"))
}

fn fix(c: &Check) -> &str {
    c.fix
        .as_deref()
        .unwrap_or_else(|| panic!("{} has no fix", c.name))
}

fn ok(result: serde_json::Value) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(json!({"ok": true, "result": result}))
}

async fn bot(api: &MockServer, token: &str, username: &str, webhook: serde_json::Value) {
    Mock::given(method("POST"))
        .and(path(format!("/bot{token}/getMe")))
        .respond_with(ok(
            json!({"id": 1, "is_bot": true, "first_name": "b", "username": username}),
        ))
        .mount(api)
        .await;
    Mock::given(method("POST"))
        .and(path(format!("/bot{token}/getWebhookInfo")))
        .respond_with(ok(webhook))
        .mount(api)
        .await;
}

fn env(pairs: &[(&str, &str)]) -> std::collections::HashMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[tokio::test]
async fn locally_dead_letters_are_warnings_with_their_fix_and_a_bad_okdesk_token_fails() {
    let dir = tempfile::tempdir().unwrap();
    let store = zayavka::deps::Embedded::open(
        dir.path(),
        zayavka::queues::catalogue(),
        Arc::new(SystemClock),
    )
    .unwrap();
    store
        .queue
        .send("notifications-dlq", OutMessage::new("{}"))
        .await
        .unwrap();
    store
        .queue
        .send(
            "integration-webhook-dlq.fifo",
            OutMessage::new("{}").in_group("g", "d"),
        )
        .await
        .unwrap();
    drop(store);
    let api = MockServer::start().await;
    bot(
        &api,
        MAIN,
        "acme_help_bot",
        json!({"url": "", "has_custom_certificate": false, "pending_update_count": 0}),
    )
    .await;
    let okdesk = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/api/v1/issues/count"))
        .respond_with(
            ResponseTemplate::new(401).set_body_json(json!({"errors": "Неверный api_token"})),
        )
        .mount(&okdesk)
        .await;
    let okdesk_url = format!("{}/api/v1", okdesk.uri());
    let env = env(&[
        ("TELEGRAM_API_BASE", &api.uri()),
        ("TELEGRAM_MAIN_BOT_TOKEN", MAIN),
        ("TELEGRAM_MAIN_WEBHOOK_SECRET", "main_secret-1"),
        // The support bot's secret is missing: named, and the main bot still checked.
        ("TELEGRAM_SUPPORT_BOT_TOKEN", SUPPORT),
        ("OKDESK_API_URL", &okdesk_url),
        ("OKDESK_API_TOKEN", "bad-token"),
        // The lead notices' bot has no webhook here: their «Повторить» goes unanswered.
        ("TELEGRAM_BOT_TOKEN", NOTICES),
        ("NOTIFY_TELEGRAM_CHAT_ID", "-100999"),
    ]);
    let opts = Options {
        aws: None,
        data_dir: dir.path().to_path_buf(),
        api_url: None,
        now_unix: NOW,
    };
    let checks = run(&opts, &env).await;
    let button = find(&checks, "lead notices' «Повторить»");
    assert_eq!(button.verdict, Verdict::Warning, "{button:?}");
    assert!(fix(button).contains("zayavka leads retry"), "{button:?}");
    let mut same = env.clone();
    same.insert("TELEGRAM_BOT_TOKEN".into(), MAIN.into());
    let again = run(&opts, &same).await;
    let button = find(&again, "lead notices' «Повторить»");
    assert_eq!(button.verdict, Verdict::Ok, "{button:?}");
    assert!(button.detail.contains("main bot"), "{button:?}");
    assert_eq!(find(&checks, "store").verdict, Verdict::Ok);
    let queues = find(&checks, "queues");
    assert_eq!(queues.verdict, Verdict::Ok, "{queues:?}");
    let parked = find(&checks, "dead letters notifications-dlq");
    assert_eq!(parked.verdict, Verdict::Warning);
    assert_eq!(parked.detail, "1 messages");
    assert!(
        fix(parked).contains("zayavka queue redrive notifications-dlq"),
        "{parked:?}"
    );
    let swept = find(&checks, "dead letters integration-webhook-dlq.fifo");
    assert_eq!(swept.verdict, Verdict::Warning);
    assert!(fix(swept).contains("the sweeper itself fails"), "{swept:?}");
    // Empty dead-letter queues say nothing.
    assert!(
        !checks
            .iter()
            .any(|c| c.name == "dead letters bridge-inbound-dlq.fifo")
    );
    let settings = find(&checks, "bot settings");
    assert_eq!(settings.verdict, Verdict::Failed);
    assert!(
        settings
            .detail
            .contains("TELEGRAM_SUPPORT_WEBHOOK_SECRET is not set"),
        "{settings:?}"
    );
    assert!(!checks.iter().any(|c| c.name.starts_with("bot support")));
    assert_eq!(find(&checks, "bot main token").detail, "@acme_help_bot");
    let hook = find(&checks, "bot main webhook");
    assert_eq!(hook.verdict, Verdict::Warning, "locally a bot may poll");
    assert!(fix(hook).contains("zayavka poll --bot main"));
    let token = find(&checks, "Okdesk token accepted");
    assert_eq!(token.verdict, Verdict::Failed);
    assert!(fix(token).contains("OKDESK_API_TOKEN"));
    let (line, passed) = summary(&checks);
    assert!(!passed, "{line}");
    assert!(line.contains("2 failed"), "{line}");
    // No secret in anything the doctor prints.
    let printed: String = checks.iter().map(Check::lines).collect();
    for secret in [MAIN, SUPPORT, NOTICES, "main_secret-1", "bad-token"] {
        assert!(!printed.contains(secret), "{printed}");
    }
}

#[tokio::test]
async fn on_aws_every_problem_is_named_with_its_fix() {
    let cfg = moto_config(&unique("doc"), &format!("{}-", unique("d")));
    zayavka_cli::admin::init_aws(&cfg, &zayavka::queues::catalogue())
        .await
        .expect("init moto");
    // SES identities are moto's for every test: a sender of this run's own.
    let sender = format!("{}@acme.example", unique("leads"));
    // A domain of this run's own: a verified domain covers its addresses.
    let shop = format!("{}.example", unique("shop"));
    let sales = format!("sales@{}.example", unique("crm"));
    let admin = format!("admin@{shop}");
    let api = MockServer::start().await;
    // Nothing listens there: the health checks fail at once.
    let api_url = "https://127.0.0.1:1";
    // main: the right webhook, but Telegram failed to deliver an hour ago.
    bot(
        &api,
        MAIN,
        "acme_help_bot",
        json!({"url": format!("{api_url}/telegram/main/webhook"), "has_custom_certificate": false,
            "pending_update_count": 7, "last_error_date": NOW - 3600,
            "last_error_message": "Wrong response from the webhook: 502 Bad Gateway"}),
    )
    .await;
    // staff: its webhook points at another deployment; its last error is days old.
    bot(
        &api,
        STAFF,
        "acme_staff_bot",
        json!({"url": "https://old.example.com/telegram/staff/webhook", "has_custom_certificate": false,
            "pending_update_count": 0, "last_error_date": NOW - 5 * 86400, "last_error_message": "old"}),
    )
    .await;
    // support: its token was revoked.
    Mock::given(method("POST"))
        .and(path(format!("/bot{SUPPORT}/getMe")))
        .respond_with(
            ResponseTemplate::new(401).set_body_json(
                json!({"ok": false, "error_code": 401, "description": "Unauthorized"}),
            ),
        )
        .mount(&api)
        .await;
    let env = env(&[
        ("TELEGRAM_API_BASE", &api.uri()),
        ("TELEGRAM_MAIN_BOT_TOKEN", MAIN),
        ("TELEGRAM_MAIN_WEBHOOK_SECRET", "main_secret-1"),
        ("TELEGRAM_SUPPORT_BOT_TOKEN", SUPPORT),
        ("TELEGRAM_SUPPORT_WEBHOOK_SECRET", "support_secret-1"),
        ("TELEGRAM_STAFF_BOT_TOKEN", STAFF),
        ("TELEGRAM_STAFF_WEBHOOK_SECRET", "staff_secret-1"),
        ("MAIL_FROM", &sender),
        ("LEAD_EMAILS", &sales),
        ("NOTIFY_EMAILS", &admin),
    ]);
    let opts = Options {
        aws: Some(cfg.clone()),
        data_dir: std::path::PathBuf::from("/nonexistent"),
        api_url: Some(api_url.into()),
        now_unix: NOW,
    };
    let checks = run(&opts, &env).await;
    assert_eq!(
        find(&checks, &format!("table {}", cfg.table_name)).verdict,
        Verdict::Ok
    );
    assert_eq!(find(&checks, "queues").verdict, Verdict::Ok);
    let unverified = find(&checks, "SES sender");
    assert_eq!(unverified.verdict, Verdict::Failed, "{unverified:?}");
    assert!(fix(unverified).contains(&format!("verify-email-identity --email-address {sender}")));
    // moto answers as a new account does: 200 e-mails a day, the sandbox.
    let account = find(&checks, "SES account");
    assert_eq!(account.verdict, Verdict::Warning, "{account:?}");
    assert!(account.detail.contains("sandbox"));
    assert!(fix(account).contains("production access"));
    // In the sandbox, every recipient must be verified too.
    let recipients = find(&checks, "SES recipients");
    assert_eq!(recipients.verdict, Verdict::Failed, "{recipients:?}");
    assert!(
        recipients.detail.contains(&sales) && recipients.detail.contains(&admin),
        "{recipients:?}"
    );
    assert!(fix(recipients).contains("verify-email-identity"));
    let revoked = find(&checks, "bot support token");
    assert_eq!(revoked.verdict, Verdict::Failed);
    assert!(fix(revoked).contains("TELEGRAM_SUPPORT_BOT_TOKEN"));
    assert!(
        !checks.iter().any(|c| c.name == "bot support webhook"),
        "not asked with a refused token"
    );
    let staff = find(&checks, "bot staff webhook");
    assert_eq!(staff.verdict, Verdict::Failed);
    assert!(
        staff
            .detail
            .contains("https://old.example.com/telegram/staff/webhook")
    );
    assert_eq!(
        fix(staff),
        format!("zayavka telegram set-webhook --all --api-url {api_url}")
    );
    let health = find(&checks, "health lead-submit");
    assert_eq!(health.verdict, Verdict::Failed, "{health:?}");
    assert!(fix(health).contains("ApiUrl"), "{health:?}");
    assert_eq!(
        find(&checks, "bot staff deliveries").verdict,
        Verdict::Ok,
        "an old error is history"
    );
    assert_eq!(find(&checks, "bot main webhook").verdict, Verdict::Ok);
    let deliveries = find(&checks, "bot main deliveries");
    assert_eq!(deliveries.verdict, Verdict::Warning);
    assert!(
        deliveries.detail.contains("7 updates waiting")
            && deliveries.detail.contains("502 Bad Gateway"),
        "{deliveries:?}"
    );
    assert!(!summary(&checks).1);
    let printed: String = checks.iter().map(Check::lines).collect();
    for secret in [
        MAIN,
        SUPPORT,
        STAFF,
        "main_secret-1",
        "support_secret-1",
        "staff_secret-1",
    ] {
        assert!(!printed.contains(secret), "{printed}");
    }

    // The ApiUrl copied wrong is named, not compared against.
    let doubled = Options {
        aws: Some(cfg.clone()),
        data_dir: std::path::PathBuf::from("/nonexistent"),
        api_url: Some(format!("https://{api_url}")),
        now_unix: NOW,
    };
    let checks = run(&doubled, &env).await;
    let hook = find(&checks, "bot main webhook");
    assert_eq!(hook.verdict, Verdict::Failed);
    assert!(hook.detail.contains("not an API base URL"), "{hook:?}");

    // Verified, the sender passes; a batch stuck in the tracker's dead-letter queue is the
    // sweeper's problem.
    let clients = zayavka::deps::AwsClients::new(&cfg).await;
    clients
        .ses
        .verify_email_identity()
        .email_address(&sender)
        .send()
        .await
        .unwrap();
    let sqs = zayavka::adapters::SqsQueue::new(clients.sqs.clone(), cfg.queue_prefix.clone());
    sqs.send("batch-results-dlq", OutMessage::new("{}"))
        .await
        .unwrap();
    // The admin's whole domain verified covers the admin; the sales address itself.
    clients
        .ses
        .verify_domain_identity()
        .domain(&shop)
        .send()
        .await
        .unwrap();
    clients
        .ses
        .verify_email_identity()
        .email_address(&sales)
        .send()
        .await
        .unwrap();
    let checks = run(&opts, &env).await;
    assert_eq!(find(&checks, "SES sender").verdict, Verdict::Ok);
    assert_eq!(find(&checks, "SES recipients").verdict, Verdict::Ok);
    let stuck = find(&checks, "dead letters batch-results-dlq");
    assert_eq!(stuck.verdict, Verdict::Warning);
    assert!(fix(stuck).contains("sweeper"));

    // The wrong stack name: nothing there, and each says how to fix it.
    let wrong = Options {
        aws: Some(moto_config(
            &unique("none"),
            &format!("{}-", unique("none")),
        )),
        ..opts
    };
    let checks = run(&wrong, &env).await;
    let table = checks
        .iter()
        .find(|c| c.name.starts_with("table "))
        .unwrap();
    assert_eq!(table.verdict, Verdict::Failed);
    assert!(table.detail.contains("does not exist"), "{table:?}");
    let queues = find(&checks, "queues");
    assert_eq!(queues.verdict, Verdict::Failed);
    assert!(
        queues.detail.contains("integration-email.fifo"),
        "{queues:?}"
    );
    let missing: Vec<&str> = queues
        .detail
        .trim_start_matches("missing: ")
        .split(", ")
        .collect();
    assert!(missing.contains(&"notifications"), "{missing:?}");
    assert!(
        !missing.contains(&"batch-results"),
        "Lambda keeps that one: {missing:?}"
    );
    assert!(fix(queues).contains("QUEUE_NAME_PREFIX"));
    assert!(!summary(&checks).1);
}

/// Under `--api-url`, each HTTP function's health route: one that answers 500 could not
/// start, and the fix says where its log is.
#[tokio::test]
async fn each_http_function_answers_its_health_route_under_the_api() {
    let api = MockServer::start().await;
    for function in zayavka_cli::doctor::HTTP_FUNCTIONS {
        let answer = match *function {
            // A function whose configuration stops it at start: API Gateway's answer.
            "telegram-webhook" => ResponseTemplate::new(500)
                .set_body_json(json!({"message": "Internal Server Error"})),
            // Something else answers there: a wrong ApiUrl.
            "ticket-api" => ResponseTemplate::new(200).set_body_json(json!({"hello": "world"})),
            f => ResponseTemplate::new(200)
                .set_body_json(json!({"status": "ok", "function": f, "version": "0.1.0"})),
        };
        Mock::given(method("GET"))
            .and(path(format!("/health/{function}")))
            .respond_with(answer)
            .mount(&api)
            .await;
    }
    let dir = tempfile::tempdir().unwrap();
    let opts = Options {
        aws: None,
        data_dir: dir.path().to_path_buf(),
        api_url: Some(format!("{}/", api.uri())),
        now_unix: NOW,
    };
    let checks = run(&opts, &env(&[])).await;
    let ok = find(&checks, "health lead-submit");
    assert_eq!(ok.verdict, Verdict::Ok, "{ok:?}");
    assert_eq!(ok.detail, "version 0.1.0");
    let down = find(&checks, "health telegram-webhook");
    assert_eq!(down.verdict, Verdict::Failed);
    assert_eq!(down.detail, "HTTP 500");
    assert!(
        fix(down).contains("aws logs tail /aws/lambda/<stack>-telegram-webhook"),
        "{down:?}"
    );
    let other = find(&checks, "health ticket-api");
    assert_eq!(other.verdict, Verdict::Failed);
    assert!(fix(other).contains("ApiUrl"), "{other:?}");
    for function in ["support-form", "okdesk-webhook", "bridge-api"] {
        assert_eq!(
            find(&checks, &format!("health {function}")).verdict,
            Verdict::Ok
        );
    }
    let asked: Vec<String> = api
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| r.url.path().to_string())
        .collect();
    assert_eq!(
        asked.len(),
        zayavka_cli::doctor::HTTP_FUNCTIONS.len(),
        "{asked:?}"
    );
}
