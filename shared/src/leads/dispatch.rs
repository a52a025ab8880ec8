//! Sending jobs to their integrations' queues.

use crate::notifications::{self, NotificationMessage};
use std::collections::BTreeMap;

use super::model::JobRef;
use super::notify::Notification;
use super::store::LeadStore;
use crate::Deps;
use crate::ports::OutMessage;
use crate::time::timestamp;

#[derive(Debug, thiserror::Error)]
#[error("dispatch failed: {0}")]
pub struct DispatchError(pub String);

/// Queues the jobs, grouped by their integration's queue, then marks the batch dispatched.
pub async fn dispatch(deps: &Deps, refs: &[JobRef]) -> Result<(), DispatchError> {
    let mut by_queue: BTreeMap<&str, Vec<OutMessage>> = BTreeMap::new();
    for r in refs {
        let body = serde_json::to_string(r).map_err(|e| DispatchError(e.to_string()))?;
        by_queue
            .entry(r.integration.queue())
            .or_default()
            .push(OutMessage::new(body).attribute("integration", r.integration.as_str()));
    }
    for (queue, msgs) in by_queue {
        deps.queue
            .send_all(queue, msgs)
            .await
            .map_err(|e| DispatchError(format!("{queue}: {e}")))?;
    }
    if let Some(first) = refs.first() {
        let at = timestamp(deps.clock.now_ms());
        LeadStore::of(deps)
            .mark_dispatched(&first.lead_id, &first.batch_id, &at)
            .await
            .map_err(|e| DispatchError(e.to_string()))?;
    }
    Ok(())
}

/// Queues a new batch's jobs. A batch stored but not queued is not lost (the sweeper queues
/// it again), but the admins hear of it at once.
pub async fn dispatch_or_report(deps: &Deps, lead_id: &str, batch_id: &str, refs: &[JobRef]) {
    let Err(e) = dispatch(deps, refs).await else {
        return;
    };
    tracing::error!(%lead_id, %batch_id, error = %e, "jobs stored but not queued; the sweeper will retry");
    let note = Notification::DispatchFailed {
        lead_id: lead_id.to_string(),
        batch_id: batch_id.to_string(),
        error: e.to_string(),
    };
    if let Err(e) = notifications::QUEUE
        .send(deps.queue.as_ref(), &NotificationMessage::Lead(note))
        .await
    {
        tracing::error!(error = %e, "cannot queue the dispatch failure notification either");
    }
}
