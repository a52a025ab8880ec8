//! What the bridge tells a Telegram user, through the notifications queue (retried,
//! dead-lettered with its alarm): the system's replies, that the system is down (once per
//! outage), that a message could not be delivered. Each message part is claimed once, so a
//! redelivered notice sends nothing twice; a user who blocked the bot is recorded, and the
//! next reply for them is refused with 410.

use frankenstein::ParseMode;
use frankenstein::methods::SendMessageParams;
use frankenstein::types::{
    InlineKeyboardButton, InlineKeyboardMarkup, LinkPreviewOptions, ReplyMarkup, ReplyParameters,
};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::future::Future;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use super::config::BridgeConfig;
use super::replies::Reply;
use super::store::{self, State};
use crate::Deps;
use crate::keys;
use crate::notifications::{self, NotifyError};
use crate::outbound::DeliveryError;
use crate::ports::QueueError;
use crate::telegram::{BotApi, TelegramError};
use crate::texts::{Lang, escape_html, fill};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BridgeKind {
    Bridge,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "what", rename_all = "snake_case")]
pub enum What {
    /// The system's answer; `at_ms` is its history entry's time.
    Reply { reply: Reply, at_ms: i64 },
    /// The system keeps failing: said once per outage.
    ServiceDown,
    /// A message given up on; the beginning of its text.
    Undeliverable { excerpt: String },
}

/// `{"kind":"bridge", "key", "client_id", "what": …}` on the notifications queue.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BridgeNotice {
    pub kind: BridgeKind,
    /// Unique per notice: what its sends are claimed under.
    pub key: String,
    pub client_id: String,
    #[serde(flatten)]
    pub what: What,
}

impl BridgeNotice {
    pub fn new(key: impl Into<String>, client_id: &str, what: What) -> Self {
        Self {
            kind: BridgeKind::Bridge,
            key: key.into(),
            client_id: client_id.into(),
            what,
        }
    }

    pub async fn send(&self, deps: &Deps) -> Result<(), QueueError> {
        notifications::QUEUE
            .send(
                deps.queue.as_ref(),
                &notifications::NotificationMessage::Bridge(self.clone()),
            )
            .await
    }
}

fn markup(reply: &Reply) -> Option<ReplyMarkup> {
    if reply.buttons.is_empty() {
        return None;
    }
    let rows = reply
        .buttons
        .iter()
        .map(|row| {
            row.iter()
                .map(|b| {
                    InlineKeyboardButton::builder()
                        .text(&b.text)
                        .url(&b.url)
                        .build()
                })
                .collect()
        })
        .collect();
    Some(ReplyMarkup::InlineKeyboardMarkup(
        InlineKeyboardMarkup::builder()
            .inline_keyboard(rows)
            .build(),
    ))
}

/// The reply's text as messages: escaped unless the system formats it; HTML split at
/// paragraphs, sentences or words. MarkdownV2 that does not fit one message goes as text.
fn parts(reply: &Reply) -> (Vec<String>, ParseMode) {
    use crate::telegram::split::{LIMIT, html_parts};
    if reply.text.trim().is_empty() {
        return (Vec::new(), ParseMode::Html);
    }
    match reply.parse_mode.as_deref() {
        Some("MarkdownV2") if reply.text.encode_utf16().count() <= LIMIT => {
            (vec![reply.text.clone()], ParseMode::MarkdownV2)
        }
        Some("HTML") => (html_parts(&reply.text, LIMIT), ParseMode::Html),
        _ => (
            html_parts(&escape_html(&reply.text), LIMIT),
            ParseMode::Html,
        ),
    }
}

/// The sends of one notice: each part claimed once (so a retried notice sends only what is
/// missing), and what became of them — whether the user blocked the bot, and what Telegram
/// refused for good (a bad HTML tag, a photo it cannot fetch), if anything.
struct Sends<'a> {
    deps: &'a Deps,
    key: &'a str,
    blocked: AtomicBool,
    refused: Mutex<Option<String>>,
}

impl<'a> Sends<'a> {
    fn new(deps: &'a Deps, key: &'a str) -> Self {
        Self {
            deps,
            key,
            blocked: AtomicBool::new(false),
            refused: Mutex::new(None),
        }
    }

    fn blocked(&self) -> bool {
        self.blocked.load(Ordering::SeqCst)
    }

    /// Sends the notice's part `part` (its claim's channel) by `call`, once.
    async fn send<F>(&self, part: String, call: F) -> Result<(), NotifyError>
    where
        F: Future<Output = Result<String, TelegramError>>,
    {
        let key = keys::notification(&format!("bridge#{}", self.key), &part);
        let sent = notifications::once(self.deps, key, || async move {
            match call.await {
                Ok(id) => Ok(id),
                Err(TelegramError::Blocked(e)) => {
                    self.blocked.store(true, Ordering::SeqCst);
                    Err(DeliveryError::Final { message: e })
                }
                Err(e) => Err(DeliveryError::from(e)),
            }
        })
        .await?;
        if let notifications::Sent::Refused(why) = sent
            && let Ok(mut r) = self.refused.lock()
        {
            *r = Some(why);
        }
        Ok(())
    }

