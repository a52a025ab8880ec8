//! API key scopes beyond the auth matrix: a `leads` key sees only the leads it submitted,
//! a lead id or Idempotency-Key of another key's lead reveals nothing, only an admin key
//! signs in to the admin page, sign-in attempts are limited, and a session cookie with an
//! extreme time is refused rather than crashing the function.

use std::sync::Arc;

use serde_json::{Value, json};
use zayavka::Deps;
use zayavka::http::{HttpFunction, dispatch};
use zayavka::ports::{FixedClock, Queue as _};

use crate::apigw::{HttpInput, api_gateway_event};
use crate::support::{EmbeddedStore, embedded_at, test_env};

const SITE_A: &str = "site-a-key-0123456789";
const SITE_B: &str = "site-b-key-0123456789";
const TICKETS: &str = "internal-tickets-0123456789";
const ADMIN: &str = "the-admin-key-0123456789abcdef";
const NOW_MS: i64 = 1_780_000_000_000;

struct Stack {
    store: EmbeddedStore,
    leads: Box<dyn HttpFunction>,
    tickets: Box<dyn HttpFunction>,
}

fn stack() -> Stack {
    let clock = Arc::new(FixedClock::at_ms(NOW_MS));
    let store = embedded_at(zayavka::queues::catalogue(), clock.clone());
    let deps = Deps::embedded(&store.parts, clock);
    let keys = format!("{SITE_A},leads:{SITE_B},tickets:{TICKETS},admin:{ADMIN}");
    let env = test_env(&[("ZAYAVKA_API_KEYS", &keys)]);
    let wiring = zayavka::deps::Wiring {
        deps,
        env: &env,
        queue_prefix: "zayavka-".into(),
    };
    Stack {
        leads: Box::new(lead_submit::from_env(&wiring).unwrap()),
        tickets: Box::new(ticket_api::from_env(&wiring).unwrap()),
        store,
    }
}

struct Answer {
    status: u16,
    body: String,
    headers: Vec<(String, String)>,
    cookies: Vec<String>,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
}

async fn call(
    f: &dyn HttpFunction,
    route: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
    ip: &str,
) -> Answer {
    let mut params = std::collections::BTreeMap::new();
    if let Some(id) = path.strip_prefix("/api/leads/") {
        params.insert("lead_id".to_string(), id.to_string());
    }
    let event = api_gateway_event(HttpInput {
        method: route.split(' ').next().unwrap(),
        route_key: route,
        path,
        raw_query: "",
        query: Vec::new(),
        headers: headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        path_params: params,
        body,
        source_ip: ip,
        now_ms: NOW_MS,
    })
    .unwrap();
    let r = dispatch(f, crate::apigw::lambda_request(event)).await;
    Answer {
        status: r.status_code,
        headers: r.headers.into_iter().collect(),
        cookies: r.cookies,
        body: r.body,
    }
}

async fn submit(s: &Stack, key: &str, body: Value, idempotency: Option<&str>) -> Answer {
    let auth = format!("Bearer {key}");
    let mut headers = vec![("authorization", auth.as_str())];
    if let Some(k) = idempotency {
        headers.push(("idempotency-key", k));
    }
    call(
        s.leads.as_ref(),
        lead_submit::SUBMIT,
        "/api/integrations/send-batch",
        &headers,
        &serde_json::to_vec(&body).unwrap(),
        "203.0.113.9",
    )
    .await
}

async fn read(s: &Stack, key: &str, lead_id: &str) -> Answer {
    let auth = format!("Bearer {key}");
    call(
        s.leads.as_ref(),
        lead_submit::STATUS,
        &format!("/api/leads/{lead_id}"),
        &[("authorization", &auth)],
        b"",
        "203.0.113.9",
    )
    .await
}

