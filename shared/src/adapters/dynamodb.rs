//! The table port on DynamoDB.
//!
//! DynamoDB removes expired items only eventually, so this adapter hides them itself:
//! reads filter on `ttl`, conditions are rewritten to see an expired item as absent, and an
//! update that meets an expired item removes it first and tries again.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{
    AttributeValue as Dav, ConditionCheck, Delete, Put, ReturnValue, TransactWriteItem,
    Update as DUpdate,
};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use super::aws::is_retryable_code;
use super::dynamodb_expr::{Expr, condition, prepare_update};
use crate::ports::clock::Clock;
use crate::ports::table::{
    AttributeValue, Cond, GSI1, GSI1_PK, GSI1_SK, Index, Item, Key, PK, Page, Query, SK,
    StoreError, TTL, Table, TxOp, Update, is_expired, validate_tx,
};

#[derive(Clone)]
pub struct DynamoTable {
    pub(super) client: Client,
    pub(super) table: String,
    clock: Arc<dyn Clock>,
}

type DItem = HashMap<String, Dav>;

fn to_sdk(item: Item) -> DItem {
    item.into_iter().map(|(k, v)| (k, Dav::from(v))).collect()
}

fn from_sdk(item: DItem) -> Item {
    item.into_iter()
        .map(|(k, v)| (k, AttributeValue::from(v)))
        .collect()
}

fn key_item(key: &Key) -> DItem {
    HashMap::from([
        (PK.to_string(), Dav::S(key.pk.clone())),
        (SK.to_string(), Dav::S(key.sk.clone())),
    ])
}

/// Turns an SDK error into the port's error kinds.
pub(super) fn classify<E, R>(op: &str, err: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    if let Some(service) = err.as_service_error() {
        let code = service.code().unwrap_or_default();
        let message = service.message().unwrap_or_default();
        return match code {
            "ConditionalCheckFailedException" => StoreError::ConditionFailed,
            c if is_retryable_code(c) => StoreError::Unavailable(format!("{op}: {c}: {message}")),
            "" => StoreError::Unavailable(format!("{op}: {}", DisplayErrorContext(&err))),
            c => StoreError::Invalid(format!("{op}: {c}: {message}")),
        };
    }
    match err {
        SdkError::ConstructionFailure(_) => {
            StoreError::Invalid(format!("{op}: {}", DisplayErrorContext(&err)))
        }
        _ => StoreError::Unavailable(format!("{op}: {}", DisplayErrorContext(&err))),
    }
}

pub(super) fn build_err(e: impl std::fmt::Display) -> StoreError {
    StoreError::Invalid(format!("cannot build request: {e}"))
}

/// Collects placeholder names and values for one expression.
fn encode_cursor(key: DItem) -> Result<String, StoreError> {
    let json = serde_json::to_vec(&from_sdk(key))
        .map_err(|e| StoreError::Invalid(format!("cursor: {e}")))?;
    Ok(URL_SAFE_NO_PAD.encode(json))
}

fn decode_cursor(s: &str) -> Result<DItem, StoreError> {
    URL_SAFE_NO_PAD
        .decode(s)
        .ok()
        .and_then(|bytes| serde_json::from_slice::<Item>(&bytes).ok())
        .map(to_sdk)
        .ok_or_else(|| StoreError::Invalid("malformed query cursor".into()))
}

impl DynamoTable {
    pub fn new(client: Client, table: impl Into<String>, clock: Arc<dyn Clock>) -> Self {
        Self {
            client,
            table: table.into(),
            clock,
        }
    }

    pub fn table_name(&self) -> &str {
        &self.table
    }

    async fn get_raw(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        self.read(key, true).await
    }

