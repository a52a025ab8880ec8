//! One integration's target, read from its entry's `settings` and its `credentials`
//! (some fields may sit in either, some in one only), with the defaults standing in for
//! what the request leaves out.

use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::checks::*;
use super::model::*;
use super::request::{Defaults, TEMPLATES, object};

/// An entry's `settings` or the integration's `credentials`, known to be an object (or
/// absent), read per integration once its kind is known.
pub(super) struct Section {
    at: String,
    value: Option<Value>,
}

impl Section {
    pub(super) fn read(v: Option<&Value>, at: String) -> Result<Self, FieldError> {
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

pub(super) fn target(
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
        Integration::Webhook => webhook(&creds.fields()?, &settings.fields()?, defaults),
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
    unsorted: Option<Value>,
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
    secret_next: Option<Value>,
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
    // The deployment's token is for the deployment's own account only.
    let own_account = subdomain.is_none() || subdomain == defaults.amocrm_subdomain;
    if access_token.is_none() && !own_account {
        return Err(bad(
            creds.at("access_token"),
            "is required with a subdomain other than the deployment's own",
        ));
    }
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
        unsorted: flag(settings.f.unsorted.as_ref(), &settings.at("unsorted"))?,
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
            let parsed = check_url(u, &creds.at("webhook_url"), &defaults.allow)?;
            // The inbound webhook's path, not just "/rest/" anywhere in the URL.
            if !parsed.path().starts_with("/rest/") || parsed.query().is_some() {
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
    defaults: &Defaults,
) -> Result<Target, FieldError> {
    let url = first_text(&[
        (settings.f.url.as_ref(), settings.at("url")),
        (creds.f.url.as_ref(), creds.at("url")),
    ])?
    .ok_or_else(|| bad(settings.at("url"), "is required"))?;
    check_url(&url, &settings.at("url"), &defaults.allow)?;
    let secret = webhook_secret(creds.f.secret.as_ref(), creds.at("secret"))?;
    let secret_next = webhook_secret(creds.f.secret_next.as_ref(), creds.at("secret_next"))?;
    if secret.is_none() && secret_next.is_some() {
        return Err(bad(
            creds.at("secret_next"),
            "is the secret being rotated in: give the current one as secret too",
        ));
    }
    Ok(Target::Webhook {
        url,
        secret,
        secret_next,
    })
}

/// A webhook's signing secret: any text, or a Standard Webhooks `whsec_` secret, which must
/// then be base64 after the prefix.
fn webhook_secret(v: Option<&Value>, at: String) -> Result<Option<Secret>, FieldError> {
    let secret = text(v, &at)?;
    if let Some(problem) = secret
        .as_deref()
        .and_then(crate::signature::standard_problem)
    {
        return Err(bad(at, problem));
    }
    Ok(secret.map(Secret))
}
