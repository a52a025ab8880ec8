//! support-form: the website side of the support relay.
//!
//! - `GET /support`, `POST /support`: an HTML form that works without JavaScript;
//! - `POST /api/feedback/submit`, `GET /api/feedback/threads`: the same for a site widget,
//!   with CORS limited to `SUPPORT_ALLOWED_ORIGINS`.
//!
//! A logged-in site user is `user_id` + `user_hash` (hex HMAC-SHA256 of the id with
//! `SUPPORT_USER_HASH_SECRET`, computed by the site); an anonymous visitor gets a random
//! thread token (a cookie on the page, a field in the API).

mod page;

use async_trait::async_trait;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use serde_json::json;
use sha2::Sha256;
use zayavka::Deps;
use zayavka::config::{ConfigError, EnvReader, EnvSource};
use zayavka::http::{
    ApiError, ApiRequest, ApiResponse, HttpFunction, constant_time_eq, health, is_health, no_route,
};
use zayavka::ports::table::{Key, StoreError, Update};
use zayavka::support::bot::{SupportBot, SupportConfig};
use zayavka::support::{self as store, Thread};
use zayavka::telegram::BotApi;
use zayavka::texts::Lang;

pub const NAME: &str = "support-form";
pub const PAGE: &str = "GET /support";
pub const POST_PAGE: &str = "POST /support";
pub const SUBMIT: &str = "POST /api/feedback/submit";
pub const THREADS: &str = "GET /api/feedback/threads";
pub const SUBMIT_PREFLIGHT: &str = "OPTIONS /api/feedback/submit";
pub const THREADS_PREFLIGHT: &str = "OPTIONS /api/feedback/threads";
pub const COOKIE: &str = "zayavka_thread";
pub const MAX_BODY: usize = 32 * 1024;
pub const MAX_MESSAGE: usize = 4000;
pub const MAX_SUBJECT: usize = 200;

#[derive(Debug, Clone)]
pub struct Config {
    pub bot_token: String,
    pub bot_username: Option<String>,
    /// The admins' chat and language.
    pub support: SupportConfig,
    pub api_base: String,
    pub user_hash_secret: Option<String>,
    pub allowed_origins: Vec<String>,
    /// Messages allowed per client address and per user in one window.
    pub rate_limit: u32,
    pub rate_window_secs: i64,
}

impl Config {
    pub fn read(env: &dyn EnvSource) -> Result<Self, ConfigError> {
        let mut r = EnvReader::new(env);
        let bot_token = r.required("TELEGRAM_SUPPORT_BOT_TOKEN");
        let cfg = Self {
            bot_token,
            bot_username: r
                .optional("TELEGRAM_SUPPORT_BOT_USERNAME")
                .map(|u| u.trim_start_matches('@').to_string()),
            support: SupportConfig::read(&mut r),
            api_base: zayavka::telegram::config::api_base(&mut r),
            user_hash_secret: r.optional("SUPPORT_USER_HASH_SECRET"),
            allowed_origins: r.list("SUPPORT_ALLOWED_ORIGINS"),
            rate_limit: r.parse_or("SUPPORT_RATE_LIMIT", 5),
            rate_window_secs: r.parse_or("SUPPORT_RATE_WINDOW_SECONDS", 600),
        };
        r.finish()?;
        Ok(cfg)
    }
}

pub struct SupportForm {
    deps: Deps,
    cfg: Option<Config>,
    bot: Option<SupportBot>,
    api: Option<BotApi>,
    username: tokio::sync::OnceCell<String>,
}

/// A submitted message, from the form or the API.
#[derive(Debug, Default, Deserialize)]
pub struct Submission {
    #[serde(default)]
    pub subject: Option<String>,
    #[serde(default)]
    pub message: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub email: String,
    #[serde(default)]
    pub user_id: Option<String>,
    #[serde(default)]
    pub user_hash: Option<String>,
    #[serde(default)]
    pub thread_token: Option<String>,
    /// The honeypot: people leave it empty, form-filling bots do not.
    #[serde(default)]
    pub website: Option<String>,
}

/// What a successful submission gives back.
pub struct Accepted {
    pub id: String,
    pub thread_token: Option<String>,
    pub binding_url: Option<String>,
}

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

fn random_token() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    )
}

