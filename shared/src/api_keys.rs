//! The API keys of the lead (and ticket) APIs: `Authorization: Bearer <key>`, compared in
//! constant time against every configured key.

use std::fmt;

use crate::config::EnvReader;
use crate::http::{ApiError, ApiRequest, constant_time_eq};

/// `ZAYAVKA_API_KEYS`: accepted keys, comma-separated, each at least 16 characters.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKeys(Vec<String>);

impl ApiKeys {
    pub fn read(env: &mut EnvReader<'_>) -> Self {
        let keys = env.list("ZAYAVKA_API_KEYS");
        if keys.is_empty() {
            env.problem("ZAYAVKA_API_KEYS is not set (comma-separated API keys for the lead API)");
        }
        if keys.iter().any(|k| k.len() < 16) {
            env.problem("ZAYAVKA_API_KEYS: every key needs at least 16 characters");
        }
        Self(keys)
    }

    /// The first key, for `zayavka serve` to print on a developer's own machine.
    pub fn first(&self) -> Option<&str> {
        self.0.first().map(String::as_str)
    }

    /// Whether `given` is one of the keys (the `/executors` page keeps it in its session).
    pub fn accepts(&self, given: &str) -> bool {
        // Compare with every key, so the time taken does not tell which one nearly matched.
        self.0
            .iter()
            .fold(false, |acc, key| acc | constant_time_eq(given, key))
    }

    /// Whether one of the keys signed `message` as `signature` (see [`sign`]): a session can
    /// be proven without the key itself being kept anywhere but the configuration.
    pub fn signed(&self, message: &str, signature: &str) -> bool {
        self.0.iter().fold(false, |acc, key| {
            acc | constant_time_eq(&sign(key, message), signature)
        })
    }

    /// 401 unless the request carries one of the keys.
    pub fn authorize(&self, req: &ApiRequest) -> Result<(), ApiError> {
        let given = req
            .header("authorization")
            .and_then(|h| h.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or_else(|| ApiError::unauthorized("send Authorization: Bearer <API key>"))?;
        if self.accepts(given) {
            Ok(())
        } else {
            Err(ApiError::unauthorized("API key not accepted"))
        }
    }
}

impl fmt::Debug for ApiKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ApiKeys({} keys)", self.0.len())
    }
}

/// HMAC-SHA256 of `message` under `key`, as lower-case hex.
pub fn sign(key: &str, message: &str) -> String {
    crate::signature::hmac_hex(key, message.as_bytes())
}
