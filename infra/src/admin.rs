//! Admin subcommands: creating AWS resources and looking into queues.

use std::path::Path;
use std::sync::Arc;

use zayavka::adapters::{DynamoTable, SqsQueue};
use zayavka::config::{AwsConfig, ConfigError};
use zayavka::deps::{AwsClients, Embedded};
use zayavka::ports::{OutMessage, Queue, QueueError, QueueStats, StoreError, SystemClock};
use zayavka::queues::QueueSpec;

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("table: {0}")]
    Store(#[from] StoreError),
    #[error("queue: {0}")]
    Queue(#[from] QueueError),
    #[error(transparent)]
    Db(#[from] zayavka::adapters::sqlite::DbOpenError),
    #[error("{0}")]
    Unsupported(String),
}

/// What `init-aws` did.
#[derive(Debug, Default)]
pub struct InitReport {
    pub table: String,
    pub table_created: bool,
    pub queues_created: Vec<String>,
    pub queues_total: usize,
}

/// Creates the table (with gsi1 and TTL) and every queue with its dead-letter queue at the
/// configured endpoint. Running it again changes nothing that exists.
pub async fn init_aws(cfg: &AwsConfig, specs: &[QueueSpec]) -> Result<InitReport, AdminError> {
    let clients = AwsClients::new(cfg).await;
    let table = DynamoTable::new(
        clients.dynamodb.clone(),
        cfg.table_name.clone(),
        Arc::new(SystemClock),
    );
    let table_created = table.ensure_table().await?;
    let queues = SqsQueue::new(clients.sqs.clone(), cfg.queue_prefix.clone());
    let queues_created = queues.ensure_queues(specs).await?;
    Ok(InitReport {
        table: cfg.table_name.clone(),
        table_created,
        queues_created,
        queues_total: specs.len(),
    })
}

/// The queue port for admin commands: the embedded file or SQS.
pub async fn open_queue(
    data_dir: &Path,
    aws: bool,
    specs: Vec<QueueSpec>,
) -> Result<Arc<dyn Queue>, AdminError> {
    if aws {
        let cfg = AwsConfig::from_env(false)?;
        // As the functions see them: with BATCH_TRACKER_FUNCTION set, a message for
        // batch-results invokes the deployed tracker.
        let clients = AwsClients::new(&cfg).await;
        return Ok(zayavka::Deps::aws(&clients, &cfg).queue);
    }
    std::fs::create_dir_all(data_dir)
        .map_err(|e| AdminError::Unsupported(format!("cannot use {}: {e}", data_dir.display())))?;
    let embedded = Embedded::open(data_dir, specs, Arc::new(SystemClock))?;
    Ok(Arc::new(embedded.queue))
}

pub async fn queue_stats(
    queue: &dyn Queue,
    specs: &[QueueSpec],
) -> Result<Vec<(String, QueueStats)>, AdminError> {
    let mut rows = Vec::new();
    for spec in specs {
        match queue.stats(&spec.name).await {
            Ok(stats) => rows.push((spec.name.clone(), stats)),
            // A deployed stack has no such queue: Lambda keeps it for its function.
            Err(QueueError::UnknownQueue(_))
                if zayavka::queues::invoked_function(&spec.name).is_some() => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(rows)
}

pub async fn send(
    queue: &dyn Queue,
    name: &str,
    body: &str,
    delay_seconds: u32,
) -> Result<String, AdminError> {
    let mut msg = OutMessage::new(body).delay(delay_seconds);
    // A FIFO queue's message needs a group and a de-duplication id: a group of its own, as
    // a hand-sent message belongs with no other (the queue refuses a delay on it).
    if name.ends_with(zayavka::queues::FIFO_SUFFIX) {
        let id = uuid::Uuid::new_v4().to_string();
        msg = msg.in_group(&id, &id);
    }
    Ok(queue.send(name, msg).await?)
}

/// Moves a dead-letter queue's messages back to its source queue (embedded store only;
/// in AWS use the SQS console's "Start DLQ redrive").
pub async fn redrive(
    data_dir: &Path,
    from: &str,
    specs: Vec<QueueSpec>,
) -> Result<(String, usize), AdminError> {
    let source = specs
        .iter()
        .find(|s| s.dead_letter.as_deref() == Some(from))
        .map(|s| s.name.clone())
        .ok_or_else(|| {
            AdminError::Unsupported(format!("{from} is not the dead-letter queue of any queue"))
        })?;
    let embedded = Embedded::open(data_dir, specs, Arc::new(SystemClock))?;
    let moved = embedded.queue.redrive(from, &source).await?;
    Ok((source, moved))
}

/// The bot named on the command line, with its token and secret from the environment.
pub fn telegram_bot(
    name: &str,
    env: &dyn zayavka::config::EnvSource,
) -> Result<
    (
        zayavka::telegram::BotApi,
        zayavka::telegram::webhook::BotConfig,
    ),
    AdminError,
> {
    let upper = name.to_ascii_uppercase();
    crate::webhooks::configured_bots(env)?
        .into_iter()
        .find(|(_, b)| b.name == name)
        .ok_or_else(|| {
            AdminError::Unsupported(format!(
                "no bot {name:?}: TELEGRAM_{upper}_BOT_TOKEN and TELEGRAM_{upper}_WEBHOOK_SECRET are not set (a deployed stack's: `zayavka secrets set`, then give --stack; locally: the environment) (bots: {})",
                zayavka::telegram::webhook::BOTS.join(", ")
            ))
        })
}

/// `zayavka poll`: getUpdates in a loop, each update through the telegram-webhook handler
/// (claimed once, like a webhook delivery), until `stop` resolves.
pub async fn poll(
    bot: &str,
    data_dir: &Path,
    aws: bool,
    stop: impl std::future::Future<Output = ()>,
) -> Result<(), AdminError> {
    let (api, _) = telegram_bot(bot, &zayavka::config::ProcessEnv)?;
    // Checked before opening the store, so a refusal touches no data.
    refuse_if_webhook_set(&api, bot).await?;
    let deps = open_deps(data_dir, aws).await?;
    let cfg = telegram_webhook::Config::read(&zayavka::config::ProcessEnv)?;
    let handler = telegram_webhook::TelegramWebhook::new(deps, cfg)?;
    println!("polling updates of bot {bot}; Ctrl-C stops");
    poll_loop(&api, bot, &handler, stop).await;
    Ok(())
}

/// Telegram refuses getUpdates while a webhook is set; say how to remove it.
async fn refuse_if_webhook_set(
    api: &zayavka::telegram::BotApi,
    bot: &str,
) -> Result<(), AdminError> {
    let info = api
        .webhook_info()
        .await
        .map_err(|e| AdminError::Unsupported(e.to_string()))?;
    if !info.url.is_empty() {
        return Err(AdminError::Unsupported(format!(
            "bot {bot} has a webhook set ({}); Telegram refuses getUpdates while it is. \
             Remove it with `zayavka telegram delete-webhook --bot {bot}`",
            info.url
        )));
    }
    Ok(())
}

/// Long-polls until `stop` resolves, which may cut a poll or a back-off short.
async fn poll_loop(
    api: &zayavka::telegram::BotApi,
    bot: &str,
    handler: &telegram_webhook::TelegramWebhook,
    stop: impl std::future::Future<Output = ()>,
) {
    use frankenstein::methods::GetUpdatesParams;
    use frankenstein::types::AllowedUpdate;

    let mut offset: Option<i64> = None;
    tokio::pin!(stop);
    loop {
        let params = GetUpdatesParams::builder()
            .timeout(25)
            .allowed_updates(vec![AllowedUpdate::Message, AllowedUpdate::CallbackQuery])
            .maybe_offset(offset)
            .build();
        let updates = tokio::select! {
            _ = &mut stop => return,
            r = api.get_updates(&params) => r,
        };
        match updates {
            Ok(updates) => deliver_updates(handler, bot, updates, &mut offset).await,
            Err(e) => {
                tracing::warn!(error = %e, "getUpdates failed; trying again");
                let wait = match e {
                    zayavka::telegram::TelegramError::RetryAfter(s) => u64::from(s),
                    _ => 3,
                };
                tokio::select! {
                    _ = &mut stop => return,
                    _ = tokio::time::sleep(std::time::Duration::from_secs(wait)) => {}
                }
            }
        }
    }
}

/// Hands one batch to the handler in order. `offset` moves past an update only once it
/// is handled: the first failure stops the batch, so that update and the rest are
/// fetched again.
async fn deliver_updates(
    handler: &telegram_webhook::TelegramWebhook,
    bot: &str,
    updates: Vec<serde_json::Value>,
    offset: &mut Option<i64>,
) {
    for update in updates {
        let id = update["update_id"].as_i64();
        if let Err(e) = handler.deliver(bot, update).await {
            tracing::warn!(error = %e, "update not handled; it will be fetched again");
            break;
        }
        if let Some(id) = id {
            *offset = Some(id + 1);
        }
    }
}

/// The stack's dependencies for an admin command: the embedded store or AWS.
pub async fn open_deps(data_dir: &Path, aws: bool) -> Result<zayavka::Deps, AdminError> {
    if aws {
        let cfg = AwsConfig::from_env(false)?;
        return Ok(zayavka::Deps::aws(&AwsClients::new(&cfg).await, &cfg));
    }
    std::fs::create_dir_all(data_dir)
        .map_err(|e| AdminError::Unsupported(format!("cannot use {}: {e}", data_dir.display())))?;
    let embedded = Embedded::open(
        data_dir,
        zayavka::queues::catalogue(),
        Arc::new(SystemClock),
    )?;
    Ok(zayavka::Deps::embedded(&embedded, Arc::new(SystemClock)))
}
