//! Reading and checking single values of a send-batch request. Each takes the full name of
//! its field, so an error says exactly where the request is wrong.

use crate::outbound::guard::{self, AllowHosts, Refusal};
use serde_json::Value;

use super::model::Lead;

/// A 422: which field, and what is wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

pub fn bad(field: impl Into<String>, message: impl Into<String>) -> FieldError {
    FieldError {
        field: field.into(),
        message: message.into(),
    }
}

pub const MAX_LEAD_BYTES: usize = 64 * 1024;

/// Text, trimmed; blank is absent, and a number is taken as its digits.
pub fn text(v: Option<&Value>, field: &str) -> Result<Option<String>, FieldError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.trim().to_string())),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(_) => Err(bad(field, "must be a string")),
    }
}

/// The first of several places that has the text (the request may put it in either).
pub fn first_text(sources: &[(Option<&Value>, String)]) -> Result<Option<String>, FieldError> {
    for (v, field) in sources {
        if let Some(t) = text(*v, field)? {
            return Ok(Some(t));
        }
    }
    Ok(None)
}

/// A whole number, or a string of one.
pub fn int(v: Option<&Value>, field: &str) -> Result<Option<i64>, FieldError> {
    let whole = || bad(field, "must be a whole number");
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n.as_i64().map(Some).ok_or_else(whole),
        Some(Value::String(s)) => s.trim().parse().map(Some).map_err(|_| whole()),
        Some(_) => Err(whole()),
    }
}

/// A yes or no: `true`/`false`, or a string of one.
pub fn flag(v: Option<&Value>, field: &str) -> Result<Option<bool>, FieldError> {
    match v {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(*b)),
        Some(Value::String(s)) if s.trim() == "true" => Ok(Some(true)),
        Some(Value::String(s)) if s.trim() == "false" => Ok(Some(false)),
        Some(_) => Err(bad(field, "must be true or false")),
    }
}

/// A list of strings (absent: empty).
pub fn strings(v: Option<&Value>, field: &str) -> Result<Vec<String>, FieldError> {
    let wrong = || bad(field, "must be a list of strings");
    match v {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| v.as_str().map(String::from).ok_or_else(wrong))
            .collect(),
        Some(_) => Err(wrong()),
    }
}

/// E-mail addresses as a list, or as one comma-separated string.
pub fn email_list(v: Option<&Value>, field: &str) -> Result<Option<Vec<String>>, FieldError> {
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

pub fn check_emails(list: &[String], field: &str) -> Result<(), FieldError> {
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

/// An http(s) URL; plain http only to this machine (local development and tests).
/// A URL a lead will be sent to: https to a public address, or a host the operator
/// exempted (the worker checks again on every address it connects to; see
/// `outbound::guard`).
pub fn check_url(raw: &str, field: &str, allow: &AllowHosts) -> Result<reqwest::Url, FieldError> {
    let url = reqwest::Url::parse(raw).map_err(|e| bad(field, format!("not a URL: {e}")))?;
    if !matches!(url.scheme(), "https" | "http") {
        return Err(bad(
            field,
            format!("must be an https URL, not {}:", url.scheme()),
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad(field, "must not carry a user name or password"));
    }
    guard::check(allow, &url).map_err(|r| match r {
        Refusal::NotHttps => bad(field, "must use https (leads carry personal data)"),
        other => bad(field, other.to_string()),
    })?;
    Ok(url)
}

/// Someone to call back, within sizes the integrations take.
pub fn check_lead(lead: &Lead) -> Result<(), FieldError> {
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
    check_contacts(lead)?;
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

/// The lead's e-mail and phone, when given, look like one.
fn check_contacts(lead: &Lead) -> Result<(), FieldError> {
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
    Ok(())
}

/// The caller's own lead id: a string or a positive whole number, of safe characters.
pub fn lead_id_of(v: Option<&Value>) -> Result<Option<String>, FieldError> {
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

pub fn is_bot_token(t: &str) -> bool {
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

pub fn is_chat_id(c: &str) -> bool {
    if let Some(name) = c.strip_prefix('@') {
        return (5..=32).contains(&name.len())
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    }
    c.strip_prefix('-').unwrap_or(c).parse::<u64>().is_ok()
}

/// An amoCRM subdomain: the part before `.amocrm.ru`.
pub fn is_subdomain(s: &str) -> bool {
    (1..=63).contains(&s.len())
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
}
