//! `/executors`: the administrators' page — categories and their executors, add one, change
//! priority and max_tickets, switch active, remove. Plain HTML forms that work without
//! JavaScript. The admin enters an API key once; the session cookie then holds a proof
//! that they had it (a time and a nonce signed with the key: HMAC-SHA256), never the key,
//! which stays in the configuration only. The cookie has no expiry, so it goes when the
//! browser closes, and the proof is refused after 12 hours or once the key is removed;
//! HttpOnly, SameSite=Strict, only for `/executors`. Every action is a POST from this page:
//! a page elsewhere cannot make the browser send the cookie (SameSite=Strict), and its
//! Origin is refused besides.

use minijinja::{Environment, context};
use serde_json::json;
use zayavka::Deps;
use zayavka::api_keys::{ApiKeys, Scope};
use zayavka::http::{ApiError, ApiRequest, ApiResponse};
use zayavka::support::web::from_our_host;
use zayavka::texts::Lang;
use zayavka::tickets::api as checks;
use zayavka::tickets::store;

pub const SESSION_COOKIE: &str = "zayavka_admin";
const PATH: &str = "/executors";

const STYLE: &str = "body{font:16px/1.5 system-ui,sans-serif;margin:0;background:#f5f6f8;color:#1d2330}\
main{max-width:64rem;margin:0 auto;padding:1.5rem 1rem}h1{font-size:1.5rem;margin:0 0 .5rem}\
h2{font-size:1.2rem;margin:1.5rem 0 .5rem}table{border-collapse:collapse;width:100%;background:#fff}\
th,td{border:1px solid #d5d9e0;padding:.4rem .5rem;text-align:left;vertical-align:middle}\
label{font-weight:600}input,select{font:inherit;padding:.35rem;border:1px solid #9aa3b2;border-radius:.3rem;background:#fff}\
input[type=number]{width:5rem}button{font:inherit;font-weight:600;padding:.4rem .9rem;border:0;border-radius:.3rem;background:#2f6fed;color:#fff;cursor:pointer}\
button.secondary{background:#59627a}button.danger{background:#c0392b}form.inline{display:inline}\
input:focus,select:focus,button:focus{outline:3px solid #2f6fed;outline-offset:2px}\
.error{background:#fdecec;border:1px solid #d93636;padding:.75rem;border-radius:.4rem}\
.ok{background:#e8f6ec;border:1px solid #2e9b4f;padding:.75rem;border-radius:.4rem}\
.add{background:#fff;border:1px solid #d5d9e0;padding:1rem;border-radius:.4rem;margin-top:1.5rem}\
.add label{display:block;margin-top:.6rem}.bar{display:flex;justify-content:space-between;align-items:center}\
@media (max-width:40rem){table,tbody,tr,td{display:block}thead{position:absolute;left:-10000px}\
tr{margin-bottom:1rem;border:1px solid #d5d9e0}td{border:0;border-bottom:1px solid #eef0f3}\
td::before{content:attr(data-label);display:block;font-size:.85rem;color:#4a5262}}";

const LOGIN: &str = r#"<!doctype html>
<html lang="{{ lang }}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ t.title }}</title><style>{{ style }}</style></head>
<body><main>
<h1>{{ t.title }}</h1>
<p>{{ t.intro }}</p>
{% if error %}<div class="error" role="alert" id="form-error"><strong>{{ t.error_label }}:</strong> {{ error }}</div>{% endif %}
<form method="post" action="/executors">
<input type="hidden" name="action" value="login">
<p><label for="key">{{ t.key_label }}</label><br>
<input id="key" name="key" type="password" autocomplete="current-password" required size="40"><br>
<small>{{ t.key_hint }}</small></p>
<button type="submit">{{ t.login }}</button>
</form>
</main></body></html>
"#;

