//! The send-batch request: its shape and its validation.
//!
//! Serde reads the shape, deliberately leniently: each value stays JSON until
//! [`SendBatch::validate`] reads it, so a wrong type is reported with our own message that
//! names the field (`integrations[1].settings.url: ...`) rather than serde's, and the
//! first problem found is always the same one. Values are read in a fixed order, and that
//! order decides which error wins when several fields are wrong.

use std::collections::HashSet;

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use super::checks::*;
pub use super::checks::{FieldError, MAX_LEAD_BYTES, check_url};
use super::model::*;
use crate::config::EnvReader;

pub const MAX_TRIES: u32 = 10;
pub const DEFAULT_TRIES: u32 = 3;
pub const TEMPLATES: [&str; 1] = ["new_lead"];

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

impl Defaults {
    /// `TELEGRAM_BOT_TOKEN`, `TELEGRAM_CHAT_ID`, `AMOCRM_*`, `BITRIX24_WEBHOOK_URL`,
    /// `LEAD_EMAILS` and `INTEGRATION_TRIES`.
    pub fn read(r: &mut EnvReader<'_>) -> Self {
        let lead_emails = r.list("LEAD_EMAILS");
        for e in &lead_emails {
            if !crate::ports::mailer::looks_like_address(e) {
                r.problem(format!("LEAD_EMAILS: {e:?} is not an e-mail address"));
            }
        }
        Self {
            telegram_bot_token: r.optional("TELEGRAM_BOT_TOKEN").is_some(),
            telegram_chat_id: r.optional("TELEGRAM_CHAT_ID"),
            amocrm_subdomain: r.optional("AMOCRM_SUBDOMAIN"),
            amocrm_access_token: r.optional("AMOCRM_ACCESS_TOKEN").is_some(),
            bitrix24_webhook_url: r.optional("BITRIX24_WEBHOOK_URL").is_some(),
            lead_emails,
            tries: r.parse_or("INTEGRATION_TRIES", DEFAULT_TRIES),
        }
    }
}

/// A validated request.
#[derive(Debug, Clone, PartialEq)]
pub struct Submission {
    pub lead_id: Option<String>,
    pub lead: Lead,
    pub jobs: Vec<(Target, u32)>,
}

/// Validates a send-batch request. Every problem names its field.
pub fn parse(body: &Value, defaults: &Defaults) -> Result<Submission, FieldError> {
    SendBatch::read(body)?.validate(defaults)
}

/// The request as sent.
#[derive(Deserialize)]
struct SendBatch {
    #[serde(default)]
    lead_id: Option<Value>,
    #[serde(default)]
    lead: Option<Value>,
    #[serde(default)]
    integrations: Option<Value>,
    #[serde(default)]
    credentials: Option<Value>,
    /// Anything else, refused by name.
    #[serde(flatten)]
    unknown: Map<String, Value>,
}

/// `credentials`: per integration, what the request brings instead of the defaults.
#[derive(Deserialize, Default)]
struct Credentials {
    #[serde(default)]
    email: Option<Value>,
    #[serde(default)]
    amocrm: Option<Value>,
    #[serde(default)]
    telegram: Option<Value>,
    #[serde(default)]
    bitrix24: Option<Value>,
    #[serde(default)]
    webhook: Option<Value>,
    #[serde(flatten)]
    unknown: Map<String, Value>,
}

impl Credentials {
    fn of(&self, kind: Integration) -> Option<&Value> {
        match kind {
            Integration::Email => self.email.as_ref(),
            Integration::Amocrm => self.amocrm.as_ref(),
            Integration::Telegram => self.telegram.as_ref(),
            Integration::Bitrix24 => self.bitrix24.as_ref(),
            Integration::Webhook => self.webhook.as_ref(),
        }
    }
}

/// One entry of `integrations`.
#[derive(Deserialize, Default)]
struct Entry {
    #[serde(rename = "type", default)]
    kind: Option<Value>,
    #[serde(default)]
    settings: Option<Value>,
    #[serde(default)]
    tries: Option<Value>,
}

/// An object of the request read into `T`; `None` and `null` read as empty.
fn object<T: DeserializeOwned + Default>(v: Option<&Value>, field: &str) -> Result<T, FieldError> {
    match v {
        None | Some(Value::Null) => Ok(T::default()),
        Some(v @ Value::Object(_)) => {
            serde_json::from_value(v.clone()).map_err(|e| bad(field, e.to_string()))
        }
        Some(_) => Err(bad(field, "must be an object")),
    }
}

