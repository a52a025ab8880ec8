//! The crash and fault soak: `ZAYAVKA_SOAK_LEADS` (10 000) leads with five integrations
//! each through `zayavka serve`, against fake services that follow a fault plan decided
//! per lead and integration (500s, 429s with Retry-After, hangs past the timeout, lasting
//! 500s, 400s); `serve` is SIGKILLed once, mid-run, and started again on the same data.
//! Then every lead must have settled with the status the plan implies, and every outside
//! call the fakes accepted is counted, so duplicates show.
//!
//! `cargo bench -p zayavka-cli --bench soak` (release). Prints its figures; exits 1 when a
//! lead is lost or settles otherwise than planned.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_zayavka");
const KEY: &str = "soak-key-0123456789abcdef";
const BOT: &str = "123456:SOAKSOAKSOAKSOAKSOAK";
const INTEGRATIONS: [&str; 4] = ["amocrm", "bitrix24", "telegram", "webhook"];
/// Each job's attempts: one, then a retry a second later and another two seconds after.
const RETRY_SCHEDULE: &str = "1s,2s";
const HTTP_TIMEOUT_SECS: u64 = 2;

/// What the fake does with one lead's calls to one integration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Plan {
    Ok,
    /// 500 on the first call, then 2xx.
    FailOnce,
    /// 429 with Retry-After: 1 on the first call, then 2xx.
    ThrottleOnce,
    /// The first call hangs past the worker's timeout (and is then answered 504).
    HangOnce,
    /// 500 every time: fails after its tries.
    AlwaysDown,
    /// 400: fails at once.
    Refused,
}

impl Plan {
    fn of(lead: u64, integration: usize) -> Plan {
        // splitmix64 of (lead, integration): the same plan for every run.
        let mut z = lead
            .wrapping_mul(0x9E37_79B9_7F4A_7C15)
            .wrapping_add(integration as u64 + 1);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        match (z ^ (z >> 31)) % 100 {
            0..80 => Plan::Ok,
            80..88 => Plan::FailOnce,
            88..92 => Plan::ThrottleOnce,
            92..93 => Plan::HangOnce,
            93..97 => Plan::AlwaysDown,
            _ => Plan::Refused,
        }
    }

    fn succeeds(self) -> bool {
        !matches!(self, Plan::AlwaysDown | Plan::Refused)
    }
}

/// The status a lead must settle with.
fn implied(lead: u64) -> &'static str {
    // E-mail (the fifth integration) goes to the outbox and always succeeds.
    let ok = 1
        + (0..INTEGRATIONS.len())
            .filter(|i| Plan::of(lead, *i).succeeds())
            .count();
    match ok {
        5 => "completed",
        _ => "partial",
    }
}

#[derive(Default)]
struct Calls {
    /// (lead, integration) → calls made, calls accepted (answered 2xx).
    seen: HashMap<(u64, usize), (u32, u32)>,
    faults: u64,
}

type Shared = Arc<Mutex<Calls>>;

/// The lead number in a call's body: every lead is named `soak-<n>-lead`.
fn lead_in(body: &[u8]) -> Option<u64> {
    let text = String::from_utf8_lossy(body);
    let at = text.find("soak-")? + 5;
    let digits: String = text[at..]
        .chars()
        .take_while(char::is_ascii_digit)
        .collect();
    digits.parse().ok()
}

async fn fake(State(calls): State<Shared>, uri: Uri, body: Bytes) -> Response {
    let path = uri.path();
    let integration = if path.starts_with("/amo/") {
        0
    } else if path.starts_with("/rest/") {
        1
    } else if path.starts_with("/bot") {
        2
    } else {
        3
    };
    let Some(lead) = lead_in(&body) else {
        return (StatusCode::OK, axum::Json(json!({"ok": true}))).into_response();
    };
    let plan = Plan::of(lead, integration);
    let first = {
        let mut c = calls.lock().expect("calls");
        let entry = c.seen.entry((lead, integration)).or_default();
        entry.0 += 1;
        entry.0 == 1
    };
    let fault = match plan {
        Plan::Ok => None,
        Plan::FailOnce if first => Some(StatusCode::INTERNAL_SERVER_ERROR),
        Plan::ThrottleOnce if first => Some(StatusCode::TOO_MANY_REQUESTS),
        Plan::HangOnce if first => {
            tokio::time::sleep(Duration::from_secs(HTTP_TIMEOUT_SECS + 1)).await;
            Some(StatusCode::GATEWAY_TIMEOUT)
        }
        Plan::AlwaysDown => Some(StatusCode::INTERNAL_SERVER_ERROR),
        Plan::Refused => Some(StatusCode::BAD_REQUEST),
        _ => None,
    };
    let mut c = calls.lock().expect("calls");
    if let Some(status) = fault {
        c.faults += 1;
        let mut r = (
            status,
            axum::Json(json!({"error": "planned fault", "ok": false,
            "description": "planned fault"})),
        )
            .into_response();
        if status == StatusCode::TOO_MANY_REQUESTS {
            r.headers_mut()
                .insert("retry-after", axum::http::HeaderValue::from_static("1"));
        }
        return r;
    }
    c.seen.entry((lead, integration)).or_default().1 += 1;
    drop(c);
    let answer = match integration {
        0 => json!([{"id": lead}]),
        1 => json!({"result": lead}),
        2 => {
            json!({"ok": true, "result": {"message_id": lead, "date": 0, "chat": {"id": -100123, "type": "supergroup"}}})
        }
        _ => json!({}),
    };
    (StatusCode::OK, axum::Json(answer)).into_response()
}