const PAGE: &str = r#"<!doctype html>
<html lang="{{ lang }}"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ t.title }}</title><style>{{ style }}</style></head>
<body><main>
<div class="bar"><h1>{{ t.title }}</h1>
<form method="post" action="/executors" class="inline"><input type="hidden" name="action" value="logout"><button class="secondary" type="submit">{{ t.logout }}</button></form></div>
<p>{{ t.intro }}</p>
{% if error %}<div class="error" role="alert"><strong>{{ t.error_label }}:</strong> {{ error }}</div>{% endif %}
{% if ok %}<div class="ok" role="status">{{ ok }}</div>{% endif %}
{% if not categories %}<p>{{ t.no_categories }}</p>{% endif %}
{% for c in categories %}
<section aria-labelledby="cat-{{ c.id }}">
<h2 id="cat-{{ c.id }}">{{ c.name }} <small>(#{{ c.id }})</small></h2>
{% if not c.executors %}<p>{{ t.no_executors }}</p>{% else %}
<table>
<thead><tr><th>{{ t.col_user }}</th><th>{{ t.col_telegram }}</th><th>{{ t.col_priority }} / {{ t.col_max }}</th><th>{{ t.col_open }}</th><th>{{ t.col_active }}</th><th></th></tr></thead>
<tbody>
{% for e in c.executors %}
<tr id="executor-{{ e.id }}">
<td data-label="{{ t.col_user }}">{{ e.user_name }}</td>
<td data-label="{{ t.col_telegram }}">{% if e.telegram_id %}{{ e.telegram_id }}{% else %}{{ t.not_bound }}{% endif %}</td>
<td data-label="{{ t.col_priority }} / {{ t.col_max }}"><form method="post" action="/executors" class="inline">
<input type="hidden" name="action" value="update"><input type="hidden" name="id" value="{{ e.id }}">
<label for="priority-{{ e.id }}">{{ t.col_priority }}</label>
<input id="priority-{{ e.id }}" name="priority" type="number" min="0" max="1000" value="{{ e.priority }}" required>
<label for="max-{{ e.id }}">{{ t.col_max }}</label>
<input id="max-{{ e.id }}" name="max_tickets" type="number" min="1" max="1000" value="{{ e.max_tickets }}" required>
<button type="submit" name="save" value="{{ e.id }}">{{ t.save }}</button></form></td>
<td data-label="{{ t.col_open }}">{{ e.open_tickets }}</td>
<td data-label="{{ t.col_active }}">{% if e.is_active %}{{ t.yes }}{% else %}{{ t.no }}{% endif %}</td>
<td><form method="post" action="/executors" class="inline">
<input type="hidden" name="action" value="toggle"><input type="hidden" name="id" value="{{ e.id }}">
<input type="hidden" name="active" value="{% if e.is_active %}false{% else %}true{% endif %}">
<button class="secondary" type="submit" id="toggle-{{ e.id }}">{% if e.is_active %}{{ t.deactivate }}{% else %}{{ t.activate }}{% endif %}</button></form>
<form method="post" action="/executors" class="inline">
<input type="hidden" name="action" value="remove"><input type="hidden" name="id" value="{{ e.id }}">
<button class="danger" type="submit" id="remove-{{ e.id }}">{{ t.remove }}</button></form></td>
</tr>
{% endfor %}
</tbody></table>
{% endif %}
</section>
{% endfor %}
{% if categories %}
<form method="post" action="/executors" class="add" aria-labelledby="add-title">
<h2 id="add-title">{{ t.add_title }}</h2>
<input type="hidden" name="action" value="add">
{% if not users %}<p>{{ t.no_users }}</p>{% endif %}
<label for="add-user">{{ t.field_user }}</label>
<select id="add-user" name="user_id" required>{% for u in users %}<option value="{{ u.id }}">{{ u.name }} (#{{ u.id }})</option>{% endfor %}</select>
<label for="add-category">{{ t.field_category }}</label>
<select id="add-category" name="category_id" required>{% for c in categories %}<option value="{{ c.id }}">{{ c.name }}</option>{% endfor %}</select>
<label for="add-priority">{{ t.col_priority }}</label>
<input id="add-priority" name="priority" type="number" min="0" max="1000" value="5" required>
<label for="add-max">{{ t.col_max }}</label>
<input id="add-max" name="max_tickets" type="number" min="1" max="1000" value="10" required>
<p><button type="submit" id="add-submit">{{ t.add }}</button></p>
</form>
{% endif %}
</main></body></html>
"#;

fn lang_of(req: &ApiRequest) -> Lang {
    Lang::from_code(req.header("accept-language"))
}

fn code(lang: Lang) -> &'static str {
    match lang {
        Lang::Ru => "ru",
        Lang::En => "en",
    }
}

fn render(src: &str, ctx: minijinja::Value) -> String {
    let mut env = Environment::new();
    env.set_auto_escape_callback(|_| minijinja::AutoEscape::Html);
    env.add_template("page.html", src)
        .and_then(|_| env.get_template("page.html"))
        .and_then(|t| t.render(ctx))
        .unwrap_or_else(|e| {
            tracing::error!(error = %e, "executors page template failed");
            String::from(
                "<!doctype html><title>Executors</title><p>The page is unavailable right now.</p>",
            )
        })
}

fn texts(lang: Lang) -> minijinja::Value {
    minijinja::Value::from_serialize(
        lang.texts()
            .executors_page
            .pairs()
            .into_iter()
            .collect::<std::collections::BTreeMap<_, _>>(),
    )
}

/// How long a sign-in lasts at most.
const SESSION_SECS: i64 = 12 * 3600;

/// Whether the cookie proves a sign-in with one of the admin keys in the last 12 hours.
fn session(deps: &Deps, keys: &ApiKeys, req: &ApiRequest) -> bool {
    let Some(raw) = req.cookie(SESSION_COOKIE) else {
        return false;
    };
    let mut parts = raw.splitn(3, '.');
    let (Some(at), Some(nonce), Some(signature)) = (parts.next(), parts.next(), parts.next())
    else {
        return false;
    };
    let Ok(at_secs) = at.parse::<i64>() else {
        return false;
    };
    // The time comes from the browser: checked, so an extreme one is refused, not a panic.
    let Some(age) = deps.clock.now_secs().checked_sub(at_secs) else {
        return false;
    };
    (0..=SESSION_SECS).contains(&age)
        && keys.signed(Scope::Admin, &format!("{at}.{nonce}"), signature)
}

fn session_cookie(deps: &Deps, key: &str) -> String {
    let message = format!(
        "{}.{}",
        deps.clock.now_secs(),
        uuid::Uuid::new_v4().simple()
    );
    let signature = zayavka::api_keys::sign(key, &message);
    format!(
        "{SESSION_COOKIE}={message}.{signature}; Path={PATH}; HttpOnly; Secure; SameSite=Strict"
    )
}

fn cleared_cookie() -> String {
    format!("{SESSION_COOKIE}=; Path={PATH}; Max-Age=0; HttpOnly; Secure; SameSite=Strict")
}

fn login(lang: Lang, status: u16, error: Option<&str>) -> ApiResponse {
    let body = render(
        LOGIN,
        context! { lang => code(lang), t => texts(lang), style => minijinja::Value::from_safe_string(STYLE.into()), error => error },
    );
    ApiResponse::html(status, body).header("cache-control", "no-store")
}

/// The page with every category and its executors.
async fn full_page(
    deps: &Deps,
    lang: Lang,
    status: u16,
    ok: Option<&str>,
    error: Option<&str>,
) -> Result<ApiResponse, ApiError> {
    let users = store::users(deps).await.map_err(ApiError::store)?;
    let name_of = |id: i64| {
        users
            .iter()
            .find(|u| u.id == id)
            .map(|u| (u.name.clone(), u.telegram_id))
            .unwrap_or_else(|| (format!("#{id}"), None))
    };
    let mut categories = Vec::new();
    for c in store::categories(deps).await.map_err(ApiError::store)? {
        let executors: Vec<_> = store::executors(deps, Some(c.id))
            .await
            .map_err(ApiError::store)?
            .into_iter()
            .map(|e| {
                let (user_name, telegram_id) = name_of(e.user_id);
                json!({"id": e.id, "user_name": user_name, "telegram_id": telegram_id,
                       "priority": e.priority, "max_tickets": e.max_tickets,
                       "open_tickets": e.open_tickets, "is_active": e.is_active})
            })
            .collect();
        categories.push(json!({"id": c.id, "name": c.name, "executors": executors}));
    }
    let users: Vec<_> = users
        .iter()
        .map(|u| json!({"id": u.id, "name": u.name}))
        .collect();
    let body = render(
        PAGE,
        context! { lang => code(lang), t => texts(lang), style => minijinja::Value::from_safe_string(STYLE.into()),
        categories => categories, users => users, ok => ok, error => error },
    );
    Ok(ApiResponse::html(status, body).header("cache-control", "no-store"))
}

pub async fn show(deps: &Deps, keys: &ApiKeys, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
    let lang = lang_of(req);
    if !session(deps, keys, req) {
        return Ok(login(lang, 200, None));
    }
    let t = lang.texts().executors_page;
    let ok = match req.query.get("ok").map(String::as_str) {
        Some("added") => Some(t.ok_added),
        Some("saved") => Some(t.ok_saved),
        Some("activated") => Some(t.ok_activated),
        Some("deactivated") => Some(t.ok_deactivated),
        Some("removed") => Some(t.ok_removed),
        _ => None,
    };
    full_page(deps, lang, 200, ok, None).await
}

fn see_other(to: &str) -> ApiResponse {
    ApiResponse::new(303, "text/plain; charset=utf-8", String::new()).header("location", to)
}

/// A failed action: the page again, with what was wrong and its status.
async fn refused(deps: &Deps, lang: Lang, e: ApiError) -> Result<ApiResponse, ApiError> {
    if e.status >= 500 {
        return Err(e);
    }
    full_page(deps, lang, e.status, None, Some(&e.message)).await
}

fn form_id(form: &[(String, String)], name: &str) -> Result<i64, ApiError> {
    field(form, name)
        .and_then(|v| v.parse::<i64>().ok())
        .filter(|n| *n > 0)
        .ok_or_else(|| ApiError::invalid(name, "must be a whole number above 0"))
}

fn field<'a>(form: &'a [(String, String)], name: &str) -> Option<&'a str> {
    form.iter().find(|(k, _)| k == name).map(|(_, v)| v.trim())
}

