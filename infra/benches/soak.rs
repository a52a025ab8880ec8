//! The crash and fault soak: `ZAYAVKA_SOAK_LEADS` (10 000) leads with five integrations
//! each through `zayavka serve`, against fake services that follow a fault plan decided
//! per lead and integration (500s, 429s with Retry-After, hangs past the timeout, lasting
//! 500s, 400s); `serve` is SIGKILLed once, mid-run, and started again on the same data.
//! Around the kill the webhook host is down altogether — a day-long outage compressed into
//! `ZAYAVKA_SOAK_OUTAGE_SECS` (20) seconds: it answers 500 to every call, and the breaker
//! must keep the leads waiting with about one probe per schedule step, not one call per lead
//! per retry. Then every lead must have settled with the status the plan implies (the
//! outage turns none of them `failed`), every outside call the fakes accepted is counted,
//! so duplicates show, and the calls made while the host was down stay under a bound.
//!
//! `cargo bench -p zayavka-cli --bench soak` (release). Prints its figures; exits 1 when a
//! lead is lost or settles otherwise than planned, when a queue holds more than the failed
//! jobs kept for replay, or when the outage drew more calls than the bound.

use std::collections::HashMap;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

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
/// Each job's `RETRY_SCHEDULE`, in seconds: a retry a second after the first attempt,
/// another two seconds later, and a last one a minute and a half after that. The long last
/// step is the compressed day: the schedule's span (93 s), which is also how long a job
/// held by an open breaker waits before it gives up, comfortably exceeds the outage and the
/// drain after it.
const STEPS: [u64; 3] = [1, 2, 90];
const HTTP_TIMEOUT_SECS: u64 = 2;
/// `BREAKER_THRESHOLD`: the product's default 5, or `ZAYAVKA_SOAK_BREAKER_THRESHOLD` (0 runs
/// the same soak without breakers, for comparison: the outage's bound and notices are then
/// not checked).
fn breaker_threshold() -> u64 {
    std::env::var("ZAYAVKA_SOAK_BREAKER_THRESHOLD")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5)
}
/// `BREAKER_MAX_PROBE_INTERVAL`: the probes follow the schedule's steps (1 s, 2 s) and then
/// go every 3 s — the compressed day's counterpart of the default 15 minutes.
const MAX_PROBE_SECS: u64 = 3;
/// The jobs one `serve` process has calling one integration at once: 4 batches in flight
/// per queue (`serve`'s `BATCHES_IN_FLIGHT`), 4 FIFO groups of each side by side (the
/// integration worker's `run_in_groups(.., 4, ..)`).
const IN_FLIGHT: u64 = 16;
/// The integration whose whole host goes down: the webhook, one call per attempt, the
/// same host for every lead (target `webhook:127.0.0.1:<port>`).
const OUTAGE: usize = 3;
/// Where the breakers' notices go (in English, so the outbox's files read as ASCII).
const ADMINS: &str = "soak-admins@example.com";

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

/// `RETRY_SCHEDULE` as `serve` reads it.
fn schedule() -> String {
    STEPS.map(|s| format!("{s}s")).join(",")
}

/// The wait after failed attempt `n` (1-based), as the schedule gives it.
fn step_after(n: usize) -> u64 {
    STEPS[(n.max(1) - 1).min(STEPS.len() - 1)]
}

/// Probes an open breaker makes within `secs` of opening: one after each interval (the
/// schedule's steps, capped at [`MAX_PROBE_SECS`], the last repeating).
fn probes_within(secs: f64) -> u64 {
    let (mut at, mut n) = (0.0, 0);
    loop {
        let step = step_after(n as usize + 1).clamp(1, MAX_PROBE_SECS) as f64;
        at += step;
        if at > secs {
            return n;
        }
        n += 1;
    }
}

