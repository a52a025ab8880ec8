//! `X-Zayavka-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">`: how everything we
//! send to a receiver's URL is signed (lead webhooks, the chat bridge), and how the bridge's
//! replies to us are checked. Beside it, the same deliveries carry the Standard Webhooks
//! headers ([`standard_headers`]), which receivers can verify with the specification's own
//! libraries instead of code of their own.

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use hmac::{Hmac, Mac};
use sha2::Sha256;

pub const HEADER: &str = "x-zayavka-signature";

pub fn signature(secret: &str, unix: i64, body: &[u8]) -> String {
    // HMAC takes a key of any length, so this cannot fail.
    let mut mac = match Hmac::<Sha256>::new_from_slice(secret.as_bytes()) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    mac.update(unix.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!("t={unix},v1={hex}")
}

/// HMAC-SHA256 of `message` under `key`, as lower-case hex.
pub fn hmac_hex(key: &str, message: &[u8]) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key.as_bytes()) else {
        return String::new();
    };
    mac.update(message);
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A Standard Webhooks secret's prefix: what follows it is the key, base64-encoded.
pub const STANDARD_PREFIX: &str = "whsec_";

/// The key a secret stands for in the Standard Webhooks headers. A `whsec_` secret is the
/// base64 after the prefix, as the specification says (so it is the very value a receiver
/// gives its Standard Webhooks library); any other secret is its own UTF-8 bytes, the key
/// `X-Zayavka-Signature` has always used (a receiver gives the library those bytes). None:
/// a `whsec_` secret whose rest is not base64 or is empty, which the settings refuse.
pub fn standard_key(secret: &str) -> Option<Vec<u8>> {
    let Some(encoded) = secret.strip_prefix(STANDARD_PREFIX) else {
        return Some(secret.as_bytes().to_vec());
    };
    // The specification's libraries take it padded or not.
    let key = STANDARD
        .decode(encoded)
        .or_else(|_| STANDARD_NO_PAD.decode(encoded))
        .ok()?;
    (!key.is_empty()).then_some(key)
}

/// Why a secret cannot sign Standard Webhooks, for the settings' and the request's checks;
/// never repeats the value.
pub fn standard_problem(secret: &str) -> Option<&'static str> {
    standard_key(secret)
        .is_none()
        .then_some("a whsec_ secret must be base64 after the prefix (e.g. whsec_ followed by `openssl rand -base64 32`)")
}

/// `v1,<base64 HMAC-SHA256 of "<id>.<unix>.<body>">`, the Standard Webhooks signature.
fn standard_signature(key: &[u8], id: &str, unix: i64, body: &[u8]) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(key) else {
        return String::new();
    };
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(unix.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()))
}

/// The Standard Webhooks headers of a message `id` (the same on every retry of a delivery,
/// so the receiver can drop repeats) sent at `unix`: one signature per secret,
/// space-separated, so that during a rotation a receiver holding either secret verifies.
/// A secret without a key (refused by the settings before) is left out, never signed with.
pub fn standard_headers(
    secrets: &[&str],
    id: &str,
    unix: i64,
    body: &[u8],
) -> [(&'static str, String); 3] {
    let signatures: Vec<String> = secrets
        .iter()
        .filter_map(|s| standard_key(s))
        .map(|key| standard_signature(&key, id, unix, body))
        .collect();
    [
        ("webhook-id", id.to_string()),
        ("webhook-timestamp", unix.to_string()),
        ("webhook-signature", signatures.join(" ")),
    ]
}

/// How far a signature's time may be from ours.
pub const TOLERANCE_SECS: i64 = 300;

/// Whether `header` signs `body` with `secret`, made within five minutes of `now`.
pub fn verify(secret: &str, header: &str, body: &[u8], now: i64) -> bool {
    let Some(t) = header
        .split(',')
        .find_map(|p| p.trim().strip_prefix("t="))
        .and_then(|t| t.parse::<i64>().ok())
    else {
        return false;
    };
    // `t` is the sender's number: any i64 parses, and `now - t` overflows at the edges
    // (a panic in a debug build such as `zayavka serve`). A distance that does not fit is
    // far outside the tolerance.
    if now
        .checked_sub(t)
        .and_then(i64::checked_abs)
        .is_none_or(|d| d > TOLERANCE_SECS)
    {
        return false;
    }
    crate::http::constant_time_eq(&signature(secret, t, body), header.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The specification's own example (its libraries' tests): this secret, id, time and
    /// body sign to this value.
    #[test]
    fn the_standard_signature_matches_the_specifications_example() {
        let [id, ts, sig] = standard_headers(
            &["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"],
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1614265330,
            br#"{"test": 2432232314}"#,
        );
        assert_eq!(id, ("webhook-id", "msg_p5jXN8AQM9LWM0D4loKWxJek".into()));
        assert_eq!(ts, ("webhook-timestamp", "1614265330".into()));
        assert_eq!(
            sig,
            (
                "webhook-signature",
                "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=".into()
            )
        );
    }

    #[test]
    fn a_whsec_secret_is_base64_and_any_other_is_its_own_bytes() {
        assert_eq!(standard_key("whsec_AQID"), Some(vec![1, 2, 3]));
        assert_eq!(standard_key("whsec_AQIDBA"), Some(vec![1, 2, 3, 4]));
        assert_eq!(standard_key("s3cret"), Some(b"s3cret".to_vec()));
        assert_eq!(standard_key("whsec_not base64!"), None);
        assert_eq!(standard_key("whsec_"), None);
        assert!(standard_problem("whsec_***").is_some());
        assert!(standard_problem("plain-secret").is_none());
        // Two secrets: two signatures, space-separated; a bad one is left out.
        let [_, _, (_, two)] = standard_headers(&["a", "whsec_AQID", "whsec_!"], "m", 1, b"{}");
        assert_eq!(two.split(' ').count(), 2, "{two}");
    }

    #[test]
    fn a_signature_verifies_within_five_minutes_only_and_with_its_secret() {
        let sig = signature("s3cret", 1_700_000_000, b"{}");
        assert!(verify("s3cret", &sig, b"{}", 1_700_000_100));
        assert!(!verify("s3cret", &sig, b"{ }", 1_700_000_100));
        assert!(!verify("other", &sig, b"{}", 1_700_000_100));
        assert!(!verify("s3cret", &sig, b"{}", 1_700_000_400));
        assert!(!verify("s3cret", "t=x,v1=00", b"{}", 1_700_000_000));
    }

    #[test]
    fn a_time_at_the_edges_of_i64_is_refused_without_overflowing() {
        // Each pair overflowed `now - t` (or its `abs`) before; signed properly, so only the
        // time can refuse them.
        for (t, now) in [
            (i64::MIN, 1_700_000_000),
            (i64::MAX, -1_700_000_000),
            (i64::MIN, 0),
            (i64::MAX, i64::MIN),
            (i64::MIN, i64::MAX),
            (i64::MIN + 1, 1),
            // `now - t` is i64::MIN itself, whose `abs` overflows.
            (i64::MAX, -1),
        ] {
            let sig = signature("s3cret", t, b"{}");
            assert!(!verify("s3cret", &sig, b"{}", now), "t={t} now={now}");
        }
        // The edges themselves are still times like any other: within five minutes, good.
        for t in [i64::MIN, i64::MAX] {
            let sig = signature("s3cret", t, b"{}");
            assert!(verify("s3cret", &sig, b"{}", t));
        }
        let header = "t=-9223372036854775808,v1=00";
        assert!(!verify("s3cret", header, b"{}", 1_700_000_000));
    }
}