    fn refused(&self) -> Option<String> {
        self.refused.lock().ok().and_then(|r| r.clone())
    }
}

/// Delivers one notice through the bridge bot.
pub async fn deliver(
    deps: &Deps,
    api: &BotApi,
    cfg: &BridgeConfig,
    n: &BridgeNotice,
) -> Result<(), NotifyError> {
    let Some(client) = store::client(deps, &n.client_id).await? else {
        tracing::warn!(client = %n.client_id, "bridge notice for a client we do not know; dropped");
        return Ok(());
    };
    let t = Lang::from_code(client.language_code.as_deref())
        .texts()
        .bridge;
    let sends = Sends::new(deps, &n.key);
    let plain = |text: String| {
        SendMessageParams::builder()
            .chat_id(client.chat_id)
            .text(escape_html(&text))
            .parse_mode(ParseMode::Html)
            .build()
    };
    let message = |params: SendMessageParams| async move {
        api.send_message(&params)
            .await
            .map(|m| m.message_id.to_string())
    };
    match &n.what {
        What::ServiceDown => {
            sends
                .send("part0".into(), message(plain(t.down.into())))
                .await
        }
        What::Undeliverable { excerpt } => {
            let text = fill(t.undeliverable, &[("text", excerpt)]);
            sends.send("part0".into(), message(plain(text))).await
        }
        What::Reply { reply, at_ms } => {
            let id = reply_history_id(&n.key);
            if client.blocked {
                store::set_state(deps, &n.client_id, *at_ms, &id, State::Blocked, 0, None).await?;
                return Ok(());
            }
            let (texts, mode) = parts(reply);
            let count = texts.len();
            for (i, text) in texts.into_iter().enumerate() {
                let params = reply_part(client.chat_id, reply, text, mode, i, count);
                sends.send(format!("part{i}"), message(params)).await?;
                if sends.blocked() {
                    break;
                }
            }
            for (j, a) in reply.attachments.iter().enumerate() {
                if sends.blocked() {
                    break;
                }
                let last = j + 1 == reply.attachments.len();
                let (method, body) = attachment(client.chat_id, reply, a, last);
                let call = async move {
                    api.call::<_, serde_json::Value>(method, &body)
                        .await
                        .map(|m| m["message_id"].to_string())
                };
                sends.send(format!("file{j}"), call).await?;
            }
            record_reply(deps, cfg, n, *at_ms, &id, &sends).await
        }
    }
}

/// One text part of a reply: the first answers the user's message, the last carries the
/// buttons unless files follow (then the last file does).
fn reply_part(
    chat_id: i64,
    reply: &Reply,
    text: String,
    mode: ParseMode,
    i: usize,
    count: usize,
) -> SendMessageParams {
    let buttons_on_text = reply.attachments.is_empty();
    SendMessageParams::builder()
        .chat_id(chat_id)
        .text(text)
        .parse_mode(mode)
        .link_preview_options(LinkPreviewOptions::builder().is_disabled(true).build())
        .maybe_reply_parameters(reply.reply_to_message_id.filter(|_| i == 0).map(|m| {
            ReplyParameters::builder()
                .message_id(m as i32)
                .allow_sending_without_reply(true)
                .build()
        }))
        .maybe_reply_markup(if buttons_on_text && i + 1 == count {
            markup(reply)
        } else {
            None
        })
        .build()
}

/// One file of a reply: the Bot API method and its body (the buttons on the last file).
fn attachment(
    chat_id: i64,
    reply: &Reply,
    a: &super::replies::Attachment,
    last: bool,
) -> (&'static str, serde_json::Value) {
    let (method, field) = if a.kind == "photo" {
        ("sendPhoto", "photo")
    } else {
        ("sendDocument", "document")
    };
    let mut body = json!({"chat_id": chat_id, field: a.url});
    if let Some(c) = &a.caption {
        body["caption"] = json!(c);
    }
    if last && let Some(m) = markup(reply) {
        body["reply_markup"] = serde_json::to_value(m).unwrap_or_default();
    }
    (method, body)
}

/// What became of a reply, in the client's history and the counters.
async fn record_reply(
    deps: &Deps,
    cfg: &BridgeConfig,
    n: &BridgeNotice,
    at_ms: i64,
    id: &str,
    sends: &Sends<'_>,
) -> Result<(), NotifyError> {
    let client = &n.client_id;
    if sends.blocked() {
        tracing::warn!(%client, "the user blocked the bridge bot; recorded");
        store::set_blocked(deps, client).await?;
        store::set_state(deps, client, at_ms, id, State::Blocked, 1, None).await?;
    } else if let Some(why) = sends.refused() {
        tracing::error!(%client, error = %why, "Telegram refused the system's reply");
        store::set_state(deps, client, at_ms, id, State::Failed, 1, Some(&why)).await?;
        store::count(deps, store::Count::Failed, cfg.history_days).await?;
    } else {
        store::set_state(deps, client, at_ms, id, State::Delivered, 1, None).await?;
        store::count(deps, store::Count::Out, cfg.history_days).await?;
    }
    Ok(())
}

/// A reply's id in the client's history, from its notice's key.
pub fn reply_history_id(key: &str) -> String {
    format!("out-{key}")
}
