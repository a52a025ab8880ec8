//! Standard Webhooks: what we send (lead webhooks here, the bridge's calls in `bridge.rs`)
//! verifies with the specification's own reference library, PyPI `standardwebhooks`, run in
//! the test venv as a receiver would run it, never with our signer. Without `.venv` or the
//! library these tests fail: `.venv/bin/pip install -r scripts/requirements-test.txt`.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use wiremock::matchers::{method, path};
use wiremock::{Mock, Request, ResponseTemplate};

use crate::leads::Stack;
use crate::support::Kind;

/// What a receiver gives the library's `Webhook(...)`: a `whsec_` string (base64 after the
/// prefix, as the specification says) or the raw key bytes.
pub enum Key<'a> {
    Whsec(&'a str),
    Bytes(&'a [u8]),
}

/// The library's script: its `Webhook(key).verify(body, headers)`, with its clock set to the
/// test's (`now`), so its five-minute tolerance is measured against the sender's clock.
const VERIFY: &str = r#"
import base64, json, sys, datetime as d
import standardwebhooks.webhooks as w
a = json.load(sys.stdin)
class Now(d.datetime):
    @classmethod
    def now(cls, tz=None):
        return d.datetime.fromtimestamp(a["now"], tz)
w.datetime = Now
key = a["whsec"] if a["whsec"] is not None else base64.b64decode(a["key_b64"])
try:
    w.Webhook(key).verify(base64.b64decode(a["body_b64"]), a["headers"])
    print("verified")
except w.WebhookVerificationError as e:
    print("refused: " + str(e))
"#;

/// Whether the library verifies the captured request under `key` at unix time `now`: Ok, or
/// the library's reason. Panics (the test fails) when python or the library is missing.
pub fn verify(key: Key<'_>, req: &Request, now: i64) -> Result<(), String> {
    let python = concat!(env!("CARGO_MANIFEST_DIR"), "/../.venv/bin/python");
    let headers: serde_json::Map<String, Value> = req
        .headers
        .iter()
        .map(|(k, v)| (k.as_str().to_string(), json!(v.to_str().unwrap())))
        .collect();
    let (whsec, key_b64) = match key {
        Key::Whsec(s) => (Some(s.to_string()), None),
        Key::Bytes(b) => (None, Some(STANDARD.encode(b))),
    };
    let input = json!({
        "whsec": whsec, "key_b64": key_b64, "now": now,
        "body_b64": STANDARD.encode(&req.body), "headers": headers,
    });
    let mut child = Command::new(python)
        .args(["-c", VERIFY])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| {
            panic!("{python}: {e}; create the test venv: python3 -m venv .venv && .venv/bin/pip install -r scripts/requirements-test.txt")
        });
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let said = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(
        out.status.success(),
        "the reference library did not run (is `standardwebhooks` in .venv? \
         .venv/bin/pip install -r scripts/requirements-test.txt): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    match said.as_str() {
        "verified" => Ok(()),
        other => Err(other.to_string()),
    }
}

fn header<'a>(req: &'a Request, name: &str) -> &'a str {
    req.headers
        .get(name)
        .unwrap_or_else(|| panic!("no {name} header"))
        .to_str()
        .unwrap()
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// A `whsec_` secret of 32 bytes (`seed` tells them apart), base64, as the specification
/// describes them.
fn whsec(seed: u8) -> (String, Vec<u8>) {
    let key: Vec<u8> = (0..32u8)
        .map(|i| i.wrapping_mul(37).wrapping_add(seed))
        .collect();
    (format!("whsec_{}", STANDARD.encode(&key)), key)
}

fn webhook_lead(stack: &Stack, lead_id: &str, hook: &str, credentials: Value) -> Value {
    json!({
        "lead_id": lead_id,
        "lead": {"name": "Вера", "phone": "+7 999 000-33-44"},
        "integrations": [
            {"type": "webhook", "settings": {"url": format!("{}{hook}", stack.fakes.hook.uri())}}
        ],
        "credentials": {"webhook": credentials}
    })
}

