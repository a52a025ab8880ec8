//! Who hears about an Okdesk event: the chats linked to the issue's client contact, unless
//! the event is that contact's own comment coming back.

use super::events::HelpdeskEvent;
use super::okdesk::{Okdesk, OkdeskError};
use super::store::{self, Link};
use crate::Deps;
use crate::ports::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum RecipientError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Okdesk(#[from] OkdeskError),
}

impl RecipientError {
    pub fn is_retryable(&self) -> bool {
        match self {
            RecipientError::Store(e) => e.is_retryable(),
            RecipientError::Okdesk(e) => e.is_retryable(),
        }
    }
}

/// The chats to tell. When the webhook did not name the client contact, Okdesk is asked.
pub async fn recipients(
    deps: &Deps,
    okdesk: Option<&Okdesk>,
    event: &HelpdeskEvent,
) -> Result<Vec<Link>, RecipientError> {
    let contact = match (event.contact_id(), okdesk) {
        (Some(id), _) => Some(id),
        (None, Some(okdesk)) => okdesk
            .issue(event.issue_id())
            .await?
            .and_then(|i| i.contact_id),
        (None, None) => None,
    };
    let Some(contact) = contact else {
        tracing::info!(
            issue = event.issue_id(),
            "issue without a client contact; nobody to tell"
        );
        return Ok(Vec::new());
    };
    if !event.concerns(contact) {
        tracing::info!(
            issue = event.issue_id(),
            "the client's own comment; not sent back"
        );
        return Ok(Vec::new());
    }
    Ok(store::chats_of_contact(deps, contact).await?)
}
