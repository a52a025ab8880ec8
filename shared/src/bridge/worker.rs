//! The bridge worker's step: one queued Telegram message to the system. Delivered, it is
//! done (and a reply in the system's response goes out at once); refused for good, the user
//! is told; failed otherwise, it waits — 5 s, doubling, at most five minutes, or what a
//! 429's Retry-After says — through its visibility timeout, and after
//! `BRIDGE_FALLBACK_AFTER` failed tries the user hears, once per outage, that the service
//! is down. On its last try it is given up: the user is told, and the message goes to the
//! dead-letter queue (with its alarm).

use super::config::{BridgeConfig, MAX_RETRY_SECS};
use super::inbound::{self, Inbound};
use super::notices::{BridgeNotice, What};
use super::replies::Reply;
use super::store::{self, Direction, Message, State};
use super::system::{self, Tried};
use crate::Deps;
use crate::queues::{BRIDGE_INBOUND, BRIDGE_MAX_RECEIVES};
use crate::sqs_batch::QueueMessage;

pub struct Bridge {
    pub deps: Deps,
    pub cfg: BridgeConfig,
    pub http: reqwest::Client,
}

/// The group a queued message belongs to (its client), for the FIFO batch.
pub fn group_of(m: &QueueMessage) -> String {
    inbound::QUEUE
        .decode(&m.body)
        .map(|i| i.client_id)
        .unwrap_or_else(|_| m.message_id.clone())
}

fn excerpt(text: &str) -> String {
    let mut e: String = text.chars().take(60).collect();
    if text.chars().count() > 60 {
        e.push('…');
    }
    e
}

/// Logs a step after the system took the message: failing it must not make the message
/// go to the system again.
fn best_effort(what: &str, r: Result<(), crate::ports::StoreError>) {
    if let Err(e) = r {
        tracing::warn!(error = %e, "bridge: {what} not recorded");
    }
}

impl Bridge {
    /// Given up: the user is told first (what matters most), then it is recorded.
    async fn give_up(&self, m: &Inbound, attempts: u32, error: &str) -> Result<(), String> {
        let d = &self.deps;
        BridgeNotice::new(
            format!("undeliverable#{}", m.id()),
            &m.client_id,
            What::Undeliverable {
                excerpt: excerpt(&m.content),
            },
        )
        .send(d)
        .await
        .map_err(|e| e.to_string())?;
        best_effort(
            "the given-up state",
            store::set_state(
                d,
                &m.client_id,
                m.at_ms(),
                &m.id(),
                State::Failed,
                attempts,
                Some(error),
            )
            .await,
        );
        best_effort(
            "the failure count",
            store::count(d, store::Count::Failed, self.cfg.history_days).await,
        );
        Ok(())
    }

    /// One message: `Ok` when it is settled (delivered or given up), `Err` when it must
    /// come back (its visibility already set to the backoff).
    pub async fn one(&self, msg: QueueMessage) -> Result<(), String> {
        let m = match inbound::QUEUE.decode(&msg.body) {
            Ok(m) => m,
            Err(e) => {
                tracing::error!(error = %e, "bridge message cannot be read; dropped");
                return Ok(());
            }
        };
        let attempts = msg.receive_count.max(1);
        match self.try_deliver(&m).await? {
            Tried::Delivered { reply } => self.delivered(&m, attempts, reply).await,
            Tried::Refused { error } => {
                tracing::error!(client = %m.client_id, message = %m.id(), error = %error, "the system refused the message for good");
                best_effort(
                    "the failure",
                    store::note_delivery(&self.deps, Some(&error)).await,
                );
                self.give_up(&m, attempts, &error).await
            }
            Tried::Again { after_secs, error } => {
                self.again(&msg, &m, attempts, after_secs, error).await
            }
        }
    }

    /// The system asked to take the message, unless it did on an earlier try whose worker
    /// died before the end: then its steps are finished without asking the system again.
    async fn try_deliver(&self, m: &Inbound) -> Result<Tried, String> {
        let d = &self.deps;
        let before = store::message(d, &m.client_id, m.at_ms(), &m.id())
            .await
            .map_err(|e| e.to_string())?;
        Ok(match &before {
            Some(h) if h.state == State::Delivered => Tried::Delivered {
                reply: h.reply.clone(),
            },
            _ => system::deliver(&self.http, &self.cfg, m, d.clock.now_secs()).await,
        })
    }

    /// Taken: recorded as delivered, the outage (if any) over, and a reply in the
    /// system's response sent at once.
    async fn delivered(
        &self,
        m: &Inbound,
        attempts: u32,
        reply: Option<String>,
    ) -> Result<(), String> {
        let d = &self.deps;
        let reply_at = store::delivered(
            d,
            &m.client_id,
            m.at_ms(),
            &m.id(),
            attempts,
            reply.as_deref(),
        )
        .await
        .map_err(|e| e.to_string())?;
        best_effort("the delivery", store::note_delivery(d, None).await);
        best_effort(
            "the end of the outage",
            store::end_outage(d, &m.client_id).await,
        );
        if let Some(text) = reply {
            let at_ms = reply_at.unwrap_or_else(|| d.clock.now_ms());
            self.answer_now(m, text, at_ms).await?;
        }
        Ok(())
    }

