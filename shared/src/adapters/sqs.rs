//! The queue port on SQS. Logical names map to `<prefix><name>`; URLs are looked up once
//! and kept.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_sqs::types::{
    MessageAttributeValue, MessageSystemAttributeName, QueueAttributeName,
    SendMessageBatchRequestEntry,
};
use tokio::sync::RwLock;

use super::aws::is_retryable_code;
use crate::ports::queue::{
    OutMessage, Queue, QueueError, QueueStats, Received, validate_batch, validate_receive,
};
use crate::queues::QueueSpec;

#[derive(Clone)]
pub struct SqsQueue {
    client: Client,
    prefix: String,
    urls: Arc<RwLock<HashMap<String, String>>>,
}

fn classify<E, R>(op: &str, queue: &str, err: SdkError<E, R>) -> QueueError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    if let Some(service) = err.as_service_error() {
        let code = service.code().unwrap_or_default();
        let message = service.message().unwrap_or_default();
        return match code {
            "AWS.SimpleQueueService.NonExistentQueue" | "QueueDoesNotExist" => {
                QueueError::UnknownQueue(queue.into())
            }
            c if is_retryable_code(c) => {
                QueueError::Unavailable(format!("{op} {queue}: {c}: {message}"))
            }
            "" => QueueError::Unavailable(format!("{op} {queue}: {}", DisplayErrorContext(&err))),
            c => QueueError::Invalid(format!("{op} {queue}: {c}: {message}")),
        };
    }
    QueueError::Unavailable(format!("{op} {queue}: {}", DisplayErrorContext(&err)))
}

fn attributes_of(
    msg: &OutMessage,
) -> Result<Option<HashMap<String, MessageAttributeValue>>, QueueError> {
    if msg.attributes.is_empty() {
        return Ok(None);
    }
    msg.attributes
        .iter()
        .map(|(k, v)| {
            MessageAttributeValue::builder()
                .data_type("String")
                .string_value(v)
                .build()
                .map(|value| (k.clone(), value))
                .map_err(|e| QueueError::Invalid(format!("attribute {k}: {e}")))
        })
        .collect::<Result<HashMap<_, _>, _>>()
        .map(Some)
}

impl SqsQueue {
    pub fn new(client: Client, prefix: impl Into<String>) -> Self {
        Self {
            client,
            prefix: prefix.into(),
            urls: Arc::default(),
        }
    }

    pub fn aws_name(&self, queue: &str) -> String {
        format!("{}{queue}", self.prefix)
    }

    async fn url(&self, queue: &str) -> Result<String, QueueError> {
        if let Some(url) = self.urls.read().await.get(queue) {
            return Ok(url.clone());
        }
        let out = self
            .client
            .get_queue_url()
            .queue_name(self.aws_name(queue))
            .send()
            .await
            .map_err(|e| classify("GetQueueUrl", queue, e))?;
        let url = out
            .queue_url
            .ok_or_else(|| QueueError::UnknownQueue(queue.into()))?;
        self.urls.write().await.insert(queue.into(), url.clone());
        Ok(url)
    }

    /// Creates the queues (dead-letter queues first, so redrive policies can name them);
    /// existing queues get their attributes brought up to date.
    pub async fn ensure_queues(&self, specs: &[QueueSpec]) -> Result<Vec<String>, QueueError> {
        // Dead-letter queues first: a queue's redrive policy names its DLQ's ARN.
        let mut ordered: Vec<&QueueSpec> =
            specs.iter().filter(|s| s.dead_letter.is_none()).collect();
        ordered.extend(specs.iter().filter(|s| s.dead_letter.is_some()));
        let mut created = Vec::new();
        for spec in ordered {
            let attrs = self.attributes_of(spec).await?;
            let (url, new) = self.create_or_update(spec, attrs).await?;
            if new {
                created.push(spec.name.clone());
            }
            self.urls.write().await.insert(spec.name.clone(), url);
        }
        Ok(created)
    }

