//! bridge-api: the chat bridge's HTTP side.
//!
//! - `POST /bridge/reply/{token}`: the system's answer for a client (the URL we gave it in
//!   `X-Webhook-URL`), signed with `X-Zayavka-Signature` (`BRIDGE_SIGNING_SECRET`): the
//!   token travels with every message, so it names the endpoint and the signature proves
//!   the reply; accepted → 202, queued to the notifications queue.
//! - `GET /bridge/file/{signed}`: a file a user sent, through us (the link expires; a file
//!   the link says is too large is refused before Telegram is asked).
//! - `GET /api/bridge/clients/{client_id}/messages` (API key): the client's messages both
//!   ways with their delivery states.

use async_trait::async_trait;
use base64::Engine;
use serde_json::json;
use zayavka::Deps;
use zayavka::api_keys::{ApiKeys, Scope};
use zayavka::bridge::config::BridgeConfig;
use zayavka::bridge::files::{self, LinkError};
use zayavka::bridge::store::ReplyClaim;
use zayavka::bridge::{replies, store, worker};
use zayavka::config::{ConfigError, EnvReader, EnvSource};
use zayavka::http::{ApiError, ApiRequest, ApiResponse, HttpFunction, constant_time_eq, no_route};
use zayavka::telegram::BotApi;

pub const NAME: &str = "bridge-api";
pub const REPLY: &str = "POST /bridge/reply/{token}";
pub const FILE: &str = "GET /bridge/file/{signed}";
pub const HISTORY: &str = "GET /api/bridge/clients/{client_id}/messages";
pub const MAX_BODY: usize = 256 * 1024;

#[derive(Debug, Clone)]
pub struct Config {
    pub api_keys: ApiKeys,
    pub bridge: Option<BridgeConfig>,
    pub api_base: String,
}

impl Config {
    pub fn read(env: &dyn EnvSource) -> Result<Self, ConfigError> {
        let mut r = EnvReader::new(env);
        let api_keys = ApiKeys::read(&mut r);
        let bridge = BridgeConfig::read_if_configured(&mut r);
        let api_base = zayavka::telegram::config::api_base(&mut r);
        r.finish()?;
        Ok(Self {
            api_keys,
            bridge,
            api_base,
        })
    }
}

struct On {
    cfg: BridgeConfig,
    bot: BotApi,
}

pub struct BridgeApi {
    deps: Deps,
    api_keys: ApiKeys,
    on: Option<On>,
}

/// A reply without an id of its own is a repeat when the same request (body and signature)
/// comes again within this long: as long as one signature is good for (five minutes either
/// side of its time), so a replayed request is always caught.
const SAME_REQUEST_SECS: i64 = 600;

/// The reply in the request's body.
fn parse_reply(req: &ApiRequest) -> Result<replies::Reply, ApiError> {
    let body: serde_json::Value = req.json(MAX_BODY)?;
    replies::parse(&body).map_err(|e| ApiError::invalid(&e.field, e.message))
}

/// What names a reply, and for how long (seconds): its own id when it has one; else its
/// body and signature (a signature has its time, so only a replay of the very request
/// matches), for ten minutes.
fn reply_key(reply: &replies::Reply, req: &ApiRequest, header: &str) -> (String, i64) {
    match &reply.id {
        Some(id) => (format!("id#{}#{id}", reply.client_id), 30 * 24 * 3600),
        None => {
            let mut seen = req.body.clone();
            seen.extend_from_slice(header.as_bytes());
            let hash = zayavka::signature::hmac_hex("bridge-reply", &seen);
            (format!("body#{hash}"), SAME_REQUEST_SECS)
        }
    }
}

impl BridgeApi {
    pub fn new(deps: Deps, cfg: Config) -> Result<Self, ConfigError> {
        let http = zayavka::outbound::client(std::time::Duration::from_secs(20))?;
        let on = cfg.bridge.map(|b| On {
            bot: BotApi::new(http, &cfg.api_base, b.bot_token.expose())
                .with_metrics(deps.metrics.clone()),
            cfg: b,
        });
        Ok(Self {
            deps,
            api_keys: cfg.api_keys,
            on,
        })
    }

