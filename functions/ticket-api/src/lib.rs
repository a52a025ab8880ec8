//! ticket-api: the executor workflow's HTTP side (`Authorization: Bearer <key>`): tickets
//! and reading categories need a `tickets` key, everything else an `admin` key:
//!
//! - users: `POST /api/users`, `GET /api/users`, `GET/PATCH /api/users/{id}`,
//!   `POST /api/users/{id}/telegram-link` (a single-use 24 h link that binds a Telegram
//!   account);
//! - categories: `POST/GET /api/categories`;
//! - executors: `POST/GET /api/executors`, `PATCH/DELETE /api/executors/{id}`;
//! - tickets: `POST/GET /api/tickets`, `GET /api/tickets/{id}` (with its history);
//! - `GET/POST /executors`: the administrators' page (HTML, no JavaScript needed).
//!
//! Routing and HTTP glue only: the checks are in `zayavka::tickets::api`, the steps in
//! `tickets::workflow`, the storage in `tickets::store`.

mod page;

use async_trait::async_trait;
use serde_json::{Value, json};
use zayavka::Deps;
use zayavka::api_keys::{ApiKeys, Scope};
use zayavka::config::{ConfigError, EnvReader, EnvSource};
use zayavka::http::{ApiError, ApiRequest, ApiResponse, HttpFunction, no_route};
use zayavka::ports::table::StoreError;
use zayavka::tickets::api::{self as checks, FieldError};
use zayavka::tickets::config::TicketsConfig;
use zayavka::tickets::model::{Status, User};
use zayavka::tickets::store::{self, TicketError, TicketFilter};
use zayavka::tickets::workflow::{self, FlowError};

pub const NAME: &str = "ticket-api";
pub const USERS_POST: &str = "POST /api/users";
pub const USERS_GET: &str = "GET /api/users";
pub const USER_GET: &str = "GET /api/users/{id}";
pub const USER_PATCH: &str = "PATCH /api/users/{id}";
pub const USER_LINK: &str = "POST /api/users/{id}/telegram-link";
pub const CATEGORIES_POST: &str = "POST /api/categories";
pub const CATEGORIES_GET: &str = "GET /api/categories";
pub const EXECUTORS_POST: &str = "POST /api/executors";
pub const EXECUTORS_GET: &str = "GET /api/executors";
pub const EXECUTOR_PATCH: &str = "PATCH /api/executors/{id}";
pub const EXECUTOR_DELETE: &str = "DELETE /api/executors/{id}";
pub const TICKETS_POST: &str = "POST /api/tickets";
pub const TICKETS_GET: &str = "GET /api/tickets";
pub const TICKET_GET: &str = "GET /api/tickets/{id}";
pub const PAGE: &str = "GET /executors";
pub const PAGE_POST: &str = "POST /executors";
pub const MAX_BODY: usize = 32 * 1024;
/// Tickets per page when the caller does not say.
pub const DEFAULT_PAGE: u32 = 50;
pub const MAX_PAGE: u32 = 100;

pub use page::SESSION_COOKIE;

#[derive(Debug, Clone)]
pub struct Config {
    pub api_keys: ApiKeys,
    pub tickets: TicketsConfig,
}

impl Config {
    pub fn read(env: &dyn EnvSource) -> Result<Self, ConfigError> {
        let mut r = EnvReader::new(env);
        let api_keys = ApiKeys::read(&mut r);
        let tickets = TicketsConfig::read(&mut r);
        r.finish()?;
        Ok(Self { api_keys, tickets })
    }
}

pub struct TicketApi {
    deps: Deps,
    cfg: Config,
}

fn invalid(e: FieldError) -> ApiError {
    ApiError::invalid(&e.field, e.message)
}

fn flow_err(e: FlowError) -> ApiError {
    if let FlowError::Conflict { field, message } = &e {
        return ApiError::new(409, "conflict", format!("{field}: {message}"));
    }
    if e.is_retryable() {
        ApiError::unavailable(e)
    } else {
        ApiError::internal(e)
    }
}

/// A store failure, or a conflict named by its field (409).
pub(crate) fn ticket_err(e: TicketError) -> ApiError {
    match e {
        TicketError::Store(e) => ApiError::store(e),
        TicketError::Conflict { field, message } => {
            ApiError::new(409, "conflict", format!("{field}: {message}"))
        }
        other => ApiError::new(409, "conflict", other.to_string()),
    }
}

