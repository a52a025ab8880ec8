//! Reading an update written by someone else's idea of the Bot API. The full types decode
//! strictly, so one part a handler never looks at — a `from` without `is_bot`, a photo
//! without `file_unique_id`, an entity or chat type added after our types were written —
//! would make the whole update unreadable, and a message would be lost. So when the full
//! decoding fails, the update is cut down to what the handlers read (who, which chat, the
//! text or caption, a shared contact, a photo or document, the message replied to, a
//! button's data), with harmless defaults for what is required but unused, and decoded
//! again. Only an update that does not even have that is given up.

use serde_json::{Map, Value, json};

use super::webhook::Update;

/// Why an update cannot be handled, for the one log line about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unreadable {
    /// The update's kind (`message`, `poll`, …), or `unknown`.
    pub kind: String,
    pub error: String,
}

/// The kinds of update whose messages the handlers read.
const MESSAGE_KINDS: [&str; 4] = [
    "message",
    "edited_message",
    "channel_post",
    "edited_channel_post",
];

/// The update, strictly if it decodes so, else cut down to what the handlers read.
pub fn decode(raw: &Value) -> Result<Update, Unreadable> {
    let kind = kind_of(raw);
    let strict = match serde_json::from_value::<Update>(raw.clone()) {
        Ok(u) => return Ok(u),
        Err(e) => e.to_string(),
    };
    let unreadable = |error: String| Unreadable {
        kind: kind.clone(),
        error,
    };
    let trimmed = trim_update(raw).ok_or_else(|| unreadable(strict.clone()))?;
    serde_json::from_value::<Update>(trimmed)
        .map_err(|e| unreadable(format!("{strict}; cut down: {e}")))
}

/// The first key other than `update_id`: Telegram sends exactly one.
pub fn kind_of(raw: &Value) -> String {
    raw.as_object()
        .and_then(|o| o.keys().find(|k| *k != "update_id").cloned())
        .unwrap_or_else(|| "unknown".into())
}

fn trim_update(raw: &Value) -> Option<Value> {
    let id = raw.get("update_id")?.clone();
    for kind in MESSAGE_KINDS {
        if let Some(m) = raw.get(kind) {
            return Some(json!({"update_id": id, kind: trim_message(m, true)?}));
        }
    }
    let q = raw.get("callback_query")?;
    let mut out = Map::new();
    out.insert("id".into(), text_of(q.get("id")?)?);
    out.insert("from".into(), trim_user(q.get("from")?)?);
    out.insert(
        "chat_instance".into(),
        q.get("chat_instance").cloned().unwrap_or_else(|| json!("")),
    );
    copy_str(q, &mut out, "data");
    if let Some(m) = q.get("message") {
        out.insert("message".into(), trim_message(m, true)?);
    }
    Some(json!({"update_id": id, "callback_query": out}))
}

fn trim_message(m: &Value, with_reply: bool) -> Option<Value> {
    let mut out = Map::new();
    out.insert("message_id".into(), json!(m.get("message_id")?.as_i64()?));
    out.insert(
        "date".into(),
        json!(m.get("date").and_then(Value::as_u64).unwrap_or(0)),
    );
    out.insert("chat".into(), trim_chat(m.get("chat")?)?);
    if let Some(from) = m.get("from").and_then(trim_user) {
        out.insert("from".into(), from);
    }
    copy_str(m, &mut out, "text");
    copy_str(m, &mut out, "caption");
    if let Some(c) = m.get("contact").and_then(trim_contact) {
        out.insert("contact".into(), c);
    }
    if let Some(sizes) = m.get("photo").and_then(Value::as_array) {
        let sizes: Vec<Value> = sizes.iter().filter_map(|f| trim_file(f, true)).collect();
        if !sizes.is_empty() {
            out.insert("photo".into(), Value::Array(sizes));
        }
    }
    if let Some(mut d) = m.get("document").and_then(|f| trim_file(f, false)) {
        copy_str(&m["document"], d.as_object_mut()?, "file_name");
        copy_str(&m["document"], d.as_object_mut()?, "mime_type");
        out.insert("document".into(), d);
    }
    if with_reply
        && let Some(r) = m
            .get("reply_to_message")
            .and_then(|r| trim_message(r, false))
    {
        out.insert("reply_to_message".into(), r);
    }
    Some(Value::Object(out))
}

fn trim_chat(c: &Value) -> Option<Value> {
    let kind = c.get("type")?.as_str()?;
    // A chat type we do not know is not one we talk in.
    if !["private", "group", "supergroup", "channel"].contains(&kind) {
        return None;
    }
    let mut out = Map::new();
    out.insert("id".into(), json!(c.get("id")?.as_i64()?));
    out.insert("type".into(), json!(kind));
    for k in ["title", "username", "first_name", "last_name"] {
        copy_str(c, &mut out, k);
    }
    Some(Value::Object(out))
}

