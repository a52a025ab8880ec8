//! The table port on SQLite: items as DynamoDB JSON, key and index columns beside them.

use std::sync::Arc;

use async_trait::async_trait;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rusqlite::{Connection, OptionalExtension, params};

use super::sqlite::{Db, DbFailure};
use crate::ports::clock::Clock;
use crate::ports::table::{
    AttributeValue, Cond, GSI1_PK, GSI1_SK, Index, Item, Key, Page, Query, StoreError, TTL, Table,
    TxOp, Update, is_expired, validate_tx,
};

impl From<DbFailure> for StoreError {
    fn from(e: DbFailure) -> Self {
        StoreError::Unavailable(e.0)
    }
}

fn db_err(e: rusqlite::Error) -> StoreError {
    StoreError::Unavailable(format!("embedded table: {e}"))
}

#[derive(Clone)]
pub struct EmbeddedTable {
    db: Db,
    clock: Arc<dyn Clock>,
}

impl EmbeddedTable {
    pub fn new(db: Db, clock: Arc<dyn Clock>) -> Self {
        Self { db, clock }
    }

    /// How many items are stored, expired ones included.
    pub async fn count(&self) -> Result<u64, StoreError> {
        self.db
            .call(|conn| {
                conn.query_row("SELECT COUNT(*) FROM items", [], |r| r.get::<_, i64>(0))
                    .map(|n| n as u64)
                    .map_err(db_err)
            })
            .await
    }

    /// Physically removes expired items (DynamoDB does this in the background).
    pub async fn purge_expired(&self) -> Result<usize, StoreError> {
        let now = self.clock.now_secs();
        self.db
            .call(move |conn| {
                conn.execute(
                    "DELETE FROM items WHERE ttl IS NOT NULL AND ttl < ?1",
                    [now],
                )
                .map_err(db_err)
            })
            .await
    }
}

/// Refuses items DynamoDB would refuse, so the embedded store is never more lenient.
fn validate_item(item: &Item) -> Result<Key, StoreError> {
    let key = Key::of(item)?;
    if let Some(v) = item.get(TTL)
        && !matches!(v, AttributeValue::N(_))
    {
        return Err(StoreError::Invalid(
            "ttl must be a number (Unix seconds)".into(),
        ));
    }
    for name in [GSI1_PK, GSI1_SK] {
        if let Some(v) = item.get(name)
            && !matches!(v, AttributeValue::S(s) if !s.is_empty())
        {
            return Err(StoreError::Invalid(format!(
                "{name} must be a non-empty string"
            )));
        }
    }
    Ok(key)
}

fn read_raw(tx: &Connection, key: &Key) -> Result<Option<Item>, StoreError> {
    let body: Option<String> = tx
        .query_row(
            "SELECT body FROM items WHERE pk = ?1 AND sk = ?2",
            params![key.pk, key.sk],
            |row| row.get(0),
        )
        .optional()
        .map_err(db_err)?;
    body.map(|b| decode(&b)).transpose()
}

fn read_visible(tx: &Connection, key: &Key, now: i64) -> Result<Option<Item>, StoreError> {
    Ok(read_raw(tx, key)?.filter(|item| !is_expired(item, now)))
}

fn decode(body: &str) -> Result<Item, StoreError> {
    serde_json::from_str(body)
        .map_err(|e| StoreError::Unavailable(format!("embedded table holds a corrupt item: {e}")))
}

