//! The chat bridge's settings, read in one place by every function that needs them (the
//! webhook, the bridge worker, bridge-api, the notification worker).

use crate::config::EnvReader;
use crate::outbound::{AllowHosts, guard};
use crate::secret::Secret;

#[derive(Debug, Clone)]
pub struct BridgeConfig {
    /// `TELEGRAM_BRIDGE_BOT_TOKEN`.
    pub bot_token: Secret,
    /// `BRIDGE_ENABLED` (default true): off, the bot says so and forwards nothing.
    pub enabled: bool,
    /// `BRIDGE_API_URL`, else `BRIDGE_API_BASE` + `/api/messages/`: where messages go.
    /// https only (the messages and the reply URL travel in it), unless its host is one of
    /// `OUTBOUND_ALLOW_HOSTS` (a fake on 127.0.0.1, an on-premise system).
    pub api_url: String,
    /// `ZAYAVKA_PUBLIC_URL`: this deployment's public base URL (reply and file links); when
    /// unset, the URL Telegram's update came in at (serve sets its own address).
    pub public_url: Option<String>,
    /// `BRIDGE_REPLY_TOKEN`: the last part of the reply URL (32+ of `A-Z a-z 0-9 _ -`).
    /// It travels with every message (`X-Webhook-URL`), so it only names the endpoint: what
    /// proves a reply is the signature. (File links are signed with a key derived from the
    /// bot token, which the system never sees: `files.rs`.)
    pub reply_token: Secret,
    /// `BRIDGE_SIGNING_SECRET` (required with the bridge bot, 16+ characters): signs what we
    /// send and must sign every reply. Without it, whoever saw one `X-Webhook-URL` could send
    /// any bridge user HTML and URL buttons from the official bot.
    pub signing_secret: Secret,
    /// `BRIDGE_SIGNING_SECRET_NEXT` (optional, the same shape): the secret being rotated in.
    /// What we send carries a second Standard Webhooks signature made with it, and a reply
    /// signed with it is taken, so the system can switch before `BRIDGE_SIGNING_SECRET` does.
    pub signing_secret_next: Option<Secret>,
    /// `BRIDGE_RETRY_BASE_DELAY_SECONDS` (5): the first retry's delay; doubles, at most 5 min.
    pub retry_base_secs: u32,
    /// `BRIDGE_FALLBACK_AFTER` (3): failed attempts before the user hears the service is down.
    pub fallback_after: u32,
    /// `BRIDGE_HISTORY_DAYS` (30): how long messages are kept.
    pub history_days: i64,
    /// `BRIDGE_HEALTH_URL`: what `/status` asks, when set.
    pub health_url: Option<String>,
    /// `BRIDGE_ADMIN_IDS`: Telegram user ids that may ask `/stats`.
    pub admin_ids: Vec<i64>,
    /// `BRIDGE_TIMEOUT_SECONDS` (10, at most 20): per call to the system.
    pub timeout_secs: u64,
    /// `BRIDGE_FILE_LINK_SECONDS` (3600): how long a file link works.
    pub file_link_secs: i64,
    /// `BRIDGE_FILE_MAX_BYTES` (4 MB, what a Lambda answer can carry): larger files are
    /// refused by the link.
    pub file_max_bytes: usize,
    /// `BRIDGE_USER_LIMIT` (20): messages one user may send per minute; the rest are not
    /// passed on (each costs writes, a queue message and a call to the system).
    pub user_limit: u32,
}

/// The shortest signing secret taken: a guessable one would sign replies for anyone.
pub const MIN_SIGNING_SECRET: usize = 16;

/// The longest wait between two tries.
pub const MAX_RETRY_SECS: u32 = 300;