pub async fn act(deps: &Deps, keys: &ApiKeys, req: &ApiRequest) -> Result<ApiResponse, ApiError> {
    let lang = lang_of(req);
    let t = lang.texts().executors_page;
    if req.body.len() > crate::MAX_BODY {
        return Err(ApiError::too_large(crate::MAX_BODY));
    }
    let form: Vec<(String, String)> = serde_urlencoded::from_bytes(&req.body)
        .map_err(|e| ApiError::bad_request(format!("the form is not URL-encoded: {e}")))?;
    if !from_our_host(req) {
        tracing::warn!("executors page posted from another site");
        return Ok(login(lang, 403, Some(t.expired)));
    }
    let action = field(&form, "action").unwrap_or_default();
    if action == "login" {
        return sign_in(deps, keys, req, &form, lang).await;
    }
    if action == "logout" {
        let mut r = see_other(PATH);
        r.cookies.push(cleared_cookie());
        return Ok(r);
    }
    if !session(deps, keys, req) {
        return Ok(login(lang, 401, Some(t.expired)));
    }
    let done = match action {
        "add" => add(deps, &form).await,
        "update" => update(deps, &form).await,
        "toggle" => toggle(deps, &form).await,
        "remove" => remove(deps, &form).await,
        other => Err(ApiError::invalid(
            "action",
            format!("{other:?} is not an action of this page"),
        )),
    };
    match done {
        Ok(code) => Ok(see_other(&format!("{PATH}?ok={code}"))),
        Err(e) => refused(deps, lang, e).await,
    }
}

