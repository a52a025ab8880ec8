//! Settling a batch from its jobs' outcomes. Outcomes go into string sets (adding one twice
//! is harmless); the status is written once, under a condition, when every expected
//! integration is in one of the sets.

use std::collections::BTreeMap;

use super::model::*;
use super::notify::Notification;
use super::store::{Added, LeadStore};
use crate::Deps;
use crate::notifications::{self, NotificationMessage};
use crate::ports::table::StoreError;
use crate::time::timestamp;

#[derive(Debug, thiserror::Error)]
pub enum TrackError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("cannot queue the notification: {0}")]
    Notify(String),
}

/// The status a finished batch gets.
pub fn final_status(succeeded: usize, failed: usize) -> &'static str {
    match (succeeded, failed) {
        (_, 0) => status::COMPLETED,
        (0, _) => status::FAILED,
        _ => status::PARTIAL,
    }
}

/// Records one outcome; settles the batch and queues its notification when it is the last.
pub async fn record(deps: &Deps, outcome: &Outcome) -> Result<(), TrackError> {
    let store = LeadStore::of(deps);
    let batch = match store.add_outcome(outcome).await? {
        Added::Recorded(batch) => batch,
        Added::Ignored(current) => {
            tracing::warn!(
                lead_id = %outcome.lead_id, batch_id = %outcome.batch_id, integration = %outcome.integration,
                "outcome ignored: unknown batch, unexpected integration, or already recorded the other way"
            );
            // A batch that is complete may still lack its notification.
            match current {
                Some(batch) => batch,
                None => return Ok(()),
            }
        }
    };
    settle_and_notify(deps, &store, batch).await
}

fn all_reported(batch: &BatchRecord) -> bool {
    batch
        .expected
        .iter()
        .all(|i| batch.succeeded.contains(i) || batch.failed.contains(i))
}

async fn settle_and_notify(
    deps: &Deps,
    store: &LeadStore<'_>,
    batch: BatchRecord,
) -> Result<(), TrackError> {
    if !all_reported(&batch) {
        return Ok(());
    }
    // Someone else settled it; they notify, or a later outcome will.
    if batch.status == status::PROCESSING && !settle(deps, store, &batch).await? {
        return Ok(());
    }
    // Settled (now or earlier): make sure the notification went out once.
    notify_once(deps, store, &batch.lead_id, &batch.batch_id).await
}

/// Writes the final status; false when another caller did first.
async fn settle(
    deps: &Deps,
    store: &LeadStore<'_>,
    batch: &BatchRecord,
) -> Result<bool, StoreError> {
    let final_state = final_status(batch.succeeded.len(), batch.failed.len());
    let at = timestamp(deps.clock.now_ms());
    let settled = store
        .finish_batch(&batch.lead_id, &batch.batch_id, final_state, &at)
        .await?;
    if settled {
        tracing::info!(lead_id = %batch.lead_id, batch_id = %batch.batch_id, status = final_state, "batch settled");
    }
    Ok(settled)
}

async fn notify_once(
    deps: &Deps,
    store: &LeadStore<'_>,
    lead_id: &str,
    batch_id: &str,
) -> Result<(), TrackError> {
    let Some(current) = store.unnotified_batch(lead_id, batch_id).await? else {
        return Ok(());
    };
    let note = finished(store, current).await?;
    notifications::QUEUE
        .send(deps.queue.as_ref(), &NotificationMessage::Lead(note))
        .await
        .map_err(|e| TrackError::Notify(e.to_string()))?;
    let at = timestamp(deps.clock.now_ms());
    store.mark_notified(lead_id, batch_id, &at).await?;
    Ok(())
}

/// The notification of a settled batch: who the lead is, and why each failure failed.
async fn finished(
    store: &LeadStore<'_>,
    mut batch: BatchRecord,
) -> Result<Notification, StoreError> {
    // DynamoDB returns set members in no particular order; admins read a stable list.
    batch.succeeded.sort();
    batch.failed.sort();
    let lead_name = match store.lead(&batch.lead_id).await? {
        Some(lead) => lead.lead.display_name(),
        None => String::new(),
    };
    let errors = failed_errors(store, &batch).await?;
    Ok(Notification::BatchFinished {
        lead_id: batch.lead_id,
        batch_id: batch.batch_id,
        status: batch.status,
        lead_name,
        succeeded: batch.succeeded,
        failed: batch.failed,
        errors,
    })
}

async fn failed_errors(
    store: &LeadStore<'_>,
    batch: &BatchRecord,
) -> Result<BTreeMap<String, String>, StoreError> {
    let mut errors = BTreeMap::new();
    for name in &batch.failed {
        let Some(integration) = Integration::parse(name) else {
            continue;
        };
        let job = JobRef {
            lead_id: batch.lead_id.clone(),
            batch_id: batch.batch_id.clone(),
            integration,
        };
        if let Some(job) = store.job(&job).await? {
            errors.insert(name.clone(), job.last_error.unwrap_or_default());
        }
    }
    Ok(errors)
}

/// One message for the tracker: an outcome on `batch-results`, or a job found on an
/// integration's dead-letter queue (`queue` is the logical name). A message that is
/// neither can never be handled and is dropped (logged).
pub async fn on_message(deps: &Deps, queue: &str, body: &str) -> Result<(), TrackError> {
    if queue.ends_with("-dlq") {
        match serde_json::from_str::<JobRef>(body) {
            Ok(job) => dead_lettered(deps, &job).await,
            Err(e) => {
                tracing::error!(%queue, error = %e, "dead-lettered message is not a job; dropped");
                Ok(())
            }
        }
    } else {
        match serde_json::from_str::<Outcome>(body) {
            Ok(outcome) => record(deps, &outcome).await,
            Err(e) => {
                tracing::error!(%queue, error = %e, "message is not a job outcome; dropped");
                Ok(())
            }
        }
    }
}

/// A job message that reached a dead-letter queue: its worker kept failing without ever
/// reporting. It is a final failure.
pub async fn dead_lettered(deps: &Deps, job: &JobRef) -> Result<(), TrackError> {
    let made_final = super::jobs::fail(
        deps.table.as_ref(),
        deps.clock.as_ref(),
        job,
        "delivery kept failing and the message reached the dead-letter queue",
    )
    .await?;
    let current = LeadStore::of(deps).job(job).await?;
    match current {
        Some(j) if j.status == status::SUCCEEDED => Ok(()),
        Some(_) => {
            if made_final {
                tracing::warn!(lead_id = %job.lead_id, integration = %job.integration, "job dead-lettered");
            }
            record(deps, &job.outcome(false, Some("dead-lettered".into()))).await
        }
        None => Ok(()),
    }
}
