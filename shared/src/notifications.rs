//! The notifications queue and what it carries: one typed message, tagged by `kind` —
//! `batch_finished` / `dispatch_failed` for the admins (lead fan-out), `helpdesk` for a
//! client's Okdesk issue. Producers send through [`QUEUE`]; the notification worker decodes
//! each message once into [`NotificationMessage`].

use serde::{Deserialize, Serialize};

use crate::helpdesk::events::Notice;
use crate::leads::notify::Notification;
use crate::mail_events::MailEvent;
use crate::queues::{NOTIFICATIONS, TypedQueue};
use crate::support::notices::SupportNotice;

/// Every message of the notifications queue. (Each side is tagged by its own `kind`, so the
/// wire form is the one both producers have always written.)
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum NotificationMessage {
    /// How a lead's batch ended, or that it could not be dispatched: to the admins.
    Lead(Notification),
    /// An Okdesk event for the issue's client: to their chats.
    Helpdesk(Notice),
    /// A support message for the admins, or an admin's reply by e-mail.
    Support(SupportNotice),
    /// What SES published about one of our e-mails (a bounce), untagged as SES writes it.
    Mail(MailEvent),
}

pub const QUEUE: TypedQueue<NotificationMessage> = TypedQueue::new(NOTIFICATIONS);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_kind_decodes_to_its_variant_and_anything_else_is_refused() {
        let lead = r#"{"kind":"dispatch_failed","lead_id":"l","batch_id":"b","error":"e"}"#;
        assert!(matches!(
            QUEUE.decode(lead).unwrap(),
            NotificationMessage::Lead(Notification::DispatchFailed { .. })
        ));
        let notice = r#"{"kind":"helpdesk","key":"okdesk#comment#1","event":{"event":"comment","issue_id":1,"content":"hi"}}"#;
        match QUEUE.decode(notice) {
            Ok(NotificationMessage::Helpdesk(n)) => assert_eq!(n.key, "okdesk#comment#1"),
            other => panic!("{other:?}"),
        }
        assert!(QUEUE.decode(r#"{"kind":"fax","key":"x"}"#).is_err());
        assert!(QUEUE.decode("not json").is_err());
    }
}
