//! The sweeper: no lead stays `processing` forever. Jobs that stopped reporting become
//! final failures, and batches that were stored but never queued are queued again.

use super::model::*;
use super::store::LeadStore;
use crate::Deps;
use crate::ports::table::StoreError;
use crate::time::timestamp;

#[derive(Debug, Clone, Copy)]
pub struct SweepConfig {
    /// A job with no news for this long fails.
    pub job_timeout_ms: i64,
    /// A batch not marked dispatched this long after creation is queued again.
    pub redispatch_after_ms: i64,
    /// `SWEEP_BATCHES_PER_RUN` (default 200): open batches one run looks at; a larger
    /// backlog is swept over several runs, so none waits for ever behind it.
    pub batches_per_run: u32,
}

impl SweepConfig {
    /// `JOB_TIMEOUT_MINUTES` (default 30) and `REDISPATCH_AFTER_SECONDS` (default 60).
    pub fn read(r: &mut crate::config::EnvReader<'_>) -> Self {
        let minutes: f64 = r.parse_or("JOB_TIMEOUT_MINUTES", 30.0);
        if minutes.is_nan() || minutes <= 0.0 {
            r.problem("JOB_TIMEOUT_MINUTES must be above 0");
        }
        let redispatch: u64 = r.parse_or("REDISPATCH_AFTER_SECONDS", 60);
        Self {
            job_timeout_ms: (minutes * 60_000.0) as i64,
            redispatch_after_ms: redispatch as i64 * 1000,
            batches_per_run: r.parse_or("SWEEP_BATCHES_PER_RUN", 200u32).max(1),
        }
    }
}

#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
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

/// The moments before which a job or a batch counts as stuck.
struct Cutoffs {
    stale_before: String,
    undispatched_before: String,
}

pub async fn sweep(deps: &Deps, cfg: SweepConfig) -> Result<SweepReport, SweepError> {
    let now = deps.clock.now_ms();
    let cutoffs = Cutoffs {
        stale_before: timestamp(now - cfg.job_timeout_ms),
        undispatched_before: timestamp(now - cfg.redispatch_after_ms),
    };
    let store = LeadStore::of(deps);
    let mut report = SweepReport::default();
    for batch in store.open_batches_page(cfg.batches_per_run).await? {
        report.open_batches += 1;
        let jobs = store.jobs(&batch.lead_id, &batch.batch_id).await?;
        let open: Vec<&JobRecord> = jobs
            .iter()
            .filter(|j| j.status != status::SUCCEEDED && j.status != status::FAILED)
            .collect();
        if batch.dispatched_at.is_none()
            && batch.created_at < cutoffs.undispatched_before
            && !open.is_empty()
        {
            if redispatch(deps, &batch, &open).await {
                report.redispatched += 1;
            }
            continue;
        }
        for job in open {
            let last_news = job.updated_at.as_deref().unwrap_or(&job.created_at);
            if last_news < cutoffs.stale_before.as_str() && time_out(deps, cfg, job).await? {
                report.timed_out += 1;
            }
        }
    }
    Ok(report)
}

/// Queues a stored batch's open jobs again; false (and logged) when that failed too.
async fn redispatch(deps: &Deps, batch: &BatchRecord, open: &[&JobRecord]) -> bool {
    let refs: Vec<JobRef> = open.iter().map(|j| j.job_ref()).collect();
    match super::dispatch::dispatch(deps, &refs).await {
        Ok(()) => true,
        Err(e) => {
            tracing::warn!(lead_id = %batch.lead_id, error = %e, "re-dispatch failed; next sweep tries again");
            false
        }
    }
}

/// Fails a job that stopped reporting and tells its batch; true when this sweep made the
/// failure final. The outcome is recorded either way: the tracker may have missed it.
async fn time_out(deps: &Deps, cfg: SweepConfig, job: &JobRecord) -> Result<bool, SweepError> {
    let r = job.job_ref();
    let minutes = cfg.job_timeout_ms as f64 / 60_000.0;
    let error = format!("timed out: no result within {minutes} minutes");
    let made_final =
        super::jobs::fail(deps.table.as_ref(), deps.clock.as_ref(), &r, &error).await?;
    if made_final {
        tracing::warn!(lead_id = %r.lead_id, integration = %r.integration, "job timed out");
    }
    super::batch::record(deps, &r.outcome(false, Some(error))).await?;
    Ok(made_final)
}
