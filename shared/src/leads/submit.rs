//! Taking a lead in: validating the request, storing lead, batch and jobs in one
//! transaction, and queueing one job per integration.

use std::collections::HashSet;

use serde_json::{Map, Value};

use super::model::*;
use super::store::LeadStore;
use super::{dispatch, view};
use crate::Deps;
use crate::ports::table::StoreError;

/// A 422: which field, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

fn bad(field: impl Into<String>, message: impl Into<String>) -> FieldError {
    FieldError {
        field: field.into(),
        message: message.into(),
    }
}

/// Defaults from the environment, used where a request leaves credentials out. Only the
/// fact that a secret is configured is known here; the workers hold the secrets.
#[derive(Debug, Clone, Default)]
pub struct Defaults {
    pub telegram_bot_token: bool,
    pub telegram_chat_id: Option<String>,
    pub amocrm_subdomain: Option<String>,
    pub amocrm_access_token: bool,
    pub bitrix24_webhook_url: bool,
    pub lead_emails: Vec<String>,
    pub tries: u32,
}

pub const MAX_TRIES: u32 = 10;
pub const DEFAULT_TRIES: u32 = 3;
pub const MAX_LEAD_BYTES: usize = 64 * 1024;
pub const TEMPLATES: [&str; 1] = ["new_lead"];

/// A validated request.
#[derive(Debug, Clone, PartialEq)]
pub struct Submission {
    pub lead_id: Option<String>,
    pub lead: Lead,
    pub jobs: Vec<(Target, u32)>,
}

fn obj<'a>(
    v: Option<&'a Value>,
    field: &str,
) -> Result<Option<&'a Map<String, Value>>, FieldError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Object(m)) => Ok(Some(m)),
        Some(_) => Err(bad(field, "must be an object")),
    }
}

fn text(
    m: Option<&Map<String, Value>>,
    key: &str,
    field: &str,
) -> Result<Option<String>, FieldError> {
    match m.and_then(|m| m.get(key)) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.trim().to_string())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(_) => Err(bad(format!("{field}.{key}"), "must be a string")),
    }
}

fn int(m: Option<&Map<String, Value>>, key: &str, field: &str) -> Result<Option<i64>, FieldError> {
    match m.and_then(|m| m.get(key)) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .map(Some)
            .ok_or_else(|| bad(format!("{field}.{key}"), "must be a whole number")),
        Some(Value::String(s)) => s
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| bad(format!("{field}.{key}"), "must be a whole number")),
        Some(_) => Err(bad(format!("{field}.{key}"), "must be a whole number")),
    }
}

fn first_text(
    sources: &[(Option<&Map<String, Value>>, &str)],
    key: &str,
) -> Result<Option<String>, FieldError> {
    for (m, field) in sources {
        if let Some(v) = text(*m, key, field)? {
            return Ok(Some(v));
        }
    }
    Ok(None)
}

/// An http(s) URL; plain http only to this machine (local development and tests).
pub fn check_url(raw: &str, field: &str) -> Result<String, FieldError> {
    let url = reqwest::Url::parse(raw).map_err(|e| bad(field, format!("not a URL: {e}")))?;
    let loopback = matches!(url.host_str(), Some("localhost" | "127.0.0.1" | "[::1]"));
    match url.scheme() {
        "https" => {}
        "http" if loopback => {}
        "http" => return Err(bad(field, "must use https (leads carry personal data)")),
        other => return Err(bad(field, format!("must be an https URL, not {other}:"))),
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad(field, "has no host"));
    }
    Ok(raw.to_string())
}

fn check_emails(list: &[String], field: &str) -> Result<(), FieldError> {
    if list.is_empty() {
        return Err(bad(field, "needs at least one e-mail address"));
    }
    if list.len() > 50 {
        return Err(bad(field, "at most 50 addresses"));
    }
    for (i, e) in list.iter().enumerate() {
        if !crate::ports::mailer::looks_like_address(e) {
            return Err(bad(
                format!("{field}[{i}]"),
                format!("{e:?} is not an e-mail address"),
            ));
        }
    }
    Ok(())
}

