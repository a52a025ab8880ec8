//! Taking Telegram updates in: which bot, is it really Telegram, have we seen it before.
//!
//! Telegram redelivers an update until it gets a 2xx, for up to a day. So: a forged request
//! (wrong or missing secret) is 401 and leaves no trace; an update is claimed by its
//! `update_id` per bot (kept 24 h) before anything else, under a lease, and marked done
//! after its handling; a repeat of a done update answers 200 doing nothing, a repeat while
//! the first handling is still under way answers 503 (Telegram asks again later), and a
//! repeat after a handling that died (its lease ran out) is handled again, so a crash loses
//! no message. A handler's failure that a retry can fix (the Bot API, the store or Okdesk
//! unavailable) answers 503 and leaves the update free to be handled again, up to
//! [`MAX_HANDLINGS`] times; our own errors answer 200 (a retry would fail the same way).
//! Handlers make a repeated handling harmless: each records what it did before going on
//! (a relayed support message, an Okdesk issue being created).

use std::collections::HashMap;

use async_trait::async_trait;
pub use frankenstein::updates::Update;

use crate::claims::{self, Claimed, Claims};
use crate::config::EnvReader;
use crate::http::{ApiError, ApiResponse, constant_time_eq};
use crate::keys;
use crate::metrics::UpdateOutcome;
use crate::ports::table::{Table, Update as Change};
use tracing::Instrument;

/// The bots one deployment can serve: the helpdesk's (`main`), support's, the staff's (the
/// executor workflow) and the chat bridge's.
pub const BOTS: [&str; 4] = ["main", "support", "staff", "bridge"];
pub const SECRET_HEADER: &str = "x-telegram-bot-api-secret-token";
/// How long an update id is remembered: Telegram keeps undelivered updates for 24 hours.
pub const CLAIM_TTL_SECS: i64 = 24 * 3600;
/// How long a handling may take before a redelivery may take it over: twice the function's
/// 30 s timeout, so a live handling is never doubled.
pub const CLAIM_LEASE_SECS: i64 = 60;
/// Updates are claim markers: absent until first delivered, free again after a failure a
/// retry can fix.
const UPDATES: Claims = Claims::marker().waiting_in(&[RETRY]);
const RETRY: &str = "retry";
/// How many times one update is handled before a failure is taken as final: Telegram
/// redelivers a 503 with growing pauses, so this spans several minutes of an outage.
pub const MAX_HANDLINGS: i64 = 5;
/// How often the update was claimed: more than once means a handling died.
const CLAIMS_MADE: &str = "claims";

/// What the claim found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Claim {
    /// Ours to handle (first delivery, a retry, or taking over a handling that died); the
    /// number of this handling.
    Handle(i64),
    Done,
    InProgress,
}

#[derive(Clone)]
pub struct BotConfig {
    pub name: &'static str,
    pub token: String,
    pub secret: String,
}

impl std::fmt::Debug for BotConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BotConfig")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

/// Telegram's rule for `secret_token`: 1 to 256 of `A-Z a-z 0-9 _ -`.
pub fn valid_secret(s: &str) -> bool {
    (1..=256).contains(&s.len())
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// Reads `TELEGRAM_<BOT>_BOT_TOKEN` and `TELEGRAM_<BOT>_WEBHOOK_SECRET` for every bot; a bot
/// with a token must have a valid secret.
pub fn read_bots(env: &mut EnvReader<'_>) -> Vec<BotConfig> {
    let mut bots = Vec::new();
    for name in BOTS {
        let upper = name.to_ascii_uppercase();
        let Some(token) = env.optional(&format!("TELEGRAM_{upper}_BOT_TOKEN")) else {
            continue;
        };
        let secret_var = format!("TELEGRAM_{upper}_WEBHOOK_SECRET");
        match env.optional(&secret_var) {
            Some(secret) if valid_secret(&secret) => bots.push(BotConfig { name, token, secret }),
            Some(_) => env.problem(format!("{secret_var} must be 1 to 256 characters of A-Z a-z 0-9 _ -")),
            None => env.problem(format!(
                "{secret_var} is not set; it proves to the webhook that an update comes from Telegram"
            )),
        }
    }
    bots
}

/// A handler's failure, and whether handling the update again later can succeed (a Bot
/// API, store or Okdesk outage) or not (our own bug, a refused request).
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct BotError {
    pub message: String,
    pub retryable: bool,
}

impl BotError {
    pub fn fatal(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            retryable: false,
        }
    }

    pub fn retryable(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
            retryable: true,
        }
    }
}

