//! lead-submit: `POST /api/integrations/send-batch` takes a lead for several integrations;
//! `GET /api/leads/{lead_id}` tells how its delivery is going; `POST /api/leads/{lead_id}/retry`
//! sends its failed deliveries again.

use async_trait::async_trait;
use zayavka::Deps;
use zayavka::api_keys::{ApiKeys, Caller, Scope};
use zayavka::config::{ConfigError, EnvReader, EnvSource};
use zayavka::http::{ApiError, ApiRequest, ApiResponse, HttpFunction, no_route};
use zayavka::leads::replay::{self, ReplayError};
use zayavka::leads::request::{self, Defaults};
use zayavka::leads::submit::{self, SubmitError};

pub const NAME: &str = "lead-submit";
pub const SUBMIT: &str = "POST /api/integrations/send-batch";
pub const STATUS: &str = "GET /api/leads/{lead_id}";
pub const RETRY: &str = "POST /api/leads/{lead_id}/retry";
/// The largest request body taken.
pub const MAX_BODY: usize = 256 * 1024;

#[derive(Debug, Clone)]
pub struct Config {
    pub api_keys: ApiKeys,
    pub defaults: Defaults,
}

impl Config {
    pub fn read(env: &dyn EnvSource) -> Result<Self, ConfigError> {
        let mut r = EnvReader::new(env);
        let api_keys = ApiKeys::read(&mut r);
        let defaults = Defaults::read(&mut r);
        r.finish()?;
        Ok(Self { api_keys, defaults })
    }
}

pub struct LeadSubmit {
    deps: Deps,
    cfg: Config,
}

impl LeadSubmit {
    pub fn new(deps: Deps, cfg: Config) -> Self {
        Self { deps, cfg }
    }

    async fn submit(&self, caller: &Caller, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
        let body: serde_json::Value = req.json(MAX_BODY)?;
        let sub = request::parse(&body, &self.cfg.defaults)
            .map_err(|e| ApiError::invalid(&e.field, e.message))?;
        let key = request::idempotency_key(req.header("idempotency-key"))
            .map_err(|e| ApiError::invalid(&e.field, e.message))?;
        let patience = self.cfg.defaults.patience_ms;
        match submit::submit(&self.deps, caller, key, sub, patience).await {
            Ok((view, true)) => Ok(ApiResponse::json(202, &view)),
            Ok((view, false)) => Ok(ApiResponse::json(200, &view)),
            Err(SubmitError::NotYours) => Err(ApiError::new(
                409,
                "conflict",
                "this lead_id or Idempotency-Key is taken; choose another",
            )),
            Err(SubmitError::KeyConflict) => Err(ApiError::new(
                409,
                "conflict",
                "a concurrent request with this Idempotency-Key or lead_id is still being stored; retry",
            )),
            // Logged where it happened, with the lead's ids.
            Err(SubmitError::NotQueued(_)) => Err(ApiError::new(
                503,
                "unavailable",
                "the lead's deliveries could not all be queued, so it is not stored; send the same request again",
            )),
            Err(SubmitError::Store(e)) if e.is_retryable() => Err(ApiError::unavailable(e)),
            Err(SubmitError::Store(e)) => Err(ApiError::internal(e)),
        }
    }

    /// A `leads` key reads the leads it submitted; another key's lead is 404, as if it did
    /// not exist.
    async fn status(&self, caller: &Caller, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
        let id = req.path_param("lead_id")?;
        match submit::lead_status_for(&self.deps, caller, id).await {
            Ok(Some(view)) => Ok(ApiResponse::json(200, &view)),
            Ok(None) => Err(ApiError::not_found(format!("no lead {id}"))),
            Err(e) if e.is_retryable() => Err(ApiError::unavailable(e)),
            Err(e) => Err(ApiError::internal(e)),
        }
    }
}

impl LeadSubmit {
    /// A `leads` key replays the leads it submitted (another key's lead is 404); an admin
    /// key any.
    async fn retry(&self, caller: &Caller, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
        let id = req.path_param("lead_id")?;
        let body: serde_json::Value = if req.body.iter().all(u8::is_ascii_whitespace) {
            serde_json::Value::Null
        } else {
            req.json(MAX_BODY)?
        };
        let ask = request::parse_replay(&body, &self.cfg.defaults)
            .map_err(|e| ApiError::invalid(&e.field, e.message))?;
        let owns = |owner: Option<&str>| caller.owns(owner);
        let patience = self.cfg.defaults.patience_ms;
        match replay::replay(&self.deps, id, owns, caller.key_id(), ask, patience).await {
            Ok(done) => Ok(ApiResponse::json(202, &done)),
            Err(ReplayError::NotFound) => Err(ApiError::not_found(format!("no lead {id}"))),
            Err(ReplayError::Refused(why)) => Err(ApiError::new(409, "conflict", why)),
            Err(ReplayError::NotQueued(_)) => Err(ApiError::new(
                503,
                "unavailable",
                "the replay's deliveries could not all be queued; send the same request again",
            )),
            Err(ReplayError::Store(e)) if e.is_retryable() => Err(ApiError::unavailable(e)),
            Err(ReplayError::Store(e)) => Err(ApiError::internal(e)),
        }
    }
}

#[async_trait]
impl HttpFunction for LeadSubmit {
    fn name(&self) -> &'static str {
        NAME
    }

    fn backend(&self) -> zayavka::deps::Backend {
        self.deps.backend
    }

    fn routes(&self) -> Vec<&'static str> {
        vec!["GET /health/lead-submit", SUBMIT, STATUS, RETRY]
    }

    async fn handle(&self, req: ApiRequest) -> Result<ApiResponse, ApiError> {
        match req.route_key.as_str() {
            SUBMIT => {
                let caller = self.cfg.api_keys.authorize(&req, Scope::Leads)?;
                self.submit(&caller, &req).await
            }
            RETRY => {
                let caller = self.cfg.api_keys.authorize(&req, Scope::Leads)?;
                self.retry(&caller, &req).await
            }
            STATUS => {
                let caller = self.cfg.api_keys.authorize(&req, Scope::Leads)?;
                self.status(&caller, &req).await
            }
            _ => Err(no_route(&req)),
        }
    }
}

/// The one constructor, shared by `main.rs` and `zayavka serve`.
pub fn from_env(w: &zayavka::deps::Wiring<'_>) -> Result<LeadSubmit, zayavka::config::ConfigError> {
    Ok(LeadSubmit::new(w.deps.clone(), Config::read(w.env)?))
}
