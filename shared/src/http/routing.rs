//! From an `http::Request` to a handler's [`ApiRequest`]: the route template that matches
//! the method and path, its parameters, the query, the caller's address and request id,
//! whichever front door (API Gateway v1/v2, ALB, function URL, `zayavka serve`) it came
//! through.

use std::collections::HashMap;
use std::net::IpAddr;

use http::Method;
use lambda_http::RequestExt;
use lambda_http::request::RequestContext;

use super::{ApiError, ApiRequest, Body, HttpFunction, Request};

/// The client's address as the embedded server saw it (behind AWS, the front door's
/// request context says it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientAddr(pub IpAddr);

impl ApiRequest {
    pub(super) fn from_http(req: Request, route: Matched) -> Self {
        let source_ip = source_ip(&req);
        let request_id = request_id(&req);
        let mut query: HashMap<String, String> = HashMap::new();
        for (k, v) in req
            .query_string_parameters_ref()
            .into_iter()
            .flat_map(|q| q.iter())
        {
            query
                .entry(k.to_string())
                .and_modify(|all| {
                    all.push(',');
                    all.push_str(v);
                })
                .or_insert_with(|| v.to_string());
        }
        let (parts, body) = req.into_parts();
        let body = match body {
            Body::Empty => Vec::new(),
            Body::Text(t) => t.into_bytes(),
            Body::Binary(b) => b,
            _ => Vec::new(),
        };
        Self {
            method: parts.method,
            route_key: route.route_key.to_string(),
            path: route.path,
            path_params: route.params,
            query,
            headers: parts.headers,
            body,
            source_ip,
            request_id,
        }
    }
}

/// A route template that matched a request.
pub(super) struct Matched {
    pub(super) route_key: &'static str,
    pub(super) path: String,
    pub(super) params: HashMap<String, String>,
}

/// Matches `path` against a template's path (`/api/leads/{lead_id}`); parameters are
/// percent-decoded, and each matches one non-empty segment.
pub fn match_path(template: &str, path: &str) -> Option<HashMap<String, String>> {
    let mut params = HashMap::new();
    let mut want = template.trim_start_matches('/').split('/');
    let mut got = path.trim_start_matches('/').split('/');
    loop {
        match (want.next(), got.next()) {
            (None, None) => return Some(params),
            (Some(w), Some(g)) => {
                if let Some(name) = w.strip_prefix('{').and_then(|n| n.strip_suffix('}')) {
                    if g.is_empty() {
                        return None;
                    }
                    let value = percent_encoding::percent_decode_str(g)
                        .decode_utf8()
                        .ok()?
                        .into_owned();
                    params.insert(name.to_string(), value);
                } else if w != g {
                    return None;
                }
            }
            _ => return None,
        }
    }
}

pub(super) fn find_route(
    f: &dyn HttpFunction,
    method: &Method,
    path: &str,
) -> Result<Matched, ApiError> {
    let mut path_matched = false;
    for route_key in f.routes() {
        let Some((m, template)) = route_key.split_once(' ') else {
            continue;
        };
        let Some(params) = match_path(template, path) else {
            continue;
        };
        path_matched = true;
        if m == method.as_str() {
            return Ok(Matched {
                route_key,
                path: path.to_string(),
                params,
            });
        }
    }
    if path_matched {
        return Err(ApiError::method_not_allowed(format!(
            "{method} is not allowed on {path}"
        )));
    }
    Err(ApiError::not_found(format!("no route for {method} {path}")))
}

/// A request that reached us directly (the embedded server, tests): the body as text when
/// it is UTF-8, the query parsed as API Gateway would, the caller's address attached.
pub fn direct_request(
    parts: http::request::Parts,
    body: Vec<u8>,
    client: Option<IpAddr>,
) -> Request {
    let query: lambda_http::aws_lambda_events::query_map::QueryMap = parts
        .uri
        .query()
        .unwrap_or_default()
        .parse()
        .unwrap_or_default();
    let body = match String::from_utf8(body) {
        Ok(text) if text.is_empty() => Body::Empty,
        Ok(text) => Body::Text(text),
        Err(e) => Body::Binary(e.into_bytes()),
    };
    let mut req = Request::from_parts(parts, body).with_query_string_parameters(query);
    if let Some(ip) = client {
        req.extensions_mut().insert(ClientAddr(ip));
    }
    req
}

/// The path as the client sent it (API Gateway's `rawPath`, without a stage prefix).
pub(super) fn request_path(req: &Request) -> String {
    let raw = req.raw_http_path();
    if raw.is_empty() {
        req.uri().path().to_string()
    } else {
        raw.to_string()
    }
}

fn source_ip(req: &Request) -> Option<String> {
    if let Some(ClientAddr(ip)) = req.extensions().get::<ClientAddr>() {
        return Some(ip.to_string());
    }
    match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.http.source_ip.clone(),
        Some(RequestContext::ApiGatewayV1(ctx)) => ctx.identity.source_ip.clone(),
        // Behind an ALB or a function URL: the last X-Forwarded-For address, the one the
        // load balancer appended. The ones before it are whatever the client wrote, and
        // trusting them would let a guesser pick a new address for every try.
        _ => req
            .headers()
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit(',').next())
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty()),
    }
}

fn request_id(req: &Request) -> String {
    if let Some(ctx) = req.lambda_context_ref() {
        return ctx.request_id.clone();
    }
    match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) => ctx.request_id.clone().unwrap_or_default(),
        Some(RequestContext::ApiGatewayV1(ctx)) => ctx.request_id.clone().unwrap_or_default(),
        _ => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn behind_a_load_balancer_the_address_is_the_one_it_appended() {
        let req: Request = http::Request::builder()
            .header("x-forwarded-for", "10.9.9.9, 203.0.113.5")
            .body(Body::Empty)
            .unwrap();
        assert_eq!(source_ip(&req).as_deref(), Some("203.0.113.5"));
        let spoofed_only: Request = http::Request::builder()
            .header("x-forwarded-for", " ")
            .body(Body::Empty)
            .unwrap();
        assert_eq!(source_ip(&spoofed_only), None);
    }
}
