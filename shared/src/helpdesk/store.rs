//! What the helpdesk bot keeps: each chat's link to its Okdesk contact (and company), the
//! reverse entries that let an Okdesk event find the chats of a contact, and the step a
//! conversation is at, which lives a day after its last change.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::Deps;
use crate::ports::AttributeValue;
use crate::ports::table::{Cond, Key, Query, StoreError, TxOp, Update, from_item, to_item};

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

fn chat_pk(chat_id: i64) -> String {
    format!("helpdesk#chat#{chat_id}")
}

fn link_key(chat_id: i64) -> Key {
    Key::new(chat_pk(chat_id), "link")
}

fn step_key(chat_id: i64) -> Key {
    Key::new(chat_pk(chat_id), "step")
}

fn contact_pk(contact_id: i64) -> String {
    format!("helpdesk#contact#{contact_id}")
}

fn contact_chat_key(contact_id: i64, chat_id: i64) -> Key {
    Key::new(contact_pk(contact_id), format!("chat#{chat_id}"))
}

pub async fn link_of_chat(deps: &Deps, chat_id: i64) -> Result<Option<Link>, StoreError> {
    deps.table
        .get(&link_key(chat_id))
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
            item: to_item(&link_key(link.chat_id), link)?,
            cond: None,
        },
        TxOp::Put {
            item: to_item(&contact_chat_key(link.contact_id, link.chat_id), link)?,
            cond: None,
        },
    ];
    if let Some(old) = previous.filter(|p| p.contact_id != link.contact_id) {
        ops.push(TxOp::Delete {
            key: contact_chat_key(old.contact_id, link.chat_id),
            cond: None,
        });
    }
    deps.table.transact(ops).await
}

/// Every chat linked to the contact, with its language.
pub async fn chats_of_contact(deps: &Deps, contact_id: i64) -> Result<Vec<Link>, StoreError> {
    deps.table
        .query_all(Query::pk(contact_pk(contact_id)).prefix("chat#"))
        .await?
        .into_iter()
        .map(from_item)
        .collect()
}

pub async fn step(deps: &Deps, chat_id: i64) -> Result<Option<Step>, StoreError> {
    deps.table
        .get(&step_key(chat_id))
        .await?
        .map(from_item)
        .transpose()
}

/// Sets (or refreshes) the conversation's step for another day.
pub async fn set_step(deps: &Deps, chat_id: i64, step: &Step) -> Result<(), StoreError> {
    let mut item: HashMap<String, AttributeValue> = to_item(&step_key(chat_id), step)?;
    item.insert(
        "ttl".into(),
        AttributeValue::N((deps.clock.now_secs() + STEP_TTL_SECS).to_string()),
    );
    deps.table.put(item, None).await
}

pub async fn clear_step(deps: &Deps, chat_id: i64) -> Result<(), StoreError> {
    deps.table.delete(&step_key(chat_id), None).await
}

fn issues_key(chat_id: i64, hour: i64) -> Key {
    Key::new(chat_pk(chat_id), format!("issues#{hour}"))
}

/// Takes one of the chat's `limit` issue creations of this clock hour; false when they are
/// used up. The counter goes with its hour.
pub async fn take_issue_slot(deps: &Deps, chat_id: i64, limit: u32) -> Result<bool, StoreError> {
    let now = deps.clock.now_secs();
    let hour = now / 3600;
    let update = Update::new()
        .add("n", 1)
        .set("ttl", (hour + 2) * 3600)
        .when(Cond::Or(vec![
            Cond::NotExists("n".into()),
            Cond::Lt("n".into(), AttributeValue::N(limit.to_string())),
        ]));
    match deps.table.update(&issues_key(chat_id, hour), update).await {
        Ok(_) => Ok(true),
        Err(StoreError::ConditionFailed) => Ok(false),
        Err(e) => Err(e),
    }
}

/// Gives a slot back when the issue was not created after all.
pub async fn return_issue_slot(deps: &Deps, chat_id: i64) -> Result<(), StoreError> {
    let hour = deps.clock.now_secs() / 3600;
    deps.table
        .update(
            &issues_key(chat_id, hour),
            Update::new().add("n", -1).when(Cond::Exists("n".into())),
        )
        .await
        .map(|_| ())
        .or_else(|e| match e {
            StoreError::ConditionFailed => Ok(()),
            other => Err(other),
        })
}