fn write(tx: &Connection, item: &Item) -> Result<(), StoreError> {
    let key = validate_item(item)?;
    let text = |name: &str| match item.get(name) {
        Some(AttributeValue::S(s)) => Some(s.clone()),
        _ => None,
    };
    // DynamoDB indexes an item only when it has both index attributes.
    let (gpk, gsk) = match (text(GSI1_PK), text(GSI1_SK)) {
        (Some(p), Some(s)) => (Some(p), Some(s)),
        _ => (None, None),
    };
    let ttl = match item.get(TTL) {
        Some(AttributeValue::N(n)) => n.parse::<f64>().ok().map(|t| t as i64),
        _ => None,
    };
    let body = serde_json::to_string(item)
        .map_err(|e| StoreError::Invalid(format!("cannot encode item: {e}")))?;
    tx.execute(
        "INSERT INTO items (pk, sk, gsi1pk, gsi1sk, ttl, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (pk, sk) DO UPDATE SET gsi1pk = ?3, gsi1sk = ?4, ttl = ?5, body = ?6",
        params![key.pk, key.sk, gpk, gsk, ttl, body],
    )
    .map_err(db_err)?;
    Ok(())
}

fn remove(tx: &Connection, key: &Key) -> Result<(), StoreError> {
    tx.execute(
        "DELETE FROM items WHERE pk = ?1 AND sk = ?2",
        params![key.pk, key.sk],
    )
    .map_err(db_err)?;
    Ok(())
}

fn check(cond: Option<&Cond>, current: Option<&Item>) -> Result<(), StoreError> {
    match cond {
        Some(c) if !c.holds(current) => Err(StoreError::ConditionFailed),
        _ => Ok(()),
    }
}

fn apply_update(tx: &Connection, key: &Key, update: &Update, now: i64) -> Result<Item, StoreError> {
    let current = read_visible(tx, key, now)?;
    check(update.condition.as_ref(), current.as_ref())?;
    let next = update.apply(key, current)?;
    write(tx, &next)?;
    Ok(next)
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Cursor {
    pk: String,
    sk: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    gsk: Option<String>,
}

fn encode_cursor(c: &Cursor) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(c).unwrap_or_default())
}

fn decode_cursor(s: &str) -> Result<Cursor, StoreError> {
    URL_SAFE_NO_PAD
        .decode(s)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .ok_or_else(|| StoreError::Invalid("malformed query cursor".into()))
}

/// The page's SQL: the index's key columns, the sort-key prefix, the rows after the cursor
/// in the query's order, live items only.
fn query_sql(q: &Query, after_cursor: bool) -> String {
    let (pk_col, sk_col) = match q.index {
        Index::Primary => ("pk", "sk"),
        Index::Gsi1 => ("gsi1pk", "gsi1sk"),
    };
    let (cmp, order) = if q.descending {
        ("<", "DESC")
    } else {
        (">", "ASC")
    };
    let order_cols = match q.index {
        Index::Primary => format!("sk {order}"),
        Index::Gsi1 => format!("gsi1sk {order}, pk {order}, sk {order}"),
    };
    let after = match (after_cursor, q.index) {
        (false, _) => String::new(),
        (true, Index::Primary) => format!("AND sk {cmp} ?4"),
        (true, Index::Gsi1) => format!("AND (gsi1sk, pk, sk) {cmp} (?4, ?5, ?6)"),
    };
    format!(
        "SELECT body, pk, sk, gsi1sk FROM items
         WHERE {pk_col} = ?1 AND substr({sk_col}, 1, ?2) = ?3 {after}
           AND (ttl IS NULL OR ttl >= ?7)
         ORDER BY {order_cols} LIMIT ?8"
    )
}

/// The cursor as the SQL's ?4, ?5, ?6 (a gsi1 page resumes after its index key and item key).
fn cursor_params(cursor: Option<&Cursor>, index: Index) -> (String, String, String) {
    match (cursor, index) {
        (Some(c), Index::Primary) => (c.sk.clone(), String::new(), String::new()),
        (Some(c), Index::Gsi1) => (
            c.gsk.clone().unwrap_or_default(),
            c.pk.clone(),
            c.sk.clone(),
        ),
        (None, _) => (String::new(), String::new(), String::new()),
    }
}

type Row = (String, String, String, Option<String>);