impl SupportForm {
    /// Without the support bot's settings the function only answers its health check.
    pub fn new(deps: Deps, cfg: Option<Config>) -> Self {
        let (bot, api) = match &cfg {
            Some(c) => {
                let http = zayavka::outbound::client(std::time::Duration::from_secs(10));
                let api = BotApi::new(http, &c.api_base, &c.bot_token)
                    .with_inline_wait(std::time::Duration::from_secs(3));
                let bot = SupportBot::new(deps.clone(), api.clone(), c.support.clone());
                (Some(bot), Some(api))
            }
            None => (None, None),
        };
        Self {
            deps,
            cfg,
            bot,
            api,
            username: tokio::sync::OnceCell::new(),
        }
    }

    fn configured(&self) -> Result<(&Config, &SupportBot), ApiError> {
        match (&self.cfg, &self.bot) {
            (Some(c), Some(b)) => Ok((c, b)),
            _ => Err(ApiError::new(
                503,
                "not_configured",
                "support is not configured on this deployment",
            )),
        }
    }

    /// Who is writing: a verified site user, or an anonymous thread (new when `None`).
    fn identify(&self, cfg: &Config, s: &Submission) -> Result<(String, Option<String>), ApiError> {
        if let Some(user_id) = s.user_id.as_deref().filter(|u| !u.is_empty()) {
            let secret = cfg.user_hash_secret.as_deref().ok_or_else(|| {
                ApiError::forbidden(
                    "site users are not accepted here (no SUPPORT_USER_HASH_SECRET)",
                )
            })?;
            let given = s.user_hash.as_deref().unwrap_or_default();
            if user_id.len() > 128 || !constant_time_eq(given, &user_hash(secret, user_id)) {
                return Err(ApiError::forbidden("user_hash does not match user_id"));
            }
            return Ok((format!("u:{user_id}"), None));
        }
        match s.thread_token.as_deref().filter(|t| !t.is_empty()) {
            Some(t) if t.len() <= 64 && t.chars().all(|c| c.is_ascii_alphanumeric()) => {
                Ok((format!("a:{t}"), Some(t.to_string())))
            }
            Some(_) => Err(ApiError::invalid("thread_token", "not a thread token")),
            None => {
                let t = random_token();
                Ok((format!("a:{t}"), Some(t)))
            }
        }
    }

    fn validate(s: &Submission) -> Result<(), ApiError> {
        let message = s.message.trim();
        if message.is_empty() {
            return Err(ApiError::invalid("message", "is required"));
        }
        if message.chars().count() > MAX_MESSAGE {
            return Err(ApiError::invalid(
                "message",
                format!("at most {MAX_MESSAGE} characters"),
            ));
        }
        if s.subject
            .as_deref()
            .is_some_and(|x| x.chars().count() > MAX_SUBJECT)
        {
            return Err(ApiError::invalid(
                "subject",
                format!("at most {MAX_SUBJECT} characters"),
            ));
        }
        if s.name.trim().is_empty() || s.name.chars().count() > 100 {
            return Err(ApiError::invalid(
                "name",
                "is required (at most 100 characters)",
            ));
        }
        if !zayavka::ports::mailer::looks_like_address(s.email.trim()) {
            return Err(ApiError::invalid("email", "is not an e-mail address"));
        }
        Ok(())
    }

    /// One more message from this address and this user in the current window, or 429.
    async fn rate_limit(&self, cfg: &Config, who: &[String]) -> Result<(), ApiError> {
        let now = self.deps.clock.now_secs();
        let window = now - now.rem_euclid(cfg.rate_window_secs.max(1));
        for subject in who {
            let key = Key::new(format!("support#rate#{subject}"), window.to_string());
            let item = self
                .deps
                .table
                .update(
                    &key,
                    Update::new()
                        .add("n", 1)
                        .set("ttl", window + cfg.rate_window_secs.max(1) + 60),
                )
                .await
                .map_err(store_err)?;
            let n = match item.get("n") {
                Some(zayavka::ports::AttributeValue::N(n)) => n.parse::<u32>().unwrap_or(u32::MAX),
                _ => 0,
            };
            if n > cfg.rate_limit {
                return Err(ApiError::too_many_requests(format!(
                    "too many messages; please wait {} minutes and try again",
                    (cfg.rate_window_secs.max(60) / 60)
                )));
            }
        }
        Ok(())
    }

