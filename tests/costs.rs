//! What one lead with five integrations costs in AWS requests, counted by instrumented
//! adapters around the real ones while the whole stack handles it, and priced.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use zayavka::Deps;
use zayavka::sqs_batch::QueueWorker;
use zayavka_cli::serve::{self, Registry, ServeOptions};

use crate::leads::{Fakes, full_request};
use crate::support::{TEST_API_KEY, test_env, unique};

#[derive(Default, Debug, Clone)]
pub struct Counts(pub BTreeMap<&'static str, f64>);

pub type Shared = Arc<Mutex<Counts>>;

fn bump(c: &Shared, what: &'static str, n: f64) {
    *c.lock().unwrap().0.entry(what).or_default() += n;
}

/// The requests that cost money per lead, by their AWS name, and the capacity units they
/// consume. Receiving and deleting are the event source's, not the code's: they follow
/// from the messages sent (see [`PerLead::event_source_requests`]).
pub struct Counter(pub Shared);

impl crate::recording::Observer for Counter {
    fn request(&self, api: &'static str, queue: &str, items: u64, _iam: &[&'static str]) {
        let fifo = queue.ends_with(".fifo");
        match (api, queue.is_empty()) {
            ("ReceiveMessage" | "DeleteMessage" | "GetQueueAttributes" | "SendEmail", _) => {}
            ("SendMessage" | "SendMessageBatch", false) => {
                bump(
                    &self.0,
                    if api == "SendMessage" {
                        "sqs SendMessage"
                    } else {
                        "sqs SendMessageBatch"
                    },
                    1.0,
                );
                bump(&self.0, "sqs sends", 1.0);
                bump(&self.0, "sqs messages", items as f64);
                if fifo {
                    bump(&self.0, "sqs FIFO sends", 1.0);
                    bump(&self.0, "sqs FIFO messages", items as f64);
                }
            }
            // The tracker's asynchronous invocation: billed as its invocation, which the
            // worker wrapper counts.
            ("Invoke", false) => bump(&self.0, "lambda Invoke (async, the tracker)", 1.0),
            ("ChangeMessageVisibility", false) => bump(&self.0, "sqs ChangeMessageVisibility", 1.0),
            ("Query", true) => {
                bump(&self.0, "ddb Query", 1.0);
                bump(&self.0, "ddb items read by Query", items as f64);
            }
            ("TransactWriteItems", true) => {
                bump(&self.0, "ddb TransactWriteItems", 1.0);
                bump(&self.0, "ddb items in transactions", items as f64);
            }
            ("GetItem", true) => bump(&self.0, "ddb GetItem", 1.0),
            ("GetItem (eventually consistent)", true) => {
                bump(&self.0, "ddb GetItem (eventually consistent)", 1.0)
            }
            ("PutItem", true) => bump(&self.0, "ddb PutItem", 1.0),
            ("UpdateItem", true) => bump(&self.0, "ddb UpdateItem", 1.0),
            ("DeleteItem", true) => bump(&self.0, "ddb DeleteItem", 1.0),
            _ => {}
        }
    }

    fn wants_capacity(&self) -> bool {
        true
    }

    fn capacity(&self, wru: f64, index_wru: f64, rru: f64) {
        bump(&self.0, "ddb WRU", wru + index_wru);
        bump(&self.0, "ddb WRU of which on gsi1", index_wru);
        bump(&self.0, "ddb RRU", rru);
    }
}

/// A queue worker that counts its invocations (one per batch handed to it, as Lambda
/// invokes a function once per batch).
struct Invocations(Arc<dyn QueueWorker>, Shared);

#[async_trait]
impl QueueWorker for Invocations {
    fn name(&self) -> &'static str {
        self.0.name()
    }
    fn queues(&self) -> Vec<String> {
        self.0.queues()
    }
    async fn handle(&self, event: SqsEvent) -> SqsBatchResponse {
        bump(&self.1, "lambda worker invocations", 1.0);
        if zayavka::queues::INVOKED
            .iter()
            .any(|i| i.function == self.0.name())
        {
            // In AWS one invocation per event: Lambda does not batch them.
            bump(&self.1, "lambda invocations of which never batched", 1.0);
        }
        self.0.handle(event).await
    }
}

