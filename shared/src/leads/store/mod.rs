//! The lead fan-out's items in the table: the only place that knows their layout.
//!
//! Everything of one lead lives in its partition (see [`crate::keys`]): `meta` (the lead,
//! the tries of its jobs and the batch's status) and `batch#<batch>` (the succeeded / failed sets and
//! each job's progress as `<integration>_<field>` attributes); `replays.rs` has a replay's
//! writes and the failures index. The lead is written twice in
//! its life, in and settled; each job writes the small batch item once per attempt. Domain
//! code asks this store; it never builds a condition or an update itself.

use std::collections::BTreeMap;

use super::Mark;
use super::model::*;
use crate::keys;
use crate::ports::table::{
    AttributeValue, Cond, Item, Key, StoreError, Table, Update, from_item, to_item,
};
use crate::time::timestamp;

mod replays;

pub fn lead_key(lead_id: &str) -> Key {
    keys::lead(lead_id)
}

pub fn batch_key(lead_id: &str, batch_id: &str) -> Key {
    keys::batch(lead_id, batch_id)
}

/// What a job's report found.
#[derive(Debug)]
pub enum Reported {
    /// Recorded: the batch as it is now.
    Recorded(BatchState),
    /// The job had reported already (a redelivery, or the sweeper timed it out meanwhile):
    /// the earlier result stands.
    Already,
}

/// A job's result, as it is written.
#[derive(Debug, Clone)]
pub enum JobResult {
    Succeeded {
        external_id: Option<String>,
    },
    /// Failed this attempt; another follows at `next_attempt_ms`.
    Retrying {
        error: String,
        next_attempt_ms: i64,
    },
    /// Failed for good. `called`: an attempt was made (false for a timeout or a job given up).
    Failed {
        error: String,
        called: bool,
    },
}

/// The attribute of one job's field on the batch item.
fn field(integration: &str, name: &str) -> String {
    format!("{integration}_{name}")
}

/// The attribute attempt `number` of a job is kept in: a ring of [`Attempt::KEPT`].
fn history_slot(integration: &str, number: u32) -> String {
    field(
        integration,
        &format!("a{}", number.saturating_sub(1) % Attempt::KEPT),
    )
}

/// The job's kept attempts, oldest first.
fn history(item: &Item, integration: &str) -> Vec<Attempt> {
    let mut kept: Vec<Attempt> = (1..=Attempt::KEPT)
        .filter_map(|n| text(item, &history_slot(integration, n)))
        .filter_map(|raw| serde_json::from_str(&raw).ok())
        .collect();
    kept.sort_by_key(|a| a.number);
    kept
}

/// The lead fan-out's reads and writes on one table.
#[derive(Clone, Copy)]
pub struct LeadStore<'a> {
    table: &'a dyn Table,
}

impl<'a> LeadStore<'a> {
    pub fn new(table: &'a dyn Table) -> Self {
        Self { table }
    }

    /// The store on the function's table.
    pub fn of(deps: &'a crate::Deps) -> Self {
        Self::new(deps.table.as_ref())
    }

    // --- Taking a lead in ------------------------------------------------------------------

    /// Stores a new lead. False: the lead existed already (a repeated or concurrent
    /// request).
    pub async fn create(&self, lead: &LeadRecord) -> Result<bool, StoreError> {
        let item = to_item(&lead_key(&lead.lead_id), lead)?;
        match self.table.put(item, Some(Cond::item_absent())).await {
            Ok(()) => Ok(true),
            Err(StoreError::ConditionFailed) => Ok(false),
            Err(e) => Err(e),
        }
    }

    // --- Reads -----------------------------------------------------------------------------

    pub async fn lead(&self, lead_id: &str) -> Result<Option<LeadRecord>, StoreError> {
        self.table
            .get(&lead_key(lead_id))
            .await?
            .map(from_item)
            .transpose()
    }

    /// The batch's outcome sets and jobs (empty while no job has reported). `fresh`: a
    /// strongly consistent read; otherwise an eventually consistent one, which costs half
    /// and is enough where the last write is seconds old.
    pub async fn batch(
        &self,
        lead_id: &str,
        batch_id: &str,
        fresh: bool,
    ) -> Result<BatchState, StoreError> {
        let key = batch_key(lead_id, batch_id);
        let item = if fresh {
            self.table.get(&key).await?
        } else {
            self.table.get_eventually(&key).await?
        };
        Ok(item.map(|i| batch_state(&i)).unwrap_or_default())
    }