/// A path id: a positive whole number.
fn path_id(req: &ApiRequest) -> Result<i64, ApiError> {
    let raw = req.path_param("id")?;
    raw.parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| ApiError::bad_request(format!("id: {raw:?} is not a whole number above 0")))
}

fn query_id(req: &ApiRequest, name: &str) -> Result<Option<i64>, ApiError> {
    match req
        .query
        .get(name)
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
    {
        None => Ok(None),
        Some(raw) => raw
            .parse::<i64>()
            .ok()
            .filter(|n| *n > 0)
            .map(Some)
            .ok_or_else(|| {
                ApiError::bad_request(format!("{name}: {raw:?} is not a whole number above 0"))
            }),
    }
}

fn user_json(u: &User) -> Value {
    json!({"id": u.id, "name": u.name, "telegram_id": u.telegram_id, "created_at": u.created_at})
}

impl TicketApi {
    pub fn new(deps: Deps, cfg: Config) -> Self {
        Self { deps, cfg }
    }

    fn body(req: &ApiRequest) -> Result<Value, ApiError> {
        req.json(MAX_BODY)
    }

    async fn user_or_404(&self, id: i64) -> Result<User, ApiError> {
        store::user(&self.deps, id)
            .await
            .map_err(ApiError::store)?
            .ok_or_else(|| ApiError::not_found(format!("no user {id}")))
    }

    /// A user named in a body: 422 naming the field when there is none.
    async fn named_user(&self, field: &str, id: i64) -> Result<User, ApiError> {
        store::user(&self.deps, id)
            .await
            .map_err(ApiError::store)?
            .ok_or_else(|| ApiError::invalid(field, format!("there is no user {id}")))
    }

    async fn named_category(&self, id: i64) -> Result<(), ApiError> {
        match store::category(&self.deps, id)
            .await
            .map_err(ApiError::store)?
        {
            Some(_) => Ok(()),
            None => Err(ApiError::invalid(
                "category_id",
                format!("there is no category {id}"),
            )),
        }
    }

    async fn create_user(&self, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
        let (name, tg) = checks::new_user(&Self::body(req)?).map_err(invalid)?;
        let u = store::create_user(&self.deps, &name, tg)
            .await
            .map_err(ticket_err)?;
        Ok(ApiResponse::json(201, &user_json(&u)))
    }

    async fn list_users(&self) -> Result<ApiResponse, ApiError> {
        let users = store::users(&self.deps).await.map_err(ApiError::store)?;
        let items: Vec<Value> = users.iter().map(user_json).collect();
        Ok(ApiResponse::json(200, &json!({"items": items})))
    }

    async fn patch_user(&self, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
        let id = path_id(req)?;
        let (name, telegram) = checks::user_patch(&Self::body(req)?).map_err(invalid)?;
        let current = self.user_or_404(id).await?;
        let u = store::update_user(&self.deps, &current, name.as_deref(), telegram, None, None)
            .await
            .map_err(ticket_err)?;
        Ok(ApiResponse::json(200, &user_json(&u)))
    }

    async fn link(&self, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
        let id = path_id(req)?;
        // No body, `{}`, or `{"rebind": true}`; any other field is a mistake worth saying.
        let rebind = if req.body.iter().all(u8::is_ascii_whitespace) {
            false
        } else {
            checks::link_request(&Self::body(req)?).map_err(invalid)?
        };
        let user = self.user_or_404(id).await?;
        // Whoever opens a link is bound in place of the account bound now: only when the
        // admin asked for exactly that (the replaced account is told when it happens).
        if user.telegram_id.is_some() && !rebind {
            return Err(ApiError::new(
                409,
                "conflict",
                format!(
                    "telegram_id: user {id} is already bound to a Telegram account; a link \
                     that binds another one in its place needs {{\"rebind\": true}}"
                ),
            ));
        }
        let Some(username) = self.cfg.tickets.bot_username.clone() else {
            return Err(ApiError::new(
                503,
                "not_configured",
                "binding links need TELEGRAM_STAFF_BOT_USERNAME (the staff bot's username)",
            ));
        };
        let (token, expires_at) = store::new_link(&self.deps, user.id, rebind)
            .await
            .map_err(ApiError::store)?;
        Ok(ApiResponse::json(
            201,
            &json!({
                "user_id": user.id,
                "url": format!("https://t.me/{username}?start={token}"),
                "expires_at": zayavka::time::timestamp(expires_at),
                "single_use": true,
                "rebind": rebind,
            }),
        ))
    }

