//! The admins' notifications: per-outcome switches, the always-sent dispatch failure, and
//! one message per channel however often the queue delivers it.

use std::sync::Arc;

use serde_json::json;
use zayavka::Deps;
use zayavka::ports::{Received, SystemClock};
use zayavka::sqs_batch::QueueWorker;
use zayavka_cli::events::sqs_event;

use crate::support::{embedded, failed_ids, test_env};

fn message(id: &str, body: serde_json::Value) -> Received {
    Received {
        message_id: id.into(),
        receipt_handle: format!("rh-{id}"),
        body: body.to_string(),
        attributes: Default::default(),
        receive_count: 1,
        sent_at_ms: 0,
    }
}

fn finished(batch: &str, status: &str) -> serde_json::Value {
    json!({"kind": "batch_finished", "lead_id": "L-9", "batch_id": batch, "status": status, "lead_name": "Глеб",
           "succeeded": ["email"], "failed": ["amocrm"], "errors": {"amocrm": "amoCRM: HTTP 401: token expired"}})
}

#[tokio::test]
async fn only_the_chosen_outcomes_are_sent_and_each_once() {
    let store = embedded(zayavka::queues::catalogue());
    let deps = Deps::embedded(&store.parts, Arc::new(SystemClock));
    let cfg = notification_worker::Config::read(&test_env(&[
        ("NOTIFY_EMAILS", "admin@example.com,ops@example.com"),
        ("NOTIFY_ON", "partial,failed"),
        ("NOTIFY_LANGUAGE", "en"),
    ]))
    .unwrap();
    let worker = notification_worker::NotificationWorker::new(deps, cfg).unwrap();
    let event = sqs_event(
        "zayavka-notifications",
        &[
            message("m1", finished("b-completed", "completed")),
            message("m2", finished("b-partial", "partial")),
            message("m3", finished("b-partial", "partial")),
            message("m4", json!({"kind": "dispatch_failed", "lead_id": "L-10", "batch_id": "b-x", "error": "queue down"})),
        ],
    )
    .unwrap();
    let response = worker.handle(event).await;
    // Two copies of one notification at the same moment: one sends, the other comes back
    // later (and then finds it sent).
    let failed = failed_ids(&response);
    assert!(
        failed.is_empty() || failed == ["m2"] || failed == ["m3"],
        "{failed:?}"
    );
    // Delivered again later: still nothing new.
    let again = sqs_event(
        "zayavka-notifications",
        &[message("m5", finished("b-partial", "partial"))],
    )
    .unwrap();
    assert!(worker.handle(again).await.batch_item_failures.is_empty());

    let mails: Vec<String> = std::fs::read_dir(store._dir.path().join("outbox"))
        .unwrap()
        .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
        .collect();
    assert_eq!(
        mails.len(),
        2,
        "one partial, one dispatch failure: {mails:?}"
    );
    assert!(
        mails
            .iter()
            .all(|m| m.contains("admin@example.com") && m.contains("ops@example.com"))
    );
    // English, as NOTIFY_LANGUAGE says; subjects are plain ASCII here, so readable as is.
    assert!(
        mails
            .iter()
            .any(|m| m.contains("Subject: Lead delivered in part (L-9)")),
        "{mails:?}"
    );
    assert!(
        mails
            .iter()
            .any(|m| m.contains("Subject: Lead could not be queued")),
        "{mails:?}"
    );
}

#[test]
fn a_notification_setting_without_its_sender_is_refused() {
    let err = notification_worker::Config::read(&std::collections::HashMap::from([(
        "NOTIFY_EMAILS".to_string(),
        "admin@example.com".to_string(),
    )]))
    .unwrap_err()
    .to_string();
    assert!(err.contains("MAIL_FROM"), "{err}");
    let err = notification_worker::Config::read(&test_env(&[("NOTIFY_ON", "sometimes")]))
        .unwrap_err()
        .to_string();
    assert!(err.contains("NOTIFY_ON"), "{err}");
}

#[tokio::test]
async fn a_helpdesk_notice_without_the_main_bot_configured_is_kept_not_lost() {
    let store = embedded(zayavka::queues::catalogue());
    let deps = Deps::embedded(&store.parts, Arc::new(SystemClock));
    // Okdesk is set, the main bot is not: the worker still starts (admin notices go on).
    let cfg = notification_worker::Config::read(&test_env(&[
        ("OKDESK_API_URL", "https://acme.okdesk.ru/api/v1"),
        ("OKDESK_API_TOKEN", "t"),
    ]))
    .unwrap();
    let worker = notification_worker::NotificationWorker::new(deps, cfg).unwrap();
    let notice = json!({"kind": "helpdesk", "key": "okdesk#comment#1",
        "event": {"event": "comment", "issue_id": 5, "content": "<p>x</p>", "contact_id": 55}});
    let event = sqs_event("zayavka-notifications", &[message("h1", notice)]).unwrap();
    let failures = failed_ids(&worker.handle(event).await);
    assert_eq!(
        failures,
        ["h1"],
        "returned to the queue, to reach the DLQ if never fixed"
    );
}
