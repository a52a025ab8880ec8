//! The API keys of the HTTP APIs: `Authorization: Bearer <key>`, compared in constant time
//! against every configured key, each key limited to its scopes.
//!
//! `ZAYAVKA_API_KEYS` is a comma-separated list of `scopes:key` entries, the scopes joined by
//! `+` (`leads`, `tickets`, `admin`); a plain `key` is a `leads` key, the one a website is
//! handed. A key proves only what its scopes allow: a website's key cannot manage staff, read
//! another key's leads or sign in to an admin page. No key or an unknown one is 401; a known
//! key without the scope a route needs is 403 naming that scope.

use std::fmt;

use crate::config::EnvReader;
use crate::http::{ApiError, ApiRequest, constant_time_eq};

/// What a key may do. `Admin` covers every other scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Submit leads; read (and replay) the leads this key submitted, no others.
    Leads,
    /// Create and read tickets of the executor workflow (for internal systems).
    Tickets,
    /// Everything: staff, categories, executors, binding links, admin pages, bridge
    /// history, any lead.
    Admin,
}

impl Scope {
    pub const ALL: [Scope; 3] = [Scope::Leads, Scope::Tickets, Scope::Admin];

    pub fn name(self) -> &'static str {
        match self {
            Scope::Leads => "leads",
            Scope::Tickets => "tickets",
            Scope::Admin => "admin",
        }
    }

    fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|scope| scope.name() == s)
    }
}

/// The shortest key taken: shorter keys can be guessed.
pub const MIN_KEY_LEN: usize = 16;
/// The fewest different characters a key may have.
pub const MIN_DISTINCT: usize = 8;

/// One configured key with its scopes.
#[derive(Clone, PartialEq, Eq)]
struct ApiKey {
    key: String,
    scopes: Vec<Scope>,
}

impl ApiKey {
    fn allows(&self, scope: Scope) -> bool {
        self.scopes.contains(&Scope::Admin) || self.scopes.contains(&scope)
    }
}

/// Who a request proved to be: the key's scopes and a stable id of the key that never
/// reveals it (so a lead can remember which key submitted it).
#[derive(Clone, PartialEq, Eq)]
pub struct Caller {
    scopes: Vec<Scope>,
    key_id: String,
}

impl Caller {
    pub fn is_admin(&self) -> bool {
        self.scopes.contains(&Scope::Admin)
    }

    pub fn allows(&self, scope: Scope) -> bool {
        self.is_admin() || self.scopes.contains(&scope)
    }

    /// 16 hex characters of an HMAC of the key: enough to tell keys apart, useless for
    /// finding the key (keys are random and at least 16 characters).
    pub fn key_id(&self) -> &str {
        &self.key_id
    }

    /// Whether this caller may see a lead submitted by `owner` (`None`: a lead stored before
    /// keys had scopes, which only an admin may see).
    pub fn owns(&self, owner: Option<&str>) -> bool {
        self.is_admin() || owner.is_some_and(|o| constant_time_eq(o, &self.key_id))
    }
}

impl fmt::Debug for Caller {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scopes: Vec<_> = self.scopes.iter().map(|s| s.name()).collect();
        write!(f, "Caller({} key {})", scopes.join("+"), self.key_id)
    }
}

/// The id of a key as stored beside what it submitted.
pub fn key_id(key: &str) -> String {
    let mut id = crate::signature::hmac_hex("zayavka api key id", key.as_bytes());
    id.truncate(16);
    id
}

/// `ZAYAVKA_API_KEYS`: accepted keys with their scopes.
#[derive(Clone, PartialEq, Eq)]
pub struct ApiKeys(Vec<ApiKey>);

