//! The support relay's data: one thread per site user (or anonymous visitor), its messages
//! in both directions, the admin-chat messages that point back to them, and the single-use
//! tokens that bind a Telegram chat to a thread.

pub mod bot;

use serde::{Deserialize, Serialize};

use crate::Deps;
use crate::ports::AttributeValue;
use crate::ports::table::{Cond, Key, Query, StoreError, TxOp, Update, from_item, to_item};
use crate::time::timestamp;

/// Where every chat binding is listed on gsi1.
pub const BINDINGS_INDEX: &str = "support#bindings";

/// A binding token lives a day (seed 003).
pub const TOKEN_TTL_SECS: i64 = 24 * 3600;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Thread {
    /// `u:<site user id>` for a logged-in user, `a:<token>` for an anonymous visitor.
    pub user_key: String,
    pub name: String,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub chat_id: Option<i64>,
    /// The Telegram user's `language_code`, learnt at binding: replies speak it.
    #[serde(default)]
    pub lang: Option<String>,
    pub created_at: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SupportMessage {
    pub id: String,
    pub user_key: String,
    pub from_admin: bool,
    /// `site` or `telegram`.
    pub source: String,
    #[serde(default)]
    pub subject: Option<String>,
    pub text: String,
    /// Our message about it in the admin chat, which admins reply to.
    #[serde(default)]
    pub admin_message_id: Option<i64>,
    pub created_at: String,
}

fn thread_pk(user_key: &str) -> String {
    format!("support#thread#{user_key}")
}

pub fn thread_key(user_key: &str) -> Key {
    Key::new(thread_pk(user_key), "meta")
}

fn admin_ref_key(admin_message_id: i64) -> Key {
    Key::new(format!("support#admin#{admin_message_id}"), "ref")
}

fn token_key(token: &str) -> Key {
    Key::new(format!("support#token#{token}"), "token")
}

fn chat_key(chat_id: i64) -> Key {
    Key::new(format!("support#chat#{chat_id}"), "bind")
}

fn text_of(item: &crate::ports::Item, name: &str) -> Option<String> {
    match item.get(name) {
        Some(AttributeValue::S(s)) => Some(s.clone()),
        _ => None,
    }
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
        Err(StoreError::ConditionFailed) => deps
            .table
            .get(&thread_key(user_key))
            .await?
            .map(from_item)
            .transpose()?
            .ok_or(StoreError::ConditionFailed),
        Err(e) => Err(e),
    }
}

/// Stores a message of a thread; its sort key orders the thread by time.
pub async fn record(deps: &Deps, msg: &SupportMessage) -> Result<(), StoreError> {
    let key = Key::new(
        thread_pk(&msg.user_key),
        format!("msg#{}#{}", msg.created_at, msg.id),
    );
    deps.table.put(to_item(&key, msg)?, None).await
}

pub fn new_message(
    deps: &Deps,
    user_key: &str,
    from_admin: bool,
    source: &str,
    subject: Option<String>,
    text: String,
) -> SupportMessage {
    SupportMessage {
        id: uuid::Uuid::now_v7().simple().to_string()[20..].to_string(),
        user_key: user_key.into(),
        from_admin,
        source: source.into(),
        subject,
        text,
        admin_message_id: None,
        created_at: timestamp(deps.clock.now_ms()),
    }
}

/// Remembers which thread an admin-chat message belongs to, so a reply to it finds the user.
pub async fn link_admin_message(
    deps: &Deps,
    admin_message_id: i64,
    user_key: &str,
) -> Result<(), StoreError> {
    let item = std::collections::HashMap::from([
        (
            "pk".to_string(),
            AttributeValue::S(admin_ref_key(admin_message_id).pk),
        ),
        ("sk".to_string(), AttributeValue::S("ref".into())),
        ("user_key".to_string(), AttributeValue::S(user_key.into())),
    ]);
    deps.table.put(item, None).await
}

pub async fn thread_of_admin_message(
    deps: &Deps,
    admin_message_id: i64,
) -> Result<Option<Thread>, StoreError> {
    thread_via(deps, &admin_ref_key(admin_message_id)).await
}

pub async fn thread_of_chat(deps: &Deps, chat_id: i64) -> Result<Option<Thread>, StoreError> {
    thread_via(deps, &chat_key(chat_id)).await
}

/// Follows an item's `user_key` to its thread.
async fn thread_via(deps: &Deps, key: &Key) -> Result<Option<Thread>, StoreError> {
    let Some(user_key) = deps
        .table
        .get(key)
        .await?
        .and_then(|item| text_of(&item, "user_key"))
    else {
        return Ok(None);
    };
    deps.table
        .get(&thread_key(&user_key))
        .await?
        .map(from_item)
        .transpose()
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
    let item = std::collections::HashMap::from([
        ("pk".to_string(), AttributeValue::S(token_key(&token).pk)),
        ("sk".to_string(), AttributeValue::S("token".into())),
        ("user_key".to_string(), AttributeValue::S(user_key.into())),
        (
            "expires_at".to_string(),
            AttributeValue::N((now + TOKEN_TTL_SECS).to_string()),
        ),
        // Kept a week past expiry, so an old link is told "expired", not "unknown".
        (
            "ttl".to_string(),
            AttributeValue::N((now + TOKEN_TTL_SECS + 7 * 24 * 3600).to_string()),
        ),
    ]);
    deps.table.put_if_absent(item).await?;
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
    let Some(item) = deps.table.get(&token_key(token)).await? else {
        return Ok(Binding::Unknown);
    };
    if item.contains_key("used_at") {
        return Ok(Binding::Used);
    }
    let expired = match item.get("expires_at") {
        Some(AttributeValue::N(n)) => n
            .parse::<i64>()
            .map(|e| e < deps.clock.now_secs())
            .unwrap_or(true),
        _ => true,
    };
    if expired {
        return Ok(Binding::Expired);
    }
    let Some(user_key) = text_of(&item, "user_key") else {
        return Ok(Binding::Unknown);
    };
    let binding = std::collections::HashMap::from([
        ("pk".to_string(), AttributeValue::S(chat_key(chat_id).pk)),
        ("sk".to_string(), AttributeValue::S("bind".into())),
        ("user_key".to_string(), AttributeValue::S(user_key.clone())),
        (
            "chat_id".to_string(),
            AttributeValue::N(chat_id.to_string()),
        ),
        // Listed on the index, so every binding can be found (and cleared) without a scan.
        (
            "gsi1pk".to_string(),
            AttributeValue::S(BINDINGS_INDEX.into()),
        ),
        ("gsi1sk".to_string(), AttributeValue::S(chat_id.to_string())),
    ]);
    let result = deps
        .table
        .transact(vec![
            TxOp::Update {
                key: token_key(token),
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
                item: binding,
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
    deps.table
        .query_all(Query::pk(thread_pk(user_key)).prefix("msg#"))
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
    for b in &bindings {
        let (Some(pk), Some(user_key)) = (text_of(b, "pk"), text_of(b, "user_key")) else {
            continue;
        };
        deps.table
            .transact(vec![
                TxOp::Delete {
                    key: Key::new(pk, "bind"),
                    cond: None,
                },
                TxOp::Update {
                    key: thread_key(&user_key),
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
