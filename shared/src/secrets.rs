//! The deployment's secrets: which there are, the shape of each, which functions read each,
//! and, in Lambda, where they come from.
//!
//! A deployed stack keeps them in SSM Parameter Store as `SecureString`s under one path,
//! `/zayavka/<stack>/<NAME>` (`NAME` is the variable a function has always read, e.g.
//! `TELEGRAM_MAIN_BOT_TOKEN`), and not in the functions' environment, which anyone allowed
//! `lambda:GetFunctionConfiguration` (the ReadOnlyAccess policy) reads. With
//! `ZAYAVKA_SECRETS_PATH` set (the template sets it) a function reads its own secrets once at
//! start, in one call, and sees them through [`WithSecrets`] exactly where `Config::read`
//! looked before; its role may read those parameters and no others. Without it
//! (`zayavka serve`, a function run by hand) the environment is read as it always was.
//! `zayavka secrets set` checks a value against [`Spec::check`] before storing it.

use std::collections::HashMap;
use std::fmt;

use async_trait::async_trait;

use crate::config::{ConfigError, EnvReader, EnvSource};

/// The path of the stack's secrets, `/zayavka/<stack>/` (the template's Globals).
pub const PATH_VAR: &str = "ZAYAVKA_SECRETS_PATH";
/// The bots switched on in the stack, comma-separated (the template's `MainBot`, … switches).
pub const BOTS_VAR: &str = "TELEGRAM_BOTS";

/// What a value must look like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// As @BotFather gives it: `<bot id>:<30+ of A-Z a-z 0-9 _ ->`.
    BotToken,
    /// Telegram's `secret_token`: 1 to 256 of `A-Z a-z 0-9 _ -`.
    WebhookSecret,
    /// The last part of a URL: 32 or more of `A-Z a-z 0-9 _ -`.
    UrlToken,
    /// An HMAC key both sides hold: 16 or more characters.
    SigningKey,
    /// `ZAYAVKA_API_KEYS`: read by the very reader the functions use.
    ApiKeys,
    /// An http(s) URL that carries its own secret (a Bitrix24 inbound webhook).
    Url,
    /// A token from an outside service: one word, no spaces.
    Opaque,
}

/// When a secret must be there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Needed {
    /// Always: its readers cannot serve without it.
    Always,
    /// It belongs to a bot: read only while the bot is switched on, and then required.
    Bot(&'static str),
    /// Read whenever it is set, and required while the bot is switched on.
    WithBot(&'static str),
    Optional,
}

#[derive(Debug)]
pub struct Spec {
    pub name: &'static str,
    pub shape: Shape,
    pub needed: Needed,
    /// The functions (binaries) that read it; each one's role may read its parameter.
    pub readers: &'static [&'static str],
    /// What it is, for `zayavka secrets list`.
    pub about: &'static str,
}

const LEADS: &[&str] = &["lead-submit", "integration-worker"];
const BRIDGE: &[&str] = &[
    "telegram-webhook",
    "bridge-worker",
    "bridge-api",
    "notification-worker",
];

