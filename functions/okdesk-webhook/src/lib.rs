//! okdesk-webhook: `POST /okdesk/webhook/{token}` takes Okdesk's outgoing webhooks. Okdesk
//! signs nothing, so the URL carries a long random token (compared in constant time with
//! `OKDESK_WEBHOOK_TOKEN`; anything else is 404, as if the route were not there). Status
//! changes and public comments become client notices on the `notifications` queue; other
//! events are acknowledged and dropped.

use async_trait::async_trait;
use zayavka::Deps;
use zayavka::config::{ConfigError, EnvReader, EnvSource};
use zayavka::helpdesk::events::{Incoming, Notice, parse};
use zayavka::http::{ApiError, ApiRequest, ApiResponse, HttpFunction, constant_time_eq, no_route};
use zayavka::notifications::{self, NotificationMessage};

pub const NAME: &str = "okdesk-webhook";
pub const ROUTE: &str = "POST /okdesk/webhook/{token}";
/// An event with a whole issue is a few kilobytes; far more is not Okdesk.
pub const MAX_BODY: usize = 512 * 1024;
/// The token is the only thing standing between the internet and clients' chats.
pub const MIN_TOKEN_LEN: usize = 32;

#[derive(Clone, Default)]
pub struct Config {
    /// `OKDESK_WEBHOOK_TOKEN`; unset: the webhook is off and every call is 404.
    pub token: Option<String>,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("token", &self.token.as_ref().map(|_| "…"))
            .finish()
    }
}

impl Config {
    pub fn read(env: &dyn EnvSource) -> Result<Self, ConfigError> {
        let mut r = EnvReader::new(env);
        let token = r.optional("OKDESK_WEBHOOK_TOKEN");
        if let Some(t) = &token
            && (t.len() < MIN_TOKEN_LEN
                || !t
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'))
        {
            r.problem(format!(
                "OKDESK_WEBHOOK_TOKEN must be at least {MIN_TOKEN_LEN} characters of A-Z a-z 0-9 _ - (e.g. `openssl rand -hex 24`)"
            ));
        }
        r.finish()?;
        Ok(Self { token })
    }
}

pub struct OkdeskWebhook {
    deps: Deps,
    cfg: Config,
}

impl OkdeskWebhook {
    pub fn new(deps: Deps, cfg: Config) -> Self {
        Self { deps, cfg }
    }

    async fn receive(&self, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
        let given = req.path_param("token")?;
        if self.cfg.token.is_none() {
            tracing::warn!("an Okdesk webhook call, but OKDESK_WEBHOOK_TOKEN is not set: 404");
            return Err(ApiError::not_found("no such route"));
        }
        if !self
            .cfg
            .token
            .as_deref()
            .is_some_and(|t| constant_time_eq(given, t))
        {
            tracing::warn!("Okdesk webhook called with an unknown token");
            return Err(ApiError::not_found("no such route"));
        }
        if req.body.len() > MAX_BODY {
            return Err(ApiError::too_large(MAX_BODY));
        }
        let incoming = parse(&req.body).map_err(|e| {
            tracing::warn!(error = %e, "Okdesk webhook body refused");
            ApiError::bad_request(e.0)
        })?;
        match incoming {
            Incoming::Ignored { event_type, reason } => {
                tracing::info!(%event_type, %reason, "Okdesk event ignored");
                Ok(ApiResponse::json(
                    200,
                    &serde_json::json!({"status": "ignored", "event_type": event_type, "reason": reason}),
                ))
            }
            Incoming::Notify { event, key } => {
                let issue = event.issue_id();
                tracing::info!(issue, %key, "Okdesk event queued for the client");
                // Okdesk may send it again after a failure; the notice's key keeps the client
                // from hearing it twice.
                notifications::QUEUE
                    .send(
                        self.deps.queue.as_ref(),
                        &NotificationMessage::Helpdesk(Notice::new(key, event)),
                    )
                    .await
                    .map_err(ApiError::unavailable)?;
                Ok(ApiResponse::json(
                    202,
                    &serde_json::json!({"status": "queued", "issue_id": issue}),
                ))
            }
        }
    }
}

#[async_trait]
impl HttpFunction for OkdeskWebhook {
    fn name(&self) -> &'static str {
        NAME
    }

    fn backend(&self) -> zayavka::deps::Backend {
        self.deps.backend
    }

    fn routes(&self) -> Vec<&'static str> {
        vec!["GET /health/okdesk-webhook", ROUTE]
    }

    async fn handle(&self, req: ApiRequest) -> Result<ApiResponse, ApiError> {
        if req.route_key != ROUTE {
            return Err(no_route(&req));
        }
        self.receive(&req).await
    }
}

/// The one constructor, shared by `main.rs` and `zayavka serve`.
pub fn from_env(
    w: &zayavka::deps::Wiring<'_>,
) -> Result<OkdeskWebhook, zayavka::config::ConfigError> {
    Ok(OkdeskWebhook::new(w.deps.clone(), Config::read(w.env)?))
}
