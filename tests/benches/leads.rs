//! Leads per second through `zayavka serve` (embedded storage) with five integrations, all
//! answering from local fake servers: from the first POST until every lead has settled.
//!
//! Run: `cargo bench -p zayavka-tests --bench leads` (ZAYAVKA_BENCH_LEADS, default 300;
//! ZAYAVKA_BENCH_CONCURRENCY, default 16; ZAYAVKA_BENCH_DIR, default the temp dir). Pacing toward the services is switched off: the
//! sinks are local, and in production amoCRM and Bitrix24 limits bound the rate instead.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use zayavka::Deps;
use zayavka_cli::serve::{self, ServeOptions};

const BOT: &str = "123456:ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const KEY: &str = "bench-key-0123456789abcdef";

/// A local service that answers every request with `body`: nothing is matched or recorded,
/// so the sinks take as little of the two cores as possible from what is measured.
struct Sink(String);

impl Sink {
    fn uri(&self) -> String {
        self.0.clone()
    }
}

async fn sink(body: serde_json::Value) -> Sink {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind sink");
    let addr = listener.local_addr().expect("sink address");
    let app = axum::Router::new().fallback(move || {
        let body = body.clone();
        async move { axum::Json(body) }
    });
    tokio::spawn(async move { axum::serve(listener, app).await });
    Sink(format!("http://{addr}"))
}

