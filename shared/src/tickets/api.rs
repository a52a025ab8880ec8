//! The ticket API's request bodies: each field checked by name, unknown fields refused (a
//! typo such as `maxTickets` must not be silently ignored), the first problem reported as
//! `field: what is wrong`.

use serde_json::{Map, Value};

use super::store::{ExecutorPatch, NewExecutor, NewTicket};
use super::workflow::{MAX_DESCRIPTION, MAX_TITLE};

/// What is wrong with a request, by field.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

fn wrong(field: &str, message: impl Into<String>) -> FieldError {
    FieldError {
        field: field.into(),
        message: message.into(),
    }
}

pub const MAX_NAME: usize = 200;

struct Fields {
    map: Map<String, Value>,
}

impl Fields {
    fn of(body: &Value) -> Result<Self, FieldError> {
        match body {
            Value::Object(map) => Ok(Self { map: map.clone() }),
            _ => Err(wrong("body", "must be a JSON object")),
        }
    }

    fn take(&mut self, name: &str) -> Option<Value> {
        self.map.remove(name).filter(|v| !v.is_null())
    }

    fn has_null(&self, name: &str) -> bool {
        matches!(self.map.get(name), Some(Value::Null))
    }

    fn text(&mut self, name: &str, max: usize) -> Result<Option<String>, FieldError> {
        match self.take(name) {
            None => Ok(None),
            Some(Value::String(s)) => {
                let s = s.trim().to_string();
                if s.is_empty() {
                    Err(wrong(name, "must not be empty"))
                } else if s.chars().count() > max {
                    Err(wrong(name, format!("must be at most {max} characters")))
                } else if s.chars().any(|c| c.is_control() && c != '\n' && c != '\t') {
                    Err(wrong(name, "must not hold control characters"))
                } else {
                    Ok(Some(s))
                }
            }
            Some(_) => Err(wrong(name, "must be a string")),
        }
    }

    /// A whole number, also as a string of digits (`"123456789"`, as ids are often sent).
    fn int(&mut self, name: &str, min: i64, max: i64) -> Result<Option<i64>, FieldError> {
        let n = match self.take(name) {
            None => return Ok(None),
            Some(Value::Number(n)) => n.as_i64(),
            Some(Value::String(s)) => s.trim().parse::<i64>().ok(),
            Some(_) => None,
        };
        match n {
            Some(n) if (min..=max).contains(&n) => Ok(Some(n)),
            Some(_) => Err(wrong(name, format!("must be from {min} to {max}"))),
            None => Err(wrong(name, "must be a whole number")),
        }
    }

    fn flag(&mut self, name: &str) -> Result<Option<bool>, FieldError> {
        match self.take(name) {
            None => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(b)),
            Some(_) => Err(wrong(name, "must be true or false")),
        }
    }

    fn ids(&mut self, name: &str) -> Result<Vec<i64>, FieldError> {
        match self.take(name) {
            None => Ok(Vec::new()),
            Some(Value::Array(items)) if items.len() <= 50 => {
                let mut out = Vec::new();
                for v in items {
                    match v.as_i64().filter(|n| *n > 0) {
                        Some(n) if !out.contains(&n) => out.push(n),
                        Some(_) => {}
                        None => return Err(wrong(name, "must list user ids (whole numbers)")),
                    }
                }
                Ok(out)
            }
            Some(_) => Err(wrong(name, "must be a list of at most 50 user ids")),
        }
    }

    fn finish(self) -> Result<(), FieldError> {
        match self.map.keys().next() {
            Some(k) => Err(wrong(k, "is not a field of this request")),
            None => Ok(()),
        }
    }
}

fn required<T>(field: &str, v: Option<T>) -> Result<T, FieldError> {
    v.ok_or_else(|| wrong(field, "is required"))
}

/// Telegram user ids are positive and (today) below 2^52.
const MAX_TELEGRAM_ID: i64 = 1 << 52;
pub const MAX_PRIORITY: i64 = 1000;
pub const MAX_TICKETS: i64 = 1000;

pub fn new_user(body: &Value) -> Result<(String, Option<i64>), FieldError> {
    let mut f = Fields::of(body)?;
    let name = required("name", f.text("name", MAX_NAME)?)?;
    let tg = f.int("telegram_id", 1, MAX_TELEGRAM_ID)?;
    f.finish()?;
    Ok((name, tg))
}

/// `name`, and `telegram_id` (a number binds, `null` unbinds).
pub fn user_patch(body: &Value) -> Result<(Option<String>, Option<Option<i64>>), FieldError> {
    let mut f = Fields::of(body)?;
    let unbind = f.has_null("telegram_id");
    let name = f.text("name", MAX_NAME)?;
    let tg = f.int("telegram_id", 1, MAX_TELEGRAM_ID)?;
    f.finish()?;
    let telegram = match (tg, unbind) {
        (Some(t), _) => Some(Some(t)),
        (None, true) => Some(None),
        (None, false) => None,
    };
    if name.is_none() && telegram.is_none() {
        return Err(wrong("body", "give name and/or telegram_id"));
    }
    Ok((name, telegram))
}

/// A binding link's request: `{}`, or `{"rebind": true}` when the link may replace the
/// account the user is bound to (a plain link never does).
pub fn link_request(body: &Value) -> Result<bool, FieldError> {
    let mut f = Fields::of(body)?;
    let rebind = f.flag("rebind")?.unwrap_or(false);
    f.finish()?;
    Ok(rebind)
}

