//! API Gateway HTTP API (payload v2) events as AWS sends them, for tests that drive the HTTP
//! functions the way Lambda does: the event goes through `lambda_http`'s own decoding.

use std::collections::BTreeMap;

use aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

/// One HTTP request, as a test describes it.
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
    // API Gateway always sends both forms; a test may give only the pairs.
    let raw_query = if input.raw_query.is_empty() && !input.query.is_empty() {
        let mut url = reqwest::Url::parse("http://x/").expect("a URL");
        url.query_pairs_mut().extend_pairs(&input.query);
        url.query().unwrap_or_default().to_string()
    } else {
        input.raw_query.to_string()
    };
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
        "rawQueryString": raw_query,
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

/// The request `lambda_http` hands the function for this event.
pub fn lambda_request(event: ApiGatewayV2httpRequest) -> zayavka::http::Request {
    let text = serde_json::to_string(&event).expect("an event serialises");
    lambda_http::request::from_str(&text).expect("lambda_http decodes an API Gateway v2 event")
}