impl SendBatch {
    fn read(body: &Value) -> Result<Self, FieldError> {
        if !body.is_object() {
            return Err(bad("body", "must be a JSON object"));
        }
        serde_json::from_value(body.clone()).map_err(|e| bad("body", e.to_string()))
    }

    fn validate(self, defaults: &Defaults) -> Result<Submission, FieldError> {
        if let Some(key) = self.unknown.keys().next() {
            return Err(bad(key, "unknown field"));
        }
        let lead_id = lead_id_of(self.lead_id.as_ref())?;
        let lead = lead_of(self.lead)?;
        check_lead(&lead)?;
        let credentials: Credentials = object(self.credentials.as_ref(), "credentials")?;
        if let Some(key) = credentials.unknown.keys().next() {
            return Err(bad(format!("credentials.{key}"), "no such integration"));
        }
        let list = match self.integrations {
            Some(Value::Array(l)) if !l.is_empty() => l,
            Some(Value::Array(_)) | None => {
                return Err(bad("integrations", "needs at least one integration"));
            }
            Some(_) => return Err(bad("integrations", "must be a list")),
        };
        let mut seen = HashSet::new();
        let jobs = list
            .iter()
            .enumerate()
            .map(|(i, entry)| job(i, entry, &credentials, &mut seen, defaults))
            .collect::<Result<_, _>>()?;
        Ok(Submission {
            lead_id,
            lead,
            jobs,
        })
    }
}

fn lead_of(v: Option<Value>) -> Result<Lead, FieldError> {
    let Some(v) = v else {
        return Err(bad("lead", "is required"));
    };
    serde_json::from_value(v).map_err(|e| {
        bad(
            "lead",
            format!("{e}; known fields: name, phone, email, comment, source, utm, fields"),
        )
    })
}