fn email_list(v: Option<&Value>, field: &str) -> Result<Option<Vec<String>>, FieldError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(
            s.split(',')
                .map(|e| e.trim().to_string())
                .filter(|e| !e.is_empty())
                .collect(),
        )),
        Some(Value::Array(items)) => items
            .iter()
            .enumerate()
            .map(|(i, v)| match v {
                Value::String(s) => Ok(s.trim().to_string()),
                _ => Err(bad(format!("{field}[{i}]"), "must be a string")),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err(bad(field, "must be a list of e-mail addresses")),
    }
}

fn check_lead(lead: &Lead) -> Result<(), FieldError> {
    let present = |v: &Option<String>| v.as_deref().is_some_and(|s| !s.trim().is_empty());
    if !present(&lead.name) && !present(&lead.phone) && !present(&lead.email) {
        return Err(bad("lead", "needs at least a name, a phone or an e-mail"));
    }
    for (field, value, max) in [
        ("lead.name", &lead.name, 200),
        ("lead.phone", &lead.phone, 40),
        ("lead.email", &lead.email, 254),
        ("lead.source", &lead.source, 500),
        ("lead.comment", &lead.comment, 10_000),
    ] {
        if value.as_ref().is_some_and(|v| v.chars().count() > max) {
            return Err(bad(field, format!("is longer than {max} characters")));
        }
    }
    if let Some(email) = lead.email.as_deref().filter(|e| !e.is_empty())
        && !crate::ports::mailer::looks_like_address(email)
    {
        return Err(bad(
            "lead.email",
            format!("{email:?} is not an e-mail address"),
        ));
    }
    if let Some(phone) = lead.phone.as_deref().filter(|p| !p.is_empty()) {
        let digits = phone.chars().filter(char::is_ascii_digit).count();
        let allowed = phone
            .chars()
            .all(|c| c.is_ascii_digit() || " +-()./".contains(c));
        if !allowed || !(5..=15).contains(&digits) {
            return Err(bad(
                "lead.phone",
                format!("{phone:?} is not a phone number"),
            ));
        }
    }
    let size = serde_json::to_vec(lead)
        .map(|v| v.len())
        .unwrap_or(usize::MAX);
    if size > MAX_LEAD_BYTES {
        return Err(bad(
            "lead",
            format!("is larger than {MAX_LEAD_BYTES} bytes"),
        ));
    }
    Ok(())
}

fn lead_id_of(v: Option<&Value>) -> Result<Option<String>, FieldError> {
    let id = match v {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Number(n)) if n.is_u64() => n.to_string(),
        Some(Value::String(s)) => s.clone(),
        Some(_) => {
            return Err(bad(
                "lead_id",
                "must be a string or a positive whole number",
            ));
        }
    };
    let ok = !id.is_empty()
        && id.len() <= 64
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c));
    if !ok {
        return Err(bad("lead_id", "1 to 64 characters of A-Z a-z 0-9 - _ . :"));
    }
    Ok(Some(id))
}

fn is_bot_token(t: &str) -> bool {
    match t.split_once(':') {
        Some((id, rest)) => {
            !id.is_empty()
                && id.chars().all(|c| c.is_ascii_digit())
                && rest.len() >= 20
                && rest
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        }
        None => false,
    }
}

fn is_chat_id(c: &str) -> bool {
    if let Some(name) = c.strip_prefix('@') {
        return (5..=32).contains(&name.len())
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    }
    c.strip_prefix('-').unwrap_or(c).parse::<u64>().is_ok()
}

