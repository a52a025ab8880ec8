//! Durable queues on SQLite with SQS's semantics: visibility timeout, receive count,
//! redrive to a dead-letter queue after a maximum of receives, per-message delay; for a FIFO
//! queue, each group's messages handed out one at a time in the order sent, and a repeated
//! de-duplication id within five minutes dropped.
//!
//! Every state change is committed before the caller hears of it (writes waiting at the same
//! moment share one commit, see [`super::sqlite::Db::write`]), so a process killed at any
//! point loses no message: a received-but-not-deleted message simply becomes visible again.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use rusqlite::{Connection, params};

use super::sqlite::{Db, DbFailure};
use crate::ports::clock::Clock;
use crate::ports::queue::{
    OutMessage, Queue, QueueError, QueueStats, Received, validate_batch, validate_receive,
};
use crate::queues::QueueSpec;

impl From<DbFailure> for QueueError {
    fn from(e: DbFailure) -> Self {
        QueueError::Unavailable(e.0)
    }
}

fn db_err(e: rusqlite::Error) -> QueueError {
    QueueError::Unavailable(format!("embedded queue: {e}"))
}

/// SQS FIFO's de-duplication interval.
const DEDUP_WINDOW_MS: i64 = 5 * 60 * 1000;

/// How often a waiting receive looks again.
const POLL_INTERVAL: Duration = Duration::from_millis(25);

#[derive(Clone)]
pub struct EmbeddedQueue {
    db: Db,
    clock: Arc<dyn Clock>,
    specs: Arc<HashMap<String, QueueSpec>>,
}

impl EmbeddedQueue {
    pub fn new(db: Db, clock: Arc<dyn Clock>, specs: Vec<QueueSpec>) -> Self {
        let specs = specs.into_iter().map(|s| (s.name.clone(), s)).collect();
        Self {
            db,
            clock,
            specs: Arc::new(specs),
        }
    }

    fn spec(&self, queue: &str) -> Result<QueueSpec, QueueError> {
        self.specs
            .get(queue)
            .cloned()
            .ok_or_else(|| QueueError::UnknownQueue(queue.into()))
    }

    pub fn queue_names(&self) -> Vec<String> {
        let mut names: Vec<_> = self.specs.keys().cloned().collect();
        names.sort();
        names
    }

    /// Makes every in-flight message visible at once. Only for start-up of the one process
    /// that owns the data directory: whoever had received those messages is gone.
    pub async fn release_in_flight(&self) -> Result<usize, QueueError> {
        let now = self.clock.now_ms();
        self.db
            .call(move |conn| {
                conn.execute(
                    "UPDATE queue_messages SET visible_at = ?1, receipt = NULL
                     WHERE receive_count > 0 AND receipt IS NOT NULL AND visible_at > ?1",
                    [now],
                )
                .map_err(db_err)
            })
            .await
    }

    /// Moves every message of `from` (typically a dead-letter queue) back to `to`.
    pub async fn redrive(&self, from: &str, to: &str) -> Result<usize, QueueError> {
        self.spec(from)?;
        self.spec(to)?;
        let (from, to) = (from.to_string(), to.to_string());
        let now = self.clock.now_ms();
        self.db
            .call(move |conn| {
                conn.execute(
                    "UPDATE queue_messages SET queue = ?2, receive_count = 0, receipt = NULL,
                     visible_at = ?3 WHERE queue = ?1",
                    params![from, to, now],
                )
                .map_err(db_err)
            })
            .await
    }

    fn insert(
        conn: &Connection,
        queue: &str,
        msg: &OutMessage,
        now: i64,
    ) -> Result<String, QueueError> {
        if let Some(dedup) = &msg.dedup_id {
            let seen: Option<String> = match conn.query_row(
                "SELECT id FROM queue_messages WHERE queue = ?1 AND dedup_id = ?2
                 AND sent_at > ?3",
                params![queue, dedup, now - DEDUP_WINDOW_MS],
                |r| r.get(0),
            ) {
                Ok(id) => Some(id),
                Err(rusqlite::Error::QueryReturnedNoRows) => None,
                Err(e) => return Err(db_err(e)),
            };
            if let Some(id) = seen {
                return Ok(id);
            }
        }
        let id = uuid::Uuid::new_v4().to_string();
        let attributes = serde_json::to_string(&msg.attributes)
            .map_err(|e| QueueError::Invalid(format!("attributes: {e}")))?;
        conn.execute(
            "INSERT INTO queue_messages
             (queue, id, body, attributes, sent_at, visible_at, group_id, dedup_id)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![
                queue,
                id,
                msg.body,
                attributes,
                now,
                now + i64::from(msg.delay_seconds) * 1000,
                msg.group,
                msg.dedup_id
            ],
        )
        .map_err(db_err)?;
        Ok(id)
    }