    async fn create_category(&self, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
        let (name, managers) = checks::new_category(&Self::body(req)?).map_err(invalid)?;
        for m in &managers {
            self.named_user("manager_user_ids", *m).await?;
        }
        let c = store::create_category(&self.deps, &name, managers)
            .await
            .map_err(ApiError::store)?;
        Ok(ApiResponse::json(201, &c))
    }

    async fn list_categories(&self) -> Result<ApiResponse, ApiError> {
        let items = store::categories(&self.deps)
            .await
            .map_err(ApiError::store)?;
        Ok(ApiResponse::json(200, &json!({"items": items})))
    }

    async fn create_executor(&self, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
        let n = checks::new_executor(&Self::body(req)?).map_err(invalid)?;
        self.named_user("user_id", n.user_id).await?;
        self.named_category(n.category_id).await?;
        let e = store::add_executor(&self.deps, n)
            .await
            .map_err(ticket_err)?;
        Ok(ApiResponse::json(201, &e))
    }

    async fn list_executors(&self, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
        let category = query_id(req, "category_id")?;
        if let Some(c) = category
            && store::category(&self.deps, c)
                .await
                .map_err(ApiError::store)?
                .is_none()
        {
            return Err(ApiError::not_found(format!("no category {c}")));
        }
        let items = store::executors(&self.deps, category)
            .await
            .map_err(ApiError::store)?;
        Ok(ApiResponse::json(200, &json!({"items": items})))
    }

    async fn executor_or_404(
        &self,
        id: i64,
    ) -> Result<zayavka::tickets::model::Executor, ApiError> {
        store::executor_by_id(&self.deps, id)
            .await
            .map_err(ApiError::store)?
            .ok_or_else(|| ApiError::not_found(format!("no executor {id}")))
    }

    async fn patch_executor(&self, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
        let id = path_id(req)?;
        let patch = checks::executor_patch(&Self::body(req)?).map_err(invalid)?;
        let e = self.executor_or_404(id).await?;
        match store::update_executor(&self.deps, &e, &patch)
            .await
            .map_err(ApiError::store)?
        {
            Some(e) => Ok(ApiResponse::json(200, &e)),
            None => Err(ApiError::not_found(format!("no executor {id}"))),
        }
    }

    async fn delete_executor(&self, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
        let id = path_id(req)?;
        let e = self.executor_or_404(id).await?;
        store::remove_executor(&self.deps, &e)
            .await
            .map_err(ApiError::store)?;
        Ok(ApiResponse::new(204, "application/json", String::new()))
    }

    async fn create_ticket(&self, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
        let n = checks::new_ticket(&Self::body(req)?).map_err(invalid)?;
        let origin = match req.header("idempotency-key").map(str::trim) {
            None | Some("") => None,
            Some(k) if k.len() <= 128 && k.chars().all(|c| c.is_ascii_graphic()) => {
                Some(format!("api#{k}"))
            }
            Some(_) => {
                return Err(ApiError::invalid(
                    "Idempotency-Key",
                    "must be 1 to 128 visible ASCII characters",
                ));
            }
        };
        self.named_category(n.category_id).await?;
        self.named_user("author_user_id", n.author_user_id).await?;
        let (t, created) =
            workflow::create(&self.deps, &self.cfg.tickets, n, origin.as_deref(), false)
                .await
                .map_err(flow_err)?;
        Ok(ApiResponse::json(
            if created { 201 } else { 200 },
            &t.view(None),
        ))
    }

    async fn get_ticket(&self, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
        let id = path_id(req)?;
        let t = store::ticket(&self.deps, id)
            .await
            .map_err(ApiError::store)?
            .ok_or_else(|| ApiError::not_found(format!("no ticket {id}")))?;
        let history = store::history(&self.deps, id)
            .await
            .map_err(ApiError::store)?;
        Ok(ApiResponse::json(200, &t.view(Some(&history))))
    }

