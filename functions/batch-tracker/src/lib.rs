//! batch-tracker: records each job's outcome on its batch and settles the batch (completed,
//! partial, failed) once every integration has reported; a job message found in an
//! integration's dead-letter queue counts as a final failure.

use async_trait::async_trait;
use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use zayavka::Deps;
use zayavka::leads::batch::{self, TrackError};
use zayavka::queues::{BATCH_RESULTS, INTEGRATIONS, dead_letter_name};
use zayavka::sqs_batch::{QueueMessage, QueueWorker, run_batch};

pub const NAME: &str = "batch-tracker";

pub struct BatchTracker {
    deps: Deps,
    queue_prefix: String,
}

impl BatchTracker {
    pub fn new(deps: Deps, queue_prefix: String) -> Self {
        Self { deps, queue_prefix }
    }

    async fn one(&self, msg: QueueMessage) -> Result<(), TrackError> {
        let queue = msg.logical_queue(&self.queue_prefix);
        batch::on_message(&self.deps, queue, &msg.body).await
    }
}

#[async_trait]
impl QueueWorker for BatchTracker {
    fn name(&self) -> &'static str {
        NAME
    }

    fn queues(&self) -> Vec<String> {
        std::iter::once(BATCH_RESULTS.to_string())
            .chain(INTEGRATIONS.iter().map(|q| dead_letter_name(q)))
            .collect()
    }

    async fn handle(&self, event: SqsEvent) -> SqsBatchResponse {
        run_batch(event, 4, |msg| self.one(msg)).await
    }
}

/// The one constructor, shared by `main.rs` and `zayavka serve`.
pub fn from_env(
    w: &zayavka::deps::Wiring<'_>,
) -> Result<BatchTracker, zayavka::config::ConfigError> {
    Ok(BatchTracker::new(w.deps.clone(), w.queue_prefix.clone()))
}
