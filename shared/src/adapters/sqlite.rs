//! One SQLite file (WAL) shared by the embedded table and queues.

use std::path::Path;
use std::sync::{Arc, Mutex};

use rusqlite::Connection;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS items (
    pk TEXT NOT NULL,
    sk TEXT NOT NULL,
    gsi1pk TEXT,
    gsi1sk TEXT,
    ttl INTEGER,
    body TEXT NOT NULL,
    PRIMARY KEY (pk, sk)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS items_gsi1 ON items (gsi1pk, gsi1sk, pk, sk) WHERE gsi1pk IS NOT NULL;
CREATE TABLE IF NOT EXISTS queue_messages (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    queue TEXT NOT NULL,
    id TEXT NOT NULL UNIQUE,
    body TEXT NOT NULL,
    attributes TEXT NOT NULL,
    sent_at INTEGER NOT NULL,
    visible_at INTEGER NOT NULL,
    receive_count INTEGER NOT NULL DEFAULT 0,
    receipt TEXT
);
CREATE INDEX IF NOT EXISTS queue_ready ON queue_messages (queue, visible_at, seq);
CREATE INDEX IF NOT EXISTS queue_receipt ON queue_messages (receipt);
";

/// Columns added after the first release: added to an existing file when missing.
const ADDED_COLUMNS: &[(&str, &str, &str)] = &[
    ("queue_messages", "group_id", "TEXT"),
    ("queue_messages", "dedup_id", "TEXT"),
];
const AFTER_COLUMNS: &str = "
CREATE INDEX IF NOT EXISTS queue_groups ON queue_messages (queue, group_id, seq);
CREATE INDEX IF NOT EXISTS queue_dedup ON queue_messages (queue, dedup_id);
";

#[derive(Debug, thiserror::Error)]
#[error("embedded database {path}: {source}")]
pub struct DbOpenError {
    path: String,
    #[source]
    source: rusqlite::Error,
}

/// A shared connection. SQLite serialises writers anyway, so one connection behind a mutex
/// costs little and keeps every transaction simple.
#[derive(Clone)]
pub struct Db {
    conn: Arc<Mutex<Connection>>,
}

impl Db {
    pub fn open(path: &Path) -> Result<Self, DbOpenError> {
        let wrap = |source| DbOpenError {
            path: path.display().to_string(),
            source,
        };
        let conn = Connection::open(path).map_err(wrap)?;
        Self::init(conn).map_err(wrap)
    }

    pub fn in_memory() -> Result<Self, DbOpenError> {
        let conn = Connection::open_in_memory().map_err(|source| DbOpenError {
            path: ":memory:".into(),
            source,
        })?;
        Self::init(conn).map_err(|source| DbOpenError {
            path: ":memory:".into(),
            source,
        })
    }

    fn init(conn: Connection) -> Result<Self, rusqlite::Error> {
        // WAL + NORMAL: a crash loses no committed transaction that reached the WAL, and
        // another process (`zayavka queue send`) can write while `serve` runs.
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        conn.execute_batch(SCHEMA)?;
        for (table, column, kind) in ADDED_COLUMNS {
            let has: bool = conn
                .prepare(&format!(
                    "SELECT 1 FROM pragma_table_info('{table}') WHERE name = ?1"
                ))?
                .exists([column])?;
            if !has {
                match conn.execute_batch(&format!("ALTER TABLE {table} ADD COLUMN {column} {kind}"))
                {
                    // Another process opening the same file added it a moment earlier.
                    Err(e) if e.to_string().contains("duplicate column") => {}
                    other => other?,
                }
            }
        }
        conn.execute_batch(AFTER_COLUMNS)?;
        Ok(Self {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    /// Runs blocking SQLite work off the async threads.
    pub async fn call<T, E, F>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<DbFailure> + Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, E> + Send + 'static,
    {
        let conn = Arc::clone(&self.conn);
        tokio::task::spawn_blocking(move || {
            let mut guard = conn
                .lock()
                .map_err(|_| E::from(DbFailure("database lock poisoned".into())))?;
            f(&mut guard)
        })
        .await
        .map_err(|e| E::from(DbFailure(format!("database task failed: {e}"))))?
    }
}

/// A failure of the embedded database itself (busy, I/O), which callers treat as
/// "unavailable, try again".
#[derive(Debug)]
pub struct DbFailure(pub String);

impl From<rusqlite::Error> for DbFailure {
    fn from(e: rusqlite::Error) -> Self {
        DbFailure(e.to_string())
    }
}