    async fn list_tickets(&self, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
        let status = match req.query.get("status").map(|s| s.trim()).filter(|s| !s.is_empty()) {
            None => None,
            Some(s) => Some(Status::parse(s).ok_or_else(|| {
                ApiError::bad_request(format!(
                    "status: {s:?} is not one of created, in_work, postponed, on_confirmation, completed (or 1-5)"
                ))
            })?),
        };
        let filter = TicketFilter {
            status,
            category_id: query_id(req, "category_id")?,
            executor_user_id: query_id(req, "executor_user_id")?,
        };
        let limit = match req.query.get("limit") {
            None => DEFAULT_PAGE,
            Some(l) => l
                .parse::<u32>()
                .ok()
                .filter(|n| (1..=MAX_PAGE).contains(n))
                .ok_or_else(|| ApiError::bad_request(format!("limit: must be 1 to {MAX_PAGE}")))?,
        };
        let cursor = req.query.get("cursor").filter(|c| !c.is_empty()).cloned();
        let (tickets, next) = match store::list_tickets(&self.deps, &filter, limit, cursor).await {
            Ok(found) => found,
            // Only the cursor's own decoding (the adapters' "malformed query cursor").
            Err(StoreError::Invalid(m)) if m.contains("cursor") => {
                return Err(ApiError::bad_request("cursor: not one this API gave"));
            }
            Err(e) => return Err(ApiError::store(e)),
        };
        let items: Vec<_> = tickets.iter().map(|t| t.view(None)).collect();
        Ok(ApiResponse::json(
            200,
            &json!({"items": items, "next_cursor": next}),
        ))
    }

    async fn api(&self, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
        self.cfg.api_keys.authorize(req, scope_of(&req.route_key))?;
        match req.route_key.as_str() {
            USERS_POST => self.create_user(req).await,
            USERS_GET => self.list_users().await,
            USER_GET => {
                let u = self.user_or_404(path_id(req)?).await?;
                Ok(ApiResponse::json(200, &user_json(&u)))
            }
            USER_PATCH => self.patch_user(req).await,
            USER_LINK => self.link(req).await,
            CATEGORIES_POST => self.create_category(req).await,
            CATEGORIES_GET => self.list_categories().await,
            EXECUTORS_POST => self.create_executor(req).await,
            EXECUTORS_GET => self.list_executors(req).await,
            EXECUTOR_PATCH => self.patch_executor(req).await,
            EXECUTOR_DELETE => self.delete_executor(req).await,
            TICKETS_POST => self.create_ticket(req).await,
            TICKETS_GET => self.list_tickets(req).await,
            TICKET_GET => self.get_ticket(req).await,
            _ => Err(no_route(req)),
        }
    }
}

/// The scope a route needs. An internal system with a `tickets` key creates and reads
/// tickets, and reads the categories to file them under; staff, executors and binding links
/// are the admins' alone (a binding link lets whoever opens it act as that person).
fn scope_of(route: &str) -> Scope {
    match route {
        TICKETS_POST | TICKETS_GET | TICKET_GET | CATEGORIES_GET => Scope::Tickets,
        _ => Scope::Admin,
    }
}

#[async_trait]
impl HttpFunction for TicketApi {
    fn name(&self) -> &'static str {
        NAME
    }

    fn backend(&self) -> zayavka::deps::Backend {
        self.deps.backend
    }

    fn routes(&self) -> Vec<&'static str> {
        vec![
            "GET /health/ticket-api",
            USERS_POST,
            USERS_GET,
            USER_GET,
            USER_PATCH,
            USER_LINK,
            CATEGORIES_POST,
            CATEGORIES_GET,
            EXECUTORS_POST,
            EXECUTORS_GET,
            EXECUTOR_PATCH,
            EXECUTOR_DELETE,
            TICKETS_POST,
            TICKETS_GET,
            TICKET_GET,
            PAGE,
            PAGE_POST,
        ]
    }

    async fn handle(&self, req: ApiRequest) -> Result<ApiResponse, ApiError> {
        match req.route_key.as_str() {
            PAGE => page::show(&self.deps, &self.cfg.api_keys, &req).await,
            PAGE_POST => page::act(&self.deps, &self.cfg.api_keys, &req).await,
            _ => self.api(&req).await,
        }
    }
}

/// The one constructor, shared by `main.rs` and `zayavka serve`.
pub fn from_env(w: &zayavka::deps::Wiring<'_>) -> Result<TicketApi, ConfigError> {
    Ok(TicketApi::new(w.deps.clone(), Config::read(w.env)?))
}
