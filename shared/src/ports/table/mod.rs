//! The table port: one DynamoDB-shaped table (pk, sk, gsi1pk/gsi1sk, ttl).
//!
//! Items are `serde_dynamo` attribute maps so that domain types go in and out with
//! `serde_dynamo::to_item` / `from_item`, whichever adapter stores them.
//!
//! Expiry: an item whose numeric `ttl` attribute (Unix seconds) is in the past is gone as
//! far as this port is concerned, even while DynamoDB has not removed it yet: reads skip it,
//! conditions see no item, and an update starts from an empty item.

mod cond;
mod update;

use std::collections::HashMap;

use async_trait::async_trait;
pub use cond::{Attr, Cond, compare};
pub use serde_dynamo::AttributeValue;
pub use update::Update;

pub type Item = HashMap<String, AttributeValue>;

pub const PK: &str = "pk";
pub const SK: &str = "sk";
pub const GSI1_PK: &str = "gsi1pk";
pub const GSI1_SK: &str = "gsi1sk";
pub const TTL: &str = "ttl";
pub const GSI1: &str = "gsi1";
/// DynamoDB's limit on one transaction as this project uses it.
pub const MAX_TX_OPS: usize = 25;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Key {
    pub pk: String,
    pub sk: String,
}

impl Key {
    pub fn new(pk: impl Into<String>, sk: impl Into<String>) -> Self {
        Self {
            pk: pk.into(),
            sk: sk.into(),
        }
    }

