//! integration-worker: delivers lead jobs to email (SES), amoCRM, Telegram, Bitrix24 and
//! webhooks. One binary; the template deploys it once per integration queue, so each
//! integration has its own concurrency limit and dead-letter queue.

use async_trait::async_trait;
use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use zayavka::Deps;
use zayavka::config::{ConfigError, EnvReader, EnvSource};
use zayavka::integrations::worker::{JobRunner, WorkerConfig, job_group};
use zayavka::queues::INTEGRATIONS;
use zayavka::sqs_batch::{QueueWorker, run_in_groups};

pub const NAME: &str = "integration-worker";

pub fn config(env: &dyn EnvSource, queue_prefix: String) -> Result<WorkerConfig, ConfigError> {
    let mut r = EnvReader::new(env);
    let cfg = WorkerConfig::read(&mut r, queue_prefix);
    r.finish()?;
    Ok(cfg)
}

pub struct IntegrationWorker {
    runner: JobRunner,
}

impl IntegrationWorker {
    pub fn new(deps: Deps, cfg: WorkerConfig) -> Result<Self, ConfigError> {
        Ok(Self {
            runner: JobRunner::new(deps, cfg)?,
        })
    }
}

#[async_trait]
impl QueueWorker for IntegrationWorker {
    fn name(&self) -> &'static str {
        NAME
    }

    fn queues(&self) -> Vec<String> {
        INTEGRATIONS.iter().map(|q| q.to_string()).collect()
    }

    async fn handle(&self, event: SqsEvent) -> SqsBatchResponse {
        run_in_groups(event, 4, job_group, |msg| async move {
            self.runner.run(&msg).await
        })
        .await
    }
}

/// The one constructor, shared by `main.rs` and `zayavka serve`.
pub fn from_env(
    w: &zayavka::deps::Wiring<'_>,
) -> Result<IntegrationWorker, zayavka::config::ConfigError> {
    IntegrationWorker::new(w.deps.clone(), config(w.env, w.queue_prefix.clone())?)
}
