//! HTTP functions: an API Gateway HTTP API (payload v2) request in, a response out, and
//! typed errors that become `{"error": {"code", "message"}}` with the right status.

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use aws_lambda_events::apigw::ApiGatewayV2httpRequest;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http::{HeaderMap, Method};
use serde::Serialize;

use crate::deps::Backend;

/// A request as a handler sees it.
#[derive(Debug, Clone)]
pub struct ApiRequest {
    pub method: Method,
    /// `"GET /health"`: API Gateway's route key, which is what handlers dispatch on.
    pub route_key: String,
    pub path: String,
    pub path_params: HashMap<String, String>,
    pub query: HashMap<String, String>,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    pub source_ip: Option<String>,
    pub request_id: String,
}

impl ApiRequest {
    pub fn from_event(event: ApiGatewayV2httpRequest) -> Result<Self, ApiError> {
        let body = match event.body {
            None => Vec::new(),
            Some(b) if event.is_base64_encoded => STANDARD
                .decode(b.as_bytes())
                .map_err(|_| ApiError::bad_request("request body is not valid base64"))?,
            Some(b) => b.into_bytes(),
        };
        // API Gateway joins a repeated parameter's values with commas; keep that form.
        let mut query: HashMap<String, String> = HashMap::new();
        for (k, v) in event.query_string_parameters.iter() {
            query
                .entry(k.to_string())
                .and_modify(|all| {
                    all.push(',');
                    all.push_str(v);
                })
                .or_insert_with(|| v.to_string());
        }
        let ctx = event.request_context;
        let method = ctx.http.method.clone();
        let path = event
            .raw_path
            .or(ctx.http.path.clone())
            .unwrap_or_else(|| "/".into());
        let route_key = event
            .route_key
            .or(ctx.route_key)
            .unwrap_or_else(|| format!("{method} {path}"));
        Ok(Self {
            method,
            route_key,
            path,
            path_params: event.path_parameters,
            query,
            headers: event.headers,
            body,
            source_ip: ctx.http.source_ip,
            request_id: ctx.request_id.unwrap_or_default(),
        })
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    pub fn path_param(&self, name: &str) -> Result<&str, ApiError> {
        self.path_params
            .get(name)
            .map(String::as_str)
            .ok_or_else(|| ApiError::bad_request(format!("missing path parameter {name}")))
    }

    /// Parses a JSON body, refusing bodies over `max_bytes` with 413.
    pub fn json<T: serde::de::DeserializeOwned>(&self, max_bytes: usize) -> Result<T, ApiError> {
        if self.body.len() > max_bytes {
            return Err(ApiError::too_large(max_bytes));
        }
        serde_json::from_slice(&self.body)
            .map_err(|e| ApiError::bad_request(format!("request body is not valid JSON: {e}")))
    }
}

/// The response, serialised in API Gateway's payload v2 response format.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiResponse {
    pub status_code: u16,
    pub headers: BTreeMap<String, String>,
    pub body: String,
    pub is_base64_encoded: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cookies: Vec<String>,
}

impl ApiResponse {
    pub fn new(status_code: u16, content_type: &str, body: String) -> Self {
        Self {
            status_code,
            headers: BTreeMap::from([("content-type".to_string(), content_type.to_string())]),
            body,
            is_base64_encoded: false,
            cookies: Vec::new(),
        }
    }

    pub fn json<T: Serialize>(status_code: u16, value: &T) -> Self {
        match serde_json::to_string(value) {
            Ok(body) => Self::new(status_code, "application/json", body),
            Err(e) => ApiError::internal(format!("cannot encode response: {e}")).into(),
        }
    }

    pub fn html(status_code: u16, body: String) -> Self {
        Self::new(status_code, "text/html; charset=utf-8", body)
    }

    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.insert(name.to_ascii_lowercase(), value.into());
        self
    }

    /// The body as bytes (decoding base64 when the handler sent binary).
    pub fn body_bytes(&self) -> Vec<u8> {
        if self.is_base64_encoded {
            STANDARD.decode(&self.body).unwrap_or_default()
        } else {
            self.body.clone().into_bytes()
        }
    }
}