    pub fn of(item: &Item) -> Result<Self, StoreError> {
        match (item.get(PK), item.get(SK)) {
            (Some(AttributeValue::S(pk)), Some(AttributeValue::S(sk)))
                if !pk.is_empty() && !sk.is_empty() =>
            {
                Ok(Self::new(pk.clone(), sk.clone()))
            }
            _ => Err(StoreError::Invalid(
                "an item needs non-empty string attributes pk and sk".into(),
            )),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The write's condition did not hold; nothing was written.
    #[error("condition failed")]
    ConditionFailed,
    /// Throttled, unreachable or a transaction conflict: trying again later can succeed.
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// The request itself is wrong and will never succeed.
    #[error("invalid storage request: {0}")]
    Invalid(String),
}

impl StoreError {
    pub fn is_retryable(&self) -> bool {
        matches!(self, StoreError::Unavailable(_))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Index {
    /// The table's own key: pk, sk.
    Primary,
    /// The one secondary index: gsi1pk, gsi1sk.
    Gsi1,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    pub index: Index,
    pub pk: String,
    pub sk_prefix: Option<String>,
    pub descending: bool,
    /// At most this many items in one page. A page can hold fewer even when more follow;
    /// only a missing cursor means the end.
    pub limit: Option<u32>,
    pub cursor: Option<String>,
}

impl Query {
    pub fn pk(pk: impl Into<String>) -> Self {
        Self {
            index: Index::Primary,
            pk: pk.into(),
            sk_prefix: None,
            descending: false,
            limit: None,
            cursor: None,
        }
    }

    pub fn gsi1(pk: impl Into<String>) -> Self {
        Self {
            index: Index::Gsi1,
            ..Self::pk(pk)
        }
    }

    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.sk_prefix = Some(prefix.into());
        self
    }

    pub fn descending(mut self) -> Self {
        self.descending = true;
        self
    }

    pub fn limit(mut self, limit: u32) -> Self {
        self.limit = Some(limit);
        self
    }

    pub fn after(mut self, cursor: Option<String>) -> Self {
        self.cursor = cursor;
        self
    }
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct Page {
    pub items: Vec<Item>,
    pub cursor: Option<String>,
}

/// One part of an all-or-nothing write.
#[derive(Debug, Clone, PartialEq)]
pub enum TxOp {
    Put { item: Item, cond: Option<Cond> },
    Update { key: Key, update: Update },
    Check { key: Key, cond: Cond },
    Delete { key: Key, cond: Option<Cond> },
}

impl TxOp {
    pub fn key(&self) -> Result<Key, StoreError> {
        match self {
            TxOp::Put { item, .. } => Key::of(item),
            TxOp::Update { key, .. } | TxOp::Check { key, .. } | TxOp::Delete { key, .. } => {
                Ok(key.clone())
            }
        }
    }
}

/// Checks a transaction the way DynamoDB would before running it.
pub fn validate_tx(ops: &[TxOp]) -> Result<(), StoreError> {
    if ops.is_empty() || ops.len() > MAX_TX_OPS {
        return Err(StoreError::Invalid(format!(
            "a transaction holds 1 to {MAX_TX_OPS} operations, not {}",
            ops.len()
        )));
    }
    let mut keys = std::collections::HashSet::new();
    for op in ops {
        if !keys.insert(op.key()?) {
            return Err(StoreError::Invalid(
                "a transaction touches the same item twice".into(),
            ));
        }
        if let TxOp::Update { update, .. } = op {
            update.validate()?;
        }
    }
    Ok(())
}

/// Whether an item has expired at `now_secs`.
pub fn is_expired(item: &Item, now_secs: i64) -> bool {
    match item.get(TTL) {
        Some(AttributeValue::N(n)) => n.parse::<f64>().is_ok_and(|t| (t as i64) < now_secs),
        _ => false,
    }
}

#[async_trait]
pub trait Table: Send + Sync {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError>;

    /// An eventually consistent read: half the cost of [`Self::get`] on DynamoDB, and may
    /// miss a write of the last second. The embedded table has only consistent reads.
    async fn get_eventually(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        self.get(key).await
    }

    /// Writes the whole item, replacing any existing one, if the condition holds.
    async fn put(&self, item: Item, cond: Option<Cond>) -> Result<(), StoreError>;

    /// Applies the update and returns the item as it is afterwards.
    async fn update(&self, key: &Key, update: Update) -> Result<Item, StoreError>;

    async fn delete(&self, key: &Key, cond: Option<Cond>) -> Result<(), StoreError>;

    async fn query(&self, query: Query) -> Result<Page, StoreError>;

    /// Applies every operation or none; a failed condition anywhere gives `ConditionFailed`.
    async fn transact(&self, ops: Vec<TxOp>) -> Result<(), StoreError>;

    async fn put_if_absent(&self, item: Item) -> Result<(), StoreError> {
        self.put(item, Some(Cond::item_absent())).await
    }

    /// Optimistic locking: writes only while `attr` still holds `expected`.
    async fn put_if_version(
        &self,
        item: Item,
        attr: &str,
        expected: i64,
    ) -> Result<(), StoreError> {
        self.put(item, Some(Cond::eq(attr, expected))).await
    }

    /// Follows the cursor to the end. For small result sets only.
    async fn query_all(&self, query: Query) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::new();
        let mut cursor = None;
        loop {
            let page = self.query(query.clone().after(cursor)).await?;
            items.extend(page.items);
            match page.cursor {
                Some(next) => cursor = Some(next),
                None => return Ok(items),
            }
        }
    }
}

/// Builds an item from a serializable value plus its key attributes.
pub fn to_item<T: serde::Serialize>(key: &Key, value: &T) -> Result<Item, StoreError> {
    let item: serde_dynamo::Item = serde_dynamo::to_item(value)
        .map_err(|e| StoreError::Invalid(format!("cannot store value: {e}")))?;
    let mut item: Item = item.into_inner();
    item.insert(PK.into(), AttributeValue::S(key.pk.clone()));
    item.insert(SK.into(), AttributeValue::S(key.sk.clone()));
    Ok(item)
}

/// Reads a stored item back into a domain type (unknown attributes such as pk are ignored
/// unless the type names them).
pub fn from_item<T: serde::de::DeserializeOwned>(item: Item) -> Result<T, StoreError> {
    serde_dynamo::from_item(serde_dynamo::Item::from(item))
        .map_err(|e| StoreError::Invalid(format!("stored item has an unexpected shape: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(pairs: &[(&str, AttributeValue)]) -> Item {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    #[test]
    fn conditions_compare_numbers_by_value_and_missing_attributes_fail() {
        let it = item(&[("v", AttributeValue::N("10".into()))]);
        assert!(Cond::Gt("v".into(), AttributeValue::N("9".into())).holds(Some(&it)));
        assert!(!Cond::Gt("v".into(), AttributeValue::N("10.5".into())).holds(Some(&it)));
        assert!(!Cond::Eq("w".into(), AttributeValue::N("1".into())).holds(Some(&it)));
        assert!(
            Cond::Eq("w".into(), AttributeValue::N("1".into()))
                .negate()
                .holds(Some(&it))
        );
        assert!(
            !Cond::eq("v", "10").holds(Some(&it)),
            "a string never equals a number"
        );
        assert!(Cond::item_absent().holds(None));
    }

    #[test]
    fn update_adds_to_numbers_and_sets_without_duplicates() {
        let key = Key::new("a", "b");
        let u = Update::new()
            .add("n", 2)
            .add_to_set("s", ["x", "y"])
            .set_if_absent("created", "t1");
        let once = u.apply(&key, None).unwrap();
        let twice = u.apply(&key, Some(once)).unwrap();
        assert_eq!(twice["n"], AttributeValue::N("4".into()));
        assert_eq!(twice["s"], AttributeValue::Ss(vec!["x".into(), "y".into()]));
        assert_eq!(twice["created"], AttributeValue::S("t1".into()));
    }

    #[test]
    fn updates_that_dynamodb_refuses_are_refused() {
        assert!(Update::new().set("pk", "x").validate().is_err());
        assert!(Update::new().validate().is_err());
        assert!(Update::new().set("a", 1i64).add("a", 1).validate().is_err());
        assert!(
            Update::new()
                .add_to_set::<&str>("a", [])
                .validate()
                .is_err()
        );
    }
}
