//! The site's way into the relay: a submitted message is checked, counted, stored and sent
//! to the admins, with a link that binds the visitor's Telegram when they have none yet; and
//! a thread is listed for its owner.

use super::notices::{SupportAction, SupportNotice};
use std::time::Duration;

use tokio::sync::OnceCell;

use super::bot::SupportBot;
use super::config::SiteConfig;
use super::identity::{Claim, Identity, identify};
use super::submission::Submission;
use super::web::store_err;
use super::{SupportMessage, new_message, store};
use crate::Deps;
use crate::http::ApiError;
use crate::secret::Secret;
use crate::telegram::BotApi;

/// What a successful submission gives back.
pub struct Accepted {
    pub id: String,
    /// The anonymous thread's token, for the visitor to keep.
    pub thread_token: Option<String>,
    /// `https://t.me/<bot>?start=<token>`, while the thread has no chat.
    pub binding_url: Option<String>,
}

pub struct Site {
    deps: Deps,
    cfg: SiteConfig,
    bot: SupportBot,
    api: BotApi,
    username: OnceCell<String>,
}

impl Site {
    pub fn new(deps: Deps, cfg: SiteConfig) -> Result<Self, crate::outbound::ClientError> {
        let http = crate::outbound::client(Duration::from_secs(10))?;
        let api = BotApi::new(http, &cfg.api_base, cfg.bot_token.expose())
            .with_metrics(deps.metrics.clone())
            .with_inline_wait(Duration::from_secs(3));
        let bot = SupportBot::new(deps.clone(), api.clone(), cfg.support.clone());
        Ok(Self {
            deps,
            cfg,
            bot,
            api,
            username: OnceCell::new(),
        })
    }

    pub fn allowed_origins(&self) -> &[String] {
        &self.cfg.allowed_origins
    }

    /// Stores the message, tells the admins, and says how to connect Telegram if needed.
    pub async fn accept(
        &self,
        s: Submission,
        source_ip: Option<&str>,
    ) -> Result<Accepted, ApiError> {
        if s.is_bot() {
            // Pretend all is well and keep nothing.
            return Ok(Accepted {
                id: "0".into(),
                thread_token: None,
                binding_url: None,
            });
        }
        s.validate()?;
        let (me, new_thread) = self.sender(&s).await?;
        // Everyone together, then the address, then the thread (a new anonymous thread has
        // nothing to count yet; its address does).
        let mut who = Vec::new();
        if let Some(ip) = source_ip {
            who.push(format!("ip#{ip}"));
        }
        if !new_thread {
            who.push(format!("user#{}", me.user_key));
        }
        self.cfg.rate.allow(&self.deps, &who).await?;
        let thread = store::ensure_thread(
            &self.deps,
            &me.user_key,
            s.name.trim(),
            Some(s.email.trim()),
        )
        .await
        .map_err(store_err)?;
        let text = s.message.trim().to_string();
        let mut msg = new_message(&self.deps, &me.user_key, false, "site", s.subject(), text);
        store::record(&self.deps, &msg).await.map_err(store_err)?;
        if let Err(e) = self.bot.to_admin(&thread, &mut msg).await {
            // Stored; the notification worker tells the admins once the Bot API is back.
            tracing::warn!(error = %e, id = %msg.id, "support message not sent to the admins now; queued");
            let notice = SupportNotice::new(SupportAction::ToAdmins, &msg);
            crate::notifications::QUEUE
                .send(
                    self.deps.queue.as_ref(),
                    &crate::notifications::NotificationMessage::Support(notice),
                )
                .await
                .map_err(|e| {
                    tracing::error!(error = %e, id = %msg.id, "support message neither sent nor queued");
                    ApiError::unavailable("the message could not be passed on; please send it again")
                })?;
        }
        let binding_url = match thread.chat_id {
            None => self.binding_url(&me.user_key).await?,
            Some(_) => None,
        };
        Ok(Accepted {
            id: msg.id,
            thread_token: me.thread_token,
            binding_url,
        })
    }

    /// Who sent it, and whether their thread is new. A token that names no thread of ours
    /// (made up, or from another deployment) is not honoured: the visitor starts a new one.
    async fn sender(&self, s: &Submission) -> Result<(Identity, bool), ApiError> {
        let me = identify(
            self.cfg.user_hash_secret.as_ref().map(Secret::expose),
            s.claim(),
        )?;
        if s.thread_token.is_none() {
            let new_thread = me.thread_token.is_some();
            return Ok((me, new_thread));
        }
        if self.known(&me.user_key).await? {
            return Ok((me, false));
        }
        let token = super::identity::random_token();
        let fresh = Identity {
            user_key: format!("a:{token}"),
            thread_token: Some(token),
        };
        Ok((fresh, true))
    }

    async fn known(&self, user_key: &str) -> Result<bool, ApiError> {
        Ok(store::thread(&self.deps, user_key)
            .await
            .map_err(store_err)?
            .is_some())
    }

    /// A new binding token's link; none when the bot's username is not known.
    async fn binding_url(&self, user_key: &str) -> Result<Option<String>, ApiError> {
        let token = store::new_binding_token(&self.deps, user_key)
            .await
            .map_err(store_err)?;
        Ok(self
            .bot_username()
            .await
            .map(|u| format!("https://t.me/{u}?start={token}")))
    }

    async fn bot_username(&self) -> Option<String> {
        if let Some(u) = &self.cfg.bot_username {
            return Some(u.clone());
        }
        self.username
            .get_or_try_init(|| async {
                self.api
                    .get_me()
                    .await
                    .map(|me| me.username.unwrap_or_default())
            })
            .await
            .ok()
            .filter(|u| !u.is_empty())
            .cloned()
    }

    /// The thread of whoever the claim proves to be, oldest message first.
    pub async fn thread(&self, claim: Claim<'_>) -> Result<Vec<SupportMessage>, ApiError> {
        if claim.user_id.is_none() && claim.thread_token.is_none() {
            return Err(ApiError::invalid(
                "thread_token",
                "give user_id and user_hash, or thread_token",
            ));
        }
        let me = identify(
            self.cfg.user_hash_secret.as_ref().map(Secret::expose),
            claim,
        )?;
        store::messages(&self.deps, &me.user_key)
            .await
            .map_err(store_err)
    }
}