/// Runs `leads` leads with five integrations that all succeed, one after the other (each
/// settled and notified before the next: the low-volume case, where nothing is batched);
/// returns the counts.
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
            let all = serve::functions(&counted, &env, prefix)?;
            Ok(Registry {
                http: all.http,
                workers: all
                    .workers
                    .into_iter()
                    .map(|w| Arc::new(Invocations(w, c.clone())) as Arc<dyn QueueWorker>)
                    .collect(),
                // The sweeper's runs are a fixed cost, not a lead's.
                scheduled: Vec::new(),
            })
        },
    )
    .await
    .unwrap();
    let raw = raw.lock().unwrap().clone().unwrap();
    let client = reqwest::Client::new();
    for n in 1..=leads {
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
        bump(&counts, "lambda http invocations", 1.0);
        // Settled and notified: the lead completed and the notification sent.
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            // Read around the counters, so only the lead's own requests are counted.
            let v = zayavka::leads::submit::lead_status(&raw, &id)
                .await
                .unwrap()
                .unwrap();
            let outbox = std::fs::read_dir(dir.path().join("outbox"))
                .map(|d| d.count())
                .unwrap_or(0);
            if v["status"] == "completed" && outbox == 2 * n {
                break;
            }
            assert!(std::time::Instant::now() < deadline, "{v}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        // Let the notification's own bookkeeping finish.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let items = zayavka::ports::Table::query_all(
            raw.table.as_ref(),
            zayavka::ports::Query::pk(format!("lead#{id}")),
        )
        .await
        .unwrap();
        let bytes: u64 = items.iter().map(crate::recording::item_size).sum();
        bump(&counts, "bytes stored per lead", bytes as f64);
    }
    started.stop().await;
    counts.lock().unwrap().clone()
}

/// AWS list prices, us-east-1, as published at the time of writing (see BENCHMARKS.md).
pub mod price {
    pub const WRU: f64 = 0.625e-6;
    pub const RRU: f64 = 0.125e-6;
    pub const SQS_STANDARD: f64 = 0.40e-6;
    pub const SQS_FIFO: f64 = 0.50e-6;
    pub const LAMBDA_REQUEST: f64 = 0.20e-6;
    /// arm64, per GB-second.
    pub const LAMBDA_GB_SECOND: f64 = 0.000_013_333_4;
    pub const HTTP_API_REQUEST: f64 = 1.00e-6;
}

/// One lead's requests, and what a million of them cost.
#[derive(Debug, Clone, Copy)]
pub struct PerLead {
    pub wru: f64,
    pub rru: f64,
    pub sends: f64,
    pub fifo_sends: f64,
    pub messages: f64,
    pub fifo_messages: f64,
    pub invocations: f64,
    pub http: f64,
    /// Invoked one event at a time in AWS (the tracker), however busy.
    pub unbatched: f64,
}

/// How many messages one receive and one delete take on average: one at low volume, ten
/// (the batch size) at a volume where messages wait for their batch.
#[derive(Debug, Clone, Copy)]
pub enum Volume {
    Low,
    Batched,
}

impl PerLead {
    pub fn of(c: &Counts, leads: usize) -> Self {
        let per = |k: &str| c.0.get(k).copied().unwrap_or(0.0) / leads as f64;
        Self {
            wru: per("ddb WRU"),
            rru: per("ddb RRU"),
            sends: per("sqs sends"),
            fifo_sends: per("sqs FIFO sends"),
            messages: per("sqs messages"),
            fifo_messages: per("sqs FIFO messages"),
            invocations: per("lambda worker invocations") + per("lambda http invocations"),
            http: per("lambda http invocations"),
            unbatched: per("lambda invocations of which never batched"),
        }
    }

    /// The event sources' receive and delete requests: (standard, FIFO).
    pub fn event_source_requests(&self, v: Volume) -> (f64, f64) {
        let per_request = match v {
            Volume::Low => 1.0,
            Volume::Batched => 10.0,
        };
        let standard = self.messages - self.fifo_messages;
        (
            2.0 * standard / per_request,
            2.0 * self.fifo_messages / per_request,
        )
    }

    /// Lambda invocations: the HTTP ones, the invoked tracker's (one per lead), and the
    /// queue workers' (one per message at low volume, one per ten when batched).
    pub fn invocations_at(&self, v: Volume) -> f64 {
        match v {
            Volume::Low => self.invocations,
            Volume::Batched => {
                let one_each = self.http + self.unbatched;
                one_each + (self.invocations - one_each) / 10.0
            }
        }
    }

