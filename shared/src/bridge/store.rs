//! The bridge's typed store: clients, every message both ways with its delivery state, the
//! daily counters behind `/stats`, the last deliveries behind `/status`, the system's
//! replies being queued, and each user's messages per minute.

use serde::{Deserialize, Serialize};

use crate::Deps;
use crate::claims::{self, Claimed, Claims};
use crate::counter::{self, Window};
use crate::keys;
use crate::ports::table::{AttributeValue, Cond, Query, StoreError, Update, from_item, to_item};
use crate::time::timestamp;

/// A Telegram user as the system knows them: `telegram_<user id>`.
pub fn client_id(user_id: i64) -> String {
    format!("telegram_{user_id}")
}

/// The Telegram user of a client id the system sent, if it is one of ours in shape.
pub fn user_of(client_id: &str) -> Option<i64> {
    client_id
        .strip_prefix("telegram_")
        .filter(|d| !d.is_empty() && d.len() <= 19 && d.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|d| d.parse().ok())
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Client {
    pub client_id: String,
    pub chat_id: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language_code: Option<String>,
    /// The bot was blocked by the user: replies are refused until they write again.
    #[serde(default)]
    pub blocked: bool,
    /// They were told the system is down (once per outage).
    #[serde(default)]
    pub outage: bool,
    /// When they last wrote (Unix ms), for answer times.
    #[serde(default)]
    pub last_in_ms: i64,
}

/// Which way a message went.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    In,
    Out,
}

/// Where a message is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Waiting for its first try.
    Queued,
    /// A try failed; it is tried again.
    Retrying,
    /// The system took it (in), or Telegram did (out).
    Delivered,
    /// Given up: refused for good, or out of tries.
    Failed,
    /// The user blocked the bot (out).
    Blocked,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Message {
    pub id: String,
    pub direction: Direction,
    pub text: String,
    pub state: State,
    pub at: String,
    #[serde(default)]
    pub attempts: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivered_at: Option<String>,
    /// When it was made, Unix ms (the key's time).
    pub at_ms: i64,
    /// The answer the system gave in its response (kept, so a retry after a crash sends
    /// it without asking the system again).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply: Option<String>,
}

fn history_ttl(deps: &Deps, days: i64) -> i64 {
    deps.clock.now_secs() + days * 24 * 3600
}

/// Notes who wrote: their chat and language, and that they can be written to again.
pub async fn note_client(
    deps: &Deps,
    client_id: &str,
    chat_id: i64,
    language_code: Option<&str>,
    days: i64,
) -> Result<(), StoreError> {
    let mut u = Update::new()
        .set("client_id", client_id)
        .set("chat_id", chat_id)
        .set("last_in_ms", deps.clock.now_ms())
        .set(
            "blocked",
            crate::ports::table::Attr(AttributeValue::Bool(false)),
        )
        .set("ttl", history_ttl(deps, days));
    if let Some(code) = language_code {
        u = u.set("language_code", code);
    }
    deps.table
        .update(&keys::bridge_client(client_id), u)
        .await?;
    Ok(())
}

pub async fn client(deps: &Deps, client_id: &str) -> Result<Option<Client>, StoreError> {
    deps.table
        .get(&keys::bridge_client(client_id))
        .await?
        .map(from_item)
        .transpose()
}

/// Marks the client as told the system is down; true only for the first of an outage.
pub async fn start_outage(deps: &Deps, client_id: &str) -> Result<bool, StoreError> {
    let u = Update::new()
        .set(
            "outage",
            crate::ports::table::Attr(AttributeValue::Bool(true)),
        )
        .when(
            Cond::item_exists().and(Cond::Eq("outage".into(), AttributeValue::Bool(true)).negate()),
        );
    match deps.table.update(&keys::bridge_client(client_id), u).await {
        Ok(_) => Ok(true),
        Err(StoreError::ConditionFailed) => Ok(false),
        Err(e) => Err(e),
    }
}

/// The system took a message again: the next outage is told again.
pub async fn end_outage(deps: &Deps, client_id: &str) -> Result<(), StoreError> {
    let u = Update::new()
        .set(
            "outage",
            crate::ports::table::Attr(AttributeValue::Bool(false)),
        )
        .when(Cond::Eq("outage".into(), AttributeValue::Bool(true)));
    update_if(deps, &keys::bridge_client(client_id), u).await
}