#[derive(Default)]
struct Calls {
    /// (lead, integration) → calls made, calls accepted (answered 2xx).
    seen: HashMap<(u64, usize), (u32, u32)>,
    /// Planned faults answered (the outage's 500s apart).
    faults: u64,
    /// When each lead's call to the outage's host was first accepted.
    delivered_at: HashMap<u64, Instant>,
    /// When each call to the host arrived while it was down.
    while_down: Vec<Instant>,
}

#[derive(Default)]
struct Fakes {
    calls: Mutex<Calls>,
    /// The outage: the webhook host answers 500 to every call.
    down: AtomicBool,
}

type Shared = Arc<Fakes>;

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

async fn fake(State(fakes): State<Shared>, uri: Uri, body: Bytes) -> Response {
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
    // A call during the outage is the lead's call all the same: when it is the first, it
    // stands for the planned first-call fault (a 500 either way), so a lead that must
    // recover does not meet a second fault after the outage.
    let (first, down) = {
        let mut c = fakes.calls.lock().expect("calls");
        let entry = c.seen.entry((lead, integration)).or_default();
        entry.0 += 1;
        let first = entry.0 == 1;
        let down = integration == OUTAGE && fakes.down.load(Ordering::SeqCst);
        if down {
            c.while_down.push(Instant::now());
        }
        (first, down)
    };
    if down {
        let r = (
            StatusCode::INTERNAL_SERVER_ERROR,
            axum::Json(json!({"error": "host down"})),
        );
        return r.into_response();
    }
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
    let mut c = fakes.calls.lock().expect("calls");
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
    if integration == OUTAGE {
        c.delivered_at.entry(lead).or_insert_with(Instant::now);
    }
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
        .env("RETRY_SCHEDULE", schedule())
        .env("BREAKER_THRESHOLD", breaker_threshold().to_string())
        .env("BREAKER_MAX_PROBE_INTERVAL", format!("{MAX_PROBE_SECS}s"))
        // The breakers' notices, and no lead's: none fails on every integration.
        .env("NOTIFY_EMAILS", ADMINS)
        .env("NOTIFY_ON", "failed")
        .env("NOTIFY_LANGUAGE", "en")
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

/// The outage as it happened: its start and end, on the monotonic clock and as Unix ms.
#[derive(Clone, Copy)]
struct Window {
    start: Instant,
    end: Instant,
    start_ms: i64,
    end_ms: i64,
}

impl Window {
    fn holds(&self, t: Instant) -> bool {
        self.start <= t && t < self.end
    }

    fn secs(&self) -> f64 {
        (self.end - self.start).as_secs_f64()
    }
}

fn unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A breaker's notice to the admins, read from `serve`'s mail outbox.
struct Notice {
    back: bool,
    target: String,
    /// "label: value" lines of its text.
    lines: HashMap<String, String>,
}

/// Every breaker notice in the outbox (the admins' mail; the leads' own e-mails go to
/// another address).
fn notices(outbox: &std::path::Path) -> Vec<Notice> {
    let Ok(entries) = std::fs::read_dir(outbox) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for e in entries.flatten() {
        let Ok(raw) = std::fs::read_to_string(e.path()) else {
            continue;
        };
        if !raw.contains(ADMINS) {
            continue;
        }
        let text = mail_text(&raw);
        let back = text.contains("A service is back");
        if !back && !text.contains("A service is down") {
            continue;
        }
        let lines: HashMap<String, String> = text
            .lines()
            .filter_map(|l| l.split_once(": "))
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect();
        let target = lines.get("Target").cloned().unwrap_or_default();
        found.push(Notice {
            back,
            target,
            lines,
        });
    }
    found
}

/// A one-part message's text: its body decoded from base64 or quoted-printable.
fn mail_text(raw: &str) -> String {
    let raw = raw.replace("\r\n", "\n");
    let Some((head, body)) = raw.split_once("\n\n") else {
        return raw;
    };
    let head = head.to_ascii_lowercase();
    if head.contains("content-transfer-encoding: base64") {
        use base64::Engine;
        let packed: String = body.split_whitespace().collect();
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(packed)
            .unwrap_or_default();
        return String::from_utf8_lossy(&bytes).into_owned();
    }
    if head.contains("content-transfer-encoding: quoted-printable") {
        let joined = body.replace("=\n", "");
        let mut out = Vec::new();
        let b = joined.as_bytes();
        let mut i = 0;
        while i < b.len() {
            let hex = b
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok());
            match (b[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
                (b'=', Some(v)) => {
                    out.push(v);
                    i += 3;
                }
                (c, _) => {
                    out.push(c);
                    i += 1;
                }
            }
        }
        return String::from_utf8_lossy(&out).into_owned();
    }
    body.to_string()
}

/// How often each target's breaker opened and closed, as the admins were told.
fn notice_counts(notices: &[Notice]) -> String {
    let mut per_target: HashMap<&str, (u64, u64)> = HashMap::new();
    for n in notices {
        let e = per_target.entry(&n.target).or_default();
        match n.back {
            true => e.1 += 1,
            false => e.0 += 1,
        }
    }
    let mut targets: Vec<_> = per_target.into_iter().collect();
    targets.sort();
    targets
        .iter()
        .map(|(t, (down, back))| format!("{t} {down}/{back}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// What the admins were told about the outage's target.
struct OutageNotices {
    /// The opening that spans the outage, described; `None` when no closing spans it.
    spanning: Option<String>,
    /// The outage was one opening of the breaker: a closing spans it, none falls inside it
    /// (nothing answered while the host was down), and that opening was told.
    one_opening: bool,
    /// Its openings in the minute after the outage: the failures of its window that opened
    /// each (a fresh opening needs `BREAKER_THRESHOLD`), and seconds since the last closing.
    reopened: Vec<(i64, f64)>,
}

fn outage_notices(notices: &[Notice], target: &str, w: &Window) -> OutageNotices {
    // A closing's span, from its "Was down: <opened> — <closed>" line.
    let span = |n: &Notice| -> Option<(i64, i64)> {
        let (a, b) = n.lines.get("Was down")?.split_once(" — ")?;
        Some((zayavka::time::parse_ms(a)?, zayavka::time::parse_ms(b)?))
    };
    let backs: Vec<(&Notice, (i64, i64))> = notices
        .iter()
        .filter(|n| n.back && n.target == target)
        .filter_map(|n| Some((n, span(n)?)))
        .collect();
    let downs: Vec<(i64, i64)> = notices
        .iter()
        .filter(|d| !d.back && d.target == target)
        .filter_map(|d| {
            let at = zayavka::time::parse_ms(d.lines.get("Down since")?)?;
            let failures = d.lines.get("Leads not delivered (at least)")?;
            Some((at, failures.parse().ok()?))
        })
        .collect();
    let mid = (w.start_ms + w.end_ms) / 2;
    let spanning = backs.iter().find(|(_, (a, b))| *a <= mid && mid <= *b);
    let closed_inside = backs
        .iter()
        .any(|(_, (_, b))| w.start_ms < *b && *b < w.end_ms);
    let told_down = spanning.map_or(0, |(_, (opened, _))| {
        downs.iter().filter(|(at, _)| at == opened).count()
    });
    let closes: Vec<i64> = backs.iter().map(|(_, (_, b))| *b).collect();
    let mut reopened: Vec<(i64, i64)> = downs
        .iter()
        .filter(|(at, _)| w.end_ms < *at && *at < w.end_ms + 60_000)
        .copied()
        .collect();
    reopened.sort();
    OutageNotices {
        spanning: spanning.map(|(n, (opened, closed))| {
            format!(
                "opened {:+.1} s from the outage's start, closed {:+.1} s from its end; {} leads waited, {} probes; told {told_down} × down, 1 × back",
                (opened - w.start_ms) as f64 / 1000.0,
                (closed - w.end_ms) as f64 / 1000.0,
                n.lines.get("Leads that waited").map_or("?", String::as_str),
                n.lines.get("Probes").map_or("?", String::as_str),
            )
        }),
        one_opening: spanning.is_some() && !closed_inside && told_down > 0,
        reopened: reopened
            .into_iter()
            .map(|(at, failures)| {
                let closed = closes.iter().filter(|c| **c <= at).max();
                (failures, closed.map_or(f64::NAN, |c| (at - c) as f64 / 1000.0))
            })
            .collect(),
    }
}

/// The `p`-th percentile of sorted seconds.
fn pct(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[i]
}

#[tokio::main]
async fn main() {
    let leads: u64 = std::env::var("ZAYAVKA_SOAK_LEADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let outage_len = Duration::from_secs(
        std::env::var("ZAYAVKA_SOAK_OUTAGE_SECS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(20),
    );
    let threshold = breaker_threshold();
    let fakes_state: Shared = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind fakes");
    let fakes = format!("http://{}", listener.local_addr().expect("addr"));
    let host = fakes.trim_start_matches("http://").to_string();
    let app = Router::new().fallback(fake).with_state(fakes_state.clone());
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
    let submitted = Arc::new(AtomicU64::new(0));
    // When each lead was taken in.
    let taken: Arc<Mutex<Vec<Option<Instant>>>> = Arc::new(Mutex::new(vec![None; leads as usize]));

    // The outage: from the moment a quarter of the leads are in, for `outage_len`; the kill
    // (at 40 %) falls inside it, and so does the arrival of most of the rest.
    let outage = {
        let (fakes_state, submitted) = (fakes_state.clone(), submitted.clone());
        tokio::spawn(async move {
            while submitted.load(Ordering::SeqCst) < leads / 4 {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            let (start, start_ms) = (Instant::now(), unix_ms());
            fakes_state.down.store(true, Ordering::SeqCst);
            tokio::time::sleep(outage_len).await;
            fakes_state.down.store(false, Ordering::SeqCst);
            Window {
                start,
                end: Instant::now(),
                start_ms,
                end_ms: unix_ms(),
            }
        })
    };

    // The kill: once 40 % of the leads are in.
    let kill_at = leads * 2 / 5;
    let killer = {
        let (child, url, submitted, data, fakes) = (
            child.clone(),
            url.clone(),
            submitted.clone(),
            data.clone(),
            fakes.clone(),
        );
        tokio::spawn(async move {
            while submitted.load(Ordering::SeqCst) < kill_at {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
            let at = Instant::now();
            {
                let mut c = child.lock().expect("child");
                c.kill().expect("SIGKILL serve");
                let _ = c.wait();
            }
            let again = serve(&data, &fakes);
            *url.lock().expect("url") = again.url;
            *child.lock().expect("child") = again.child;
            (at, unix_ms(), Instant::now())
        })
    };
    let next = Arc::new(AtomicU64::new(0));
    let mut senders = Vec::new();
    for _ in 0..16 {
        let (http, url, next, submitted, fakes, taken) = (
            http.clone(),
            url.clone(),
            next.clone(),
            submitted.clone(),
            fakes.clone(),
            taken.clone(),
        );
        senders.push(tokio::spawn(async move {
            loop {
                let n = next.fetch_add(1, Ordering::SeqCst);
                if n >= leads {
                    break;
                }
                submit(&http, &url, n, &fakes).await;
                taken.lock().expect("taken")[n as usize] = Some(Instant::now());
                submitted.fetch_add(1, Ordering::SeqCst);
            }
        }));
    }
    for s in senders {
        s.await.expect("sender");
    }
    let accepted_in = started.elapsed();
    let (killed_at, killed_ms, restarted_at) = killer.await.expect("killer");

    // Settled: poll what is still open until nothing is, or for ten minutes.
    let mut open: Vec<u64> = (0..leads).collect();
    let mut settled: HashMap<u64, Value> = HashMap::new();
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
            let lead = match r {
                Ok(r) => r.json::<Value>().await.ok(),
                Err(_) => None,
            };
            match lead {
                Some(v)
                    if matches!(
                        v["status"].as_str(),
                        Some("completed" | "partial" | "failed")
                    ) =>
                {
                    settled.insert(n, v);
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
    let window = outage.await.expect("outage");
    // Then a clean stop, and every queue must be empty but for the failed jobs' messages,
    // kept (in flight) for a replay: nothing waiting, nothing else left in flight (a message
    // handled but never deleted), nothing dead-lettered. A message the killed `serve` had
    // in hand comes back at once, but one whose send it had claimed (an admins' notice: the
    // claim's lease outlives the restart) is retried only after its visibility timeout:
    // the stop waits for that too.
    tokio::time::sleep(Duration::from_secs(5)).await;
    let redelivered =
        restarted_at + Duration::from_secs(u64::from(zayavka::queues::WORKER_VISIBILITY_SECS) + 10);
    tokio::time::sleep(redelivered.saturating_duration_since(Instant::now())).await;
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
    let kept_planned = |name: &str| -> u64 {
        INTEGRATIONS
            .iter()
            .position(|i| format!("integration-{i}.fifo") == name)
            .map_or(0, |i| {
                (0..leads).filter(|n| !Plan::of(*n, i).succeeds()).count() as u64
            })
    };
    let mut kept = 0;
    let left: Vec<String> = listed
        .lines()
        .skip(1)
        .filter_map(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            let [name, visible, in_flight, delayed] = cols[..] else {
                return Some(format!("unreadable: {l}"));
            };
            let expected = kept_planned(name);
            kept += in_flight.parse::<u64>().unwrap_or(0);
            let fine = visible == "0" && delayed == "0" && in_flight == expected.to_string();
            (!fine).then(|| format!("{l} (expected {expected} kept in flight)"))
        })
        .collect();

    // Each lead, and each of its deliveries, as the plan says.
    let mut wrong = Vec::new();
    let mut early = 0u64;
    let mut early_not_after_restart = 0u64;
    let mut gave_up_waiting = 0u64;
    for (n, v) in &settled {
        let s = v["status"].as_str().unwrap_or_default();
        if s != implied(*n) {
            wrong.push(format!(
                "soak-{n} settled {s} but the plan says {}",
                implied(*n)
            ));
        }
        let jobs = v["integrations"].as_array().cloned().unwrap_or_default();
        for (i, name) in INTEGRATIONS.iter().enumerate() {
            let job = jobs.iter().find(|j| j["integration"] == *name);
            let got = job.and_then(|j| j["status"].as_str()).unwrap_or("missing");
            let want = match Plan::of(*n, i).succeeds() {
                true => "succeeded",
                false => "failed",
            };
            if got != want {
                let why = job.map(|j| j["last_error"].to_string()).unwrap_or_default();
                wrong.push(format!("soak-{n} {name}: {got} ({why}), plan says {want}"));
            }
            let Some(job) = job else { continue };
            if i == OUTAGE
                && job["last_error"]
                    .as_str()
                    .is_some_and(|e| e.contains("stayed down"))
            {
                gave_up_waiting += 1;
            }
            // The history's gaps: never shorter than the step the schedule set (a breaker
            // only makes them longer), except where a restart handed out a waiting message.
            let times: Vec<i64> = job["history"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|a| a["at"].as_str().and_then(zayavka::time::parse_ms))
                .collect();
            for (k, pair) in times.windows(2).enumerate() {
                let gap_ms = pair[1] - pair[0];
                if gap_ms + 500 < (step_after(k + 1) * 1000) as i64 {
                    early += 1;
                    if !(killed_ms..killed_ms + 15_000).contains(&pair[1]) {
                        early_not_after_restart += 1;
                    }
                }
            }
        }
    }

    let fs = fakes_state.calls.lock().expect("calls");
    let calls_made: u64 = fs.seen.values().map(|(made, _)| u64::from(*made)).sum();
    let duplicates: u64 = fs
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

    // The outage. The leads that needed the host while it was down: taken in before it
    // ended, their webhook not yet delivered when it began, and planned to succeed.
    let taken = taken.lock().expect("taken").clone();
    let needed: Vec<u64> = (0..leads)
        .filter(|n| Plan::of(*n, OUTAGE).succeeds())
        .filter(|n| taken[*n as usize].is_some_and(|t| t < window.end))
        .filter(|n| fs.delivered_at.get(n).is_none_or(|t| *t >= window.start))
        .collect();
    let arrived = taken
        .iter()
        .filter(|t| t.is_some_and(|t| window.holds(t)))
        .count();
    let delivered_after: Vec<f64> = {
        let mut d: Vec<f64> = needed
            .iter()
            .filter_map(|n| fs.delivered_at.get(n))
            .map(|t| t.saturating_duration_since(window.end).as_secs_f64())
            .collect();
        d.sort_by(f64::total_cmp);
        d
    };
    let needed_failed = needed
        .iter()
        .filter(|n| {
            settled.get(n).is_some_and(|v| {
                v["integrations"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|j| j["integration"] == "webhook" && j["status"] != "succeeded")
            })
        })
        .count();
    let calls_down = fs.while_down.len() as u64;
    let calls_before_kill = fs.while_down.iter().filter(|t| **t < killed_at).count();
    let calls_first_second = fs
        .while_down
        .iter()
        .filter(|t| t.saturating_duration_since(window.start) < Duration::from_secs(1))
        .count();
    let calls_after_restart = fs
        .while_down
        .iter()
        .filter(|t| {
            **t >= restarted_at
                && t.saturating_duration_since(restarted_at) < Duration::from_secs(1)
        })
        .count();
    // What a worker without breakers would have called: each lead that needed the host,
    // at each of its scheduled attempts that fell inside the outage.
    let breakerless: u64 = needed
        .iter()
        .filter_map(|n| taken[*n as usize])
        .map(|t| {
            let mut at = t;
            let mut n = u64::from(window.holds(at));
            for step in STEPS {
                at += Duration::from_secs(step);
                n += u64::from(window.holds(at));
            }
            n
        })
        .sum();
    // The bound. Each `serve` process that runs during the outage calls the host freely
    // until it learns the breaker is open: at most BREAKER_THRESHOLD failures are counted
    // before one trips it (the count lives in the store, so a restart within the same
    // window needs fewer), and the jobs already past their gate then — IN_FLIGHT at most —
    // still call. After that only probes go: one per probe interval from the opening (the
    // schedule's steps capped at MAX_PROBE_SECS) — `probes_within` of them — plus, per
    // process, one more: a probe already due when the outage began, and a probe that the
    // killed process had claimed and another takes again after its lease. Without
    // breakers the same outage costs every waiting lead a call per scheduled attempt.
    let processes = 1 + u64::from(window.holds(killed_at));
    let bound = processes * (threshold + IN_FLIGHT) + probes_within(window.secs()) + processes;
    let planned_faults = fs.faults;
    drop(fs);

    // The admins' notices: per target, how often its breaker opened and closed; and the
    // webhook host's openings around the outage.
    let notices = notices(&data.join("outbox"));
    let webhook_target = format!("webhook:{host}");
    let told = outage_notices(&notices, &webhook_target, &window);

    println!(
        "soak: {leads} leads × 5 integrations through `zayavka serve`, SIGKILLed at {:.1} s",
        (killed_at - started).as_secs_f64()
    );
    println!(
        "  RETRY_SCHEDULE={}, BREAKER_THRESHOLD={threshold}, BREAKER_MAX_PROBE_INTERVAL={MAX_PROBE_SECS}s",
        schedule()
    );
    println!("  fault plan (lead × HTTP integration): {plans:?}");
    println!(
        "  accepted in {:.1} s ({:.0} leads/s); all settled in {:.1} s",
        accepted_in.as_secs_f64(),
        leads as f64 / accepted_in.as_secs_f64(),
        settled_in.as_secs_f64()
    );
    println!(
        "  settled: {} of {leads}; not settled: {}; settled otherwise than planned (lead or delivery): {}",
        settled.len(),
        open.len(),
        wrong.len()
    );
    println!(
        "  outside calls made: {calls_made}; planned faults answered: {planned_faults}; duplicate accepted calls: {duplicates}"
    );
    println!(
        "  attempts sooner than their schedule step: {early} ({} of them not right after the restart)",
        early_not_after_restart
    );
    println!(
        "  outage of {webhook_target}: {:.1} s, from {:.1} s to {:.1} s (the kill inside it: {})",
        window.secs(),
        (window.start - started).as_secs_f64(),
        (window.end - started).as_secs_f64(),
        window.holds(killed_at)
    );
    println!(
        "    leads that needed it while it was down: {} ({arrived} leads arrived during it); {} of them delivered it afterwards, {needed_failed} failed; webhook jobs that gave up waiting: {gave_up_waiting}",
        needed.len(),
        delivered_after.len()
    );
    println!(
        "    calls to it while down: {calls_down} (bound {bound}: {processes} × ({threshold} + {IN_FLIGHT}) + {} probes + {processes}); {calls_before_kill} before the kill, {} after; {calls_first_second} in its first second, {calls_after_restart} in the restarted serve's first second; without breakers about {breakerless}",
        probes_within(window.secs()),
        calls_down - calls_before_kill as u64
    );
    println!(
        "    drain after it ended: half delivered within {:.1} s, 99 % within {:.1} s, the last after {:.1} s",
        pct(&delivered_after, 0.5),
        pct(&delivered_after, 0.99),
        delivered_after.last().copied().unwrap_or(0.0)
    );
    println!(
        "    its breaker: {}",
        told.spanning
            .as_deref()
            .unwrap_or("no notice of a closing spans the outage")
    );
    println!(
        "    its breaker opened {} more times in the minute after it ended, on these counts of its window's failures: {}",
        told.reopened.len(),
        told.reopened
            .iter()
            .take(12)
            .map(|(failures, gap)| format!("{failures} ({gap:.1} s after a closing)"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    println!(
        "  breaker notices over the run (opened/closed): {}",
        notice_counts(&notices)
    );
    println!(
        "  queues after a clean stop: {}",
        if left.is_empty() {
            format!(
                "empty but for the {kept} failed jobs kept for replay (nothing visible, delayed or dead-lettered)"
            )
        } else {
            left.join(" | ")
        }
    );
    for w in wrong.iter().take(10) {
        println!("  WRONG: {w}");
    }
    let mut failed = !open.is_empty() || !wrong.is_empty() || !left.is_empty();
    let breakers = threshold > 0;
    if breakers && calls_down > bound {
        println!("  WRONG: {calls_down} calls while the host was down, over the bound of {bound}");
        failed = true;
    }
    if !window.holds(killed_at) {
        println!("  WRONG: the kill fell outside the outage; make ZAYAVKA_SOAK_OUTAGE_SECS longer");
        failed = true;
    }
    if breakers && !told.one_opening {
        println!("  WRONG: the outage is not one opening of its breaker, told once each way");
        failed = true;
    }
    if early_not_after_restart > 0 {
        println!(
            "  WRONG: {early_not_after_restart} attempts came sooner than their schedule step"
        );
        failed = true;
    }
    if needed.is_empty() {
        println!("  WRONG: no lead needed the host while it was down");
        failed = true;
    }
    if failed {
        std::process::exit(1);
    }
}
