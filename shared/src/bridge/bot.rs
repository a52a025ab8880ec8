//! The bridge bot: a private chat's messages go to the system through the bridge queue (one
//! client's in order); `/start`, `/help`, `/status` and, for `BRIDGE_ADMIN_IDS`, `/stats`.
//! The webhook never waits for the system. Each user may send `BRIDGE_USER_LIMIT` messages
//! a minute (commands included: `/status` calls out too); the first one over is answered
//! politely, the rest of that minute are dropped in silence.

use async_trait::async_trait;
use frankenstein::types::{ChatType, Message};
use frankenstein::updates::UpdateContent;

use super::config::BridgeConfig;
use super::inbound::{self, Inbound};
use super::store::{self, Allowance, Direction, State};
use crate::Deps;
use crate::queues::{BRIDGE_INBOUND, dead_letter_name};
use crate::telegram::BotApi;
use crate::telegram::reply::say;
use crate::telegram::webhook::{BotError, BotHandler, Update};
use crate::texts::{BridgeTexts, Lang, fill};

pub struct BridgeBot {
    deps: Deps,
    api: BotApi,
    cfg: BridgeConfig,
    http: reqwest::Client,
}

impl BridgeBot {
    pub fn new(deps: Deps, api: BotApi, cfg: BridgeConfig, http: reqwest::Client) -> Self {
        Self {
            deps,
            api,
            cfg,
            http,
        }
    }

    async fn on_message(&self, m: &Message, public_url: Option<&str>) -> Result<(), BotError> {
        let Some(from) = m.from.as_ref() else {
            return Ok(());
        };
        let t = Lang::from_code(from.language_code.as_deref())
            .texts()
            .bridge;
        let chat = m.chat.id;
        let user_id = i64::try_from(from.id).unwrap_or_default();
        let unit = match store::take_message(
            &self.deps,
            &store::client_id(user_id),
            self.cfg.user_limit,
        )
        .await?
        {
            Allowance::Pass(unit) => unit,
            Allowance::Refused { tell } => {
                tracing::warn!(user_id, "bridge: over the per-user limit; not passed on");
                if tell {
                    let n = self.cfg.user_limit.to_string();
                    // Best effort: a retry would not tell them (the spare unit is taken).
                    if let Err(e) =
                        say(&self.api, chat, &fill(t.too_many, &[("n", &n)]), None).await
                    {
                        tracing::warn!(error = %e.message, "bridge: the limit's answer not sent");
                    }
                }
                return Ok(());
            }
        };
        let handled = self.on_allowed(m, from, t, public_url).await;
        if handled.is_err() {
            // Telegram sends the update again: this try must not count against them.
            if let Err(e) = store::give_back_message(&self.deps, &unit).await {
                tracing::warn!(error = %e, "bridge: rate unit not given back");
            }
        }
        handled
    }

    async fn on_allowed(
        &self,
        m: &Message,
        from: &frankenstein::types::User,
        t: &BridgeTexts,
        public_url: Option<&str>,
    ) -> Result<(), BotError> {
        let chat = m.chat.id;
        let user_id = i64::try_from(from.id).unwrap_or_default();
        if let Some(cmd) = m.text.as_deref().and_then(command) {
            let answer = match cmd.as_str() {
                "start" => t.greeting.to_string(),
                "help" => t.help.to_string(),
                "status" => self.status(t, user_id).await?,
                "stats" if self.cfg.admin_ids.contains(&user_id) => self.stats(t).await?,
                _ => t.unknown_command.to_string(),
            };
            return say(&self.api, chat, &answer, None).await;
        }
        if !self.cfg.enabled {
            return say(&self.api, chat, t.off, None).await;
        }
        let Some(mut msg) = Inbound::from_message(m) else {
            return say(&self.api, chat, t.unsupported, None).await;
        };
        msg.reply_base = public_url.map(String::from);
        self.forward(&msg, from.language_code.as_deref()).await
    }

