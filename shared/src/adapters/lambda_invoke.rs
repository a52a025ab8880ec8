//! A queue that Lambda keeps: sending to it is an asynchronous invocation of the function
//! that consumes it (`Invoke` with `InvocationType: Event`). Lambda queues the event, retries
//! a failed run twice, and then puts the event, as it was sent, on the function's
//! dead-letter queue — the same body a consumer of a real queue would have dead-lettered.
//! Nothing polls such a queue, so it costs nothing while no message arrives; in AWS the
//! batch tracker is fed this way (BENCHMARKS.md says why). `zayavka serve` has no Lambda and
//! keeps a real queue under the same name instead.
//!
//! Every other queue, and everything but sending, goes to the wrapped adapter.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_lambda::Client;
use aws_sdk_lambda::error::{DisplayErrorContext, ProvideErrorMetadata};
use aws_sdk_lambda::operation::RequestId;
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::InvocationType;

use super::aws::is_retryable_code;
use crate::ports::queue::{OutMessage, Queue, QueueError, QueueStats, Received, validate_batch};

#[derive(Clone)]
pub struct InvokedQueues {
    inner: Arc<dyn Queue>,
    client: Client,
    /// Logical queue name → the function invoked with each message.
    functions: BTreeMap<String, String>,
}

impl InvokedQueues {
    pub fn new(inner: Arc<dyn Queue>, client: Client, functions: BTreeMap<String, String>) -> Self {
        Self {
            inner,
            client,
            functions,
        }
    }

    /// Lambda's event queue carries the body only: a caller relying on a delay, a group, a
    /// de-duplication id or attributes would be wrong silently, so such a message is refused.
    fn check(queue: &str, msg: &OutMessage) -> Result<(), QueueError> {
        msg.validate()?;
        if msg.delay_seconds > 0
            || msg.group.is_some()
            || msg.dedup_id.is_some()
            || !msg.attributes.is_empty()
        {
            return Err(QueueError::Invalid(format!(
                "{queue} is a function's event queue: a body only, no delay, group or attributes"
            )));
        }
        Ok(())
    }

    async fn invoke(&self, function: &str, msg: &OutMessage) -> Result<String, QueueError> {
        let out = self
            .client
            .invoke()
            .function_name(function)
            .invocation_type(InvocationType::Event)
            .payload(Blob::new(msg.body.as_bytes()))
            .send()
            .await
            .map_err(|err| {
                if let Some(service) = err.as_service_error() {
                    let code = service.code().unwrap_or_default();
                    let message = service.message().unwrap_or_default();
                    return match code {
                        "ResourceNotFoundException" => QueueError::UnknownQueue(format!(
                            "the event queue of function {function}, which does not exist"
                        )),
                        c if is_retryable_code(c)
                            || c.ends_with("ServiceException")
                            || c == "TooManyRequestsException"
                            || c == "ResourceConflictException"
                            || c == "ResourceNotReadyException" =>
                        {
                            QueueError::Unavailable(format!("invoke {function}: {c}: {message}"))
                        }
                        "" => QueueError::Unavailable(format!(
                            "invoke {function}: {}",
                            DisplayErrorContext(&err)
                        )),
                        c => QueueError::Invalid(format!("invoke {function}: {c}: {message}")),
                    };
                }
                QueueError::Unavailable(format!("invoke {function}: {}", DisplayErrorContext(&err)))
            })?;
        // 202: queued by Lambda. Anything else means the event was not accepted.
        if out.status_code() != 202 {
            return Err(QueueError::Unavailable(format!(
                "invoke {function}: answered {} instead of 202",
                out.status_code()
            )));
        }
        Ok(out.request_id().unwrap_or_default().to_string())
    }
}

#[async_trait]
impl Queue for InvokedQueues {
    async fn send(&self, queue: &str, msg: OutMessage) -> Result<String, QueueError> {
        match self.functions.get(queue) {
            Some(function) => {
                Self::check(queue, &msg)?;
                self.invoke(function, &msg).await
            }
            None => self.inner.send(queue, msg).await,
        }
    }

    async fn send_batch(
        &self,
        queue: &str,
        msgs: Vec<OutMessage>,
    ) -> Result<Vec<String>, QueueError> {
        let Some(function) = self.functions.get(queue) else {
            return self.inner.send_batch(queue, msgs).await;
        };
        // One invocation per message: Lambda has no batch of events. All are checked before
        // the first; an outage part-way leaves the earlier ones invoked, and the caller's
        // retry invokes them again (the events are idempotent: a settled batch stays so).
        validate_batch(&msgs)?;
        msgs.iter().try_for_each(|m| Self::check(queue, m))?;
        let mut ids = Vec::with_capacity(msgs.len());
        for msg in &msgs {
            ids.push(self.invoke(function, msg).await?);
        }
        Ok(ids)
    }

    async fn receive(
        &self,
        queue: &str,
        max: u32,
        wait: Duration,
    ) -> Result<Vec<Received>, QueueError> {
        self.inner.receive(queue, max, wait).await
    }

    async fn delete_batch(
        &self,
        queue: &str,
        receipt_handles: &[String],
    ) -> Result<(), QueueError> {
        self.inner.delete_batch(queue, receipt_handles).await
    }

    async fn delete(&self, queue: &str, receipt_handle: &str) -> Result<(), QueueError> {
        self.inner.delete(queue, receipt_handle).await
    }

    async fn change_visibility(
        &self,
        queue: &str,
        receipt_handle: &str,
        seconds: u32,
    ) -> Result<(), QueueError> {
        self.inner
            .change_visibility(queue, receipt_handle, seconds)
            .await
    }

    async fn stats(&self, queue: &str) -> Result<QueueStats, QueueError> {
        self.inner.stats(queue).await
    }
}