pub async fn set_blocked(deps: &Deps, client_id: &str) -> Result<(), StoreError> {
    let u = Update::new()
        .set(
            "blocked",
            crate::ports::table::Attr(AttributeValue::Bool(true)),
        )
        .when(Cond::item_exists());
    update_if(deps, &keys::bridge_client(client_id), u).await
}

/// Records a message the first time it is seen (a repeat changes nothing).
pub async fn record(
    deps: &Deps,
    client_id: &str,
    m: &Message,
    days: i64,
) -> Result<(), StoreError> {
    let mut item = to_item(&keys::bridge_message(client_id, m.at_ms, &m.id), m)?;
    item.insert(
        "ttl".into(),
        AttributeValue::N(history_ttl(deps, days).to_string()),
    );
    match deps.table.put_if_absent(item).await {
        Ok(()) | Err(StoreError::ConditionFailed) => Ok(()),
        Err(e) => Err(e),
    }
}

/// A message's new state (and the try it is at, and why it failed).
pub async fn set_state(
    deps: &Deps,
    client_id: &str,
    at_ms: i64,
    id: &str,
    state: State,
    attempts: u32,
    error: Option<&str>,
) -> Result<(), StoreError> {
    let state_name = serde_json::to_value(state)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default();
    let mut u = Update::new()
        .set("state", state_name)
        .set("attempts", i64::from(attempts))
        .when(Cond::item_exists());
    u = match error {
        Some(e) => u.set(
            "error",
            crate::outbound::clip(e, crate::outbound::MAX_ERROR_CHARS),
        ),
        None => u.remove("error"),
    };
    if state == State::Delivered {
        u = u.set("delivered_at", timestamp(deps.clock.now_ms()));
    }
    update_if(deps, &keys::bridge_message(client_id, at_ms, id), u).await
}

/// One message of the client's history.
pub async fn message(
    deps: &Deps,
    client_id: &str,
    at_ms: i64,
    id: &str,
) -> Result<Option<Message>, StoreError> {
    deps.table
        .get(&keys::bridge_message(client_id, at_ms, id))
        .await?
        .map(from_item)
        .transpose()
}

/// When the system's answer in its response was first kept (Unix ms): the time of the
/// answer's own history entry.
const REPLY_AT_MS: &str = "reply_at_ms";

/// The system took the message (and answered this, in its response). With an answer, the
/// time it was first kept: a retry after a crash gets the same one, so the answer keeps
/// one history entry and is sent once.
pub async fn delivered(
    deps: &Deps,
    client_id: &str,
    at_ms: i64,
    id: &str,
    attempts: u32,
    reply: Option<&str>,
) -> Result<Option<i64>, StoreError> {
    let now = deps.clock.now_ms();
    let mut u = Update::new()
        .set("state", "delivered")
        .set("attempts", i64::from(attempts))
        .set("delivered_at", timestamp(now))
        .remove("error")
        .when(Cond::item_exists());
    if let Some(r) = reply {
        u = u.set("reply", r).set_if_absent(REPLY_AT_MS, now);
    }
    match deps
        .table
        .update(&keys::bridge_message(client_id, at_ms, id), u)
        .await
    {
        Ok(item) => Ok(reply
            .map(|_| claims::count(&item, REPLY_AT_MS))
            .filter(|t| *t > 0)),
        // Gone (past its history days): nothing to keep.
        Err(StoreError::ConditionFailed) => Ok(None),
        Err(e) => Err(e),
    }
}

/// The client's messages, oldest first (at most the last `limit`).
pub async fn messages(
    deps: &Deps,
    client_id: &str,
    limit: u32,
) -> Result<Vec<Message>, StoreError> {
    let page = deps
        .table
        .query(
            Query::pk(keys::bridge_client(client_id).pk)
                .prefix(keys::BRIDGE_MESSAGE_PREFIX)
                .descending()
                .limit(limit),
        )
        .await?;
    let mut out: Vec<Message> = page
        .items
        .into_iter()
        .map(from_item)
        .collect::<Result<_, _>>()?;
    out.reverse();
    Ok(out)
}

// --- Replies being queued ------------------------------------------------------------------