    /// The queue's visibility timeout and, with a dead-letter queue, its redrive policy.
    async fn attributes_of(
        &self,
        spec: &QueueSpec,
    ) -> Result<HashMap<QueueAttributeName, String>, QueueError> {
        let mut attrs = HashMap::from([(
            QueueAttributeName::VisibilityTimeout,
            spec.visibility_timeout_secs.to_string(),
        )]);
        if let Some(dlq) = &spec.dead_letter {
            let dlq_url = self.url(dlq).await?;
            let arn = self
                .client
                .get_queue_attributes()
                .queue_url(&dlq_url)
                .attribute_names(QueueAttributeName::QueueArn)
                .send()
                .await
                .map_err(|e| classify("GetQueueAttributes", dlq, e))?
                .attributes
                .and_then(|mut a| a.remove(&QueueAttributeName::QueueArn))
                .ok_or_else(|| QueueError::UnknownQueue(dlq.clone()))?;
            attrs.insert(
                QueueAttributeName::RedrivePolicy,
                serde_json::json!({
                    "deadLetterTargetArn": arn,
                    "maxReceiveCount": spec.max_receives.to_string(),
                })
                .to_string(),
            );
        }
        Ok(attrs)
    }

    /// Creates the queue (true) or brings an existing one's attributes up to date (false).
    async fn create_or_update(
        &self,
        spec: &QueueSpec,
        attrs: HashMap<QueueAttributeName, String>,
    ) -> Result<(String, bool), QueueError> {
        // FIFO is chosen when the queue is made, and cannot be set on an existing one.
        let mut create_attrs = attrs.clone();
        if spec.is_fifo() {
            create_attrs.insert(QueueAttributeName::FifoQueue, "true".into());
            create_attrs.insert(
                QueueAttributeName::ContentBasedDeduplication,
                "false".into(),
            );
        }
        let out = self
            .client
            .create_queue()
            .queue_name(self.aws_name(&spec.name))
            .set_attributes(Some(create_attrs))
            .send()
            .await;
        match out {
            Ok(out) => Ok((out.queue_url.unwrap_or_default(), true)),
            Err(e)
                if e.code() == Some("QueueAlreadyExists")
                    || e.code() == Some("QueueNameExists") =>
            {
                let url = self.url(&spec.name).await?;
                self.client
                    .set_queue_attributes()
                    .queue_url(&url)
                    .set_attributes(Some(attrs))
                    .send()
                    .await
                    .map_err(|e| classify("SetQueueAttributes", &spec.name, e))?;
                Ok((url, false))
            }
            Err(e) => Err(classify("CreateQueue", &spec.name, e)),
        }
    }
}

#[async_trait]
impl Queue for SqsQueue {
    async fn send(&self, queue: &str, msg: OutMessage) -> Result<String, QueueError> {
        msg.validate()?;
        let url = self.url(queue).await?;
        let out = self
            .client
            .send_message()
            .queue_url(url)
            .message_body(&msg.body)
            .set_delay_seconds(msg.group.is_none().then_some(msg.delay_seconds as i32))
            .set_message_group_id(msg.group.clone())
            .set_message_deduplication_id(msg.dedup_id.clone())
            .set_message_attributes(attributes_of(&msg)?)
            .send()
            .await
            .map_err(|e| classify("SendMessage", queue, e))?;
        Ok(out.message_id.unwrap_or_default())
    }

