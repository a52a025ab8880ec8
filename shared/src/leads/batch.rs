//! Settling a batch from its jobs' outcomes. Outcomes go into string sets (adding one twice
//! is harmless, and a job already in a set is never written again); the job whose report
//! completes the sets asks the tracker to settle, and the tracker writes the status once,
//! under a condition. The ask goes to `batch-results`: in AWS an asynchronous invocation of
//! the tracker (nothing polls for it), in `zayavka serve` a queue.

use super::Mark;
use super::model::*;
use super::notify::Notification;
use super::store::{JobResult, LeadStore, Reported};
use crate::Deps;
use crate::notifications::{self, NotificationMessage};
use crate::ports::table::StoreError;
use crate::queues::TypedQueue;
use crate::time::timestamp;
use tracing::Instrument;

/// Batches ready to settle, for the tracker.
pub const RESULTS: TypedQueue<Settle> = TypedQueue::new(crate::queues::BATCH_RESULTS);

#[derive(Debug, thiserror::Error)]
pub enum TrackError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot queue: {0}")]
    Queue(String),
    #[error("lead {0} is not stored (yet)")]
    NoLead(String),
}

/// What settling found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settled {
    /// This call wrote the final status.
    Written,
    /// It was settled before.
    Already,
    /// The lead is not stored: its jobs go out before it is written, so it may be a moment
    /// away, or its request failed after queueing them.
    NoLead,
}

/// The status a finished batch gets.
pub fn final_status(succeeded: usize, failed: usize) -> &'static str {
    match (succeeded, failed) {
        (_, 0) => status::COMPLETED,
        (0, _) => status::FAILED,
        _ => status::PARTIAL,
    }
}

/// Writes a job's result when no attempt was made (given up, timed out); when it
/// completes the batch, asks the tracker to settle it.
pub async fn report(deps: &Deps, job: &Job, result: &JobResult) -> Result<Reported, TrackError> {
    report_attempt(deps, job, result, None, None).await
}

/// Writes a job's result and the attempt that brought it into the job's history; when it
/// completes the batch, asks the tracker to settle it.
pub async fn report_attempt(
    deps: &Deps,
    job: &Job,
    result: &JobResult,
    attempt: Option<&Attempt>,
    mark: Option<Mark>,
) -> Result<Reported, TrackError> {
    let r = job.job_ref();
    let reported = LeadStore::of(deps)
        .report(
            &r,
            &job.expected,
            result,
            attempt,
            mark,
            deps.clock.now_ms(),
        )
        .await?;
    if let Reported::Recorded(batch) = &reported
        && batch.complete()
    {
        ask_to_settle(deps, &r, job.lead.display_name(), batch).await?;
    }
    Ok(reported)
}

/// Queues the settling of a complete batch (again, when a redelivery finds it complete:
/// settling twice is harmless).
pub async fn ask_to_settle(
    deps: &Deps,
    job: &JobRef,
    lead_name: String,
    batch: &BatchState,
) -> Result<(), TrackError> {
    RESULTS
        .send(
            deps.queue.as_ref(),
            &Settle::of(&job.lead_id, &job.batch_id, lead_name, batch),
        )
        .await
        .map_err(|e| TrackError::Queue(e.to_string()))
}

/// Settles a complete batch: the admins' notification is queued first, then the status
/// written under its condition. A crash in between repeats the notification, which its
/// worker sends once per batch and channel; the other order could lose it.
pub async fn settle(deps: &Deps, s: &Settle) -> Result<Settled, TrackError> {
    let span = tracing::info_span!("settle", lead_id = %s.lead_id, batch_id = %s.batch_id);
    settle_in(deps, s).instrument(span).await
}

async fn settle_in(deps: &Deps, s: &Settle) -> Result<Settled, TrackError> {
    let final_state = final_status(s.succeeded.len(), s.failed.len());
    let note = Notification::BatchFinished {
        lead_id: s.lead_id.clone(),
        batch_id: s.batch_id.clone(),
        status: final_state.into(),
        lead_name: s.lead_name.clone(),
        succeeded: s.succeeded.clone(),
        failed: s.failed.clone(),
        errors: s.errors.clone(),
    };
    let at = timestamp(deps.clock.now_ms());
    let store = LeadStore::of(deps);
    // No read first: a repeat of a settled batch queues the notification again, and the
    // notification worker, which claims each batch's channels once, drops it.
    notifications::QUEUE
        .send(deps.queue.as_ref(), &NotificationMessage::Lead(note))
        .await
        .map_err(|e| TrackError::Queue(e.to_string()))?;
    if final_state != status::COMPLETED {
        // Before the status, so a crash between them leaves no failure unlisted (a
        // repeat writes the same note).
        let now_secs = deps.clock.now_secs();
        store
            .note_failure(&Failure {
                lead_id: s.lead_id.clone(),
                batch_id: s.batch_id.clone(),
                status: final_state.into(),
                failed: s.failed.clone(),
                finished_at: at.clone(),
                ttl: now_secs + 14 * 24 * 3600,
            })
            .await?;
    }
    if store
        .settle(&s.lead_id, &s.batch_id, final_state, &at)
        .await?
    {
        tracing::info!(lead_id = %s.lead_id, batch_id = %s.batch_id, status = final_state, "batch settled");
        deps.metrics.lead_settled(final_state);
        return Ok(Settled::Written);
    }
    // Refused: settled before, or not there (a read only on this path).
    Ok(match store.lead(&s.lead_id).await? {
        Some(_) => Settled::Already,
        None => Settled::NoLead,
    })
}

/// One asynchronous invocation with a batch to settle (Lambda). A batch whose lead is not
/// stored yet is looked at again in two seconds (its request is writing it, as a rule); if
/// still not, the invocation fails, so Lambda runs it again a minute later, and two after
/// that; one that never gets a lead ends in the dead-letter queue, where the sweeper drops it.
pub async fn on_invocation(deps: &Deps, s: &Settle) -> Result<(), TrackError> {
    for again in [true, false] {
        match settle(deps, s).await? {
            Settled::Written | Settled::Already => return Ok(()),
            Settled::NoLead if again => tokio::time::sleep(LOOK_AGAIN).await,
            Settled::NoLead => {}
        }
    }
    Err(TrackError::NoLead(s.lead_id.clone()))
}

/// How long a batch whose lead is not written yet waits before it is looked at again.
pub const LOOK_AGAIN: std::time::Duration = std::time::Duration::from_secs(2);

/// One message on `batch-results`, the queue `zayavka serve` keeps in place of Lambda's. A message that is not a batch to settle can never be
/// handled and is dropped (logged). A batch whose lead is not stored yet is looked at again
/// in two seconds (its request is writing it); one that never gets a lead ends in the
/// dead-letter queue, where the sweeper drops it.
pub async fn on_message(
    deps: &Deps,
    msg: &crate::sqs_batch::QueueMessage,
    queue_prefix: &str,
) -> Result<(), TrackError> {
    let s = match RESULTS.decode(&msg.body) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(error = %e, "message is not a batch to settle; dropped");
            return Ok(());
        }
    };
    match settle(deps, &s).await? {
        Settled::Written | Settled::Already => Ok(()),
        Settled::NoLead => {
            deps.queue
                .change_visibility(
                    msg.logical_queue(queue_prefix),
                    &msg.receipt_handle,
                    LOOK_AGAIN.as_secs() as u32,
                )
                .await
                .map_err(|e| TrackError::Queue(e.to_string()))?;
            Err(TrackError::NoLead(s.lead_id))
        }
    }
}