struct Serve {
    child: Child,
    url: String,
}

fn serve(data: &std::path::Path, fakes: &str) -> Serve {
    let mut child = Command::new(BIN)
        .args(["serve", "--port", "0", "--data-dir"])
        .arg(data)
        .env("ZAYAVKA_API_KEYS", KEY)
        .env("OUTBOUND_ALLOW_HOSTS", "127.0.0.1")
        .env("AMOCRM_BASE_URL", format!("{fakes}/amo"))
        .env("TELEGRAM_API_BASE", fakes)
        .env("HTTP_TIMEOUT_SECONDS", HTTP_TIMEOUT_SECS.to_string())
        .env("RETRY_SCHEDULE", RETRY_SCHEDULE)
        .env("AMOCRM_RATE_PER_SECOND", "0")
        .env("BITRIX24_RATE_PER_SECOND", "0")
        .env("TELEGRAM_RATE_PER_SECOND", "0")
        .env("EMAIL_RATE_PER_SECOND", "0")
        .env("RUST_LOG", "error")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start zayavka serve");
    let mut reader = BufReader::new(child.stdout.take().expect("stdout"));
    let url = loop {
        let mut line = String::new();
        assert!(
            reader.read_line(&mut line).expect("read") > 0,
            "serve ended early"
        );
        if let Some(u) = line.split_whitespace().find(|w| w.starts_with("http://")) {
            break u.to_string();
        }
    };
    std::thread::spawn(move || for _ in reader.lines() {});
    Serve { child, url }
}

fn request(n: u64, fakes: &str) -> Value {
    json!({
        "lead_id": format!("soak-{n}"),
        "lead": {"name": format!("soak-{n}-lead"), "phone": "+79990001122", "email": "lead@example.com"},
        "integrations": [
            {"type": "email"}, {"type": "amocrm"}, {"type": "bitrix24"},
            {"type": "telegram", "settings": {"chat_id": "-100123"}},
            {"type": "webhook", "settings": {"url": format!("{fakes}/hook")}}
        ],
        "credentials": {
            "email": {"emails": ["sales@example.com"]},
            "amocrm": {"subdomain": "soak", "access_token": "soak-token"},
            "telegram": {"bot_token": BOT},
            "bitrix24": {"webhook_url": format!("{fakes}/rest/1/soak/")}
        }
    })
}

