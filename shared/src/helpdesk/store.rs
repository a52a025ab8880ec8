//! What the helpdesk bot keeps: each chat's link to its Okdesk contact (and company), the
//! reverse entries that let an Okdesk event find the chats of a contact, and the step a
//! conversation is at, which lives a day after its last change.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::Deps;
use crate::counter::{self, Window};
use crate::keys;
use crate::ports::AttributeValue;
use crate::ports::table::{Cond, Query, StoreError, TxOp, Update, from_item, to_item};

/// A conversation left alone this long starts over.
pub const STEP_TTL_SECS: i64 = 24 * 3600;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    pub chat_id: i64,
    pub contact_id: i64,
    #[serde(default)]
    pub company_id: Option<i64>,
    #[serde(default)]
    pub company_name: Option<String>,
    pub name: String,
    /// E.164.
    pub phone: String,
    /// The Telegram user's `language_code`: notifications speak it.
    pub lang: String,
    pub registered_at: String,
}

/// A file a message carries: its Telegram id, and a name and type for Okdesk.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileRef {
    pub file_id: String,
    pub name: String,
    pub mime: String,
}

/// Where a conversation is. Registration steps carry what was learnt so far.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum Step {
    ChooseKind,
    PersonName,
    CompanyInn,
    CompanyName {
        company_id: i64,
        company_name: String,
    },
    Phone {
        name: String,
        #[serde(default)]
        company_id: Option<i64>,
        #[serde(default)]
        company_name: Option<String>,
    },
    IssueText,
    CommentText {
        issue_id: i64,
    },
    /// A registered client wrote without choosing an action: offered as a new issue.
    Draft {
        text: String,
        #[serde(default)]
        file: Option<FileRef>,
    },
}

pub async fn link_of_chat(deps: &Deps, chat_id: i64) -> Result<Option<Link>, StoreError> {
    deps.table
        .get(&keys::helpdesk_link(chat_id))
        .await?
        .map(from_item)
        .transpose()
}

/// Stores the chat's link and its reverse entry in one transaction; a chat that was linked
/// to another contact before stops hearing about that contact.
pub async fn save_link(deps: &Deps, link: &Link) -> Result<(), StoreError> {
    let previous = link_of_chat(deps, link.chat_id).await?;
    let mut ops = vec![
        TxOp::Put {
            item: to_item(&keys::helpdesk_link(link.chat_id), link)?,
            cond: None,
        },
        TxOp::Put {
            item: to_item(
                &keys::helpdesk_contact_chat(link.contact_id, link.chat_id),
                link,
            )?,
            cond: None,
        },
    ];
    if let Some(old) = previous.filter(|p| p.contact_id != link.contact_id) {
        ops.push(TxOp::Delete {
            key: keys::helpdesk_contact_chat(old.contact_id, link.chat_id),
            cond: None,
        });
    }
    deps.table.transact(ops).await
}

/// Every chat linked to the contact, with its language.
pub async fn chats_of_contact(deps: &Deps, contact_id: i64) -> Result<Vec<Link>, StoreError> {
    deps.table
        .query_all(
            Query::pk(keys::helpdesk_contact_pk(contact_id))
                .prefix(keys::HELPDESK_CONTACT_CHAT_PREFIX),
        )
        .await?
        .into_iter()
        .map(from_item)
        .collect()
}

pub async fn step(deps: &Deps, chat_id: i64) -> Result<Option<Step>, StoreError> {
    deps.table
        .get(&keys::helpdesk_step(chat_id))
        .await?
        .map(from_item)
        .transpose()
}

/// Sets (or refreshes) the conversation's step for another day.
pub async fn set_step(deps: &Deps, chat_id: i64, step: &Step) -> Result<(), StoreError> {
    let mut item: HashMap<String, AttributeValue> = to_item(&keys::helpdesk_step(chat_id), step)?;
    item.insert(
        "ttl".into(),
        AttributeValue::N((deps.clock.now_secs() + STEP_TTL_SECS).to_string()),
    );
    deps.table.put(item, None).await
}

pub async fn clear_step(deps: &Deps, chat_id: i64) -> Result<(), StoreError> {
    deps.table.delete(&keys::helpdesk_step(chat_id), None).await
}

/// This clock hour's issue counter of the chat; it goes an hour after its hour ends.
fn issue_window(deps: &Deps, chat_id: i64) -> Window {
    let hour = deps.clock.now_secs() / 3600;
    Window {
        key: keys::helpdesk_issue_count(chat_id, hour),
        expires_at: (hour + 2) * 3600,
    }
}

/// Takes one of the chat's `limit` issue creations of this clock hour; false when they are
/// used up.
pub async fn take_issue_slot(deps: &Deps, chat_id: i64, limit: u32) -> Result<bool, StoreError> {
    counter::take(deps.table.as_ref(), &issue_window(deps, chat_id), limit).await
}

/// Gives a slot back when the issue was not created after all.
pub async fn return_issue_slot(deps: &Deps, chat_id: i64) -> Result<(), StoreError> {
    counter::give_back(deps.table.as_ref(), &issue_window(deps, chat_id)).await
}

/// What an earlier handling of the same update did about its issue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IssueAttempt {
    /// Nothing: this handling is the first to create it (and has now said so).
    First,
    /// Created, with this id.
    Created(i64),
    /// Okdesk was asked, but the handling died before the answer was kept: it may exist.
    Unknown,
}

/// How long an attempt is kept: Telegram stops redelivering an update after a day.
const ATTEMPT_TTL_SECS: i64 = 2 * 24 * 3600;

/// Records that the issue of this update is about to be created, unless an earlier
/// handling did.
pub async fn begin_issue(
    deps: &Deps,
    chat_id: i64,
    update_id: i64,
) -> Result<IssueAttempt, StoreError> {
    let key = keys::helpdesk_issue_attempt(chat_id, update_id);
    let begin = Update::new()
        .set("state", "creating")
        .set("ttl", deps.clock.now_secs() + ATTEMPT_TTL_SECS)
        .when(Cond::item_absent());
    match deps.table.update(&key, begin).await {
        Ok(_) => return Ok(IssueAttempt::First),
        Err(StoreError::ConditionFailed) => {}
        Err(e) => return Err(e),
    }
    let earlier = deps.table.get(&key).await?;
    Ok(match earlier.as_ref().and_then(|i| i.get("issue_id")) {
        Some(AttributeValue::N(n)) => n
            .parse()
            .map(IssueAttempt::Created)
            .unwrap_or(IssueAttempt::Unknown),
        _ => IssueAttempt::Unknown,
    })
}

/// Keeps the created issue's id with the attempt.
pub async fn issue_created(
    deps: &Deps,
    chat_id: i64,
    update_id: i64,
    issue_id: i64,
) -> Result<(), StoreError> {
    let key = keys::helpdesk_issue_attempt(chat_id, update_id);
    deps.table
        .update(&key, Update::new().set("issue_id", issue_id))
        .await
        .map(|_| ())
}

/// Forgets an attempt Okdesk refused, so the same update may try again.
pub async fn issue_not_created(
    deps: &Deps,
    chat_id: i64,
    update_id: i64,
) -> Result<(), StoreError> {
    deps.table
        .delete(&keys::helpdesk_issue_attempt(chat_id, update_id), None)
        .await
}
