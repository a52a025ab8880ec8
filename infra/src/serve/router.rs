//! HTTP: each request to the function whose routes hold its path, as the `http::Request`
//! `lambda_http` would give it; `GET /health` asks every function.

use std::collections::{BTreeMap, HashSet};
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Request};
use axum::response::{IntoResponse, Response};
use zayavka::http::{ApiError, ApiResponse, HttpFunction, direct_request, dispatch, match_path};

use super::{Registry, ServeError};

/// API Gateway's own payload limit.
const MAX_BODY: usize = 10 * 1024 * 1024;

pub(super) fn router(registry: &Registry) -> Result<Router, ServeError> {
    let mut seen = HashSet::new();
    for function in &registry.http {
        for route_key in function.routes() {
            if !seen.insert(route_key) {
                return Err(ServeError::DuplicateRoute(route_key.into()));
            }
        }
    }
    let all = registry.http.clone();
    let functions = registry.http.clone();
    Ok(Router::new()
        .route(
            "/health",
            axum::routing::get(move |ConnectInfo(peer): ConnectInfo<SocketAddr>| {
                let all = all.clone();
                async move { health(&all, peer).await }
            }),
        )
        .fallback(
            move |ConnectInfo(peer): ConnectInfo<SocketAddr>, req: Request| {
                let functions = functions.clone();
                async move { call(&functions, peer, req).await }
            },
        )
        .layer(DefaultBodyLimit::max(MAX_BODY)))
}

/// Whether any of the function's routes has this path (the method is the function's to
/// judge, so a wrong one gets its 405).
fn serves(f: &dyn HttpFunction, path: &str) -> bool {
    f.routes().iter().any(|route| {
        route
            .split_once(' ')
            .is_some_and(|(_, template)| match_path(template, path).is_some())
    })
}

async fn call(functions: &[Arc<dyn HttpFunction>], peer: SocketAddr, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let Some(f) = functions
        .iter()
        .find(|f| serves(f.as_ref(), parts.uri.path()))
    else {
        return to_response(
            ApiError::not_found(format!(
                "no route for {} {}",
                parts.method,
                parts.uri.path()
            ))
            .into(),
        );
    };
    let body = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b.to_vec(),
        Err(_) => return to_response(ApiError::too_large(MAX_BODY).into()),
    };
    to_response(dispatch(f.as_ref(), direct_request(parts, body, Some(peer.ip()))).await)
}

/// `GET /health` asks every function and reports each.
async fn health(all: &[Arc<dyn HttpFunction>], peer: SocketAddr) -> Response {
    let mut functions = BTreeMap::new();
    let mut backend = String::new();
    let mut ok = true;
    for f in all {
        let (parts, ()) = http::Request::get("/health")
            .body(())
            .unwrap_or_default()
            .into_parts();
        let r = dispatch(
            f.as_ref(),
            direct_request(parts, Vec::new(), Some(peer.ip())),
        )
        .await;
        if backend.is_empty()
            && let Ok(v) = serde_json::from_str::<serde_json::Value>(&r.body)
        {
            backend = v["backend"].as_str().unwrap_or_default().to_string();
        }
        ok &= r.status_code == 200;
        functions.insert(
            f.name(),
            if r.status_code == 200 {
                "ok"
            } else {
                "failing"
            },
        );
    }
    let body = serde_json::json!({
        "status": if ok { "ok" } else { "degraded" },
        "version": zayavka::VERSION,
        "backend": backend,
        "functions": functions,
    });
    to_response(ApiResponse::json(if ok { 200 } else { 503 }, &body))
}

fn to_response(r: ApiResponse) -> Response {
    let (parts, body) = r.into_http().into_parts();
    let bytes = match body {
        zayavka::http::Body::Text(t) => t.into_bytes(),
        zayavka::http::Body::Binary(b) => b,
        _ => Vec::new(),
    };
    Response::from_parts(parts, Body::from(bytes)).into_response()
}