/// An error a handler returns; the status and code are what the client sees.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{status} {code}: {message}")]
pub struct ApiError {
    pub status: u16,
    pub code: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: u16, code: &'static str, message: impl Into<String>) -> Self {
        Self {
            status,
            code,
            message: message.into(),
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(400, "malformed", message)
    }
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(401, "unauthorized", message)
    }
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(403, "forbidden", message)
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(404, "not_found", message)
    }
    pub fn method_not_allowed(message: impl Into<String>) -> Self {
        Self::new(405, "method_not_allowed", message)
    }
    pub fn too_large(max_bytes: usize) -> Self {
        Self::new(
            413,
            "too_large",
            format!("request body is larger than {max_bytes} bytes"),
        )
    }
    /// Well-formed but invalid: names the field at fault.
    pub fn invalid(field: &str, message: impl std::fmt::Display) -> Self {
        Self::new(422, "invalid", format!("{field}: {message}"))
    }
    pub fn too_many_requests(message: impl Into<String>) -> Self {
        Self::new(429, "rate_limited", message)
    }
    /// Something of ours failed; the details go to the log, not to the client.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "internal error");
        Self::new(500, "internal", "internal error; it has been logged")
    }
    pub fn unavailable(detail: impl std::fmt::Display) -> Self {
        tracing::warn!(error = %detail, "dependency unavailable");
        Self::new(
            503,
            "unavailable",
            "temporarily unavailable, try again shortly",
        )
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: ErrorDetail<'a>,
}

#[derive(Serialize)]
struct ErrorDetail<'a> {
    code: &'a str,
    message: &'a str,
}

impl From<ApiError> for ApiResponse {
    fn from(e: ApiError) -> Self {
        ApiResponse::json(
            e.status,
            &ErrorBody {
                error: ErrorDetail {
                    code: e.code,
                    message: &e.message,
                },
            },
        )
    }
}

/// One HTTP Lambda function: its routes (as API Gateway route keys) and its handler.
#[async_trait]
pub trait HttpFunction: Send + Sync {
    /// The function's name, as in `functions/<name>` and `template.yaml`.
    fn name(&self) -> &'static str;

    /// `"METHOD /path/{param}"` route keys, in API Gateway's syntax.
    fn routes(&self) -> Vec<&'static str>;

    async fn handle(&self, req: ApiRequest) -> Result<ApiResponse, ApiError>;
}

/// Runs one event through a function: conversion, dispatch, errors to JSON, a log line.
pub async fn dispatch(f: &dyn HttpFunction, event: ApiGatewayV2httpRequest) -> ApiResponse {
    let req = match ApiRequest::from_event(event) {
        Ok(r) => r,
        Err(e) => return e.into(),
    };
    let route = req.route_key.clone();
    let response = match f.handle(req).await {
        Ok(r) => r,
        Err(e) => e.into(),
    };
    tracing::info!(function = f.name(), %route, status = response.status_code, "request");
    response
}

/// The route every HTTP function answers.
pub const HEALTH_ROUTE: &str = "GET /health";

#[derive(Serialize)]
struct Health<'a> {
    status: &'a str,
    version: &'a str,
    backend: &'a str,
    function: &'a str,
}

pub fn health(function: &str, backend: Backend) -> ApiResponse {
    ApiResponse::json(
        200,
        &Health {
            status: "ok",
            version: crate::VERSION,
            backend: backend.as_str(),
            function,
        },
    )
}

/// Whether a route key is this function's health check: `GET /health` (direct invocation,
/// `zayavka serve`) or `GET /health/<function>` (its route on the deployed HTTP API, where
/// one path cannot lead to several functions).
pub fn is_health(route_key: &str, function: &str) -> bool {
    route_key == HEALTH_ROUTE
        || route_key
            .strip_prefix("GET /health/")
            .is_some_and(|rest| rest == function)
}

/// The answer for a route key the function does not serve.
pub fn no_route(req: &ApiRequest) -> ApiError {
    ApiError::not_found(format!("no route for {}", req.route_key))
}

/// Compares secrets without leaking where they differ through timing.
pub fn constant_time_eq(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn errors_become_the_documented_json_shape() {
        let r: ApiResponse = ApiError::invalid("lead.email", "not an e-mail address").into();
        assert_eq!(r.status_code, 422);
        let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
        assert_eq!(v["error"]["code"], "invalid");
        assert_eq!(v["error"]["message"], "lead.email: not an e-mail address");
        assert_eq!(r.headers["content-type"], "application/json");
    }

    #[test]
    fn constant_time_eq_needs_equal_content_and_length() {
        assert!(constant_time_eq("secret", "secret"));
        assert!(!constant_time_eq("secret", "secreT"));
        assert!(!constant_time_eq("secret", "secret2"));
    }
}
