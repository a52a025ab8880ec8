//! support-form: the website side of the support relay.
//!
//! - `GET /support`, `POST /support`: an HTML form that works without JavaScript;
//! - `POST /api/feedback/submit`, `GET /api/feedback/threads`: the same for a site widget,
//!   with CORS limited to `SUPPORT_ALLOWED_ORIGINS`.
//!
//! Routing and HTTP glue only: who is who, the checks, the rate limit and the relay are in
//! `zayavka::support` (`site`, `identity`, `submission`, `web`).

mod page;

use async_trait::async_trait;
use serde_json::json;
use zayavka::Deps;
use zayavka::config::{ConfigError, EnvReader};
use zayavka::http::{ApiError, ApiRequest, ApiResponse, HttpFunction, no_route};
use zayavka::support::identity::Claim;
pub use zayavka::support::identity::user_hash;
use zayavka::support::site::Site;
pub use zayavka::support::submission::{MAX_MESSAGE, MAX_SUBJECT, Submission};
pub use zayavka::support::web::{COOKIE, CSRF_COOKIE};
use zayavka::support::web::{
    cookie_token, cors, csrf_cookie, csrf_token, is_json, origin_allowed, posted_by_our_page,
    thread_cookie,
};
use zayavka::texts::Lang;

pub const NAME: &str = "support-form";
pub const PAGE: &str = "GET /support";
pub const POST_PAGE: &str = "POST /support";
pub const SUBMIT: &str = "POST /api/feedback/submit";
pub const THREADS: &str = "GET /api/feedback/threads";
pub const SUBMIT_PREFLIGHT: &str = "OPTIONS /api/feedback/submit";
pub const THREADS_PREFLIGHT: &str = "OPTIONS /api/feedback/threads";
pub const MAX_BODY: usize = 32 * 1024;

/// The support form's settings.
pub use zayavka::support::config::SiteConfig as Config;

pub struct SupportForm {
    deps: Deps,
    site: Option<Site>,
}

impl SupportForm {
    /// Without the support bot's settings the function only answers its health check.
    pub fn new(deps: Deps, cfg: Option<Config>) -> Result<Self, ConfigError> {
        let site = cfg.map(|c| Site::new(deps.clone(), c)).transpose()?;
        Ok(Self { deps, site })
    }

    fn site(&self) -> Result<&Site, ApiError> {
        self.site.as_ref().ok_or_else(|| {
            ApiError::new(
                503,
                "not_configured",
                "support is not configured on this deployment",
            )
        })
    }

    fn cors(&self, req: &ApiRequest, r: ApiResponse) -> ApiResponse {
        let allowed = self.site.as_ref().map(Site::allowed_origins);
        cors(allowed.unwrap_or_default(), req, r)
    }

    /// The form page, with its anti-forgery token (the visitor's, or a new one).
    fn page(
        req: &ApiRequest,
        lang: Lang,
        error: Option<(u16, &str)>,
        v: &page::Values,
    ) -> ApiResponse {
        let csrf = csrf_token(req).unwrap_or_else(zayavka::support::identity::random_token);
        let (status, message) = error.unzip();
        let mut r = ApiResponse::html(status.unwrap_or(200), page::form(lang, message, v, &csrf));
        r.cookies.push(csrf_cookie(&csrf));
        r
    }

    /// The page's form: the answer page, or the form again with what was wrong.
    async fn post_page(&self, req: &ApiRequest, lang: Lang) -> Result<ApiResponse, ApiError> {
        if req.body.len() > MAX_BODY {
            return Err(ApiError::too_large(MAX_BODY));
        }
        let mut s = match Submission::from_form(&req.body) {
            Ok(s) => s,
            Err(e) => return Ok(Self::form_again(req, lang, &e, &page::Values::default())),
        };
        let values = page::Values {
            subject: s.subject.clone().unwrap_or_default(),
            message: s.message.clone(),
            name: s.name.clone(),
            email: s.email.clone(),
        };
        // Before anything is written: posted by our page, not by one elsewhere making the
        // visitor's browser post it.
        if !posted_by_our_page(req, s.csrf.as_deref()) {
            tracing::warn!("support form posted without its page's token or from another site");
            let e = ApiError::forbidden(lang.texts().page_expired);
            return Ok(Self::form_again(req, lang, &e, &values));
        }
        s.thread_token = cookie_token(req);
        match self.site()?.accept(s, req.source_ip.as_deref()).await {
            Ok(a) => {
                let mut r = ApiResponse::html(200, page::success(lang, a.binding_url.as_deref()));
                if let Some(t) = a.thread_token {
                    r.cookies.push(thread_cookie(&t));
                }
                Ok(r)
            }
            Err(e) if matches!(e.status, 422 | 429) => Ok(Self::form_again(req, lang, &e, &values)),
            Err(e) => Err(e),
        }
    }