    async fn send_batch(
        &self,
        queue: &str,
        msgs: Vec<OutMessage>,
    ) -> Result<Vec<String>, QueueError> {
        validate_batch(&msgs)?;
        let url = self.url(queue).await?;
        let entries = msgs
            .iter()
            .enumerate()
            .map(|(i, m)| {
                SendMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .message_body(&m.body)
                    .set_delay_seconds(m.group.is_none().then_some(m.delay_seconds as i32))
                    .set_message_group_id(m.group.clone())
                    .set_message_deduplication_id(m.dedup_id.clone())
                    .set_message_attributes(attributes_of(m)?)
                    .build()
                    .map_err(|e| QueueError::Invalid(format!("batch entry: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let out = self
            .client
            .send_message_batch()
            .queue_url(url)
            .set_entries(Some(entries))
            .send()
            .await
            .map_err(|e| classify("SendMessageBatch", queue, e))?;
        if let Some(failed) = out.failed.first() {
            let message = format!(
                "SendMessageBatch {queue}: {} of {} entries failed ({}: {})",
                out.failed.len(),
                msgs.len(),
                failed.code,
                failed.message.as_deref().unwrap_or_default()
            );
            return Err(if failed.sender_fault {
                QueueError::Invalid(message)
            } else {
                QueueError::Unavailable(message)
            });
        }
        let mut ids = vec![String::new(); msgs.len()];
        for ok in out.successful {
            if let Ok(i) = ok.id.parse::<usize>()
                && i < ids.len()
            {
                ids[i] = ok.message_id;
            }
        }
        Ok(ids)
    }

    async fn receive(
        &self,
        queue: &str,
        max: u32,
        wait: Duration,
    ) -> Result<Vec<Received>, QueueError> {
        validate_receive(max)?;
        let url = self.url(queue).await?;
        let out = self
            .client
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(max as i32)
            .wait_time_seconds(wait.as_millis().div_ceil(1000).min(20) as i32)
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .message_system_attribute_names(MessageSystemAttributeName::SentTimestamp)
            .message_attribute_names("All")
            .send()
            .await
            .map_err(|e| classify("ReceiveMessage", queue, e))?;
        Ok(out
            .messages
            .unwrap_or_default()
            .into_iter()
            .map(|m| {
                let system = m.attributes.unwrap_or_default();
                let number = |name: &MessageSystemAttributeName| {
                    system
                        .get(name)
                        .and_then(|v| v.parse::<i64>().ok())
                        .unwrap_or(0)
                };
                let attributes: BTreeMap<String, String> = m
                    .message_attributes
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|(k, v)| v.string_value.map(|s| (k, s)))
                    .collect();
                Received {
                    message_id: m.message_id.unwrap_or_default(),
                    receipt_handle: m.receipt_handle.unwrap_or_default(),
                    body: m.body.unwrap_or_default(),
                    attributes,
                    receive_count: number(&MessageSystemAttributeName::ApproximateReceiveCount)
                        as u32,
                    sent_at_ms: number(&MessageSystemAttributeName::SentTimestamp),
                }
            })
            .collect())
    }

    async fn delete(&self, queue: &str, receipt_handle: &str) -> Result<(), QueueError> {
        let url = self.url(queue).await?;
        self.client
            .delete_message()
            .queue_url(url)
            .receipt_handle(receipt_handle)
            .send()
            .await
            .map_err(|e| classify("DeleteMessage", queue, e))?;
        Ok(())
    }

    async fn delete_batch(
        &self,
        queue: &str,
        receipt_handles: &[String],
    ) -> Result<(), QueueError> {
        let url = self.url(queue).await?;
        for chunk in receipt_handles.chunks(10) {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    aws_sdk_sqs::types::DeleteMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(r)
                        .build()
                        .map_err(|e| QueueError::Invalid(format!("batch entry: {e}")))
                })
                .collect::<Result<Vec<_>, _>>()?;
            let out = self
                .client
                .delete_message_batch()
                .queue_url(&url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| classify("DeleteMessageBatch", queue, e))?;
            if let Some(failed) = out.failed.first() {
                return Err(QueueError::Unavailable(format!(
                    "DeleteMessageBatch {queue}: {} of {} entries failed ({})",
                    out.failed.len(),
                    chunk.len(),
                    failed.code
                )));
            }
        }
        Ok(())
    }

    async fn change_visibility(
        &self,
        queue: &str,
        receipt_handle: &str,
        seconds: u32,
    ) -> Result<(), QueueError> {
        let url = self.url(queue).await?;
        self.client
            .change_message_visibility()
            .queue_url(url)
            .receipt_handle(receipt_handle)
            .visibility_timeout(seconds as i32)
            .send()
            .await
            .map_err(|e| classify("ChangeMessageVisibility", queue, e))?;
        Ok(())
    }

    async fn stats(&self, queue: &str) -> Result<QueueStats, QueueError> {
        let url = self.url(queue).await?;
        let attrs = self
            .client
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesDelayed)
            .send()
            .await
            .map_err(|e| classify("GetQueueAttributes", queue, e))?
            .attributes
            .unwrap_or_default();
        let n = |name: QueueAttributeName| {
            attrs
                .get(&name)
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(0)
        };
        Ok(QueueStats {
            visible: n(QueueAttributeName::ApproximateNumberOfMessages),
            in_flight: n(QueueAttributeName::ApproximateNumberOfMessagesNotVisible),
            delayed: n(QueueAttributeName::ApproximateNumberOfMessagesDelayed),
        })
    }
}
