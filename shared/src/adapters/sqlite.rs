//! One SQLite file (WAL) shared by the embedded table and queues.

use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
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
///
/// Writes are committed in groups: what the disk pays for is a commit, not a row, so every
/// write waiting while another commits goes into the next transaction together (each in its
/// own savepoint, so one that fails changes nothing and the others stand). A writer hears
/// back only once its transaction is committed, so a crash loses nothing it was told is
/// written.
#[derive(Clone)]
pub struct Db {
    conn: Arc<Mutex<Connection>>,
    pending: Arc<Mutex<Vec<PendingWrite>>>,
}

/// Tells a writer how its write ended, once the group's commit is known.
type Deliver = Box<dyn FnOnce(Option<&rusqlite::Error>) + Send>;
/// A write waiting for its group: runs on the open transaction, says whether it succeeded.
type PendingWrite = Box<dyn FnOnce(&Connection) -> (bool, Deliver) + Send>;

/// The most writes one commit takes (a bound on how long one group holds the connection).
const GROUP_MAX: usize = 256;

static WRITES: AtomicU64 = AtomicU64::new(0);
static COMMITS: AtomicU64 = AtomicU64::new(0);

/// Writes and commits made by every embedded database of this process so far: what the
/// group commit saves is the difference (the leads bench prints both).
pub fn write_stats() -> (u64, u64) {
    (
        WRITES.load(Ordering::Relaxed),
        COMMITS.load(Ordering::Relaxed),
    )
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
            pending: Arc::default(),
        })
    }

    /// Runs a write in the next group commit; `f` works inside the group's transaction and
    /// must not open or end one itself. Its result comes back after the commit.
    pub async fn write<T, E, F>(&self, f: F) -> Result<T, E>
    where
        T: Send + 'static,
        E: From<DbFailure> + Send + 'static,
        F: FnOnce(&Connection) -> Result<T, E> + Send + 'static,
    {
        let (tx, rx) = tokio::sync::oneshot::channel::<Result<T, E>>();
        let job: PendingWrite = Box::new(move |conn: &Connection| {
            let result = f(conn);
            let ok = result.is_ok();
            let deliver: Deliver = Box::new(move |commit: Option<&rusqlite::Error>| {
                let outcome = match commit {
                    Some(e) => Err(E::from(DbFailure(format!("commit failed: {e}")))),
                    None => result,
                };
                // The writer may have given up waiting; nothing to tell then.
                let _ = tx.send(outcome);
            });
            (ok, deliver)
        });
        self.pending
            .lock()
            .map_err(|_| E::from(DbFailure("write queue lock poisoned".into())))?
            .push(job);
        let conn = Arc::clone(&self.conn);
        let pending = Arc::clone(&self.pending);
        // Whoever holds the connection commits a group of what is waiting, perhaps ours;
        // when we get it, we commit the next group (perhaps empty: ours went with another).
        // Each waiting write has such a task of its own, so none is left behind.
        tokio::task::spawn_blocking(move || commit_pending(&conn, &pending))
            .await
            .map_err(|e| E::from(DbFailure(format!("database task failed: {e}"))))?
            .map_err(E::from)?;
        rx.await
            .map_err(|_| E::from(DbFailure("the write was dropped unanswered".into())))?
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

/// Commits one group of the waiting writes: the holder of the connection does not go on
/// committing others' writes while its own caller, and every reader, waits.
fn commit_pending(
    conn: &Mutex<Connection>,
    pending: &Mutex<Vec<PendingWrite>>,
) -> Result<(), DbFailure> {
    let mut conn = conn
        .lock()
        .map_err(|_| DbFailure("database lock poisoned".into()))?;
    {
        let group: Vec<PendingWrite> = {
            let mut waiting = pending
                .lock()
                .map_err(|_| DbFailure("write queue lock poisoned".into()))?;
            let n = waiting.len().min(GROUP_MAX);
            waiting.drain(..n).collect()
        };
        if group.is_empty() {
            return Ok(());
        }
        let outcome = (|| -> Result<Vec<Deliver>, (rusqlite::Error, Vec<Deliver>)> {
            let tx = match conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            {
                Ok(tx) => tx,
                // Not one of them ran; dropped unanswered, each writer hears the database
                // is unavailable.
                Err(e) => return Err((e, Vec::new())),
            };
            let mut delivers = Vec::with_capacity(group.len());
            for job in group {
                if let Err(e) = tx.execute_batch("SAVEPOINT one_write") {
                    return Err((e, delivers));
                }
                let (ok, deliver) = job(&tx);
                delivers.push(deliver);
                let end = if ok {
                    "RELEASE one_write"
                } else {
                    "ROLLBACK TO one_write; RELEASE one_write"
                };
                if let Err(e) = tx.execute_batch(end) {
                    return Err((e, delivers));
                }
            }
            match tx.commit() {
                Ok(()) => {
                    WRITES.fetch_add(delivers.len() as u64, Ordering::Relaxed);
                    COMMITS.fetch_add(1, Ordering::Relaxed);
                    Ok(delivers)
                }
                Err(e) => Err((e, delivers)),
            }
        })();
        match outcome {
            Ok(delivers) => delivers.into_iter().for_each(|d| d(None)),
            Err((e, delivers)) => delivers.into_iter().for_each(|d| d(Some(&e))),
        }
        Ok(())
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