    async fn try_receive(&self, spec: &QueueSpec, max: u32) -> Result<Vec<Received>, QueueError> {
        let spec = spec.clone();
        let now = self.clock.now_ms();
        self.db
            .write(move |tx| {
                let mut out = Vec::new();
                // Messages moved to the dead-letter queue leave room: look again until the
                // batch is full or nothing visible is left.
                loop {
                    let candidates = visible(tx, &spec.name, now, max - out.len() as u32)?;
                    if candidates.is_empty() {
                        break;
                    }
                    for c in candidates {
                        if let Some(received) = hand_out(tx, &spec, now, c)? {
                            out.push(received);
                        }
                    }
                    if out.len() as u32 >= max {
                        break;
                    }
                }
                Ok(out)
            })
            .await
    }
}

/// SQS's rule: a FIFO queue's message names its group, a standard queue's does not.
fn fifo_rules(spec: &QueueSpec, msg: &OutMessage) -> Result<(), QueueError> {
    match (spec.is_fifo(), msg.group.is_some()) {
        (true, false) => Err(QueueError::Invalid(format!(
            "{} is a FIFO queue: a message needs its group",
            spec.name
        ))),
        (false, true) => Err(QueueError::Invalid(format!(
            "{} is not a FIFO queue: a message has no group",
            spec.name
        ))),
        _ => Ok(()),
    }
}

/// A visible message: seq, id, body, attributes, sent_at, receive count.
type Candidate = (i64, String, String, String, i64, u32);

fn visible(tx: &Connection, queue: &str, now: i64, max: u32) -> Result<Vec<Candidate>, QueueError> {
    let mut stmt = tx
        .prepare_cached(
            // A message of a group waits until every earlier one of its group is gone (the
            // head of the group may be in flight: then the whole group waits).
            "SELECT seq, id, body, attributes, sent_at, receive_count
             FROM queue_messages m WHERE queue = ?1 AND visible_at <= ?2
             AND (group_id IS NULL OR NOT EXISTS (
                 SELECT 1 FROM queue_messages e
                 WHERE e.queue = m.queue AND e.group_id = m.group_id AND e.seq < m.seq))
             ORDER BY visible_at, seq LIMIT ?3",
        )
        .map_err(db_err)?;
    let rows = stmt
        .query_map(params![queue, now, max], |r| {
            Ok((
                r.get(0)?,
                r.get(1)?,
                r.get(2)?,
                r.get(3)?,
                r.get(4)?,
                r.get(5)?,
            ))
        })
        .map_err(db_err)?;
    rows.collect::<Result<_, _>>().map_err(db_err)
}

/// Receives one message under a new receipt and visibility timeout, or, when it has been
/// received as often as the queue allows, moves it to the dead-letter queue (`None`).
fn hand_out(
    tx: &Connection,
    spec: &QueueSpec,
    now: i64,
    (seq, id, body, attributes, sent_at, count): Candidate,
) -> Result<Option<Received>, QueueError> {
    if let Some(dlq) = spec.dead_letter.as_deref()
        && spec.max_receives > 0
        && count >= spec.max_receives
    {
        tx.execute(
            "UPDATE queue_messages SET queue = ?2, receive_count = 0,
             receipt = NULL, visible_at = ?3 WHERE seq = ?1",
            params![seq, dlq, now],
        )
        .map_err(db_err)?;
        return Ok(None);
    }
    let receipt = uuid::Uuid::new_v4().to_string();
    let visible_at = now + i64::from(spec.visibility_timeout_secs) * 1000;
    tx.execute(
        "UPDATE queue_messages SET receive_count = receive_count + 1,
         receipt = ?2, visible_at = ?3 WHERE seq = ?1",
        params![seq, receipt, visible_at],
    )
    .map_err(db_err)?;
    let attributes: BTreeMap<String, String> =
        serde_json::from_str(&attributes).unwrap_or_default();
    Ok(Some(Received {
        message_id: id,
        receipt_handle: receipt,
        body,
        attributes,
        receive_count: count + 1,
        sent_at_ms: sent_at,
    }))
}

