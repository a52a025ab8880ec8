//! The support relay's table: threads, their messages, the admin-chat messages that point
//! back to a thread, single-use binding tokens and chat bindings. The only support code that
//! speaks to the table; every key comes from [`crate::keys`].

use serde::{Deserialize, Serialize};

use super::{SupportMessage, Thread};
use crate::Deps;
use crate::keys;
use crate::ports::table::{
    AttributeValue, Cond, Key, Query, StoreError, TxOp, Update, from_item, to_item,
};
use crate::time::timestamp;

/// Where every chat binding is listed on gsi1.
pub const BINDINGS_INDEX: &str = keys::SUPPORT_BINDINGS_INDEX;

/// A binding token lives a day (seed 003).
pub const TOKEN_TTL_SECS: i64 = 24 * 3600;

/// An expired token is kept this much longer, so an old link is told "expired", not "unknown".
const EXPIRED_TOKEN_KEPT_SECS: i64 = 7 * 24 * 3600;

pub fn thread_key(user_key: &str) -> Key {
    keys::support_thread(user_key)
}

/// `support#admin#…` (which thread an admin-chat message belongs to), and what every item
/// that points at a thread has.
#[derive(Serialize, Deserialize)]
struct ThreadRef {
    user_key: String,
}

/// `support#token#…`: a binding token; `used_at` appears when it is used.
#[derive(Serialize, Deserialize)]
struct Token {
    user_key: String,
    /// Missing reads as long expired.
    #[serde(default)]
    expires_at: i64,
    #[serde(default)]
    ttl: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    used_at: Option<String>,
}

/// `support#chat#…`: the thread a chat is bound to, listed on gsi1.
#[derive(Serialize, Deserialize)]
struct ChatBinding {
    user_key: String,
    chat_id: i64,
    gsi1pk: String,
    gsi1sk: String,
}

async fn get<T: serde::de::DeserializeOwned>(
    deps: &Deps,
    key: &Key,
) -> Result<Option<T>, StoreError> {
    deps.table.get(key).await?.map(from_item).transpose()
}

/// The thread, created on first use.
pub async fn ensure_thread(
    deps: &Deps,
    user_key: &str,
    name: &str,
    email: Option<&str>,
) -> Result<Thread, StoreError> {
    let thread = Thread {
        user_key: user_key.into(),
        name: name.into(),
        email: email.map(String::from),
        chat_id: None,
        lang: None,
        created_at: timestamp(deps.clock.now_ms()),
    };
    match deps
        .table
        .put_if_absent(to_item(&thread_key(user_key), &thread)?)
        .await
    {
        Ok(()) => Ok(thread),
        Err(StoreError::ConditionFailed) => get(deps, &thread_key(user_key))
            .await?
            .ok_or(StoreError::ConditionFailed),
        Err(e) => Err(e),
    }
}

/// Stores a message of a thread; its sort key orders the thread by time.
pub async fn record(deps: &Deps, msg: &SupportMessage) -> Result<(), StoreError> {
    let key = keys::support_message(&msg.user_key, &msg.created_at, &msg.id);
    deps.table.put(to_item(&key, msg)?, None).await
}

/// Stores a message from Telegram unless an earlier handling of its update did; then the
/// message as that handling left it (with `msg` taking its time, so both name one item).
pub async fn record_once(
    deps: &Deps,
    msg: &mut SupportMessage,
) -> Result<Option<SupportMessage>, StoreError> {
    let seen = keys::support_telegram_message(&msg.user_key, &msg.id);
    let first = Update::new()
        .set("created_at", msg.created_at.as_str())
        .when(Cond::item_absent());
    match deps.table.update(&seen, first).await {
        Ok(_) => {
            record(deps, msg).await?;
            return Ok(None);
        }
        Err(StoreError::ConditionFailed) => {}
        Err(e) => return Err(e),
    }
    if let Some(AttributeValue::S(at)) = deps
        .table
        .get(&seen)
        .await?
        .and_then(|i| i.get("created_at").cloned())
    {
        msg.created_at = at;
    }
    match stored(deps, msg).await? {
        Some(earlier) => Ok(Some(earlier)),
        // The marker was written but the message was not (a failure in between).
        None => {
            record(deps, msg).await?;
            Ok(None)
        }
    }
}

/// The thread of a user key.
pub async fn thread(deps: &Deps, user_key: &str) -> Result<Option<Thread>, StoreError> {
    get(deps, &thread_key(user_key)).await
}

/// The stored message with this key, if any (an earlier handling of the same update).
pub async fn stored(
    deps: &Deps,
    msg: &SupportMessage,
) -> Result<Option<SupportMessage>, StoreError> {
    let key = keys::support_message(&msg.user_key, &msg.created_at, &msg.id);
    deps.table.get(&key).await?.map(from_item).transpose()
}

/// Remembers which thread an admin-chat message belongs to, so a reply to it finds the user.
pub async fn link_admin_message(
    deps: &Deps,
    admin_message_id: i64,
    user_key: &str,
) -> Result<(), StoreError> {
    let reference = ThreadRef {
        user_key: user_key.into(),
    };
    let key = keys::support_admin_message(admin_message_id);
    deps.table.put(to_item(&key, &reference)?, None).await
}

pub async fn thread_of_admin_message(
    deps: &Deps,
    admin_message_id: i64,
) -> Result<Option<Thread>, StoreError> {
    thread_via(deps, &keys::support_admin_message(admin_message_id)).await
}

