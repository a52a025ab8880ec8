//! Running one job from an integration queue: look, deliver, report.
//!
//! Retries are the worker's own: a retryable failure keeps the message and pushes its
//! visibility out by the next step of the `RETRY_SCHEDULE` (or the service's own longer
//! `retry_after`); the job's `tries` bound the attempts. Only a final failure is reported as
//! failed.

use std::time::Duration;

use crate::Deps;
use crate::config::EnvReader;
use crate::leads::Mark;
use crate::leads::batch;
use crate::leads::breaker::{BreakerConfig, Breakers, Gate};
use crate::leads::model::{Attempt, status};
use crate::leads::store::{JobResult, Reported};
use crate::leads::{Integration, Job};
use crate::metrics::Outcome;
use crate::sqs_batch::QueueMessage;
use tracing::Instrument;

use super::pace::Pacer;
use crate::credentials::Credentials;
use crate::outbound::{AllowHosts, ClientError, DeliveryError, OpenClient};

/// What a worker needs beyond the stored job: base URLs, default credentials, timing.
#[derive(Debug, Clone)]
pub struct WorkerConfig {
    /// The deployment's own credentials, for jobs whose request left them out.
    pub defaults: Credentials,
    pub amocrm_base_url: Option<String>,
    /// `AMOCRM_UNSORTED`: amoCRM leads go to «Неразобранное» unless a request says otherwise.
    pub amocrm_unsorted: bool,
    pub telegram_api_base: String,
    /// `RETRY_SCHEDULE`: how long a job waits after each failed attempt.
    pub schedule: crate::leads::retry::RetrySchedule,
    /// `BREAKER_*`: when a target counts as down, and how its probes are spaced.
    pub breaker: BreakerConfig,
    pub http_timeout: Duration,
    pub queue_prefix: String,
    /// Calls per second one worker instance makes to each service (0: no limit). With the
    /// event source's maximum concurrency this keeps amoCRM under 7/s and Bitrix24 under 2/s.
    pub rates: Vec<(Integration, f64)>,
    /// `OUTBOUND_ALLOW_HOSTS`: the only hosts a lead's own URLs may reach inside a network.
    pub allow: AllowHosts,
    /// `REPLAY_KEEP` (default 72 h): how long a failed job's message is kept for replay.
    pub replay_keep_hours: u32,
}

impl WorkerConfig {
    pub fn read(env: &mut EnvReader<'_>, queue_prefix: String) -> Self {
        let schedule = crate::leads::retry::RetrySchedule::read(env);
        let http_timeout = Duration::from_secs(env.parse_or("HTTP_TIMEOUT_SECONDS", 10));
        let breaker = BreakerConfig::read(env, &schedule, http_timeout.as_secs());
        let cfg = Self {
            defaults: Credentials::read(env),
            amocrm_base_url: env.optional("AMOCRM_BASE_URL"),
            amocrm_unsorted: env.parse_or("AMOCRM_UNSORTED", false),
            telegram_api_base: crate::telegram::config::api_base(env),
            schedule,
            breaker,
            http_timeout,
            queue_prefix,
            allow: AllowHosts::read(env),
            replay_keep_hours: read_keep(env),
            rates: vec![
                (
                    Integration::Amocrm,
                    env.parse_or("AMOCRM_RATE_PER_SECOND", 3.0),
                ),
                (
                    Integration::Bitrix24,
                    env.parse_or("BITRIX24_RATE_PER_SECOND", 1.0),
                ),
                (
                    Integration::Telegram,
                    env.parse_or("TELEGRAM_RATE_PER_SECOND", 1.0),
                ),
                (
                    Integration::Webhook,
                    env.parse_or("WEBHOOK_RATE_PER_SECOND", 0.0),
                ),
                (
                    Integration::Email,
                    env.parse_or("EMAIL_RATE_PER_SECOND", 10.0),
                ),
            ],
        };
        if cfg.rates.iter().any(|(_, r)| r.is_nan() || *r < 0.0) {
            env.problem("*_RATE_PER_SECOND values must be 0 (no limit) or more");
        }
        if let Some(from) = &cfg.defaults.mail_from
            && !crate::ports::mailer::looks_like_address(from)
        {
            env.problem(format!("MAIL_FROM={from:?} is not an e-mail address"));
        }
        cfg
    }
}