/// Validates a send-batch request. Every problem names its field.
pub fn parse(body: &Value, defaults: &Defaults) -> Result<Submission, FieldError> {
    let root = body
        .as_object()
        .ok_or_else(|| bad("body", "must be a JSON object"))?;
    for key in root.keys() {
        if !["lead_id", "lead", "integrations", "credentials"].contains(&key.as_str()) {
            return Err(bad(key, "unknown field"));
        }
    }
    let lead_id = lead_id_of(root.get("lead_id"))?;
    let lead: Lead = match root.get("lead") {
        None | Some(Value::Null) => return Err(bad("lead", "is required")),
        Some(v) => serde_json::from_value(v.clone()).map_err(|e| {
            bad(
                "lead",
                format!("{e}; known fields: name, phone, email, comment, source, utm, fields"),
            )
        })?,
    };
    check_lead(&lead)?;

    let credentials = obj(root.get("credentials"), "credentials")?;
    if let Some(c) = credentials {
        for key in c.keys() {
            if Integration::parse(key).is_none() {
                return Err(bad(format!("credentials.{key}"), "no such integration"));
            }
        }
    }
    let list = match root.get("integrations") {
        Some(Value::Array(l)) if !l.is_empty() => l,
        Some(Value::Array(_)) | None | Some(Value::Null) => {
            return Err(bad("integrations", "needs at least one integration"));
        }
        Some(_) => return Err(bad("integrations", "must be a list")),
    };
    let mut seen = HashSet::new();
    let mut jobs = Vec::new();
    for (i, entry) in list.iter().enumerate() {
        let field = format!("integrations[{i}]");
        let entry = entry
            .as_object()
            .ok_or_else(|| bad(&field, "must be an object"))?;
        let kind_name = match entry.get("type") {
            Some(Value::String(s)) => s.as_str(),
            _ => return Err(bad(format!("{field}.type"), "is required")),
        };
        let kind = Integration::parse(kind_name).ok_or_else(|| {
            bad(
                format!("{field}.type"),
                format!("unknown integration {kind_name:?}; use email, amocrm, telegram, bitrix24 or webhook"),
            )
        })?;
        if !seen.insert(kind) {
            return Err(bad(
                format!("{field}.type"),
                format!("{kind} is listed twice"),
            ));
        }
        let settings = obj(entry.get("settings"), &format!("{field}.settings"))?;
        let tries = match int(Some(entry), "tries", &field)? {
            None => defaults.tries.clamp(1, MAX_TRIES),
            Some(t) if (1..=i64::from(MAX_TRIES)).contains(&t) => t as u32,
            Some(_) => {
                return Err(bad(
                    format!("{field}.tries"),
                    format!("must be 1 to {MAX_TRIES}"),
                ));
            }
        };
        let cred_field = format!("credentials.{kind}");
        let creds = obj(credentials.and_then(|c| c.get(kind.as_str())), &cred_field)?;
        let settings_field = format!("{field}.settings");
        let both = [
            (creds, cred_field.as_str()),
            (settings, settings_field.as_str()),
        ];
        let target = match kind {
            Integration::Email => {
                let (emails, from_field) = match email_list(
                    creds.and_then(|c| c.get("emails")),
                    &format!("{cred_field}.emails"),
                )? {
                    Some(l) => (l, format!("{cred_field}.emails")),
                    None => match email_list(
                        settings.and_then(|s| s.get("emails")),
                        &format!("{settings_field}.emails"),
                    )? {
                        Some(l) => (l, format!("{settings_field}.emails")),
                        None if !defaults.lead_emails.is_empty() => {
                            (defaults.lead_emails.clone(), "LEAD_EMAILS".into())
                        }
                        None => {
                            return Err(bad(
                                format!("{cred_field}.emails"),
                                "missing, and LEAD_EMAILS is not configured",
                            ));
                        }
                    },
                };
                check_emails(&emails, &from_field)?;
                let template = first_text(
                    &[(settings, &settings_field), (creds, &cred_field)],
                    "template",
                )?
                .unwrap_or_else(|| "new_lead".into());
                if !TEMPLATES.contains(&template.as_str()) {
                    return Err(bad(
                        format!("{settings_field}.template"),
                        format!(
                            "unknown template {template:?}; available: {}",
                            TEMPLATES.join(", ")
                        ),
                    ));
                }
                let subject = first_text(&both, "subject")?;
                if subject
                    .as_ref()
                    .is_some_and(|s| s.chars().count() > 200 || s.contains(['\r', '\n']))
                {
                    return Err(bad(
                        format!("{cred_field}.subject"),
                        "one line of at most 200 characters",
                    ));
                }
                Target::Email {
                    emails,
                    template,
                    subject,
                }
            }
            Integration::Amocrm => {
                let subdomain = first_text(&[(creds, &cred_field)], "subdomain")?
                    .or_else(|| defaults.amocrm_subdomain.clone());
                match &subdomain {
                    None => {
                        return Err(bad(
                            format!("{cred_field}.subdomain"),
                            "missing, and AMOCRM_SUBDOMAIN is not configured",
                        ));
                    }
                    Some(s)
                        if !(1..=63).contains(&s.len())
                            || !s.chars().all(|c| {
                                c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'
                            }) =>
                    {
                        return Err(bad(
                            format!("{cred_field}.subdomain"),
                            "lower-case letters, digits and - only (the part before .amocrm.ru)",
                        ));
                    }
                    Some(_) => {}
                }
                let access_token = first_text(&[(creds, &cred_field)], "access_token")?.map(Secret);
                if access_token.is_none() && !defaults.amocrm_access_token {
                    return Err(bad(
                        format!("{cred_field}.access_token"),
                        "missing, and AMOCRM_ACCESS_TOKEN is not configured",
                    ));
                }
                let tags = match settings.and_then(|s| s.get("tags")) {
                    None | Some(Value::Null) => Vec::new(),
                    Some(Value::Array(t)) => t
                        .iter()
                        .map(|v| {
                            v.as_str().map(String::from).ok_or_else(|| {
                                bad(
                                    format!("{settings_field}.tags"),
                                    "must be a list of strings",
                                )
                            })
                        })
                        .collect::<Result<_, _>>()?,
                    Some(_) => {
                        return Err(bad(
                            format!("{settings_field}.tags"),
                            "must be a list of strings",
                        ));
                    }
                };
                Target::Amocrm {
                    // Only a subdomain from the request is stored; the default stays in config.
                    subdomain: first_text(&[(creds, &cred_field)], "subdomain")?,
                    access_token,
                    pipeline_id: int(settings, "pipeline_id", &settings_field)?,
                    status_id: int(settings, "status_id", &settings_field)?,
                    responsible_user_id: int(settings, "responsible_user_id", &settings_field)?,
                    tags,
                }
            }
            Integration::Telegram => {
                let bot_token = first_text(&[(creds, &cred_field)], "bot_token")?;
                match &bot_token {
                    Some(t) if !is_bot_token(t) => {
                        return Err(bad(
                            format!("{cred_field}.bot_token"),
                            "is not a Telegram bot token (digits:letters)",
                        ));
                    }
                    None if !defaults.telegram_bot_token => {
                        return Err(bad(
                            format!("{cred_field}.bot_token"),
                            "missing, and TELEGRAM_BOT_TOKEN is not configured",
                        ));
                    }
                    _ => {}
                }
                let chat_id = first_text(
                    &[(settings, &settings_field), (creds, &cred_field)],
                    "chat_id",
                )?
                .or_else(|| defaults.telegram_chat_id.clone())
                .ok_or_else(|| {
                    bad(
                        format!("{settings_field}.chat_id"),
                        "missing, and TELEGRAM_CHAT_ID is not configured",
                    )
                })?;
                if !is_chat_id(&chat_id) {
                    return Err(bad(
                        format!("{settings_field}.chat_id"),
                        "a numeric chat id or @channel_username",
                    ));
                }
                Target::Telegram {
                    bot_token: bot_token.map(Secret),
                    chat_id,
                }
            }
            Integration::Bitrix24 => {
                let url = first_text(&[(creds, &cred_field)], "webhook_url")?;
                match &url {
                    Some(u) => {
                        check_url(u, &format!("{cred_field}.webhook_url"))?;
                        if !u.contains("/rest/") {
                            return Err(bad(
                                format!("{cred_field}.webhook_url"),
                                "an inbound webhook URL looks like https://<portal>.bitrix24.ru/rest/<user>/<code>/",
                            ));
                        }
                    }
                    None if !defaults.bitrix24_webhook_url => {
                        return Err(bad(
                            format!("{cred_field}.webhook_url"),
                            "missing, and BITRIX24_WEBHOOK_URL is not configured",
                        ));
                    }
                    None => {}
                }
                Target::Bitrix24 {
                    webhook_url: url.map(Secret),
                    source_id: text(settings, "source_id", &settings_field)?,
                    assigned_by_id: int(settings, "assigned_by_id", &settings_field)?,
                }
            }
            Integration::Webhook => {
                let url = first_text(&[(settings, &settings_field), (creds, &cred_field)], "url")?
                    .ok_or_else(|| bad(format!("{settings_field}.url"), "is required"))?;
                let url = check_url(&url, &format!("{settings_field}.url"))?;
                let secret = first_text(&[(creds, &cred_field)], "secret")?.map(Secret);
                Target::Webhook { url, secret }
            }
        };
        jobs.push((target, tries));
    }
    Ok(Submission {
        lead_id,
        lead,
        jobs,
    })
}

