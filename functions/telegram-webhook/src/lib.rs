//! telegram-webhook: `POST /telegram/{bot}/webhook` for every bot of the deployment
//! (`main`, `support`, `staff`, `bridge`), each with its own token and secret; any one of them runs
//! without the others (only the main bot needs Okdesk). Updates are checked,
//! claimed once, and handed to the bot's handler; the bots' own behaviour is added by the
//! support relay and helpdesk capabilities.

use std::sync::Arc;

use async_trait::async_trait;
use zayavka::Deps;
use zayavka::bridge::bot::BridgeBot;
use zayavka::bridge::config::BridgeConfig;
use zayavka::config::{ConfigError, EnvReader, EnvSource};
use zayavka::helpdesk::bot::HelpdeskBot;
use zayavka::helpdesk::config::OkdeskConfig;
use zayavka::http::{ApiError, ApiRequest, ApiResponse, HttpFunction, no_route};
use zayavka::leads::press::{NoticeBot, ReplayButton};
use zayavka::support::bot::{SupportBot, SupportConfig};
use zayavka::telegram::BotApi;
use zayavka::telegram::limits::SendLimits;
use zayavka::telegram::webhook::{BotConfig, BotHandler, SECRET_HEADER, Webhook, read_bots};
use zayavka::tickets::bot::StaffBot;
use zayavka::tickets::config::TicketsConfig;

pub const NAME: &str = "telegram-webhook";
pub const ROUTE: &str = "POST /telegram/{bot}/webhook";
/// Telegram's updates are small; anything larger is not one.
pub const MAX_BODY: usize = 1024 * 1024;

#[derive(Debug, Clone)]
pub struct Config {
    pub bots: Vec<BotConfig>,
    /// `TELEGRAM_API_BASE`.
    pub api_base: String,
    /// The support bot's settings, when the support bot is configured.
    pub support: Option<SupportConfig>,
    /// Okdesk, which the main bot is the helpdesk front of.
    pub okdesk: Option<OkdeskConfig>,
    /// The executor workflow, which the staff bot serves.
    pub tickets: TicketsConfig,
    /// The chat bridge, which the bridge bot serves.
    pub bridge: Option<BridgeConfig>,
    /// The bot of the admins' lead notices, whose «Повторить» presses are handled here.
    pub notices: Option<NoticeBot>,
}

impl Config {
    pub fn read(env: &dyn EnvSource) -> Result<Self, ConfigError> {
        let mut r = EnvReader::new(env);
        let bots = read_bots(&mut r);
        let api_base = zayavka::telegram::config::api_base(&mut r);
        let support = bots
            .iter()
            .any(|b| b.name == "support")
            .then(|| SupportConfig::read(&mut r));
        let okdesk = OkdeskConfig::read(&mut r);
        let tickets = TicketsConfig::read(&mut r);
        let bridge = BridgeConfig::read_if_configured(&mut r);
        let notices = NoticeBot::read(&mut r);
        if okdesk.is_none() && bots.iter().any(|b| b.name == "main") {
            r.problem("OKDESK_API_URL is not set, but the main bot is the helpdesk bot on Okdesk");
        }
        r.finish()?;
        Ok(Self {
            bots,
            api_base,
            support,
            okdesk,
            tickets,
            bridge,
            notices,
        })
    }
}

pub struct TelegramWebhook {
    deps: Deps,
    webhook: Webhook,
}