/// The sign-in form: limited per address and in all before the key is looked at, and only
/// an admin key opens the page (a website's `leads` key is refused, 403).
async fn sign_in(
    deps: &Deps,
    keys: &ApiKeys,
    req: &ApiRequest,
    form: &[(String, String)],
    lang: Lang,
) -> Result<ApiResponse, ApiError> {
    let t = lang.texts().executors_page;
    let allowed = zayavka::sign_in::DEFAULT
        .attempt(deps, req.source_ip.as_deref())
        .await
        .map_err(ApiError::store)?;
    if let Err(retry_after) = allowed {
        tracing::warn!("executors page: too many sign-in attempts");
        return Ok(login(lang, 429, Some(t.too_many_attempts))
            .header("retry-after", retry_after.to_string()));
    }
    let key = field(form, "key").unwrap_or_default();
    match keys.caller(key) {
        None => Ok(login(lang, 401, Some(t.wrong_key))),
        Some(c) if !c.is_admin() => Ok(login(lang, 403, Some(t.not_admin))),
        Some(_) => {
            if let Err(e) = zayavka::sign_in::DEFAULT
                .succeeded(deps, req.source_ip.as_deref())
                .await
            {
                // The sign-in stands; the window only ends a little sooner for this address.
                tracing::warn!(error = %e, "sign-in attempt not given back");
            }
            let mut r = see_other(PATH);
            r.cookies.push(session_cookie(deps, key));
            Ok(r)
        }
    }
}

