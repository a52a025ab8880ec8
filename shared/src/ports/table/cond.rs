//! Conditions on the current item, evaluated the way DynamoDB does (the embedded adapter
//! calls `holds`; the DynamoDB adapter is tested against it).

use std::cmp::Ordering;

use super::{AttributeValue, Item, PK};

/// A condition on the current item (top-level attributes only).
#[derive(Debug, Clone, PartialEq)]
pub enum Cond {
    Exists(String),
    NotExists(String),
    Eq(String, AttributeValue),
    Lt(String, AttributeValue),
    Le(String, AttributeValue),
    Gt(String, AttributeValue),
    Ge(String, AttributeValue),
    /// A string set (or string) attribute contains the value.
    Contains(String, String),
    And(Vec<Cond>),
    Or(Vec<Cond>),
    Not(Box<Cond>),
}

impl Cond {
    /// No (visible) item exists under the key.
    pub fn item_absent() -> Self {
        Cond::NotExists(PK.into())
    }

    pub fn item_exists() -> Self {
        Cond::Exists(PK.into())
    }

    pub fn eq(attr: &str, value: impl Into<Attr>) -> Self {
        Cond::Eq(attr.into(), value.into().0)
    }

    pub fn and(self, other: Cond) -> Self {
        match self {
            Cond::And(mut all) => {
                all.push(other);
                Cond::And(all)
            }
            first => Cond::And(vec![first, other]),
        }
    }

    pub fn negate(self) -> Self {
        Cond::Not(Box::new(self))
    }

    /// Evaluates the condition against an item, `None` meaning no item. Both adapters agree
    /// with this: the embedded one calls it, the DynamoDB one is tested against it.
    pub fn holds(&self, item: Option<&Item>) -> bool {
        let get = |attr: &str| item.and_then(|i| i.get(attr));
        match self {
            Cond::Exists(a) => get(a).is_some(),
            Cond::NotExists(a) => get(a).is_none(),
            Cond::Eq(a, v) => get(a).is_some_and(|x| compare(x, v) == Some(Ordering::Equal)),
            Cond::Lt(a, v) => get(a).is_some_and(|x| compare(x, v) == Some(Ordering::Less)),
            Cond::Le(a, v) => get(a)
                .is_some_and(|x| matches!(compare(x, v), Some(Ordering::Less | Ordering::Equal))),
            Cond::Gt(a, v) => get(a).is_some_and(|x| compare(x, v) == Some(Ordering::Greater)),
            Cond::Ge(a, v) => get(a).is_some_and(|x| {
                matches!(compare(x, v), Some(Ordering::Greater | Ordering::Equal))
            }),
            Cond::Contains(a, s) => match get(a) {
                Some(AttributeValue::Ss(set)) => set.iter().any(|x| x == s),
                Some(AttributeValue::S(text)) => text.contains(s.as_str()),
                _ => false,
            },
            Cond::And(all) => all.iter().all(|c| c.holds(item)),
            Cond::Or(any) => any.iter().any(|c| c.holds(item)),
            Cond::Not(c) => !c.holds(item),
        }
    }
}

/// Compares two values the way DynamoDB does: numbers by value, strings and binaries by
/// bytes, equal types otherwise by equality; different types do not compare.
pub fn compare(a: &AttributeValue, b: &AttributeValue) -> Option<Ordering> {
    use AttributeValue as A;
    match (a, b) {
        (A::N(x), A::N(y)) => compare_numbers(x, y),
        (A::S(x), A::S(y)) => Some(x.as_bytes().cmp(y.as_bytes())),
        (A::B(x), A::B(y)) => Some(x.cmp(y)),
        (A::Ss(x), A::Ss(y)) | (A::Ns(x), A::Ns(y)) => {
            let mut x = x.clone();
            let mut y = y.clone();
            x.sort();
            y.sort();
            (x == y).then_some(Ordering::Equal)
        }
        (x, y) if std::mem::discriminant(x) == std::mem::discriminant(y) => {
            (x == y).then_some(Ordering::Equal)
        }
        _ => None,
    }
}

fn compare_numbers(x: &str, y: &str) -> Option<Ordering> {
    if let (Ok(a), Ok(b)) = (x.parse::<i128>(), y.parse::<i128>()) {
        return Some(a.cmp(&b));
    }
    let a = x.parse::<f64>().ok()?;
    let b = y.parse::<f64>().ok()?;
    a.partial_cmp(&b)
}

/// A value in a condition or update, built from plain Rust values.
pub struct Attr(pub AttributeValue);

impl From<&str> for Attr {
    fn from(s: &str) -> Self {
        Attr(AttributeValue::S(s.into()))
    }
}
impl From<String> for Attr {
    fn from(s: String) -> Self {
        Attr(AttributeValue::S(s))
    }
}
impl From<&String> for Attr {
    fn from(s: &String) -> Self {
        Attr(AttributeValue::S(s.clone()))
    }
}
impl From<i64> for Attr {
    fn from(n: i64) -> Self {
        Attr(AttributeValue::N(n.to_string()))
    }
}
impl From<u32> for Attr {
    fn from(n: u32) -> Self {
        Attr(AttributeValue::N(n.to_string()))
    }
}
impl From<bool> for Attr {
    fn from(b: bool) -> Self {
        Attr(AttributeValue::Bool(b))
    }
}
impl From<AttributeValue> for Attr {
    fn from(v: AttributeValue) -> Self {
        Attr(v)
    }
}