    async fn bot_username(&self) -> Option<String> {
        if let Some(u) = self.cfg.as_ref().and_then(|c| c.bot_username.clone()) {
            return Some(u);
        }
        let api = self.api.as_ref()?;
        self.username
            .get_or_try_init(|| async {
                api.get_me().await.map(|me| me.username.unwrap_or_default())
            })
            .await
            .ok()
            .filter(|u| !u.is_empty())
            .cloned()
    }

    /// Stores the message, tells the admins, and says how to connect Telegram if needed.
    pub async fn accept(
        &self,
        s: Submission,
        source_ip: Option<&str>,
    ) -> Result<Accepted, ApiError> {
        let (cfg, bot) = self.configured()?;
        if s.website.as_deref().is_some_and(|w| !w.is_empty()) {
            // A bot filled the hidden field: pretend all is well and keep nothing.
            return Ok(Accepted {
                id: "0".into(),
                thread_token: None,
                binding_url: None,
            });
        }
        Self::validate(&s)?;
        let (user_key, thread_token) = self.identify(cfg, &s)?;
        let mut who = vec![format!("user#{user_key}")];
        if let Some(ip) = source_ip {
            who.push(format!("ip#{ip}"));
        }
        self.rate_limit(cfg, &who).await?;
        let thread: Thread =
            store::ensure_thread(&self.deps, &user_key, s.name.trim(), Some(s.email.trim()))
                .await
                .map_err(store_err)?;
        let subject = s
            .subject
            .map(|x| x.trim().to_string())
            .filter(|x| !x.is_empty());
        let mut msg = store::new_message(
            &self.deps,
            &user_key,
            false,
            "site",
            subject,
            s.message.trim().to_string(),
        );
        store::record(&self.deps, &msg).await.map_err(store_err)?;
        if let Err(e) = bot.to_admin(&thread, &mut msg).await {
            // Stored: the thread shows it; the admins are not told this time.
            tracing::error!(error = %e, id = %msg.id, "support message stored but not sent to the admins");
        }
        let binding_url = if thread.chat_id.is_none() {
            let token = store::new_binding_token(&self.deps, &user_key)
                .await
                .map_err(store_err)?;
            self.bot_username()
                .await
                .map(|u| format!("https://t.me/{u}?start={token}"))
        } else {
            None
        };
        Ok(Accepted {
            id: msg.id,
            thread_token,
            binding_url,
        })
    }

    fn cors(&self, req: &ApiRequest, mut r: ApiResponse) -> ApiResponse {
        let allowed = self
            .cfg
            .as_ref()
            .map(|c| c.allowed_origins.as_slice())
            .unwrap_or_default();
        if let Some(origin) = req.header("origin")
            && allowed.iter().any(|o| o == origin)
        {
            r = r
                .header("access-control-allow-origin", origin)
                .header("vary", "Origin")
                .header("access-control-allow-methods", "GET, POST, OPTIONS")
                .header("access-control-allow-headers", "content-type")
                .header("access-control-max-age", "600");
        }
        r
    }

    async fn threads(&self, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
        let (cfg, _) = self.configured()?;
        let s = Submission {
            user_id: req.query.get("user_id").cloned(),
            user_hash: req.query.get("user_hash").cloned(),
            thread_token: req.query.get("thread_token").cloned(),
            ..Submission::default()
        };
        if s.user_id.is_none() && s.thread_token.is_none() {
            return Err(ApiError::invalid(
                "thread_token",
                "give user_id and user_hash, or thread_token",
            ));
        }
        let (user_key, _) = self.identify(cfg, &s)?;
        let messages = store::messages(&self.deps, &user_key)
            .await
            .map_err(store_err)?;
        let list: Vec<_> = messages
            .iter()
            .map(|m| json!({"id": m.id, "from": if m.from_admin { "support" } else { "you" }, "source": m.source,
                            "subject": m.subject, "text": m.text, "created_at": m.created_at}))
            .collect();
        Ok(ApiResponse::json(200, &json!({"messages": list})))
    }
}

fn store_err(e: StoreError) -> ApiError {
    if e.is_retryable() {
        ApiError::unavailable(e)
    } else {
        ApiError::internal(e)
    }
}

