//! No lead stays `processing` past its last scheduled attempt.
//!
//! Every batch (a new lead's, a replay's) leaves a marker in the bucket of the time it must
//! have settled by: its created time, the whole retry schedule, and `STUCK_GRACE`. The
//! sweeper reads each bucket once it has passed — one query of small items, not a scan of
//! every lead — and looks at the lead of each marker. A lead still `processing` on that batch
//! lost a job's result somewhere (a worker that crashed after its call and whose message
//! went anyway, a settling that never came): it is reconciled from its jobs. What has all
//! its results is settled; a job without one is queued again when its target needs no
//! credentials of the request (the marker keeps the target without them), else it fails
//! ("replay it with its credentials"), which settles the batch; the admins are told, and a
//! new marker sees to it again later.
//!
//! Costs: one small write per lead when it comes in (its marker, which expires by itself),
//! and one eventually consistent read of the lead by the sweeper once its time has come.

use serde::{Deserialize, Serialize};

use super::batch;
use super::model::*;
use super::notify::Notification;
use super::store::{JobResult, LeadStore};
use crate::Deps;
use crate::keys;
use crate::notifications::{self, NotificationMessage};
use crate::ports::table::{AttributeValue, Query, StoreError, Table, Update, from_item, to_item};

/// Buckets are ten seconds wide: the sweeper queries 8 640 of them a day (half a read unit
/// each), and a test waits seconds, not an hour.
pub const BUCKET_SECS: i64 = 10;
/// Markers outlive their check by two weeks: `zayavka leads retry --since` reads them.
const KEEP_SECS: i64 = 14 * 24 * 3600;
/// The buckets one sweep checks at most; a sweeper that was off catches up over runs.
const BUCKETS_PER_RUN: i64 = 360;

/// `due#<bucket> / <lead>` as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Due {
    pub lead_id: String,
    pub batch_id: String,
    /// When the batch was made, and when it must have settled (Unix ms).
    #[serde(default)]
    pub made_ms: i64,
    pub due_ms: i64,
    /// The batch's integrations.
    pub expected: Vec<String>,
    /// Its targets without their credentials.
    pub targets: Vec<Target>,
    /// The integrations whose request brought credentials: their jobs cannot be queued again.
    #[serde(default)]
    pub with_credentials: Vec<String>,
    pub ttl: i64,
}

impl Due {
    /// The marker of a new lead's `jobs`, made at `now_ms`, due after `patience_ms`.
    pub fn of(jobs: &[Job], now_ms: i64, patience_ms: i64) -> Option<Self> {
        let first = jobs.first()?;
        let targets = jobs
            .iter()
            .map(|j| (j.integration().to_string(), Some(j.target.clone())))
            .collect();
        let batch = (
            first.lead_id.as_str(),
            first.batch_id.as_str(),
            &first.expected[..],
        );
        Some(Self::new(batch, targets, (now_ms, patience_ms)))
    }

    /// A batch's marker: `targets` as far as they are known (a replay that wakes a kept
    /// message does not know its target; its job is then not queued again but failed).
    pub fn new(
        (lead_id, batch_id, expected): (&str, &str, &[String]),
        targets: Vec<(String, Option<Target>)>,
        (made_ms, patience_ms): (i64, i64),
    ) -> Self {
        let due_ms = made_ms.saturating_add(patience_ms);
        let mut known = Vec::new();
        let mut with_credentials = Vec::new();
        for (name, t) in &targets {
            let name = name.clone();
            let t = t.clone();
            match t.map(|t| t.without_secrets()) {
                Some((t, false)) => known.push(t),
                Some((t, true)) => {
                    known.push(t);
                    with_credentials.push(name);
                }
                None => with_credentials.push(name),
            }
        }
        Self {
            lead_id: lead_id.to_string(),
            batch_id: batch_id.to_string(),
            made_ms,
            due_ms,
            expected: expected.to_vec(),
            targets: known,
            with_credentials,
            ttl: due_ms / 1000 + KEEP_SECS,
        }
    }