    fn on(&self) -> Result<&On, ApiError> {
        // Not configured: the same answer as a wrong token, so nothing is learnt.
        self.on
            .as_ref()
            .ok_or_else(|| ApiError::not_found("no such reply URL"))
    }

    /// `POST /bridge/reply/{token}`: verified, parsed, its client found, claimed (so a
    /// repeat is answered without sending twice), then queued.
    async fn reply(&self, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
        let on = self.on()?;
        let header = self.verified(on, req)?;
        let reply = parse_reply(req)?;
        let client = self.reachable_client(&reply.client_id).await?;
        let (key, ttl) = reply_key(&reply, req, header);
        let Some(at_ms) = self.claim(&key, ttl).await? else {
            return Ok(ApiResponse::json(200, &json!({"status": "duplicate"})));
        };
        let answered_after = at_ms - client.last_in_ms;
        self.queue(on, &key, reply, at_ms, answered_after).await
    }

    /// The reply URL's token, the body's size and the signature checked; the signature
    /// header as read (it names a reply without an id of its own).
    fn verified<'r>(&self, on: &On, req: &'r ApiRequest) -> Result<&'r str, ApiError> {
        let token = req.path_param("token")?;
        if !constant_time_eq(token, on.cfg.reply_token.expose()) {
            tracing::warn!("bridge reply with a wrong token");
            return Err(ApiError::not_found("no such reply URL"));
        }
        if req.body.len() > MAX_BODY {
            return Err(ApiError::too_large(MAX_BODY));
        }
        let now = self.deps.clock.now_ms();
        // Trimmed as `verify` reads it: a replay with a space added is the same request.
        let header = req
            .header(zayavka::signature::HEADER)
            .unwrap_or_default()
            .trim();
        // Either secret while BRIDGE_SIGNING_SECRET_NEXT is being rotated in.
        if !on
            .cfg
            .signing_secrets()
            .iter()
            .any(|secret| zayavka::signature::verify(secret, header, &req.body, now / 1000))
        {
            return Err(ApiError::unauthorized(
                "X-Zayavka-Signature missing, wrong, or older than five minutes",
            ));
        }
        Ok(header)
    }

    /// The reply's client, when it exists and has not blocked the bot.
    async fn reachable_client(&self, client_id: &str) -> Result<store::Client, ApiError> {
        let Some(client) = store::client(&self.deps, client_id)
            .await
            .map_err(ApiError::store)?
        else {
            return Err(ApiError::not_found(format!("no client {client_id}")));
        };
        if client.blocked {
            return Err(ApiError::new(
                410,
                "blocked",
                format!("{client_id} blocked the bot; they get nothing until they write again"),
            ));
        }
        Ok(client)
    }

    /// The reply claimed under `key`: its history entry's time when it is new, `None` when
    /// it is a repeat already queued. The time comes with the claim: a repeat after the
    /// marker is gone is a new entry, and so new sends.
    async fn claim(&self, key: &str, ttl: i64) -> Result<Option<i64>, ApiError> {
        match store::claim_reply(&self.deps, key, ttl)
            .await
            .map_err(ApiError::store)?
        {
            ReplyClaim::New { at_ms } => Ok(Some(at_ms)),
            ReplyClaim::Busy => Err(ApiError::new(
                409,
                "conflict",
                "this reply is being queued; retry",
            )),
            ReplyClaim::Repeat => Ok(None),
        }
    }

    /// The claimed reply accepted and queued; when that fails, the claim is let go so the
    /// system's retry is taken.
    async fn queue(
        &self,
        on: &On,
        key: &str,
        reply: replies::Reply,
        at_ms: i64,
        answered_after: i64,
    ) -> Result<ApiResponse, ApiError> {
        if let Err(e) =
            worker::accept_reply(&self.deps, &on.cfg, key, reply, at_ms, answered_after).await
        {
            if let Err(e) = store::reply_not_queued(&self.deps, key).await {
                tracing::warn!(error = %e, "bridge reply claim not released");
            }
            return Err(ApiError::unavailable(e));
        }
        store::reply_queued(&self.deps, key)
            .await
            .map_err(ApiError::store)?;
        Ok(ApiResponse::json(202, &json!({"status": "queued"})))
    }

    async fn file(&self, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
        let on = self.on()?;
        let signed = req.path_param("signed")?;
        let f = match files::open(&on.cfg, signed, self.deps.clock.now_secs()) {
            Ok(f) => f,
            Err(LinkError::Unknown) => return Err(ApiError::not_found("no such file link")),
            Err(LinkError::Expired) => {
                return Err(ApiError::new(410, "expired", "this file link has expired"));
            }
        };
        let too_large = || {
            ApiError::new(
                413,
                "too_large",
                format!(
                    "the file is larger than {} bytes, more than a link can carry",
                    on.cfg.file_max_bytes
                ),
            )
        };
        // The size Telegram gave is in the signed link: no download for a file refused anyway.
        if f.too_large(on.cfg.file_max_bytes) {
            return Err(too_large());
        }
        let bytes = on.bot.download(&f.f).await.map_err(|e| {
            if e.is_retryable() {
                ApiError::unavailable(e)
            } else {
                ApiError::new(502, "telegram", "Telegram did not give the file")
            }
        })?;
        // A link without a size (Telegram did not say it) is measured after all.
        if bytes.len() > on.cfg.file_max_bytes {
            return Err(too_large());
        }
        let mut r = ApiResponse::new(
            200,
            f.m.as_deref().unwrap_or("application/octet-stream"),
            base64::engine::general_purpose::STANDARD.encode(&bytes),
        )
        .header("cache-control", "private, no-store")
        // Always a download, never a page shown on our origin, whatever the type says.
        .header("x-content-type-options", "nosniff");
        r.is_base64_encoded = true;
        let safe: String =
            f.n.as_deref()
                .unwrap_or("file")
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || "._- ".contains(*c))
                .collect();
        let safe = if safe.trim().is_empty() {
            "file".to_string()
        } else {
            safe
        };
        r = r.header(
            "content-disposition",
            format!("attachment; filename=\"{safe}\""),
        );
        Ok(r)
    }

    async fn history(&self, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
        self.api_keys.authorize(req, Scope::Admin)?;
        let client_id = req.path_param("client_id")?;
        if store::user_of(client_id).is_none() {
            return Err(ApiError::bad_request(
                "client_id: must be telegram_<Telegram user id>",
            ));
        }
        if store::client(&self.deps, client_id)
            .await
            .map_err(ApiError::store)?
            .is_none()
        {
            return Err(ApiError::not_found(format!("no client {client_id}")));
        }
        let items = store::messages(&self.deps, client_id, 200)
            .await
            .map_err(ApiError::store)?;
        Ok(ApiResponse::json(
            200,
            &json!({"client_id": client_id, "items": items}),
        ))
    }
}

#[async_trait]
impl HttpFunction for BridgeApi {
    fn name(&self) -> &'static str {
        NAME
    }

    fn backend(&self) -> zayavka::deps::Backend {
        self.deps.backend
    }

    fn routes(&self) -> Vec<&'static str> {
        vec!["GET /health/bridge-api", REPLY, FILE, HISTORY]
    }

    async fn handle(&self, req: ApiRequest) -> Result<ApiResponse, ApiError> {
        match req.route_key.as_str() {
            REPLY => self.reply(&req).await,
            FILE => self.file(&req).await,
            HISTORY => self.history(&req).await,
            _ => Err(no_route(&req)),
        }
    }
}

/// The one constructor, shared by `main.rs` and `zayavka serve`.
pub fn from_env(w: &zayavka::deps::Wiring<'_>) -> Result<BridgeApi, ConfigError> {
    BridgeApi::new(w.deps.clone(), Config::read(w.env)?)
}
