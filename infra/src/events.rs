//! Building the events Lambda would receive, so `zayavka serve` drives the very workers that
//! run in AWS: a batch of queue messages becomes an SQS event, through serde exactly as in
//! Lambda. (HTTP needs no event: the functions take `http::Request`s.)

use std::collections::BTreeMap;

use aws_lambda_events::sqs::SqsEvent;
use serde_json::{Value, json};
use zayavka::ports::Received;

/// An SQS event as the Lambda event source delivers it. `aws_queue_name` is the queue's
/// name in AWS terms (with the deployment prefix), as it appears in `eventSourceARN`.
pub fn sqs_event(aws_queue_name: &str, messages: &[Received]) -> serde_json::Result<SqsEvent> {
    let records: Vec<Value> = messages
        .iter()
        .map(|m| {
            let attributes: BTreeMap<&String, Value> = m
                .attributes
                .iter()
                .map(|(k, v)| (k, json!({"stringValue": v, "dataType": "String"})))
                .collect();
            json!({
                "messageId": m.message_id,
                "receiptHandle": m.receipt_handle,
                "body": m.body,
                "attributes": {
                    "ApproximateReceiveCount": m.receive_count.to_string(),
                    "SentTimestamp": m.sent_at_ms.to_string(),
                    "SenderId": "zayavka-serve",
                    "ApproximateFirstReceiveTimestamp": m.sent_at_ms.to_string(),
                },
                "messageAttributes": attributes,
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": format!("arn:aws:sqs:local:000000000000:{aws_queue_name}"),
                "awsRegion": "local",
            })
        })
        .collect();
    serde_json::from_value(json!({ "Records": records }))
}