/// Every secret of a deployment. `tests/template.rs` holds each function's role to its
/// readers here, and `tests/secrets.rs` holds the readers to what each function reads.
pub const CATALOGUE: &[Spec] = &[
    Spec {
        name: "ZAYAVKA_API_KEYS",
        shape: Shape::ApiKeys,
        needed: Needed::Always,
        readers: &["lead-submit", "ticket-api", "bridge-api"],
        about: "the API keys (`scopes:key`, comma-separated)",
    },
    Spec {
        name: "TELEGRAM_BOT_TOKEN",
        shape: Shape::BotToken,
        needed: Needed::Optional,
        readers: &[
            "lead-submit",
            "integration-worker",
            "notification-worker",
            "telegram-webhook",
        ],
        about: "the bot that posts leads and notifications",
    },
    Spec {
        name: "AMOCRM_ACCESS_TOKEN",
        shape: Shape::Opaque,
        needed: Needed::Optional,
        readers: LEADS,
        about: "amoCRM's long-lived token",
    },
    Spec {
        name: "BITRIX24_WEBHOOK_URL",
        shape: Shape::Url,
        needed: Needed::Optional,
        readers: LEADS,
        about: "a Bitrix24 inbound webhook URL",
    },
    Spec {
        name: "TELEGRAM_MAIN_BOT_TOKEN",
        shape: Shape::BotToken,
        needed: Needed::Bot("main"),
        readers: &["telegram-webhook", "notification-worker"],
        about: "the main (helpdesk) bot's token",
    },
    Spec {
        name: "TELEGRAM_MAIN_WEBHOOK_SECRET",
        shape: Shape::WebhookSecret,
        needed: Needed::Bot("main"),
        readers: &["telegram-webhook"],
        about: "the main bot's webhook secret",
    },
    Spec {
        name: "OKDESK_API_TOKEN",
        shape: Shape::Opaque,
        needed: Needed::WithBot("main"),
        readers: &["telegram-webhook", "notification-worker"],
        about: "Okdesk's API token",
    },
    Spec {
        name: "OKDESK_WEBHOOK_TOKEN",
        shape: Shape::UrlToken,
        needed: Needed::Optional,
        readers: &["okdesk-webhook"],
        about: "the token ending the Okdesk webhook URL",
    },
    Spec {
        name: "TELEGRAM_SUPPORT_BOT_TOKEN",
        shape: Shape::BotToken,
        needed: Needed::Bot("support"),
        readers: &["support-form", "telegram-webhook", "notification-worker"],
        about: "the support bot's token",
    },
    Spec {
        name: "TELEGRAM_SUPPORT_WEBHOOK_SECRET",
        shape: Shape::WebhookSecret,
        needed: Needed::Bot("support"),
        readers: &["telegram-webhook"],
        about: "the support bot's webhook secret",
    },
    Spec {
        name: "SUPPORT_USER_HASH_SECRET",
        shape: Shape::Opaque,
        needed: Needed::Optional,
        readers: &["support-form"],
        about: "the site's user_hash key",
    },
    Spec {
        name: "TELEGRAM_STAFF_BOT_TOKEN",
        shape: Shape::BotToken,
        needed: Needed::Bot("staff"),
        readers: &["telegram-webhook", "notification-worker"],
        about: "the staff bot's token",
    },
    Spec {
        name: "TELEGRAM_STAFF_WEBHOOK_SECRET",
        shape: Shape::WebhookSecret,
        needed: Needed::Bot("staff"),
        readers: &["telegram-webhook"],
        about: "the staff bot's webhook secret",
    },
    Spec {
        name: "TELEGRAM_BRIDGE_BOT_TOKEN",
        shape: Shape::BotToken,
        needed: Needed::Bot("bridge"),
        readers: BRIDGE,
        about: "the bridge bot's token",
    },
    Spec {
        name: "TELEGRAM_BRIDGE_WEBHOOK_SECRET",
        shape: Shape::WebhookSecret,
        needed: Needed::Bot("bridge"),
        readers: &["telegram-webhook"],
        about: "the bridge bot's webhook secret",
    },
    Spec {
        name: "BRIDGE_REPLY_TOKEN",
        shape: Shape::UrlToken,
        needed: Needed::Bot("bridge"),
        readers: BRIDGE,
        about: "the token ending the bridge's reply URL",
    },
    Spec {
        name: "BRIDGE_SIGNING_SECRET",
        shape: Shape::SigningKey,
        needed: Needed::Bot("bridge"),
        readers: BRIDGE,
        about: "the bridge's HMAC key (X-Zayavka-Signature, Standard Webhooks)",
    },
    Spec {
        name: "BRIDGE_SIGNING_SECRET_NEXT",
        shape: Shape::SigningKey,
        needed: Needed::Optional,
        readers: BRIDGE,
        about: "the bridge's next HMAC key, while it is rotated in (a second signature)",
    },
];

/// The secret called `name`, if it is one.
pub fn spec(name: &str) -> Option<&'static Spec> {
    CATALOGUE.iter().find(|s| s.name == name)
}

/// The secrets `function` (a binary's name) reads.
pub fn of_function(function: &str) -> impl Iterator<Item = &'static Spec> + '_ {
    CATALOGUE
        .iter()
        .filter(move |s| s.readers.contains(&function))
}

/// Where a stack keeps its secrets.
pub fn stack_path(stack: &str) -> String {
    format!("/zayavka/{stack}/")
}