    fn bucket(&self) -> i64 {
        bucket_of(self.due_ms)
    }
}

fn bucket_of(ms: i64) -> i64 {
    let secs = ms.div_euclid(1000);
    secs - secs.rem_euclid(BUCKET_SECS)
}

/// The markers' reads and writes.
pub struct DueStore<'a> {
    table: &'a dyn Table,
}

impl<'a> DueStore<'a> {
    pub fn new(table: &'a dyn Table) -> Self {
        Self { table }
    }

    pub async fn put(&self, due: &Due) -> Result<(), StoreError> {
        let item = to_item(&keys::lead_due(due.bucket(), &due.lead_id), due)?;
        self.table.put(item, None).await
    }

    pub async fn bucket(&self, bucket: i64) -> Result<Vec<Due>, StoreError> {
        let items = self
            .table
            .query_all(Query::pk(keys::lead_due_pk(bucket)))
            .await?;
        items.into_iter().map(from_item).collect()
    }

    /// The last bucket checked, if any.
    pub async fn cursor(&self) -> Result<Option<i64>, StoreError> {
        let item = self.table.get(&keys::lead_due_cursor()).await?;
        Ok(item.map(|i| crate::claims::count(&i, "bucket")))
    }

    pub async fn advance(&self, bucket: i64) -> Result<(), StoreError> {
        let update = Update::new().set("bucket", AttributeValue::N(bucket.to_string()));
        self.table
            .update(&keys::lead_due_cursor(), update)
            .await
            .map(|_| ())
    }
}

/// What one sweep found.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct Checked {
    pub leads: usize,
    pub reconciled: usize,
}

/// Checks every bucket that has passed since the last sweep.
pub async fn check(deps: &Deps) -> Result<Checked, batch::TrackError> {
    let store = DueStore::new(deps.table.as_ref());
    let now_ms = deps.clock.now_ms();
    // Only buckets wholly past: a marker of the current one may not be due yet.
    let last = bucket_of(now_ms) - BUCKET_SECS;
    let first = match store.cursor().await? {
        Some(done) => done + BUCKET_SECS,
        // The first sweep ever: no marker is older than this feature, so a minute back.
        None => last - 6 * BUCKET_SECS,
    };
    let mut checked = Checked::default();
    let mut bucket = first;
    while bucket <= last && bucket < first + BUCKETS_PER_RUN * BUCKET_SECS {
        for due in store.bucket(bucket).await? {
            checked.leads += 1;
            if reconcile(deps, &due).await? {
                checked.reconciled += 1;
            }
        }
        store.advance(bucket).await?;
        bucket += BUCKET_SECS;
    }
    Ok(checked)
}

/// Reconciles the marker's lead if it is still `processing` on the marker's batch; true
/// when it was.
async fn reconcile(deps: &Deps, due: &Due) -> Result<bool, batch::TrackError> {
    let leads = LeadStore::of(deps);
    let Some(lead) = leads.lead(&due.lead_id).await? else {
        return Ok(false);
    };
    if lead.status != status::PROCESSING || lead.batch_id != due.batch_id {
        return Ok(false);
    }
    let (requeued, failed) = finish_jobs(deps, &lead, due).await?;
    settle_or_look_again(deps, &lead, due).await?;
    tracing::warn!(lead_id = %due.lead_id, batch_id = %due.batch_id, ?requeued, ?failed, "a lead past its last attempt was still processing; reconciled");
    let note = Notification::Reconciled {
        lead_id: due.lead_id.clone(),
        batch_id: due.batch_id.clone(),
        lead_name: lead.lead.display_name(),
        requeued,
        failed,
    };
    notifications::QUEUE
        .send(deps.queue.as_ref(), &NotificationMessage::Lead(note))
        .await
        .map_err(|e| batch::TrackError::Queue(e.to_string()))?;
    Ok(true)
}

