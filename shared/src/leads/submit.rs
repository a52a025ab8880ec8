//! Taking a lead in: the validated request is stored (lead, batch and jobs in one
//! transaction) and one job per integration is queued; a repeated request gets the batch it
//! made before.

use serde_json::Value;

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
    #[error("idempotency key was used for another request")]
    KeyConflict,
}

/// The lead and its current batch, if any.
pub async fn existing(deps: &Deps, lead_id: &str) -> Result<Option<BatchView>, StoreError> {
    view::batch_view(&LeadStore::of(deps), lead_id).await
}

/// Stores and queues a new batch, or returns the one this request already made.
/// `Ok((view, true))` is new (202); `Ok((view, false))` existed (200).
pub async fn submit(
    deps: &Deps,
    idempotency: Option<&str>,
    sub: Submission,
) -> Result<(BatchView, bool), SubmitError> {
    let store = LeadStore::of(deps);
    if let Some(found) = made_before(&store, idempotency, sub.lead_id.as_deref()).await? {
        return Ok((found, false));
    }
    let lead_id = sub
        .lead_id
        .clone()
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    let batch_id = uuid::Uuid::now_v7().to_string();
    let now = deps.clock.now_ms();
    if !store
        .create(&lead_id, &batch_id, &sub, now, idempotency)
        .await?
    {
        // A concurrent request with the same key or lead id won the race.
        return match made_before(&store, idempotency, Some(&lead_id)).await? {
            Some(found) => Ok((found, false)),
            None => Err(SubmitError::KeyConflict),
        };
    }
    let refs: Vec<JobRef> = sub
        .jobs
        .iter()
        .map(|(t, _)| JobRef {
            lead_id: lead_id.clone(),
            batch_id: batch_id.clone(),
            integration: t.integration(),
        })
        .collect();
    dispatch::dispatch_or_report(deps, &lead_id, &batch_id, &refs).await;
    Ok((BatchView::new_batch(lead_id, batch_id, &sub.jobs), true))
}

/// The batch an earlier request made: by its idempotency key, else by its lead id.
async fn made_before(
    store: &LeadStore<'_>,
    idempotency: Option<&str>,
    lead_id: Option<&str>,
) -> Result<Option<BatchView>, StoreError> {
    if let Some(key) = idempotency
        && let Some(lead_id) = store.lead_of_idempotency_key(key).await?
        && let Some(found) = view::batch_view(store, &lead_id).await?
    {
        return Ok(Some(found));
    }
    match lead_id {
        Some(id) => view::batch_view(store, id).await,
        None => Ok(None),
    }
}

/// Everything the API shows about one lead, as JSON.
pub async fn lead_status(deps: &Deps, lead_id: &str) -> Result<Option<Value>, StoreError> {
    view::lead_status(&LeadStore::of(deps), lead_id)
        .await?
        .map(|v| v.to_json())
        .transpose()
}