/// The stack a path is of, for the fix a message gives.
fn stack_of(path: &str) -> &str {
    path.strip_prefix("/zayavka/")
        .and_then(|rest| rest.strip_suffix('/'))
        .unwrap_or("<stack>")
}

/// A stack's name as CloudFormation allows it, which is also a valid piece of a parameter's.
pub fn valid_stack(stack: &str) -> bool {
    stack.starts_with(|c: char| c.is_ascii_alphabetic())
        && stack.len() <= 128
        && stack.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
}

fn url_safe(s: &str) -> bool {
    s.chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

impl Spec {
    /// Whether `value` has this secret's shape; the reason never repeats the value.
    pub fn check(&self, value: &str) -> Result<(), String> {
        if value.is_empty() {
            return Err("it is empty".into());
        }
        if value.chars().any(char::is_control) {
            return Err("it holds a line break or another control character".into());
        }
        let ok = match self.shape {
            Shape::BotToken => value.split_once(':').is_some_and(|(id, rest)| {
                !id.is_empty()
                    && id.len() <= 20
                    && id.chars().all(|c| c.is_ascii_digit())
                    && rest.len() >= 30
                    && url_safe(rest)
            }),
            Shape::WebhookSecret => crate::telegram::webhook::valid_secret(value),
            Shape::UrlToken => value.len() >= 32 && url_safe(value),
            Shape::SigningKey => {
                value.chars().count() >= crate::bridge::config::MIN_SIGNING_SECRET
                    && crate::signature::standard_problem(value).is_none()
            }
            Shape::ApiKeys => {
                let env = HashMap::from([(self.name.to_string(), value.to_string())]);
                let mut r = EnvReader::new(&env);
                crate::api_keys::ApiKeys::read(&mut r);
                return r.finish().map_err(|e| e.problems.join("; "));
            }
            Shape::Url => url::Url::parse(value)
                .is_ok_and(|u| matches!(u.scheme(), "https" | "http") && u.host_str().is_some()),
            Shape::Opaque => !value.chars().any(char::is_whitespace),
        };
        if ok {
            Ok(())
        } else {
            Err(self.shape_text().into())
        }
    }

    /// The shape, as the refusal says it.
    pub fn shape_text(&self) -> &'static str {
        match self.shape {
            Shape::BotToken => {
                "a bot token is <bot id>:<30 or more of A-Z a-z 0-9 _ ->, as @BotFather gives it"
            }
            Shape::WebhookSecret => "a webhook secret is 1 to 256 of A-Z a-z 0-9 _ -",
            Shape::UrlToken => {
                "it must be 32 or more of A-Z a-z 0-9 _ - (e.g. `openssl rand -hex 24`)"
            }
            Shape::SigningKey => {
                "it must be 16 or more characters (e.g. `openssl rand -hex 24`), and a whsec_ \
                 one base64 after the prefix"
            }
            Shape::ApiKeys => "comma-separated `scopes:key` entries",
            Shape::Url => "it must be an http(s) URL",
            Shape::Opaque => "it must be one word, without spaces",
        }
    }

    /// Whether it must be set when `bots` are switched on.
    fn required(&self, bots: &[String]) -> bool {
        match self.needed {
            Needed::Always => true,
            Needed::Bot(b) | Needed::WithBot(b) => bots.iter().any(|on| on == b),
            Needed::Optional => false,
        }
    }

    /// Whether a function reads it when `bots` are switched on.
    fn wanted(&self, bots: &[String]) -> bool {
        match self.needed {
            Needed::Bot(b) => bots.iter().any(|on| on == b),
            _ => true,
        }
    }
}

#[derive(Debug, Clone, thiserror::Error)]
#[error("Parameter Store: {0}")]
pub struct StoreError(pub String);

/// Where the secrets are kept (Parameter Store, `adapters::ssm`; a map in tests).
#[async_trait]
pub trait SecretStore: Send + Sync {
    /// The values of those of `names` (whole parameter names) that are set; the others are
    /// left out.
    async fn get(&self, names: &[String]) -> Result<HashMap<String, String>, StoreError>;
}

/// The environment with the secrets read from the store: a secret's name is answered from
/// them alone (never from the process environment), everything else from `base`.
pub struct WithSecrets<'a> {
    values: HashMap<&'static str, String>,
    base: &'a dyn EnvSource,
}

