//! Bitrix24: `crm.lead.add` through the portal's inbound webhook.

use serde_json::{Value, json};

use crate::leads::Lead;
use crate::outbound::{DeliveryError, OpenClient};

pub fn body(lead: &Lead, source_id: Option<&str>, assigned_by_id: Option<i64>) -> Value {
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
    json!({"fields": fields, "params": {"REGISTER_SONET_EVENT": "Y"}})
}

/// Creates the lead; returns Bitrix24's lead id (`result`).
pub async fn send(
    client: &OpenClient,
    webhook_url: &str,
    lead: &Lead,
    source_id: Option<&str>,
    assigned_by_id: Option<i64>,
) -> Result<String, DeliveryError> {
    let url = format!("{}/crm.lead.add.json", webhook_url.trim_end_matches('/'));
    let answer = client
        .post_json(
            "Bitrix24",
            &url,
            &[],
            &body(lead, source_id, assigned_by_id),
        )
        .await?;
    // A 2xx answer's own words are never quoted (see `outbound`): only an error code that
    // looks like one.
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
    match &answer["result"] {
        Value::Number(n) => Ok(n.to_string()),
        Value::String(s) => Ok(s.clone()),
        _ => Err(DeliveryError::fatal(
            "Bitrix24: the answer has no lead id (\"result\")",
        )),
    }
}

/// Bitrix24's error codes are upper-case words joined by `_`.
fn is_error_code(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.chars()
            .all(|c| c.is_ascii_uppercase() || c == '_' || c.is_ascii_digit())
}
