//! Every sample in events/ is replayed through its function's handler, exactly as Lambda
//! would deliver it, and what it did is checked.

use std::collections::BTreeSet;
use std::sync::Arc;

use aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use aws_lambda_events::sqs::SqsEvent;
use serde_json::Value;
use zayavka::deps::Deps;
use zayavka::http::dispatch;
use zayavka::leads::request::Submission;
use zayavka::leads::store::LeadStore;
use zayavka::leads::{Integration, Lead, LeadRecord, Target};
use zayavka::ports::Queue;
use zayavka::ports::table::from_item;

use crate::leads::Fakes;
use crate::support::{embedded, test_env};

const BATCH: &str = "01935a1c-7d2e-7c3a-9f00-000000000001";

fn events_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .join("events")
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(events_dir().join(rel)).unwrap_or_else(|e| panic!("events/{rel}: {e}"))
}

/// What each HTTP sample must produce: (function, file, status, a JSON field and its value).
const HTTP: &[(&str, &str, u16, (&str, &str))] = &[
    (
        "lead-submit",
        "health.json",
        200,
        ("function", "lead-submit"),
    ),
    (
        "lead-submit",
        "send-batch.json",
        202,
        ("lead_id", "site-1001"),
    ),
    ("lead-submit", "status.json", 200, ("status", "processing")),
    // Replayed right after send-batch.json: the lead is still being delivered.
    (
        "lead-submit",
        "status-retry.json",
        409,
        ("error.code", "conflict"),
    ),
    (
        "support-form",
        "feedback-submit.json",
        200,
        (
            "telegram_binding_url",
            "https://t.me/zayavka_support_bot?start=",
        ),
    ),
    ("support-form", "form-post.json", 200, ("", "")),
    (
        "support-form",
        "health.json",
        200,
        ("function", "support-form"),
    ),
    (
        "telegram-webhook",
        "callback-query.json",
        200,
        ("status", "accepted"),
    ),
    (
        "telegram-webhook",
        "health.json",
        200,
        ("function", "telegram-webhook"),
    ),
    (
        "telegram-webhook",
        "update.json",
        200,
        ("status", "accepted"),
    ),
    (
        "okdesk-webhook",
        "health.json",
        200,
        ("function", "okdesk-webhook"),
    ),
    (
        "okdesk-webhook",
        "new-comment.json",
        202,
        ("status", "queued"),
    ),
    (
        "okdesk-webhook",
        "new-ticket-status.json",
        202,
        ("status", "queued"),
    ),
    (
        "telegram-webhook",
        "main-start.json",
        200,
        ("status", "accepted"),
    ),
    (
        "telegram-webhook",
        "staff-start.json",
        200,
        ("status", "accepted"),
    ),
    (
        "ticket-api",
        "1-users-post.json",
        201,
        ("name", "Ирина Ковалёва"),
    ),
    ("ticket-api", "2-categories-post.json", 201, ("id", "1")),
    (
        "ticket-api",
        "3-executors-post.json",
        201,
        ("max_tickets", "10"),
    ),
    ("ticket-api", "4-tickets-post.json", 201, ("status_id", "1")),
    (
        "ticket-api",
        "5-ticket-get.json",
        200,
        ("status", "created"),
    ),
    ("ticket-api", "health.json", 200, ("function", "ticket-api")),
    (
        "telegram-webhook",
        "bridge-message.json",
        200,
        ("status", "accepted"),
    ),
    ("bridge-api", "health.json", 200, ("function", "bridge-api")),
    ("bridge-api", "reply.json", 202, ("status", "queued")),
];

/// The bodies of the Bot API calls addressed to one chat.
async fn to_chat(telegram: &wiremock::MockServer, chat: i64) -> Vec<Value> {
    telegram
        .received_requests()
        .await
        .unwrap()
        .iter()
        .map(|r| serde_json::from_slice::<Value>(&r.body).unwrap())
        .filter(|b| b["chat_id"] == chat)
        .collect()
}