impl TelegramWebhook {
    pub fn new(deps: Deps, cfg: Config) -> Result<Self, ConfigError> {
        let http = zayavka::outbound::client(std::time::Duration::from_secs(10))?;
        let limits = Arc::new(SendLimits::telegram_defaults());
        let token_of = |name: &str| {
            cfg.bots
                .iter()
                .find(|b| b.name == name)
                .map(|b| b.token.clone())
        };
        let support_token = token_of("support");
        let main_token = token_of("main");
        let staff_token = token_of("staff");
        let bridge_token = token_of("bridge");
        // The lead notices' bot, when it is one of these: its «Повторить» presses come here.
        let notices = cfg.notices.as_ref().and_then(|n| {
            let bot = cfg.bots.iter().find(|b| b.token == n.token.expose())?;
            Some((bot.name, bot.token.clone(), n.clone()))
        });
        let mut webhook = Webhook::new(
            deps.table.clone(),
            deps.clock.clone(),
            deps.metrics.clone(),
            cfg.bots,
        );
        if let (Some(token), Some(okdesk)) = (main_token, cfg.okdesk) {
            let api = BotApi::new(http.clone(), &cfg.api_base, &token)
                .with_inline_wait(std::time::Duration::from_secs(5))
                .with_metrics(deps.metrics.clone())
                .with_limits(limits.clone());
            let client = okdesk.client_with(http.clone());
            webhook = webhook.with_handler(
                "main",
                Arc::new(HelpdeskBot::new(deps.clone(), api, client, okdesk)),
            );
        }
        if let (Some(token), Some(support)) = (support_token, cfg.support) {
            // Short flood waits are absorbed while answering; Telegram waits up to 60 s.
            let api = BotApi::new(http.clone(), &cfg.api_base, &token)
                .with_inline_wait(std::time::Duration::from_secs(5))
                .with_metrics(deps.metrics.clone())
                .with_limits(limits.clone());
            webhook = webhook.with_handler(
                "support",
                Arc::new(SupportBot::new(deps.clone(), api, support)),
            );
        }
        if let (Some(token), Some(bridge)) = (bridge_token, cfg.bridge) {
            let api = BotApi::new(http.clone(), &cfg.api_base, &token)
                .with_inline_wait(std::time::Duration::from_secs(5))
                .with_metrics(deps.metrics.clone())
                .with_limits(limits.clone());
            webhook = webhook.with_handler(
                "bridge",
                Arc::new(BridgeBot::new(deps.clone(), api, bridge, http.clone())),
            );
        }
        if let Some(token) = staff_token {
            let api = BotApi::new(http.clone(), &cfg.api_base, &token)
                .with_inline_wait(std::time::Duration::from_secs(5))
                .with_metrics(deps.metrics.clone())
                .with_limits(limits.clone());
            webhook = webhook.with_handler(
                "staff",
                Arc::new(StaffBot::new(deps.clone(), api, cfg.tickets)),
            );
        }
        // Last: it wraps whichever handler that bot was given.
        if let Some((name, token, n)) = notices {
            let api = BotApi::new(http, &cfg.api_base, &token)
                .with_metrics(deps.metrics.clone())
                .with_limits(limits.clone());
            let inner = webhook.handler(name);
            let button = ReplayButton {
                deps: deps.clone(),
                api,
                admin_chat: n.admin_chat,
                inner,
            };
            webhook = webhook.with_handler(name, Arc::new(button));
        }
        Ok(Self { deps, webhook })
    }

    /// For `zayavka poll`: an update fetched with getUpdates, handled as the webhook would.
    pub async fn deliver(
        &self,
        bot: &str,
        update: serde_json::Value,
    ) -> Result<ApiResponse, ApiError> {
        self.webhook.deliver(bot, update).await
    }

    pub fn with_handler(mut self, bot: &str, handler: Arc<dyn BotHandler>) -> Self {
        self.webhook = self.webhook.with_handler(bot, handler);
        self
    }
}

#[async_trait]
impl HttpFunction for TelegramWebhook {
    fn name(&self) -> &'static str {
        NAME
    }

    fn backend(&self) -> zayavka::deps::Backend {
        self.deps.backend
    }

    fn routes(&self) -> Vec<&'static str> {
        vec!["GET /health/telegram-webhook", ROUTE]
    }

    async fn handle(&self, req: ApiRequest) -> Result<ApiResponse, ApiError> {
        if req.route_key != ROUTE {
            return Err(no_route(&req));
        }
        if req.body.len() > MAX_BODY {
            return Err(ApiError::too_large(MAX_BODY));
        }
        let bot = req.path_param("bot")?;
        // The URL Telegram called is this API's: the bridge gives the outside system reply
        // and file links on it when ZAYAVKA_PUBLIC_URL does not say otherwise.
        let public_url = req.header("host").map(|host| {
            let scheme = req.header("x-forwarded-proto").unwrap_or("https");
            format!("{scheme}://{host}")
        });
        self.webhook
            .receive(
                bot,
                req.header(SECRET_HEADER),
                &req.body,
                public_url.as_deref(),
            )
            .await
    }
}

/// The one constructor, shared by `main.rs` and `zayavka serve`.
pub fn from_env(
    w: &zayavka::deps::Wiring<'_>,
) -> Result<TelegramWebhook, zayavka::config::ConfigError> {
    TelegramWebhook::new(w.deps.clone(), Config::read(w.env)?)
}
