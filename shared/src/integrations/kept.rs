//! The worker's side of replay ([`crate::leads::replay`]): a failed job's message is kept on
//! its queue, invisible, for `REPLAY_KEEP`, coming back every 11 hours to be kept again; a
//! kept message woken by a replay runs as the replay's job.

use super::worker::{JobError, JobRunner, secs_until};
use crate::leads::model::{BatchState, Job};
use crate::leads::store::LeadStore;
use crate::sqs_batch::QueueMessage;

/// The longest `REPLAY_KEEP`: the integration queues keep a message 14 days.
pub const MAX_KEEP_HOURS: u32 = 13 * 24;

/// `REPLAY_KEEP`: `72h`, `3d`; `0` keeps nothing.
pub fn parse_keep(raw: &str) -> Result<u32, String> {
    let raw = raw.trim();
    let (digits, hours_per) = match raw.strip_suffix('d') {
        Some(d) => (d, 24),
        None => (raw.strip_suffix('h').unwrap_or(raw), 1),
    };
    let n: u32 = digits
        .parse()
        .map_err(|_| format!("{raw:?} is not a span like 72h or 3d"))?;
    n.checked_mul(hours_per)
        .filter(|h| *h <= MAX_KEEP_HOURS)
        .ok_or_else(|| format!("{raw:?} is longer than 13d, past what the queue keeps"))
}

/// A replay's job found through the marks on the batches it ran in: the job as it is now,
/// its batch, and whether it is a replay's (its message's receives before are not its own).
pub(super) struct Current {
    pub job: Job,
    pub batch: BatchState,
    pub replayed: bool,
}

impl JobRunner {
    /// The job a message stands for now: itself, or — when its batch failed it and a
    /// replay sent it again — the replay's job (followed through replays of replays).
    pub(super) async fn current(&self, msg: &QueueMessage, job: &Job) -> Result<Current, JobError> {
        let store = LeadStore::of(&self.deps);
        let i = job.integration();
        // A first delivery reads what was written seconds ago or earlier, where an
        // eventually consistent read (half the price) is as good. A redelivery, or a copy
        // queued again by a repeated request (it may follow its original within the same
        // batch, a moment after the original's report), reads fresh.
        let fresh = msg.receive_count > 1 || job.again;
        let mut job = job.clone();
        let mut batch = store.batch(&job.lead_id, &job.batch_id, fresh).await?;
        let mut replayed = false;
        // A lead is replayed a handful of times at most; the bound only stops a loop.
        for _ in 0..32 {
            let state = batch.job(i);
            let Some(next) = state
                .replayed_in
                .filter(|_| batch.failed.contains(&i.to_string()))
            else {
                break;
            };
            batch = store.batch(&job.lead_id, &next, true).await?;
            let first = job.first_batch.take().unwrap_or(job.batch_id.clone());
            job = Job {
                batch_id: next,
                expected: batch.expected.clone(),
                // The breaker's patience counts from the replay, not from the lead.
                created_at: crate::time::timestamp(self.deps.clock.now_ms()),
                first_batch: Some(first),
                again: true,
                ..job
            };
            replayed = true;
        }
        Ok(Current {
            job,
            batch,
            replayed,
        })
    }

    /// A job that failed for good: its message is kept for replay (the receipt handle on
    /// its batch) when `REPLAY_KEEP` allows, else let go.
    pub(super) async fn keep_failed(&self, msg: &QueueMessage, job: &Job) -> Result<(), JobError> {
        let keep_ms = i64::from(self.cfg.replay_keep_hours) * 3_600_000;
        if keep_ms == 0 {
            return Ok(());
        }
        let until = self.deps.clock.now_ms().saturating_add(keep_ms);
        self.keep_until(msg, job, until).await
    }

    /// A kept message came back (its 11 hours are up): kept again until its time, or let go.
    pub(super) async fn keep_again(
        &self,
        msg: &QueueMessage,
        job: &Job,
        until_ms: i64,
    ) -> Result<(), JobError> {
        if self.deps.clock.now_ms() >= until_ms {
            LeadStore::of(&self.deps).keep(&job.job_ref(), None).await?;
            return Ok(());
        }
        self.keep_until(msg, job, until_ms).await
    }

    async fn keep_until(
        &self,
        msg: &QueueMessage,
        job: &Job,
        until_ms: i64,
    ) -> Result<(), JobError> {
        let store = LeadStore::of(&self.deps);
        store
            .keep(&job.job_ref(), Some((&msg.receipt_handle, until_ms)))
            .await?;
        let now_ms = self.deps.clock.now_ms();
        self.postpone(msg, secs_until(now_ms, until_ms)).await?;
        Err(JobError::Kept)
    }
}
