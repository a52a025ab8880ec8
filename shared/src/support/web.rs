//! The site's side of HTTP for support: CORS for the widget's origins, the anonymous
//! thread's cookie, and store failures as answers.

use crate::http::{ApiError, ApiRequest, ApiResponse};
use crate::ports::table::StoreError;

/// The cookie that keeps an anonymous visitor's thread on the page.
pub const COOKIE: &str = "zayavka_thread";
/// The page form's anti-forgery cookie: the form's hidden `csrf` field must match it. A
/// page elsewhere can make a browser post the form, but can neither read this cookie nor
/// make the browser send it (SameSite=Strict).
pub const CSRF_COOKIE: &str = "zayavka_csrf";

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
    req.cookie(COOKIE)
}

/// The page's anti-forgery token: the visitor's, when their cookie holds a well-formed one.
pub fn csrf_token(req: &ApiRequest) -> Option<String> {
    req.cookie(CSRF_COOKIE)
        .filter(|t| super::identity::is_issued_shape(t))
}

/// The `Set-Cookie` value of the anti-forgery token (a day; only for the page).
pub fn csrf_cookie(token: &str) -> String {
    format!(
        "{CSRF_COOKIE}={token}; Path=/support; Max-Age=86400; HttpOnly; Secure; SameSite=Strict"
    )
}

/// Whether the form was posted by the form's own page: the field matches the cookie, and
/// the browser's Origin (or Referer) names our host when it names one.
pub fn posted_by_our_page(req: &ApiRequest, field: Option<&str>) -> bool {
    let token_ok = match (csrf_token(req), field) {
        (Some(cookie), Some(field)) => crate::http::constant_time_eq(&cookie, field),
        _ => false,
    };
    token_ok && from_our_host(req)
}

/// The request's Origin, else its Referer, is our own host (or the browser sent neither).
pub fn from_our_host(req: &ApiRequest) -> bool {
    let Some(host) = req.header("host") else {
        return true;
    };
    // An opaque origin ("null") does not parse, and is refused.
    match req.header("origin").or_else(|| req.header("referer")) {
        None => true,
        Some(url) => reqwest::Url::parse(url).is_ok_and(|u| {
            let port = u.port().map(|p| format!(":{p}")).unwrap_or_default();
            u.host_str()
                .is_some_and(|h| format!("{h}{port}").eq_ignore_ascii_case(host))
        }),
    }
}

/// Whether the widget API may be called from where this request comes: no Origin (not a
/// browser, or same-origin navigation), or one of `allowed`.
pub fn origin_allowed(allowed: &[String], req: &ApiRequest) -> bool {
    req.header("origin")
        .is_none_or(|o| allowed.iter().any(|a| a == o))
}

/// JSON only: a browser cannot send `application/json` across sites without a CORS
/// preflight, which only the allowed origins pass.
pub fn is_json(req: &ApiRequest) -> bool {
    req.header("content-type").is_some_and(|c| {
        c.split(';')
            .next()
            .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"))
    })
}

/// The `Set-Cookie` value that keeps the thread a year.
pub fn thread_cookie(token: &str) -> String {
    format!("{COOKIE}={token}; Path=/; Max-Age=31536000; HttpOnly; Secure; SameSite=Lax")
}

/// A store failure: try again later when it may pass, our fault otherwise.
pub fn store_err(e: StoreError) -> ApiError {
    ApiError::store(e)
}
