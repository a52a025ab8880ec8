//! Who writes to support: a logged-in site user proves who they are with `user_hash` (hex
//! HMAC-SHA256 of the id with `SUPPORT_USER_HASH_SECRET`, computed by the site); an
//! anonymous visitor is a random thread token (a cookie on the page, a field in the API).
//! Thread tokens are issued by us only: one a client makes up is not a thread (see
//! [`is_issued_shape`]; the site also checks that its thread exists).

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::http::{ApiError, constant_time_eq};

/// A site user id longer than this is not one.
const MAX_USER_ID: usize = 128;
/// Thread tokens are 40 lower-case hex digits, as [`random_token`] makes them.
const THREAD_TOKEN_LEN: usize = 40;

/// Whether a token has the shape of one we issued (160 random bits).
pub fn is_issued_shape(t: &str) -> bool {
    t.len() == THREAD_TOKEN_LEN
        && t.chars()
            .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
}

/// What a request says about who it is.
#[derive(Debug, Default, Clone, Copy)]
pub struct Claim<'a> {
    pub user_id: Option<&'a str>,
    pub user_hash: Option<&'a str>,
    pub thread_token: Option<&'a str>,
}

/// Who it is: the thread's `user_key`, and the anonymous thread's token (new when the
/// request had none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub user_key: String,
    pub thread_token: Option<String>,
}

/// The hash a site computes for one of its users.
pub fn user_hash(secret: &str, user_id: &str) -> String {
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(secret.as_bytes()) else {
        return String::new();
    };
    mac.update(user_id.as_bytes());
    mac.finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A new thread token: 40 hex digits of two v4 UUIDs' randomness.
pub fn random_token() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    )
}

/// A verified site user (`secret` is `SUPPORT_USER_HASH_SECRET`), or an anonymous thread.
pub fn identify(secret: Option<&str>, claim: Claim<'_>) -> Result<Identity, ApiError> {
    if let Some(user_id) = claim.user_id.filter(|u| !u.is_empty()) {
        let secret = secret.ok_or_else(|| {
            ApiError::forbidden("site users are not accepted here (no SUPPORT_USER_HASH_SECRET)")
        })?;
        let given = claim.user_hash.unwrap_or_default();
        if user_id.len() > MAX_USER_ID || !constant_time_eq(given, &user_hash(secret, user_id)) {
            return Err(ApiError::forbidden("user_hash does not match user_id"));
        }
        return Ok(Identity {
            user_key: format!("u:{user_id}"),
            thread_token: None,
        });
    }
    let token = match claim.thread_token.filter(|t| !t.is_empty()) {
        Some(t) if is_issued_shape(t) => t.to_string(),
        Some(_) => return Err(ApiError::invalid("thread_token", "not a thread token")),
        None => random_token(),
    };
    Ok(Identity {
        user_key: format!("a:{token}"),
        thread_token: Some(token),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn site_users_need_the_sites_hash() {
        let hash = user_hash("s", "42");
        assert_eq!(hash.len(), 64);
        let claim = |h| Claim {
            user_id: Some("42"),
            user_hash: Some(h),
            thread_token: None,
        };
        let me = identify(Some("s"), claim(&hash)).unwrap();
        assert_eq!(me.user_key, "u:42");
        assert_eq!(me.thread_token, None);
        assert_eq!(identify(Some("s"), claim("00")).unwrap_err().status, 403);
        assert_eq!(identify(None, claim(&hash)).unwrap_err().status, 403);
    }

    #[test]
    fn visitors_keep_an_issued_token_and_cannot_make_one_up() {
        let new = identify(None, Claim::default()).unwrap();
        let token = new.thread_token.unwrap();
        assert_eq!(new.user_key, format!("a:{token}"));
        assert!(is_issued_shape(&token), "{token}");
        let again = Claim {
            thread_token: Some(&token),
            ..Claim::default()
        };
        assert_eq!(
            identify(None, again).unwrap().user_key,
            format!("a:{token}")
        );
        for made_up in [
            "abc123",
            "a",
            "../x",
            &"A".repeat(40),
            &"g".repeat(40),
            &"0".repeat(41),
        ] {
            let bad = Claim {
                thread_token: Some(made_up),
                ..Claim::default()
            };
            assert_eq!(identify(None, bad).unwrap_err().status, 422, "{made_up}");
        }
    }
}
