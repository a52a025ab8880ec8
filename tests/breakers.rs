//! A breaker per target, as the business sees it: while amoCRM is down, hundreds of leads
//! arrive and wait without each calling it; one probe goes out per step of the (compressed)
//! schedule; the admins hear once that it is down and once that it is back; and afterwards
//! every lead is in amoCRM, once.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use wiremock::{Request, ResponseTemplate};

use crate::leads::Stack;
use crate::support::{Kind, unique};

/// A fake amoCRM that answers 500 to everything while `down`, and like amoCRM otherwise:
/// no contact found (204), the lead made (its `request_id` echoed).
struct Amo {
    down: AtomicBool,
    calls_while_down: AtomicUsize,
    leads_made: AtomicUsize,
}

impl Amo {
    fn answer(&self, req: &Request) -> ResponseTemplate {
        if self.down.load(Ordering::SeqCst) {
            self.calls_while_down.fetch_add(1, Ordering::SeqCst);
            return ResponseTemplate::new(500).set_body_string("Internal Server Error");
        }
        match (req.method.as_str(), req.url.path()) {
            ("GET", "/api/v4/contacts") => ResponseTemplate::new(204),
            ("POST", "/api/v4/leads/complex") => {
                let n = self.leads_made.fetch_add(1, Ordering::SeqCst);
                ResponseTemplate::new(200).set_body_json(json!([
                    {"id": 100_000 + n, "contact_id": 1, "company_id": null, "request_id": ["1"], "merged": false}
                ]))
            }
            _ => ResponseTemplate::new(404),
        }
    }
}

fn amo_lead(lead_id: &str, account: &str) -> Value {
    json!({
        "lead_id": lead_id,
        "lead": {"name": "Анна", "phone": "+79990001122"},
        "integrations": [{"type": "amocrm", "settings": {"pipeline_id": 7}}],
        "credentials": {"amocrm": {"subdomain": account, "access_token": "amo-token-123"}},
    })
}

crate::both!(an_outage_costs_one_probe_per_step_not_a_call_per_lead);
async fn an_outage_costs_one_probe_per_step_not_a_call_per_lead(kind: Kind) {
    let leads = match kind {
        Kind::Embedded => 200,
        Kind::Moto => 100,
    };
    let stack = Stack::start(
        kind,
        &[
            // The last step leaves the jobs time to drain before the schedule ends.
            ("RETRY_SCHEDULE", "1s,1s,2s,2s,3s,3s,3s,30s"),
            ("BREAKER_THRESHOLD", "3"),
            // Probes never more than 3 s apart, so the long last step is only the jobs'
            // patience (their give-up), never a gap between probes.
            ("BREAKER_MAX_PROBE_INTERVAL", "3s"),
            ("HTTP_TIMEOUT_SECONDS", "2"),
            ("AMOCRM_RATE_PER_SECOND", "0"),
            ("NOTIFY_ON", "failed"),
        ],
        &[],
    )
    .await;
    let amo = Arc::new(Amo {
        down: AtomicBool::new(true),
        calls_while_down: AtomicUsize::new(0),
        leads_made: AtomicUsize::new(0),
    });
    let fake = amo.clone();
    wiremock::Mock::given(wiremock::matchers::any())
        .respond_with(move |req: &Request| fake.answer(req))
        .mount(&stack.fakes.amo)
        .await;

    // Its own account per run: moto keeps the mail of earlier runs.
    let account = unique("acme-");
    let target = format!("amocrm:{account}");
    // The leads arrive while amoCRM is down; it stays down six seconds in all.
    let down_since = Instant::now();
    let mut ids = Vec::new();
    for _ in 0..leads {
        let id = unique("outage-");
        let (status, b) = stack.submit(&amo_lead(&id, &account), None).await;
        assert_eq!(status, 202, "{b}");
        ids.push(id);
    }
    // While it is down a waiting lead says what it waits on.
    let seen = Instant::now() + Duration::from_secs(20);
    'look: loop {
        for id in ids.iter().rev() {
            let (_, raw) = stack.lead(id).await;
            let v: Value = serde_json::from_str(&raw).unwrap();
            let job = &v["integrations"][0];
            if job["status"] == "waiting" {
                assert_eq!(v["status"], "processing", "{v:#}");
                assert_eq!(job["waiting_on"], target.as_str(), "{job:#}");
                assert!(job["next_attempt_at"].is_string(), "{job:#}");
                break 'look;
            }
            assert!(Instant::now() < seen, "no lead waits on the breaker: {v:#}");
        }
    }
    let rest = Duration::from_secs(6).saturating_sub(down_since.elapsed());
    tokio::time::sleep(rest).await;
    amo.down.store(false, Ordering::SeqCst);
    let outage = down_since.elapsed();
    let calls = amo.calls_while_down.load(Ordering::SeqCst);

    for id in &ids {
        let lead = stack.settled(id, Duration::from_secs(60)).await;
        assert_eq!(lead["status"], "completed", "{lead:#}");
    }
    // Each lead reached amoCRM once.
    assert_eq!(amo.leads_made.load(Ordering::SeqCst), leads);

    // Before the breaker opened: the threshold's failures and what was already in flight
    // (the worker runs four jobs at once); after: one probe per step of the schedule that
    // fits in the outage (1, 1, 2, 2, 3 s, … apart from its opening).
    let mut steps_in_outage = 0;
    let mut at = 0.0;
    for step in [1.0, 1.0, 2.0, 2.0]
        .into_iter()
        .chain(std::iter::repeat(3.0))
    {
        at += step;
        if at > outage.as_secs_f64() {
            break;
        }
        steps_in_outage += 1;
    }
    assert!(
        calls <= 3 + 4 + steps_in_outage,
        "{calls} calls to amoCRM during a {outage:?} outage with {leads} leads waiting"
    );
    assert!(
        calls >= 3 + 2,
        "the breaker opened and probed: {calls} calls"
    );

    // The admins heard once that it was down and once that it was back.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let mails = stack.mails().await;
        let down = mails
            .iter()
            .filter(|(_, s, _)| s.contains("Сервис недоступен") && s.contains(&target))
            .collect::<Vec<_>>();
        let back = mails
            .iter()
            .filter(|(_, s, _)| s.contains("Сервис снова доступен") && s.contains(&target))
            .collect::<Vec<_>>();
        if down.len() == 1 && back.len() == 1 {
            let (to, _, text) = down[0];
            assert_eq!(to, &["admin@example.com".to_string()]);
            assert!(text.contains("HTTP 500"), "{text}");
            assert!(text.contains("Следующая проверка"), "{text}");
            let (_, _, text) = back[0];
            assert!(text.contains("Заявок ждало"), "{text}");
            break;
        }
        assert!(
            down.len() <= 1 && back.len() <= 1 && Instant::now() < deadline,
            "one notice each way: {} down, {} back",
            down.len(),
            back.len()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    stack.stop().await;
}
