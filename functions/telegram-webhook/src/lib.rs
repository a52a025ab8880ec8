//! telegram-webhook: `POST /telegram/{bot}/webhook` for every bot of the deployment
//! (`main`, `support`, `bridge`), each with its own token and secret. Updates are checked,
//! claimed once, and handed to the bot's handler; the bots' own behaviour is added by the
//! support relay and helpdesk capabilities.

use std::sync::Arc;

use async_trait::async_trait;
use zayavka::Deps;
use zayavka::config::{ConfigError, EnvReader, EnvSource};
use zayavka::http::{ApiError, ApiRequest, ApiResponse, HttpFunction, health, is_health, no_route};
use zayavka::telegram::webhook::{BotConfig, BotHandler, SECRET_HEADER, Webhook, read_bots};

pub const NAME: &str = "telegram-webhook";
pub const ROUTE: &str = "POST /telegram/{bot}/webhook";
/// Telegram's updates are small; anything larger is not one.
pub const MAX_BODY: usize = 1024 * 1024;

#[derive(Debug, Clone)]
pub struct Config {
    pub bots: Vec<BotConfig>,
}

impl Config {
    pub fn read(env: &dyn EnvSource) -> Result<Self, ConfigError> {
        let mut r = EnvReader::new(env);
        let bots = read_bots(&mut r);
        r.finish()?;
        Ok(Self { bots })
    }
}

pub struct TelegramWebhook {
    deps: Deps,
    webhook: Webhook,
}

impl TelegramWebhook {
    pub fn new(deps: Deps, cfg: Config) -> Self {
        let webhook = Webhook::new(deps.table.clone(), deps.clock.clone(), cfg.bots);
        Self { deps, webhook }
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

    fn routes(&self) -> Vec<&'static str> {
        vec!["GET /health/telegram-webhook", ROUTE]
    }

    async fn handle(&self, req: ApiRequest) -> Result<ApiResponse, ApiError> {
        if is_health(&req.route_key, NAME) {
            return Ok(health(NAME, self.deps.backend));
        }
        if req.route_key != ROUTE {
            return Err(no_route(&req));
        }
        if req.body.len() > MAX_BODY {
            return Err(ApiError::too_large(MAX_BODY));
        }
        let bot = req.path_param("bot")?;
        self.webhook
            .receive(bot, req.header(SECRET_HEADER), &req.body)
            .await
    }
}
