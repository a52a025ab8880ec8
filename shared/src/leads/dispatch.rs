//! Queueing a batch's jobs on their integrations' FIFO queues.

use std::collections::BTreeMap;

use super::model::{Job, LeadRecord};
use super::request::Submission;
use crate::Deps;
use crate::ports::OutMessage;

#[derive(Debug, thiserror::Error)]
#[error("jobs not queued: {0}")]
pub struct DispatchError(pub String);

/// The jobs of a submission for a stored lead: the lead as stored, each target of the
/// request whose integration the lead expects, with the tries the lead recorded.
pub fn jobs_for(lead: &LeadRecord, sub: &Submission) -> Vec<Job> {
    let expected = lead.expected();
    sub.jobs
        .iter()
        .filter_map(|(target, _)| {
            let tries = *lead.tries.get(target.integration().as_str())?;
            Some(Job {
                lead_id: lead.lead_id.clone(),
                batch_id: lead.batch_id.clone(),
                tries,
                created_at: lead.created_at.clone(),
                expected: expected.clone(),
                lead: lead.lead.clone(),
                target: target.clone(),
                again: false,
                first_batch: None,
            })
        })
        .collect()
}

/// Sends the jobs, one request per integration queue.
pub async fn queue(deps: &Deps, jobs: &[Job]) -> Result<(), DispatchError> {
    queue_as(deps, jobs, "").await
}

/// Sends jobs that must not be taken for copies of their first sending (the queue drops a
/// message whose de-duplication id it saw in the last five minutes): `tag` sets them apart.
pub async fn queue_again(deps: &Deps, jobs: &[Job], tag: &str) -> Result<(), DispatchError> {
    queue_as(deps, jobs, tag).await
}

async fn queue_as(deps: &Deps, jobs: &[Job], tag: &str) -> Result<(), DispatchError> {
    let mut by_queue: BTreeMap<&str, Vec<OutMessage>> = BTreeMap::new();
    for job in jobs {
        let body = serde_json::to_string(job).map_err(|e| DispatchError(e.to_string()))?;
        let (group, mut dedup) = job.group_and_dedup();
        if !tag.is_empty() {
            dedup = format!("{dedup}:{tag}");
        }
        by_queue.entry(job.integration().queue()).or_default().push(
            OutMessage::new(body)
                .attribute("integration", job.integration().as_str())
                .in_group(&group, &dedup),
        );
    }
    for (queue, msgs) in by_queue {
        deps.queue
            .send_all(queue, msgs)
            .await
            .map_err(|e| DispatchError(format!("{queue}: {e}")))?;
    }
    Ok(())
}