fn lead(id: Option<&str>) -> Value {
    let mut v = json!({"lead": {"name": "Анна", "phone": "+79990001122"},
        "integrations": [{"type": "webhook", "settings": {"url": "https://hooks.example.com/l"}}]});
    if let Some(id) = id {
        v["lead_id"] = json!(id);
    }
    v
}

async fn footprint(store: &EmbeddedStore) -> u64 {
    let mut n = store.parts.table.count().await.unwrap();
    for spec in zayavka::queues::catalogue() {
        let st = store.parts.queue.stats(&spec.name).await.unwrap();
        n += st.visible + st.delayed + st.in_flight;
    }
    n
}

#[tokio::test]
async fn a_leads_key_reads_only_its_own_leads_and_an_admin_key_reads_any() {
    let s = stack();
    let a = submit(&s, SITE_A, lead(Some("L-a")), None).await;
    assert_eq!(a.status, 202, "{}", a.body);
    let own = read(&s, SITE_A, "L-a").await;
    assert_eq!(own.status, 200, "{}", own.body);
    assert_eq!(own.json()["lead"]["name"], "Анна");
    // Which key submitted it is not part of the answer.
    assert!(!own.body.contains("submitted_by"), "{}", own.body);

    // Another website's key: as if the lead did not exist, the same answer as for an id
    // nobody used.
    let other = read(&s, SITE_B, "L-a").await;
    let nobody = read(&s, SITE_B, "L-nobody").await;
    assert_eq!(other.status, 404, "{}", other.body);
    assert_eq!(
        other.json()["error"]["code"],
        nobody.json()["error"]["code"]
    );
    assert!(!other.body.contains("Анна"));

    let admin = read(&s, ADMIN, "L-a").await;
    assert_eq!(admin.status, 200, "{}", admin.body);
    assert_eq!(admin.json()["lead_id"], "L-a");

    // A `tickets` key is no lead reader at all.
    let tickets = read(&s, TICKETS, "L-a").await;
    assert_eq!(tickets.status, 403, "{}", tickets.body);
    assert!(
        tickets.json()["error"]["message"]
            .as_str()
            .unwrap()
            .contains("leads")
    );
}

#[tokio::test]
async fn another_keys_lead_id_reveals_and_queues_nothing_and_idempotency_keys_are_per_key() {
    let s = stack();
    assert_eq!(
        submit(&s, SITE_A, lead(Some("L-x")), None).await.status,
        202
    );
    let a = submit(&s, SITE_A, lead(None), Some("order-17")).await;
    assert_eq!(a.status, 202, "{}", a.body);
    let before = footprint(&s.store).await;

    // Another key naming the same lead id learns nothing and queues nothing.
    let b = submit(&s, SITE_B, lead(Some("L-x")), None).await;
    assert_eq!(b.status, 409, "{}", b.body);
    assert!(
        !b.body.contains("L-x") && !b.body.contains("batch"),
        "{}",
        b.body
    );
    assert_eq!(
        footprint(&s.store).await,
        before,
        "nothing stored or queued again"
    );

    // The same Idempotency-Key from another website is another lead of its own, not a
    // refusal and not A's lead; A's repeat is still A's lead.
    let b = submit(&s, SITE_B, lead(None), Some("order-17")).await;
    assert_eq!(b.status, 202, "{}", b.body);
    assert_ne!(b.json()["lead_id"], a.json()["lead_id"]);
    let a_again = submit(&s, SITE_A, lead(None), Some("order-17")).await;
    assert_eq!(a_again.status, 200, "{}", a_again.body);
    assert_eq!(a_again.json()["lead_id"], a.json()["lead_id"]);
    let b_reads_a = read(&s, SITE_B, a.json()["lead_id"].as_str().unwrap()).await;
    assert_eq!(b_reads_a.status, 404);

    // The owner's repeat is still the idempotent 200 with its batch.
    let again = submit(&s, SITE_A, lead(Some("L-x")), None).await;
    assert_eq!(again.status, 200, "{}", again.body);
    assert_eq!(again.json()["lead_id"], "L-x");
}