impl From<crate::telegram::TelegramError> for BotError {
    fn from(e: crate::telegram::TelegramError) -> Self {
        Self {
            retryable: e.is_retryable(),
            message: e.to_string(),
        }
    }
}

impl From<crate::ports::StoreError> for BotError {
    fn from(e: crate::ports::StoreError) -> Self {
        Self {
            retryable: e.is_retryable(),
            message: e.to_string(),
        }
    }
}

impl From<crate::helpdesk::okdesk::OkdeskError> for BotError {
    fn from(e: crate::helpdesk::okdesk::OkdeskError) -> Self {
        Self {
            retryable: e.is_retryable(),
            message: e.to_string(),
        }
    }
}

/// What one bot does with an update.
#[async_trait]
pub trait BotHandler: Send + Sync {
    async fn handle(&self, update: Update) -> Result<(), BotError>;

    /// The same, knowing the public base URL the update reached us at (`https://<host>`;
    /// `None` when polled). Only a bot that hands out links to itself needs it.
    async fn handle_at(&self, update: Update, _public_url: Option<&str>) -> Result<(), BotError> {
        self.handle(update).await
    }
}

/// A configured bot and, once a capability gives it one, its behaviour.
struct Bot {
    cfg: BotConfig,
    handler: Option<std::sync::Arc<dyn BotHandler>>,
}

/// The webhook for every configured bot.
pub struct Webhook {
    table: std::sync::Arc<dyn Table>,
    clock: std::sync::Arc<dyn crate::ports::Clock>,
    metrics: crate::metrics::Metrics,
    bots: HashMap<&'static str, Bot>,
}

impl Webhook {
    pub fn new(
        table: std::sync::Arc<dyn Table>,
        clock: std::sync::Arc<dyn crate::ports::Clock>,
        metrics: crate::metrics::Metrics,
        bots: Vec<BotConfig>,
    ) -> Self {
        Self {
            table,
            clock,
            metrics,
            bots: bots
                .into_iter()
                .map(|cfg| (cfg.name, Bot { cfg, handler: None }))
                .collect(),
        }
    }

    /// Gives a configured bot its behaviour.
    /// The bot's handler, to wrap in another.
    pub fn handler(&self, bot: &str) -> Option<std::sync::Arc<dyn BotHandler>> {
        self.bots.get(bot).and_then(|b| b.handler.clone())
    }

    pub fn with_handler(mut self, bot: &str, handler: std::sync::Arc<dyn BotHandler>) -> Self {
        if let Some(entry) = self.bots.get_mut(bot) {
            entry.handler = Some(handler);
        }
        self
    }

    /// An update Telegram posted to `public_url` (this API's base URL as the request
    /// named it).
    pub async fn receive(
        &self,
        bot: &str,
        secret: Option<&str>,
        body: &[u8],
        public_url: Option<&str>,
    ) -> Result<ApiResponse, ApiError> {
        let Some(Bot { cfg, .. }) = self.bots.get(bot) else {
            return Err(ApiError::not_found(format!("no bot {bot:?} here")));
        };
        if !secret.is_some_and(|s| constant_time_eq(s, &cfg.secret)) {
            tracing::warn!(%bot, "webhook call without the right secret token");
            return Err(ApiError::unauthorized(
                "wrong or missing X-Telegram-Bot-Api-Secret-Token",
            ));
        }
        let raw: serde_json::Value = serde_json::from_slice(body)
            .map_err(|e| ApiError::bad_request(format!("update is not JSON: {e}")))?;
        self.deliver_at(bot, raw, public_url).await
    }

    /// Handles one update that is known to come from Telegram (through the webhook above,
    /// or fetched with getUpdates by `zayavka poll`).
    pub async fn deliver(
        &self,
        bot: &str,
        raw: serde_json::Value,
    ) -> Result<ApiResponse, ApiError> {
        self.deliver_at(bot, raw, None).await
    }

