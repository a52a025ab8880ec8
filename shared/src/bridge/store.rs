//! The bridge's typed store: clients, every message both ways with its delivery state, the
//! daily counters behind `/stats`, and the last deliveries behind `/status`.

use serde::{Deserialize, Serialize};

use crate::Deps;
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

/// The system took the message (and answered this, in its response).
pub async fn delivered(
    deps: &Deps,
    client_id: &str,
    at_ms: i64,
    id: &str,
    attempts: u32,
    reply: Option<&str>,
) -> Result<(), StoreError> {
    let mut u = Update::new()
        .set("state", "delivered")
        .set("attempts", i64::from(attempts))
        .set("delivered_at", timestamp(deps.clock.now_ms()))
        .remove("error")
        .when(Cond::item_exists());
    if let Some(r) = reply {
        u = u.set("reply", r);
    }
    update_if(deps, &keys::bridge_message(client_id, at_ms, id), u).await
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
