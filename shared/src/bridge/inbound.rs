//! A Telegram message on its way to the system: what the bridge queue carries (the file ids
//! stay inside the deployment), and the body the system gets — the seed's adapter
//! (`client_id`, `content`, `timestamp`) plus the message's id, its sender and links to its
//! files.

use frankenstein::types::Message;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::config::BridgeConfig;
use super::files;
use crate::queues::{BRIDGE_INBOUND, TypedQueue};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Sender {
    pub first_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub username: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language_code: Option<String>,
}

/// A file the message carries, by Telegram's id (never its URL, which holds the token).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRef {
    /// `photo`, `document` or `voice`.
    pub kind: String,
    pub file_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Inbound {
    pub client_id: String,
    pub chat_id: i64,
    pub message_id: i64,
    /// Telegram's date of the message, Unix seconds.
    pub date: i64,
    pub content: String,
    pub user: Sender,
    #[serde(default)]
    pub attachments: Vec<FileRef>,
    /// The public base URL the update reached us at, for the reply and file links when
    /// `ZAYAVKA_PUBLIC_URL` is not set (in Lambda the template cannot know the API's URL
    /// without a dependency cycle).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_base: Option<String>,
}

pub const QUEUE: TypedQueue<Inbound> = TypedQueue::new(BRIDGE_INBOUND);

impl Inbound {
    /// What the message is called everywhere (history, de-duplication, the system).
    pub fn id(&self) -> String {
        format!("{}-{}", self.chat_id, self.message_id)
    }

    pub fn at_ms(&self) -> i64 {
        // Telegram's number: saturating, so an absurd date cannot panic a debug build.
        self.date.saturating_mul(1000)
    }

    /// A private chat's message as the system will get it; `None` for a kind it cannot
    /// carry (a sticker, a location).
    pub fn from_message(m: &Message) -> Option<Self> {
        let from = m.from.as_ref()?;
        let user_id = i64::try_from(from.id).ok()?;
        let mut attachments = Vec::new();
        if let Some(photo) = m.photo.as_ref().and_then(|sizes| sizes.last()) {
            attachments.push(FileRef {
                kind: "photo".into(),
                file_id: photo.file_id.clone(),
                file_name: None,
                mime_type: Some("image/jpeg".into()),
                size: photo.file_size,
            });
        }
        if let Some(d) = &m.document {
            attachments.push(FileRef {
                kind: "document".into(),
                file_id: d.file_id.clone(),
                file_name: d.file_name.clone(),
                mime_type: d.mime_type.clone(),
                size: d.file_size,
            });
        }
        if let Some(v) = &m.voice {
            attachments.push(FileRef {
                kind: "voice".into(),
                file_id: v.file_id.clone(),
                file_name: None,
                mime_type: v.mime_type.clone(),
                size: v.file_size,
            });
        }
        let content = m
            .text
            .clone()
            .or_else(|| m.caption.clone())
            .unwrap_or_default();
        if content.trim().is_empty() && attachments.is_empty() {
            return None;
        }
        Some(Self {
            client_id: super::store::client_id(user_id),
            chat_id: m.chat.id,
            message_id: i64::from(m.message_id),
            date: i64::try_from(m.date).unwrap_or_default(),
            content,
            user: Sender {
                first_name: from.first_name.clone(),
                last_name: from.last_name.clone(),
                username: from.username.clone(),
                language_code: from.language_code.clone(),
            },
            attachments,
            reply_base: None,
        })
    }

    /// Where the system answers and files are fetched: the setting, else where the update
    /// came in.
    pub fn base<'a>(&'a self, cfg: &'a BridgeConfig) -> Option<&'a str> {
        cfg.public_url.as_deref().or(self.reply_base.as_deref())
    }

    /// The body the system gets, with file links good for `BRIDGE_FILE_LINK_SECONDS` from
    /// `now` (made at each try, so a late retry carries a live link).
    pub fn payload(&self, cfg: &BridgeConfig, now_secs: i64) -> Value {
        let attachments: Vec<Value> = self
            .attachments
            .iter()
            .map(|f| {
                json!({
                    "type": f.kind,
                    "file_name": f.file_name,
                    "mime_type": f.mime_type,
                    "size": f.size,
                    "url": self.base(cfg).map(|b| files::link(cfg, b, f, now_secs + cfg.file_link_secs)),
                })
            })
            .collect();
        let mut body = json!({
            "client_id": self.client_id,
            "content": self.content,
            "timestamp": crate::time::timestamp(self.at_ms()),
            "message_id": self.id(),
            "telegram_message_id": self.message_id,
            "user": self.user,
        });
        if !attachments.is_empty() {
            body["attachments"] = Value::Array(attachments);
        }
        body
    }
}