pub fn new_category(body: &Value) -> Result<(String, Vec<i64>), FieldError> {
    let mut f = Fields::of(body)?;
    let name = required("name", f.text("name", MAX_NAME)?)?;
    let managers = f.ids("manager_user_ids")?;
    f.finish()?;
    Ok((name, managers))
}

pub fn new_executor(body: &Value) -> Result<NewExecutor, FieldError> {
    let mut f = Fields::of(body)?;
    let user_id = required("user_id", f.int("user_id", 1, i64::MAX)?)?;
    let category_id = required("category_id", f.int("category_id", 1, i64::MAX)?)?;
    let priority = f.int("priority", 0, MAX_PRIORITY)?.unwrap_or(0);
    let max_tickets = f.int("max_tickets", 1, MAX_TICKETS)?.unwrap_or(10);
    let is_active = f.flag("is_active")?.unwrap_or(true);
    f.finish()?;
    Ok(NewExecutor {
        user_id,
        category_id,
        priority,
        max_tickets,
        is_active,
    })
}

pub fn executor_patch(body: &Value) -> Result<ExecutorPatch, FieldError> {
    let mut f = Fields::of(body)?;
    let patch = ExecutorPatch {
        is_active: f.flag("is_active")?,
        priority: f.int("priority", 0, MAX_PRIORITY)?,
        max_tickets: f.int("max_tickets", 1, MAX_TICKETS)?,
    };
    f.finish()?;
    if patch.is_active.is_none() && patch.priority.is_none() && patch.max_tickets.is_none() {
        return Err(wrong("body", "give is_active, priority and/or max_tickets"));
    }
    Ok(patch)
}

/// A ticket: `title` may be left out, then it is the description's first sentence.
pub fn new_ticket(body: &Value) -> Result<NewTicket, FieldError> {
    let mut f = Fields::of(body)?;
    let category_id = required("category_id", f.int("category_id", 1, i64::MAX)?)?;
    let author_user_id = required("author_user_id", f.int("author_user_id", 1, i64::MAX)?)?;
    let title = f.text("title", MAX_TITLE)?;
    let description = required("description", f.text("description", MAX_DESCRIPTION)?)?;
    f.finish()?;
    Ok(NewTicket {
        category_id,
        author_user_id,
        title: title.unwrap_or_else(|| crate::title::derive(&description)),
        description,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_seeds_executor_body_is_taken_and_mistakes_name_their_field() {
        let e = new_executor(
            &json!({"user_id": 5, "category_id": 2, "priority": 5, "max_tickets": 10}),
        )
        .unwrap();
        assert_eq!(
            (
                e.user_id,
                e.category_id,
                e.priority,
                e.max_tickets,
                e.is_active
            ),
            (5, 2, 5, 10, true)
        );
        let field = |b: Value| new_executor(&b).unwrap_err().field;
        assert_eq!(field(json!({"category_id": 2})), "user_id");
        assert_eq!(field(json!({"user_id": "x", "category_id": 2})), "user_id");
        assert_eq!(
            field(json!({"user_id": 5, "category_id": 2, "max_tickets": 0})),
            "max_tickets"
        );
        assert_eq!(
            field(json!({"user_id": 5, "category_id": 2, "maxTickets": 3})),
            "maxTickets"
        );
        assert_eq!(field(json!([1])), "body");
    }

    #[test]
    fn users_take_a_telegram_id_as_number_or_digits_and_null_unbinds() {
        assert_eq!(
            new_user(&json!({"name": "Ира", "telegram_id": "123456789"})).unwrap(),
            ("Ира".into(), Some(123456789))
        );
        assert_eq!(new_user(&json!({"name": " "})).unwrap_err().field, "name");
        assert_eq!(
            user_patch(&json!({"telegram_id": null})).unwrap(),
            (None, Some(None))
        );
        assert_eq!(user_patch(&json!({})).unwrap_err().field, "body");
        assert_eq!(
            new_user(&json!({"name": "A", "telegram_id": -4}))
                .unwrap_err()
                .field,
            "telegram_id"
        );
    }

    #[test]
    fn a_link_takes_only_rebind() {
        assert_eq!(link_request(&json!({})), Ok(false));
        assert_eq!(link_request(&json!({"rebind": true})), Ok(true));
        assert_eq!(link_request(&json!({"rebind": false})), Ok(false));
        assert_eq!(
            link_request(&json!({"rebind": "yes"})).unwrap_err().field,
            "rebind"
        );
        assert_eq!(
            link_request(&json!({"rebind": true, "user": 2}))
                .unwrap_err()
                .field,
            "user"
        );
        assert_eq!(link_request(&json!([])).unwrap_err().field, "body");
    }

    #[test]
    fn a_ticket_without_a_title_takes_the_first_sentence() {
        let t = new_ticket(&json!({"category_id": 2, "author_user_id": 1, "description": "Не работает принтер. Срочно"})).unwrap();
        assert_eq!(t.title, "Не работает принтер");
        let long = "x".repeat(MAX_DESCRIPTION + 1);
        assert_eq!(
            new_ticket(&json!({"category_id": 2, "author_user_id": 1, "description": long}))
                .unwrap_err()
                .field,
            "description"
        );
    }
}