pub use super::store::batch_ops;
pub use super::view::{BatchView, JobView};

#[derive(Debug, thiserror::Error)]
pub enum SubmitError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("idempotency key was used for another request")]
    KeyConflict,
}

/// The lead and its current batch, if any.
pub async fn existing(deps: &Deps, lead_id: &str) -> Result<Option<BatchView>, StoreError> {
    view::batch_view(&LeadStore::new(deps.table.as_ref()), lead_id).await
}

/// Stores and queues a new batch, or returns the one this request already made.
/// `Ok((view, true))` is new (202); `Ok((view, false))` existed (200).
pub async fn submit(
    deps: &Deps,
    idempotency: Option<&str>,
    sub: Submission,
) -> Result<(BatchView, bool), SubmitError> {
    let store = LeadStore::new(deps.table.as_ref());
    if let Some(found) = made_before(&store, idempotency, sub.lead_id.as_deref()).await? {
        return Ok((found, false));
    }
    let lead_id = sub
        .lead_id
        .clone()
        .unwrap_or_else(|| uuid::Uuid::now_v7().to_string());
    let batch_id = uuid::Uuid::now_v7().to_string();
    let now = deps.clock.now_ms();
    if !store
        .create(&lead_id, &batch_id, &sub, now, idempotency)
        .await?
    {
        // A concurrent request with the same key or lead id won the race.
        return match made_before(&store, idempotency, Some(&lead_id)).await? {
            Some(found) => Ok((found, false)),
            None => Err(SubmitError::KeyConflict),
        };
    }
    let refs: Vec<JobRef> = sub
        .jobs
        .iter()
        .map(|(t, _)| JobRef {
            lead_id: lead_id.clone(),
            batch_id: batch_id.clone(),
            integration: t.integration(),
        })
        .collect();
    dispatch::dispatch_or_report(deps, &lead_id, &batch_id, &refs).await;
    Ok((BatchView::new_batch(lead_id, batch_id, &sub.jobs), true))
}

/// The batch an earlier request made: by its idempotency key, else by its lead id.
async fn made_before(
    store: &LeadStore<'_>,
    idempotency: Option<&str>,
    lead_id: Option<&str>,
) -> Result<Option<BatchView>, StoreError> {
    if let Some(key) = idempotency
        && let Some(lead_id) = store.lead_of_idempotency_key(key).await?
        && let Some(found) = view::batch_view(store, &lead_id).await?
    {
        return Ok(Some(found));
    }
    match lead_id {
        Some(id) => view::batch_view(store, id).await,
        None => Ok(None),
    }
}

/// Everything the API shows about one lead, as JSON.
pub async fn lead_status(deps: &Deps, lead_id: &str) -> Result<Option<Value>, StoreError> {
    view::lead_status(&LeadStore::new(deps.table.as_ref()), lead_id)
        .await?
        .map(|v| v.to_json())
        .transpose()
}
