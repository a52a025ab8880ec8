//! What every handler needs, wired once per process: table, queue, mailer, clock.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::adapters::SsmParameters;
use crate::adapters::aws::{self, AwsSettings};
use crate::adapters::sqlite::DbOpenError;
use crate::adapters::{
    Db, DynamoTable, EmbeddedQueue, EmbeddedTable, InvokedQueues, OutboxMailer, SesMailer, SqsQueue,
};
use crate::config::{AwsConfig, ConfigError, EnvReader, EnvSource};
use crate::metrics::Metrics;
use crate::ports::{Clock, Mailer, Queue, SystemClock, Table};
use crate::queues::QueueSpec;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// SQLite file and outbox folder: `zayavka serve` without an AWS account.
    Embedded,
    /// DynamoDB, SQS and SES (or an emulator of them).
    Aws,
}

impl Backend {
    pub fn as_str(self) -> &'static str {
        match self {
            Backend::Embedded => "embedded",
            Backend::Aws => "aws",
        }
    }
}

#[derive(Clone)]
pub struct Deps {
    pub table: Arc<dyn Table>,
    pub queue: Arc<dyn Queue>,
    pub mailer: Arc<dyn Mailer>,
    pub clock: Arc<dyn Clock>,
    pub backend: Backend,
    /// Embedded-format metrics: stdout in Lambda, off elsewhere.
    pub metrics: Metrics,
}

/// The AWS clients, built once and shared by every adapter.
#[derive(Clone)]
pub struct AwsClients {
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub ses: aws_sdk_ses::Client,
    pub lambda: aws_sdk_lambda::Client,
    /// Parameter Store: the stack's secrets, read once at start (`secrets.rs`).
    pub ssm: aws_sdk_ssm::Client,
}

impl AwsClients {
    pub async fn new(cfg: &AwsConfig) -> Self {
        let sdk = aws::load(&AwsSettings {
            endpoint_url: cfg.endpoint_url.clone(),
            region: cfg.region.clone(),
        })
        .await;
        Self {
            dynamodb: aws_sdk_dynamodb::Client::new(&sdk),
            sqs: aws_sdk_sqs::Client::new(&sdk),
            ses: aws_sdk_ses::Client::new(&sdk),
            lambda: aws_sdk_lambda::Client::new(&sdk),
            ssm: aws_sdk_ssm::Client::new(&sdk),
        }
    }
}

/// The embedded stack with its concrete parts, which `zayavka serve` needs beyond the ports.
#[derive(Clone)]
pub struct Embedded {
    pub db: Db,
    pub table: EmbeddedTable,
    pub queue: EmbeddedQueue,
    pub outbox: OutboxMailer,
    pub data_file: PathBuf,
}

pub const DATA_FILE: &str = "zayavka.db";
pub const OUTBOX_DIR: &str = "outbox";

impl Embedded {
    pub fn open(
        data_dir: &Path,
        specs: Vec<QueueSpec>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, DbOpenError> {
        let data_file = data_dir.join(DATA_FILE);
        let db = Db::open(&data_file)?;
        Ok(Self {
            table: EmbeddedTable::new(db.clone(), clock.clone()),
            queue: EmbeddedQueue::new(db.clone(), clock, specs),
            outbox: OutboxMailer::new(data_dir.join(OUTBOX_DIR)),
            db,
            data_file,
        })
    }
}

/// SQS, but for the queues Lambda keeps for a function (see `adapters::lambda_invoke`).
fn queue_of(clients: &AwsClients, cfg: &AwsConfig) -> Arc<dyn Queue> {
    let sqs: Arc<dyn Queue> =
        Arc::new(SqsQueue::new(clients.sqs.clone(), cfg.queue_prefix.clone()));
    if cfg.invoked.is_empty() {
        return sqs;
    }
    Arc::new(InvokedQueues::new(
        sqs,
        clients.lambda.clone(),
        cfg.invoked.clone(),
    ))
}

impl Deps {
    pub fn embedded(parts: &Embedded, clock: Arc<dyn Clock>) -> Self {
        Self {
            table: Arc::new(parts.table.clone()),
            queue: Arc::new(parts.queue.clone()),
            mailer: Arc::new(parts.outbox.clone()),
            clock,
            backend: Backend::Embedded,
            metrics: Metrics::off(),
        }
    }

    pub fn aws(clients: &AwsClients, cfg: &AwsConfig) -> Self {
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        Self {
            table: Arc::new(DynamoTable::new(
                clients.dynamodb.clone(),
                cfg.table_name.clone(),
                clock.clone(),
            )),
            queue: queue_of(clients, cfg),
            mailer: Arc::new(SesMailer::new(
                clients.ses.clone(),
                cfg.ses_configuration_set.clone(),
            )),
            clock,
            backend: Backend::Aws,
            metrics: cfg
                .metrics_namespace
                .as_ref()
                .map(Metrics::stdout)
                .unwrap_or_default(),
        }
    }
}

/// What every function is built from, in Lambda and in `zayavka serve` alike: its
/// dependencies, its environment and the deployment's queue-name prefix. Each function crate
/// has one `from_env(&Wiring)`, which both its `main.rs` and serve's registry call.
pub struct Wiring<'a> {
    pub deps: Deps,
    pub env: &'a dyn EnvSource,
    pub queue_prefix: String,
}

impl<'a> Wiring<'a> {
    /// A Lambda function's: AWS, configured from `env` (the process environment), and,
    /// when `ZAYAVKA_SECRETS_PATH` is set, `function`'s secrets read once from Parameter
    /// Store over it (`secrets::load`). `function` is the binary's name.
    pub async fn lambda(function: &str, env: &'a dyn EnvSource) -> Result<Wiring<'a>, ConfigError> {
        let mut r = EnvReader::new(env);
        let aws = AwsConfig::read(&mut r, true);
        let path = crate::secrets::read_path(&mut r);
        r.finish()?;
        let clients = AwsClients::new(&aws).await;
        let env: &'a dyn EnvSource = match path {
            Some(path) => {
                let store = SsmParameters::new(clients.ssm.clone());
                let with = crate::secrets::load(function, &path, env, &store).await?;
                // Read once and kept for the life of the process, as the environment is.
                Box::leak(Box::new(with))
            }
            None => {
                // Allowed (a function run with `cargo lambda`, an older template), but a
                // deployment should not keep secrets where GetFunctionConfiguration shows them.
                let in_env: Vec<&str> = crate::secrets::CATALOGUE
                    .iter()
                    .filter(|s| s.readers.contains(&function) && env.var(s.name).is_some())
                    .map(|s| s.name)
                    .collect();
                if !in_env.is_empty() {
                    tracing::warn!(secrets = ?in_env, "ZAYAVKA_SECRETS_PATH is not set: these secrets come from the function's environment, which lambda:GetFunctionConfiguration shows; store them with zayavka secrets set and deploy the template");
                }
                env
            }
        };
        Ok(Wiring {
            deps: Deps::aws(&clients, &aws),
            env,
            queue_prefix: aws.queue_prefix,
        })
    }
}
