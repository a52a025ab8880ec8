//! The site's side of HTTP for support: CORS for the widget's origins, the anonymous
//! thread's cookie, and store failures as answers.

use crate::http::{ApiError, ApiRequest, ApiResponse};
use crate::ports::table::StoreError;

/// The cookie that keeps an anonymous visitor's thread on the page.
pub const COOKIE: &str = "zayavka_thread";

/// Adds the CORS headers when the request's origin is one of `allowed`.
pub fn cors(allowed: &[String], req: &ApiRequest, mut r: ApiResponse) -> ApiResponse {
    if let Some(origin) = req.header("origin")
        && allowed.iter().any(|o| o == origin)
    {
        r = r
            .header("access-control-allow-origin", origin)
            .header("vary", "Origin")
            .header("access-control-allow-methods", "GET, POST, OPTIONS")
            .header("access-control-allow-headers", "content-type")
            .header("access-control-max-age", "600");
    }
    r
}

/// The thread token the visitor's cookie holds.
pub fn cookie_token(req: &ApiRequest) -> Option<String> {
    req.header("cookie")
        .into_iter()
        .flat_map(|c| c.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.to_string())
}

/// The `Set-Cookie` value that keeps the thread a year.
pub fn thread_cookie(token: &str) -> String {
    format!("{COOKIE}={token}; Path=/; Max-Age=31536000; HttpOnly; Secure; SameSite=Lax")
}

/// A store failure: try again later when it may pass, our fault otherwise.
pub fn store_err(e: StoreError) -> ApiError {
    if e.is_retryable() {
        ApiError::unavailable(e)
    } else {
        ApiError::internal(e)
    }
}
