//! The mailer for local runs: every message becomes an `.eml` file in an outbox folder,
//! which any mail client opens.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use async_trait::async_trait;
use mail_builder::MessageBuilder;

use crate::ports::mailer::{Email, MailError, Mailer};

#[derive(Debug, Clone)]
pub struct OutboxMailer {
    dir: PathBuf,
    /// Whether the folder is known to exist: making it again for every message costs a
    /// directory operation each, which is most of what a small message costs the disk.
    made: Arc<AtomicBool>,
}

impl OutboxMailer {
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: dir.into(),
            made: Arc::default(),
        }
    }

    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }
}

#[async_trait]
impl Mailer for OutboxMailer {
    async fn send(&self, email: &Email) -> Result<String, MailError> {
        email.validate()?;
        let id = format!("{}@zayavka.local", uuid::Uuid::now_v7());
        let mut builder = MessageBuilder::new()
            .from(email.from.as_str())
            .to(email.to.iter().map(String::as_str).collect::<Vec<_>>())
            .subject(email.subject.as_str())
            .message_id(id.as_str())
            .text_body(email.text.as_str());
        if let Some(html) = &email.html {
            builder = builder.html_body(html.as_str());
        }
        let raw = builder
            .write_to_vec()
            .map_err(|e| MailError::Invalid(format!("cannot build message: {e}")))?;
        let dir = self.dir.clone();
        let made = self.made.clone();
        let file = id.replace('@', "_");
        tokio::task::spawn_blocking(move || -> std::io::Result<()> {
            if !made.load(Ordering::Relaxed) {
                std::fs::create_dir_all(&dir)?;
                made.store(true, Ordering::Relaxed);
            }
            // Write then rename, so a reader never sees half a message.
            let tmp = dir.join(format!(".{file}.tmp"));
            if let Err(e) = std::fs::write(&tmp, &raw) {
                if e.kind() != std::io::ErrorKind::NotFound {
                    return Err(e);
                }
                // Someone removed the folder while we ran: make it again.
                std::fs::create_dir_all(&dir)?;
                std::fs::write(&tmp, &raw)?;
            }
            std::fs::rename(&tmp, dir.join(format!("{file}.eml")))
        })
        .await
        .map_err(|e| MailError::Unavailable(format!("outbox task failed: {e}")))?
        .map_err(|e| MailError::Unavailable(format!("outbox {}: {e}", self.dir.display())))?;
        Ok(id)
    }
}