    /// The lead and its current batch in one query of the partition.
    pub async fn lead_and_batch(
        &self,
        lead_id: &str,
    ) -> Result<Option<(LeadRecord, BatchState)>, StoreError> {
        Ok(self
            .lead_and_batches(lead_id)
            .await?
            .map(|(lead, mut batches)| {
                let batch = batches.remove(&lead.batch_id).unwrap_or_default();
                (lead, batch)
            }))
    }

    /// Whether the lead is stored, by an eventually consistent read (half a unit): enough
    /// to spare a repeated request the work of a new one; the conditional write decides.
    pub async fn lead_seen(&self, lead_id: &str) -> Result<bool, StoreError> {
        Ok(self
            .table
            .get_eventually(&lead_key(lead_id))
            .await?
            .is_some())
    }

    // --- Jobs ------------------------------------------------------------------------------

    /// Writes one job's result on its batch item (making the item if it is the first), once:
    /// an integration already in a set is never written again, and never lands in both.
    ///
    /// The attempt, when one was made, goes into the job's history in the same write: slot
    /// `(number - 1) % 20` of its own attribute, so the newest twenty are kept without a read.
    pub async fn report(
        &self,
        job: &JobRef,
        expected: &[String],
        result: &JobResult,
        attempt: Option<&Attempt>,
        mark: Option<Mark>,
        at_ms: i64,
    ) -> Result<Reported, StoreError> {
        let i = job.integration.as_str();
        let mut update = open_job(i, expected, mark).remove(&field(i, "held"));
        // The attempt carries the time of the answer; only a result without one (given
        // up, dead-lettered) keeps its time apart. Five timestamps fewer keep a five-job
        // batch item under 1 KB, one write unit per report.
        match attempt {
            Some(a) => {
                let record = serde_json::to_string(a)
                    .map_err(|e| StoreError::Invalid(format!("cannot record the attempt: {e}")))?;
                update = update
                    .set(&history_slot(i, a.number), record.as_str())
                    .remove(&field(i, "at"));
            }
            None => update = update.set(&field(i, "at"), timestamp(at_ms).as_str()),
        }
        let clip = |e: &str| crate::outbound::clip(e, crate::outbound::MAX_ERROR_CHARS);
        update = match result {
            JobResult::Succeeded { external_id } => {
                let u = update
                    .add_to_set("succeeded", [i])
                    .set(&field(i, "status"), status::SUCCEEDED)
                    .add(&field(i, "attempts"), 1)
                    .remove(&field(i, "error"))
                    .remove(&field(i, "next"));
                match external_id {
                    Some(id) => u.set(&field(i, "ref"), id.as_str()),
                    None => u,
                }
            }
            JobResult::Retrying {
                error,
                next_attempt_ms,
            } => update
                .set(&field(i, "status"), status::RETRYING)
                .set(&field(i, "error"), clip(error))
                .set(&field(i, "next"), timestamp(*next_attempt_ms).as_str())
                .add(&field(i, "attempts"), 1),
            JobResult::Failed { error, called } => update
                .add_to_set("failed", [i])
                .set(&field(i, "status"), status::FAILED)
                .set(&field(i, "error"), clip(error))
                .remove(&field(i, "next"))
                .add(&field(i, "attempts"), i64::from(*called)),
        };
        match self
            .table
            .update(&batch_key(&job.lead_id, &job.batch_id), update)
            .await
        {
            Ok(item) => Ok(Reported::Recorded(batch_state(&item))),
            Err(StoreError::ConditionFailed) => Ok(Reported::Already),
            Err(e) => Err(e),
        }
    }

    /// Records that the job waits on its target's open breaker until `until_ms`, without
    /// having called: its status is `waiting`, its next attempt the breaker's next probe.
    pub async fn hold(
        &self,
        job: &JobRef,
        expected: &[String],
        target: &str,
        mark: Mark,
        until_ms: i64,
        at_ms: i64,
    ) -> Result<Reported, StoreError> {
        let i = job.integration.as_str();
        let update = open_job(i, expected, Some(mark))
            .set(&field(i, "at"), timestamp(at_ms).as_str())
            .set(&field(i, "status"), status::WAITING)
            .set(&field(i, "held"), target)
            .set(&field(i, "next"), timestamp(until_ms).as_str());
        match self
            .table
            .update(&batch_key(&job.lead_id, &job.batch_id), update)
            .await
        {
            Ok(item) => Ok(Reported::Recorded(batch_state(&item))),
            Err(StoreError::ConditionFailed) => Ok(Reported::Already),
            Err(e) => Err(e),
        }
    }

