//! HTTP functions on `lambda_http`: whatever fronts the function (API Gateway HTTP or REST
//! API, an ALB, a function URL, or `zayavka serve`), the handler gets an [`ApiRequest`] made
//! from an `http::Request`, and its [`ApiResponse`] or typed [`ApiError`] goes back as an
//! `http::Response`, errors as `{"error": {"code", "message"}}` with the right status.
//!
//! Routing is ours, not the front door's: [`dispatch`] matches the method and path against
//! the function's route templates (`"POST /telegram/{bot}/webhook"`), so path parameters
//! and the route key are the same behind every front door, and it answers the health check.

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http::{HeaderMap, Method};
pub use lambda_http::{Body, Request};
use serde::Serialize;

use crate::deps::Backend;

mod routing;

pub use routing::{ClientAddr, direct_request, match_path};
use routing::{find_route, request_path};

/// A request as a handler sees it.
#[derive(Debug, Clone)]
pub struct ApiRequest {
    pub method: Method,
    /// `"POST /telegram/{bot}/webhook"`: the matched route template, which handlers
    /// dispatch on.
    pub route_key: String,
    pub path: String,
    pub path_params: HashMap<String, String>,
    /// Query parameters; a repeated one's values joined with commas (API Gateway's form).
    pub query: HashMap<String, String>,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
    pub source_ip: Option<String>,
    pub request_id: String,
}

impl ApiRequest {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// A cookie the request carries.
    pub fn cookie(&self, name: &str) -> Option<String> {
        self.header("cookie")
            .into_iter()
            .flat_map(|c| c.split(';'))
            .filter_map(|c| c.trim().split_once('='))
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_string())
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

/// A handler's answer; [`ApiResponse::into_http`] makes the `http::Response` that
/// `lambda_http` (or `zayavka serve`) sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiResponse {
    pub status_code: u16,
    pub headers: BTreeMap<String, String>,
    pub body: String,
    /// `body` is base64 of binary content.
    pub is_base64_encoded: bool,
    /// `Set-Cookie` values (API Gateway v2 carries them apart from the headers).
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

    /// The `http::Response`: text stays text, binary goes as bytes (which `lambda_http`
    /// base64-encodes for API Gateway), cookies as `Set-Cookie` headers.
    pub fn into_http(self) -> http::Response<Body> {
        let body = if self.is_base64_encoded {
            Body::Binary(self.body_bytes())
        } else if self.body.is_empty() {
            Body::Empty
        } else {
            Body::Text(self.body)
        };
        let mut response = http::Response::new(body);
        *response.status_mut() =
            http::StatusCode::from_u16(self.status_code).unwrap_or(http::StatusCode::BAD_GATEWAY);
        let headers = response.headers_mut();
        for (k, v) in &self.headers {
            if let (Ok(name), Ok(value)) = (
                http::HeaderName::try_from(k.as_str()),
                http::HeaderValue::try_from(v.as_str()),
            ) {
                headers.append(name, value);
            }
        }
        for cookie in &self.cookies {
            if let Ok(value) = http::HeaderValue::try_from(cookie.as_str()) {
                headers.append(http::header::SET_COOKIE, value);
            }
        }
        response
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
    /// A store failure: try again later when it may pass, our fault otherwise.
    pub fn store(e: crate::ports::table::StoreError) -> Self {
        if e.is_retryable() {
            Self::unavailable(e)
        } else {
            Self::internal(e)
        }
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

/// One HTTP Lambda function: its routes (as route templates) and its handler.
#[async_trait]
pub trait HttpFunction: Send + Sync {
    /// The function's name, as in `functions/<name>` and `template.yaml`.
    fn name(&self) -> &'static str;

    /// `"METHOD /path/{param}"` route templates, in API Gateway's syntax.
    fn routes(&self) -> Vec<&'static str>;

    /// What it stores in, for its health answer.
    fn backend(&self) -> Backend;

    async fn handle(&self, req: ApiRequest) -> Result<ApiResponse, ApiError>;
}

/// Runs one request through a function: the health check, routing, errors to JSON, a log
/// line.
pub async fn dispatch(f: &dyn HttpFunction, req: Request) -> ApiResponse {
    let path = request_path(&req);
    let method = req.method().clone();
    if method == http::Method::GET && is_health(&path, f.name()) {
        return health(f.name(), f.backend());
    }
    let response = match find_route(f, &method, &path) {
        Ok(route) => {
            let route_key = route.route_key;
            let response = f
                .handle(ApiRequest::from_http(req, route))
                .await
                .unwrap_or_else(ApiResponse::from);
            tracing::info!(function = f.name(), route = %route_key, status = response.status_code, "request");
            return response;
        }
        Err(e) => ApiResponse::from(e),
    };
    tracing::info!(function = f.name(), %method, %path, status = response.status_code, "request");
    response
}

#[derive(Serialize)]
struct Health<'a> {
    status: &'a str,
    version: &'a str,
    backend: &'a str,
    function: &'a str,
}

fn health(function: &str, backend: Backend) -> ApiResponse {
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

/// Whether a path is this function's health check: `/health` (direct invocation,
/// `zayavka serve`) or `/health/<function>` (its route on the deployed HTTP API, where one
/// path cannot lead to several functions). Every function answers it the same way, here.
fn is_health(path: &str, function: &str) -> bool {
    path == "/health"
        || path
            .strip_prefix("/health/")
            .is_some_and(|rest| rest == function)
}

/// The answer for a route the function lists but does not serve.
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
    fn paths_match_templates_segment_by_segment_with_decoded_parameters() {
        let p = match_path("/api/leads/{lead_id}", "/api/leads/a%20b").unwrap();
        assert_eq!(p["lead_id"], "a b");
        assert!(match_path("/api/leads/{lead_id}", "/api/leads/").is_none());
        assert!(match_path("/api/leads/{lead_id}", "/api/leads/a/b").is_none());
        assert!(match_path("/support", "/support").unwrap().is_empty());
        assert!(match_path("/support", "/supports").is_none());
    }

    #[test]
    fn constant_time_eq_needs_equal_content_and_length() {
        assert!(constant_time_eq("secret", "secret"));
        assert!(!constant_time_eq("secret", "secreT"));
        assert!(!constant_time_eq("secret", "secret2"));
    }
}
