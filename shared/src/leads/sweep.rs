//! The sweeper: no lead stays `processing` forever. Jobs that stopped reporting (a worker
//! that kept dying, a message that reached its dead-letter queue, a job never queued) become
//! final failures, and a batch whose every job reported but which never settled is settled.

use super::model::*;
use super::store::{JobResult, LeadStore, Reported};
use crate::Deps;
use crate::ports::table::StoreError;
use crate::time::timestamp;

/// How long a complete batch is left to the tracker before the sweeper settles it.
const SETTLE_GRACE_MS: i64 = 60_000;

#[derive(Debug, Clone, Copy)]
pub struct SweepConfig {
    /// A job with no news for this long fails.
    pub job_timeout_ms: i64,
    /// `SWEEP_BATCHES_PER_RUN` (default 200): open batches one run looks at; a larger
    /// backlog is swept over several runs, so none waits for ever behind it.
    pub batches_per_run: u32,
}

impl SweepConfig {
    /// `JOB_TIMEOUT_MINUTES` (default 30).
    pub fn read(r: &mut crate::config::EnvReader<'_>) -> Self {
        let minutes: f64 = r.parse_or("JOB_TIMEOUT_MINUTES", 30.0);
        if minutes.is_nan() || minutes <= 0.0 {
            r.problem("JOB_TIMEOUT_MINUTES must be above 0");
        }
        Self {
            job_timeout_ms: (minutes * 60_000.0) as i64,
            batches_per_run: r.parse_or("SWEEP_BATCHES_PER_RUN", 200u32).max(1),
        }
    }
}

#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SweepReport {
    pub open_batches: usize,
    pub timed_out: usize,
    pub settled: usize,
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
    let settle_before = timestamp(now - SETTLE_GRACE_MS);
    let store = LeadStore::of(deps);
    let mut report = SweepReport::default();
    for lead in store.open_leads_page(cfg.batches_per_run).await? {
        report.open_batches += 1;
        let mut batch = store.batch(&lead.lead_id, &lead.batch_id, true).await?;
        let minutes = cfg.job_timeout_ms as f64 / 60_000.0;
        let mut completed_here = false;
        for name in lead.expected() {
            let Some(integration) = Integration::parse(&name) else {
                continue;
            };
            let job = batch.job(integration);
            let last_news = job.at.as_deref().unwrap_or(&lead.created_at);
            if batch.reported(integration) || last_news >= stale_before.as_str() {
                continue;
            }
            let error = format!("timed out: no result within {minutes} minutes");
            let r = JobRef {
                lead_id: lead.lead_id.clone(),
                batch_id: lead.batch_id.clone(),
                integration,
            };
            let result = JobResult::Failed {
                error,
                called: false,
            };
            if let Reported::Recorded(now) = store
                .report(&r, &lead.expected(), &result, deps.clock.now_ms())
                .await?
            {
                tracing::warn!(lead_id = %r.lead_id, %integration, "job timed out");
                report.timed_out += 1;
                completed_here |= now.complete();
                batch = now;
            }
        }
        // A batch this sweep completed is settled here. One that a worker completed a
        // moment ago is the tracker's; one completed a minute ago and still open lost its
        // settling on the way.
        let last_report = batch.jobs.values().filter_map(|j| j.at.as_deref()).max();
        let lost = last_report < Some(settle_before.as_str());
        if batch.complete() && (completed_here || lost) {
            let s = Settle::of(
                &lead.lead_id,
                &lead.batch_id,
                lead.lead.display_name(),
                &batch,
            );
            if super::batch::settle(deps, &s).await? {
                report.settled += 1;
            }
        }
    }
    Ok(report)
}