    /// Keeps a failed job's message for replay: its latest receipt handle, until when.
    /// `None` forgets it (the message is let go).
    pub async fn keep(&self, job: &JobRef, kept: Option<(&str, i64)>) -> Result<(), StoreError> {
        let i = job.integration.as_str();
        let update = match kept {
            Some((handle, until_ms)) => Update::new()
                .set(&field(i, "rh"), handle)
                .set(&field(i, "keep"), until_ms),
            None => Update::new()
                .remove(&field(i, "rh"))
                .remove(&field(i, "keep")),
        }
        .when(Cond::item_exists());
        match self
            .table
            .update(&batch_key(&job.lead_id, &job.batch_id), update)
            .await
        {
            Ok(_) | Err(StoreError::ConditionFailed) => Ok(()),
            Err(e) => Err(e),
        }
    }

    // --- Settling --------------------------------------------------------------------------

    /// Writes the batch's final status on its lead. False: it was settled already, the lead
    /// is not stored, or the message names a batch the lead does not have.
    pub async fn settle(
        &self,
        lead_id: &str,
        batch_id: &str,
        final_status: &str,
        at: &str,
    ) -> Result<bool, StoreError> {
        let update = Update::new()
            .set("status", final_status)
            .set("updated_at", at)
            .set("finished_at", at)
            .when(Cond::eq("status", status::PROCESSING))
            .when(Cond::eq("batch_id", batch_id));
        match self.table.update(&lead_key(lead_id), update).await {
            Ok(_) => Ok(true),
            Err(StoreError::ConditionFailed) => Ok(false),
            Err(e) => Err(e),
        }
    }
}

/// The start of every write of a job that has not reported: the batch's integrations, the
/// message's mark, and the condition that the job is in neither set.
fn open_job(i: &str, expected: &[String], mark: Option<Mark>) -> Update {
    let mut update = Update::new()
        .add_to_set("expected", expected.iter().cloned())
        .when(Cond::Contains("succeeded".into(), i.into()).negate())
        .when(Cond::Contains("failed".into(), i.into()).negate());
    if let Some(m) = mark {
        update = update
            .set(&field(i, "rc"), m.receives)
            .set(&field(i, "lost"), m.lost);
    }
    update
}

fn sk_of(item: &Item) -> Option<&str> {
    match item.get(crate::ports::table::SK) {
        Some(AttributeValue::S(s)) => Some(s),
        _ => None,
    }
}

fn strings(item: &Item, attr: &str) -> Vec<String> {
    match item.get(attr) {
        Some(AttributeValue::Ss(v)) => v.clone(),
        _ => Vec::new(),
    }
}

fn text(item: &Item, attr: &str) -> Option<String> {
    match item.get(attr) {
        Some(AttributeValue::S(s)) => Some(s.clone()),
        _ => None,
    }
}

/// A count kept as a number attribute (0 when absent).
fn small(item: &Item, attr: &str) -> u32 {
    u32::try_from(crate::claims::count(item, attr).max(0)).unwrap_or(u32::MAX)
}

/// The batch item as the domain reads it.
fn batch_state(item: &Item) -> BatchState {
    let expected = strings(item, "expected");
    let jobs: BTreeMap<String, JobState> = expected
        .iter()
        .filter_map(|i| {
            let status = text(item, &field(i, "status"))?;
            Some((
                i.clone(),
                JobState {
                    status,
                    attempts: small(item, &field(i, "attempts")),
                    error: text(item, &field(i, "error")),
                    external_id: text(item, &field(i, "ref")),
                    // When it last changed: its own time, else its newest attempt's.
                    at: text(item, &field(i, "at"))
                        .or_else(|| history(item, i).last().map(|a| a.at.clone())),
                    next_attempt_at: text(item, &field(i, "next")),
                    history: history(item, i),
                    // Not kept while each receive made one written attempt.
                    receives: match item.get(&field(i, "rc")) {
                        Some(_) => small(item, &field(i, "rc")),
                        None => small(item, &field(i, "attempts")),
                    },
                    lost: small(item, &field(i, "lost")),
                    waiting_on: text(item, &field(i, "held")),
                    kept: text(item, &field(i, "rh"))
                        .map(|h| (h, crate::claims::count(item, &field(i, "keep")))),
                    replayed_in: text(item, &field(i, "replay")),
                },
            ))
        })
        .collect();
    BatchState {
        succeeded: strings(item, "succeeded"),
        failed: strings(item, "failed"),
        expected,
        jobs,
        carried_succeeded: strings(item, "carried_succeeded"),
        carried_failed: strings(item, "carried_failed"),
    }
}