#[async_trait]
impl Queue for EmbeddedQueue {
    async fn send(&self, queue: &str, msg: OutMessage) -> Result<String, QueueError> {
        msg.validate()?;
        let spec = self.spec(queue)?;
        fifo_rules(&spec, &msg)?;
        let now = self.clock.now_ms();
        self.db
            .write(move |conn| Self::insert(conn, &spec.name, &msg, now))
            .await
    }

    async fn send_batch(
        &self,
        queue: &str,
        msgs: Vec<OutMessage>,
    ) -> Result<Vec<String>, QueueError> {
        validate_batch(&msgs)?;
        let spec = self.spec(queue)?;
        for m in &msgs {
            fifo_rules(&spec, m)?;
        }
        let now = self.clock.now_ms();
        self.db
            .write(move |tx| {
                msgs.iter()
                    .map(|m| Self::insert(tx, &spec.name, m, now))
                    .collect::<Result<Vec<_>, _>>()
            })
            .await
    }

    async fn receive(
        &self,
        queue: &str,
        max: u32,
        wait: Duration,
    ) -> Result<Vec<Received>, QueueError> {
        validate_receive(max)?;
        let spec = self.spec(queue)?;
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let got = self.try_receive(&spec, max).await?;
            if !got.is_empty() || tokio::time::Instant::now() >= deadline {
                return Ok(got);
            }
            tokio::time::sleep(POLL_INTERVAL).await;
        }
    }

    async fn delete(&self, queue: &str, receipt_handle: &str) -> Result<(), QueueError> {
        let spec = self.spec(queue)?;
        let receipt = receipt_handle.to_string();
        self.db
            .write(move |conn| {
                conn.execute(
                    "DELETE FROM queue_messages WHERE queue = ?1 AND receipt = ?2",
                    params![spec.name, receipt],
                )
                .map_err(db_err)?;
                Ok(())
            })
            .await
    }

    async fn delete_batch(
        &self,
        queue: &str,
        receipt_handles: &[String],
    ) -> Result<(), QueueError> {
        if receipt_handles.is_empty() {
            return Ok(());
        }
        let spec = self.spec(queue)?;
        let receipts = receipt_handles.to_vec();
        // One transaction for the whole batch: a commit, not a row, is what the disk pays
        // for (and the group commit may add other writes to it).
        self.db
            .write(move |tx| {
                for r in &receipts {
                    tx.execute(
                        "DELETE FROM queue_messages WHERE queue = ?1 AND receipt = ?2",
                        params![spec.name, r],
                    )
                    .map_err(db_err)?;
                }
                Ok(())
            })
            .await
    }

    async fn change_visibility(
        &self,
        queue: &str,
        receipt_handle: &str,
        seconds: u32,
    ) -> Result<(), QueueError> {
        if seconds > 43_200 {
            return Err(QueueError::Invalid(
                "visibility timeout is at most 12 hours".into(),
            ));
        }
        let spec = self.spec(queue)?;
        let receipt = receipt_handle.to_string();
        let visible_at = self.clock.now_ms() + i64::from(seconds) * 1000;
        let changed = self
            .db
            .write(move |conn| {
                conn.execute(
                    "UPDATE queue_messages SET visible_at = ?3 WHERE queue = ?1 AND receipt = ?2",
                    params![spec.name, receipt, visible_at],
                )
                .map_err(db_err)
            })
            .await?;
        if changed == 0 {
            return Err(QueueError::Invalid(
                "receipt handle is not valid for any message in flight".into(),
            ));
        }
        Ok(())
    }

    async fn stats(&self, queue: &str) -> Result<QueueStats, QueueError> {
        let spec = self.spec(queue)?;
        let now = self.clock.now_ms();
        self.db
            .call(move |conn| {
                conn.query_row(
                    "SELECT
                        COALESCE(SUM(visible_at <= ?2), 0),
                        COALESCE(SUM(visible_at > ?2 AND receive_count > 0), 0),
                        COALESCE(SUM(visible_at > ?2 AND receive_count = 0), 0)
                     FROM queue_messages WHERE queue = ?1",
                    params![spec.name, now],
                    |r| {
                        Ok(QueueStats {
                            visible: r.get::<_, i64>(0)? as u64,
                            in_flight: r.get::<_, i64>(1)? as u64,
                            delayed: r.get::<_, i64>(2)? as u64,
                        })
                    },
                )
                .map_err(db_err)
            })
            .await
    }
}
