//! amoCRM: one lead per заявка, attached to the customer's one contact.
//!
//! A repeat customer must not become a second contact, so before creating, the contact is
//! looked up: by phone, then (if that finds nobody) by e-mail, through
//! `GET /api/v4/contacts?query=` — amoCRM's search over every filled field, one page of at
//! most [`LOOKUP_LIMIT`]; it answers **204 with an empty body** when nothing matches
//! (amocrm/amocrm-api-php#110, #122; `../shared/reference/external-apis.md` §I). The search
//! is loose, so each hit is checked against its own PHONE/EMAIL values through
//! [`crate::leads::contact`]; a phone is searched by its last ten digits, since `+7…` and
//! `8…` spellings differ (zero-archive/amocrm-php#81). The lead then goes through
//! `POST /api/v4/leads/complex` with either `{"id": N}` for the existing contact (an
//! existing contact id links there: amocrm-api-php `ContactModel::toLeadApi`, #370) or a
//! new contact.
//!
//! With the unsorted option the lead goes to «Неразобранное» instead
//! (`POST /api/v4/leads/unsorted/forms`, §I): the business accepts or declines it there,
//! and amoCRM keeps its contact hidden until then, so nothing is looked up.

use serde_json::{Value, json};

use super::pace::Paced;
use crate::leads::Lead;
use crate::leads::contact;
use crate::outbound::DeliveryError;

/// One page of search results; more hits than this for one phone is not a customer.
pub const LOOKUP_LIMIT: u32 = 50;

/// Where the unsorted entries say they came from (amoCRM shows it as the source).
const SOURCE_NAME: &str = "zayavka";

pub struct AmoLead<'a> {
    pub lead_id: &'a str,
    pub lead: &'a Lead,
    pub pipeline_id: Option<i64>,
    pub status_id: Option<i64>,
    pub responsible_user_id: Option<i64>,
    pub tags: &'a [String],
    /// To «Неразобранное» instead of straight into the pipeline.
    pub unsorted: bool,
}

/// The account a lead goes to: its address, token, and the paced calls of this attempt.
pub struct Account<'a> {
    pub calls: &'a Paced<'a>,
    pub base_url: &'a str,
    pub access_token: &'a str,
}

/// A new contact from the lead's name, phone and e-mail, as the customer wrote them.
fn new_contact(lead: &Lead) -> Value {
    let mut contact_fields = Vec::new();
    if let Some(phone) = lead.phone.as_deref().filter(|p| !p.is_empty()) {
        contact_fields.push(
            json!({"field_code": "PHONE", "values": [{"value": phone, "enum_code": "WORK"}]}),
        );
    }
    if let Some(email) = lead.email.as_deref().filter(|e| !e.is_empty()) {
        contact_fields.push(
            json!({"field_code": "EMAIL", "values": [{"value": email, "enum_code": "WORK"}]}),
        );
    }
    let mut contact = json!({"name": lead.display_name()});
    if !contact_fields.is_empty() {
        contact["custom_fields_values"] = Value::Array(contact_fields);
    }
    contact
}

fn tags(l: &AmoLead<'_>) -> Vec<Value> {
    let mut tags: Vec<Value> = l.tags.iter().map(|t| json!({"name": t})).collect();
    if let Some(source) = l.lead.source.as_deref().filter(|s| !s.is_empty()) {
        tags.push(json!({"name": source}));
    }
    tags
}

/// The complex-lead body: a one-element array, as the endpoint takes up to 50 leads. With
/// `existing`, the lead is linked to that contact and no contact is created.
pub fn body(l: &AmoLead<'_>, existing: Option<i64>) -> Value {
    let contact = match existing {
        Some(id) => json!({"id": id}),
        None => new_contact(l.lead),
    };
    let mut lead = json!({
        "name": format!("Заявка: {}", l.lead.display_name()),
        "_embedded": {"contacts": [contact]},
    });
    let tags = tags(l);
    if !tags.is_empty() {
        lead["_embedded"]["tags"] = Value::Array(tags);
    }
    for (k, v) in [
        ("pipeline_id", l.pipeline_id),
        ("status_id", l.status_id),
        ("responsible_user_id", l.responsible_user_id),
    ] {
        if let Some(v) = v {
            lead[k] = json!(v);
        }
    }
    // Our lead id lets a duplicate be recognised in amoCRM's request_id echo.
    lead["request_id"] = json!(l.lead_id);
    Value::Array(vec![lead])
}