/// A reply being queued: a claim marker, so the system's repeat is queued once.
const REPLIES: Claims = Claims::marker();
/// How long a request holds a reply while queuing it.
const REPLY_LEASE_MS: i64 = 30_000;
/// The time of the reply's history entry, on its marker.
const AT_MS: &str = "at_ms";

/// What claiming a reply found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplyClaim {
    /// Ours to queue, as the history entry of `at_ms` (Unix ms). The time is kept on the
    /// marker from its first claim, so a request that takes over after a crash finishes the
    /// same entry, and its sends are the same ones.
    New { at_ms: i64 },
    /// Another request is queuing it right now.
    Busy,
    /// Queued already, while the marker lives: a repeat.
    Repeat,
}

/// Claims the reply `key` names for `ttl_secs` (how long a repeat is recognised).
pub async fn claim_reply(deps: &Deps, key: &str, ttl_secs: i64) -> Result<ReplyClaim, StoreError> {
    let now = deps.clock.now_ms();
    let extra = claims::expiring(now, ttl_secs).set_if_absent(AT_MS, now);
    let table = deps.table.as_ref();
    Ok(
        match REPLIES
            .claim(table, &keys::bridge_reply(key), now, REPLY_LEASE_MS, extra)
            .await?
        {
            Claimed::Ours(item) => ReplyClaim::New {
                at_ms: Some(claims::count(&item, AT_MS))
                    .filter(|t| *t > 0)
                    .unwrap_or(now),
            },
            Claimed::Held { .. } => ReplyClaim::Busy,
            Claimed::Settled(_) | Claimed::Missing => ReplyClaim::Repeat,
        },
    )
}

/// The reply is queued: a repeat is now a duplicate.
pub async fn reply_queued(deps: &Deps, key: &str) -> Result<(), StoreError> {
    REPLIES
        .settle(
            deps.table.as_ref(),
            &keys::bridge_reply(key),
            "queued",
            Update::new(),
        )
        .await
        .map(|_| ())
}

/// Queuing failed: the system's retry may claim it at once.
pub async fn reply_not_queued(deps: &Deps, key: &str) -> Result<(), StoreError> {
    REPLIES
        .release(deps.table.as_ref(), &keys::bridge_reply(key))
        .await
}

// --- Messages per user --------------------------------------------------------------------

/// The window of the per-user limit (`BRIDGE_USER_LIMIT` is per minute).
const LIMIT_WINDOW_SECS: i64 = 60;
/// A window's counter stays this long past its end.
const LIMIT_KEPT_SECS: i64 = 60;

/// Whether a user's message may go on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Allowance {
    /// Within the limit; the unit taken, to give back if the message goes nowhere.
    Pass(Window),
    /// Over it: nothing is passed on. `tell` for the first refused message of the window
    /// only, so a flood does not become a flood of answers.
    Refused { tell: bool },
}

/// One more message from `client_id` this minute, at most `limit` (the shared fixed-window
/// counter). A refused message counts against nothing but the one spare unit the first
/// refusal of the window takes, which says whether to tell the user.
pub async fn take_message(
    deps: &Deps,
    client_id: &str,
    limit: u32,
) -> Result<Allowance, StoreError> {
    let start = counter::window_start(deps.clock.now_secs(), LIMIT_WINDOW_SECS);
    let window = Window {
        key: keys::bridge_rate(client_id, start),
        expires_at: start + LIMIT_WINDOW_SECS + LIMIT_KEPT_SECS,
    };
    let table = deps.table.as_ref();
    if counter::take(table, &window, limit).await? {
        return Ok(Allowance::Pass(window));
    }
    let tell = counter::take(table, &window, limit.saturating_add(1)).await?;
    Ok(Allowance::Refused { tell })
}

/// The message went nowhere after all (its handling failed; Telegram sends it again).
pub async fn give_back_message(deps: &Deps, window: &Window) -> Result<(), StoreError> {
    counter::give_back(deps.table.as_ref(), window).await
}

// --- Counters -----------------------------------------------------------------------------

/// Upper bounds (ms) of the answer-time buckets `/stats` estimates percentiles from.
pub const LATENCY_BUCKETS_MS: [i64; 12] = [
    250,
    500,
    1_000,
    2_000,
    5_000,
    10_000,
    30_000,
    60_000,
    300_000,
    900_000,
    3_600_000,
    i64::MAX,
];

