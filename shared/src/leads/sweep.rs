//! The sweeper: no lead stays `processing` forever. A job whose workers kept stopping
//! without writing an answer (crashed, timed out, the store down) ends in its queue's
//! dead-letter queue after `INTEGRATION_MAX_RECEIVES` deliveries: the sweeper records it
//! there as failed, which settles its batch when it was the last. A batch whose settling
//! dead-lettered is settled here too. Nothing else can leave a lead open: its jobs are
//! queued before it is stored, and each message ends deleted or dead-lettered.

use tracing::Instrument;

use super::batch::{self, Settled, TrackError};
use super::model::*;
use super::store::{JobResult, LeadStore, Reported};
use crate::Deps;
use crate::ports::table::StoreError;
use crate::queues::{BATCH_RESULTS, INTEGRATIONS, dead_letter_name};

#[derive(Debug, Clone, Copy)]
pub struct SweepConfig {
    /// `SWEEP_DEAD_LETTERS_PER_RUN` (default 100): messages one run takes from each
    /// dead-letter queue; a larger backlog is taken over several runs.
    pub per_queue_per_run: u32,
}

impl SweepConfig {
    pub fn read(r: &mut crate::config::EnvReader<'_>) -> Self {
        Self {
            per_queue_per_run: r.parse_or("SWEEP_DEAD_LETTERS_PER_RUN", 100u32).max(1),
        }
    }
}

