//! What the system sends back to `POST /bridge/reply/{token}`: checked field by field (the
//! first problem named), extra fields the system adds are left alone.

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A reply's text is split into messages (ten at most); more than this would be cut.
pub const MAX_TEXT: usize = 32_768;
pub const MAX_CAPTION: usize = 1024;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachment {
    /// `photo` or `document`.
    pub kind: String,
    pub url: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub caption: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Button {
    pub text: String,
    pub url: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Reply {
    pub client_id: String,
    #[serde(default)]
    pub text: String,
    /// `HTML` or `MarkdownV2` when the system formats its text itself; escaped otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parse_mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reply_to_message_id: Option<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub attachments: Vec<Attachment>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub buttons: Vec<Vec<Button>>,
    /// The system's own id of the reply, when it gives one (repeats are dropped by it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

fn wrong(field: impl Into<String>, message: impl Into<String>) -> FieldError {
    FieldError {
        field: field.into(),
        message: message.into(),
    }
}

fn text_of(v: &Value, field: &str, max: usize) -> Result<Option<String>, FieldError> {
    match v.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.chars().count() > max => {
            Err(wrong(field, format!("is at most {max} characters")))
        }
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(_) => Err(wrong(field, "must be a string")),
    }
}

fn web_url(u: &str, also_tg: bool) -> bool {
    reqwest::Url::parse(u).is_ok_and(|p| {
        p.scheme() == "https" || p.scheme() == "http" || (also_tg && p.scheme() == "tg")
    }) && u.len() <= 2048
}

pub fn parse(v: &Value) -> Result<Reply, FieldError> {
    if !v.is_object() {
        return Err(wrong("body", "must be a JSON object"));
    }
    let client_id =
        text_of(v, "client_id", 64)?.ok_or_else(|| wrong("client_id", "is required"))?;
    if super::store::user_of(&client_id).is_none() {
        return Err(wrong("client_id", "must be telegram_<Telegram user id>"));
    }
    let mut text = None;
    for f in ["content", "text", "message"] {
        if let Some(t) = text_of(v, f, MAX_TEXT)? {
            text = Some(t);
            break;
        }
    }
    let parse_mode = match text_of(v, "parse_mode", 16)? {
        None => None,
        Some(m) if ["HTML", "MarkdownV2"].contains(&m.as_str()) => Some(m),
        Some(_) => return Err(wrong("parse_mode", "must be HTML or MarkdownV2")),
    };
    // A Telegram message id, or the `message_id` we sent (`<chat>-<message>`) echoed back.
    let reply_to_message_id = match v.get("reply_to_message_id") {
        None | Some(Value::Null) => None,
        Some(n) => Some(
            n.as_i64()
                .or_else(|| {
                    n.as_str()
                        .and_then(|s| s.rsplit('-').next())
                        .and_then(|s| s.parse().ok())
                })
                .filter(|n| *n > 0 && *n <= i64::from(i32::MAX))
                .ok_or_else(|| wrong("reply_to_message_id", "must be a Telegram message id"))?,
        ),
    };
    let mut attachments = Vec::new();
    match v.get("attachments") {
        None | Some(Value::Null) => {}
        Some(Value::Array(items)) if items.len() <= 10 => {
            for (i, a) in items.iter().enumerate() {
                let at = |f: &str| format!("attachments[{i}].{f}");
                let kind = a.get("type").and_then(Value::as_str).unwrap_or_default();
                if !["photo", "document"].contains(&kind) {
                    return Err(wrong(at("type"), "must be photo or document"));
                }
                let url = a.get("url").and_then(Value::as_str).unwrap_or_default();
                if !web_url(url, false) {
                    return Err(wrong(
                        at("url"),
                        "must be an http(s) URL Telegram can fetch",
                    ));
                }
                let caption = text_of(a, "caption", MAX_CAPTION)
                    .map_err(|e| wrong(at("caption"), e.message))?;
                attachments.push(Attachment {
                    kind: kind.into(),
                    url: url.into(),
                    caption,
                });
            }
        }
        Some(_) => return Err(wrong("attachments", "must be a list of at most 10")),
    }
    let mut buttons = Vec::new();
    match v.get("buttons") {
        None | Some(Value::Null) => {}
        Some(Value::Array(rows)) if rows.len() <= 10 => {
            for (r, row) in rows.iter().enumerate() {
                let Some(row) = row
                    .as_array()
                    .filter(|row| !row.is_empty() && row.len() <= 8)
                else {
                    return Err(wrong(
                        format!("buttons[{r}]"),
                        "must be a list of 1 to 8 buttons",
                    ));
                };
                let mut out = Vec::new();
                for (c, b) in row.iter().enumerate() {
                    let at = |f: &str| format!("buttons[{r}][{c}].{f}");
                    let text = b
                        .get("text")
                        .and_then(Value::as_str)
                        .map(str::trim)
                        .unwrap_or_default();
                    if text.is_empty() || text.chars().count() > 64 {
                        return Err(wrong(at("text"), "must be 1 to 64 characters"));
                    }
                    let url = b.get("url").and_then(Value::as_str).unwrap_or_default();
                    if !web_url(url, true) {
                        return Err(wrong(at("url"), "must be an http(s) or tg:// URL"));
                    }
                    out.push(Button {
                        text: text.into(),
                        url: url.into(),
                    });
                }
                buttons.push(out);
            }
        }
        Some(_) => return Err(wrong("buttons", "must be rows (at most 10) of buttons")),
    }
    let text = text.unwrap_or_default();
    if text.trim().is_empty() && attachments.is_empty() {
        return Err(wrong("content", "is required (or attachments)"));
    }
    let id = text_of(v, "id", 128)?;
    Ok(Reply {
        client_id,
        text,
        parse_mode,
        reply_to_message_id,
        attachments,
        buttons,
        id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_seeds_body_and_its_other_spellings_are_taken_and_mistakes_named() {
        let r = parse(&json!({"client_id": "telegram_42", "content": "Ответ"})).unwrap();
        assert_eq!(
            (r.client_id.as_str(), r.text.as_str()),
            ("telegram_42", "Ответ")
        );
        assert_eq!(
            parse(&json!({"client_id": "telegram_42", "text": "a"}))
                .unwrap()
                .text,
            "a"
        );
        assert_eq!(
            parse(&json!({"client_id": "telegram_42", "message": "b", "extra": 1}))
                .unwrap()
                .text,
            "b"
        );
        let field = |v: Value| parse(&v).unwrap_err().field;
        assert_eq!(field(json!({"content": "x"})), "client_id");
        assert_eq!(
            field(json!({"client_id": "crm_42", "content": "x"})),
            "client_id"
        );
        assert_eq!(field(json!({"client_id": "telegram_42"})), "content");
        assert_eq!(
            field(json!({"client_id": "telegram_42", "content": "x", "parse_mode": "BBCode"})),
            "parse_mode"
        );
        assert_eq!(
            field(
                json!({"client_id": "telegram_42", "attachments": [{"type": "video", "url": "https://x.example/a"}]})
            ),
            "attachments[0].type"
        );
        assert_eq!(
            field(
                json!({"client_id": "telegram_42", "content": "x", "buttons": [[{"text": "Go", "url": "javascript:alert(1)"}]]})
            ),
            "buttons[0][0].url"
        );
    }
}