/// The lead as lead-submit stores it: the workers' samples carry the jobs themselves.
async fn seed(deps: &Deps, lead_id: &str, targets: Vec<Target>) {
    let sub = Submission {
        lead_id: Some(lead_id.into()),
        lead: Lead {
            name: Some("Глеб Титов".into()),
            phone: Some("+79990001122".into()),
            ..Lead::default()
        },
        jobs: targets.into_iter().map(|t| (t, 3)).collect(),
    };
    let lead = LeadRecord::opened(
        lead_id.into(),
        BATCH.into(),
        &sub,
        zayavka::time::timestamp(deps.clock.now_ms()),
        None,
    );
    let stored = LeadStore::of(deps).create(&lead).await.unwrap();
    assert!(stored);
}

fn targets(f: &Fakes) -> Vec<Target> {
    use zayavka::leads::Secret;
    vec![
        Target::Email {
            emails: vec!["sales@example.com".into()],
            template: "new_lead".into(),
            subject: None,
        },
        Target::Amocrm {
            subdomain: Some("acme".into()),
            access_token: Some(Secret("amo-token-123".into())),
            pipeline_id: None,
            status_id: None,
            responsible_user_id: None,
            tags: Vec::new(),
            unsorted: None,
        },
        Target::Telegram {
            bot_token: Some(Secret("123456:ABCDEFGHIJKLMNOPQRSTUVWXYZ".into())),
            chat_id: "-100123".into(),
        },
        Target::Bitrix24 {
            webhook_url: Some(Secret(format!("{}/rest/1/abc/", f.bitrix.uri()))),
            source_id: None,
            assigned_by_id: None,
        },
        Target::Webhook {
            url: format!("{}/hook", f.hook.uri()),
            secret: None,
            secret_next: None,
        },
    ]
}