/// Submits one lead until the stack takes it (it may be down for the kill).
async fn submit(http: &reqwest::Client, url: &Arc<Mutex<String>>, n: u64, fakes: &str) {
    loop {
        let base = url.lock().expect("url").clone();
        let r = http
            .post(format!("{base}/api/integrations/send-batch"))
            .bearer_auth(KEY)
            .header("idempotency-key", format!("soak-{n}"))
            .json(&request(n, fakes))
            .send()
            .await;
        match r {
            Ok(r) if r.status().is_success() => return,
            Ok(r) if r.status().as_u16() == 409 => return,
            _ => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}

#[tokio::main]
async fn main() {
    let leads: u64 = std::env::var("ZAYAVKA_SOAK_LEADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let calls: Shared = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind fakes");
    let fakes = format!("http://{}", listener.local_addr().expect("addr"));
    let app = Router::new().fallback(fake).with_state(calls.clone());
    tokio::spawn(async move { axum::serve(listener, app).await });

    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let first = serve(&data, &fakes);
    let url = Arc::new(Mutex::new(first.url.clone()));
    let child = Arc::new(Mutex::new(first.child));
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("client");
    let started = Instant::now();

    // The kill: once 40 % of the leads are in.
    let kill_at = leads * 2 / 5;
    let submitted = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let killer = {
        let (child, url, submitted, data, fakes) = (
            child.clone(),
            url.clone(),
            submitted.clone(),
            data.clone(),
            fakes.clone(),
        );
        tokio::spawn(async move {
            while submitted.load(std::sync::atomic::Ordering::SeqCst) < kill_at {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            let at = started.elapsed();
            {
                let mut c = child.lock().expect("child");
                c.kill().expect("SIGKILL serve");
                let _ = c.wait();
            }
            let again = serve(&data, &fakes);
            *url.lock().expect("url") = again.url;
            *child.lock().expect("child") = again.child;
            at
        })
    };
    let next = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let mut senders = Vec::new();
    for _ in 0..16 {
        let (http, url, next, submitted, fakes) = (
            http.clone(),
            url.clone(),
            next.clone(),
            submitted.clone(),
            fakes.clone(),
        );
        senders.push(tokio::spawn(async move {
            loop {
                let n = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                if n >= leads {
                    break;
                }
                submit(&http, &url, n, &fakes).await;
                submitted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            }
        }));
    }
    for s in senders {
        s.await.expect("sender");
    }
    let accepted_in = started.elapsed();
    let killed_at = killer.await.expect("killer");

    // Settled: poll what is still open until nothing is, or for ten minutes.
    let mut open: Vec<u64> = (0..leads).collect();
    let mut statuses: HashMap<u64, String> = HashMap::new();
    let deadline = Instant::now() + Duration::from_secs(600);
    while !open.is_empty() && Instant::now() < deadline {
        let base = url.lock().expect("url").clone();
        let mut still = Vec::new();
        for n in open {
            let r = http
                .get(format!("{base}/api/leads/soak-{n}"))
                .bearer_auth(KEY)
                .send()
                .await;
            let status = match r {
                Ok(r) => r
                    .json::<Value>()
                    .await
                    .ok()
                    .and_then(|v| v["status"].as_str().map(String::from)),
                Err(_) => None,
            };
            match status.as_deref() {
                Some("completed" | "partial" | "failed") => {
                    statuses.insert(n, status.unwrap_or_default());
                }
                _ => still.push(n),
            }
        }
        open = still;
        if !open.is_empty() {
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
    let settled_in = started.elapsed();
    // Then a clean stop, and every queue must be empty: nothing waiting, nothing left in
    // flight (a message handled but never deleted), nothing dead-lettered.
    tokio::time::sleep(Duration::from_secs(5)).await;
    {
        let mut c = child.lock().expect("child");
        let _ = Command::new("kill")
            .args(["-TERM", &c.id().to_string()])
            .status();
        let _ = c.wait();
    }
    let listed = Command::new(BIN)
        .args(["queue", "list", "--data-dir"])
        .arg(&data)
        .output()
        .expect("zayavka queue list");
    let listed = String::from_utf8_lossy(&listed.stdout).to_string();
    let left: Vec<&str> = listed
        .lines()
        .skip(1)
        .filter(|l| l.split_whitespace().skip(1).any(|n| n != "0"))
        .collect();

    let mut wrong = Vec::new();
    for (n, s) in &statuses {
        if s != implied(*n) {
            wrong.push((*n, s.clone(), implied(*n)));
        }
    }
    let c = calls.lock().expect("calls");
    let calls_made: u64 = c.seen.values().map(|(made, _)| u64::from(*made)).sum();
    let duplicates: u64 = c
        .seen
        .values()
        .filter(|(_, accepted)| *accepted > 1)
        .map(|(_, accepted)| u64::from(accepted - 1))
        .sum();
    let plans: HashMap<&str, u64> = (0..leads)
        .flat_map(|n| (0..INTEGRATIONS.len()).map(move |i| Plan::of(n, i)))
        .fold(HashMap::new(), |mut m, p| {
            *m.entry(match p {
                Plan::Ok => "ok",
                Plan::FailOnce => "500 once",
                Plan::ThrottleOnce => "429 once",
                Plan::HangOnce => "hang once",
                Plan::AlwaysDown => "500 always",
                Plan::Refused => "400",
            })
            .or_default() += 1;
            m
        });
    println!(
        "soak: {leads} leads × 5 integrations through `zayavka serve`, SIGKILLed at {:.1} s",
        killed_at.as_secs_f64()
    );
    println!("  fault plan (lead × HTTP integration): {plans:?}");
    println!(
        "  accepted in {:.1} s ({:.0} leads/s); all settled in {:.1} s",
        accepted_in.as_secs_f64(),
        leads as f64 / accepted_in.as_secs_f64(),
        settled_in.as_secs_f64()
    );
    println!(
        "  settled: {} of {leads}; not settled: {}; settled otherwise than planned: {}",
        statuses.len(),
        open.len(),
        wrong.len()
    );
    println!(
        "  outside calls made: {calls_made}; faults answered: {}; duplicate accepted calls: {duplicates}",
        c.faults
    );
    println!(
        "  queues after a clean stop: {}",
        if left.is_empty() {
            "all empty (nothing visible, in flight, delayed or dead-lettered)".to_string()
        } else {
            left.join(" | ")
        }
    );
    for w in wrong.iter().take(10) {
        println!(
            "  WRONG: soak-{} settled {} but the plan says {}",
            w.0, w.1, w.2
        );
    }
    if !open.is_empty() || !wrong.is_empty() || !left.is_empty() {
        std::process::exit(1);
    }
}