impl EnvSource for WithSecrets<'_> {
    fn var(&self, name: &str) -> Option<String> {
        match spec(name) {
            Some(s) => self.values.get(s.name).cloned(),
            None => self.base.var(name),
        }
    }
}

impl fmt::Debug for WithSecrets<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut names: Vec<&str> = self.values.keys().copied().collect();
        names.sort_unstable();
        f.debug_struct("WithSecrets")
            .field("set", &names)
            .finish_non_exhaustive()
    }
}

impl<'a> WithSecrets<'a> {
    /// Whether `name` came from the store.
    pub fn has(&self, name: &str) -> bool {
        spec(name).is_some_and(|s| self.values.contains_key(s.name))
    }
}

/// `ZAYAVKA_SECRETS_PATH`, if set: `/…/`, where the stack's parameters are.
pub fn read_path(r: &mut EnvReader<'_>) -> Option<String> {
    let path = r.optional(PATH_VAR)?;
    if !(path.starts_with('/') && path.ends_with('/') && path.len() > 2) {
        r.problem(format!(
            "{PATH_VAR}={path:?} is not a Parameter Store path like /zayavka/<stack>/"
        ));
    }
    Some(path)
}

/// Fetches `specs` under `path`, keyed by their names.
async fn fetch(
    store: &dyn SecretStore,
    path: &str,
    specs: &[&'static Spec],
) -> Result<HashMap<&'static str, String>, StoreError> {
    if specs.is_empty() {
        return Ok(HashMap::new());
    }
    let names: Vec<String> = specs.iter().map(|s| format!("{path}{}", s.name)).collect();
    let mut got = store.get(&names).await?;
    Ok(specs
        .iter()
        .filter_map(|s| {
            got.remove(&format!("{path}{}", s.name))
                .map(|v| (s.name, v.trim().to_string()))
        })
        .filter(|(_, v)| !v.is_empty())
        .collect())
}

/// A function's environment in Lambda: its own secrets, read once from `path` in `store`,
/// over the process environment `base`. Refused, naming every problem: a secret left in the
/// plain environment (it is what anyone with read-only access to the functions sees, and two
/// places for one value would hide which one is live), a secret the function needs that is
/// not stored (`ZAYAVKA_API_KEYS`; a switched-on bot's), and a stored value of the wrong
/// shape. None of them repeats a value.
pub async fn load<'a>(
    function: &str,
    path: &str,
    base: &'a dyn EnvSource,
    store: &dyn SecretStore,
) -> Result<WithSecrets<'a>, ConfigError> {
    let mut r = EnvReader::new(base);
    let bots = r.list(BOTS_VAR);
    for bot in &bots {
        if !crate::telegram::webhook::BOTS.contains(&bot.as_str()) {
            r.problem(format!(
                "{BOTS_VAR}: {bot:?} is no bot (bots: {})",
                crate::telegram::webhook::BOTS.join(", ")
            ));
        }
    }
    let stack = stack_of(path);
    for s in CATALOGUE {
        if base.var(s.name).is_some_and(|v| !v.trim().is_empty()) {
            r.problem(format!(
                "{} is in the function's environment, where whoever may read the function's \
                 configuration sees it: remove it there; secrets come from Parameter Store \
                 (zayavka secrets set {} --stack {stack})",
                s.name, s.name
            ));
        }
    }
    let mine: Vec<&'static Spec> = of_function(function).filter(|s| s.wanted(&bots)).collect();
    let values = match fetch(store, path, &mine).await {
        Ok(v) => v,
        Err(e) => {
            r.problem(format!("{e} (reading {path}…)"));
            HashMap::new()
        }
    };
    for s in &mine {
        match values.get(s.name) {
            Some(v) => {
                if let Err(why) = s.check(v) {
                    r.problem(format!(
                        "{} in Parameter Store ({path}{}): {why}",
                        s.name, s.name
                    ));
                }
            }
            None if s.required(&bots) => {
                let because = match s.needed {
                    Needed::Bot(b) | Needed::WithBot(b) => format!(", and the {b} bot is on"),
                    _ => String::new(),
                };
                r.problem(format!(
                    "{} is not set in Parameter Store ({path}{}){because}: zayavka secrets set {} --stack {stack}",
                    s.name, s.name, s.name
                ));
            }
            None => {}
        }
    }
    r.finish()?;
    Ok(WithSecrets { values, base })
}

