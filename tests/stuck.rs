//! No lead stays `processing` past its last scheduled attempt: a job whose message went
//! without its result being written (the soak's lost Bitrix24 result) is found by the
//! sweeper from the lead's due marker, queued again when its target needs no credentials of
//! the request, failed when it does, and the admins are told.

use std::time::{Duration, Instant};

use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, ResponseTemplate};
use zayavka::queues::{INTEGRATION_TELEGRAM, INTEGRATION_WEBHOOK};

use crate::leads::Stack;
use crate::support::{Kind, unique};

fn lead(lead_id: &str, hook: &str) -> Value {
    json!({
        "lead_id": lead_id,
        "lead": {"name": "Анна", "phone": "+79990001122"},
        "integrations": [
            // The deployment's own bot: nothing of the request is needed to send it again.
            {"type": "telegram", "settings": {"chat_id": "-100123"}},
            {"type": "webhook", "settings": {"url": hook}},
        ],
        "credentials": {"webhook": {"secret": "whsec-request-secret-0123456789"}},
    })
}

/// Takes every message off `queue`, as a worker that called and then lost its result would
/// leave it: gone, with nothing written.
async fn lose_all(stack: &Stack, queue: &str) -> usize {
    let mut lost = 0;
    for m in stack
        .deps
        .queue
        .receive(queue, 10, Duration::ZERO)
        .await
        .unwrap()
    {
        stack
            .deps
            .queue
            .delete(queue, &m.receipt_handle)
            .await
            .unwrap();
        lost += 1;
    }
    lost
}

crate::both!(a_lead_whose_results_were_lost_is_reconciled_and_settles);
async fn a_lead_whose_results_were_lost_is_reconciled_and_settles(kind: Kind) {
    let mut stack = Stack::start(
        kind,
        &[("RETRY_SCHEDULE", "1s"), ("STUCK_GRACE", "0s")],
        &["integration-worker"],
    )
    .await;
    stack.fakes.telegram_ok().await;
    Mock::given(method("POST"))
        .and(path("/hook"))
        .respond_with(ResponseTemplate::new(200))
        .mount(&stack.fakes.hook)
        .await;
    let hook = format!("{}/hook", stack.fakes.hook.uri());
    let stuck = unique("stuck-");
    let (status, b) = stack.submit(&lead(&stuck, &hook), None).await;
    assert_eq!(status, 202, "{b}");
    assert_eq!(lose_all(&stack, INTEGRATION_TELEGRAM).await, 1);
    assert_eq!(lose_all(&stack, INTEGRATION_WEBHOOK).await, 1);
    stack.restart(&[]).await;
    // A lead that goes through as usual is left alone.
    let fine = unique("fine-");
    let (status, b) = stack.submit(&lead(&fine, &hook), None).await;
    assert_eq!(status, 202, "{b}");
    assert_eq!(
        stack.settled(&fine, Duration::from_secs(30)).await["status"],
        "completed"
    );

    let settled = stack.settled(&stuck, Duration::from_secs(60)).await;
    assert_eq!(settled["status"], "partial", "{settled:#}");
    let jobs = settled["integrations"].as_array().unwrap();
    let job = |name: &str| jobs.iter().find(|j| j["integration"] == name).unwrap();
    assert_eq!(job("telegram")["status"], "succeeded", "{settled:#}");
    assert_eq!(job("webhook")["status"], "failed", "{settled:#}");
    let why = job("webhook")["last_error"].as_str().unwrap();
    assert!(why.contains("replay it with its credentials"), "{why}");

    // The lost webhook was never called; the Telegram chat got the stuck lead once (sent
    // again) and the fine one once.
    let hooks = stack.fakes.hook.received_requests().await.unwrap();
    assert_eq!(hooks.len(), 1, "only the fine lead's webhook");
    let to_chat = stack
        .fakes
        .telegram
        .received_requests()
        .await
        .unwrap()
        .iter()
        .filter(|r| {
            let body: Value = serde_json::from_slice(&r.body).unwrap_or_default();
            body["chat_id"] == json!(-100123) || body["chat_id"] == "-100123"
        })
        .count();
    assert_eq!(to_chat, 2);

    // The admins heard of it, once, naming the lead and what happened to each job.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let mails = stack.mails().await;
        let told: Vec<_> = mails
            .iter()
            .filter(|(_, s, _)| s.contains("зависла") && s.contains(&stuck))
            .collect();
        if let [(_, _, text)] = told.as_slice() {
            assert!(text.contains("Отправлена снова: telegram"), "{text}");
            assert!(text.contains("webhook"), "{text}");
            break;
        }
        assert!(told.len() <= 1, "told twice");
        assert!(Instant::now() < deadline, "the admins were not told");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        !stack
            .mails()
            .await
            .iter()
            .any(|(_, s, _)| s.contains("зависла") && s.contains(&fine)),
        "the lead that went through is not reconciled"
    );
    stack.stop().await;
}