    /// Dollars per million leads, e-mail left out. Lambda time: ~60 ms at 128 MB per
    /// invocation (measured on the release build, BENCHMARKS.md).
    pub fn dollars_per_million(&self, v: Volume) -> f64 {
        let (es_standard, es_fifo) = self.event_source_requests(v);
        let invocations = self.invocations_at(v);
        let per_lead = self.wru * price::WRU
            + self.rru * price::RRU
            + (self.sends - self.fifo_sends + es_standard) * price::SQS_STANDARD
            + (self.fifo_sends + es_fifo) * price::SQS_FIFO
            + invocations * price::LAMBDA_REQUEST
            + invocations * 0.060 * 0.125 * price::LAMBDA_GB_SECOND
            + self.http * price::HTTP_API_REQUEST;
        per_lead * 1e6
    }
}

#[tokio::test]
async fn one_lead_with_five_integrations_stays_within_its_request_budget() {
    // Three leads, so nothing is an artefact of the first one.
    let counts = count_requests(3).await;
    let p = PerLead::of(&counts, 3);
    println!(
        "requests per lead with 5 integrations, the lead API call and the notification included:"
    );
    for (k, v) in &counts.0 {
        println!("  {k:<32} {:>6.2}", v / 3.0);
    }
    for v in [Volume::Low, Volume::Batched] {
        let (s, f) = p.event_source_requests(v);
        println!(
            "  {v:?}: event-source requests {s:.1} standard + {f:.1} FIFO, {:.1} invocations, ${:.2} per million leads",
            p.invocations_at(v),
            p.dollars_per_million(v)
        );
    }
    // The lean pipeline's goals (issue 13).
    assert!(p.wru <= 12.0, "{} WRU per lead: {counts:?}", p.wru);
    assert!(p.rru <= 3.0, "{} RRU per lead: {counts:?}", p.rru);
    // One fewer than the goal of seven: the tracker is invoked, not sent to.
    assert!(p.sends <= 6.0, "{} SQS sends per lead: {counts:?}", p.sends);
    assert!(
        p.invocations <= 8.0,
        "{} Lambda invocations per lead: {counts:?}",
        p.invocations
    );
    // Where the event sources batch; at low volume one queue per integration sets a floor
    // above it (BENCHMARKS.md).
    let batched = p.dollars_per_million(Volume::Batched);
    assert!(batched <= 12.0, "${batched:.2} per million leads batched");
    assert_eq!(
        counts.0.get("ddb WRU of which on gsi1").copied(),
        Some(0.0),
        "a lead is on no index"
    );
    assert_eq!(
        counts.0.get("sqs ChangeMessageVisibility").copied(),
        None,
        "no retries when everything succeeds"
    );
    assert_eq!(
        counts.0.get("ddb TransactWriteItems").copied(),
        None,
        "no transaction on the lead path: each item is billed twice in one"
    );
}

#[test]
fn item_sizes_follow_dynamodbs_rules() {
    use zayavka::ports::table::AttributeValue as A;
    let item: zayavka::ports::Item = [
        ("pk".to_string(), A::S("lead#1".into())), // 2 + 6
        ("n".to_string(), A::N("12345".into())),   // 1 + 3 + 1
        ("set".to_string(), A::Ss(vec!["ab".into(), "c".into()])), // 3 + 3
        (
            "m".to_string(),
            A::M([("k".to_string(), A::S("vv".into()))].into()), // 1 + 3 + (1 + 2 + 1)
        ),
    ]
    .into();
    assert_eq!(crate::recording::item_size(&item), 8 + 5 + 6 + 8);
}

/// The wakes of one waiting job in the first hour of an outage with the default schedule:
/// one just after each probe (5 s, 5 min, then every 15 min, `BREAKER_MAX_PROBE_INTERVAL`).
fn wakes_in_the_first_hour() -> f64 {
    let mut at = 0.0;
    let mut wakes = 0.0;
    for step in [5.0, 300.0].into_iter().chain(std::iter::repeat(900.0)) {
        at += step;
        if at > 3600.0 {
            break;
        }
        wakes += 1.0;
    }
    wakes
}