async fn sign_in(s: &Stack, key: &str, ip: &str) -> Answer {
    let form = format!("action=login&key={key}");
    call(
        s.tickets.as_ref(),
        ticket_api::PAGE_POST,
        "/executors",
        &[("content-type", "application/x-www-form-urlencoded")],
        form.as_bytes(),
        ip,
    )
    .await
}

#[tokio::test]
async fn only_an_admin_key_signs_in_to_the_admin_page() {
    let s = stack();
    for key in [SITE_A, TICKETS] {
        let r = sign_in(&s, key, "203.0.113.20").await;
        assert_eq!(r.status, 403, "{}", r.body);
        assert!(
            r.body.contains("admin"),
            "the page says which scope: {}",
            r.body
        );
        assert!(r.cookies.is_empty(), "no session for a {key} key");
    }
    let r = sign_in(&s, "no-such-key-0123456789", "203.0.113.20").await;
    assert_eq!(r.status, 401);
    let ok = sign_in(&s, ADMIN, "203.0.113.20").await;
    assert_eq!(ok.status, 303, "{}", ok.body);
    assert!(ok.cookies.iter().any(|c| c.starts_with("zayavka_admin=")));
}

#[tokio::test]
async fn sign_in_attempts_are_limited_per_address_and_in_all() {
    let s = stack();
    // Ten tries from one address pass to the key check; the eleventh is held, even with the
    // right key, and says when to come back (the window is 15 minutes).
    for _ in 0..10 {
        assert_eq!(
            sign_in(&s, "guess-0000000000000000", "198.51.100.1")
                .await
                .status,
            401
        );
    }
    let held = sign_in(&s, ADMIN, "198.51.100.1").await;
    assert_eq!(held.status, 429, "{}", held.body);
    assert!(held.cookies.is_empty());
    let retry: i64 = held
        .headers
        .iter()
        .find(|(k, _)| k == "retry-after")
        .map(|(_, v)| v.parse().unwrap())
        .expect("Retry-After");
    let now = NOW_MS / 1000;
    assert_eq!(retry, 900 - now % 900, "until the window ends");
    // Another address is not held by the first one's guesses, and an admin's own sign-ins
    // use nothing up: twenty in a row from one address.
    for _ in 0..20 {
        assert_eq!(sign_in(&s, ADMIN, "198.51.100.2").await.status, 303);
    }

    // Guesses spread over many addresses are held in all: 100 per window (10 so far).
    for i in 0..90 {
        let ip = format!("192.0.2.{i}");
        assert_eq!(
            sign_in(&s, "guess-0000000000000000", &ip).await.status,
            401,
            "try {i}"
        );
    }
    let held = sign_in(&s, ADMIN, "192.0.2.200").await;
    assert_eq!(held.status, 429, "{}", held.body);
}

#[tokio::test]
async fn a_session_cookie_with_an_extreme_time_is_refused_not_a_crash() {
    let s = stack();
    for at in [i64::MIN.to_string(), i64::MAX.to_string(), "-1".into()] {
        let cookie = format!(
            "{}={at}.nonce.{}",
            ticket_api::SESSION_COOKIE,
            "0".repeat(64)
        );
        for (route, body) in [
            (ticket_api::PAGE, ""),
            (ticket_api::PAGE_POST, "action=remove&id=1"),
        ] {
            let r = call(
                s.tickets.as_ref(),
                route,
                "/executors",
                &[
                    ("cookie", &cookie),
                    ("content-type", "application/x-www-form-urlencoded"),
                ],
                body.as_bytes(),
                "203.0.113.30",
            )
            .await;
            // The sign-in form again (200 for the page, 401 for an action): not signed in.
            assert!(
                r.status == 200 || r.status == 401,
                "{route} {at}: {}",
                r.status
            );
            assert!(
                r.body.contains("name=\"key\""),
                "{route} {at}: the sign-in form"
            );
        }
    }
}