pub async fn thread_of_chat(deps: &Deps, chat_id: i64) -> Result<Option<Thread>, StoreError> {
    thread_via(deps, &keys::support_chat(chat_id)).await
}

/// Follows an item's `user_key` to its thread.
async fn thread_via(deps: &Deps, key: &Key) -> Result<Option<Thread>, StoreError> {
    let item = deps.table.get(key).await?;
    let Some(ThreadRef { user_key }) = item.and_then(|i| from_item(i).ok()) else {
        return Ok(None);
    };
    get(deps, &thread_key(&user_key)).await
}

/// A new single-use token for `t.me/<bot>?start=<token>`: 32 characters of `A-Za-z0-9_-`.
pub async fn new_binding_token(deps: &Deps, user_key: &str) -> Result<String, StoreError> {
    use base64::Engine;
    let bytes: Vec<u8> = uuid::Uuid::new_v4()
        .as_bytes()
        .iter()
        .chain(uuid::Uuid::new_v4().as_bytes().iter())
        .take(24)
        .copied()
        .collect();
    let token = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
    let now = deps.clock.now_secs();
    let item = Token {
        user_key: user_key.into(),
        expires_at: now + TOKEN_TTL_SECS,
        ttl: now + TOKEN_TTL_SECS + EXPIRED_TOKEN_KEPT_SECS,
        used_at: None,
    };
    deps.table
        .put_if_absent(to_item(&keys::support_token(&token), &item)?)
        .await?;
    Ok(token)
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Binding {
    Bound { user_key: String },
    Unknown,
    Expired,
    Used,
}

/// Tokens as Telegram allows deep-link payloads: 1 to 64 of `A-Za-z0-9_-`.
pub fn valid_token(t: &str) -> bool {
    (1..=64).contains(&t.len())
        && t.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// Binds a private chat to the token's thread, once; `lang` is the user's Telegram
/// `language_code`.
pub async fn bind(
    deps: &Deps,
    token: &str,
    chat_id: i64,
    lang: Option<&str>,
) -> Result<Binding, StoreError> {
    if !valid_token(token) {
        return Ok(Binding::Unknown);
    }
    let Some(item) = deps.table.get(&keys::support_token(token)).await? else {
        return Ok(Binding::Unknown);
    };
    let Ok(stored) = from_item::<Token>(item) else {
        return Ok(Binding::Unknown);
    };
    if stored.used_at.is_some() {
        return Ok(Binding::Used);
    }
    if stored.expires_at < deps.clock.now_secs() {
        return Ok(Binding::Expired);
    }
    let user_key = stored.user_key;
    let binding = ChatBinding {
        user_key: user_key.clone(),
        chat_id,
        // Listed on the index, so every binding can be found (and cleared) without a scan.
        gsi1pk: BINDINGS_INDEX.into(),
        gsi1sk: chat_id.to_string(),
    };
    let result = deps
        .table
        .transact(vec![
            TxOp::Update {
                key: keys::support_token(token),
                update: Update::new()
                    .set("used_at", timestamp(deps.clock.now_ms()))
                    .when(Cond::NotExists("used_at".into())),
            },
            TxOp::Update {
                key: thread_key(&user_key),
                update: Update::new()
                    .set("chat_id", chat_id)
                    .set("lang", lang.unwrap_or("ru"))
                    .when(Cond::item_exists()),
            },
            TxOp::Put {
                item: to_item(&keys::support_chat(chat_id), &binding)?,
                cond: None,
            },
        ])
        .await;
    match result {
        Ok(()) => Ok(Binding::Bound { user_key }),
        // Someone used it a moment earlier.
        Err(StoreError::ConditionFailed) => Ok(Binding::Used),
        Err(e) => Err(e),
    }
}

/// The thread's messages, oldest first.
pub async fn messages(deps: &Deps, user_key: &str) -> Result<Vec<SupportMessage>, StoreError> {
    let query = Query::pk(keys::support_thread_pk(user_key)).prefix(keys::SUPPORT_MESSAGE_PREFIX);
    deps.table
        .query_all(query)
        .await?
        .into_iter()
        .map(from_item)
        .collect()
}

/// Stores the admin-chat message id of a message and links it back to the thread.
pub async fn set_message_admin_id(
    deps: &Deps,
    msg: &mut SupportMessage,
    admin_message_id: i64,
) -> Result<(), StoreError> {
    msg.admin_message_id = Some(admin_message_id);
    record(deps, msg).await?;
    link_admin_message(deps, admin_message_id, &msg.user_key).await
}

/// Removes every chat binding (the threads keep their messages); returns how many there
/// were. With `dry_run` nothing changes.
pub async fn clear_bindings(deps: &Deps, dry_run: bool) -> Result<usize, StoreError> {
    let bindings = deps.table.query_all(Query::gsi1(BINDINGS_INDEX)).await?;
    if dry_run {
        return Ok(bindings.len());
    }
    for item in &bindings {
        let Ok(b) = from_item::<ChatBinding>(item.clone()) else {
            continue;
        };
        deps.table
            .transact(vec![
                TxOp::Delete {
                    key: keys::support_chat(b.chat_id),
                    cond: None,
                },
                TxOp::Update {
                    key: thread_key(&b.user_key),
                    update: Update::new().remove("chat_id").when(Cond::item_exists()),
                },
            ])
            .await
            .or_else(|e| match e {
                // The thread is gone: the binding alone goes.
                StoreError::ConditionFailed => Ok(()),
                other => Err(other),
            })?;
    }
    Ok(bindings.len())
}
