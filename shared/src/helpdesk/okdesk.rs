//! The Okdesk REST API v1, as far as the helpdesk bot needs it (external-apis.md § B):
//! `api_token` on every request, JSON bodies wrapped in their object's name, errors that
//! say whether Okdesk is unreachable, the token was rejected, or the data was refused.

use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};

use super::phone::search_variants;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OkdeskError {
    /// Network trouble, a timeout, 429 or 5xx: try again later.
    #[error("Okdesk is not reachable: {0}")]
    Unreachable(String),
    /// 401/403: the API token is wrong or lacks rights.
    #[error("Okdesk rejected the API token (HTTP {0})")]
    TokenRejected(u16),
    /// 400/422 and the like: Okdesk refused the data; `errors` is its explanation.
    #[error("Okdesk refused the request (HTTP {status}): {errors}")]
    Refused { status: u16, errors: String },
}

impl OkdeskError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, OkdeskError::Unreachable(_))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Contact {
    pub id: i64,
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub company_id: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Company {
    pub id: i64,
    #[serde(default)]
    pub name: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Status {
    pub code: String,
    #[serde(default)]
    pub name: String,
}

impl Status {
    /// The name people read, else the code.
    pub fn label(&self) -> &str {
        if self.name.trim().is_empty() {
            &self.code
        } else {
            &self.name
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Issue {
    pub id: i64,
    #[serde(default)]
    pub title: String,
    pub status: Status,
    #[serde(default)]
    pub created_at: Option<String>,
    /// The client contact, wherever this account's answer puts it (see [`contact_id_of`]).
    #[serde(skip)]
    pub contact_id: Option<i64>,
}

/// A file to attach.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Attachment {
    pub name: String,
    pub mime: String,
    pub bytes: Vec<u8>,
}

/// A person to create in Okdesk.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NewContact {
    pub first_name: String,
    pub last_name: Option<String>,
    pub patronymic: Option<String>,
    pub phone: String,
    pub company_id: Option<i64>,
}

impl NewContact {
    /// Splits a full name typed as Russians write it, «Фамилия Имя Отчество»; one word is
    /// a first name only.
    pub fn from_full_name(full_name: &str, phone: &str, company_id: Option<i64>) -> Self {
        let words: Vec<&str> = full_name.split_whitespace().collect();
        let (first, last, patronymic) = match words.as_slice() {
            [] => (String::new(), None, None),
            [one] => (one.to_string(), None, None),
            [last, first] => (first.to_string(), Some(last.to_string()), None),
            [last, first, rest @ ..] => (
                first.to_string(),
                Some(last.to_string()),
                Some(rest.join(" ")),
            ),
        };
        Self {
            first_name: first,
            last_name: last,
            patronymic,
            phone: phone.to_string(),
            company_id,
        }
    }
}

/// An id as Okdesk sends it: a number from the REST API, a string in webhook bodies.
pub fn id_of(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// The client contact of an issue: `client.contact.id` in webhooks, `contact.id` or
/// `contact_id` in REST answers.
pub fn contact_id_of(issue: &Value) -> Option<i64> {
    [
        &issue["client"]["contact"]["id"],
        &issue["contact"]["id"],
        &issue["contact_id"],
    ]
    .into_iter()
    .find_map(id_of)
}

#[derive(Clone)]
pub struct Okdesk {
    http: reqwest::Client,
    base: String,
    token: String,
    timeout: Duration,
}

impl std::fmt::Debug for Okdesk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Okdesk")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

/// Okdesk answers an empty object (or nothing) when a lookup finds nothing.
fn found(v: Value) -> Option<Value> {
    match &v {
        Value::Object(m) if m.contains_key("id") => Some(v),
        _ => None,
    }
}

fn ids(v: Option<Value>) -> Vec<i64> {
    v.as_ref()
        .and_then(Value::as_array)
        .map(|a| a.iter().filter_map(id_of).collect())
        .unwrap_or_default()
}

impl Okdesk {
    /// `base` is `https://<account>.okdesk.ru/api/v1` (or a fake in tests).
    pub fn new(
        base: &str,
        token: &str,
        timeout: Duration,
    ) -> Result<Self, crate::outbound::ClientError> {
        Ok(Self::with_http(
            crate::outbound::client(timeout)?,
            base,
            token,
            timeout,
        ))
    }

    /// On a client the process already has (one TLS set-up per cold start, not two); the
    /// timeout applies to each Okdesk request.
    pub fn with_http(http: reqwest::Client, base: &str, token: &str, timeout: Duration) -> Self {
        Self {
            http,
            base: base.trim_end_matches('/').to_string(),
            token: token.to_string(),
            timeout,
        }
    }

    async fn send(&self, req: reqwest::RequestBuilder) -> Result<Option<Value>, OkdeskError> {
        // The token travels in the URL, so errors never carry the URL.
        let unreachable = |e: reqwest::Error| OkdeskError::Unreachable(e.without_url().to_string());
        let resp = req
            .query(&[("api_token", &self.token)])
            .timeout(self.timeout)
            .send()
            .await
            .map_err(unreachable)?;
        let status = resp.status().as_u16();
        let body = crate::outbound::read_capped(resp, 4 * 1024 * 1024)
            .await
            .map_err(unreachable)?;
        let body = String::from_utf8_lossy(&body);
        match status {
            200..=299 => Ok(Some(serde_json::from_str(&body).unwrap_or(Value::Null))),
            404 => Ok(None),
            401 | 403 => Err(OkdeskError::TokenRejected(status)),
            429 | 500..=599 => Err(OkdeskError::Unreachable(format!("HTTP {status}"))),
            _ => {
                let errors = serde_json::from_str::<Value>(&body)
                    .ok()
                    .and_then(|v| v.get("errors").map(Value::to_string))
                    .unwrap_or_else(|| body.chars().take(300).collect());
                // A server or proxy may echo the request, whose URL carries the token.
                let errors = crate::outbound::redact(&errors, &[self.token.as_str()]);
                Err(OkdeskError::Refused { status, errors })
            }
        }
    }

    fn get(&self, path: &str) -> reqwest::RequestBuilder {
        self.http.get(format!("{}/{path}", self.base))
    }

    fn post(&self, path: &str, body: &Value) -> reqwest::RequestBuilder {
        self.http.post(format!("{}/{path}", self.base)).json(body)
    }

    /// The contact with this phone, trying the spellings a CRM may hold it under.
    pub async fn find_contact_by_phone(&self, e164: &str) -> Result<Option<Contact>, OkdeskError> {
        for variant in search_variants(e164) {
            if let Some(v) = self
                .send(self.get("contacts/").query(&[("phone", &variant)]))
                .await?
                .and_then(found)
            {
                return serde_json::from_value(v)
                    .map(Some)
                    .map_err(|e| OkdeskError::Unreachable(format!("unexpected contact: {e}")));
            }
        }
        Ok(None)
    }

    pub async fn create_contact(&self, new: &NewContact) -> Result<Contact, OkdeskError> {
        let mut contact = json!({"first_name": new.first_name, "phone": new.phone});
        if let Some(l) = &new.last_name {
            contact["last_name"] = json!(l);
        }
        if let Some(p) = &new.patronymic {
            contact["patronymic"] = json!(p);
        }
        if let Some(c) = new.company_id {
            contact["company_id"] = json!(c);
        }
        let v = self
            .send(self.post("contacts/", &json!({"contact": contact})))
            .await?
            .and_then(found);
        v.and_then(|v| serde_json::from_value(v).ok())
            .ok_or_else(|| OkdeskError::Unreachable("contact created without an id".into()))
    }

    /// The company with this INN: by the account's INN attribute when its code is known,
    /// else by Okdesk's substring search.
    pub async fn find_company_by_inn(
        &self,
        inn: &str,
        attribute: Option<&str>,
    ) -> Result<Option<Company>, OkdeskError> {
        if let Some(code) = attribute {
            let key = format!("custom_parameters[{code}]");
            let list = self
                .send(self.get("companies/list").query(&[(key.as_str(), inn)]))
                .await?;
            if let Some(first) = list
                .as_ref()
                .and_then(Value::as_array)
                .and_then(|a| a.first())
                .cloned()
                .and_then(found)
            {
                return Ok(serde_json::from_value(first).ok());
            }
        }
        let v = self
            .send(self.get("companies/").query(&[("search_string", inn)]))
            .await?
            .and_then(found);
        Ok(v.and_then(|v| serde_json::from_value(v).ok()))
    }

    /// Creates an issue; returns its id.
    pub async fn create_issue(
        &self,
        title: &str,
        description: &str,
        contact_id: i64,
        company_id: Option<i64>,
    ) -> Result<i64, OkdeskError> {
        let mut issue =
            json!({"title": title, "description": description, "contact_id": contact_id});
        if let Some(c) = company_id {
            issue["company_id"] = json!(c);
        }
        let v = self
            .send(self.post("issues/", &json!({"issue": issue})))
            .await?;
        v.as_ref()
            .and_then(|v| v["id"].as_i64())
            .ok_or_else(|| OkdeskError::Unreachable("issue created without an id".into()))
    }

    pub async fn issue(&self, id: i64) -> Result<Option<Issue>, OkdeskError> {
        let Some(v) = self
            .send(self.get(&format!("issues/{id}")))
            .await?
            .and_then(found)
        else {
            return Ok(None);
        };
        let contact_id = contact_id_of(&v);
        let mut issue: Issue = serde_json::from_value(v)
            .map_err(|e| OkdeskError::Unreachable(format!("unexpected issue: {e}")))?;
        issue.contact_id = contact_id;
        Ok(Some(issue))
    }

    /// Ids of the account's issues (the `issues/count` list), for `zayavka okdesk check`.
    pub async fn issue_ids(&self) -> Result<Vec<i64>, OkdeskError> {
        let v = self.send(self.get("issues/count")).await?;
        Ok(ids(v))
    }

    /// The ids of the contact's issues.
    pub async fn contact_issue_ids(&self, contact_id: i64) -> Result<Vec<i64>, OkdeskError> {
        let v = self
            .send(
                self.get("issues/count")
                    .query(&[("contact_ids[]", contact_id.to_string())]),
            )
            .await?;
        Ok(ids(v))
    }

    /// A public comment by the contact carrying a file (multipart, as Okdesk wants for
    /// attachments); `text` is plain and becomes HTML here.
    pub async fn add_comment_with_file(
        &self,
        issue_id: i64,
        contact_id: i64,
        text: &str,
        file: Attachment,
    ) -> Result<(), OkdeskError> {
        let content = crate::texts::escape_html(text).replace('\n', "<br>");
        let part = reqwest::multipart::Part::bytes(file.bytes)
            .file_name(file.name)
            .mime_str(&file.mime)
            .map_err(|e| OkdeskError::Refused {
                status: 0,
                errors: format!("file type {:?}: {e}", file.mime),
            })?;
        let form = reqwest::multipart::Form::new()
            .text("comment[content]", content)
            .text("comment[author_id]", contact_id.to_string())
            .text("comment[author_type]", "contact")
            .text("comment[public]", "true")
            .part("comment[attachments_attributes][0][file]", part);
        self.send(
            self.http
                .post(format!("{}/issues/{issue_id}/comments", self.base))
                .multipart(form),
        )
        .await?;
        Ok(())
    }

    /// A public comment written by the contact; `text` is plain and becomes HTML here.
    pub async fn add_comment(
        &self,
        issue_id: i64,
        contact_id: i64,
        text: &str,
    ) -> Result<(), OkdeskError> {
        let content = crate::texts::escape_html(text).replace('\n', "<br>");
        let body = json!({"comment": {"content": content, "author_id": contact_id, "author_type": "contact", "public": true}});
        self.send(self.post(&format!("issues/{issue_id}/comments"), &body))
            .await?;
        Ok(())
    }
}
