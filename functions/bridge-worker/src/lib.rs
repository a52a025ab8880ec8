//! bridge-worker: takes the chat bridge's queue (FIFO: one client's messages in order, the
//! clients side by side) and hands each message to the outside system, retrying with
//! backoff. The steps are in `zayavka::bridge::worker`.

use async_trait::async_trait;
use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use zayavka::Deps;
use zayavka::bridge::config::BridgeConfig;
use zayavka::bridge::worker::{Bridge, group_of};
use zayavka::config::{ConfigError, EnvReader, EnvSource};
use zayavka::queues::BRIDGE_INBOUND;
use zayavka::sqs_batch::{QueueWorker, run_in_groups};

pub const NAME: &str = "bridge-worker";

#[derive(Debug, Clone)]
pub struct Config {
    pub bridge: Option<BridgeConfig>,
}

impl Config {
    pub fn read(env: &dyn EnvSource) -> Result<Self, ConfigError> {
        let mut r = EnvReader::new(env);
        let bridge = BridgeConfig::read_if_configured(&mut r);
        r.finish()?;
        Ok(Self { bridge })
    }
}

pub struct BridgeWorker {
    bridge: Option<Bridge>,
}

impl BridgeWorker {
    /// Without the bridge bot configured, messages wait (and then dead-letter, with an
    /// alarm) rather than being lost.
    pub fn new(deps: Deps, cfg: Config) -> Result<Self, ConfigError> {
        let bridge = match cfg.bridge {
            Some(cfg) => Some(Bridge {
                http: zayavka::outbound::client(std::time::Duration::from_secs(cfg.timeout_secs))?,
                deps,
                cfg,
            }),
            None => None,
        };
        Ok(Self { bridge })
    }
}

#[async_trait]
impl QueueWorker for BridgeWorker {
    fn name(&self) -> &'static str {
        NAME
    }

    fn queues(&self) -> Vec<String> {
        vec![BRIDGE_INBOUND.to_string()]
    }

    async fn handle(&self, event: SqsEvent) -> SqsBatchResponse {
        run_in_groups(event, 4, group_of, |msg| async move {
            match &self.bridge {
                Some(b) => b.one(msg).await,
                None => {
                    Err("a bridge message, but TELEGRAM_BRIDGE_BOT_TOKEN is not set".to_string())
                }
            }
        })
        .await
    }
}

/// The one constructor, shared by `main.rs` and `zayavka serve`.
pub fn from_env(w: &zayavka::deps::Wiring<'_>) -> Result<BridgeWorker, ConfigError> {
    BridgeWorker::new(w.deps.clone(), Config::read(w.env)?)
}
