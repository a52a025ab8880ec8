//! Bitrix24: `crm.lead.add` through the portal's inbound webhook.

use serde_json::{Value, json};

use crate::leads::Lead;
use crate::outbound::{DeliveryError, post_json};

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
    client: &reqwest::Client,
    webhook_url: &str,
    lead: &Lead,
    source_id: Option<&str>,
    assigned_by_id: Option<i64>,
) -> Result<String, DeliveryError> {
    let url = format!("{}/crm.lead.add.json", webhook_url.trim_end_matches('/'));
    let answer = post_json(
        client,
        "Bitrix24",
        &url,
        &[],
        &body(lead, source_id, assigned_by_id),
    )
    .await?;
    if let Some(err) = answer["error"].as_str() {
        let message = format!(
            "Bitrix24: {err}: {}",
            answer["error_description"].as_str().unwrap_or_default()
        );
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
        _ => Err(DeliveryError::fatal(format!(
            "Bitrix24: unexpected answer {answer}"
        ))),
    }
}
