//! telegram-webhook: Telegram updates for every bot: `POST /telegram/{bot}/webhook` comes with the Telegram core issue.
//! Until then it answers the health check every HTTP function answers.

use async_trait::async_trait;
use zayavka::Deps;
use zayavka::http::{ApiError, ApiRequest, ApiResponse, HttpFunction, health, is_health, no_route};

pub const NAME: &str = "telegram-webhook";

pub struct TelegramWebhook {
    deps: Deps,
}

impl TelegramWebhook {
    pub fn new(deps: Deps) -> Self {
        Self { deps }
    }
}

#[async_trait]
impl HttpFunction for TelegramWebhook {
    fn name(&self) -> &'static str {
        NAME
    }

    fn routes(&self) -> Vec<&'static str> {
        vec!["GET /health/telegram-webhook"]
    }

    async fn handle(&self, req: ApiRequest) -> Result<ApiResponse, ApiError> {
        if is_health(&req.route_key, NAME) {
            return Ok(health(NAME, self.deps.backend));
        }
        Err(no_route(&req))
    }
}
