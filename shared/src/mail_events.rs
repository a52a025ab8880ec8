//! What SES publishes about a message after it was accepted — a bounce, a complaint —
//! through the configuration set `SES_CONFIGURATION_SET` → SNS → the notifications queue
//! (raw delivery, so the queue message is the SES event itself). Our messages carry a tag
//! saying what they were, so the event needs no lookup.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The tag every message we want to hear about carries, and its values.
pub const TAG: &str = "zayavka";
/// An admin's reply to a visitor, sent by e-mail.
pub const SUPPORT_REPLY: &str = "support_reply";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MailEvent {
    /// `Bounce`, `Complaint`, `Delivery`, …
    pub event_type: String,
    pub mail: MailInfo,
    #[serde(default)]
    pub bounce: Option<Bounce>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MailInfo {
    pub message_id: String,
    #[serde(default)]
    pub destination: Vec<String>,
    #[serde(default)]
    pub tags: BTreeMap<String, Vec<String>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Bounce {
    #[serde(default)]
    pub bounce_type: String,
    #[serde(default)]
    pub bounce_sub_type: String,
    #[serde(default)]
    pub bounced_recipients: Vec<Recipient>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Recipient {
    pub email_address: String,
    #[serde(default)]
    pub diagnostic_code: Option<String>,
}

impl MailEvent {
    /// Whether our message was tagged `value`.
    pub fn tagged(&self, value: &str) -> bool {
        self.mail
            .tags
            .get(TAG)
            .is_some_and(|v| v.iter().any(|x| x == value))
    }

    /// A message that did not arrive: bounced or complained about.
    pub fn failed(&self) -> bool {
        matches!(self.event_type.as_str(), "Bounce" | "Complaint")
    }

    /// Who did not get it, and why, as short as the admins need it.
    pub fn who_and_why(&self) -> (String, String) {
        let who = self
            .bounce
            .as_ref()
            .and_then(|b| b.bounced_recipients.first())
            .map(|r| r.email_address.clone())
            .or_else(|| self.mail.destination.first().cloned())
            .unwrap_or_default();
        let why = match &self.bounce {
            Some(b) => {
                let code = b
                    .bounced_recipients
                    .first()
                    .and_then(|r| r.diagnostic_code.clone())
                    .unwrap_or_default();
                let kind = format!("{} {}", b.bounce_type, b.bounce_sub_type);
                crate::outbound::clip(format!("{} {code}", kind.trim()).trim(), 200)
            }
            None => self.event_type.to_lowercase(),
        };
        (who, why)
    }
}