    /// Not taken this time: the user hears of an outage once enough tries failed; on the
    /// last try the message is given up, else it waits for its next try. Always `Err`, so
    /// the message is not deleted.
    async fn again(
        &self,
        msg: &QueueMessage,
        m: &Inbound,
        attempts: u32,
        after_secs: Option<u32>,
        error: String,
    ) -> Result<(), String> {
        let d = &self.deps;
        tracing::warn!(client = %m.client_id, message = %m.id(), attempts, error = %error, "the system did not take the message; it is tried again");
        best_effort("the failure", store::note_delivery(d, Some(&error)).await);
        if attempts >= self.cfg.fallback_after {
            self.tell_outage(m).await?;
        }
        if attempts >= BRIDGE_MAX_RECEIVES {
            self.give_up(m, attempts, &error).await?;
            // Straight to the dead-letter queue at its next receive.
            let _ = d
                .queue
                .change_visibility(BRIDGE_INBOUND, &msg.receipt_handle, 0)
                .await;
            return Err(format!("given up after {attempts} tries: {error}"));
        }
        store::set_state(
            d,
            &m.client_id,
            m.at_ms(),
            &m.id(),
            State::Retrying,
            attempts,
            Some(&error),
        )
        .await
        .map_err(|e| e.to_string())?;
        let wait = after_secs
            .map(|s| s.clamp(1, MAX_RETRY_SECS * 3))
            .unwrap_or_else(|| self.cfg.backoff_secs(attempts));
        if let Err(e) = d
            .queue
            .change_visibility(BRIDGE_INBOUND, &msg.receipt_handle, wait)
            .await
        {
            tracing::warn!(error = %e, "retry delay not set; the queue's visibility timeout applies");
        }
        Err(error)
    }

    /// The user told the service is down, once per outage.
    async fn tell_outage(&self, m: &Inbound) -> Result<(), String> {
        let d = &self.deps;
        let err = |e: crate::ports::StoreError| e.to_string();
        if store::client(d, &m.client_id)
            .await
            .map_err(err)?
            .is_some_and(|c| !c.outage)
        {
            // Said first, then marked: a crash in between says it again under the same
            // key, which sends it once.
            BridgeNotice::new(format!("down#{}", m.id()), &m.client_id, What::ServiceDown)
                .send(d)
                .await
                .map_err(|e| e.to_string())?;
            store::start_outage(d, &m.client_id).await.map_err(err)?;
        }
        Ok(())
    }

    /// The system answered in its response: the reply goes out as a webhook reply would,
    /// as the history entry of `at_ms` (when the answer was first kept).
    async fn answer_now(&self, m: &Inbound, text: String, at_ms: i64) -> Result<(), String> {
        let d = &self.deps;
        let reply = Reply {
            client_id: m.client_id.clone(),
            text,
            parse_mode: None,
            reply_to_message_id: Some(m.message_id),
            attachments: Vec::new(),
            buttons: Vec::new(),
            id: None,
        };
        let key = format!("sync#{}", m.id());
        accept_reply(d, &self.cfg, &key, reply, at_ms, at_ms - m.at_ms()).await
    }
}

/// A reply on its way out: kept in the history, its answer time counted, queued.
///
/// `key` names the reply (its own id, its request, the message it answers) and `at_ms` is
/// its history entry's time, the same on every retry of one acceptance. The notice, and
/// so every send, is named after that entry (`<key>@<at_ms>`), never after the key alone:
/// a retry finds its sends done, while the same text accepted again later (a new entry)
/// is sent again rather than found "sent" under an old claim and recorded as delivered.
pub async fn accept_reply(
    deps: &Deps,
    cfg: &BridgeConfig,
    key: &str,
    reply: Reply,
    at_ms: i64,
    answered_after_ms: i64,
) -> Result<(), String> {
    let client_id = reply.client_id.clone();
    let notice_key = format!("{key}@{at_ms}");
    let msg = Message {
        id: super::notices::reply_history_id(&notice_key),
        direction: Direction::Out,
        text: reply.text.clone(),
        state: State::Queued,
        at: crate::time::timestamp(at_ms),
        attempts: 0,
        error: None,
        delivered_at: None,
        at_ms,
        reply: None,
    };
    let e = |e: crate::ports::StoreError| e.to_string();
    store::record(deps, &client_id, &msg, cfg.history_days)
        .await
        .map_err(e)?;
    store::answered_in(deps, answered_after_ms, cfg.history_days)
        .await
        .map_err(e)?;
    BridgeNotice::new(notice_key, &client_id, What::Reply { reply, at_ms })
        .send(deps)
        .await
        .map_err(|e| e.to_string())
}
