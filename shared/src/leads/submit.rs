//! Taking a lead in: one job per integration is queued, then the validated request is
//! stored (one item); a repeated request gets the batch it made before, and queues again
//! whatever of it has not reported (its first try may have stopped in between).

use serde_json::Value;
use sha2::{Digest, Sha256};
use tracing::Instrument;

use super::model::*;
use super::store::LeadStore;
use super::{dispatch, view};
use crate::Deps;
use crate::api_keys::Caller;
use crate::ports::table::StoreError;

use super::request::Submission;
use super::view::BatchView;

#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("a concurrent request with this lead id is still being stored")]
    KeyConflict,
    /// Its jobs are not all queued, and it is not stored: the same request again queues
    /// them (those queued already are dropped as copies) and stores it.
    #[error(transparent)]
    NotQueued(#[from] dispatch::DispatchError),
    /// The lead id (or Idempotency-Key) names a lead another API key submitted: the caller
    /// is told nothing about it.
    #[error("the lead id is taken by a lead another API key submitted")]
    NotYours,
}

/// The lead id an `Idempotency-Key` stands for when the request names none: a hash of the
/// key and the caller's key id, so the lead's own conditional write is the idempotency check
/// (no second item or read), and two websites that both send `order-1001` make two leads
/// instead of one refusing the other.
pub fn lead_id_for_key(owner: &str, key: &str) -> String {
    let digest = Sha256::digest(format!("{owner}\n{key}").as_bytes());
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("key-{hex}")
}

/// A lead's batch id: made from its lead id, so that a request sent again after a failure
/// makes the same jobs, which the queue drops (within five minutes) or the worker skips.
pub fn batch_id_for(lead_id: &str) -> String {
    let digest = Sha256::digest(format!("batch:{lead_id}").as_bytes());
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("b-{hex}")
}

/// Queues a new batch's jobs and then stores the lead, or returns the batch this request
/// already made. `Ok((view, true))` is new (202); `Ok((view, false))` existed (200).
///
/// Jobs first: a lead is stored only once its jobs are queued, so no stored lead can wait
/// for jobs that never went — which is what lets the sweeper watch the dead-letter queues
/// instead of an index of open leads. A worker may take a job before its lead is written;
/// it needs only the job, and the tracker waits for the lead.
pub async fn submit(
    deps: &Deps,
    caller: &Caller,
    idempotency: Option<&str>,
    sub: Submission,
    patience_ms: i64,
) -> Result<(BatchView, bool), SubmitError> {
    let store = LeadStore::of(deps);
    let (lead_id, named) = match (&sub.lead_id, idempotency) {
        (Some(id), _) => (id.clone(), true),
        (None, Some(key)) => (lead_id_for_key(caller.key_id(), key), true),
        (None, None) => (uuid::Uuid::now_v7().to_string(), false),
    };
    let span = tracing::info_span!("lead", lead_id = %lead_id);
    submit_as(deps, &store, caller, (lead_id, named), sub, patience_ms)
        .instrument(span)
        .await
}

async fn submit_as(
    deps: &Deps,
    store: &LeadStore<'_>,
    caller: &Caller,
    (lead_id, named): (String, bool),
    sub: Submission,
    patience_ms: i64,
) -> Result<(BatchView, bool), SubmitError> {
    // A request that names its lead may be a repeat: answer it from what is stored.
    if named && store.lead_seen(&lead_id).await? {
        return again(deps, store, caller, &lead_id, &sub).await;
    }
    let now_ms = deps.clock.now_ms();
    let at = crate::time::timestamp(now_ms);
    let owner = Some(caller.key_id().to_string());
    let lead = LeadRecord::opened(lead_id.clone(), batch_id_for(&lead_id), &sub, at, owner);
    let jobs = dispatch::jobs_for(&lead, &sub);
    queue_or_report(deps, &jobs).await?;
    // Before the lead: a stored lead always has its marker, so none is forgotten.
    if let Some(due) = super::due::Due::of(&jobs, now_ms, patience_ms) {
        super::due::DueStore::new(deps.table.as_ref())
            .put(&due)
            .await?;
    }
    if store.create(&lead).await? {
        deps.metrics.lead_accepted();
        return Ok((BatchView::of(&lead, &BatchState::default()), true));
    }
    // A concurrent request with the same lead id stored it first.
    again(deps, store, caller, &lead.lead_id, &sub).await
}

/// A repeated request: the stored batch. While it is open, its jobs that have not reported
/// are queued again — the caller may be retrying because its first try failed after
/// queueing some of them; the queue drops a copy of a job queued in the last five minutes,
/// and a worker skips a job that has reported.
async fn again(
    deps: &Deps,
    store: &LeadStore<'_>,
    caller: &Caller,
    lead_id: &str,
    sub: &Submission,
) -> Result<(BatchView, bool), SubmitError> {
    let Some((lead, batch)) = store.lead_and_batch(lead_id).await? else {
        return Err(SubmitError::KeyConflict);
    };
    // Another key's lead is neither shown nor queued again: a guessed lead id or
    // Idempotency-Key must not reveal (or resend) someone else's lead.
    if !caller.owns(lead.submitted_by.as_deref()) {
        return Err(SubmitError::NotYours);
    }
    if lead.status == status::PROCESSING {
        let open: Vec<Job> = dispatch::jobs_for(&lead, sub)
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
        tracing::error!(lead_id = %first.lead_id, batch_id = %first.batch_id, error = %e, "a lead's jobs could not all be queued");
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

/// The lead as `caller` may see it: a `leads` key sees only the leads it submitted, as if
/// the others did not exist; an admin key sees any.
pub async fn lead_status_for(
    deps: &Deps,
    caller: &Caller,
    lead_id: &str,
) -> Result<Option<Value>, StoreError> {
    view::lead_status(&LeadStore::of(deps), lead_id)
        .await?
        .filter(|v| caller.owns(v.submitted_by.as_deref()))
        .map(|v| v.to_json())
        .transpose()
}