/// The unsorted-form body (§I: `source_uid` and `source_name` required; the form's
/// metadata as the official PHP library sends it, `form_sent_at` always). The status and
/// the responsible user are chosen when the entry is accepted, so they are left out.
pub fn unsorted_body(l: &AmoLead<'_>, now_secs: i64) -> Value {
    let mut lead = json!({"name": format!("Заявка: {}", l.lead.display_name())});
    let tags = tags(l);
    if !tags.is_empty() {
        lead["_embedded"] = json!({"tags": tags});
    }
    let page = l
        .lead
        .source
        .as_deref()
        .filter(|s| !s.is_empty())
        .unwrap_or(SOURCE_NAME);
    let mut entry = json!({
        // Our lead id: amoCRM refuses a second entry with the same uid.
        "source_uid": l.lead_id,
        "source_name": SOURCE_NAME,
        "created_at": now_secs,
        "metadata": {
            "form_id": SOURCE_NAME,
            "form_name": "Заявка",
            "form_page": page,
            "form_sent_at": now_secs,
        },
        "_embedded": {"leads": [lead], "contacts": [new_contact(l.lead)]},
    });
    if let Some(p) = l.pipeline_id {
        entry["pipeline_id"] = json!(p);
    }
    Value::Array(vec![entry])
}

/// The oldest contact in a search answer whose own phone or e-mail is the customer's
/// (ids grow, so the lowest is the one the business has had longest).
fn matching(answer: &Value, phone: Option<&str>, email: Option<&str>) -> Option<i64> {
    let contacts = answer["_embedded"]["contacts"].as_array()?;
    contacts
        .iter()
        .filter(|c| {
            let fields = c["custom_fields_values"].as_array();
            fields.into_iter().flatten().any(|f| {
                let values = f["values"].as_array().into_iter().flatten();
                let mut texts = values.filter_map(|v| v["value"].as_str());
                match f["field_code"].as_str() {
                    Some("PHONE") => {
                        phone.is_some_and(|p| texts.any(|t| contact::same_phone(t, p)))
                    }
                    Some("EMAIL") => {
                        email.is_some_and(|e| texts.any(|t| contact::same_email(t, e)))
                    }
                    _ => false,
                }
            })
        })
        .filter_map(|c| c["id"].as_i64())
        .min()
}