/// Up to `limit` items; one row more than that means another page follows.
fn page_of(rows: Vec<Row>, limit: i64, index: Index) -> Result<Page, StoreError> {
    let more = rows.len() as i64 > limit;
    let mut items = Vec::new();
    let mut last = None;
    for (body, pk, sk, gsk) in rows.into_iter().take(limit as usize) {
        items.push(decode(&body)?);
        last = Some(Cursor {
            pk,
            sk,
            gsk: matches!(index, Index::Gsi1).then_some(gsk.unwrap_or_default()),
        });
    }
    let cursor = if more {
        last.as_ref().map(encode_cursor)
    } else {
        None
    };
    Ok(Page { items, cursor })
}

fn run_query(conn: &Connection, q: &Query, now: i64) -> Result<Page, StoreError> {
    let limit = q.limit.unwrap_or(1000).clamp(1, 10_000) as i64;
    let cursor = q.cursor.as_deref().map(decode_cursor).transpose()?;
    let prefix = q.sk_prefix.clone().unwrap_or_default();
    let (c_first, c_pk, c_sk) = cursor_params(cursor.as_ref(), q.index);
    let mut stmt = conn
        .prepare_cached(&query_sql(q, cursor.is_some()))
        .map_err(db_err)?;
    let rows = stmt
        .query_map(
            params![
                q.pk,
                prefix.chars().count() as i64,
                prefix,
                c_first,
                c_pk,
                c_sk,
                now,
                limit + 1
            ],
            |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?)),
        )
        .map_err(db_err)?
        .collect::<Result<Vec<Row>, _>>()
        .map_err(db_err)?;
    page_of(rows, limit, q.index)
}

#[async_trait]
impl Table for EmbeddedTable {
    async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        let key = key.clone();
        let now = self.clock.now_secs();
        self.db
            .call(move |conn| read_visible(conn, &key, now))
            .await
    }

    async fn put(&self, item: Item, cond: Option<Cond>) -> Result<(), StoreError> {
        let key = validate_item(&item)?;
        let now = self.clock.now_secs();
        self.db
            .write(move |tx| {
                let current = read_visible(tx, &key, now)?;
                check(cond.as_ref(), current.as_ref())?;
                write(tx, &item)
            })
            .await
    }

    async fn update(&self, key: &Key, update: Update) -> Result<Item, StoreError> {
        update.validate()?;
        let key = key.clone();
        let now = self.clock.now_secs();
        self.db
            .write(move |tx| apply_update(tx, &key, &update, now))
            .await
    }

    async fn delete(&self, key: &Key, cond: Option<Cond>) -> Result<(), StoreError> {
        let key = key.clone();
        let now = self.clock.now_secs();
        self.db
            .write(move |tx| {
                let current = read_visible(tx, &key, now)?;
                check(cond.as_ref(), current.as_ref())?;
                remove(tx, &key)
            })
            .await
    }

    async fn query(&self, query: Query) -> Result<Page, StoreError> {
        let now = self.clock.now_secs();
        self.db.call(move |conn| run_query(conn, &query, now)).await
    }

    async fn transact(&self, ops: Vec<TxOp>) -> Result<(), StoreError> {
        validate_tx(&ops)?;
        for op in &ops {
            if let TxOp::Put { item, .. } = op {
                validate_item(item)?;
            }
        }
        let now = self.clock.now_secs();
        self.db
            .write(move |tx| {
                // Any error rolls the whole transaction back (its savepoint in the group).
                for op in &ops {
                    match op {
                        TxOp::Put { item, cond } => {
                            let key = Key::of(item)?;
                            check(cond.as_ref(), read_visible(tx, &key, now)?.as_ref())?;
                            write(tx, item)?;
                        }
                        TxOp::Update { key, update } => {
                            apply_update(tx, key, update, now)?;
                        }
                        TxOp::Check { key, cond } => {
                            check(Some(cond), read_visible(tx, key, now)?.as_ref())?;
                        }
                        TxOp::Delete { key, cond } => {
                            check(cond.as_ref(), read_visible(tx, key, now)?.as_ref())?;
                            remove(tx, key)?;
                        }
                    }
                }
                Ok(())
            })
            .await
    }
}
