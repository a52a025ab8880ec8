//! lead-submit: Lead fan-out entry: `POST /api/integrations/send-batch` and `GET /api/leads/{lead_id}` come with the lead fan-out issue.
//! Until then it answers the health check every HTTP function answers.

use async_trait::async_trait;
use zayavka::Deps;
use zayavka::http::{ApiError, ApiRequest, ApiResponse, HttpFunction, health, is_health, no_route};

pub const NAME: &str = "lead-submit";

pub struct LeadSubmit {
    deps: Deps,
}

impl LeadSubmit {
    pub fn new(deps: Deps) -> Self {
        Self { deps }
    }
}

#[async_trait]
impl HttpFunction for LeadSubmit {
    fn name(&self) -> &'static str {
        NAME
    }

    fn routes(&self) -> Vec<&'static str> {
        vec!["GET /health/lead-submit"]
    }

    async fn handle(&self, req: ApiRequest) -> Result<ApiResponse, ApiError> {
        if is_health(&req.route_key, NAME) {
            return Ok(health(NAME, self.deps.backend));
        }
        Err(no_route(&req))
    }
}
