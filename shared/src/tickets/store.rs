//! The executor workflow's typed store: the only code of the workflow that builds
//! conditions and updates. Ids are integers from a per-kind sequence; every change of a
//! ticket is written on the version it read, with its history entry, in one transaction,
//! so two taps at once leave exactly one result.

use serde::{Deserialize, Serialize};

use super::model::{Action, Category, Executor, HistoryEntry, Status, Ticket, User};
use crate::Deps;
use crate::claims;
use crate::keys;
use crate::ports::table::{
    AttributeValue, Cond, GSI1_PK, GSI1_SK, Item, Key, Query, StoreError, TxOp, Update, from_item,
    to_item,
};
use crate::time::timestamp;

#[derive(Debug, thiserror::Error)]
pub enum TicketError {
    #[error(transparent)]
    Store(#[from] StoreError),
    /// Somebody changed the ticket first: it is as shown now.
    #[error("ticket {} moved on", .0.id)]
    Stale(Box<Ticket>),
    /// The executor has no room (or stopped being active) at the moment of the write.
    #[error("the executor has no room for another ticket")]
    Full,
    /// A unique thing is taken: which field, and by what.
    #[error("{field}: {message}")]
    Conflict {
        field: &'static str,
        message: String,
    },
}

/// Binding links live a day.
pub const LINK_TTL_MS: i64 = 24 * 3600 * 1000;
/// An expired or used link is remembered a week, to tell its user so.
const LINK_KEPT_SECS: i64 = 7 * 24 * 3600;
/// How long a bot message or an API request key remembers the ticket it made.
const ORIGIN_TTL_SECS: i64 = 2 * 24 * 3600;
/// A conversation step of the staff bot is forgotten after a day.
const STEP_TTL_SECS: i64 = 24 * 3600;

fn item_with<T: Serialize>(key: &Key, value: &T) -> Result<Item, StoreError> {
    to_item(key, value)
}

/// An item listed on gsi1 under `index`, sorted by its id.
fn listed<T: Serialize>(key: &Key, value: &T, index: &str, id: i64) -> Result<Item, StoreError> {
    let mut item = to_item(key, value)?;
    item.insert(GSI1_PK.into(), AttributeValue::S(index.into()));
    item.insert(GSI1_SK.into(), AttributeValue::S(keys::staff_sort(id)));
    Ok(item)
}

async fn load<T: serde::de::DeserializeOwned>(
    deps: &Deps,
    key: &Key,
) -> Result<Option<T>, StoreError> {
    deps.table.get(key).await?.map(from_item).transpose()
}

/// The next id of a kind (`user`, `category`, `executor`, `ticket`): 1, 2, 3 … A failed
/// create leaves a gap, never a repeat.
async fn next_id(deps: &Deps, kind: &str) -> Result<i64, StoreError> {
    let item = deps
        .table
        .update(&keys::staff_sequence(kind), Update::new().add("n", 1))
        .await?;
    Ok(claims::count(&item, "n"))
}

fn now(deps: &Deps) -> String {
    timestamp(deps.clock.now_ms())
}

// --- Users --------------------------------------------------------------------------------

#[derive(Debug, Serialize, Deserialize)]
struct TelegramBinding {
    user_id: i64,
}

fn bind_op(telegram_id: i64, user_id: i64) -> Result<TxOp, StoreError> {
    Ok(TxOp::Put {
        item: item_with(
            &keys::staff_telegram(telegram_id),
            &TelegramBinding { user_id },
        )?,
        // Free, or already this user's.
        cond: Some(Cond::Or(vec![
            Cond::item_absent(),
            Cond::eq("user_id", user_id),
        ])),
    })
}

fn telegram_taken(telegram_id: i64) -> TicketError {
    TicketError::Conflict {
        field: "telegram_id",
        message: format!("Telegram account {telegram_id} is bound to another user"),
    }
}

pub async fn create_user(
    deps: &Deps,
    name: &str,
    telegram_id: Option<i64>,
) -> Result<User, TicketError> {
    if let Some(tg) = telegram_id
        && user_by_telegram(deps, tg).await?.is_some()
    {
        return Err(telegram_taken(tg));
    }
    let id = next_id(deps, "user").await?;
    let user = User {
        id,
        name: name.into(),
        telegram_id,
        language_code: None,
        created_at: now(deps),
    };
    let mut ops = vec![TxOp::Put {
        item: listed(&keys::staff_user(id), &user, keys::STAFF_USERS_INDEX, id)?,
        cond: Some(Cond::item_absent()),
    }];
    if let Some(tg) = telegram_id {
        ops.push(bind_op(tg, id)?);
    }
    match deps.table.transact(ops).await {
        Ok(()) => Ok(user),
        Err(StoreError::ConditionFailed) => Err(telegram_taken(telegram_id.unwrap_or_default())),
        Err(e) => Err(e.into()),
    }
}

pub async fn user(deps: &Deps, id: i64) -> Result<Option<User>, StoreError> {
    load(deps, &keys::staff_user(id)).await
}

pub async fn users(deps: &Deps) -> Result<Vec<User>, StoreError> {
    let items = deps
        .table
        .query_all(Query::gsi1(keys::STAFF_USERS_INDEX))
        .await?;
    items.into_iter().map(from_item).collect()
}

/// The user a Telegram account is bound to.
pub async fn user_by_telegram(deps: &Deps, telegram_id: i64) -> Result<Option<User>, StoreError> {
    let Some(b) = load::<TelegramBinding>(deps, &keys::staff_telegram(telegram_id)).await? else {
        return Ok(None);
    };
    Ok(user(deps, b.user_id)
        .await?
        .filter(|u| u.telegram_id == Some(telegram_id)))
}

/// Renames a user and/or binds (`Some(Some(id))`) or unbinds (`Some(None)`) their Telegram
/// account; the account is bound to one user at most.
pub async fn update_user(
    deps: &Deps,
    current: &User,
    name: Option<&str>,
    telegram: Option<Option<i64>>,
    language_code: Option<&str>,
    link_token: Option<&str>,
) -> Result<User, TicketError> {
    let mut next = current.clone();
    let mut update = Update::new().when(Cond::item_exists());
    if let Some(name) = name {
        next.name = name.into();
        update = update.set("name", name);
    }
    let mut ops = Vec::new();
    if let Some(tg) = telegram {
        // Written only while the binding is still the one read.
        update = update.when(match current.telegram_id {
            Some(old) => Cond::item_exists().and(Cond::eq("telegram_id", old)),
            None => Cond::item_exists().and(Cond::NotExists("telegram_id".into())),
        });
        if let Some(old) = current.telegram_id
            && Some(old) != tg
        {
            ops.push(TxOp::Delete {
                key: keys::staff_telegram(old),
                cond: None,
            });
        }
        match tg {
            Some(new) => {
                if current.telegram_id != Some(new) {
                    ops.push(bind_op(new, current.id)?);
                }
                update = update.set("telegram_id", new);
            }
            None => update = update.remove("telegram_id"),
        }
        next.telegram_id = tg;
    }
    if let Some(code) = language_code {
        next.language_code = Some(code.into());
        update = update.set("language_code", code);
    }
    if let Some(token) = link_token {
        let mut used = Update::new()
            .set("used_at", now(deps))
            .when(Cond::item_exists().and(Cond::NotExists("used_at".into())));
        // The account the link replaced, so a redelivered /start can still tell it.
        if let Some(old) = current.telegram_id
            && telegram.is_some_and(|tg| tg != Some(old))
        {
            used = used.set("replaced_telegram_id", old);
            if let Some(code) = &current.language_code {
                used = used.set("replaced_language_code", code.as_str());
            }
        }
        ops.push(TxOp::Update {
            key: keys::staff_link(token),
            update: used,
        });
    }
    if update.set.is_empty() && update.remove.is_empty() {
        return Ok(next);
    }
    ops.push(TxOp::Update {
        key: keys::staff_user(current.id),
        update,
    });
    match deps.table.transact(ops).await {
        Ok(()) => Ok(next),
        Err(StoreError::ConditionFailed) => Err(match telegram.flatten() {
            Some(tg) => telegram_taken(tg),
            None => TicketError::Conflict {
                field: "telegram_id",
                message: "the user changed at the same moment; try again".into(),
            },
        }),
        Err(e) => Err(e.into()),
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct Link {
    user_id: i64,
    /// Unix ms.
    expires_at: i64,
    /// The administrator asked for a link that replaces the account the user is bound to;
    /// any other link binds only a user bound to nobody.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    rebind: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    used_at: Option<String>,
    /// The account a rebind link unbound, and its language: told once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    replaced_telegram_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    replaced_language_code: Option<String>,
    ttl: i64,
}

impl Link {
    fn replaced(&self) -> Option<Replaced> {
        self.replaced_telegram_id.map(|telegram_id| Replaced {
            telegram_id,
            language_code: self.replaced_language_code.clone(),
        })
    }
}

/// A single-use binding token for the user: 32 hex digits, valid for a day. Only a
/// `rebind` link may replace the account the user is bound to when it is used.
pub async fn new_link(
    deps: &Deps,
    user_id: i64,
    rebind: bool,
) -> Result<(String, i64), StoreError> {
    let token = uuid::Uuid::new_v4().simple().to_string();
    let now_ms = deps.clock.now_ms();
    let expires_at = now_ms + LINK_TTL_MS;
    let link = Link {
        user_id,
        expires_at,
        rebind,
        used_at: None,
        replaced_telegram_id: None,
        replaced_language_code: None,
        ttl: expires_at / 1000 + LINK_KEPT_SECS,
    };
    deps.table
        .put_if_absent(item_with(&keys::staff_link(&token), &link)?)
        .await?;
    Ok((token, expires_at))
}

/// The Telegram account a rebind link unbound from its user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replaced {
    pub telegram_id: i64,
    /// That account's language, for the message that tells it.
    pub language_code: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkUse {
    /// Bound; `replaced` is the account that was bound before (a rebind link), to be told.
    Bound {
        user: User,
        replaced: Option<Replaced>,
    },
    Unknown,
    Expired,
    Used,
    /// The Telegram account is already another user's.
    TakenByOther,
    /// The link's user is bound to another account and the link is not a rebind link.
    AlreadyBound,
}

/// Tokens as Telegram allows deep-link payloads: 1 to 64 of `A-Za-z0-9_-`.
fn valid_token(t: &str) -> bool {
    (1..=64).contains(&t.len())
        && t.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
}

/// Binds the Telegram account that opened the link to the link's user, once. A user bound
/// to another account stays bound unless the link is a rebind link: checked here, when the
/// link is used, as the user may have been bound since it was made.
pub async fn use_link(
    deps: &Deps,
    token: &str,
    telegram_id: i64,
    language_code: Option<&str>,
) -> Result<LinkUse, StoreError> {
    if !valid_token(token) {
        return Ok(LinkUse::Unknown);
    }
    let Some(link) = load::<Link>(deps, &keys::staff_link(token)).await? else {
        return Ok(LinkUse::Unknown);
    };
    if link.used_at.is_some() {
        // Used by this very account (a redelivered /start): it is bound, say so again.
        return Ok(match user(deps, link.user_id).await? {
            Some(u) if u.telegram_id == Some(telegram_id) => LinkUse::Bound {
                user: u,
                replaced: link.replaced(),
            },
            _ => LinkUse::Used,
        });
    }
    if link.expires_at < deps.clock.now_ms() {
        return Ok(LinkUse::Expired);
    }
    let Some(current) = user(deps, link.user_id).await? else {
        return Ok(LinkUse::Unknown);
    };
    if let Some(other) = user_by_telegram(deps, telegram_id).await?
        && other.id != current.id
    {
        return Ok(LinkUse::TakenByOther);
    }
    if bound_elsewhere(&current, telegram_id) && !link.rebind {
        return Ok(LinkUse::AlreadyBound);
    }
    let lang = language_code.unwrap_or("ru");
    // update_user writes only while the user's binding is the one read here.
    match update_user(
        deps,
        &current,
        None,
        Some(Some(telegram_id)),
        Some(lang),
        Some(token),
    )
    .await
    {
        Ok(u) => Ok(LinkUse::Bound {
            user: u,
            replaced: current
                .telegram_id
                .filter(|old| *old != telegram_id)
                .map(|old| Replaced {
                    telegram_id: old,
                    language_code: current.language_code.clone(),
                }),
        }),
        Err(TicketError::Store(e)) => Err(e),
        // Used a moment earlier, or the account or the user was bound meanwhile.
        Err(_) => {
            let Some(l) = load::<Link>(deps, &keys::staff_link(token)).await? else {
                return Ok(LinkUse::Used);
            };
            if l.used_at.is_some() {
                return Ok(LinkUse::Used);
            }
            Ok(match user(deps, l.user_id).await? {
                Some(u) if bound_elsewhere(&u, telegram_id) && !l.rebind => LinkUse::AlreadyBound,
                _ => LinkUse::TakenByOther,
            })
        }
    }
}

/// The user is bound to a Telegram account other than this one.
fn bound_elsewhere(u: &User, telegram_id: i64) -> bool {
    u.telegram_id.is_some_and(|bound| bound != telegram_id)
}

// --- Categories and executors -------------------------------------------------------------

pub async fn create_category(
    deps: &Deps,
    name: &str,
    manager_user_ids: Vec<i64>,
) -> Result<Category, StoreError> {
    let id = next_id(deps, "category").await?;
    let c = Category {
        id,
        name: name.into(),
        manager_user_ids,
        created_at: now(deps),
    };
    deps.table
        .put_if_absent(listed(
            &keys::staff_category(id),
            &c,
            keys::STAFF_CATEGORIES_INDEX,
            id,
        )?)
        .await?;
    Ok(c)
}

pub async fn category(deps: &Deps, id: i64) -> Result<Option<Category>, StoreError> {
    load(deps, &keys::staff_category(id)).await
}

pub async fn categories(deps: &Deps) -> Result<Vec<Category>, StoreError> {
    let items = deps
        .table
        .query_all(Query::gsi1(keys::STAFF_CATEGORIES_INDEX))
        .await?;
    items.into_iter().map(from_item).collect()
}

#[derive(Debug, Serialize, Deserialize)]
struct ExecutorRef {
    category_id: i64,
    user_id: i64,
}

#[derive(Debug, Clone)]
pub struct NewExecutor {
    pub user_id: i64,
    pub category_id: i64,
    pub priority: i64,
    pub max_tickets: i64,
    pub is_active: bool,
}

fn already_executor(n: &NewExecutor) -> TicketError {
    TicketError::Conflict {
        field: "user_id",
        message: format!(
            "user {} is already an executor of category {}",
            n.user_id, n.category_id
        ),
    }
}

pub async fn add_executor(deps: &Deps, n: NewExecutor) -> Result<Executor, TicketError> {
    // Looked at first, so a refused add writes nothing (not even an id); the put's
    // condition decides a race.
    if executor(deps, n.category_id, n.user_id).await?.is_some() {
        return Err(already_executor(&n));
    }
    let id = next_id(deps, "executor").await?;
    let e = Executor {
        id,
        user_id: n.user_id,
        category_id: n.category_id,
        priority: n.priority,
        max_tickets: n.max_tickets,
        is_active: n.is_active,
        open_tickets: 0,
        created_at: now(deps),
    };
    let ops = vec![
        TxOp::Put {
            item: listed(
                &keys::staff_executor(n.category_id, n.user_id),
                &e,
                keys::STAFF_EXECUTORS_INDEX,
                id,
            )?,
            cond: Some(Cond::item_absent()),
        },
        TxOp::Put {
            item: item_with(
                &keys::staff_executor_ref(id),
                &ExecutorRef {
                    category_id: n.category_id,
                    user_id: n.user_id,
                },
            )?,
            cond: Some(Cond::item_absent()),
        },
    ];
    match deps.table.transact(ops).await {
        Ok(()) => Ok(e),
        Err(StoreError::ConditionFailed) => Err(already_executor(&n)),
        Err(e) => Err(e.into()),
    }
}

/// The user as an executor of the category, if they are one.
pub async fn executor(
    deps: &Deps,
    category_id: i64,
    user_id: i64,
) -> Result<Option<Executor>, StoreError> {
    load(deps, &keys::staff_executor(category_id, user_id)).await
}

pub async fn executor_by_id(deps: &Deps, id: i64) -> Result<Option<Executor>, StoreError> {
    let Some(r) = load::<ExecutorRef>(deps, &keys::staff_executor_ref(id)).await? else {
        return Ok(None);
    };
    executor(deps, r.category_id, r.user_id).await
}

/// A category's executors (or everybody's), highest priority first, then by id.
pub async fn executors(deps: &Deps, category_id: Option<i64>) -> Result<Vec<Executor>, StoreError> {
    let query = match category_id {
        Some(c) => Query::pk(keys::staff_category_pk(c)).prefix(keys::STAFF_EXECUTOR_PREFIX),
        None => Query::gsi1(keys::STAFF_EXECUTORS_INDEX),
    };
    let mut list: Vec<Executor> = deps
        .table
        .query_all(query)
        .await?
        .into_iter()
        .map(from_item)
        .collect::<Result<_, _>>()?;
    list.sort_by_key(|e| (std::cmp::Reverse(e.priority), e.id));
    Ok(list)
}

#[derive(Debug, Default, Clone)]
pub struct ExecutorPatch {
    pub is_active: Option<bool>,
    pub priority: Option<i64>,
    pub max_tickets: Option<i64>,
}

pub async fn update_executor(
    deps: &Deps,
    e: &Executor,
    patch: &ExecutorPatch,
) -> Result<Option<Executor>, StoreError> {
    let mut u = Update::new().when(Cond::item_exists());
    if let Some(a) = patch.is_active {
        u = u.set(
            "is_active",
            crate::ports::table::Attr(AttributeValue::Bool(a)),
        );
    }
    if let Some(p) = patch.priority {
        u = u.set("priority", p);
    }
    if let Some(m) = patch.max_tickets {
        u = u.set("max_tickets", m);
    }
    if u.set.is_empty() {
        return Ok(Some(e.clone()));
    }
    match deps
        .table
        .update(&keys::staff_executor(e.category_id, e.user_id), u)
        .await
    {
        Ok(item) => Ok(Some(from_item(item)?)),
        Err(StoreError::ConditionFailed) => Ok(None),
        Err(e) => Err(e),
    }
}

pub async fn remove_executor(deps: &Deps, e: &Executor) -> Result<(), StoreError> {
    deps.table
        .transact(vec![
            TxOp::Delete {
                key: keys::staff_executor(e.category_id, e.user_id),
                cond: None,
            },
            TxOp::Delete {
                key: keys::staff_executor_ref(e.id),
                cond: None,
            },
        ])
        .await
}

// --- Tickets ------------------------------------------------------------------------------

#[derive(Debug, Clone)]
pub struct NewTicket {
    pub category_id: i64,
    pub author_user_id: i64,
    pub title: String,
    pub description: String,
}

#[derive(Debug, Serialize, Deserialize)]
struct Origin {
    ticket_id: i64,
    /// What was asked for, so the same key with another request is refused.
    #[serde(default)]
    fingerprint: String,
    ttl: i64,
}

impl NewTicket {
    fn fingerprint(&self) -> String {
        use sha2::{Digest, Sha256};
        let mut h = Sha256::new();
        for part in [
            self.category_id.to_string(),
            self.author_user_id.to_string(),
            self.title.clone(),
            self.description.clone(),
        ] {
            h.update(part.len().to_le_bytes());
            h.update(part.as_bytes());
        }
        h.finalize().iter().map(|b| format!("{b:02x}")).collect()
    }
}

fn origin_reused() -> TicketError {
    TicketError::Conflict {
        field: "Idempotency-Key",
        message: "was used for another request".into(),
    }
}

/// What a timer does when it is due.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TimerKind {
    /// Remind the assignee of a postponed ticket.
    Remind,
    /// Offer a ticket nobody took again.
    Escalate,
}

impl TimerKind {
    fn as_str(self) -> &'static str {
        match self {
            TimerKind::Remind => "remind",
            TimerKind::Escalate => "escalate",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Timer {
    pub ticket_id: i64,
    pub kind: TimerKind,
    pub due_ms: i64,
    /// The ticket's version (a reminder) or escalation number (an escalation) it is for:
    /// a timer for a ticket that moved on does nothing.
    pub of: i64,
}

impl Timer {
    pub fn key(&self) -> Key {
        keys::staff_timer(self.due_ms, self.ticket_id, self.kind.as_str())
    }
}

fn timer_op(t: &Timer) -> Result<TxOp, StoreError> {
    Ok(TxOp::Put {
        item: item_with(&t.key(), t)?,
        cond: None,
    })
}

fn history_op(ticket_id: i64, entry: &HistoryEntry) -> Result<TxOp, StoreError> {
    Ok(TxOp::Put {
        item: item_with(&keys::staff_history(ticket_id, entry.version), entry)?,
        cond: Some(Cond::item_absent()),
    })
}

/// Stores a new ticket (status created, version 1) with its first history entry and its
/// first escalation timer. `origin` (a bot update, an Idempotency-Key) makes a repeat of
/// the same request return the ticket it made: `false` then.
pub async fn create_ticket(
    deps: &Deps,
    n: NewTicket,
    origin: Option<&str>,
    escalate_at_ms: Option<i64>,
) -> Result<(Ticket, bool), TicketError> {
    let fingerprint = n.fingerprint();
    if let Some(o) = origin
        && let Some(found) = ticket_of_origin(deps, o, &fingerprint).await?
    {
        return found.map(|t| (t, false));
    }
    let id = next_id(deps, "ticket").await?;
    let at = now(deps);
    let t = Ticket {
        id,
        category_id: n.category_id,
        author_user_id: n.author_user_id,
        assignee_user_id: None,
        title: n.title,
        description: n.description,
        status: Status::Created,
        version: 1,
        postponed_until: None,
        escalations: 0,
        counted_by: None,
        created_at: at.clone(),
        updated_at: at.clone(),
    };
    let mut ops = vec![
        TxOp::Put {
            item: listed(&keys::staff_ticket(id), &t, keys::STAFF_TICKETS_INDEX, id)?,
            cond: Some(Cond::item_absent()),
        },
        history_op(
            id,
            &HistoryEntry {
                version: 1,
                at,
                actor_user_id: t.author_user_id,
                action: Action::Created,
                status: Status::Created,
                comment: None,
                postponed_until: None,
            },
        )?,
    ];
    if let Some(due_ms) = escalate_at_ms {
        ops.push(timer_op(&Timer {
            ticket_id: id,
            kind: TimerKind::Escalate,
            due_ms,
            of: 1,
        })?);
    }
    if let Some(o) = origin {
        ops.push(TxOp::Put {
            item: item_with(
                &keys::staff_ticket_origin(o),
                &Origin {
                    ticket_id: id,
                    fingerprint: fingerprint.clone(),
                    ttl: deps.clock.now_secs() + ORIGIN_TTL_SECS,
                },
            )?,
            cond: Some(Cond::item_absent()),
        });
    }
    match deps.table.transact(ops).await {
        Ok(()) => Ok((t, true)),
        // The same origin a moment earlier.
        Err(StoreError::ConditionFailed) if origin.is_some() => {
            match ticket_of_origin(deps, origin.unwrap_or_default(), &fingerprint).await? {
                Some(found) => found.map(|t| (t, false)),
                None => Err(StoreError::ConditionFailed.into()),
            }
        }
        Err(e) => Err(e.into()),
    }
}

/// The ticket an origin made: `Err` when the origin came with another request.
async fn ticket_of_origin(
    deps: &Deps,
    origin: &str,
    fingerprint: &str,
) -> Result<Option<Result<Ticket, TicketError>>, StoreError> {
    let Some(o) = load::<Origin>(deps, &keys::staff_ticket_origin(origin)).await? else {
        return Ok(None);
    };
    if o.fingerprint != fingerprint {
        return Ok(Some(Err(origin_reused())));
    }
    Ok(ticket(deps, o.ticket_id).await?.map(Ok))
}

pub async fn ticket(deps: &Deps, id: i64) -> Result<Option<Ticket>, StoreError> {
    load(deps, &keys::staff_ticket(id)).await
}

pub async fn history(deps: &Deps, id: i64) -> Result<Vec<HistoryEntry>, StoreError> {
    let items = deps
        .table
        .query_all(Query::pk(keys::staff_ticket(id).pk).prefix(keys::STAFF_HISTORY_PREFIX))
        .await?;
    items.into_iter().map(from_item).collect()
}

/// One history entry.
pub async fn history_entry(
    deps: &Deps,
    id: i64,
    version: i64,
) -> Result<Option<HistoryEntry>, StoreError> {
    load(deps, &keys::staff_history(id, version)).await
}

#[derive(Debug, Default, Clone)]
pub struct TicketFilter {
    pub status: Option<Status>,
    pub category_id: Option<i64>,
    pub executor_user_id: Option<i64>,
}

impl TicketFilter {
    fn matches(&self, t: &Ticket) -> bool {
        self.status.is_none_or(|s| s == t.status)
            && self.category_id.is_none_or(|c| c == t.category_id)
            && self
                .executor_user_id
                .is_none_or(|u| t.assignee_user_id == Some(u))
    }
}

/// Newest first, `limit` tickets looked at per page (a page with a filter can hold fewer;
/// only a missing cursor means the end). Empty pages are skipped, up to ten at a time.
pub async fn list_tickets(
    deps: &Deps,
    filter: &TicketFilter,
    limit: u32,
    mut cursor: Option<String>,
) -> Result<(Vec<Ticket>, Option<String>), StoreError> {
    let mut found = Vec::new();
    for _ in 0..10 {
        let page = deps
            .table
            .query(
                Query::gsi1(keys::STAFF_TICKETS_INDEX)
                    .descending()
                    .limit(limit)
                    .after(cursor.take()),
            )
            .await?;
        for item in page.items {
            let t: Ticket = from_item(item)?;
            if filter.matches(&t) {
                found.push(t);
            }
        }
        cursor = page.cursor;
        if !found.is_empty() || cursor.is_none() {
            break;
        }
    }
    Ok((found, cursor))
}

/// What a change does to the executor's count of open tickets.
#[derive(Debug, Clone, Copy)]
pub enum Load {
    /// One more on the executor record `executor_id`, if it is still active with room under
    /// `max` (as read); the ticket notes which record counted it.
    Take { executor_id: i64, max: i64 },
    /// One fewer, on the record that counted the ticket (if it is still there).
    Release,
}

/// One change of a ticket, by one user.
#[derive(Debug, Clone)]
pub struct Change {
    pub actor: i64,
    pub action: Action,
    pub to: Status,
    pub assignee: Option<i64>,
    pub postponed_until: Option<i64>,
    pub comment: Option<String>,
    /// A timer that starts with the change (a reminder), due at this Unix ms.
    pub remind_at: Option<i64>,
    /// Whose count of open tickets changes: the executor (category, user) and how.
    pub load: Option<(i64, i64, Load)>,
}

impl Change {
    pub fn new(actor: i64, action: Action, to: Status) -> Self {
        Self {
            actor,
            action,
            to,
            assignee: None,
            postponed_until: None,
            comment: None,
            remind_at: None,
            load: None,
        }
    }
}

/// Applies a change to the ticket as read: written only if nobody changed it since
/// (`Stale` with the ticket as it is now otherwise), with its history entry, its timer and
/// the executor's count, all or nothing.
pub async fn apply(deps: &Deps, t: &Ticket, c: Change) -> Result<Ticket, TicketError> {
    let mut next = t.clone();
    let version = t.version + 1;
    next.version = version;
    next.status = c.to;
    next.updated_at = now(deps);
    if let Some(a) = c.assignee {
        next.assignee_user_id = Some(a);
    }
    // A postponed ticket keeps its time through a comment; any other step clears it.
    let postponed_until = match (c.to, c.postponed_until) {
        (Status::Postponed, None) => t.postponed_until,
        (_, p) => p,
    };
    next.postponed_until = postponed_until;
    let mut u = Update::new()
        .set("version", version)
        .set("status", c.to.as_str())
        .set("updated_at", next.updated_at.as_str())
        .when(Cond::eq("version", t.version));
    if let Some(a) = c.assignee {
        u = u.set("assignee_user_id", a);
    }
    match c.load {
        Some((_, _, Load::Take { executor_id, .. })) => {
            next.counted_by = Some(executor_id);
            u = u.set("counted_by", executor_id);
        }
        Some((_, _, Load::Release)) => {
            next.counted_by = None;
            u = u.remove("counted_by");
        }
        None => {}
    }
    u = match postponed_until {
        Some(p) => u.set("postponed_until", p),
        None => u.remove("postponed_until"),
    };
    let mut ops = vec![
        TxOp::Update {
            key: keys::staff_ticket(t.id),
            update: u,
        },
        history_op(
            t.id,
            &HistoryEntry {
                version,
                at: next.updated_at.clone(),
                actor_user_id: c.actor,
                action: c.action,
                status: c.to,
                comment: c.comment.clone(),
                postponed_until: c.postponed_until,
            },
        )?,
    ];
    // A change that leaves the ticket postponed (a comment) keeps its reminder: reminders
    // belong to a version, so the new version gets its own.
    let remind_at = c.remind_at.or(match c.to {
        Status::Postponed => postponed_until,
        _ => None,
    });
    if let Some(due_ms) = remind_at {
        ops.push(timer_op(&Timer {
            ticket_id: t.id,
            kind: TimerKind::Remind,
            due_ms,
            of: version,
        })?);
    }
    let release = match c.load {
        Some((category, user, Load::Take { executor_id, max })) => {
            ops.push(TxOp::Update {
                key: keys::staff_executor(category, user),
                update: Update::new().add("open_tickets", 1).when(
                    Cond::item_exists()
                        .and(Cond::eq("id", executor_id))
                        .and(Cond::Eq("is_active".into(), AttributeValue::Bool(true)))
                        .and(Cond::eq("max_tickets", max))
                        .and(Cond::Or(vec![
                            Cond::NotExists("open_tickets".into()),
                            Cond::Lt("open_tickets".into(), AttributeValue::N(max.to_string())),
                        ])),
                ),
            });
            None
        }
        Some((category, user, Load::Release)) => t
            .counted_by
            .map(|id| (keys::staff_executor(category, user), id)),
        None => None,
    };
    let with_release = match &release {
        Some((key, counted_by)) => {
            let mut o = ops.clone();
            o.push(TxOp::Update {
                key: key.clone(),
                update: Update::new().add("open_tickets", -1).when(
                    Cond::item_exists()
                        .and(Cond::eq("id", *counted_by))
                        .and(Cond::Gt(
                            "open_tickets".into(),
                            AttributeValue::N("0".into()),
                        )),
                ),
            });
            o
        }
        None => ops.clone(),
    };
    match deps.table.transact(with_release).await {
        Ok(()) => return Ok(next),
        Err(StoreError::ConditionFailed) => {}
        Err(e) => return Err(e.into()),
    }
    let current = ticket(deps, t.id)
        .await?
        .ok_or_else(|| StoreError::Invalid(format!("ticket {} vanished", t.id)))?;
    if current.version != t.version {
        return Err(TicketError::Stale(Box::new(current)));
    }
    if release.is_some() {
        // The executor is gone (or counted nothing): the ticket changes all the same.
        match deps.table.transact(ops).await {
            Ok(()) => return Ok(next),
            Err(StoreError::ConditionFailed) => {
                let current = ticket(deps, t.id).await?.unwrap_or(current);
                return Err(TicketError::Stale(Box::new(current)));
            }
            Err(e) => return Err(e.into()),
        }
    }
    Err(TicketError::Full)
}

/// The ticket was offered to a chat in this message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Offer {
    pub chat_id: i64,
    pub user_id: i64,
    pub message_id: i64,
}

pub async fn record_offer(deps: &Deps, ticket_id: i64, o: &Offer) -> Result<(), StoreError> {
    deps.table
        .put(
            item_with(&keys::staff_offer(ticket_id, o.chat_id, o.message_id), o)?,
            None,
        )
        .await
}

pub async fn offers(deps: &Deps, ticket_id: i64) -> Result<Vec<Offer>, StoreError> {
    let items = deps
        .table
        .query_all(Query::pk(keys::staff_ticket(ticket_id).pk).prefix(keys::STAFF_OFFER_PREFIX))
        .await?;
    items.into_iter().map(from_item).collect()
}

// --- Timers -------------------------------------------------------------------------------

/// Timers due at `now_ms`, earliest first, at most `limit`.
pub async fn due_timers(deps: &Deps, now_ms: i64, limit: u32) -> Result<Vec<Timer>, StoreError> {
    let page = deps
        .table
        .query(Query::pk(keys::STAFF_TIMERS_PK).limit(limit))
        .await?;
    let mut due = Vec::new();
    for item in page.items {
        let t: Timer = from_item(item)?;
        if t.due_ms > now_ms {
            break;
        }
        due.push(t);
    }
    Ok(due)
}

pub async fn drop_timer(deps: &Deps, t: &Timer) -> Result<(), StoreError> {
    deps.table.delete(&t.key(), None).await
}

/// Counts escalation `t.of` on a ticket still waiting to be taken, drops its timer and sets
/// the next one (`next_due`); false when the ticket moved on or another run counted it.
pub async fn escalated(deps: &Deps, t: &Timer, next_due: Option<i64>) -> Result<bool, StoreError> {
    let mut ops = vec![
        TxOp::Update {
            key: keys::staff_ticket(t.ticket_id),
            update: Update::new().set("escalations", t.of).when(
                Cond::eq("status", Status::Created.as_str()).and(Cond::Lt(
                    "escalations".into(),
                    AttributeValue::N(t.of.to_string()),
                )),
            ),
        },
        TxOp::Delete {
            key: t.key(),
            cond: None,
        },
    ];
    if let Some(due_ms) = next_due {
        ops.push(timer_op(&Timer {
            ticket_id: t.ticket_id,
            kind: TimerKind::Escalate,
            due_ms,
            of: t.of + 1,
        })?);
    }
    match deps.table.transact(ops).await {
        Ok(()) => Ok(true),
        Err(StoreError::ConditionFailed) => {
            drop_timer(deps, t).await?;
            Ok(false)
        }
        Err(e) => Err(e),
    }
}

// --- The staff bot's conversation ---------------------------------------------------------

/// What the staff bot waits for from a chat.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "snake_case")]
pub enum Step {
    /// The new ticket's text, for this category.
    NewTicket { category_id: i64 },
    /// The author's comment on a ticket they returned to work.
    ReturnComment { ticket_id: i64 },
}

#[derive(Serialize, Deserialize)]
struct StoredStep {
    #[serde(flatten)]
    step: Step,
    ttl: i64,
}

pub async fn step(deps: &Deps, chat_id: i64) -> Result<Option<Step>, StoreError> {
    Ok(load::<StoredStep>(deps, &keys::staff_step(chat_id))
        .await?
        .map(|s| s.step))
}

pub async fn set_step(deps: &Deps, chat_id: i64, step: Step) -> Result<(), StoreError> {
    let s = StoredStep {
        step,
        ttl: deps.clock.now_secs() + STEP_TTL_SECS,
    };
    deps.table
        .put(item_with(&keys::staff_step(chat_id), &s)?, None)
        .await
}

pub async fn clear_step(deps: &Deps, chat_id: i64) -> Result<(), StoreError> {
    deps.table.delete(&keys::staff_step(chat_id), None).await
}