impl ApiKeys {
    pub fn read(env: &mut EnvReader<'_>) -> Self {
        let entries = env.list("ZAYAVKA_API_KEYS");
        if entries.is_empty() {
            env.problem(
                "ZAYAVKA_API_KEYS is not set (comma-separated API keys, each `scopes:key` \
                 with scopes leads, tickets, admin joined by +; a plain key is a leads key)",
            );
        }
        let mut keys: Vec<ApiKey> = Vec::new();
        for (i, entry) in entries.iter().enumerate() {
            match parse_entry(entry) {
                // One key with two sets of scopes would answer differently route by route.
                Ok(key) if keys.iter().any(|k| k.key == key.key) => env.problem(format!(
                    "ZAYAVKA_API_KEYS: entry {}: the same key as an earlier entry; give it all its scopes in one entry (leads+tickets:<key>)",
                    i + 1
                )),
                Ok(key) => keys.push(key),
                // Named by position: the entry itself is a credential.
                Err(why) => env.problem(format!("ZAYAVKA_API_KEYS: entry {}: {why}", i + 1)),
            }
        }
        Self(keys)
    }

    /// The first key, for `zayavka serve` to print on a developer's own machine.
    pub fn first(&self) -> Option<&str> {
        self.0.first().map(|k| k.key.as_str())
    }

    /// The caller `given` proves to be, if it is one of the keys. Every key is compared, so
    /// the time taken does not tell which one nearly matched.
    pub fn caller(&self, given: &str) -> Option<Caller> {
        let mut found = None;
        for k in &self.0 {
            if constant_time_eq(given, &k.key) && found.is_none() {
                found = Some(Caller {
                    scopes: k.scopes.clone(),
                    key_id: key_id(&k.key),
                });
            }
        }
        found
    }

    /// Whether one of the keys allowed `scope` signed `message` as `signature` (see [`sign`]):
    /// a session can be proven without the key itself being kept anywhere but the
    /// configuration, and a key without the scope cannot make one.
    pub fn signed(&self, scope: Scope, message: &str, signature: &str) -> bool {
        self.0.iter().fold(false, |acc, k| {
            acc | (k.allows(scope) & constant_time_eq(&sign(&k.key, message), signature))
        })
    }

    /// The caller, or 401 when the request carries no key or an unknown one.
    pub fn authenticate(&self, req: &ApiRequest) -> Result<Caller, ApiError> {
        let given = req
            .header("authorization")
            .and_then(|h| h.strip_prefix("Bearer "))
            .map(str::trim)
            .ok_or_else(|| ApiError::unauthorized("send Authorization: Bearer <API key>"))?;
        self.caller(given)
            .ok_or_else(|| ApiError::unauthorized("API key not accepted"))
    }

    /// The caller if its key has `scope`: 401 without a known key, 403 naming the scope.
    pub fn authorize(&self, req: &ApiRequest, scope: Scope) -> Result<Caller, ApiError> {
        let caller = self.authenticate(req)?;
        if caller.allows(scope) {
            Ok(caller)
        } else {
            Err(forbidden(scope))
        }
    }
}

/// 403 for a key without `scope`.
pub fn forbidden(scope: Scope) -> ApiError {
    let needed = match scope {
        Scope::Admin => "admin".to_string(),
        other => format!("{} or admin", other.name()),
    };
    ApiError::forbidden(format!("this API key lacks the scope this needs: {needed}"))
}

/// One entry of `ZAYAVKA_API_KEYS`. Whatever is wrong is said without the key.
fn parse_entry(entry: &str) -> Result<ApiKey, String> {
    let (scopes, key) = match entry.split_once(':') {
        None => (vec![Scope::Leads], entry),
        Some((names, key)) => {
            let mut scopes = Vec::new();
            for name in names.split('+') {
                let scope = Scope::parse(name.trim()).ok_or_else(|| {
                    format!(
                        "unknown scope {:?} before the first ':' (scopes are leads, tickets, admin; a key that contains ':' is written leads:<key>)",
                        truncate(name.trim(), 12)
                    )
                })?;
                if !scopes.contains(&scope) {
                    scopes.push(scope);
                }
            }
            (scopes, key)
        }
    };
    if key.chars().count() < MIN_KEY_LEN {
        return Err(format!("the key needs at least {MIN_KEY_LEN} characters"));
    }
    if key.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err("the key contains white space".into());
    }
    // Length alone lets `aaaaaaaaaaaaaaaa` through; a random key of 16 characters has far
    // more than 8 different ones (16 hex digits: about 10).
    let distinct: std::collections::BTreeSet<char> = key.chars().collect();
    if distinct.len() < MIN_DISTINCT {
        return Err(format!(
            "the key is too easy to guess (fewer than {MIN_DISTINCT} different characters): make one with openssl rand -hex 24"
        ));
    }
    Ok(ApiKey {
        key: key.to_string(),
        scopes,
    })
}