    async fn read(&self, key: &Key, consistent: bool) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key_item(key)))
            .consistent_read(consistent)
            .send()
            .await
            .map_err(|e| classify("GetItem", e))?;
        Ok(out.item.map(from_sdk))
    }

    /// Removes the item if it is expired; says whether it did.
    async fn clear_if_expired(&self, key: &Key) -> Result<bool, StoreError> {
        let Some(item) = self.get_raw(key).await? else {
            return Ok(false);
        };
        if !is_expired(&item, self.clock.now_secs()) {
            return Ok(false);
        }
        let Some(ttl) = item.get(TTL).cloned() else {
            return Ok(false);
        };
        let mut e = Expr::default();
        let t = e.name(TTL);
        let v = e.value(Dav::from(ttl));
        let result = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key_item(key)))
            .condition_expression(format!("{t} = {v}"))
            .set_expression_attribute_names(e.names())
            .set_expression_attribute_values(e.values())
            .send()
            .await;
        match result.map_err(|e| classify("DeleteItem", e)) {
            Ok(_) | Err(StoreError::ConditionFailed) => Ok(true),
            Err(other) => Err(other),
        }
    }

    async fn update_once(&self, key: &Key, update: &Update) -> Result<Item, StoreError> {
        let p = prepare_update(update, self.clock.now_secs());
        let out = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key_item(key)))
            .update_expression(p.update)
            .condition_expression(p.condition)
            .set_expression_attribute_names(p.expr.names())
            .set_expression_attribute_values(p.expr.values())
            .return_values(ReturnValue::AllNew)
            .send()
            .await
            .map_err(|e| classify("UpdateItem", e))?;
        Ok(out.attributes.map(from_sdk).unwrap_or_default())
    }

    fn tx_item(&self, op: &TxOp, now: i64) -> Result<TransactWriteItem, StoreError> {
        let item = match op {
            TxOp::Put { item, cond } => {
                let (expression, names, values) = condition(cond.as_ref(), now);
                let b = Put::builder()
                    .table_name(&self.table)
                    .set_item(Some(to_sdk(item.clone())))
                    .set_condition_expression(expression)
                    .set_expression_attribute_names(names)
                    .set_expression_attribute_values(values);
                TransactWriteItem::builder().put(b.build().map_err(build_err)?)
            }
            TxOp::Update { key, update } => {
                let p = prepare_update(update, now);
                let b = DUpdate::builder()
                    .table_name(&self.table)
                    .set_key(Some(key_item(key)))
                    .update_expression(p.update)
                    .condition_expression(p.condition)
                    .set_expression_attribute_names(p.expr.names())
                    .set_expression_attribute_values(p.expr.values());
                TransactWriteItem::builder().update(b.build().map_err(build_err)?)
            }
            TxOp::Check { key, cond } => {
                let (expression, names, values) = condition(Some(cond), now);
                let b = ConditionCheck::builder()
                    .table_name(&self.table)
                    .set_key(Some(key_item(key)))
                    .set_condition_expression(expression)
                    .set_expression_attribute_names(names)
                    .set_expression_attribute_values(values);
                TransactWriteItem::builder().condition_check(b.build().map_err(build_err)?)
            }
            TxOp::Delete { key, cond } => {
                let (expression, names, values) = condition(cond.as_ref(), now);
                let b = Delete::builder()
                    .table_name(&self.table)
                    .set_key(Some(key_item(key)))
                    .set_condition_expression(expression)
                    .set_expression_attribute_names(names)
                    .set_expression_attribute_values(values);
                TransactWriteItem::builder().delete(b.build().map_err(build_err)?)
            }
        };
        Ok(item.build())
    }

    async fn transact_once(&self, ops: &[TxOp]) -> Result<(), StoreError> {
        let now = self.clock.now_secs();
        let items = ops
            .iter()
            .map(|op| self.tx_item(op, now))
            .collect::<Result<Vec<_>, _>>()?;
        let result = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items))
            .send()
            .await;
        match result {
            Ok(_) => Ok(()),
            Err(err) => {
                if let Some(TransactWriteItemsError::TransactionCanceledException(tc)) =
                    err.as_service_error()
                {
                    let codes: Vec<&str> = tc
                        .cancellation_reasons()
                        .iter()
                        .filter_map(|r| r.code())
                        .collect();
                    if codes.contains(&"ConditionalCheckFailed") {
                        return Err(StoreError::ConditionFailed);
                    }
                    if codes.iter().any(|c| *c != "None") {
                        return Err(StoreError::Unavailable(format!(
                            "TransactWriteItems cancelled: {}",
                            codes.join(", ")
                        )));
                    }
                    // No reasons at all: treat the cancellation as a failed condition, which
                    // is what every emulator means by it.
                    return Err(StoreError::ConditionFailed);
                }
                Err(classify("TransactWriteItems", err))
            }
        }
    }
}