async fn job_status(deps: &Deps, lead_id: &str, i: Integration) -> String {
    let lead = zayavka::leads::submit::lead_status(deps, lead_id)
        .await
        .unwrap()
        .unwrap();
    let job = lead["integrations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|j| j["integration"] == i.as_str())
        .unwrap_or_else(|| panic!("{lead}"))
        .clone();
    job["status"].as_str().unwrap().to_string()
}

/// What the bridge's replies are signed with (`events/bridge-api/reply.json`'s signature).
const BRIDGE_SIGNING: &str = "bridge_signing_secret-123";

#[tokio::test]
async fn every_sample_event_replays_through_its_handler() {
    let store = embedded(zayavka::queues::catalogue());
    let raw = Deps::embedded(&store.parts, Arc::new(zayavka::ports::SystemClock));
    // The functions' calls are noted per function; the test's own seeding is the raw deps'.
    let rec = Arc::new(crate::recording::Recorder::default());
    let deps = crate::recording::observed(&raw, rec.clone());
    let f = Fakes::start().await;
    f.all_succeed().await;
    let okdesk = wiremock::MockServer::start().await;
    let okdesk_api = format!("{}/api/v1", okdesk.uri());
    let env = test_env(&[
        (
            "TELEGRAM_MAIN_BOT_TOKEN",
            "123456:ABCDEFGHIJKLMNOPQRSTUVWXYZ",
        ),
        ("TELEGRAM_MAIN_WEBHOOK_SECRET", "main_webhook_secret-123"),
        ("OKDESK_API_URL", &okdesk_api),
        ("OKDESK_API_TOKEN", "okdesk-token"),
        ("OKDESK_WEB_URL", "https://acme.okdesk.ru"),
        ("OKDESK_WEBHOOK_TOKEN", crate::helpdesk::HOOK_TOKEN),
        ("AMOCRM_BASE_URL", &f.amo.uri()),
        ("TELEGRAM_API_BASE", &f.telegram.uri()),
        ("NOTIFY_EMAILS", "admin@example.com"),
        (
            "TELEGRAM_SUPPORT_BOT_TOKEN",
            "123456:ABCDEFGHIJKLMNOPQRSTUVWXYZ",
        ),
        (
            "TELEGRAM_SUPPORT_WEBHOOK_SECRET",
            "support_webhook_secret-123",
        ),
        ("TELEGRAM_ADMIN_CHAT_ID", "-100777"),
        ("TELEGRAM_SUPPORT_BOT_USERNAME", "zayavka_support_bot"),
        ("SUPPORT_USER_HASH_SECRET", "site-shared-secret"),
        ("SUPPORT_ALLOWED_ORIGINS", "https://shop.example"),
        (
            "TELEGRAM_STAFF_BOT_TOKEN",
            "123456:ABCDEFGHIJKLMNOPQRSTUVWXYZ",
        ),
        ("TELEGRAM_STAFF_WEBHOOK_SECRET", "staff_webhook_secret-123"),
        ("TELEGRAM_STAFF_BOT_USERNAME", "zayavka_staff_bot"),
        (
            "TELEGRAM_BRIDGE_BOT_TOKEN",
            "123456:ABCDEFGHIJKLMNOPQRSTUVWXYZ",
        ),
        (
            "TELEGRAM_BRIDGE_WEBHOOK_SECRET",
            "bridge_webhook_secret-123",
        ),
        ("BRIDGE_API_URL", &format!("{}/hook", f.hook.uri())),
        (
            "BRIDGE_REPLY_TOKEN",
            "bridge_reply_token_0123456789abcdef0123",
        ),
        ("BRIDGE_SIGNING_SECRET", BRIDGE_SIGNING),
    ]);
    let registry = zayavka_cli::serve::functions(&deps, &env, "zayavka-").unwrap();
    let mut replayed = BTreeSet::new();

    // HTTP functions, in file order (send-batch before status-retry and status).
    for func in &registry.http {
        let dir = events_dir().join(func.name());
        let mut files: Vec<String> = std::fs::read_dir(&dir)
            .unwrap_or_else(|_| panic!("events/{} is missing", func.name()))
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".json"))
            .collect();
        files.sort();
        for file in files {
            let (_, _, status, (field, value)) = HTTP
                .iter()
                .find(|(fname, name, _, _)| *fname == func.name() && *name == file)
                .unwrap_or_else(|| panic!("no expectation for events/{}/{file}", func.name()));
            let mut event: ApiGatewayV2httpRequest =
                serde_json::from_str(&read(&format!("{}/{file}", func.name())))
                    .unwrap_or_else(|e| panic!("{file}: not an API Gateway v2 event: {e}"));
            // The system signs each reply as it sends it (a signature is good for five
            // minutes): the sample's is made anew.
            if func.name() == "bridge-api" && file == "reply.json" {
                let body = event.body.clone().unwrap_or_default();
                let now = deps.clock.now_secs();
                let signature = zayavka::signature::signature(BRIDGE_SIGNING, now, body.as_bytes());
                event
                    .headers
                    .insert(zayavka::signature::HEADER, signature.parse().unwrap());
            }
            rec.now(func.name());
            let r = dispatch(func.as_ref(), crate::apigw::lambda_request(event)).await;
            assert_eq!(r.status_code, *status, "{}/{file}: {}", func.name(), r.body);
            match (*field, *value) {
                // An HTML page: it must be the success page with the binding link.
                ("", "") => assert!(
                    r.body.contains("https://t.me/zayavka_support_bot?start="),
                    "{}/{file}: {}",
                    func.name(),
                    r.body
                ),
                // A field that must be present and start as given.
                (field, prefix) if field == "telegram_binding_url" => {
                    let body: Value = serde_json::from_str(&r.body).unwrap();
                    assert!(
                        body[field].as_str().is_some_and(|v| v.starts_with(prefix)),
                        "{}/{file}: {body}",
                        func.name()
                    );
                }
                (field, value) => {
                    let body: Value = serde_json::from_str(&r.body).unwrap();
                    // `a.b` is a field of an object; a number is compared as the number the
                    // text says.
                    let at = body
                        .pointer(&format!("/{}", field.replace('.', "/")))
                        .cloned()
                        .unwrap_or(Value::Null);
                    match at.as_i64() {
                        Some(n) => assert_eq!(n.to_string(), value, "{}/{file}", func.name()),
                        None => assert_eq!(at, value, "{}/{file}: {body}", func.name()),
                    }
                }
            }
            replayed.insert(format!("{}/{file}", func.name()));
        }
    }
    // The sample button press was answered, so the button stops spinning.
    let answered = f
        .telegram
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.url.path().ends_with("/answerCallbackQuery"))
        .count();
    assert_eq!(answered, 1);
    // The sample update is `/start` with a token the store does not know: the user is told.
    let told = to_chat(&f.telegram, 123456789).await;
    assert_eq!(told.len(), 1, "{told:?}");
    assert_eq!(told[0]["text"], zayavka::texts::RU.support_token_unknown);
    // The main bot's `/start` from an unknown chat: the greeting and the two ways to register.
    let main_start = to_chat(&f.telegram, 222333444)
        .await
        .pop()
        .expect("the main bot answered /start");
    assert_eq!(main_start["text"], zayavka::texts::RU_HELPDESK.greeting);
    // The staff bot's `/start` from an account bound to nobody: how to get bound, with the id.
    let staff_start = to_chat(&f.telegram, 700100300).await;
    assert_eq!(staff_start.len(), 1, "{staff_start:?}");
    let text = staff_start[0]["text"].as_str().unwrap();
    assert!(
        text.starts_with("Пользователь не найден") && text.contains("700100300"),
        "{text}"
    );
    assert_eq!(
        main_start["reply_markup"]["inline_keyboard"][1][0]["callback_data"],
        "reg:c"
    );
    // The two Okdesk samples became client notices on the notifications queue.
    let notices: Vec<Value> = {
        let got = store
            .parts
            .queue
            .receive("notifications", 10, std::time::Duration::ZERO)
            .await
            .unwrap();
        for m in &got {
            store
                .parts
                .queue
                .change_visibility("notifications", &m.receipt_handle, 0)
                .await
                .unwrap();
        }
        got.iter()
            .map(|m| serde_json::from_str(&m.body).unwrap())
            .collect()
    };
    let mut keys: Vec<&str> = notices
        .iter()
        .filter(|n| n["kind"] == "helpdesk")
        .filter_map(|n| n["key"].as_str())
        .collect();
    keys.sort();
    assert_eq!(keys.len(), 2, "{notices:?}");
    // The system's reply (the bridge-api sample) is queued for the user's chat.
    assert!(
        notices.iter().any(|n| n["kind"] == "bridge"
            && n["client_id"] == "telegram_700200300"
            && n["reply"]["text"] == "Ваш заказ №5 передан в доставку."),
        "{notices:?}"
    );
    // The ticket the API sample created is to be offered to its category's executors.
    assert!(
        notices
            .iter()
            .any(|n| n["kind"] == "ticket" && n["ticket_id"] == 1 && n["event"] == "created"),
        "{notices:?}"
    );
    assert_eq!(keys[0], "okdesk#comment#90017");
    assert!(keys[1].starts_with("okdesk#status#4711#"), "{keys:?}");
    // The submitted sample queued its two jobs.
    assert_eq!(
        store
            .parts
            .queue
            .stats(zayavka::queues::INTEGRATION_EMAIL)
            .await
            .unwrap()
            .visible,
        1
    );
    assert_eq!(
        store
            .parts
            .queue
            .stats(zayavka::queues::INTEGRATION_WEBHOOK)
            .await
            .unwrap()
            .visible,
        1
    );

    let worker = |name: &str| {
        registry
            .workers
            .iter()
            .find(|w| w.name() == name)
            .unwrap_or_else(|| panic!("no worker {name}"))
            .clone()
    };
    let sqs = |rel: &str| -> SqsEvent {
        serde_json::from_str(&read(rel)).unwrap_or_else(|e| panic!("{rel}: not an SQS event: {e}"))
    };

    // integration-worker: one sample per integration; each delivers and succeeds.
    seed(&raw, "lead-123", targets(&f)).await;
    rec.now("integration-worker");
    let integrations = worker("integration-worker");
    for i in Integration::ALL {
        let rel = format!("integration-worker/sqs-{i}.json");
        // The samples name realistic hosts; here they are the fakes.
        let sample = read(&rel)
            .replace("https://acme.bitrix24.ru", &f.bitrix.uri())
            .replace(
                "https://hooks.example.com/lead",
                &format!("{}/hook", f.hook.uri()),
            );
        let event: SqsEvent = serde_json::from_str(&sample).unwrap();
        let response = integrations.handle(event).await;
        assert!(
            response.batch_item_failures.is_empty(),
            "{rel}: {:?}",
            response.batch_item_failures
        );
        assert_eq!(job_status(&raw, "lead-123", i).await, "succeeded", "{rel}");
        replayed.insert(rel);
    }
    assert_eq!(
        store
            .parts
            .queue
            .stats("batch-results")
            .await
            .unwrap()
            .visible,
        1,
        "the job that completed the batch asks for it to be settled"
    );
    // amoCRM and Bitrix24: each looks the contact up first (the sample's lead has a phone
    // only), then creates the lead.
    assert_eq!(f.amo.received_requests().await.unwrap().len(), 2);
    assert_eq!(f.bitrix.received_requests().await.unwrap().len(), 2);
    assert_eq!(f.hook.received_requests().await.unwrap().len(), 1);

    // batch-tracker: a batch with one success and one final failure settles as partial.
    let webhook_only = targets(&f)
        .into_iter()
        .filter(|t| matches!(t, Target::Email { .. } | Target::Webhook { .. }))
        .collect();
    seed(&raw, "lead-124", webhook_only).await;
    rec.now("batch-tracker");
    // In Lambda the tracker is invoked with the batch itself (an asynchronous invocation).
    let tracker = batch_tracker::from_env(&zayavka::deps::Wiring {
        deps: deps.clone(),
        env: &env,
        queue_prefix: "zayavka-".into(),
    })
    .unwrap();
    for rel in ["batch-tracker/invoke-settle.json"] {
        let payload: Value = serde_json::from_str(&read(rel)).unwrap();
        zayavka::lambda::invoke_once(&tracker, payload)
            .await
            .unwrap_or_else(|e| panic!("{rel}: {e}"));
        replayed.insert(rel.to_string());
    }
    let lead: LeadRecord = from_item(
        raw.table
            .get(&zayavka::leads::lead_key("lead-124"))
            .await
            .unwrap()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(lead.status, "partial");
    assert_eq!(
        store
            .parts
            .queue
            .stats("notifications")
            .await
            .unwrap()
            .visible,
        5,
        "two client notices, the new ticket, the bridge's reply and the batch's outcome"
    );

    // notification-worker: the admins get the e-mail.
    let rel = "notification-worker/sqs-notification.json";
    rec.now("notification-worker");
    let response = worker("notification-worker").handle(sqs(rel)).await;
    assert!(response.batch_item_failures.is_empty());
    let outbox: Vec<String> = std::fs::read_dir(store._dir.path().join("outbox"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect();
    assert!(
        outbox.iter().any(|m| m.contains("admin@example.com")),
        "{outbox:?}"
    );
    replayed.insert(rel.to_string());

    // notification-worker: a helpdesk notice reaches the chat of the contact.
    zayavka::helpdesk::store::save_link(
        &raw,
        &zayavka::helpdesk::store::Link {
            chat_id: 555,
            contact_id: 55,
            company_id: Some(7),
            company_name: None,
            name: "Глеб Титов".into(),
            phone: "+79990001122".into(),
            lang: "ru".into(),
            registered_at: "2026-11-21T10:00:00Z".into(),
        },
    )
    .await
    .unwrap();
    let rel = "notification-worker/sqs-helpdesk-notice.json";
    rec.now("notification-worker");
    let response = worker("notification-worker").handle(sqs(rel)).await;
    assert!(response.batch_item_failures.is_empty());
    let to_client = to_chat(&f.telegram, 555).await;
    assert_eq!(to_client.len(), 1);
    assert_eq!(
        to_client[0]["text"],
        "<b>💬 Новый комментарий к заявке #4712 от Анна Смирнова:</b>\n\nМастер будет завтра в 10:00.\n\nhttps://acme.okdesk.ru/issues/4712"
    );
    replayed.insert(rel.to_string());

    // notification-worker: the new ticket is offered to the category's executor (the
    // sample's user, bound to chat 700100200), who is its author too and is told so.
    let rel = "notification-worker/sqs-ticket-notice.json";
    rec.now("notification-worker");
    let response = worker("notification-worker").handle(sqs(rel)).await;
    assert!(response.batch_item_failures.is_empty());
    let to_executor = to_chat(&f.telegram, 700100200).await;
    assert_eq!(to_executor.len(), 2, "{to_executor:?}");
    assert!(
        to_executor[0]["text"]
            .as_str()
            .unwrap()
            .starts_with("🆕 Новая заявка")
    );
    assert_eq!(
        to_executor[0]["reply_markup"]["inline_keyboard"][0][0]["callback_data"],
        "tk:t:1"
    );
    assert!(to_executor[1]["text"].as_str().unwrap().contains("создана"));
    replayed.insert(rel.to_string());

    // bridge-worker: the user's message (queued by the webhook sample, in the client's FIFO
    // group) reaches the system with where to answer.
    let queued = store
        .parts
        .queue
        .receive("bridge-inbound.fifo", 10, std::time::Duration::ZERO)
        .await
        .unwrap();
    assert_eq!(queued.len(), 1, "the webhook queued the bridge message");
    assert_eq!(
        serde_json::from_str::<Value>(&queued[0].body).unwrap()["client_id"],
        "telegram_700200300"
    );
    let rel = "bridge-worker/sqs-bridge-message.json";
    rec.now("bridge-worker");
    let response = worker("bridge-worker").handle(sqs(rel)).await;
    assert!(
        response.batch_item_failures.is_empty(),
        "{:?}",
        response.batch_item_failures
    );
    let to_system: Vec<Value> = f
        .hook
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| r.headers.get("x-webhook-url").is_some())
        .map(|r| {
            assert_eq!(
                r.headers.get("x-webhook-url").unwrap().to_str().unwrap(),
                "https://abc123.execute-api.eu-central-1.amazonaws.com/bridge/reply/bridge_reply_token_0123456789abcdef0123"
            );
            serde_json::from_slice(&r.body).unwrap()
        })
        .collect();
    assert_eq!(to_system.len(), 1);
    assert_eq!(to_system[0]["content"], "Здравствуйте, где мой заказ №5?");
    assert_eq!(to_system[0]["timestamp"], "2026-12-02T09:00:00.000Z");
    replayed.insert(rel.to_string());

    // sweeper: the scheduled event runs one sweep and reports it.
    let rel = "sweeper/scheduled.json";
    let _event: Value = serde_json::from_str(&read(rel)).unwrap();
    rec.now("sweeper");
    let report = registry.scheduled[0].run().await.unwrap();
    assert!(report["dead_jobs"].as_u64().is_some(), "{report}");
    replayed.insert(rel.to_string());

    // Nothing in events/ was left out.
    let mut all = BTreeSet::new();
    for dir in std::fs::read_dir(events_dir()).unwrap() {
        let dir = dir.unwrap();
        for file in std::fs::read_dir(dir.path()).unwrap() {
            all.insert(format!(
                "{}/{}",
                dir.file_name().to_string_lossy(),
                file.unwrap().file_name().to_string_lossy()
            ));
        }
    }
    assert_eq!(all, replayed);

    // Every AWS call a function made is one its role in template.yaml allows.
    crate::template::assert_policies_allow(&rec.seen());
    // In the partitions its role's dynamodb:LeadingKeys name; mail from MAIL_FROM only.
    crate::template::assert_leading_keys_allow(&rec.partitions());
    crate::template::assert_sent_from(&rec.senders(), &env["MAIL_FROM"]);
}