fn truncate(s: &str, max: usize) -> String {
    s.chars().take(max).collect()
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::EnvSource;

    struct Env(&'static str);
    impl EnvSource for Env {
        fn var(&self, name: &str) -> Option<String> {
            (name == "ZAYAVKA_API_KEYS").then(|| self.0.to_string())
        }
    }

    fn read(value: &'static str) -> Result<ApiKeys, String> {
        let env = Env(value);
        let mut r = EnvReader::new(&env);
        let keys = ApiKeys::read(&mut r);
        r.finish().map(|_| keys).map_err(|e| e.to_string())
    }

    #[test]
    fn a_plain_key_is_a_leads_key_and_scopes_join_with_plus() {
        let keys = read(
            "site-key-0123456789, tickets+leads:internal-0123456789,admin:boss-0123456789abcdef",
        )
        .unwrap();
        let site = keys.caller("site-key-0123456789").unwrap();
        assert!(site.allows(Scope::Leads));
        assert!(!site.allows(Scope::Tickets));
        assert!(!site.allows(Scope::Admin));
        let internal = keys.caller("internal-0123456789").unwrap();
        assert!(internal.allows(Scope::Tickets) && internal.allows(Scope::Leads));
        assert!(!internal.is_admin());
        let boss = keys.caller("boss-0123456789abcdef").unwrap();
        assert!(Scope::ALL.iter().all(|s| boss.allows(*s)));
        // The scope prefix is not part of the key.
        assert!(keys.caller("admin:boss-0123456789abcdef").is_none());
    }

    #[test]
    fn every_short_key_and_unknown_scope_is_named_by_position_without_the_key() {
        let err = read(
            "admin:aaaaaaaaaaaaaaaa,short-key,leds:bbbbbbbbbbbbbbbbbbbb,0123456789abcdef,tickets:0123456789abcdef",
        )
        .unwrap_err();
        assert!(
            err.contains("entry 1: the key is too easy to guess"),
            "{err}"
        );
        assert!(err.contains("entry 2: the key needs at least 16"), "{err}");
        assert!(err.contains("entry 3: unknown scope \"leds\""), "{err}");
        assert!(!err.contains("entry 4"), "{err}");
        assert!(
            err.contains("entry 5: the same key as an earlier entry"),
            "{err}"
        );
        for secret in ["short-key", "bbbbbbbb", "aaaaaaaa", "0123456789abcdef"] {
            assert!(!err.contains(secret), "{err}");
        }
        assert!(
            read("admin:0123456789abcde").is_err(),
            "15 characters after the scope"
        );
    }

    #[test]
    fn the_key_id_tells_keys_apart_and_does_not_contain_the_key() {
        let a = key_id("site-key-0123456789");
        assert_eq!(a.len(), 16);
        assert_ne!(a, key_id("site-key-0123456780"));
        let keys = read("site-key-0123456789").unwrap();
        let caller = keys.caller("site-key-0123456789").unwrap();
        assert!(caller.owns(Some(&a)));
        assert!(!caller.owns(Some(&key_id("other-key-0123456789"))));
        assert!(
            !caller.owns(None),
            "a lead from before scopes is the admins'"
        );
        assert!(!format!("{caller:?}").contains("site-key"));
    }

    #[test]
    fn only_a_key_with_the_scope_can_sign_a_session() {
        let keys = read("site-key-0123456789,admin:boss-0123456789abcdef").unwrap();
        let m = "1700000000.n";
        assert!(keys.signed(Scope::Admin, m, &sign("boss-0123456789abcdef", m)));
        assert!(!keys.signed(Scope::Admin, m, &sign("site-key-0123456789", m)));
        assert!(keys.signed(Scope::Leads, m, &sign("site-key-0123456789", m)));
    }
}
