//! Test backends: the embedded adapters on a temporary file, and the AWS adapters against
//! the moto server that `scripts/test` starts. A moto test never skips: without moto it
//! fails and says how to start it.

use std::sync::Arc;

use tempfile::TempDir;
use zayavka::adapters::{DynamoTable, EmbeddedQueue, EmbeddedTable, SqsQueue};
use zayavka::config::AwsConfig;
use zayavka::deps::{AwsClients, Embedded};
use zayavka::ports::{Queue, SystemClock, Table};
use zayavka::queues::QueueSpec;

pub const MOTO_ENV: &str = "ZAYAVKA_TEST_MOTO_URL";

pub fn moto_url() -> String {
    match std::env::var(MOTO_ENV) {
        Ok(url) if !url.is_empty() => url,
        _ => panic!(
            "{MOTO_ENV} is not set: the AWS adapter tests need a moto server. \
             Run ./scripts/test, which installs and starts one."
        ),
    }
}

pub fn moto_config(table: &str, prefix: &str) -> AwsConfig {
    AwsConfig {
        table_name: table.into(),
        queue_prefix: prefix.into(),
        endpoint_url: Some(moto_url()),
        region: Some("us-east-1".into()),
        ses_configuration_set: None,
        invoked: Default::default(),
        metrics_namespace: None,
    }
}

/// A short unique name, so tests sharing one moto server never see each other's data.
pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    )
}

pub struct EmbeddedStore {
    pub _dir: TempDir,
    pub parts: Embedded,
}

pub fn embedded(specs: Vec<QueueSpec>) -> EmbeddedStore {
    embedded_at(specs, Arc::new(SystemClock))
}

/// An embedded store on `clock`, which must be the clock its `Deps` run on: items expire and
/// messages become visible by the store's clock, so a fixed clock in the domain with the
/// system's in the store expires a day's dialogue step a day after the test was written.
pub fn embedded_at(specs: Vec<QueueSpec>, clock: Arc<dyn zayavka::ports::Clock>) -> EmbeddedStore {
    let dir = tempfile::tempdir().expect("temp dir");
    let parts = Embedded::open(dir.path(), specs, clock).expect("open embedded store");
    EmbeddedStore { _dir: dir, parts }
}

/// A table under test and what keeps it alive.
pub struct TableUnderTest {
    pub table: Arc<dyn Table>,
    _keep: Option<EmbeddedStore>,
}

impl TableUnderTest {
    /// The item at `pk`/`sk`, if any (a read that must not fail).
    pub async fn at(&self, pk: &str, sk: &str) -> Option<zayavka::ports::Item> {
        self.table
            .get(&zayavka::ports::Key::new(pk, sk))
            .await
            .expect("read the table")
    }
}

pub async fn table(kind: Kind) -> TableUnderTest {
    match kind {
        Kind::Embedded => {
            let store = embedded(Vec::new());
            let table: EmbeddedTable = store.parts.table.clone();
            TableUnderTest {
                table: Arc::new(table),
                _keep: Some(store),
            }
        }
        Kind::Moto => {
            let cfg = moto_config(&unique("t"), "");
            let clients = AwsClients::new(&cfg).await;
            let table = DynamoTable::new(
                clients.dynamodb,
                cfg.table_name.clone(),
                Arc::new(SystemClock),
            );
            table.ensure_table().await.expect("create table in moto");
            TableUnderTest {
                table: Arc::new(table),
                _keep: None,
            }
        }
    }
}

pub struct QueueUnderTest {
    pub queue: Arc<dyn Queue>,
    _keep: Option<EmbeddedStore>,
}

pub async fn queue(kind: Kind, specs: Vec<QueueSpec>) -> QueueUnderTest {
    match kind {
        Kind::Embedded => {
            let store = embedded(specs);
            let queue: EmbeddedQueue = store.parts.queue.clone();
            QueueUnderTest {
                queue: Arc::new(queue),
                _keep: Some(store),
            }
        }
        Kind::Moto => {
            let cfg = moto_config("unused", &unique("q"));
            let clients = AwsClients::new(&cfg).await;
            let queue = SqsQueue::new(clients.sqs, cfg.queue_prefix.clone());
            queue
                .ensure_queues(&specs)
                .await
                .expect("create queues in moto");
            QueueUnderTest {
                queue: Arc::new(queue),
                _keep: None,
            }
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Embedded,
    Moto,
}

/// Runs one conformance case against both adapters: `both!(case_fn)` makes
/// `case_fn::embedded` and `case_fn::moto`.
#[macro_export]
macro_rules! both {
    ($case:ident) => {
        mod $case {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn embedded() {
                super::$case($crate::support::Kind::Embedded).await
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn moto() {
                super::$case($crate::support::Kind::Moto).await
            }
        }
    };
}

/// A function environment for tests: an API key, a sender, and whatever the test adds.
pub fn test_env(extra: &[(&str, &str)]) -> std::collections::HashMap<String, String> {
    let mut env = std::collections::HashMap::from([
        // An admin key: the tests of a route's behaviour are not about scopes (the auth
        // matrix and `tests/scopes.rs` are).
        (
            "ZAYAVKA_API_KEYS".to_string(),
            format!("admin:{TEST_API_KEY}"),
        ),
        ("MAIL_FROM".to_string(), "noreply@zayavka.test".to_string()),
        // The fakes listen on 127.0.0.1, which lead targets may reach only when exempted.
        ("OUTBOUND_ALLOW_HOSTS".to_string(), "127.0.0.1".to_string()),
    ]);
    for (k, v) in extra {
        env.insert(k.to_string(), v.to_string());
    }
    env
}

pub const TEST_API_KEY: &str = "test-key-0123456789abcdef";

/// The ids of the messages a worker handed back for another try.
pub fn failed_ids(response: &aws_lambda_events::sqs::SqsBatchResponse) -> Vec<String> {
    response
        .batch_item_failures
        .iter()
        .map(|f| f.item_identifier.clone())
        .collect()
}
