//! The notifications queue and what it carries: one typed message, tagged by `kind` —
//! `batch_finished` / `dispatch_failed` for the admins (lead fan-out), `helpdesk` for a
//! client's Okdesk issue, `support` for the support relay, `ticket` for the executor
//! workflow. Producers send through [`QUEUE`]; the notification worker decodes
//! each message once into [`NotificationMessage`].

use serde::{Deserialize, Serialize};

use crate::bridge::notices::BridgeNotice;
use crate::claims::{self, Claimed, Claims};
use crate::helpdesk::events::Notice;
use crate::leads::notify::Notification;
use crate::mail_events::MailEvent;
use crate::outbound::DeliveryError;
use crate::ports::table::Key;
use crate::queues::{NOTIFICATIONS, TypedQueue};
use crate::support::notices::SupportNotice;
use crate::tickets::notices::TicketNotice;

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
    /// A step of an internal ticket, for its executors, author or managers.
    Ticket(TicketNotice),
    /// The chat bridge's message to a Telegram user (the system's reply, or news of it).
    Bridge(BridgeNotice),
    /// What SES published about one of our e-mails (a bounce), untagged as SES writes it.
    Mail(MailEvent),
}

pub const QUEUE: TypedQueue<NotificationMessage> = TypedQueue::new(NOTIFICATIONS);

/// How a channel's send ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Sent {
    /// Sent now, or by an earlier delivery.
    Done,
    /// Refused for good (bad address, unverified sender, blocked bot), with why.
    Refused(String),
}

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error(transparent)]
    Store(#[from] crate::ports::StoreError),
    /// The message stays on the queue and is delivered again later.
    #[error("{0}")]
    Retry(String),
}

/// Keeps the record of a sent channel for a month: long after any redelivery.
const SENT_TTL_SECS: i64 = 30 * 24 * 3600;
/// How long a claim to send on a channel holds before another delivery may take over.
const CLAIM_LEASE_MS: i64 = 60_000;
/// A channel's send is a claim marker: absent until first claimed.
const SENDS: Claims = Claims::marker();

/// Sends on one channel (`key`, see [`crate::keys::notification`]) unless it was sent
/// before. The channel is claimed first, under a lease, so two deliveries of one
/// notification handled at the same moment send once; a failure that retrying can fix
/// releases the claim and keeps the message; a final refusal is recorded on the claim.
pub async fn once<F, Fut>(deps: &crate::Deps, key: Key, send: F) -> Result<Sent, NotifyError>
where
    F: FnOnce() -> Fut,
    Fut: std::future::Future<Output = Result<String, DeliveryError>>,
{
    let table = deps.table.as_ref();
    let now = deps.clock.now_ms();
    let extra = claims::expiring(now, SENT_TTL_SECS);
    match SENDS.claim(table, &key, now, CLAIM_LEASE_MS, extra).await? {
        Claimed::Ours(_) => {}
        Claimed::Held { .. } => {
            return Err(NotifyError::Retry(format!(
                "{}: another delivery is sending it",
                key.sk
            )));
        }
        Claimed::Settled(_) | Claimed::Missing => return Ok(Sent::Done),
    }
    let (state, detail) = match send().await {
        Ok(id) => ("sent", id),
        Err(DeliveryError::Retryable { message, .. }) => {
            SENDS.release(table, &key).await?;
            return Err(NotifyError::Retry(message));
        }
        Err(DeliveryError::Final { message }) => {
            // Retrying cannot help (bad chat id, blocked bot, unverified sender).
            tracing::error!(channel = %key.sk, error = %message, "notification cannot be delivered");
            ("undeliverable", message)
        }
    };
    SENDS
        .settle(table, &key, state, claims::detail(detail.clone()))
        .await?;
    Ok(if state == "sent" {
        // Every channel but a mail is a Telegram send (a chat, the admins' note, an edit,
        // a bridge part), so the metric's channel is one of two.
        let channel = if key.sk == "email" {
            "email"
        } else {
            "telegram"
        };
        deps.metrics.notification_sent(channel);
        Sent::Done
    } else {
        Sent::Refused(detail)
    })
}

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