pub fn day_of(ms: i64) -> String {
    crate::time::timestamp(ms)[..10].to_string()
}

/// What is counted per day.
#[derive(Debug, Clone, Copy)]
pub enum Count {
    In,
    Out,
    Failed,
}

pub async fn count(deps: &Deps, what: Count, days: i64) -> Result<(), StoreError> {
    let attr = match what {
        Count::In => "in",
        Count::Out => "out",
        Count::Failed => "failed",
    };
    let u = Update::new()
        .add(attr, 1)
        .set("ttl", history_ttl(deps, days.max(8)));
    deps.table
        .update(&keys::bridge_stats(&day_of(deps.clock.now_ms())), u)
        .await
        .map(|_| ())
}

/// One answer time, into its bucket of today.
pub async fn answered_in(deps: &Deps, ms: i64, days: i64) -> Result<(), StoreError> {
    let bucket = LATENCY_BUCKETS_MS
        .iter()
        .position(|b| ms.max(0) <= *b)
        .unwrap_or(LATENCY_BUCKETS_MS.len() - 1);
    let u = Update::new()
        .add(&format!("lat{bucket}"), 1)
        .set("ttl", history_ttl(deps, days.max(8)));
    deps.table
        .update(&keys::bridge_stats(&day_of(deps.clock.now_ms())), u)
        .await
        .map(|_| ())
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DayCounts {
    pub messages_in: i64,
    pub messages_out: i64,
    pub failed: i64,
    pub latency: [i64; LATENCY_BUCKETS_MS.len()],
}

impl DayCounts {
    pub fn add(&mut self, o: &DayCounts) {
        self.messages_in += o.messages_in;
        self.messages_out += o.messages_out;
        self.failed += o.failed;
        for (a, b) in self.latency.iter_mut().zip(o.latency) {
            *a += b;
        }
    }

    /// The bucket bound under which `share` (0.5, 0.95) of the answers came; None without any.
    pub fn percentile_ms(&self, share: f64) -> Option<i64> {
        let total: i64 = self.latency.iter().sum();
        if total == 0 {
            return None;
        }
        let want = (total as f64 * share).ceil() as i64;
        let mut seen = 0;
        for (i, n) in self.latency.iter().enumerate() {
            seen += n;
            if seen >= want {
                return Some(LATENCY_BUCKETS_MS[i]);
            }
        }
        None
    }
}

pub async fn day_counts(deps: &Deps, day: &str) -> Result<DayCounts, StoreError> {
    let Some(item) = deps.table.get(&keys::bridge_stats(day)).await? else {
        return Ok(DayCounts::default());
    };
    let n = |a: &str| crate::claims::count(&item, a);
    let mut d = DayCounts {
        messages_in: n("in"),
        messages_out: n("out"),
        failed: n("failed"),
        ..Default::default()
    };
    for (i, slot) in d.latency.iter_mut().enumerate() {
        *slot = n(&format!("lat{i}"));
    }
    Ok(d)
}

// --- Health -------------------------------------------------------------------------------

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Health {
    #[serde(default)]
    pub last_ok_ms: i64,
    #[serde(default)]
    pub last_failure_ms: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
}

/// How a delivery to the system went (the last of each kind is kept).
pub async fn note_delivery(deps: &Deps, error: Option<&str>) -> Result<(), StoreError> {
    let now = deps.clock.now_ms();
    let u = match error {
        None => Update::new().set("last_ok_ms", now),
        Some(e) => Update::new()
            .set("last_failure_ms", now)
            .set("last_error", crate::outbound::clip(e, 200)),
    };
    deps.table
        .update(&keys::bridge_health(), u)
        .await
        .map(|_| ())
}

pub async fn health(deps: &Deps) -> Result<Health, StoreError> {
    Ok(match deps.table.get(&keys::bridge_health()).await? {
        Some(item) => from_item(item)?,
        None => Health::default(),
    })
}

/// Applies the update; one its condition refuses (the change is not due, or the item is
/// gone) is no error.
async fn update_if(
    deps: &Deps,
    key: &crate::ports::table::Key,
    u: Update,
) -> Result<(), StoreError> {
    match deps.table.update(key, u).await {
        Ok(_) | Err(StoreError::ConditionFailed) => Ok(()),
        Err(e) => Err(e),
    }
}