#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SweepReport {
    /// Jobs found in a dead-letter queue and recorded as failed.
    pub dead_jobs: usize,
    /// Batches whose settling was found in `batch-results`' dead-letter queue.
    pub settled: usize,
    /// Dead letters the store refused for good (a request it will never accept, such as an
    /// item of the wrong shape): left in their dead-letter queue, tried again in later runs.
    pub kept: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Track(#[from] TrackError),
    #[error(transparent)]
    Queue(#[from] crate::ports::QueueError),
}

const DEAD_LETTERED: &str =
    "delivery kept failing: the job's message reached the dead-letter queue";

pub async fn sweep(deps: &Deps, cfg: SweepConfig) -> Result<SweepReport, SweepError> {
    let mut report = SweepReport::default();
    for queue in INTEGRATIONS {
        let dlq = dead_letter_name(queue);
        for (receipt, body) in take(deps, &dlq, cfg.per_queue_per_run).await? {
            let Some(job) = decoded::<Job>(&dlq, serde_json::from_str(&body)) else {
                deps.queue.delete(&dlq, &receipt).await?;
                continue;
            };
            let span = tracing::info_span!("dead letter", queue = %dlq, lead_id = %job.lead_id, integration = %job.integration());
            let handled = dead_job(deps, &job).instrument(span.clone()).await;
            match span.in_scope(|| kept(handled))? {
                Some(failed) => report.dead_jobs += usize::from(failed),
                None => {
                    report.kept += 1;
                    continue;
                }
            }
            deps.queue.delete(&dlq, &receipt).await?;
        }
    }
    let dlq = dead_letter_name(BATCH_RESULTS);
    for (receipt, body) in take(deps, &dlq, cfg.per_queue_per_run).await? {
        let Some(s) = decoded(&dlq, batch::RESULTS.decode(&body)) else {
            deps.queue.delete(&dlq, &receipt).await?;
            continue;
        };
        let span = tracing::info_span!("dead letter", queue = %dlq, lead_id = %s.lead_id, batch_id = %s.batch_id);
        let handled = batch::settle(deps, &s).instrument(span.clone()).await;
        match span.in_scope(|| kept(handled.map_err(SweepError::from)))? {
            Some(Settled::Written) => report.settled += 1,
            Some(Settled::Already) => {}
            // Its jobs were queued but the request never stored it (the caller was
            // told it failed, and did not send it again): nothing to settle.
            Some(Settled::NoLead) => {
                tracing::warn!(lead_id = %s.lead_id, "a batch to settle has no lead; dropped")
            }
            None => {
                report.kept += 1;
                continue;
            }
        }
        deps.queue.delete(&dlq, &receipt).await?;
    }
    Ok(report)
}

/// A dead letter's content, or `None` (logged) when it is not what the queue carries: such a
/// message can never be handled, and is dropped.
fn decoded<T>(dlq: &str, parsed: Result<T, impl std::fmt::Display>) -> Option<T> {
    match parsed {
        Ok(v) => Some(v),
        Err(e) => {
            tracing::error!(queue = %dlq, error = %e, "dead letter is not what its queue carries; dropped");
            None
        }
    }
}

/// What handling one dead letter came to: `Some` when it is done with (delete it), `None`
/// when the store refused it for good (keep it), an error to stop the run on. Called inside
/// the message's span: its queue and lead are logged, never its body (a job carries
/// credentials).
///
/// An operator expects one bad message neither to hold up the rest nor to be lost: a
/// request the store will never accept (`StoreError::Invalid`, e.g. an item changed by hand
/// into the wrong shape) fails this message only. It is logged, left in its dead-letter
/// queue, whose alarm keeps telling, and tried again once its visibility timeout passes, so
/// a repaired item is settled without anyone redriving it. An error that may pass (the
/// store throttled or unreachable, a queue unavailable) stops the run as before: every next
/// message would meet it too, the message stays for the next run, and the failed run is
/// what the sweeper's error alarm and `doctor` report.
fn kept<T>(handled: Result<T, SweepError>) -> Result<Option<T>, SweepError> {
    match handled {
        Ok(v) => Ok(Some(v)),
        Err(e) => match refused_for_good(&e) {
            Some(store) => {
                let error =
                    crate::outbound::clip(&store.to_string(), crate::outbound::MAX_ERROR_CHARS);
                tracing::error!(%error, "the store refuses this dead letter; kept in its queue, the rest go on");
                Ok(None)
            }
            None => Err(e),
        },
    }
}

/// The store's error when it says trying again cannot help.
fn refused_for_good(e: &SweepError) -> Option<&StoreError> {
    let store = match e {
        SweepError::Store(s) | SweepError::Track(TrackError::Store(s)) => s,
        _ => return None,
    };
    (!store.is_retryable()).then_some(store)
}

/// Up to `max` messages of a dead-letter queue: (receipt, body).
async fn take(deps: &Deps, queue: &str, max: u32) -> Result<Vec<(String, String)>, SweepError> {
    let mut out = Vec::new();
    while (out.len() as u32) < max {
        let n = (max - out.len() as u32).min(10);
        let got = deps
            .queue
            .receive(queue, n, std::time::Duration::ZERO)
            .await?;
        let full = got.len() as u32 == n;
        out.extend(got.into_iter().map(|m| (m.receipt_handle, m.body)));
        if !full {
            break;
        }
    }
    Ok(out)
}

/// Records a dead-lettered job as failed (unless it reported meanwhile); true when this
/// made it final. Its batch is settled when that was the last job, as for any report.
async fn dead_job(deps: &Deps, job: &Job) -> Result<bool, SweepError> {
    let result = JobResult::Failed {
        error: DEAD_LETTERED.into(),
        called: false,
    };
    match batch::report(deps, job, &result).await? {
        Reported::Recorded(_) => {
            tracing::warn!(lead_id = %job.lead_id, integration = %job.integration(), "job dead-lettered; failed");
            Ok(true)
        }
        Reported::Already => {
            // It reported before its message went; make sure its batch gets settled.
            let r = job.job_ref();
            let now = LeadStore::of(deps)
                .batch(&r.lead_id, &r.batch_id, true)
                .await?;
            if now.complete() {
                batch::ask_to_settle(deps, &r, job.lead.display_name(), &now).await?;
            }
            Ok(false)
        }
    }
}
