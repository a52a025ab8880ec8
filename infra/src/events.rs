//! Building the events Lambda would receive, so `zayavka serve` drives the very handlers
//! that run in AWS: an HTTP request becomes an API Gateway HTTP API (v2) event, a batch of
//! queue messages becomes an SQS event. Both go through serde exactly as in Lambda.

use std::collections::BTreeMap;

use aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use aws_lambda_events::sqs::SqsEvent;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};
use zayavka::ports::Received;

/// What `serve` knows of one HTTP request.
pub struct HttpInput<'a> {
    pub method: &'a str,
    pub route_key: &'a str,
    pub path: &'a str,
    pub raw_query: &'a str,
    pub query: Vec<(String, String)>,
    pub headers: Vec<(String, String)>,
    pub path_params: BTreeMap<String, String>,
    pub body: &'a [u8],
    pub source_ip: &'a str,
    pub now_ms: i64,
}

pub fn api_gateway_event(input: HttpInput<'_>) -> serde_json::Result<ApiGatewayV2httpRequest> {
    // API Gateway joins repeated headers and query parameters with commas and lowercases
    // header names; cookies travel separately.
    let mut headers: BTreeMap<String, String> = BTreeMap::new();
    let mut cookies = Vec::new();
    for (name, value) in input.headers {
        let name = name.to_ascii_lowercase();
        if name == "cookie" {
            cookies.extend(
                value
                    .split(';')
                    .map(|c| c.trim().to_string())
                    .filter(|c| !c.is_empty()),
            );
            continue;
        }
        headers
            .entry(name)
            .and_modify(|v| {
                v.push(',');
                v.push_str(&value);
            })
            .or_insert(value);
    }
    let mut query: BTreeMap<String, String> = BTreeMap::new();
    for (k, v) in input.query {
        query
            .entry(k)
            .and_modify(|existing| {
                existing.push(',');
                existing.push_str(&v);
            })
            .or_insert(v);
    }
    let (body, is_base64) = match std::str::from_utf8(input.body) {
        Ok(text) => (text.to_string(), false),
        Err(_) => (STANDARD.encode(input.body), true),
    };
    let user_agent = headers.get("user-agent").cloned().unwrap_or_default();
    let mut event = json!({
        "version": "2.0",
        "routeKey": input.route_key,
        "rawPath": input.path,
        "rawQueryString": input.raw_query,
        "headers": headers,
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "local",
            "domainName": "localhost",
            "domainPrefix": "localhost",
            "http": {
                "method": input.method,
                "path": input.path,
                "protocol": "HTTP/1.1",
                "sourceIp": input.source_ip,
                "userAgent": user_agent,
            },
            "requestId": uuid::Uuid::new_v4().to_string(),
            "routeKey": input.route_key,
            "stage": "$default",
            "timeEpoch": input.now_ms,
        },
        "isBase64Encoded": is_base64,
    });
    if let Some(obj) = event.as_object_mut() {
        if !input.body.is_empty() {
            obj.insert("body".into(), Value::String(body));
        }
        if !query.is_empty() {
            obj.insert("queryStringParameters".into(), json!(query));
        }
        if !input.path_params.is_empty() {
            obj.insert("pathParameters".into(), json!(input.path_params));
        }
        if !cookies.is_empty() {
            obj.insert("cookies".into(), json!(cookies));
        }
    }
    serde_json::from_value(event)
}

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