/// `integrations[i]`: its target and its number of tries.
fn job(
    i: usize,
    entry: &Value,
    credentials: &Credentials,
    seen: &mut HashSet<Integration>,
    defaults: &Defaults,
) -> Result<(Target, u32), FieldError> {
    let field = format!("integrations[{i}]");
    // `null` is no entry, not an empty one.
    if !entry.is_object() {
        return Err(bad(&field, "must be an object"));
    }
    let entry: Entry = object(Some(entry), &field)?;
    let kind_name = match &entry.kind {
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
    let settings = Section::read(entry.settings.as_ref(), format!("{field}.settings"))?;
    let tries = tries(entry.tries.as_ref(), &field, defaults)?;
    let creds = Section::read(credentials.of(kind), format!("credentials.{kind}"))?;
    Ok((target(kind, &creds, &settings, defaults)?, tries))
}

fn tries(v: Option<&Value>, field: &str, defaults: &Defaults) -> Result<u32, FieldError> {
    let field = format!("{field}.tries");
    match int(v, &field)? {
        None => Ok(defaults.tries.clamp(1, MAX_TRIES)),
        Some(t) if (1..=i64::from(MAX_TRIES)).contains(&t) => Ok(t as u32),
        Some(_) => Err(bad(field, format!("must be 1 to {MAX_TRIES}"))),
    }
}

/// An entry's `settings` or the integration's `credentials`, known to be an object (or
/// absent), read per integration once its kind is known.
struct Section {
    at: String,
    value: Option<Value>,
}

impl Section {
    fn read(v: Option<&Value>, at: String) -> Result<Self, FieldError> {
        match v {
            None | Some(Value::Null) => Ok(Self { at, value: None }),
            Some(Value::Object(_)) => Ok(Self {
                at,
                value: v.cloned(),
            }),
            Some(_) => Err(bad(at, "must be an object")),
        }
    }

    fn fields<T: DeserializeOwned + Default>(&self) -> Result<Part<T>, FieldError> {
        Ok(Part {
            at: self.at.clone(),
            f: object(self.value.as_ref(), &self.at)?,
        })
    }
}

/// An integration's fields in one section, and where that section is in the request.
struct Part<T> {
    at: String,
    f: T,
}

impl<T> Part<T> {
    /// The full name of one of its fields.
    fn at(&self, key: &str) -> String {
        format!("{}.{key}", self.at)
    }
}

fn target(
    kind: Integration,
    creds: &Section,
    settings: &Section,
    defaults: &Defaults,
) -> Result<Target, FieldError> {
    match kind {
        Integration::Email => email(&creds.fields()?, &settings.fields()?, defaults),
        Integration::Amocrm => amocrm(&creds.fields()?, &settings.fields()?, defaults),
        Integration::Telegram => telegram(&creds.fields()?, &settings.fields()?, defaults),
        Integration::Bitrix24 => bitrix24(&creds.fields()?, &settings.fields()?, defaults),
        Integration::Webhook => webhook(&creds.fields()?, &settings.fields()?),
    }
}

// The fields of each integration, in credentials or settings (some are read from only one).
// None derives Debug: they may hold credentials.

#[derive(Deserialize, Default)]
struct EmailFields {
    emails: Option<Value>,
    template: Option<Value>,
    subject: Option<Value>,
}

#[derive(Deserialize, Default)]
struct AmocrmFields {
    subdomain: Option<Value>,
    access_token: Option<Value>,
    pipeline_id: Option<Value>,
    status_id: Option<Value>,
    responsible_user_id: Option<Value>,
    tags: Option<Value>,
}

#[derive(Deserialize, Default)]
struct TelegramFields {
    bot_token: Option<Value>,
    chat_id: Option<Value>,
}

#[derive(Deserialize, Default)]
struct Bitrix24Fields {
    webhook_url: Option<Value>,
    source_id: Option<Value>,
    assigned_by_id: Option<Value>,
}

#[derive(Deserialize, Default)]
struct WebhookFields {
    url: Option<Value>,
    secret: Option<Value>,
}

fn email(
    creds: &Part<EmailFields>,
    settings: &Part<EmailFields>,
    defaults: &Defaults,
) -> Result<Target, FieldError> {
    let (emails, from) = recipients(creds, settings, defaults)?;
    check_emails(&emails, &from)?;
    let template = first_text(&[
        (settings.f.template.as_ref(), settings.at("template")),
        (creds.f.template.as_ref(), creds.at("template")),
    ])?
    .unwrap_or_else(|| "new_lead".into());
    if !TEMPLATES.contains(&template.as_str()) {
        return Err(bad(
            settings.at("template"),
            format!(
                "unknown template {template:?}; available: {}",
                TEMPLATES.join(", ")
            ),
        ));
    }
    let subject = first_text(&[
        (creds.f.subject.as_ref(), creds.at("subject")),
        (settings.f.subject.as_ref(), settings.at("subject")),
    ])?;
    if subject
        .as_ref()
        .is_some_and(|s| s.chars().count() > 200 || s.contains(['\r', '\n']))
    {
        return Err(bad(
            creds.at("subject"),
            "one line of at most 200 characters",
        ));
    }
    Ok(Target::Email {
        emails,
        template,
        subject,
    })
}

/// The addresses, from the credentials, else the settings, else `LEAD_EMAILS`; with the
/// name of the field they came from.
fn recipients(
    creds: &Part<EmailFields>,
    settings: &Part<EmailFields>,
    defaults: &Defaults,
) -> Result<(Vec<String>, String), FieldError> {
    if let Some(l) = email_list(creds.f.emails.as_ref(), &creds.at("emails"))? {
        return Ok((l, creds.at("emails")));
    }
    if let Some(l) = email_list(settings.f.emails.as_ref(), &settings.at("emails"))? {
        return Ok((l, settings.at("emails")));
    }
    if !defaults.lead_emails.is_empty() {
        return Ok((defaults.lead_emails.clone(), "LEAD_EMAILS".into()));
    }
    Err(bad(
        creds.at("emails"),
        "missing, and LEAD_EMAILS is not configured",
    ))
}

fn amocrm(
    creds: &Part<AmocrmFields>,
    settings: &Part<AmocrmFields>,
    defaults: &Defaults,
) -> Result<Target, FieldError> {
    // Only a subdomain from the request is stored; the default stays in config.
    let subdomain = text(creds.f.subdomain.as_ref(), &creds.at("subdomain"))?;
    match subdomain.as_ref().or(defaults.amocrm_subdomain.as_ref()) {
        None => {
            return Err(bad(
                creds.at("subdomain"),
                "missing, and AMOCRM_SUBDOMAIN is not configured",
            ));
        }
        Some(s) if !is_subdomain(s) => {
            return Err(bad(
                creds.at("subdomain"),
                "lower-case letters, digits and - only (the part before .amocrm.ru)",
            ));
        }
        Some(_) => {}
    }
    let access_token = text(creds.f.access_token.as_ref(), &creds.at("access_token"))?;
    if access_token.is_none() && !defaults.amocrm_access_token {
        return Err(bad(
            creds.at("access_token"),
            "missing, and AMOCRM_ACCESS_TOKEN is not configured",
        ));
    }
    let number = |v: &Option<Value>, key| int(v.as_ref(), &settings.at(key));
    Ok(Target::Amocrm {
        tags: strings(settings.f.tags.as_ref(), &settings.at("tags"))?,
        subdomain,
        access_token: access_token.map(Secret),
        pipeline_id: number(&settings.f.pipeline_id, "pipeline_id")?,
        status_id: number(&settings.f.status_id, "status_id")?,
        responsible_user_id: number(&settings.f.responsible_user_id, "responsible_user_id")?,
    })
}

fn telegram(
    creds: &Part<TelegramFields>,
    settings: &Part<TelegramFields>,
    defaults: &Defaults,
) -> Result<Target, FieldError> {
    let bot_token = text(creds.f.bot_token.as_ref(), &creds.at("bot_token"))?;
    match &bot_token {
        Some(t) if !is_bot_token(t) => {
            return Err(bad(
                creds.at("bot_token"),
                "is not a Telegram bot token (digits:letters)",
            ));
        }
        None if !defaults.telegram_bot_token => {
            return Err(bad(
                creds.at("bot_token"),
                "missing, and TELEGRAM_BOT_TOKEN is not configured",
            ));
        }
        _ => {}
    }
    let chat_id = first_text(&[
        (settings.f.chat_id.as_ref(), settings.at("chat_id")),
        (creds.f.chat_id.as_ref(), creds.at("chat_id")),
    ])?
    .or_else(|| defaults.telegram_chat_id.clone())
    .ok_or_else(|| {
        bad(
            settings.at("chat_id"),
            "missing, and TELEGRAM_CHAT_ID is not configured",
        )
    })?;
    if !is_chat_id(&chat_id) {
        return Err(bad(
            settings.at("chat_id"),
            "a numeric chat id or @channel_username",
        ));
    }
    Ok(Target::Telegram {
        bot_token: bot_token.map(Secret),
        chat_id,
    })
}

fn bitrix24(
    creds: &Part<Bitrix24Fields>,
    settings: &Part<Bitrix24Fields>,
    defaults: &Defaults,
) -> Result<Target, FieldError> {
    let url = text(creds.f.webhook_url.as_ref(), &creds.at("webhook_url"))?;
    match &url {
        Some(u) => {
            check_url(u, &creds.at("webhook_url"))?;
            if !u.contains("/rest/") {
                return Err(bad(
                    creds.at("webhook_url"),
                    "an inbound webhook URL looks like https://<portal>.bitrix24.ru/rest/<user>/<code>/",
                ));
            }
        }
        None if !defaults.bitrix24_webhook_url => {
            return Err(bad(
                creds.at("webhook_url"),
                "missing, and BITRIX24_WEBHOOK_URL is not configured",
            ));
        }
        None => {}
    }
    Ok(Target::Bitrix24 {
        webhook_url: url.map(Secret),
        source_id: text(settings.f.source_id.as_ref(), &settings.at("source_id"))?,
        assigned_by_id: int(
            settings.f.assigned_by_id.as_ref(),
            &settings.at("assigned_by_id"),
        )?,
    })
}

fn webhook(
    creds: &Part<WebhookFields>,
    settings: &Part<WebhookFields>,
) -> Result<Target, FieldError> {
    let url = first_text(&[
        (settings.f.url.as_ref(), settings.at("url")),
        (creds.f.url.as_ref(), creds.at("url")),
    ])?
    .ok_or_else(|| bad(settings.at("url"), "is required"))?;
    let url = check_url(&url, &settings.at("url"))?;
    let secret = text(creds.f.secret.as_ref(), &creds.at("secret"))?.map(Secret);
    Ok(Target::Webhook { url, secret })
}

/// The `Idempotency-Key` header, when given: 1 to 255 visible ASCII characters.
pub fn idempotency_key(header: Option<&str>) -> Result<Option<&str>, FieldError> {
    match header.map(str::trim) {
        Some(k) if k.is_empty() || k.len() > 255 || !k.chars().all(|c| c.is_ascii_graphic()) => {
            Err(bad("Idempotency-Key", "1 to 255 visible ASCII characters"))
        }
        other => Ok(other),
    }
}
