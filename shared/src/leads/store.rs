//! The lead fan-out's items in the table: the only place that knows their layout.
//!
//! Everything of one lead lives in its partition (see [`crate::keys`]): `meta` (the lead),
//! `batch#<batch>` (the expected / succeeded / failed sets and the status) and
//! `job#<batch>#<integration>` (one integration's delivery). An open batch is listed on
//! gsi1 under [`PROCESSING_INDEX`], so the sweeper finds it. Domain code asks this store;
//! it never builds a condition, an update or a transaction itself.

use serde::Serialize;

use super::jobs::Claim;
use super::model::*;
use super::request::Submission;
use crate::claims::{self, Claimed, Claims};
use crate::keys;
use crate::ports::table::{
    AttributeValue, Cond, Item, Key, Query, StoreError, Table, TxOp, Update, from_item, to_item,
};
use crate::time::timestamp;

pub use crate::keys::PROCESSING_INDEX;

/// A job is claimable while pending or retrying, and held while running.
const JOB: Claims = Claims::record(
    "status",
    status::RUNNING,
    &[status::PENDING, status::RETRYING],
);

/// How long an idempotency record answers for its request.
const IDEMPOTENCY_TTL_SECS: i64 = 24 * 3600;

pub fn lead_key(lead_id: &str) -> Key {
    keys::lead(lead_id)
}

pub fn batch_key(lead_id: &str, batch_id: &str) -> Key {
    keys::batch(lead_id, batch_id)
}

pub fn job_key(lead_id: &str, batch_id: &str, integration: Integration) -> Key {
    keys::job(lead_id, batch_id, integration.as_str())
}

fn key_of(job: &JobRef) -> Key {
    job_key(&job.lead_id, &job.batch_id, job.integration)
}

/// What became of an outcome added to its batch.
#[derive(Debug)]
pub enum Added {
    /// Recorded: the batch as it is now.
    Recorded(BatchRecord),
    /// Not recorded (unknown batch, unexpected integration, or already recorded the other
    /// way): the batch as it is, if it exists.
    Ignored(Option<BatchRecord>),
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