    fn form_again(
        req: &ApiRequest,
        lang: Lang,
        e: &ApiError,
        values: &page::Values,
    ) -> ApiResponse {
        Self::page(req, lang, Some((e.status, &e.message)), values)
    }

    /// The widget's post, refused before anything is read or written when it comes from a
    /// browser on an origin not allowed, or is not JSON (which a page elsewhere could send
    /// without a CORS preflight).
    async fn checked_submit(&self, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
        let allowed = self
            .site
            .as_ref()
            .map(Site::allowed_origins)
            .unwrap_or_default();
        if !origin_allowed(allowed, req) {
            return Err(ApiError::forbidden("this origin may not post to support"));
        }
        if !is_json(req) {
            return Err(ApiError::new(
                415,
                "unsupported_media_type",
                "send the message as Content-Type: application/json",
            ));
        }
        let s: Submission = req.json(MAX_BODY)?;
        self.submit(req, s).await
    }

    async fn submit(&self, req: &ApiRequest, s: Submission) -> Result<ApiResponse, ApiError> {
        let a = self.site()?.accept(s, req.source_ip.as_deref()).await?;
        Ok(ApiResponse::json(
            200,
            &json!({"id": a.id, "thread_token": a.thread_token, "telegram_binding_url": a.binding_url}),
        ))
    }

    async fn threads(&self, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
        let site = self.site()?;
        let q = |name: &str| req.query.get(name).map(String::as_str);
        let claim = Claim {
            user_id: q("user_id"),
            user_hash: q("user_hash"),
            thread_token: q("thread_token"),
        };
        let list: Vec<_> = site
            .thread(claim)
            .await?
            .iter()
            .map(|m| json!({"id": m.id, "from": if m.from_admin { "support" } else { "you" }, "source": m.source,
                            "subject": m.subject, "text": m.text, "created_at": m.created_at}))
            .collect();
        Ok(ApiResponse::json(200, &json!({"messages": list})))
    }
}

#[async_trait]
impl HttpFunction for SupportForm {
    fn name(&self) -> &'static str {
        NAME
    }

    fn backend(&self) -> zayavka::deps::Backend {
        self.deps.backend
    }

    fn routes(&self) -> Vec<&'static str> {
        vec![
            "GET /health/support-form",
            PAGE,
            POST_PAGE,
            SUBMIT,
            THREADS,
            SUBMIT_PREFLIGHT,
            THREADS_PREFLIGHT,
        ]
    }

    async fn handle(&self, req: ApiRequest) -> Result<ApiResponse, ApiError> {
        let lang = Lang::from_code(req.header("accept-language"));
        let widget = match req.route_key.as_str() {
            PAGE => return Ok(Self::page(&req, lang, None, &page::Values::default())),
            POST_PAGE => return self.post_page(&req, lang).await,
            SUBMIT => self.checked_submit(&req).await,
            THREADS => self.threads(&req).await,
            SUBMIT_PREFLIGHT | THREADS_PREFLIGHT => {
                Ok(ApiResponse::new(204, "text/plain", String::new()))
            }
            _ => return Err(no_route(&req)),
        };
        // The widget's answers, errors too, carry CORS for the allowed origins.
        let r = widget.unwrap_or_else(ApiResponse::from);
        Ok(self.cors(&req, r))
    }
}

/// Builds the function from the environment: support settings when the support bot is
/// configured, nothing but the health check otherwise.
/// The one constructor, shared by `main.rs` and `zayavka serve`.
pub fn from_env(w: &zayavka::deps::Wiring<'_>) -> Result<SupportForm, ConfigError> {
    let mut r = EnvReader::new(w.env);
    let cfg = Config::read_if_configured(&mut r);
    r.finish()?;
    SupportForm::new(w.deps.clone(), cfg)
}