/// The deployer's environment for the admin commands (`doctor`, `telegram`): every secret
/// of the stack at `path`, over the shell's own variables.
pub async fn load_all<'a>(
    path: &str,
    base: &'a dyn EnvSource,
    store: &dyn SecretStore,
) -> Result<WithSecrets<'a>, StoreError> {
    let all: Vec<&'static Spec> = CATALOGUE.iter().collect();
    Ok(WithSecrets {
        values: fetch(store, path, &all).await?,
        base,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_shape_refuses_what_is_not_it_without_repeating_it() {
        let check = |name: &str, v: &str| spec(name).unwrap().check(v);
        let token = "123456789:AAHfiqksKZ8WmR2zSjiQ7_v4TMAKdiHm9T0";
        assert!(check("TELEGRAM_MAIN_BOT_TOKEN", token).is_ok());
        for bad in [
            "AAHfiqksKZ8WmR2zSjiQ7_v4TMAKdiHm9T0",
            "bot123456789:AAHfiqksKZ8WmR2zSjiQ7_v4TMAKdiHm9T0",
            "123456789:short",
            "123456789:AAHfiqksKZ8WmR2zSjiQ7 v4TMAKdiHm9T0",
        ] {
            let why = check("TELEGRAM_MAIN_BOT_TOKEN", bad).unwrap_err();
            assert!(!why.contains(bad), "{why}");
        }
        assert!(check("TELEGRAM_MAIN_WEBHOOK_SECRET", "a_b-C9").is_ok());
        assert!(check("TELEGRAM_MAIN_WEBHOOK_SECRET", &"a".repeat(256)).is_ok());
        assert!(check("TELEGRAM_MAIN_WEBHOOK_SECRET", &"a".repeat(257)).is_err());
        assert!(check("TELEGRAM_MAIN_WEBHOOK_SECRET", "has space").is_err());
        assert!(check("BRIDGE_REPLY_TOKEN", &"x".repeat(32)).is_ok());
        assert!(check("BRIDGE_REPLY_TOKEN", &"x".repeat(31)).is_err());
        assert!(check("OKDESK_WEBHOOK_TOKEN", &format!("{}!", "x".repeat(32))).is_err());
        assert!(check("BRIDGE_SIGNING_SECRET", "sixteen chars!!!").is_ok());
        assert!(check("BRIDGE_SIGNING_SECRET", "fifteen chars!!").is_err());
        assert!(
            check(
                "BRIDGE_SIGNING_SECRET_NEXT",
                "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
            )
            .is_ok()
        );
        assert!(check("BRIDGE_SIGNING_SECRET_NEXT", "whsec_not*base64*at*all").is_err());
        assert!(
            check(
                "BITRIX24_WEBHOOK_URL",
                "https://acme.bitrix24.ru/rest/1/abc/"
            )
            .is_ok()
        );
        assert!(check("BITRIX24_WEBHOOK_URL", "acme.bitrix24.ru/rest/1/abc/").is_err());
        assert!(check("OKDESK_API_TOKEN", "abc def").is_err());
        assert!(check("OKDESK_API_TOKEN", "").is_err());
        assert!(check("OKDESK_API_TOKEN", "line\nbreak").is_err());
    }

    #[test]
    fn api_keys_are_checked_by_the_functions_own_reader() {
        let check = |v: &str| spec("ZAYAVKA_API_KEYS").unwrap().check(v);
        assert!(check("admin:0123456789abcdef0123").is_ok());
        let why = check("admin:0123456789abcdef0123,nosuchscope:fedcba9876543210fedc").unwrap_err();
        assert!(why.contains("entry 2"), "{why}");
        assert!(!why.contains("fedcba9876543210fedc"), "{why}");
    }

    #[test]
    fn the_catalogue_names_real_functions_and_bots() {
        let functions = [
            "lead-submit",
            "support-form",
            "telegram-webhook",
            "okdesk-webhook",
            "integration-worker",
            "batch-tracker",
            "notification-worker",
            "sweeper",
            "ticket-api",
            "bridge-worker",
            "bridge-api",
        ];
        for s in CATALOGUE {
            assert!(!s.readers.is_empty(), "{}", s.name);
            for r in s.readers {
                assert!(functions.contains(r), "{}: {r}", s.name);
            }
            if let Needed::Bot(b) | Needed::WithBot(b) = s.needed {
                assert!(crate::telegram::webhook::BOTS.contains(&b), "{}", s.name);
            }
        }
        // Every bot's token and webhook secret belong to it.
        for bot in crate::telegram::webhook::BOTS {
            let upper = bot.to_ascii_uppercase();
            for name in [
                format!("TELEGRAM_{upper}_BOT_TOKEN"),
                format!("TELEGRAM_{upper}_WEBHOOK_SECRET"),
            ] {
                assert_eq!(
                    spec(&name).map(|s| s.needed),
                    Some(Needed::Bot(bot)),
                    "{name}"
                );
            }
        }
    }

    struct Stored(HashMap<String, String>);

    #[async_trait]
    impl SecretStore for Stored {
        async fn get(&self, names: &[String]) -> Result<HashMap<String, String>, StoreError> {
            Ok(names
                .iter()
                .filter_map(|n| self.0.get(n).map(|v| (n.clone(), v.clone())))
                .collect())
        }
    }

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[tokio::test]
    async fn a_function_sees_its_stored_secrets_and_its_plain_settings() {
        let store = Stored(env(&[
            ("/zayavka/s/ZAYAVKA_API_KEYS", "admin:0123456789abcdef0123"),
            ("/zayavka/s/OKDESK_WEBHOOK_TOKEN", &"t".repeat(40)),
        ]));
        let base = env(&[("LEAD_EMAILS", "a@example.com")]);
        let got = load("lead-submit", "/zayavka/s/", &base, &store)
            .await
            .unwrap();
        assert_eq!(
            got.var("ZAYAVKA_API_KEYS").as_deref(),
            Some("admin:0123456789abcdef0123")
        );
        assert_eq!(got.var("LEAD_EMAILS").as_deref(), Some("a@example.com"));
        // Not lead-submit's: not read, though stored.
        assert_eq!(got.var("OKDESK_WEBHOOK_TOKEN"), None);
        let shown = format!("{got:?}");
        assert!(shown.contains("ZAYAVKA_API_KEYS"), "{shown}");
        assert!(!shown.contains("0123456789abcdef"), "{shown}");
    }

    #[tokio::test]
    async fn a_secret_in_the_plain_environment_or_missing_stops_the_start() {
        let store = Stored(HashMap::new());
        let base = env(&[
            ("TELEGRAM_BOTS", "main"),
            ("OKDESK_API_TOKEN", "plain-token-value"),
        ]);
        let err = load("telegram-webhook", "/zayavka/prod/", &base, &store)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("OKDESK_API_TOKEN is in the function's environment"),
            "{err}"
        );
        assert!(!err.contains("plain-token-value"), "{err}");
        for name in ["TELEGRAM_MAIN_BOT_TOKEN", "TELEGRAM_MAIN_WEBHOOK_SECRET"] {
            assert!(
                err.contains(&format!(
                    "{name} is not set in Parameter Store (/zayavka/prod/{name}), and the main bot is on: zayavka secrets set {name} --stack prod"
                )),
                "{err}"
            );
        }
        // A bot that is off needs nothing, and its secrets are not read even when stored.
        let store = Stored(env(&[(
            "/zayavka/prod/TELEGRAM_STAFF_BOT_TOKEN",
            "123456789:AAHfiqksKZ8WmR2zSjiQ7_v4TMAKdiHm9T0",
        )]));
        let nothing = HashMap::new();
        let got = load("telegram-webhook", "/zayavka/prod/", &nothing, &store)
            .await
            .unwrap();
        assert_eq!(got.var("TELEGRAM_STAFF_BOT_TOKEN"), None);
    }

    #[tokio::test]
    async fn a_stored_value_of_the_wrong_shape_stops_the_start_unrepeated() {
        let store = Stored(env(&[("/zayavka/s/ZAYAVKA_API_KEYS", "admin:tooSHORT")]));
        let err = load("ticket-api", "/zayavka/s/", &HashMap::new(), &store)
            .await
            .unwrap_err()
            .to_string();
        assert!(err.contains("ZAYAVKA_API_KEYS in Parameter Store"), "{err}");
        assert!(!err.contains("tooSHORT"), "{err}");
    }
}