/// A lead webhook signed during a rotation (`secret` and `secret_next`, both `whsec_`): the
/// receiver's library verifies it with either secret alone and refuses a third; a failed
/// try and its retry carry the same `webhook-id` (the delivery id, `<batch>:webhook`);
/// `X-Zayavka-Signature` is still there, keyed as before. A plain secret signs the new
/// headers with its own bytes. Before, no `webhook-*` header was sent at all.
#[tokio::test]
async fn lead_webhooks_verify_with_the_standard_webhooks_library_under_either_secret_of_a_rotation()
{
    let stack = Stack::start(Kind::Embedded, &[("RETRY_SCHEDULE", "1s,1s,1s")], &[]).await;
    Mock::given(method("POST"))
        .and(path("/rotating"))
        .respond_with(ResponseTemplate::new(500))
        .up_to_n_times(1)
        .with_priority(1)
        .mount(&stack.fakes.hook)
        .await;
    for hook in ["/rotating", "/plain"] {
        Mock::given(method("POST"))
            .and(path(hook))
            .respond_with(ResponseTemplate::new(200))
            .with_priority(2)
            .mount(&stack.fakes.hook)
            .await;
    }
    let (current, current_key) = whsec(1);
    let (next, next_key) = whsec(2);
    let (stranger, _) = whsec(3);
    let (status, rotating) = stack
        .submit(
            &webhook_lead(
                &stack,
                "sw-rotating",
                "/rotating",
                json!({"secret": current, "secret_next": next}),
            ),
            None,
        )
        .await;
    assert_eq!(status, 202, "{rotating}");
    let plain = "plain-signing-key-17";
    let (status, b) = stack
        .submit(
            &webhook_lead(&stack, "sw-plain", "/plain", json!({"secret": plain})),
            None,
        )
        .await;
    assert_eq!(status, 202, "{b}");
    for id in ["sw-rotating", "sw-plain"] {
        let lead = stack.settled(id, Duration::from_secs(30)).await;
        assert_eq!(lead["status"], "completed", "{lead:#}");
    }
    let got = stack.fakes.hook.received_requests().await.unwrap();
    let on = |p: &str| -> Vec<&Request> { got.iter().filter(|r| r.url.path() == p).collect() };

    let tries = on("/rotating");
    assert_eq!(tries.len(), 2, "a 500, then the retry");
    let delivery = format!("{}:webhook", rotating["batch_id"].as_str().unwrap());
    for r in &tries {
        assert_eq!(
            header(r, "webhook-id"),
            delivery,
            "the same id on every try"
        );
        assert_eq!(header(r, "x-zayavka-delivery"), delivery);
        let sent_at: i64 = header(r, "webhook-timestamp").parse().unwrap();
        assert!((sent_at - now()).abs() < 60, "sent now: {sent_at}");
        assert_eq!(
            header(r, "webhook-signature").split(' ').count(),
            2,
            "one signature per secret"
        );
        // The receiver holds the current secret, or already the next: each verifies.
        assert_eq!(verify(Key::Whsec(&current), r, now()), Ok(()));
        assert_eq!(verify(Key::Whsec(&next), r, now()), Ok(()));
        assert_eq!(verify(Key::Bytes(&current_key), r, now()), Ok(()));
        assert_eq!(verify(Key::Bytes(&next_key), r, now()), Ok(()));
        // The library does refuse: another secret, or the same request a day later.
        assert!(verify(Key::Whsec(&stranger), r, now()).is_err());
        assert!(verify(Key::Whsec(&current), r, now() + 86_400).is_err());
        // Today's header stands, keyed with the secret's text, as existing receivers expect.
        let zayavka = header(r, "x-zayavka-signature");
        assert_eq!(
            zayavka,
            format!(
                "t={sent_at},v1={}",
                hmac_hex(current.as_bytes(), sent_at, &r.body)
            )
        );
    }

    let plain_sent = on("/plain");
    assert_eq!(plain_sent.len(), 1);
    let r = plain_sent[0];
    assert_eq!(header(r, "webhook-signature").split(' ').count(), 1);
    assert_eq!(verify(Key::Bytes(plain.as_bytes()), r, now()), Ok(()));
    assert!(verify(Key::Bytes(b"another-plain-key"), r, now()).is_err());
    stack.stop().await;
}

/// `X-Zayavka-Signature`'s value, computed with the HMAC crate as a receiver would.
fn hmac_hex(key: &[u8], t: i64, body: &[u8]) -> String {
    use hmac::Mac;
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(key).unwrap();
    mac.update(format!("{t}.").as_bytes());
    mac.update(body);
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A `whsec_` secret that is not base64 would sign with no key the receiver can have, and a
/// next secret without a current one is no rotation: both are refused (422) when the lead comes,
/// naming the field and never the value. Before, any text was taken and `secret_next`
/// ignored.
#[tokio::test]
async fn a_whsec_secret_that_is_not_base64_or_a_lone_next_secret_is_refused() {
    let stack = Stack::start(Kind::Embedded, &[], &["integration-worker"]).await;
    for (credentials, field) in [
        (
            json!({"secret": "whsec_not*base64*at*all"}),
            "credentials.webhook.secret",
        ),
        (
            json!({"secret": "plain-key", "secret_next": "whsec_%%%"}),
            "credentials.webhook.secret_next",
        ),
        (
            json!({"secret_next": whsec(4).0}),
            "credentials.webhook.secret_next",
        ),
    ] {
        let (status, body) = stack
            .submit(&webhook_lead(&stack, "sw-bad", "/h", credentials), None)
            .await;
        assert_eq!(status, 422, "{body}");
        let text = body.to_string();
        assert!(text.contains(field), "{text}");
        assert!(
            !text.contains("base64*at") && !text.contains("%%%"),
            "{text}"
        );
    }
    stack.stop().await;
}
