//! Outgoing e-mail.

use async_trait::async_trait;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email {
    pub from: String,
    pub to: Vec<String>,
    pub subject: String,
    pub text: String,
    pub html: Option<String>,
    /// Name/value tags the mail service sends back with the message's later events (a
    /// bounce): letters, digits, `_` and `-` only.
    pub tags: Vec<(String, String)>,
}

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    /// The mail service refused this message for good (unverified sender, bad address):
    /// sending it again will not help.
    #[error("mail rejected: {0}")]
    Rejected(String),
    /// Throttled, unreachable or failing: a later attempt may succeed.
    #[error("mail service unavailable: {0}")]
    Unavailable(String),
    /// The message itself is malformed (no recipients, empty subject).
    #[error("invalid e-mail: {0}")]
    Invalid(String),
}

impl MailError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, MailError::Unavailable(_))
    }
}

impl Email {
    /// Checks what every adapter would refuse anyway, so both refuse it the same way.
    pub fn validate(&self) -> Result<(), MailError> {
        if self.to.is_empty() {
            return Err(MailError::Invalid("no recipients".into()));
        }
        if self.from.trim().is_empty() {
            return Err(MailError::Invalid("no sender".into()));
        }
        for addr in std::iter::once(&self.from).chain(&self.to) {
            if !looks_like_address(addr) {
                return Err(MailError::Invalid(format!(
                    "not an e-mail address: {addr:?}"
                )));
            }
        }
        if self.subject.contains(['\r', '\n']) {
            return Err(MailError::Invalid("subject contains a line break".into()));
        }
        // SES's rule for message tags.
        let tag_ok = |t: &str| {
            (1..=256).contains(&t.len())
                && t.chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        };
        if let Some((k, v)) = self.tags.iter().find(|(k, v)| !tag_ok(k) || !tag_ok(v)) {
            return Err(MailError::Invalid(format!(
                "tag {k:?}={v:?}: letters, digits, _ and - only"
            )));
        }
        Ok(())
    }
}

/// A deliberately loose check: one `@`, something on each side, no spaces or line breaks.
pub fn looks_like_address(addr: &str) -> bool {
    let addr = addr
        .rsplit_once('<')
        .map(|(_, rest)| rest.trim_end_matches('>'))
        .unwrap_or(addr)
        .trim();
    match addr.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !addr.contains(char::is_whitespace)
                && !domain.contains('@')
        }
        None => false,
    }
}

#[async_trait]
pub trait Mailer: Send + Sync {
    /// Sends one message and returns the id the service gave it.
    async fn send(&self, email: &Email) -> Result<String, MailError>;
}
