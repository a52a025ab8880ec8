//! The worker's side of the breakers ([`crate::leads::breaker`]): which target a job calls,
//! holding a job while its target is down, telling the breaker what a call found, and the
//! admins' notices when a breaker opens or closes.

use super::worker::{Call, JobError, JobRunner, secs_until};
use crate::leads::Mark;
use crate::leads::batch;
use crate::leads::breaker::Change;
use crate::leads::breaker_store::BreakerState;
use crate::leads::model::JobState;
use crate::leads::notify::Notification;
use crate::leads::store::{JobResult, LeadStore, Reported};
use crate::leads::{Job, Target};
use crate::notifications::{self, NotificationMessage};
use crate::outbound::DeliveryError;
use crate::sqs_batch::QueueMessage;
use crate::time::timestamp;

impl JobRunner {
    /// The target a job calls, named without any credential: the amoCRM account, the
    /// Bitrix24 portal's host, the webhook's host and port, the Telegram chat, the sender.
    pub(super) fn target_of(&self, job: &Job) -> String {
        let d = &self.cfg.defaults;
        match &job.target {
            Target::Email { .. } => {
                format!("email:{}", d.mail_from.as_deref().unwrap_or("unset"))
            }
            Target::Amocrm { subdomain, .. } => {
                let sub = subdomain.as_ref().or(d.amocrm_subdomain.as_ref());
                format!("amocrm:{}", sub.map_or("unset", String::as_str))
            }
            Target::Telegram { chat_id, .. } => format!("telegram:{chat_id}"),
            Target::Bitrix24 { webhook_url, .. } => {
                let url = webhook_url.as_ref().or(d.bitrix24_webhook_url.as_ref());
                format!("bitrix24:{}", host(url.map(|u| u.expose())))
            }
            Target::Webhook { url, .. } => format!("webhook:{}", host(Some(url))),
        }
    }

    /// Keeps the job, uncalled, until `until_ms` (its target's next probe), recording that it
    /// waits; past the whole retry schedule since its lead came in, it fails instead.
    pub(super) async fn hold(
        &self,
        msg: &QueueMessage,
        job: &Job,
        state: &JobState,
        mark: Mark,
        target: &str,
        until_ms: i64,
    ) -> Result<(), JobError> {
        let r = job.job_ref();
        let now_ms = self.deps.clock.now_ms();
        let deadline = crate::time::parse_ms(&job.created_at)
            .map(|c| c.saturating_add(self.cfg.schedule.total_secs().saturating_mul(1000)));
        if deadline.is_some_and(|d| now_ms >= d) {
            tracing::warn!(lead_id = %r.lead_id, integration = %r.integration, target, "target still down after the whole retry schedule; giving up");
            let error = format!("{target} stayed down for the whole retry schedule");
            let gave_up = JobResult::Failed {
                error,
                called: false,
            };
            let reported = batch::report_attempt(&self.deps, job, &gave_up, None, Some(mark));
            if let Reported::Recorded(_) = reported.await? {
                return self.keep_failed(msg, job).await;
            }
            return Ok(());
        }
        let table = self.deps.table.as_ref();
        if state.waiting_on.as_deref() != Some(target)
            && let Err(e) = self.breakers.held(table, target).await
        {
            tracing::warn!(error = %e, target, "breaker's waiting count not updated");
        }
        let reported = LeadStore::of(&self.deps)
            .hold(&r, &job.expected, target, mark, until_ms, now_ms)
            .await?;
        if matches!(reported, Reported::Already) {
            return Ok(());
        }
        tracing::info!(lead_id = %r.lead_id, integration = %r.integration, target, until = %timestamp(until_ms), "target is down; waiting for its next probe");
        self.postpone(msg, secs_until(now_ms, until_ms)).await?;
        Err(JobError::RetryLater(format!("waiting for {target}")))
    }

    /// Tells the target's breaker what the call found; when the breaker is open, when the
    /// job looks again (just after the next probe). The breaker's bookkeeping never fails the job: its answer is
    /// written either way.
    pub(super) async fn after_call(
        &self,
        job: &Job,
        call: &Call<'_>,
        delivered: &Result<String, DeliveryError>,
        now_ms: i64,
    ) -> Option<i64> {
        let table = self.deps.table.as_ref();
        let target = call.target;
        let change = match delivered {
            Err(DeliveryError::Retryable { message, .. }) => {
                let reason = crate::outbound::clip(message, 200);
                self.breakers
                    .failed(table, target, &reason, call.probe, now_ms)
                    .await
            }
            // The service answered, even if it refused this lead: it is up.
            _ => {
                self.breakers
                    .succeeded(table, target, call.probe, now_ms)
                    .await
            }
        };
        let change = match change {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, target, lead_id = %job.lead_id, "breaker not updated");
                return None;
            }
        };
        match change {
            Change::Nothing => None,
            Change::Open { probe_at_ms } => Some(self.breakers.after_probe(probe_at_ms)),
            Change::Opened(state) => {
                tracing::warn!(target, reason = %state.reason, failures = state.failures, "breaker opened");
                self.tell_admins(down(&state)).await;
                Some(self.breakers.after_probe(state.probe_at_ms))
            }
            Change::Closed(state) => {
                tracing::info!(
                    target,
                    held = state.held,
                    probes = state.probes,
                    "breaker closed"
                );
                self.tell_admins(back(&state, now_ms)).await;
                None
            }
        }
    }

    async fn tell_admins(&self, note: Notification) {
        let msg = NotificationMessage::Lead(note);
        if let Err(e) = notifications::QUEUE
            .send(self.deps.queue.as_ref(), &msg)
            .await
        {
            tracing::error!(error = %e, "the admins' breaker notice could not be queued");
        }
    }
}

fn down(s: &BreakerState) -> Notification {
    Notification::TargetDown {
        target: s.target.clone(),
        reason: s.reason.clone(),
        failures: s.failures,
        opened_at: timestamp(s.opened_at_ms),
        next_probe_at: timestamp(s.probe_at_ms),
    }
}

fn back(s: &BreakerState, now_ms: i64) -> Notification {
    Notification::TargetBack {
        target: s.target.clone(),
        opened_at: timestamp(s.opened_at_ms),
        closed_at: timestamp(s.closed_at_ms.unwrap_or(now_ms)),
        held: s.held,
        probes: s.probes.saturating_add(1),
    }
}

/// A URL's host and port, never its path or query (a Bitrix24 webhook URL carries its
/// secret in the path).
fn host(url: Option<&str>) -> String {
    url.and_then(|u| reqwest::Url::parse(u).ok())
        .and_then(|u| {
            let host = u.host_str()?.to_string();
            Some(match u.port() {
                Some(p) => format!("{host}:{p}"),
                None => host,
            })
        })
        .unwrap_or_else(|| "unset".into())
}
