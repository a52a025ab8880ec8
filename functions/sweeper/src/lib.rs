//! sweeper: runs every minute; jobs whose message reached a dead-letter queue become final
//! failures and a batch whose settling dead-lettered is settled, so no lead stays
//! `processing` for ever; and the tickets' timers fire (reminders of postponed tickets,
//! tickets nobody took offered again).

use std::time::Duration;

use async_trait::async_trait;
use zayavka::Deps;
use zayavka::config::{ConfigError, EnvReader, EnvSource};
use zayavka::leads::sweep::{SweepConfig, sweep};
use zayavka::schedule::Scheduled;
use zayavka::tickets::config::TicketsConfig;
use zayavka::tickets::timers::{TimerReport, run_due};

pub const NAME: &str = "sweeper";

#[derive(Debug, Clone)]
pub struct Config {
    pub sweep: SweepConfig,
    pub tickets: TicketsConfig,
    /// `SWEEP_INTERVAL_SECONDS`: how often `zayavka serve` sweeps (AWS: the schedule).
    pub every: Duration,
}

impl Config {
    pub fn read(env: &dyn EnvSource) -> Result<Self, ConfigError> {
        let mut r = EnvReader::new(env);
        let sweep = SweepConfig::read(&mut r);
        let tickets = TicketsConfig::read(&mut r);
        let every: f64 = r.parse_or("SWEEP_INTERVAL_SECONDS", 60.0);
        if every.is_nan() || every <= 0.0 {
            r.problem("SWEEP_INTERVAL_SECONDS must be above 0");
        }
        r.finish()?;
        Ok(Self {
            sweep,
            tickets,
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
        // The sweeps are independent: one failing does not hold up the others.
        let leads = sweep(&self.deps, self.cfg.sweep).await;
        let stuck = zayavka::leads::due::check(&self.deps).await;
        let timers = run_due(&self.deps, &self.cfg.tickets).await;
        let report = leads.map_err(|e| e.to_string())?;
        if report.kept > 0 {
            // Each kept message was logged with its lead; this says the run went on.
            tracing::warn!(
                ?report,
                "sweep: some dead letters were refused by the store and kept"
            );
        } else if report.dead_jobs > 0 || report.settled > 0 {
            tracing::info!(?report, "sweep");
        }
        let timers = timers.map_err(|e| e.to_string())?;
        if timers != TimerReport::default() {
            tracing::info!(?timers, "ticket timers");
        }
        let stuck = stuck.map_err(|e| e.to_string())?;
        if stuck.reconciled > 0 {
            tracing::warn!(?stuck, "leads past their last attempt were reconciled");
        }
        let mut out = serde_json::to_value(&report).map_err(|e| e.to_string())?;
        out["tickets"] = serde_json::to_value(timers).map_err(|e| e.to_string())?;
        out["stuck_leads"] = serde_json::to_value(stuck).map_err(|e| e.to_string())?;
        Ok(out)
    }
}

/// The one constructor, shared by `main.rs` and `zayavka serve`.
pub fn from_env(w: &zayavka::deps::Wiring<'_>) -> Result<Sweeper, zayavka::config::ConfigError> {
    Ok(Sweeper::new(w.deps.clone(), Config::read(w.env)?))
}