#[tokio::test]
async fn jobs_waiting_on_an_open_breaker_cost_a_wake_per_probe_and_no_call() {
    use wiremock::matchers::{method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};
    let hook = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/hook"))
        .respond_with(ResponseTemplate::new(500))
        .mount(&hook)
        .await;
    let dir = tempfile::tempdir().unwrap();
    let counts: Shared = Arc::default();
    let env = test_env(&[
        // Probes every 2 s; the jobs never give up during the test.
        ("RETRY_SCHEDULE", "2s,2s,2s,2s,2s,2s,2s,2s,1h"),
        ("BREAKER_THRESHOLD", "2"),
        ("HTTP_TIMEOUT_SECONDS", "1"),
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
            let all = serve::functions(&counted, &env, prefix)?;
            Ok(Registry {
                http: all.http,
                workers: all
                    .workers
                    .into_iter()
                    .map(|w| Arc::new(Invocations(w, c.clone())) as Arc<dyn QueueWorker>)
                    .collect(),
                scheduled: Vec::new(),
            })
        },
    )
    .await
    .unwrap();
    let raw = raw.lock().unwrap().clone().unwrap();
    let leads = 20;
    let mut ids = Vec::new();
    for _ in 0..leads {
        let id = unique("wait-");
        let body = serde_json::json!({"lead_id": id, "lead": {"name": "Анна"},
            "integrations": [{"type": "webhook", "settings": {"url": format!("{}/hook", hook.uri())}}]});
        let r = reqwest::Client::new()
            .post(format!(
                "http://{}/api/integrations/send-batch",
                started.addr
            ))
            .bearer_auth(TEST_API_KEY)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 202);
        ids.push(id);
    }
    // The breaker is open: every job waits on it (those that took a probe since show
    // `retrying`, with their attempt).
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let mut waiting = 0;
        for id in &ids {
            let v = zayavka::leads::submit::lead_status(&raw, id)
                .await
                .unwrap()
                .unwrap();
            let job = &v["integrations"][0];
            waiting += usize::from(job["status"] == "waiting" || job["attempts"] != 0);
        }
        if waiting == leads {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{waiting} of {leads} waiting"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Now count a window of several probes.
    *counts.lock().unwrap() = Counts::default();
    let calls_before = hook.received_requests().await.unwrap().len();
    let window = Duration::from_secs(10);
    tokio::time::sleep(window).await;
    let calls = hook.received_requests().await.unwrap().len() - calls_before;
    let c = counts.lock().unwrap().clone();
    started.stop().await;
    let get = |k: &str| c.0.get(k).copied().unwrap_or(0.0);
    // Each wake of a job ends in one visibility change (a hold, or a probe's postponement).
    let wakes = get("sqs ChangeMessageVisibility");
    assert!(wakes >= leads as f64, "every job woke at least once: {c:?}");
    let per_wake = |k: &str| get(k) / wakes;
    println!("in a {window:?} window with {leads} jobs waiting: {wakes} wakes, {calls} calls out");
    for (k, v) in &c.0 {
        println!("  {k:<40} {:>8.3} per wake", v / wakes);
    }
    // No call per job: at most one probe per 2-second step, and one more at the edge.
    assert!(
        calls as f64 <= window.as_secs_f64() / 2.0 + 1.0,
        "{calls} calls out for {leads} waiting jobs"
    );
    // A wake is one small write (the hold, which explains the receive), one read of the
    // job's batch item (strongly consistent, as every redelivery's), one visibility change,
    // and — ten to a batch in AWS, where thousands wake together — a tenth of an invocation
    // and of a receive. Each probe adds its own: the claim, the report, the next probe's
    // time, and the breaker read once per worker and probe rather than per job. (The price
    // below spreads the probes' share over the wakes, as measured.)
    let probes = calls as f64;
    assert!(get("ddb WRU") <= wakes + 4.0 * probes, "{c:?}");
    assert!(get("ddb RRU") <= wakes + 2.0 * probes, "{c:?}");
    let per_job_wake = per_wake("ddb WRU") * price::WRU
        + per_wake("ddb RRU") * price::RRU
        + (1.0 + 0.1) * price::SQS_FIFO
        + 0.1 * (price::LAMBDA_REQUEST + 0.060 * 0.125 * price::LAMBDA_GB_SECOND);
    let hour = 10_000.0 * wakes_in_the_first_hour() * per_job_wake;
    println!(
        "10 000 leads waiting on one target for the first hour of an outage: {} wakes each, ${hour:.3} (${:.2} per million job-wakes)",
        wakes_in_the_first_hour(),
        per_job_wake * 1e6
    );
    assert!(hour < 0.5, "${hour:.3} for an hour");
}