    /// Stores the lead, its batch, its jobs and the idempotency record in one transaction.
    /// False: the lead or the idempotency key existed already (a concurrent request won).
    pub async fn create(
        &self,
        lead_id: &str,
        batch_id: &str,
        sub: &Submission,
        now_ms: i64,
        idempotency: Option<&str>,
    ) -> Result<bool, StoreError> {
        let ops = batch_ops(lead_id, batch_id, sub, now_ms, idempotency)?;
        match self.table.transact(ops).await {
            Ok(()) => Ok(true),
            Err(StoreError::ConditionFailed) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The lead an idempotency key made, while its record lasts.
    pub async fn lead_of_idempotency_key(&self, key: &str) -> Result<Option<String>, StoreError> {
        Ok(match self.table.get(&keys::idempotency(key)).await? {
            Some(item) => match item.get("lead_id") {
                Some(AttributeValue::S(s)) => Some(s.clone()),
                _ => None,
            },
            None => None,
        })
    }

    /// Notes that the batch's jobs are queued (the sweeper queues the others again).
    pub async fn mark_dispatched(
        &self,
        lead_id: &str,
        batch_id: &str,
        at: &str,
    ) -> Result<(), StoreError> {
        let update = Update::new()
            .set("dispatched_at", at)
            .when(Cond::item_exists());
        self.table
            .update(&batch_key(lead_id, batch_id), update)
            .await?;
        Ok(())
    }

    // --- Reads -----------------------------------------------------------------------------

    pub async fn lead(&self, lead_id: &str) -> Result<Option<LeadRecord>, StoreError> {
        self.get(&lead_key(lead_id)).await
    }

    pub async fn batch(
        &self,
        lead_id: &str,
        batch_id: &str,
    ) -> Result<Option<BatchRecord>, StoreError> {
        self.get(&batch_key(lead_id, batch_id)).await
    }

    pub async fn job(&self, job: &JobRef) -> Result<Option<JobRecord>, StoreError> {
        self.get(&key_of(job)).await
    }

    /// The batch's jobs, in integration order.
    pub async fn jobs(&self, lead_id: &str, batch_id: &str) -> Result<Vec<JobRecord>, StoreError> {
        let query = Query::pk(keys::lead_pk(lead_id)).prefix(keys::job_prefix(batch_id));
        self.table
            .query_all(query)
            .await?
            .into_iter()
            .map(from_item)
            .collect()
    }

    /// Up to `limit` open batches after where the last call stopped (from the start when
    /// it reached the end), for the sweeper; it remembers where this one stops.
    pub async fn open_batches_page(&self, limit: u32) -> Result<Vec<BatchRecord>, StoreError> {
        let at = keys::sweeper_cursor();
        let cursor = match self.table.get(&at).await? {
            Some(item) => match item.get("cursor") {
                Some(AttributeValue::S(c)) => Some(c.clone()),
                _ => None,
            },
            None => None,
        };
        let page = self
            .table
            .query(Query::gsi1(PROCESSING_INDEX).limit(limit).after(cursor))
            .await?;
        let next = match &page.cursor {
            Some(c) => Update::new().set("cursor", c.as_str()),
            None => Update::new().remove("cursor"),
        };
        self.table.update(&at, next).await?;
        page.items.into_iter().map(from_item).collect()
    }

    async fn get<T: serde::de::DeserializeOwned>(
        &self,
        key: &Key,
    ) -> Result<Option<T>, StoreError> {
        self.table.get(key).await?.map(from_item).transpose()
    }

    // --- Jobs ------------------------------------------------------------------------------

    /// Claims the job under a lease. The attempt is counted by [`Self::job_calling`], just
    /// before the outside call: a worker that dies between the two has spent no try.
    pub async fn claim_job(
        &self,
        job: &JobRef,
        now_ms: i64,
        lease_ms: i64,
    ) -> Result<Claim, StoreError> {
        let touch = Update::new().set("updated_at", timestamp(now_ms));
        let claimed = JOB
            .claim(self.table, &key_of(job), now_ms, lease_ms, touch)
            .await?;
        Ok(match claimed {
            Claimed::Ours(item) => Claim::Acquired(from_item(item)?),
            Claimed::Held { lease_left_ms } => Claim::Busy(lease_left_ms),
            Claimed::Settled(item) => Claim::Finished(from_item(item)?),
            Claimed::Missing => Claim::Missing,
        })
    }

    /// Counts the attempt the holder is about to make; the number of this attempt. Fails
    /// with `ConditionFailed` when the job is no longer running (the lease was lost).
    pub async fn job_calling(&self, job: &JobRef) -> Result<u32, StoreError> {
        let count = Update::new()
            .add("attempts", 1)
            .when(Cond::eq("status", status::RUNNING));
        let item = self.table.update(&key_of(job), count).await?;
        Ok(claims::count(&item, "attempts").clamp(0, i64::from(u32::MAX)) as u32)
    }

    /// Settles a claimed job as delivered. Credentials and the lead copy go: the job needs
    /// them no more. False: the claim was lost and the other result stands.
    pub async fn job_succeeded(
        &self,
        job: &JobRef,
        at: &str,
        external_id: Option<String>,
    ) -> Result<bool, StoreError> {
        let mut done = Update::new()
            .set("updated_at", at)
            .set("finished_at", at)
            .remove("target")
            .remove("lead")
            .remove("last_error");
        if let Some(id) = external_id {
            done = done.set("external_id", id);
        }
        JOB.settle(self.table, &key_of(job), status::SUCCEEDED, done)
            .await
    }

    /// Settles a claimed job as waiting for another attempt. False: the claim was lost.
    pub async fn job_retrying(
        &self,
        job: &JobRef,
        at: &str,
        error: &str,
    ) -> Result<bool, StoreError> {
        let error = crate::outbound::clip(error, crate::outbound::MAX_ERROR_CHARS);
        let why = Update::new().set("last_error", error).set("updated_at", at);
        JOB.settle(self.table, &key_of(job), status::RETRYING, why)
            .await
    }

    /// Fails an unfinished job for good, whoever holds it (a dead letter, a timeout, tries
    /// used up). True when this call made it final.
    pub async fn fail_job(&self, job: &JobRef, at: &str, error: &str) -> Result<bool, StoreError> {
        let update = Update::new()
            .set("status", status::FAILED)
            .set(
                "last_error",
                crate::outbound::clip(error, crate::outbound::MAX_ERROR_CHARS),
            )
            .set("updated_at", at)
            .set("finished_at", at)
            .remove("lease_until")
            .remove("target")
            .remove("lead")
            .when(Cond::item_exists().and(Cond::Or(vec![
                Cond::eq("status", status::PENDING),
                Cond::eq("status", status::RETRYING),
                Cond::eq("status", status::RUNNING),
            ])));
        match self.table.update(&key_of(job), update).await {
            Ok(_) => Ok(true),
            Err(StoreError::ConditionFailed) => Ok(false),
            Err(e) => Err(e),
        }
    }

    // --- Batches ---------------------------------------------------------------------------

    /// Adds one job's outcome to its batch's succeeded or failed set. Sets make a repeat
    /// harmless; an integration is never in both.
    pub async fn add_outcome(&self, outcome: &Outcome) -> Result<Added, StoreError> {
        let key = batch_key(&outcome.lead_id, &outcome.batch_id);
        let integration = outcome.integration.as_str();
        let (set, other) = if outcome.succeeded {
            ("succeeded", "failed")
        } else {
            ("failed", "succeeded")
        };
        let update = Update::new()
            .add_to_set(set, [integration])
            .when(Cond::item_exists())
            .when(Cond::Contains("expected".into(), integration.into()))
            .when(Cond::Contains(other.into(), integration.into()).negate());
        match self.table.update(&key, update).await {
            Ok(item) => Ok(Added::Recorded(from_item(item)?)),
            Err(StoreError::ConditionFailed) => Ok(Added::Ignored(self.get(&key).await?)),
            Err(e) => Err(e),
        }
    }

    /// Writes a batch's final status on the batch (leaving the open index) and on its lead,
    /// at once. False: it was settled already, or the lead moved on to another batch.
    pub async fn finish_batch(
        &self,
        lead_id: &str,
        batch_id: &str,
        final_status: &str,
        at: &str,
    ) -> Result<bool, StoreError> {
        let batch = Update::new()
            .set("status", final_status)
            .set("finished_at", at)
            .remove("gsi1pk")
            .remove("gsi1sk")
            .when(Cond::eq("status", status::PROCESSING));
        let lead = Update::new()
            .set("status", final_status)
            .set("updated_at", at)
            .when(Cond::eq("batch_id", batch_id));
        let ops = vec![
            TxOp::Update {
                key: batch_key(lead_id, batch_id),
                update: batch,
            },
            TxOp::Update {
                key: lead_key(lead_id),
                update: lead,
            },
        ];
        match self.table.transact(ops).await {
            Ok(()) => Ok(true),
            Err(StoreError::ConditionFailed) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The batch, unless its notification went out already (or it is gone).
    pub async fn unnotified_batch(
        &self,
        lead_id: &str,
        batch_id: &str,
    ) -> Result<Option<BatchRecord>, StoreError> {
        match self.table.get(&batch_key(lead_id, batch_id)).await? {
            Some(item) if !item.contains_key("notified_at") => Ok(Some(from_item(item)?)),
            _ => Ok(None),
        }
    }

    pub async fn mark_notified(
        &self,
        lead_id: &str,
        batch_id: &str,
        at: &str,
    ) -> Result<(), StoreError> {
        self.table
            .update(
                &batch_key(lead_id, batch_id),
                Update::new().set("notified_at", at),
            )
            .await?;
        Ok(())
    }
}

#[derive(Serialize)]
struct IdempotencyRecord<'a> {
    lead_id: &'a str,
    ttl: i64,
}

/// The writes that create a lead with its batch and jobs (and its idempotency record),
/// applied as one transaction.
pub fn batch_ops(
    lead_id: &str,
    batch_id: &str,
    sub: &Submission,
    now: i64,
    idempotency: Option<&str>,
) -> Result<Vec<TxOp>, StoreError> {
    let at = timestamp(now);
    let absent = || Some(Cond::item_absent());
    let mut ops = vec![
        TxOp::Put {
            item: lead_item(lead_id, batch_id, sub, &at)?,
            cond: absent(),
        },
        TxOp::Put {
            item: batch_item(lead_id, batch_id, sub, &at)?,
            cond: absent(),
        },
    ];
    for (target, tries) in &sub.jobs {
        ops.push(TxOp::Put {
            item: job_item(lead_id, batch_id, &sub.lead, target, *tries, &at)?,
            cond: None,
        });
    }
    if let Some(key) = idempotency {
        let record = IdempotencyRecord {
            lead_id,
            ttl: now / 1000 + IDEMPOTENCY_TTL_SECS,
        };
        ops.push(TxOp::Put {
            item: to_item(&keys::idempotency(key), &record)?,
            cond: absent(),
        });
    }
    Ok(ops)
}

fn lead_item(
    lead_id: &str,
    batch_id: &str,
    sub: &Submission,
    at: &str,
) -> Result<Item, StoreError> {
    let record = LeadRecord {
        lead_id: lead_id.into(),
        batch_id: batch_id.into(),
        status: status::PROCESSING.into(),
        lead: sub.lead.clone(),
        created_at: at.into(),
        updated_at: at.into(),
    };
    to_item(&lead_key(lead_id), &record)
}

fn batch_item(
    lead_id: &str,
    batch_id: &str,
    sub: &Submission,
    at: &str,
) -> Result<Item, StoreError> {
    let expected: Vec<String> = sub
        .jobs
        .iter()
        .map(|(t, _)| t.integration().to_string())
        .collect();
    let record = BatchRecord {
        lead_id: lead_id.into(),
        batch_id: batch_id.into(),
        status: status::PROCESSING.into(),
        expected: expected.clone(),
        succeeded: Vec::new(),
        failed: Vec::new(),
        created_at: at.into(),
        dispatched_at: None,
        finished_at: None,
    };
    let mut item = to_item(&batch_key(lead_id, batch_id), &record)?;
    // The sets start absent: DynamoDB has no empty sets, and ADD creates them.
    item.remove("succeeded");
    item.remove("failed");
    item.insert("expected".into(), AttributeValue::Ss(expected));
    item.insert("gsi1pk".into(), AttributeValue::S(PROCESSING_INDEX.into()));
    item.insert(
        "gsi1sk".into(),
        AttributeValue::S(format!("{at}#{batch_id}")),
    );
    Ok(item)
}

fn job_item(
    lead_id: &str,
    batch_id: &str,
    lead: &Lead,
    target: &Target,
    tries: u32,
    at: &str,
) -> Result<Item, StoreError> {
    let integration = target.integration();
    let record = JobRecord {
        lead_id: lead_id.into(),
        batch_id: batch_id.into(),
        integration,
        status: status::PENDING.into(),
        tries,
        attempts: 0,
        last_error: None,
        external_id: None,
        created_at: at.into(),
        updated_at: None,
        finished_at: None,
        lease_until: None,
        target: Some(target.clone()),
        lead: Some(lead.clone()),
    };
    to_item(&job_key(lead_id, batch_id, integration), &record)
}