fn form_body(req: &ApiRequest) -> Result<Submission, ApiError> {
    if req.body.len() > MAX_BODY {
        return Err(ApiError::too_large(MAX_BODY));
    }
    serde_urlencoded_like(&req.body)
}

/// Parses `application/x-www-form-urlencoded`.
fn serde_urlencoded_like(body: &[u8]) -> Result<Submission, ApiError> {
    let pairs: Vec<(String, String)> = url_pairs(body);
    let get = |k: &str| pairs.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    Ok(Submission {
        subject: get("subject"),
        message: get("message").unwrap_or_default(),
        name: get("name").unwrap_or_default(),
        email: get("email").unwrap_or_default(),
        user_id: None,
        user_hash: None,
        thread_token: None,
        website: get("website"),
    })
}

fn url_pairs(body: &[u8]) -> Vec<(String, String)> {
    reqwest::Url::parse(&format!("http://x/?{}", String::from_utf8_lossy(body)))
        .map(|u| {
            u.query_pairs()
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect()
        })
        .unwrap_or_default()
}

fn cookie_token(req: &ApiRequest) -> Option<String> {
    req.header("cookie")
        .into_iter()
        .flat_map(|c| c.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.to_string())
}

#[async_trait]
impl HttpFunction for SupportForm {
    fn name(&self) -> &'static str {
        NAME
    }

    fn routes(&self) -> Vec<&'static str> {
        vec![
            "GET /health/support-form",
            PAGE,
            POST_PAGE,
            SUBMIT,
            THREADS,
            SUBMIT_PREFLIGHT,
            THREADS_PREFLIGHT,
        ]
    }

    async fn handle(&self, req: ApiRequest) -> Result<ApiResponse, ApiError> {
        if is_health(&req.route_key, NAME) {
            return Ok(health(NAME, self.deps.backend));
        }
        let lang = Lang::from_code(req.header("accept-language"));
        match req.route_key.as_str() {
            PAGE => Ok(ApiResponse::html(
                200,
                page::form(lang, None, &page::Values::default()),
            )),
            POST_PAGE => {
                let mut s = form_body(&req)?;
                s.thread_token = cookie_token(&req);
                let values = page::Values {
                    subject: s.subject.clone().unwrap_or_default(),
                    message: s.message.clone(),
                    name: s.name.clone(),
                    email: s.email.clone(),
                };
                match self.accept(s, req.source_ip.as_deref()).await {
                    Ok(a) => {
                        let mut r =
                            ApiResponse::html(200, page::success(lang, a.binding_url.as_deref()));
                        if let Some(t) = a.thread_token {
                            r.cookies.push(format!("{COOKIE}={t}; Path=/; Max-Age=31536000; HttpOnly; Secure; SameSite=Lax"));
                        }
                        Ok(r)
                    }
                    Err(e) if matches!(e.status, 422 | 429) => Ok(ApiResponse::html(
                        e.status,
                        page::form(lang, Some(&e.message), &values),
                    )),
                    Err(e) => Err(e),
                }
            }
            SUBMIT => {
                let s: Submission = req.json(MAX_BODY)?;
                let a = self.accept(s, req.source_ip.as_deref()).await;
                let r = match a {
                    Ok(a) => ApiResponse::json(
                        200,
                        &json!({"id": a.id, "thread_token": a.thread_token, "telegram_binding_url": a.binding_url}),
                    ),
                    Err(e) => e.into(),
                };
                Ok(self.cors(&req, r))
            }
            THREADS => {
                let r = match self.threads(&req).await {
                    Ok(r) => r,
                    Err(e) => e.into(),
                };
                Ok(self.cors(&req, r))
            }
            SUBMIT_PREFLIGHT | THREADS_PREFLIGHT => {
                Ok(self.cors(&req, ApiResponse::new(204, "text/plain", String::new())))
            }
            _ => Err(no_route(&req)),
        }
    }
}

/// Builds the function from the environment: support settings when the support bot is
/// configured, nothing but the health check otherwise.
pub fn from_env(deps: Deps, env: &dyn EnvSource) -> Result<SupportForm, ConfigError> {
    let configured = env
        .var("TELEGRAM_SUPPORT_BOT_TOKEN")
        .is_some_and(|t| !t.trim().is_empty());
    let cfg = if configured {
        Some(Config::read(env)?)
    } else {
        None
    };
    Ok(SupportForm::new(deps, cfg))
}