impl Account<'_> {
    fn auth(&self) -> [(&'static str, String); 1] {
        [("authorization", format!("Bearer {}", self.access_token))]
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base_url.trim_end_matches('/'))
    }

    /// The customer's existing contact, if amoCRM has one: by phone first, then by e-mail.
    /// A retryable failure (429 with its `Retry-After`, 5xx, a timeout) is returned, so the
    /// attempt is retried like any other call.
    pub async fn find_contact(&self, lead: &Lead) -> Result<Option<i64>, DeliveryError> {
        let phone = lead.phone.as_deref().and_then(contact::phone);
        let email = lead.email.as_deref().and_then(contact::email);
        let queries = [
            phone.as_deref().map(contact::phone_search_key),
            email.as_deref(),
        ];
        for query in queries.into_iter().flatten() {
            let mut url = reqwest::Url::parse(&self.url("/api/v4/contacts"))
                .map_err(|e| DeliveryError::fatal(format!("amoCRM: not a URL: {e}")))?;
            url.query_pairs_mut()
                .append_pair("query", query)
                .append_pair("limit", &LOOKUP_LIMIT.to_string());
            let answer = self
                .calls
                .get_json("amoCRM", url.as_str(), &self.auth())
                .await
                .map_err(token_rejected)?;
            // 204 (nobody) reads as null, which has no contacts.
            if let Some(id) = matching(&answer, phone.as_deref(), email.as_deref()) {
                return Ok(Some(id));
            }
        }
        Ok(None)
    }

    /// Creates the lead, attached to the customer's contact; returns amoCRM's lead id.
    pub async fn send(&self, lead: &AmoLead<'_>, now_secs: i64) -> Result<String, DeliveryError> {
        if lead.unsorted {
            return self.send_unsorted(lead, now_secs).await;
        }
        let existing = match self.find_contact(lead.lead).await {
            Ok(found) => found,
            Err(e @ DeliveryError::Retryable { .. }) => return Err(e),
            // A refused search (no right to read contacts, say) must not lose the lead: it
            // goes in with a contact of its own, as it did before look-ups. The answer's
            // words are not logged: they may echo the request.
            Err(DeliveryError::Final { .. }) => {
                tracing::warn!("amoCRM refused the contact search; the lead gets a new contact");
                None
            }
        };
        let answer = self
            .calls
            .post_json(
                "amoCRM",
                &self.url("/api/v4/leads/complex"),
                &self.auth(),
                &body(lead, existing),
            )
            .await
            .map_err(token_rejected)?;
        answer[0]["id"]
            .as_i64()
            .map(|id| id.to_string())
            .ok_or_else(|| DeliveryError::fatal("amoCRM: the answer has no lead id ([0].id)"))
    }

    /// Puts the lead into «Неразобранное»; returns the lead id amoCRM made for the entry
    /// (its uid when the answer names no lead).
    async fn send_unsorted(
        &self,
        lead: &AmoLead<'_>,
        now_secs: i64,
    ) -> Result<String, DeliveryError> {
        let answer = self
            .calls
            .post_json(
                "amoCRM",
                &self.url("/api/v4/leads/unsorted/forms"),
                &self.auth(),
                &unsorted_body(lead, now_secs),
            )
            .await
            .map_err(token_rejected)?;
        let entry = &answer["_embedded"]["unsorted"][0];
        entry["_embedded"]["leads"][0]["id"]
            .as_i64()
            .map(|id| id.to_string())
            .or_else(|| entry["uid"].as_str().map(String::from))
            .ok_or_else(|| {
                DeliveryError::fatal(
                    "amoCRM: the answer has no unsorted entry (_embedded.unsorted)",
                )
            })
    }
}

/// amoCRM answers 401 for a wrong or expired token: say so plainly.
fn token_rejected(e: DeliveryError) -> DeliveryError {
    match e {
        DeliveryError::Final { message } if message.contains("HTTP 401") => {
            DeliveryError::fatal(format!("{message} (the access token was rejected)"))
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hit_counts_only_when_its_own_phone_or_email_is_the_customers() {
        let answer = json!({"_embedded": {"contacts": [
            // The search matched the name or a note, not the phone.
            {"id": 5, "custom_fields_values": [
                {"field_code": "PHONE", "values": [{"value": "+7 999 000-11-23"}]}]},
            {"id": 9, "custom_fields_values": [
                {"field_code": "PHONE", "values": [{"value": "8 (999) 000-11-22"}]}]},
            {"id": 7, "custom_fields_values": [
                {"field_code": "EMAIL", "values": [{"value": "Gleb@Example.com"}]}]},
            {"id": 3, "custom_fields_values": null},
        ]}});
        assert_eq!(matching(&answer, Some("79990001122"), None), Some(9));
        assert_eq!(
            matching(&answer, Some("79990001122"), Some("gleb@example.com")),
            Some(7)
        );
        assert_eq!(matching(&answer, Some("79990001199"), None), None);
        assert_eq!(matching(&Value::Null, Some("79990001122"), None), None);
    }
}
