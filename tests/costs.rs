//! What one lead with five integrations costs in storage and queue requests, counted by
//! instrumented adapters around the real ones while the whole stack handles it.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use zayavka::Deps;
use zayavka_cli::serve::{self, ServeOptions};

use crate::leads::{Fakes, full_request};
use crate::support::{TEST_API_KEY, test_env, unique};

#[derive(Default, Debug, Clone)]
pub struct Counts(pub BTreeMap<&'static str, u64>);

pub type Shared = Arc<Mutex<Counts>>;

fn bump(c: &Shared, what: &'static str, n: u64) {
    *c.lock().unwrap().0.entry(what).or_default() += n;
}

/// The requests that cost money per lead, by their AWS name; receiving and deleting are the
/// event source's, not the code's, and are left out.
pub struct Counter(pub Shared);

impl crate::recording::Observer for Counter {
    fn request(&self, api: &'static str, queue: &str, items: u64, _iam: &[&'static str]) {
        match (api, queue.is_empty()) {
            ("ReceiveMessage" | "DeleteMessage" | "GetQueueAttributes" | "SendEmail", _) => {}
            ("SendMessage", false) => bump(&self.0, "sqs SendMessage", 1),
            ("SendMessageBatch", false) => bump(&self.0, "sqs SendMessageBatch", 1),
            ("ChangeMessageVisibility", false) => bump(&self.0, "sqs ChangeMessageVisibility", 1),
            ("Query", true) => {
                bump(&self.0, "ddb Query", 1);
                bump(&self.0, "ddb items read by Query", items);
            }
            ("TransactWriteItems", true) => {
                bump(&self.0, "ddb TransactWriteItems", 1);
                bump(&self.0, "ddb items in transactions", items);
            }
            ("GetItem", true) => bump(&self.0, "ddb GetItem", 1),
            ("PutItem", true) => bump(&self.0, "ddb PutItem", 1),
            ("UpdateItem", true) => bump(&self.0, "ddb UpdateItem", 1),
            ("DeleteItem", true) => bump(&self.0, "ddb DeleteItem", 1),
            _ => {}
        }
    }
}

/// Runs `leads` leads with five integrations that all succeed; returns the counts.
pub async fn count_requests(leads: usize) -> Counts {
    let f = Fakes::start().await;
    f.all_succeed().await;
    let dir = tempfile::tempdir().unwrap();
    let counts: Shared = Arc::default();
    let env = test_env(&[
        ("AMOCRM_BASE_URL", &f.amo.uri()),
        ("TELEGRAM_API_BASE", &f.telegram.uri()),
        ("NOTIFY_EMAILS", "admin@example.com"),
        ("AMOCRM_RATE_PER_SECOND", "0"),
        ("BITRIX24_RATE_PER_SECOND", "0"),
        ("TELEGRAM_RATE_PER_SECOND", "0"),
    ]);
    let c = counts.clone();
    let raw: Arc<Mutex<Option<Deps>>> = Arc::default();
    let keep = raw.clone();
    let started = serve::start(
        ServeOptions::local(dir.path().to_path_buf()),
        zayavka::queues::catalogue(),
        move |deps, prefix| {
            *keep.lock().unwrap() = Some(deps.clone());
            let counted = crate::recording::observed(deps, Arc::new(Counter(c.clone())));
            serve::functions(&counted, &env, prefix)
        },
    )
    .await
    .unwrap();
    let raw = raw.lock().unwrap().clone().unwrap();
    let client = reqwest::Client::new();
    let mut ids = Vec::new();
    for _ in 0..leads {
        let id = unique("cost-");
        let r = client
            .post(format!(
                "http://{}/api/integrations/send-batch",
                started.addr
            ))
            .bearer_auth(TEST_API_KEY)
            .json(&full_request(&f, &id))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202);
        ids.push(id);
    }
    // Settled and notified: every lead completed and the notification sent.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let mut done = 0;
        for id in &ids {
            // Polled around the counters, so only the lead's own requests are counted.
            let v = zayavka::leads::submit::lead_status(&raw, id)
                .await
                .unwrap()
                .unwrap();
            if v["status"] == "completed" {
                done += 1;
            }
        }
        let outbox = std::fs::read_dir(dir.path().join("outbox"))
            .map(|d| d.count())
            .unwrap_or(0);
        if done == ids.len() && outbox == 2 * ids.len() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{done} of {} settled",
            ids.len()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Let the notifications' own bookkeeping finish.
    tokio::time::sleep(Duration::from_millis(500)).await;
    started.stop().await;
    counts.lock().unwrap().clone()
}

#[tokio::test]
async fn one_lead_with_five_integrations_stays_within_its_request_budget() {
    // Two leads, so nothing is an artefact of the first one.
    let counts = count_requests(2).await;
    let per_lead = |k: &str| counts.0.get(k).copied().unwrap_or(0) as f64 / 2.0;
    println!(
        "requests per lead with 5 integrations, the lead API call and the notification included:"
    );
    for (k, v) in &counts.0 {
        println!("  {k:<32} {:>6.1}", *v as f64 / 2.0);
    }
    // Writes are what costs: every one of them is needed (see BENCHMARKS.md).
    let writes = per_lead("ddb PutItem") + per_lead("ddb UpdateItem") + per_lead("ddb DeleteItem");
    // One transaction stores the lead, one settles it.
    assert_eq!(per_lead("ddb TransactWriteItems"), 2.0, "{counts:?}");
    assert!(per_lead("ddb items in transactions") <= 9.0, "{counts:?}");
    // Per job: claim, the attempt counted just before the call (so a worker that dies
    // before calling spends no try), and result; per batch: dispatched, five outcomes,
    // notified; per notification channel: claim and sent.
    assert!(
        writes <= 24.0,
        "{writes} single-item writes per lead: {counts:?}"
    );
    assert!(per_lead("ddb GetItem") <= 3.0, "{counts:?}");
    // Five job batches, five outcomes, one notification.
    let sends = per_lead("sqs SendMessage") + per_lead("sqs SendMessageBatch");
    assert!(sends <= 11.0, "{sends} SQS sends per lead: {counts:?}");
    assert_eq!(
        per_lead("sqs ChangeMessageVisibility"),
        0.0,
        "no retries when everything succeeds"
    );
}