    async fn deliver_at(
        &self,
        bot: &str,
        raw: serde_json::Value,
        public_url: Option<&str>,
    ) -> Result<ApiResponse, ApiError> {
        let Some(Bot { handler, .. }) = self.bots.get(bot) else {
            return Err(ApiError::not_found(format!("no bot {bot:?} here")));
        };
        // Telegram's ids are positive 32-bit numbers; anything else is not an update, and
        // must not be claimed (a claim on it would answer 503 for a whole lease).
        let update_id = raw["update_id"]
            .as_i64()
            .filter(|id| u32::try_from(*id).is_ok())
            .ok_or_else(|| {
                ApiError::bad_request("update_id must be a whole number from 0 to 4294967295")
            })?;
        let span = tracing::info_span!("update", bot = %bot, update_id);
        self.handle_claimed(bot, update_id, handler.as_ref(), raw, public_url)
            .instrument(span)
            .await
    }

    async fn handle_claimed(
        &self,
        bot: &str,
        update_id: i64,
        handler: Option<&std::sync::Arc<dyn BotHandler>>,
        raw: serde_json::Value,
        public_url: Option<&str>,
    ) -> Result<ApiResponse, ApiError> {
        let handling = match self.claim(bot, update_id).await? {
            Claim::Handle(n) => n,
            Claim::Done => {
                tracing::info!(%bot, update_id, "update seen before; ignored");
                return Ok(ok());
            }
            Claim::InProgress => {
                tracing::info!(%bot, update_id, "update being handled; Telegram will ask again");
                return Err(ApiError::unavailable("this update is being handled"));
            }
        };
        let update = match super::lenient::decode(&raw) {
            Ok(u) => u,
            Err(e) => {
                // Done, so its repeats are answered 200 too and later updates do not queue
                // behind it; logged once, here.
                tracing::info!(%bot, update_id, kind = %e.kind, error = %e.error, "update that cannot be read; ignored");
                self.metrics.update(bot, UpdateOutcome::Handled);
                self.done(bot, update_id).await;
                return Ok(ok());
            }
        };
        let mut outcome = UpdateOutcome::Handled;
        if let Some(handler) = handler
            && let Err(e) = handler.handle_at(update, public_url).await
        {
            if e.retryable && handling < MAX_HANDLINGS {
                tracing::warn!(%bot, update_id, handling, error = %e, "handling the update failed; Telegram will deliver it again");
                self.metrics.update(bot, UpdateOutcome::Retry);
                self.free_again(bot, update_id).await;
                return Err(ApiError::unavailable("try again later"));
            }
            tracing::error!(%bot, update_id, handling, retryable = e.retryable, error = %e, "handling the update failed for good");
            outcome = UpdateOutcome::Failed;
        }
        self.metrics.update(bot, outcome);
        self.done(bot, update_id).await;
        Ok(ok())
    }

    /// Leaves the update for the next delivery at once (its lease would hold it a minute).
    async fn free_again(&self, bot: &str, update_id: i64) {
        let key = keys::telegram_update(bot, update_id);
        if let Err(e) = UPDATES
            .settle(self.table.as_ref(), &key, RETRY, Change::new())
            .await
        {
            tracing::warn!(%bot, update_id, error = %e, "update not freed; its lease frees it");
        }
    }

    async fn claim(&self, bot: &str, update_id: i64) -> Result<Claim, ApiError> {
        let now = self.clock.now_ms();
        let key = keys::telegram_update(bot, update_id);
        let claimed = UPDATES
            .claim(
                self.table.as_ref(),
                &key,
                now,
                CLAIM_LEASE_SECS * 1000,
                claims::expiring(now, CLAIM_TTL_SECS).add(CLAIMS_MADE, 1),
            )
            .await
            // Telegram will send it again: answer 503 rather than lose it.
            .map_err(ApiError::unavailable)?;
        Ok(match claimed {
            Claimed::Ours(item) => {
                let n = claims::count(&item, CLAIMS_MADE);
                if n > 1 {
                    tracing::info!(%bot, update_id, handling = n, "handling this update again");
                }
                Claim::Handle(n)
            }
            Claimed::Held { .. } => Claim::InProgress,
            // Gone between claim and look: its TTL ran out, so it is long done.
            Claimed::Settled(_) | Claimed::Missing => Claim::Done,
        })
    }

    /// Marks the update handled; if this fails, a redelivery after the lease handles it
    /// again, which is the safer side.
    async fn done(&self, bot: &str, update_id: i64) {
        let key = keys::telegram_update(bot, update_id);
        if let Err(e) = UPDATES
            .settle(self.table.as_ref(), &key, "done", Change::new())
            .await
        {
            tracing::warn!(%bot, update_id, error = %e, "update handled but not marked done");
        }
    }
}

fn ok() -> ApiResponse {
    ApiResponse::json(200, &serde_json::json!({"status": "accepted"}))
}