async fn executor(
    deps: &Deps,
    form: &[(String, String)],
) -> Result<zayavka::tickets::model::Executor, ApiError> {
    let id = form_id(form, "id")?;
    store::executor_by_id(deps, id)
        .await
        .map_err(ApiError::store)?
        .ok_or_else(|| ApiError::not_found(format!("no executor {id}")))
}

async fn add(deps: &Deps, form: &[(String, String)]) -> Result<&'static str, ApiError> {
    let body = json!({
        "user_id": field(form, "user_id").unwrap_or_default(),
        "category_id": field(form, "category_id").unwrap_or_default(),
        "priority": field(form, "priority").unwrap_or("0"),
        "max_tickets": field(form, "max_tickets").unwrap_or("10"),
    });
    let n = checks::new_executor(&body).map_err(|e| ApiError::invalid(&e.field, e.message))?;
    if store::user(deps, n.user_id)
        .await
        .map_err(ApiError::store)?
        .is_none()
    {
        return Err(ApiError::invalid(
            "user_id",
            format!("there is no user {}", n.user_id),
        ));
    }
    if store::category(deps, n.category_id)
        .await
        .map_err(ApiError::store)?
        .is_none()
    {
        return Err(ApiError::invalid(
            "category_id",
            format!("there is no category {}", n.category_id),
        ));
    }
    store::add_executor(deps, n)
        .await
        .map_err(crate::ticket_err)?;
    Ok("added")
}

async fn update(deps: &Deps, form: &[(String, String)]) -> Result<&'static str, ApiError> {
    let e = executor(deps, form).await?;
    let body = json!({
        "priority": field(form, "priority").unwrap_or_default(),
        "max_tickets": field(form, "max_tickets").unwrap_or_default(),
    });
    let patch =
        checks::executor_patch(&body).map_err(|e| ApiError::invalid(&e.field, e.message))?;
    store::update_executor(deps, &e, &patch)
        .await
        .map_err(ApiError::store)?
        .ok_or_else(|| ApiError::not_found(format!("no executor {}", e.id)))?;
    Ok("saved")
}

async fn toggle(deps: &Deps, form: &[(String, String)]) -> Result<&'static str, ApiError> {
    let e = executor(deps, form).await?;
    let active = match field(form, "active") {
        Some("true") => true,
        Some("false") => false,
        _ => return Err(ApiError::invalid("active", "must be true or false")),
    };
    let patch = store::ExecutorPatch {
        is_active: Some(active),
        ..Default::default()
    };
    store::update_executor(deps, &e, &patch)
        .await
        .map_err(ApiError::store)?
        .ok_or_else(|| ApiError::not_found(format!("no executor {}", e.id)))?;
    Ok(if active { "activated" } else { "deactivated" })
}

async fn remove(deps: &Deps, form: &[(String, String)]) -> Result<&'static str, ApiError> {
    let e = executor(deps, form).await?;
    store::remove_executor(deps, &e)
        .await
        .map_err(ApiError::store)?;
    Ok("removed")
}
