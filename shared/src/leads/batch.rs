//! Settling a batch from its jobs' outcomes. Outcomes go into string sets (adding one twice
//! is harmless); the status is written once, under a condition, when every expected
//! integration is in one of the sets.

use super::model::*;
use super::notify::Notification;
use crate::Deps;
use crate::ports::OutMessage;
use crate::ports::table::{Cond, StoreError, TxOp, Update, from_item};
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
    let key = batch_key(&outcome.lead_id, &outcome.batch_id);
    let integration = outcome.integration.to_string();
    let (set, other) = if outcome.succeeded {
        ("succeeded", "failed")
    } else {
        ("failed", "succeeded")
    };
    let update = Update::new()
        .add_to_set(set, [integration.clone()])
        .when(Cond::item_exists())
        .when(Cond::Contains("expected".into(), integration.clone()))
        .when(Cond::Contains(other.into(), integration.clone()).negate());
    let item = match deps.table.update(&key, update).await {
        Ok(item) => item,
        Err(StoreError::ConditionFailed) => {
            tracing::warn!(
                lead_id = %outcome.lead_id, batch_id = %outcome.batch_id, %integration,
                "outcome ignored: unknown batch, unexpected integration, or already recorded the other way"
            );
            // A batch that is complete may still lack its notification.
            if let Some(item) = deps.table.get(&key).await? {
                let batch: BatchRecord = from_item(item)?;
                settle_and_notify(deps, batch).await?;
            }
            return Ok(());
        }
        Err(e) => return Err(e.into()),
    };
    let batch: BatchRecord = from_item(item)?;
    settle_and_notify(deps, batch).await
}

async fn settle_and_notify(deps: &Deps, batch: BatchRecord) -> Result<(), TrackError> {
    let done = batch
        .expected
        .iter()
        .all(|i| batch.succeeded.contains(i) || batch.failed.contains(i));
    if !done {
        return Ok(());
    }
    let key = batch_key(&batch.lead_id, &batch.batch_id);
    let final_state = final_status(batch.succeeded.len(), batch.failed.len());
    if batch.status == status::PROCESSING {
        let at = timestamp(deps.clock.now_ms());
        let settled = deps
            .table
            .transact(vec![
                TxOp::Update {
                    key: key.clone(),
                    update: Update::new()
                        .set("status", final_state)
                        .set("finished_at", at.clone())
                        .remove("gsi1pk")
                        .remove("gsi1sk")
                        .when(Cond::eq("status", status::PROCESSING)),
                },
                TxOp::Update {
                    key: lead_key(&batch.lead_id),
                    update: Update::new()
                        .set("status", final_state)
                        .set("updated_at", at)
                        .when(Cond::eq("batch_id", batch.batch_id.as_str())),
                },
            ])
            .await;
        match settled {
            Ok(()) => {
                tracing::info!(lead_id = %batch.lead_id, batch_id = %batch.batch_id, status = final_state, "batch settled")
            }
            // Someone else settled it; they notify, or a later outcome will.
            Err(StoreError::ConditionFailed) => return Ok(()),
            Err(e) => return Err(e.into()),
        }
    }
    // Settled (now or earlier): make sure the notification went out once.
    let current = match deps.table.get(&key).await? {
        Some(item) => item,
        None => return Ok(()),
    };
    if current.contains_key("notified_at") {
        return Ok(());
    }
    let mut current: BatchRecord = from_item(current)?;
    // DynamoDB returns set members in no particular order; admins read a stable list.
    current.succeeded.sort();
    current.failed.sort();
    let lead_name = match deps.table.get(&lead_key(&batch.lead_id)).await? {
        Some(item) => from_item::<LeadRecord>(item)?.lead.display_name(),
        None => String::new(),
    };
    let errors = failed_errors(deps, &current).await?;
    let note = Notification::BatchFinished {
        lead_id: current.lead_id.clone(),
        batch_id: current.batch_id.clone(),
        status: current.status.clone(),
        lead_name,
        succeeded: current.succeeded.clone(),
        failed: current.failed.clone(),
        errors,
    };
    let body = serde_json::to_string(&note).map_err(|e| TrackError::Notify(e.to_string()))?;
    deps.queue
        .send(crate::queues::NOTIFICATIONS, OutMessage::new(body))
        .await
        .map_err(|e| TrackError::Notify(e.to_string()))?;
    deps.table
        .update(
            &key,
            Update::new().set("notified_at", timestamp(deps.clock.now_ms())),
        )
        .await?;
    Ok(())
}

async fn failed_errors(
    deps: &Deps,
    batch: &BatchRecord,
) -> Result<std::collections::BTreeMap<String, String>, StoreError> {
    let mut errors = std::collections::BTreeMap::new();
    for name in &batch.failed {
        let Some(integration) = Integration::parse(name) else {
            continue;
        };
        if let Some(item) = deps
            .table
            .get(&job_key(&batch.lead_id, &batch.batch_id, integration))
            .await?
        {
            let job: JobRecord = from_item(item)?;
            errors.insert(name.clone(), job.last_error.unwrap_or_default());
        }
    }
    Ok(errors)
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
    let current = deps
        .table
        .get(&job_key(&job.lead_id, &job.batch_id, job.integration))
        .await?
        .map(from_item::<JobRecord>)
        .transpose()?;
    match current {
        Some(j) if j.status == status::SUCCEEDED => Ok(()),
        Some(_) => {
            if made_final {
                tracing::warn!(lead_id = %job.lead_id, integration = %job.integration, "job dead-lettered");
            }
            record(
                deps,
                &Outcome {
                    lead_id: job.lead_id.clone(),
                    batch_id: job.batch_id.clone(),
                    integration: job.integration,
                    succeeded: false,
                    error: Some("dead-lettered".into()),
                },
            )
            .await
        }
        None => Ok(()),
    }
}