    /// Kept in the history, counted, queued in the client's order. A redelivered update
    /// finds it recorded and the queue drops the repeat.
    async fn forward(&self, msg: &Inbound, lang: Option<&str>) -> Result<(), BotError> {
        let d = &self.deps;
        let days = self.cfg.history_days;
        store::note_client(d, &msg.client_id, msg.chat_id, lang, days).await?;
        let history = store::Message {
            id: msg.id(),
            direction: Direction::In,
            text: msg.content.clone(),
            state: State::Queued,
            at: crate::time::timestamp(msg.at_ms()),
            attempts: 0,
            error: None,
            delivered_at: None,
            at_ms: msg.at_ms(),
            reply: None,
        };
        store::record(d, &msg.client_id, &history, days).await?;
        inbound::QUEUE
            .send_in_group(d.queue.as_ref(), msg, &msg.client_id, &msg.id())
            .await
            .map_err(|e| BotError {
                retryable: e.is_retryable(),
                message: e.to_string(),
            })?;
        store::count(d, store::Count::In, days).await?;
        Ok(())
    }

    /// The system's health and what of the user's waits.
    async fn status(&self, t: &BridgeTexts, user_id: i64) -> Result<String, BotError> {
        let d = &self.deps;
        let health = store::health(d).await?;
        let up = match &self.cfg.health_url {
            Some(url) => Some(
                self.http
                    .get(url)
                    .timeout(std::time::Duration::from_secs(5))
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success()),
            ),
            None if health.last_ok_ms == 0 && health.last_failure_ms == 0 => None,
            None => Some(health.last_ok_ms >= health.last_failure_ms),
        };
        let mut text = match up {
            Some(true) => t.status_up.to_string(),
            Some(false) => fill(
                t.status_down,
                &[("time", &crate::time::timestamp(health.last_failure_ms))],
            ),
            None => t.status_unknown.to_string(),
        };
        let waiting = store::messages(d, &store::client_id(user_id), 100)
            .await?
            .iter()
            .filter(|m| {
                m.direction == Direction::In && matches!(m.state, State::Queued | State::Retrying)
            })
            .count();
        text.push('\n');
        text.push_str(&fill(t.waiting, &[("n", &waiting.to_string())]));
        Ok(text)
    }

    /// Today and the last seven days, the dead-letter queue, answer times.
    async fn stats(&self, t: &BridgeTexts) -> Result<String, BotError> {
        let d = &self.deps;
        let now = d.clock.now_ms();
        let today = store::day_counts(d, &store::day_of(now)).await?;
        let mut week = store::DayCounts::default();
        for back in 0..7 {
            week.add(&store::day_counts(d, &store::day_of(now - back * 86_400_000)).await?);
        }
        let dlq = d
            .queue
            .stats(&dead_letter_name(BRIDGE_INBOUND))
            .await
            .map(|s| (s.visible + s.in_flight + s.delayed).to_string())
            .unwrap_or_else(|_| "?".into());
        let shown = |ms: Option<i64>| match ms {
            None => t.no_answers.to_string(),
            Some(ms) if ms == i64::MAX => "> 1 h".into(),
            Some(ms) if ms < 1000 => format!("{ms} ms"),
            Some(ms) => format!("{} s", ms / 1000),
        };
        Ok(fill(
            t.stats,
            &[
                ("in_today", &today.messages_in.to_string()),
                ("out_today", &today.messages_out.to_string()),
                ("failed_today", &today.failed.to_string()),
                ("in_week", &week.messages_in.to_string()),
                ("out_week", &week.messages_out.to_string()),
                ("failed_week", &week.failed.to_string()),
                ("dlq", &dlq),
                ("p50", &shown(week.percentile_ms(0.5))),
                ("p95", &shown(week.percentile_ms(0.95))),
            ],
        ))
    }
}

/// `/status@bot args` → `status`.
fn command(text: &str) -> Option<String> {
    let rest = text.trim().strip_prefix('/')?;
    let word = rest.split_whitespace().next().unwrap_or_default();
    Some(
        word.split('@')
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase(),
    )
}

#[async_trait]
impl BotHandler for BridgeBot {
    async fn handle(&self, update: Update) -> Result<(), BotError> {
        self.handle_at(update, None).await
    }

    async fn handle_at(&self, update: Update, public_url: Option<&str>) -> Result<(), BotError> {
        match update.content {
            UpdateContent::Message(m) if m.chat.type_field == ChatType::Private => {
                self.on_message(&m, public_url).await
            }
            _ => Ok(()),
        }
    }
}