#[async_trait]
impl Table for DynamoTable {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        let now = self.clock.now_secs();
        Ok(self
            .get_raw(key)
            .await?
            .filter(|item| !is_expired(item, now)))
    }

    async fn get_eventually(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        let now = self.clock.now_secs();
        Ok(self
            .read(key, false)
            .await?
            .filter(|item| !is_expired(item, now)))
    }

    async fn put(&self, item: Item, cond: Option<Cond>) -> Result<(), StoreError> {
        Key::of(&item)?;
        let (expression, names, values) = condition(cond.as_ref(), self.clock.now_secs());
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(to_sdk(item)))
            .set_condition_expression(expression)
            .set_expression_attribute_names(names)
            .set_expression_attribute_values(values)
            .send()
            .await
            .map_err(|e| classify("PutItem", e))?;
        Ok(())
    }

    async fn update(&self, key: &Key, update: Update) -> Result<Item, StoreError> {
        update.validate()?;
        match self.update_once(key, &update).await {
            Err(StoreError::ConditionFailed) if self.clear_if_expired(key).await? => {
                self.update_once(key, &update).await
            }
            other => other,
        }
    }

    async fn delete(&self, key: &Key, cond: Option<Cond>) -> Result<(), StoreError> {
        let (expression, names, values) = condition(cond.as_ref(), self.clock.now_secs());
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key_item(key)))
            .set_condition_expression(expression)
            .set_expression_attribute_names(names)
            .set_expression_attribute_values(values)
            .send()
            .await
            .map_err(|e| classify("DeleteItem", e))?;
        Ok(())
    }

    async fn query(&self, query: Query) -> Result<Page, StoreError> {
        let mut e = Expr::default();
        let (pk_attr, sk_attr, index) = match query.index {
            Index::Primary => (PK, SK, None),
            Index::Gsi1 => (GSI1_PK, GSI1_SK, Some(GSI1)),
        };
        let pk_name = e.name(pk_attr);
        let pk_value = e.value(Dav::S(query.pk.clone()));
        let mut key_cond = format!("{pk_name} = {pk_value}");
        if let Some(prefix) = query.sk_prefix.as_ref().filter(|p| !p.is_empty()) {
            let sk_name = e.name(sk_attr);
            let v = e.value(Dav::S(prefix.clone()));
            key_cond.push_str(&format!(" AND begins_with({sk_name}, {v})"));
        }
        let filter = e.live(self.clock.now_secs());
        let start = query.cursor.as_deref().map(decode_cursor).transpose()?;
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .set_index_name(index.map(String::from))
            .key_condition_expression(key_cond)
            .filter_expression(filter)
            .set_expression_attribute_names(e.names())
            .set_expression_attribute_values(e.values())
            .scan_index_forward(!query.descending)
            .set_limit(query.limit.map(|l| l.clamp(1, 10_000) as i32))
            .set_exclusive_start_key(start)
            // Strongly consistent reads exist only on the table, not on its index.
            .set_consistent_read(index.is_none().then_some(true))
            .send()
            .await
            .map_err(|e| classify("Query", e))?;
        let cursor = match out.last_evaluated_key {
            Some(k) if !k.is_empty() => Some(encode_cursor(k)?),
            _ => None,
        };
        Ok(Page {
            items: out
                .items
                .unwrap_or_default()
                .into_iter()
                .map(from_sdk)
                .collect(),
            cursor,
        })
    }

    async fn transact(&self, ops: Vec<TxOp>) -> Result<(), StoreError> {
        validate_tx(&ops)?;
        match self.transact_once(&ops).await {
            Err(StoreError::ConditionFailed) => {
                // An update inside may have met an expired item; clear those and retry once.
                let mut cleared = false;
                for op in &ops {
                    if let TxOp::Update { key, .. } = op {
                        cleared |= self.clear_if_expired(key).await?;
                    }
                }
                if cleared {
                    self.transact_once(&ops).await
                } else {
                    Err(StoreError::ConditionFailed)
                }
            }
            other => other,
        }
    }
}