/// Each job of the batch without a result and not waiting for a later attempt: queued again
/// when its target is known and needs no credentials of the request, failed otherwise.
/// Returns (queued again, failed).
async fn finish_jobs(
    deps: &Deps,
    lead: &LeadRecord,
    due: &Due,
) -> Result<(Vec<String>, Vec<String>), batch::TrackError> {
    let store = LeadStore::of(deps);
    let state = store.batch(&due.lead_id, &due.batch_id, true).await?;
    let now_ms = deps.clock.now_ms();
    let (mut requeued, mut failed, mut jobs) = (Vec::new(), Vec::new(), Vec::new());
    for name in &due.expected {
        let Some(i) = Integration::parse(name) else {
            continue;
        };
        if state.reported(i) || still_waiting(&state.job(i), now_ms) {
            continue;
        }
        match job_of(lead, due, i, now_ms) {
            Some(job) if !due.with_credentials.contains(name) => {
                requeued.push(name.clone());
                jobs.push(job);
            }
            _ => {
                failed.push(name.clone());
                let lost = JobResult::Failed {
                    error: LOST.into(),
                    called: false,
                };
                let r = JobRef {
                    lead_id: due.lead_id.clone(),
                    batch_id: due.batch_id.clone(),
                    integration: i,
                };
                store
                    .report(&r, &due.expected, &lost, None, None, now_ms)
                    .await?;
            }
        }
    }
    super::dispatch::queue_again(deps, &jobs, &format!("r{now_ms}"))
        .await
        .map_err(|e| batch::TrackError::Queue(e.to_string()))?;
    Ok((requeued, failed))
}

/// Settles the batch when every job has its result now; otherwise what went again is looked
/// at once more when it should have finished.
async fn settle_or_look_again(
    deps: &Deps,
    lead: &LeadRecord,
    due: &Due,
) -> Result<(), batch::TrackError> {
    let now = LeadStore::of(deps)
        .batch(&due.lead_id, &due.batch_id, true)
        .await?;
    if now.complete() {
        let r = JobRef {
            lead_id: due.lead_id.clone(),
            batch_id: due.batch_id.clone(),
            integration: Integration::Email,
        };
        return batch::ask_to_settle(deps, &r, lead.lead.display_name(), &now).await;
    }
    let patience = due
        .due_ms
        .saturating_sub(due.made_ms)
        .max(BUCKET_SECS * 1000);
    let now_ms = deps.clock.now_ms();
    let again = Due {
        made_ms: now_ms,
        due_ms: now_ms.saturating_add(patience),
        ..due.clone()
    };
    DueStore::new(deps.table.as_ref()).put(&again).await?;
    Ok(())
}

const LOST: &str = "its result was lost and its message is gone; replay it with its credentials";

/// A job that still waits for a later attempt (its breaker, its schedule) is not stuck.
fn still_waiting(job: &JobState, now_ms: i64) -> bool {
    job.next_attempt_at
        .as_deref()
        .and_then(crate::time::parse_ms)
        .is_some_and(|at| at > now_ms)
}

/// The job of integration `i` as the marker keeps it (no credentials), queued again.
fn job_of(lead: &LeadRecord, due: &Due, i: Integration, now_ms: i64) -> Option<Job> {
    let target = due.targets.iter().find(|t| t.integration() == i)?.clone();
    Some(Job {
        lead_id: lead.lead_id.clone(),
        batch_id: due.batch_id.clone(),
        tries: lead.tries.get(i.as_str()).copied().unwrap_or(1),
        created_at: crate::time::timestamp(now_ms),
        expected: due.expected.clone(),
        lead: lead.lead.clone(),
        target,
        again: true,
        first_batch: lead
            .batches()
            .first()
            .cloned()
            .filter(|b| *b != due.batch_id),
    })
}