fn trim_user(u: &Value) -> Option<Value> {
    let mut out = Map::new();
    out.insert("id".into(), json!(u.get("id")?.as_u64()?));
    out.insert(
        "is_bot".into(),
        json!(u.get("is_bot").and_then(Value::as_bool).unwrap_or(false)),
    );
    out.insert(
        "first_name".into(),
        u.get("first_name")
            .filter(|v| v.is_string())
            .cloned()
            .unwrap_or_else(|| json!("")),
    );
    for k in ["last_name", "username", "language_code"] {
        copy_str(u, &mut out, k);
    }
    Some(Value::Object(out))
}

fn trim_contact(c: &Value) -> Option<Value> {
    let mut out = Map::new();
    out.insert("phone_number".into(), text_of(c.get("phone_number")?)?);
    out.insert(
        "first_name".into(),
        c.get("first_name")
            .filter(|v| v.is_string())
            .cloned()
            .unwrap_or_else(|| json!("")),
    );
    copy_str(c, &mut out, "last_name");
    if let Some(id) = c.get("user_id").and_then(Value::as_u64) {
        out.insert("user_id".into(), json!(id));
    }
    Some(Value::Object(out))
}

/// A photo size or a document: its id, and what Telegram always sends but we do not use.
fn trim_file(f: &Value, photo: bool) -> Option<Value> {
    let id = f.get("file_id")?.as_str()?;
    let mut out = Map::new();
    out.insert("file_id".into(), json!(id));
    out.insert(
        "file_unique_id".into(),
        f.get("file_unique_id")
            .filter(|v| v.is_string())
            .cloned()
            .unwrap_or_else(|| json!(id)),
    );
    for k in ["width", "height", "file_size"] {
        if let Some(n) = f.get(k).and_then(Value::as_u64) {
            out.insert(k.into(), json!(n));
        }
    }
    if photo {
        // A photo size must have its dimensions; a document has none.
        out.entry("width").or_insert(json!(0));
        out.entry("height").or_insert(json!(0));
    }
    Some(Value::Object(out))
}

fn text_of(v: &Value) -> Option<Value> {
    v.as_str().map(|s| json!(s))
}

fn copy_str(from: &Value, to: &mut Map<String, Value>, key: &str) {
    if let Some(s) = from.get(key).and_then(Value::as_str) {
        to.insert(key.into(), json!(s));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use frankenstein::updates::UpdateContent;

    fn message_of(u: &Update) -> &frankenstein::types::Message {
        match &u.content {
            UpdateContent::Message(m) => m,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn parts_the_handlers_do_not_read_do_not_lose_the_message() {
        // No `is_bot`, an entity type from the future, a photo without file_unique_id.
        let raw = json!({"update_id": 10, "message": {"message_id": 5, "date": 1700000000,
            "chat": {"id": 77, "type": "private"},
            "from": {"id": 77, "first_name": "Gleb", "language_code": "en"},
            "caption": "receipt",
            "entities": [{"type": "brand_new_entity", "offset": 0, "length": 3}],
            "photo": [{"file_id": "AgAD", "width": 90, "height": 90}]}});
        assert!(
            serde_json::from_value::<Update>(raw.clone()).is_err(),
            "the strict types refuse it"
        );
        let u = decode(&raw).unwrap();
        let m = message_of(&u);
        assert_eq!((m.chat.id, m.caption.as_deref()), (77, Some("receipt")));
        assert_eq!(
            m.from.as_ref().unwrap().language_code.as_deref(),
            Some("en")
        );
        assert_eq!(m.photo.as_ref().unwrap()[0].file_id, "AgAD");
    }

    #[test]
    fn a_shared_contact_and_a_button_press_survive_too() {
        let raw = json!({"update_id": 11, "message": {"message_id": 6, "date": 1,
            "chat": {"id": 5, "type": "private"}, "from": {"id": 5},
            "contact": {"phone_number": "79990001122", "user_id": 5, "vcard": {"weird": true}}}});
        let u = decode(&raw).unwrap();
        let c = message_of(&u).contact.as_ref().unwrap();
        assert_eq!(
            (c.phone_number.as_str(), c.user_id),
            ("79990001122", Some(5))
        );
        let press = json!({"update_id": 12, "callback_query": {"id": "q1",
            "from": {"id": 5, "first_name": "A"}, "data": "reg:p",
            "message": {"message_id": 9, "date": 1, "chat": {"id": 5, "type": "private"},
                        "reply_markup": {"inline_keyboard": "not a keyboard"}}}});
        match decode(&press).unwrap().content {
            UpdateContent::CallbackQuery(q) => assert_eq!(q.data.as_deref(), Some("reg:p")),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn what_has_no_chat_or_sender_to_answer_is_unreadable() {
        for (raw, kind) in [
            (
                json!({"update_id": 1, "brand_new_kind": {"x": 1}}),
                "brand_new_kind",
            ),
            (
                json!({"update_id": 2, "message": {"message_id": 1, "date": 1}}),
                "message",
            ),
            (
                json!({"update_id": 3, "message": {"message_id": 1, "date": 1, "chat": {"id": 1, "type": "sender"}}}),
                "message",
            ),
            (json!({"update_id": 4}), "unknown"),
        ] {
            assert_eq!(decode(&raw).unwrap_err().kind, kind, "{raw}");
        }
    }
}
