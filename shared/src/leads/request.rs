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
use super::targets::{Section, target};
use crate::config::EnvReader;

/// Attempts a request may ask for: the dead-letter redrive lets a job be received ten times.
pub const MAX_TRIES: u32 = 10;
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
    /// Attempts of a job whose request names no `tries`: the whole `RETRY_SCHEDULE`.
    pub tries: u32,
    /// `OUTBOUND_ALLOW_HOSTS`, so a URL the worker would refuse is refused at once.
    pub allow: crate::outbound::AllowHosts,
    /// How long after it is made a batch must have settled: the whole `RETRY_SCHEDULE` and
    /// `STUCK_GRACE` (default 1h); past that the sweeper reconciles it (`leads::due`).
    pub patience_ms: i64,
}

impl Defaults {
    /// `TELEGRAM_BOT_TOKEN`, `TELEGRAM_CHAT_ID`, `AMOCRM_*`, `BITRIX24_WEBHOOK_URL`,
    /// `LEAD_EMAILS` and `RETRY_SCHEDULE` (how many attempts it makes).
    pub fn read(r: &mut EnvReader<'_>) -> Self {
        let lead_emails = r.list("LEAD_EMAILS");
        for e in &lead_emails {
            if !crate::ports::mailer::looks_like_address(e) {
                r.problem(format!("LEAD_EMAILS: {e:?} is not an e-mail address"));
            }
        }
        let own = crate::credentials::Credentials::read(r);
        let schedule = super::retry::RetrySchedule::read(r);
        let patience_ms = patience_ms(r, &schedule);
        Self {
            telegram_bot_token: own.telegram_bot_token.is_some(),
            telegram_chat_id: r.optional("TELEGRAM_CHAT_ID"),
            amocrm_subdomain: own.amocrm_subdomain,
            amocrm_access_token: own.amocrm_access_token.is_some(),
            bitrix24_webhook_url: own.bitrix24_webhook_url.is_some(),
            lead_emails,
            tries: schedule.attempts(),
            allow: crate::outbound::AllowHosts::read(r),
            patience_ms,
        }
    }
}

/// How long after it is made a batch must have settled: the whole schedule and
/// `STUCK_GRACE` (default 1h).
pub fn patience_ms(r: &mut EnvReader<'_>, schedule: &super::retry::RetrySchedule) -> i64 {
    let raw = r.or("STUCK_GRACE", "1h");
    let grace = match super::retry::RetrySchedule::parse(&raw) {
        Ok(s) if s.steps().len() == 1 => s.steps()[0],
        _ => {
            r.problem(format!(
                "STUCK_GRACE={raw:?} is not one delay like 30m or 1h"
            ));
            0
        }
    };
    (schedule.total_secs() + i64::from(grace)) * 1000
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

/// Validates a replay request (`POST /api/leads/{id}/retry`): an empty body replays every
/// failed delivery; `integrations` names some (`"amocrm"`) or brings one whole, with its
/// settings and `credentials`, as a new lead would (for a delivery whose kept message is
/// gone).
pub fn parse_replay(
    body: &Value,
    defaults: &Defaults,
) -> Result<super::replay::ReplayAsk, FieldError> {
    #[derive(Deserialize, Default)]
    struct Ask {
        #[serde(default)]
        integrations: Option<Value>,
        #[serde(default)]
        credentials: Option<Value>,
        #[serde(flatten)]
        unknown: Map<String, Value>,
    }
    let ask: Ask = object(Some(body).filter(|b| !b.is_null()), "body")?;
    if let Some(key) = ask.unknown.keys().next() {
        return Err(bad(
            key,
            "unknown field; a replay takes integrations and credentials",
        ));
    }
    let credentials: Credentials = object(ask.credentials.as_ref(), "credentials")?;
    if let Some(key) = credentials.unknown.keys().next() {
        return Err(bad(format!("credentials.{key}"), "no such integration"));
    }
    let list = match ask.integrations {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(l)) => l,
        Some(_) => return Err(bad("integrations", "must be a list")),
    };
    let mut out = super::replay::ReplayAsk::default();
    let mut seen = HashSet::new();
    for (i, entry) in list.iter().enumerate() {
        let (integration, target) = match entry {
            Value::String(name) => {
                let field = format!("integrations[{i}]");
                let Some(kind) = Integration::parse(name) else {
                    return Err(bad(
                        field,
                        "is not one of email, amocrm, telegram, bitrix24, webhook",
                    ));
                };
                if !seen.insert(kind) {
                    return Err(bad(field, "is named twice"));
                }
                (kind, None)
            }
            _ => {
                let (t, _) = job(i, entry, &credentials, &mut seen, defaults)?;
                (t.integration(), Some(t))
            }
        };
        out.only.push(integration);
        out.targets.extend(target);
    }
    Ok(out)
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
pub(super) fn object<T: DeserializeOwned + Default>(
    v: Option<&Value>,
    field: &str,
) -> Result<T, FieldError> {
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

/// The `Idempotency-Key` header, when given: 1 to 255 visible ASCII characters.
pub fn idempotency_key(header: Option<&str>) -> Result<Option<&str>, FieldError> {
    match header.map(str::trim) {
        Some(k) if k.is_empty() || k.len() > 255 || !k.chars().all(|c| c.is_ascii_graphic()) => {
            Err(bad("Idempotency-Key", "1 to 255 visible ASCII characters"))
        }
        other => Ok(other),
    }
}
