//! Bitrix24: `crm.lead.add` through the portal's inbound webhook, linked to the customer's
//! contact when the portal has one.
//!
//! A repeat customer is found with `crm.duplicate.findbycomm` (entity CONTACT), by phone,
//! then (if that finds nobody) by e-mail (bitrix-tools/b24-rest-docs
//! `api-reference/crm/duplicates/crm-duplicate-find-by-comm.md`;
//! `../shared/reference/external-apis.md` §J): its `result` is `{"CONTACT": [ids]}`, the
//! oldest ids first, or `[]` when nothing matches. The portal compares phones by their
//! digits, so both spellings of a Russian number are asked for (`+7…`, `8…`; at most 20
//! values are allowed). The lead then carries `CONTACT_ID`, which also marks it a repeat
//! lead (`IS_RETURN_CUSTOMER`, b24-rest-docs `crm-lead-add.md`).

use serde_json::{Value, json};

use super::pace::Paced;
use crate::leads::Lead;
use crate::leads::contact;
use crate::outbound::DeliveryError;

pub fn body(
    lead: &Lead,
    source_id: Option<&str>,
    assigned_by_id: Option<i64>,
    contact_id: Option<i64>,
) -> Value {
    let mut fields = json!({
        "TITLE": format!("Заявка: {}", lead.display_name()),
        "SOURCE_ID": source_id.unwrap_or("WEB"),
    });
    if let Some(name) = lead.name.as_deref().filter(|n| !n.is_empty()) {
        fields["NAME"] = json!(name);
    }
    if let Some(phone) = lead.phone.as_deref().filter(|p| !p.is_empty()) {
        fields["PHONE"] = json!([{"VALUE": phone, "VALUE_TYPE": "WORK"}]);
    }
    if let Some(email) = lead.email.as_deref().filter(|e| !e.is_empty()) {
        fields["EMAIL"] = json!([{"VALUE": email, "VALUE_TYPE": "WORK"}]);
    }
    if let Some(comment) = lead.comment.as_deref().filter(|c| !c.is_empty()) {
        fields["COMMENTS"] = json!(comment);
    }
    if let Some(source) = lead.source.as_deref().filter(|s| !s.is_empty()) {
        fields["SOURCE_DESCRIPTION"] = json!(source);
    }
    for (utm, field) in [
        ("utm_source", "UTM_SOURCE"),
        ("utm_medium", "UTM_MEDIUM"),
        ("utm_campaign", "UTM_CAMPAIGN"),
        ("utm_content", "UTM_CONTENT"),
        ("utm_term", "UTM_TERM"),
    ] {
        if let Some(v) = lead
            .utm
            .get(utm)
            .or_else(|| lead.utm.get(utm.trim_start_matches("utm_")))
        {
            fields[field] = json!(v);
        }
    }
    if let Some(id) = assigned_by_id {
        fields["ASSIGNED_BY_ID"] = json!(id);
    }
    if let Some(id) = contact_id {
        fields["CONTACT_ID"] = json!(id);
    }
    json!({"fields": fields, "params": {"REGISTER_SONET_EVENT": "Y"}})
}

/// A portal's inbound webhook and the paced calls of this attempt.
pub struct Portal<'a> {
    pub calls: &'a Paced<'a>,
    pub webhook_url: &'a str,
}

impl Portal<'_> {
    /// Calls a method; returns its `result`. A 2xx answer's own words are never quoted (see
    /// `outbound`): only an error code that looks like one.
    async fn call(&self, method: &str, body: &Value) -> Result<Value, DeliveryError> {
        let url = format!("{}/{method}.json", self.webhook_url.trim_end_matches('/'));
        let mut answer = self.calls.post_json("Bitrix24", &url, &[], body).await?;
        if let Some(err) = answer["error"].as_str() {
            let code = if is_error_code(err) { err } else { "error" };
            let message = format!("Bitrix24: {code} (in a 2xx answer)");
            return Err(
                if err == "QUERY_LIMIT_EXCEEDED" || err == "INTERNAL_SERVER_ERROR" {
                    DeliveryError::retryable(message)
                } else {
                    DeliveryError::fatal(message)
                },
            );
        }
        Ok(answer["result"].take())
    }

    /// The customer's existing contact, if the portal has one: by phone first, then by
    /// e-mail. A retryable failure (a 429 with its `Retry-After`, `QUERY_LIMIT_EXCEEDED`,
    /// 5xx, a timeout) is returned, so the attempt is retried like any other call.
    pub async fn find_contact(&self, lead: &Lead) -> Result<Option<i64>, DeliveryError> {
        let phones = lead
            .phone
            .as_deref()
            .and_then(contact::phone)
            .map(|p| contact::phone_spellings(&p));
        let email = lead.email.as_deref().and_then(contact::email);
        let searches = [
            phones.map(|values| ("PHONE", values)),
            email.map(|e| ("EMAIL", vec![e])),
        ];
        for (kind, values) in searches.into_iter().flatten() {
            let result = self
                .call(
                    "crm.duplicate.findbycomm",
                    &json!({"entity_type": "CONTACT", "type": kind, "values": values}),
                )
                .await?;
            // `[]` when nothing matched; ids may come as numbers or strings.
            let oldest = result["CONTACT"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|id| id.as_i64().or_else(|| id.as_str()?.parse().ok()))
                .min();
            if oldest.is_some() {
                return Ok(oldest);
            }
        }
        Ok(None)
    }

    /// Creates the lead, linked to the customer's contact; returns Bitrix24's lead id.
    pub async fn send(
        &self,
        lead: &Lead,
        source_id: Option<&str>,
        assigned_by_id: Option<i64>,
    ) -> Result<String, DeliveryError> {
        let contact_id = match self.find_contact(lead).await {
            Ok(found) => found,
            Err(e @ DeliveryError::Retryable { .. }) => return Err(e),
            // A refused search (a webhook without the right, say) must not lose the lead:
            // it goes in unlinked, as it did before look-ups. The answer's words are not
            // logged: they may echo the webhook's code.
            Err(DeliveryError::Final { .. }) => {
                tracing::warn!("Bitrix24 refused the duplicate search; the lead goes in unlinked");
                None
            }
        };
        let result = self
            .call(
                "crm.lead.add",
                &body(lead, source_id, assigned_by_id, contact_id),
            )
            .await?;
        match result {
            Value::Number(n) => Ok(n.to_string()),
            Value::String(s) => Ok(s),
            _ => Err(DeliveryError::fatal(
                "Bitrix24: the answer has no lead id (\"result\")",
            )),
        }
    }
}

/// Bitrix24's error codes are upper-case words joined by `_`.
fn is_error_code(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.chars()
            .all(|c| c.is_ascii_uppercase() || c == '_' || c.is_ascii_digit())
}