fn env_var(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let leads = env_var("ZAYAVKA_BENCH_LEADS", 300);
    let concurrency = env_var("ZAYAVKA_BENCH_CONCURRENCY", 16);
    let amo = sink(json!([{"id": 1}])).await;
    let bitrix = sink(json!({"result": 2})).await;
    let telegram = sink(json!({"ok": true, "result": {"message_id": 3, "date": 0, "chat": {"id": -100123, "type": "supergroup"}}})).await;
    let hook = sink(json!({})).await;
    let env = std::collections::HashMap::from(
        [
            ("ZAYAVKA_API_KEYS", KEY.to_string()),
            ("MAIL_FROM", "bench@zayavka.test".into()),
            ("NOTIFY_EMAILS", "admin@example.com".into()),
            ("AMOCRM_BASE_URL", amo.uri()),
            ("TELEGRAM_API_BASE", telegram.uri()),
            ("AMOCRM_RATE_PER_SECOND", "0".into()),
            ("BITRIX24_RATE_PER_SECOND", "0".into()),
            ("TELEGRAM_RATE_PER_SECOND", "0".into()),
            ("EMAIL_RATE_PER_SECOND", "0".into()),
            ("OUTBOUND_ALLOW_HOSTS", "127.0.0.1".into()),
        ]
        .map(|(k, v)| (k.to_string(), v)),
    );
    // ZAYAVKA_BENCH_DIR: where the data directory goes (default: the system's temp dir), to
    // compare disks — the outbox's files and the store's commits are what a disk pays for.
    let dir = match std::env::var("ZAYAVKA_BENCH_DIR") {
        Ok(base) => tempfile::tempdir_in(base),
        Err(_) => tempfile::tempdir(),
    }
    .expect("temp dir");
    let raw: Arc<Mutex<Option<Deps>>> = Arc::default();
    let keep = raw.clone();
    let started = serve::start(
        ServeOptions::local(dir.path()),
        zayavka::queues::catalogue(),
        move |deps, prefix| {
            *keep.lock().expect("lock") = Some(deps.clone());
            serve::functions(deps, &env, prefix)
        },
    )
    .await
    .expect("start stack");
    let deps = raw.lock().expect("lock").clone().expect("deps");
    let url = format!("http://{}/api/integrations/send-batch", started.addr);
    let client = reqwest::Client::new();
    let body = |i: usize| {
        json!({
            "lead_id": format!("bench-{i}"),
            "lead": {"name": "Глеб Титов", "phone": "+79990001122", "email": "gleb@example.com", "comment": "bench"},
            "integrations": [
                {"type": "email"}, {"type": "amocrm"}, {"type": "telegram", "settings": {"chat_id": "-100123"}},
                {"type": "bitrix24"}, {"type": "webhook", "settings": {"url": format!("{}/hook", hook.uri())}}
            ],
            "credentials": {
                "email": {"emails": ["sales@example.com"]},
                "amocrm": {"subdomain": "acme", "access_token": "token"},
                "telegram": {"bot_token": BOT},
                "bitrix24": {"webhook_url": format!("{}/rest/1/abc/", bitrix.uri())}
            }
        })
    };

    let (writes_before, commits_before) = zayavka::adapters::sqlite::write_stats();
    let start = Instant::now();
    let latencies = Arc::new(Mutex::new(Vec::with_capacity(leads)));
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..concurrency {
        let (client, url, next, latencies) =
            (client.clone(), url.clone(), next.clone(), latencies.clone());
        let bodies: Vec<_> = (0..leads).map(body).collect();
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                if i >= bodies.len() {
                    return;
                }
                let t = Instant::now();
                let r = client
                    .post(&url)
                    .bearer_auth(KEY)
                    .json(&bodies[i])
                    .send()
                    .await
                    .expect("post");
                assert_eq!(r.status(), 202);
                latencies.lock().expect("lock").push(t.elapsed());
            }
        }));
    }
    for t in tasks {
        t.await.expect("submitter");
    }
    let submitted = start.elapsed();
    let mut checked = 0;
    loop {
        // Settled: every lead's two e-mails (its own and the admins' notification, which
        // the tracker queues just before it writes the status) are in the outbox, and the
        // status is written. Leads are checked from where the last look stopped.
        let mails = std::fs::read_dir(dir.path().join("outbox"))
            .map(|d| d.count())
            .unwrap_or(0);
        if mails >= 2 * leads {
            while checked < leads {
                let v = zayavka::leads::submit::lead_status(&deps, &format!("bench-{checked}"))
                    .await
                    .expect("status")
                    .expect("lead");
                if v["status"] == "processing" {
                    break;
                }
                checked += 1;
            }
            if checked == leads {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let settled = start.elapsed();
    // Let the admins' notifications finish, so that the counts are whole leads'.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (writes_done, commits_done) = zayavka::adapters::sqlite::write_stats();
    let writes_per_lead = (writes_done - writes_before) as f64 / leads as f64;
    let commits_per_lead = (commits_done - commits_before) as f64 / leads as f64;
    let mut l = latencies.lock().expect("lock").clone();
    l.sort();
    let pct = |p: f64| l[((l.len() as f64 * p) as usize).min(l.len() - 1)].as_secs_f64() * 1000.0;
    println!(
        "| leads | concurrency | accepted/s | submit p50 | submit p99 | settled (5 integrations) |"
    );
    println!("|---:|---:|---:|---:|---:|---:|");
    println!(
        "| {leads} | {concurrency} | {:.0} | {:.1} ms | {:.1} ms | {:.1} leads/s ({:.2} s) |",
        leads as f64 / submitted.as_secs_f64(),
        pct(0.5),
        pct(0.99),
        leads as f64 / settled.as_secs_f64(),
        settled.as_secs_f64()
    );
    started.stop().await;
    let raw_rate = raw_commit_rate(dir.path()).await;
    let bound = raw_rate / writes_per_lead;
    let achieved = leads as f64 / settled.as_secs_f64();
    println!();
    println!(
        "store: {writes_per_lead:.1} writes and {commits_per_lead:.1} commits per lead (group commit: {:.1} writes per commit)",
        writes_per_lead / commits_per_lead
    );
    println!(
        "raw commit rate of the embedded store on this disk: {raw_rate:.0} commits/s (one write each)"
    );
    println!(
        "store-bound limit at one commit per write: {bound:.0} leads/s; settled {achieved:.0} leads/s = {:.2} of it",
        achieved / bound
    );
}

/// Commits per second of the embedded store in the same directory, one small write per
/// commit and nothing else running: the disk's bound on un-grouped writes.
async fn raw_commit_rate(dir: &std::path::Path) -> f64 {
    use zayavka::ports::Table;
    use zayavka::ports::table::{Key, Update};
    let db = zayavka::adapters::sqlite::Db::open(&dir.join("raw-rate.db")).expect("open");
    let table = zayavka::adapters::sqlite_table::EmbeddedTable::new(
        db,
        Arc::new(zayavka::ports::SystemClock),
    );
    let n = 3000;
    let start = Instant::now();
    for i in 0..n {
        table
            .update(
                &Key::new(format!("raw#{}", i % 100), "x"),
                Update::new().add("n", 1),
            )
            .await
            .expect("write");
    }
    n as f64 / start.elapsed().as_secs_f64()
}
