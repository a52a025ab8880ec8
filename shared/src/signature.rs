//! `X-Zayavka-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<body>">`: how everything we
//! send to a receiver's URL is signed (lead webhooks, the chat bridge), and how the bridge's
//! replies to us are checked.

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
