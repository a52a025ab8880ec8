//! Taking a lead in: the validated request is stored (one item) and one job per
//! integration is queued; a repeated request gets the batch it made before, and queues
//! again whatever of it has not reported (its first try may have stopped in between).

use serde_json::Value;
use sha2::{Digest, Sha256};

use super::model::*;
use super::store::LeadStore;
use super::{dispatch, view};
use crate::Deps;
use crate::ports::table::StoreError;

use super::request::Submission;
use super::view::BatchView;

#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("a concurrent request with this lead id is still being stored")]
    KeyConflict,
    /// Stored, but its jobs are not all queued: the same request again queues them.
    #[error(transparent)]
    NotQueued(#[from] dispatch::DispatchError),
}

/// The lead id an `Idempotency-Key` stands for when the request names none: the key's
/// hash, so the lead's own conditional write is the idempotency check and no second item
/// (or read) is needed.
pub fn lead_id_for_key(key: &str) -> String {
    let digest = Sha256::digest(key.as_bytes());
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("key-{hex}")
}

/// Stores and queues a new batch, or returns the one this request already made.
/// `Ok((view, true))` is new (202); `Ok((view, false))` existed (200).
pub async fn submit(
    deps: &Deps,
    idempotency: Option<&str>,
    sub: Submission,
) -> Result<(BatchView, bool), SubmitError> {
    let store = LeadStore::of(deps);
    let lead_id = match (&sub.lead_id, idempotency) {
        (Some(id), _) => id.clone(),
        (None, Some(key)) => lead_id_for_key(key),
        (None, None) => uuid::Uuid::now_v7().to_string(),
    };
    let batch_id = uuid::Uuid::now_v7().to_string();
    let now = deps.clock.now_ms();
    if store.create(&lead_id, &batch_id, &sub, now).await? {
        // Just written, so read back from what was written rather than from the table.
        let lead = LeadRecord {
            lead_id,
            batch_id,
            status: status::PROCESSING.into(),
            lead: sub.lead.clone(),
            tries: sub
                .jobs
                .iter()
                .map(|(t, n)| (t.integration().to_string(), *n))
                .collect(),
            created_at: crate::time::timestamp(now),
            updated_at: crate::time::timestamp(now),
            finished_at: None,
        };
        queue_or_report(deps, &dispatch::jobs_for(&lead, &sub)).await?;
        return Ok((BatchView::of(&lead, &BatchState::default()), true));
    }
    let Some((lead, batch)) = store.lead_and_batch(&lead_id).await? else {
        return Err(SubmitError::KeyConflict);
    };
    if lead.status == status::PROCESSING {
        // The queue drops a copy of a job queued in the last five minutes, and a worker
        // skips a job that has reported, so queueing again is harmless.
        let open: Vec<Job> = dispatch::jobs_for(&lead, &sub)
            .into_iter()
            .filter(|j| !batch.reported(j.integration()))
            .map(|j| Job { again: true, ..j })
            .collect();
        queue_or_report(deps, &open).await?;
    }
    Ok((BatchView::of(&lead, &batch), false))
}

/// Queues the jobs; when that fails the admins hear of it at once, and the caller is told
/// to send the request again (which queues them).
async fn queue_or_report(deps: &Deps, jobs: &[Job]) -> Result<(), dispatch::DispatchError> {
    let Err(e) = dispatch::queue(deps, jobs).await else {
        return Ok(());
    };
    if let Some(first) = jobs.first() {
        tracing::error!(lead_id = %first.lead_id, batch_id = %first.batch_id, error = %e, "lead stored but its jobs not queued");
        let note = super::notify::Notification::DispatchFailed {
            lead_id: first.lead_id.clone(),
            batch_id: first.batch_id.clone(),
            error: e.to_string(),
        };
        let msg = crate::notifications::NotificationMessage::Lead(note);
        if let Err(e) = crate::notifications::QUEUE
            .send(deps.queue.as_ref(), &msg)
            .await
        {
            tracing::error!(error = %e, "cannot queue the dispatch failure notification either");
        }
    }
    Err(e)
}

/// Everything the API shows about one lead, as JSON.
pub async fn lead_status(deps: &Deps, lead_id: &str) -> Result<Option<Value>, StoreError> {
    view::lead_status(&LeadStore::of(deps), lead_id)
        .await?
        .map(|v| v.to_json())
        .transpose()
}