fn url_safe(s: &str) -> bool {
    s.chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// A signing secret as read, its problem (never its value) told to `r`.
fn signing_key(r: &mut EnvReader<'_>, name: &str, value: String) -> String {
    if value.chars().count() < MIN_SIGNING_SECRET {
        r.problem(format!(
            "{name} must be {MIN_SIGNING_SECRET} or more characters"
        ));
    } else if let Some(problem) = crate::signature::standard_problem(&value) {
        r.problem(format!("{name}: {problem}"));
    }
    value
}

/// `BRIDGE_API_URL`, else `BRIDGE_API_BASE` + `/api/messages/`, checked against
/// `OUTBOUND_ALLOW_HOSTS`: the URL users' messages (and our reply URL) travel to.
fn system_url(r: &mut EnvReader<'_>) -> String {
    let api_url = match (r.optional("BRIDGE_API_URL"), r.optional("BRIDGE_API_BASE")) {
        (Some(url), _) => url,
        (None, Some(base)) => format!("{}/api/messages/", base.trim_end_matches('/')),
        (None, None) => {
            r.problem("BRIDGE_API_URL (or BRIDGE_API_BASE) is not set, but the bridge bot is: where do messages go?");
            String::new()
        }
    };
    let allow = AllowHosts::read(r);
    if !api_url.is_empty() {
        match reqwest::Url::parse(&api_url) {
            Err(_) => r.problem(format!("BRIDGE_API_URL: {api_url:?} is not a URL")),
            // Plain http only to a host the operator exempted, as for any outside call.
            Ok(u) if u.scheme() != "https" && guard::check(&allow, &u).is_err() => {
                r.problem(format!(
                    "BRIDGE_API_URL must be https (users' messages and the reply URL \
                     travel in it); plain http only to a host in {}",
                    guard::ALLOW_VAR
                ))
            }
            Ok(_) => {}
        }
    }
    api_url
}

/// `ZAYAVKA_PUBLIC_URL`, without a trailing slash, when set.
fn public_url(r: &mut EnvReader<'_>) -> Option<String> {
    let public_url = r
        .optional("ZAYAVKA_PUBLIC_URL")
        .map(|u| u.trim_end_matches('/').to_string());
    if let Some(u) = &public_url
        && reqwest::Url::parse(u).is_err()
    {
        r.problem(format!("ZAYAVKA_PUBLIC_URL: {u:?} is not a URL"));
    }
    public_url
}

/// `BRIDGE_REPLY_TOKEN`; empty (with its problem told) when missing or malformed.
fn reply_token(r: &mut EnvReader<'_>) -> Secret {
    match r.optional("BRIDGE_REPLY_TOKEN") {
        Some(t) if t.len() >= 32 && url_safe(&t) => Secret(t),
        Some(_) => {
            r.problem("BRIDGE_REPLY_TOKEN must be 32 or more of A-Z a-z 0-9 _ -");
            Secret(String::new())
        }
        None => {
            r.problem(
                "BRIDGE_REPLY_TOKEN is not set (32+ random characters: openssl rand -hex 24)",
            );
            Secret(String::new())
        }
    }
}

/// `BRIDGE_SIGNING_SECRET` (required) and `BRIDGE_SIGNING_SECRET_NEXT` (being rotated in).
fn signing_secrets(r: &mut EnvReader<'_>) -> (Secret, Option<Secret>) {
    let current = match r.optional("BRIDGE_SIGNING_SECRET") {
        Some(s) => Secret(signing_key(r, "BRIDGE_SIGNING_SECRET", s)),
        None => {
            r.problem(
                "BRIDGE_SIGNING_SECRET is not set, but the bridge bot is: the system's \
                 replies must be signed (16+ random characters: openssl rand -hex 24)",
            );
            Secret(String::new())
        }
    };
    let next = r
        .optional("BRIDGE_SIGNING_SECRET_NEXT")
        .map(|s| Secret(signing_key(r, "BRIDGE_SIGNING_SECRET_NEXT", s)));
    (current, next)
}

/// `BRIDGE_HISTORY_DAYS` (30), 1 to 3650.
fn history_days(r: &mut EnvReader<'_>) -> i64 {
    let days: i64 = r.parse_or("BRIDGE_HISTORY_DAYS", 30);
    if !(1..=3650).contains(&days) {
        r.problem("BRIDGE_HISTORY_DAYS must be 1 to 3650");
    }
    days
}

/// `BRIDGE_ADMIN_IDS`: each one that is not a Telegram user id is told.
fn admin_ids(r: &mut EnvReader<'_>) -> Vec<i64> {
    let mut admin_ids = Vec::new();
    for id in r.list("BRIDGE_ADMIN_IDS") {
        match id.parse::<i64>() {
            Ok(n) => admin_ids.push(n),
            Err(_) => r.problem(format!(
                "BRIDGE_ADMIN_IDS: {id:?} is not a Telegram user id"
            )),
        }
    }
    admin_ids
}

/// `BRIDGE_USER_LIMIT` (20), 1 or more.
fn user_limit(r: &mut EnvReader<'_>) -> u32 {
    let limit: u32 = r.parse_or("BRIDGE_USER_LIMIT", 20);
    if limit == 0 {
        r.problem("BRIDGE_USER_LIMIT must be 1 or more (messages per user and minute)");
    }
    limit
}

impl BridgeConfig {
    /// The bridge's settings when its bot is configured (`TELEGRAM_BRIDGE_BOT_TOKEN`).
    ///
    /// Read in the order the settings are listed, so the problems come in that order too.
    pub fn read_if_configured(r: &mut EnvReader<'_>) -> Option<Self> {
        let bot_token = Secret(r.optional("TELEGRAM_BRIDGE_BOT_TOKEN")?);
        let enabled = !matches!(
            r.or("BRIDGE_ENABLED", "true").to_ascii_lowercase().as_str(),
            "false" | "0" | "no" | "off"
        );
        let api_url = system_url(r);
        let public_url = public_url(r);
        let reply_token = reply_token(r);
        let (signing_secret, signing_secret_next) = signing_secrets(r);
        let retry_base_secs: u32 = r.parse_or("BRIDGE_RETRY_BASE_DELAY_SECONDS", 5);
        let fallback_after: u32 = r.parse_or("BRIDGE_FALLBACK_AFTER", 3);
        let history_days = history_days(r);
        let health_url = r.optional("BRIDGE_HEALTH_URL");
        let admin_ids = admin_ids(r);
        let timeout_secs: u64 = r.parse_or("BRIDGE_TIMEOUT_SECONDS", 10);
        let file_link_secs: i64 = r.parse_or("BRIDGE_FILE_LINK_SECONDS", 3600);
        let file_max_bytes: usize = r.parse_or("BRIDGE_FILE_MAX_BYTES", 4 * 1024 * 1024);
        let user_limit = user_limit(r);
        Some(Self {
            bot_token,
            enabled,
            api_url,
            public_url,
            reply_token,
            signing_secret,
            signing_secret_next,
            retry_base_secs: retry_base_secs.max(1),
            fallback_after: fallback_after.max(1),
            history_days,
            health_url,
            admin_ids,
            // Within the worker's 30 s, with room for its own writes.
            timeout_secs: timeout_secs.clamp(1, 20),
            file_link_secs: file_link_secs.clamp(60, 7 * 24 * 3600),
            file_max_bytes,
            user_limit,
        })
    }

    /// The secrets that sign what we send and may sign a reply: the current one first.
    pub fn signing_secrets(&self) -> Vec<&str> {
        std::iter::once(&self.signing_secret)
            .chain(&self.signing_secret_next)
            .map(Secret::expose)
            .collect()
    }

    /// The URL the system answers to: `<base>/bridge/reply/<token>`.
    pub fn reply_url(&self, base: &str) -> String {
        format!("{base}/bridge/reply/{}", self.reply_token.expose())
    }

    /// The wait before try `n + 1` after `n` failed: base × 2^(n−1), at most five minutes.
    pub fn backoff_secs(&self, failed: u32) -> u32 {
        let doubled = u64::from(self.retry_base_secs) << failed.saturating_sub(1).min(20);
        doubled.min(u64::from(MAX_RETRY_SECS)) as u32
    }
}
