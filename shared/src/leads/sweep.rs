//! The sweeper: no lead stays `processing` forever. Jobs that stopped reporting become
//! final failures, and batches that were stored but never queued are queued again.

use super::model::*;
use crate::Deps;
use crate::ports::table::{Query, StoreError, from_item};
use crate::time::timestamp;

#[derive(Debug, Clone, Copy)]
pub struct SweepConfig {
    /// A job with no news for this long fails.
    pub job_timeout_ms: i64,
    /// A batch not marked dispatched this long after creation is queued again.
    pub redispatch_after_ms: i64,
}

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SweepReport {
    pub open_batches: usize,
    pub timed_out: usize,
    pub redispatched: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Track(#[from] super::batch::TrackError),
}

pub async fn sweep(deps: &Deps, cfg: SweepConfig) -> Result<SweepReport, SweepError> {
    let now = deps.clock.now_ms();
    let stale_before = timestamp(now - cfg.job_timeout_ms);
    let undispatched_before = timestamp(now - cfg.redispatch_after_ms);
    let mut report = SweepReport::default();
    let batches = deps.table.query_all(Query::gsi1(PROCESSING_INDEX)).await?;
    for item in batches {
        let batch: BatchRecord = from_item(item)?;
        report.open_batches += 1;
        let jobs: Vec<JobRecord> = deps
            .table
            .query_all(Query::pk(lead_pk(&batch.lead_id)).prefix(job_prefix(&batch.batch_id)))
            .await?
            .into_iter()
            .map(from_item)
            .collect::<Result<_, _>>()?;
        let open: Vec<&JobRecord> = jobs
            .iter()
            .filter(|j| j.status != status::SUCCEEDED && j.status != status::FAILED)
            .collect();
        if batch.dispatched_at.is_none()
            && batch.created_at < undispatched_before
            && !open.is_empty()
        {
            let refs: Vec<JobRef> = open.iter().map(|j| job_ref(j)).collect();
            match super::submit::dispatch(deps, &refs).await {
                Ok(()) => report.redispatched += 1,
                Err(e) => {
                    tracing::warn!(lead_id = %batch.lead_id, error = %e, "re-dispatch failed; next sweep tries again")
                }
            }
            continue;
        }
        for job in open {
            let last_news = job.updated_at.as_deref().unwrap_or(&job.created_at);
            if last_news >= stale_before.as_str() {
                continue;
            }
            let r = job_ref(job);
            let minutes = cfg.job_timeout_ms as f64 / 60_000.0;
            let error = format!("timed out: no result within {minutes} minutes");
            if super::jobs::fail(deps.table.as_ref(), deps.clock.as_ref(), &r, &error).await? {
                report.timed_out += 1;
                tracing::warn!(lead_id = %r.lead_id, integration = %r.integration, "job timed out");
            }
            super::batch::record(
                deps,
                &Outcome {
                    lead_id: r.lead_id.clone(),
                    batch_id: r.batch_id.clone(),
                    integration: r.integration,
                    succeeded: false,
                    error: Some(error),
                },
            )
            .await?;
        }
    }
    Ok(report)
}

fn job_ref(j: &JobRecord) -> JobRef {
    JobRef {
        lead_id: j.lead_id.clone(),
        batch_id: j.batch_id.clone(),
        integration: j.integration,
    }
}
