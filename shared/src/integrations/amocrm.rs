//! amoCRM: one lead with its contact through `POST /api/v4/leads/complex`.

use serde_json::{Value, json};

use crate::leads::Lead;
use crate::outbound::{DeliveryError, OpenClient};

pub struct AmoLead<'a> {
    pub lead_id: &'a str,
    pub lead: &'a Lead,
    pub pipeline_id: Option<i64>,
    pub status_id: Option<i64>,
    pub responsible_user_id: Option<i64>,
    pub tags: &'a [String],
}

/// The request body: a one-element array, as the complex endpoint takes up to 50 leads.
pub fn body(l: &AmoLead<'_>) -> Value {
    let mut contact_fields = Vec::new();
    if let Some(phone) = l.lead.phone.as_deref().filter(|p| !p.is_empty()) {
        contact_fields.push(
            json!({"field_code": "PHONE", "values": [{"value": phone, "enum_code": "WORK"}]}),
        );
    }
    if let Some(email) = l.lead.email.as_deref().filter(|e| !e.is_empty()) {
        contact_fields.push(
            json!({"field_code": "EMAIL", "values": [{"value": email, "enum_code": "WORK"}]}),
        );
    }
    let contact_name = l.lead.display_name();
    let mut contact = json!({"name": contact_name});
    if !contact_fields.is_empty() {
        contact["custom_fields_values"] = Value::Array(contact_fields);
    }
    let mut tags: Vec<Value> = l.tags.iter().map(|t| json!({"name": t})).collect();
    if let Some(source) = l.lead.source.as_deref().filter(|s| !s.is_empty()) {
        tags.push(json!({"name": source}));
    }
    let mut lead = json!({
        "name": format!("Заявка: {}", l.lead.display_name()),
        "_embedded": {"contacts": [contact]},
    });
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

/// Creates the lead; returns amoCRM's lead id.
pub async fn send(
    client: &OpenClient,
    base_url: &str,
    access_token: &str,
    lead: &AmoLead<'_>,
) -> Result<String, DeliveryError> {
    let url = format!("{}/api/v4/leads/complex", base_url.trim_end_matches('/'));
    let answer = client
        .post_json(
            "amoCRM",
            &url,
            &[("authorization", format!("Bearer {access_token}"))],
            &body(lead),
        )
        .await
        .map_err(|e| match e {
            // amoCRM answers 401 for a wrong or expired token: say so plainly.
            DeliveryError::Final { message } if message.contains("HTTP 401") => {
                DeliveryError::fatal(format!("{message} (the access token was rejected)"))
            }
            other => other,
        })?;
    answer[0]["id"]
        .as_i64()
        .map(|id| id.to_string())
        .ok_or_else(|| DeliveryError::fatal("amoCRM: the answer has no lead id ([0].id)"))
}
