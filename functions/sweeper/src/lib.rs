//! sweeper: runs every minute; jobs that stopped reporting become final failures and
//! batches that were stored but never queued are queued again, so no lead stays
//! `processing` forever.

use std::time::Duration;

use async_trait::async_trait;
use zayavka::Deps;
use zayavka::config::{ConfigError, EnvReader, EnvSource};
use zayavka::leads::sweep::{SweepConfig, sweep};
use zayavka::schedule::Scheduled;

pub const NAME: &str = "sweeper";

#[derive(Debug, Clone, Copy)]
pub struct Config {
    pub sweep: SweepConfig,
    /// `SWEEP_INTERVAL_SECONDS`: how often `zayavka serve` sweeps (AWS: the schedule).
    pub every: Duration,
}

impl Config {
    pub fn read(env: &dyn EnvSource) -> Result<Self, ConfigError> {
        let mut r = EnvReader::new(env);
        let sweep = SweepConfig::read(&mut r);
        let every: f64 = r.parse_or("SWEEP_INTERVAL_SECONDS", 60.0);
        if every.is_nan() || every <= 0.0 {
            r.problem("SWEEP_INTERVAL_SECONDS must be above 0");
        }
        r.finish()?;
        Ok(Self {
            sweep,
            every: Duration::from_secs_f64(every),
        })
    }
}

pub struct Sweeper {
    deps: Deps,
    cfg: Config,
}

impl Sweeper {
    pub fn new(deps: Deps, cfg: Config) -> Self {
        Self { deps, cfg }
    }
}

#[async_trait]
impl Scheduled for Sweeper {
    fn name(&self) -> &'static str {
        NAME
    }

    fn every(&self) -> Duration {
        self.cfg.every
    }

    async fn run(&self) -> Result<serde_json::Value, String> {
        let report = sweep(&self.deps, self.cfg.sweep)
            .await
            .map_err(|e| e.to_string())?;
        if report.timed_out > 0 || report.redispatched > 0 {
            tracing::info!(?report, "sweep");
        }
        serde_json::to_value(&report).map_err(|e| e.to_string())
    }
}

/// The one constructor, shared by `main.rs` and `zayavka serve`.
pub fn from_env(w: &zayavka::deps::Wiring<'_>) -> Result<Sweeper, zayavka::config::ConfigError> {
    Ok(Sweeper::new(w.deps.clone(), Config::read(w.env)?))
}