#[derive(Debug, thiserror::Error)]
pub enum JobError {
    #[error(transparent)]
    Store(#[from] crate::ports::StoreError),
    #[error(transparent)]
    Track(#[from] crate::leads::batch::TrackError),
    #[error(transparent)]
    Queue(#[from] crate::ports::QueueError),
    #[error("will retry: {0}")]
    RetryLater(String),
    /// Failed for good; its message stays, invisible, for a replay.
    #[error("failed; kept for replay")]
    Kept,
}

/// A job message's FIFO group: its batch (see [`Job::group_and_dedup`]).
pub fn job_group(m: &QueueMessage) -> String {
    #[derive(serde::Deserialize)]
    struct Group {
        batch_id: String,
    }
    serde_json::from_str::<Group>(&m.body)
        .map(|g| g.batch_id)
        .unwrap_or_else(|_| m.message_id.clone())
}

pub struct JobRunner {
    pub deps: Deps,
    pub cfg: WorkerConfig,
    /// For the Bot API, whose address the operator configured.
    pub http: reqwest::Client,
    /// For the URLs a lead's request chose (webhook, Bitrix24, amoCRM).
    pub open: OpenClient,
    pacers: Vec<(Integration, Pacer)>,
    pub(super) breakers: Breakers,
}

impl JobRunner {
    pub fn new(deps: Deps, cfg: WorkerConfig) -> Result<Self, ClientError> {
        let http = crate::outbound::client(cfg.http_timeout)?;
        let open = OpenClient::new(cfg.http_timeout, cfg.allow.clone())?;
        let pacers = cfg
            .rates
            .iter()
            .filter_map(|(i, r)| Pacer::new(*r).map(|p| (*i, p)))
            .collect();
        Ok(Self {
            breakers: Breakers::new(cfg.breaker.clone()),
            deps,
            cfg,
            http,
            open,
            pacers,
        })
    }

    /// Handles one message. `Ok` means the message can go; `Err` keeps it for later.
    ///
    /// There is no claim before the call: the queue is FIFO, so a job is never handed to two
    /// workers at once, and a message comes back only after its worker stopped (the
    /// function's timeout is shorter than the queue's visibility timeout). What a worker
    /// must know before calling is whether the job reported already — a redelivery after
    /// a lost delete, a repeated request, a redrive from the dead-letter queue — which
    /// one read of the batch item tells.
    pub async fn run(&self, msg: &QueueMessage) -> Result<(), JobError> {
        let job: Job = match serde_json::from_str(&msg.body) {
            Ok(j) => j,
            Err(e) => {
                // It can never succeed; keeping it would only loop it into the DLQ.
                tracing::error!(message_id = %msg.message_id, error = %e, "dropping a message that is not a job");
                return Ok(());
            }
        };
        let r = job.job_ref();
        let span = tracing::info_span!("job", lead_id = %r.lead_id, batch_id = %r.batch_id, integration = %r.integration);
        self.run_job(msg, &job).instrument(span).await
    }

    async fn run_job(&self, msg: &QueueMessage, job: &Job) -> Result<(), JobError> {
        let current = self.current(msg, job).await?;
        let (job, batch) = (&current.job, &current.batch);
        let r = job.job_ref();
        if batch.reported(r.integration) {
            let state = batch.job(r.integration);
            if let (Some((_, until)), true) = (state.kept, state.status == status::FAILED) {
                return self.keep_again(msg, job, until).await;
            }
            // The outside call already happened (or finally failed). The tracker may have
            // missed the settling, and settling twice is harmless.
            if batch.complete() {
                batch::ask_to_settle(&self.deps, &r, job.lead.display_name(), batch).await?;
            }
            return Ok(());
        }
        let state = batch.job(r.integration);
        let mark = match current.replayed {
            true => Mark::fresh(msg.receive_count),
            false => Mark::of(&state, msg.receive_count),
        };
        let used = mark.used(&state);
        if used >= job.tries {
            let error = format!("gave up after {used} attempts");
            tracing::warn!(lead_id = %r.lead_id, integration = %r.integration, attempts = state.attempts, lost = mark.lost, "tries used up by workers that stopped before writing their answer; giving up");
            let gave_up = JobResult::Failed {
                error,
                called: false,
            };
            if let Reported::Recorded(_) = batch::report(&self.deps, job, &gave_up).await? {
                return self.keep_failed(msg, job).await;
            }
            return Ok(());
        }
        let target = self.target_of(job);
        let waited = state.attempts > 0 || state.waiting_on.is_some();
        let now_ms = self.deps.clock.now_ms();
        let table = self.deps.table.as_ref();
        match self.breakers.gate(table, &target, waited, now_ms).await? {
            Gate::Hold { until_ms } => self.hold(msg, job, &state, mark, &target, until_ms).await,
            gate => {
                let call = Call {
                    number: used + 1,
                    mark,
                    target: &target,
                    probe: gate == Gate::Probe,
                };
                self.attempt(msg, job, call).await
            }
        }
    }

    /// Makes an attempt of the job and writes its answer and the attempt: a retryable
    /// failure with tries left keeps the message until the schedule's next step (or the
    /// breaker's next probe, when that is later), anything else lets it go.
    async fn attempt(&self, msg: &QueueMessage, job: &Job, call: Call<'_>) -> Result<(), JobError> {
        let r = job.job_ref();
        if let Some(pacer) = self.pacer(r.integration) {
            pacer.wait().await;
        }
        let started = std::time::Instant::now();
        let delivered = self.deliver(job).await;
        let took = started.elapsed();
        let now_ms = self.deps.clock.now_ms();
        let probe_at = self.after_call(job, &call, &delivered, now_ms).await;
        let last = call.number >= job.tries;
        let record = attempt_record(call.number, now_ms, took, &delivered, last);
        let (result, wait) = self.judge(job, call.number, delivered, took, now_ms, probe_at);
        // The usual case — every receive so far made one written attempt — is what the
        // store assumes when no mark is kept, so it costs the batch item no bytes.
        let mark = Some(call.mark).filter(|m| m.lost > 0 || m.receives != call.number);
        let reported = batch::report_attempt(&self.deps, job, &result, Some(&record), mark).await?;
        match (reported, wait, result) {
            (Reported::Already, ..) => {
                // Another copy of the job reported first: that result stands.
                tracing::warn!(lead_id = %r.lead_id, integration = %r.integration, "job reported meanwhile; keeping the earlier result");
                Ok(())
            }
            (Reported::Recorded(_), Some(delay), JobResult::Retrying { error, .. }) => {
                self.postpone(msg, delay).await?;
                Err(JobError::RetryLater(error))
            }
            (Reported::Recorded(_), _, JobResult::Failed { .. }) => {
                self.keep_failed(msg, job).await
            }
            (Reported::Recorded(_), ..) => Ok(()),
        }
    }

    /// What an attempt's outcome means for the job, and how long it waits when it will be
    /// tried again.
    fn judge(
        &self,
        job: &Job,
        attempt: u32,
        delivered: Result<String, DeliveryError>,
        took: Duration,
        now_ms: i64,
        probe_at: Option<i64>,
    ) -> (JobResult, Option<u32>) {
        let r = job.job_ref();
        let integration = r.integration.as_str();
        match delivered {
            Ok(external_id) => {
                self.deps
                    .metrics
                    .delivery(integration, Outcome::Delivered, took);
                tracing::info!(lead_id = %r.lead_id, integration = %r.integration, attempt, "delivered");
                let external_id = Some(external_id);
                (JobResult::Succeeded { external_id }, None)
            }
            Err(DeliveryError::Retryable {
                message,
                retry_after,
            }) if attempt < job.tries => {
                let own = self.cfg.schedule.delay_secs(attempt, retry_after);
                // An open breaker: nothing goes to the target before its next probe.
                let delay = probe_at.map_or(own, |at| own.max(secs_until(now_ms, at)));
                self.deps
                    .metrics
                    .delivery(integration, Outcome::Retried, took);
                tracing::warn!(lead_id = %r.lead_id, integration = %r.integration, attempt, delay, error = %message, "delivery failed; will retry");
                let next_attempt_ms = now_ms.saturating_add(i64::from(delay) * 1000);
                let retrying = JobResult::Retrying {
                    error: message,
                    next_attempt_ms,
                };
                (retrying, Some(delay))
            }
            Err(e) => {
                let error = e.to_string();
                tracing::warn!(lead_id = %r.lead_id, integration = %r.integration, attempt, %error, "delivery failed for good");
                self.deps
                    .metrics
                    .delivery(integration, Outcome::Failed, took);
                let failed = JobResult::Failed {
                    error,
                    called: true,
                };
                (failed, None)
            }
        }
    }

    pub(super) fn pacer(&self, integration: Integration) -> Option<&Pacer> {
        self.pacers
            .iter()
            .find(|(i, _)| *i == integration)
            .map(|(_, p)| p)
    }

    pub(super) async fn postpone(&self, msg: &QueueMessage, secs: u32) -> Result<(), JobError> {
        let queue = msg.logical_queue(&self.cfg.queue_prefix).to_string();
        self.deps
            .queue
            .change_visibility(&queue, &msg.receipt_handle, secs)
            .await?;
        Ok(())
    }
}

fn read_keep(env: &mut EnvReader<'_>) -> u32 {
    let raw = env.or("REPLAY_KEEP", "72h");
    super::kept::parse_keep(&raw).unwrap_or_else(|why| {
        env.problem(format!("REPLAY_KEEP: {why}"));
        0
    })
}

/// One call of a job: its number among the job's tries, its message's mark, its target and
/// whether it is the breaker's probe.
pub(super) struct Call<'a> {
    pub number: u32,
    pub mark: Mark,
    pub target: &'a str,
    pub probe: bool,
}

/// Whole seconds from `now_ms` until `at_ms`, rounded up, at least one, at most what SQS can
/// hold a message.
pub(super) fn secs_until(now_ms: i64, at_ms: i64) -> u32 {
    let ms = at_ms.saturating_sub(now_ms).max(1);
    let secs = (ms + 999) / 1000;
    u32::try_from(secs)
        .unwrap_or(u32::MAX)
        .min(crate::leads::retry::MAX_STEP_SECS)
}

/// The attempt as the lead's history keeps it.
fn attempt_record(
    number: u32,
    now_ms: i64,
    took: Duration,
    delivered: &Result<String, DeliveryError>,
    last: bool,
) -> Attempt {
    let (outcome, error) = match delivered {
        Ok(_) => (status::SUCCEEDED, None),
        Err(e @ DeliveryError::Retryable { .. }) if !last => (status::RETRYING, Some(e)),
        Err(e) => (status::FAILED, Some(e)),
    };
    Attempt {
        number,
        at: crate::time::timestamp(now_ms),
        outcome: outcome.to_string(),
        http_status: error.and_then(|e| e.http_status()),
        latency_ms: u64::try_from(took.as_millis()).unwrap_or(u64::MAX),
        error: error.map(|e| crate::outbound::clip(&e.to_string(), Attempt::ERROR_CHARS)),
    }
}
