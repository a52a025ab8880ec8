//! okdesk-webhook: Okdesk events: `POST /okdesk/webhook/{token}` comes with the helpdesk bot issue.
//! Until then it answers the health check every HTTP function answers.

use async_trait::async_trait;
use zayavka::Deps;
use zayavka::http::{ApiError, ApiRequest, ApiResponse, HttpFunction, health, is_health, no_route};

pub const NAME: &str = "okdesk-webhook";

pub struct OkdeskWebhook {
    deps: Deps,
}

impl OkdeskWebhook {
    pub fn new(deps: Deps) -> Self {
        Self { deps }
    }
}

#[async_trait]
impl HttpFunction for OkdeskWebhook {
    fn name(&self) -> &'static str {
        NAME
    }

    fn routes(&self) -> Vec<&'static str> {
        vec!["GET /health/okdesk-webhook"]
    }

    async fn handle(&self, req: ApiRequest) -> Result<ApiResponse, ApiError> {
        if is_health(&req.route_key, NAME) {
            return Ok(health(NAME, self.deps.backend));
        }
        Err(no_route(&req))
    }
}
