//! support-form: Support relay entry: `/support`, `/api/feedback/submit` and `/api/feedback/threads` come with the support relay issue.
//! Until then it answers the health check every HTTP function answers.

use async_trait::async_trait;
use zayavka::Deps;
use zayavka::http::{ApiError, ApiRequest, ApiResponse, HttpFunction, health, is_health, no_route};

pub const NAME: &str = "support-form";

pub struct SupportForm {
    deps: Deps,
}

impl SupportForm {
    pub fn new(deps: Deps) -> Self {
        Self { deps }
    }
}

#[async_trait]
impl HttpFunction for SupportForm {
    fn name(&self) -> &'static str {
        NAME
    }

    fn routes(&self) -> Vec<&'static str> {
        vec!["GET /health/support-form"]
    }

    async fn handle(&self, req: ApiRequest) -> Result<ApiResponse, ApiError> {
        if is_health(&req.route_key, NAME) {
            return Ok(health(NAME, self.deps.backend));
        }
        Err(no_route(&req))
    }
}
