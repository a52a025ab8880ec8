//! A breaker per delivery target: while an amoCRM account, a Bitrix24 portal, a webhook host,
//! a Telegram chat or the SES sender is down, its jobs wait without calling it and one probe
//! at a time finds out when it is back.
//!
//! The healthy path pays nothing: a job's first attempt reads no breaker (the lead path's
//! read budget is spent), unless this process already knows the target is open. Each worker
//! process counts its own failures in a row per target, in memory; a success ends the
//! streak, so one lead that a service refuses on its own among many that it takes never
//! adds up. At `BREAKER_THRESHOLD` failures in a row (each within `BREAKER_WINDOW` of the one
//! before) the breaker opens, once (a conditional write, so the admins hear of it once).
//! From then on a job that would call the target — a retry, or any job of a process that
//! knows — reads the breaker: while it is open the job waits for the next probe without
//! calling and without spending a try; when a probe is due, one job claims it (a
//! conditional write) and calls. A probe that fails pushes the next one out along the retry
//! schedule, capped at `BREAKER_MAX_PROBE_INTERVAL`; one that succeeds closes the breaker
//! (once: the admins hear of that too) and the waiting jobs, which wake just after each
//! probe, go out at the worker's pace.

use std::collections::HashMap;
use std::sync::Mutex;

use super::breaker_store::{BreakerState, BreakerStore};
use super::retry::RetrySchedule;
use crate::config::EnvReader;
use crate::ports::table::{StoreError, Table};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BreakerConfig {
    /// `BREAKER_THRESHOLD` (default 5; 0 switches breakers off): retryable failures of one
    /// target in a row, as one worker sees them, that open its breaker.
    pub threshold: u32,
    /// `BREAKER_WINDOW` (default 60s): a failure further than this from the one before
    /// starts the count again.
    pub window_secs: u32,
    /// `BREAKER_MAX_PROBE_INTERVAL` (default 15m): the probes follow the retry schedule's
    /// steps, never further apart than this, so a target that is back is found within it.
    pub max_probe_secs: u32,
    /// How long a claimed probe holds before another job may probe: longer than one call
    /// (the worker's HTTP timeout and a little).
    pub probe_lease_ms: i64,
    /// The probes' intervals: the schedule's steps, capped.
    probes: Vec<u32>,
}

impl BreakerConfig {
    pub fn read(env: &mut EnvReader<'_>, schedule: &RetrySchedule, call_secs: u64) -> Self {
        let threshold = env.parse_or("BREAKER_THRESHOLD", 5u32);
        let window_secs = delay(env, "BREAKER_WINDOW", "60s").max(1);
        let max_probe_secs = delay(env, "BREAKER_MAX_PROBE_INTERVAL", "15m").max(1);
        let mut cfg = Self::new(threshold, window_secs, max_probe_secs, schedule);
        cfg.probe_lease_ms = i64::try_from(call_secs.saturating_add(2))
            .unwrap_or(i64::MAX / 2_000)
            .saturating_mul(1000);
        cfg
    }

    pub fn new(
        threshold: u32,
        window_secs: u32,
        max_probe_secs: u32,
        schedule: &RetrySchedule,
    ) -> Self {
        let probes = schedule
            .steps()
            .iter()
            .map(|s| (*s).clamp(1, max_probe_secs))
            .collect();
        Self {
            threshold,
            window_secs,
            max_probe_secs,
            probe_lease_ms: 60_000,
            probes,
        }
    }

    pub fn enabled(&self) -> bool {
        self.threshold > 0
    }

    /// The wait before probe number `step + 1`.
    pub fn probe_interval_ms(&self, step: u32) -> i64 {
        let i = (step as usize).min(self.probes.len().saturating_sub(1));
        i64::from(self.probes.get(i).copied().unwrap_or(self.max_probe_secs)) * 1000
    }
}

fn delay(env: &mut EnvReader<'_>, name: &str, default: &str) -> u32 {
    let raw = env.or(name, default);
    match RetrySchedule::parse(&raw) {
        Ok(s) if s.steps().len() == 1 => s.steps()[0],
        _ => {
            env.problem(format!(
                "{name}={raw:?} is not one delay like 60s, 5m or 1h"
            ));
            0
        }
    }
}

/// What a job may do about its target now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Gate {
    /// Call as usual.
    Call,
    /// Call: this job carries the probe of an open breaker.
    Probe,
    /// Do not call; wait until then (Unix ms).
    Hold { until_ms: i64 },
}

/// What a failure or a success changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Nothing,
    /// The breaker opened with this failure (this process wrote it: tell the admins).
    Opened(BreakerState),
    /// It is open: the job waits until the next probe (Unix ms).
    Open {
        probe_at_ms: i64,
    },
    /// A probe succeeded and this process closed it (tell the admins).
    Closed(BreakerState),
}

/// The breakers as one worker process sees them: what it learned stays in memory until the
/// breaker's next probe, so a process that knows a target is down holds its jobs without
/// reading anything.
pub struct Breakers {
    cfg: BreakerConfig,
    open: Mutex<HashMap<String, i64>>,
    /// Per target, this process's failures in a row (each within the window of the one
    /// before) and when the last came. A success, or anything learned about the breaker,
    /// starts it again: one lead's own refusals among many deliveries never add up.
    streaks: Mutex<HashMap<String, (u32, i64)>>,
}

impl Breakers {
    pub fn new(cfg: BreakerConfig) -> Self {
        Self {
            cfg,
            open: Mutex::new(HashMap::new()),
            streaks: Mutex::new(HashMap::new()),
        }
    }

    /// One more failure in a row; the streak's length.
    fn streak(&self, target: &str, now_ms: i64) -> u32 {
        let window_ms = i64::from(self.cfg.window_secs) * 1000;
        let Ok(mut streaks) = self.streaks.lock() else {
            return 0;
        };
        let entry = streaks.entry(target.to_string()).or_insert((0, now_ms));
        if now_ms.saturating_sub(entry.1) > window_ms {
            entry.0 = 0;
        }
        *entry = (entry.0.saturating_add(1), now_ms);
        entry.0
    }

    fn end_streak(&self, target: &str) {
        if let Ok(mut streaks) = self.streaks.lock() {
            streaks.remove(target);
        }
    }

    pub fn config(&self) -> &BreakerConfig {
        &self.cfg
    }

    fn known_probe_at(&self, target: &str) -> Option<i64> {
        self.open.lock().ok()?.get(target).copied()
    }

    fn learn(&self, target: &str, probe_at_ms: Option<i64>) {
        // What came before is settled by what the breaker says now.
        self.end_streak(target);
        if let Ok(mut open) = self.open.lock() {
            match probe_at_ms {
                Some(at) => open.insert(target.to_string(), at),
                None => open.remove(target),
            };
        }
    }

    /// Whether a job may call `target` now. `waited`: the job failed or waited before, so
    /// it reads the breaker; a first attempt reads it only when this process knows the
    /// target is open.
    pub async fn gate(
        &self,
        table: &dyn Table,
        target: &str,
        waited: bool,
        now_ms: i64,
    ) -> Result<Gate, StoreError> {
        if !self.cfg.enabled() {
            return Ok(Gate::Call);
        }
        let known = self.known_probe_at(target);
        if let Some(at) = known
            && now_ms < at
        {
            return Ok(Gate::Hold {
                until_ms: self.after_probe(at),
            });
        }
        if known.is_none() && !waited {
            return Ok(Gate::Call);
        }
        let store = BreakerStore::new(table);
        let Some(state) = store.read(target).await?.filter(|s| s.open) else {
            self.learn(target, None);
            return Ok(Gate::Call);
        };
        if now_ms < state.probe_at_ms {
            self.learn(target, Some(state.probe_at_ms));
            return Ok(Gate::Hold {
                until_ms: self.after_probe(state.probe_at_ms),
            });
        }
        if store
            .claim_probe(target, now_ms, self.cfg.probe_lease_ms)
            .await?
        {
            return Ok(Gate::Probe);
        }
        // Another job probes right now: its answer is known within the lease.
        let until_ms = now_ms + self.cfg.probe_lease_ms;
        self.learn(target, Some(until_ms));
        Ok(Gate::Hold { until_ms })
    }

    /// When a waiting job looks again: once the probe due at `probe_at_ms` has had its answer.
    /// Every job waits so, the last prober too: the next probe goes to whichever job wakes
    /// first, so a lead the service refuses on its own cannot keep the breaker open by
    /// probing again and again.
    pub fn after_probe(&self, probe_at_ms: i64) -> i64 {
        probe_at_ms.saturating_add(self.cfg.probe_lease_ms)
    }

    /// A call to `target` failed in a way a retry may fix (`probe`: it was the probe).
    pub async fn failed(
        &self,
        table: &dyn Table,
        target: &str,
        reason: &str,
        probe: bool,
        now_ms: i64,
    ) -> Result<Change, StoreError> {
        if !self.cfg.enabled() {
            return Ok(Change::Nothing);
        }
        let store = BreakerStore::new(table);
        if probe {
            let at = store
                .probe_failed(target, reason, now_ms, |step| {
                    self.cfg.probe_interval_ms(step)
                })
                .await?;
            self.learn(target, Some(at));
            return Ok(Change::Open { probe_at_ms: at });
        }
        let failures = self.streak(target, now_ms);
        if failures < self.cfg.threshold {
            return Ok(Change::Nothing);
        }
        let failures = i64::from(failures);
        let probe_at_ms = now_ms + self.cfg.probe_interval_ms(0);
        match store
            .open(target, reason, now_ms, probe_at_ms, failures)
            .await?
        {
            Some(opened) => {
                self.learn(target, Some(opened.probe_at_ms));
                Ok(Change::Opened(opened))
            }
            None => match store.read(target).await?.filter(|s| s.open) {
                Some(s) => {
                    self.learn(target, Some(s.probe_at_ms));
                    Ok(Change::Open {
                        probe_at_ms: s.probe_at_ms,
                    })
                }
                None => Ok(Change::Nothing),
            },
        }
    }

    /// A call to `target` succeeded: a probe (or a call a process made while it believed
    /// the target open) closes the breaker.
    pub async fn succeeded(
        &self,
        table: &dyn Table,
        target: &str,
        probe: bool,
        now_ms: i64,
    ) -> Result<Change, StoreError> {
        if !self.cfg.enabled() {
            return Ok(Change::Nothing);
        }
        if !probe && self.known_probe_at(target).is_none() {
            self.end_streak(target);
            return Ok(Change::Nothing);
        }
        self.learn(target, None);
        Ok(
            match BreakerStore::new(table).close(target, now_ms).await? {
                Some(closed) => Change::Closed(closed),
                None => Change::Nothing,
            },
        )
    }

    /// A job starts waiting on the open breaker: counted once per job, for the notices.
    pub async fn held(&self, table: &dyn Table, target: &str) -> Result<(), StoreError> {
        BreakerStore::new(table).count_held(target).await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::adapters::{Db, EmbeddedTable};
    use crate::ports::FixedClock;

    #[tokio::test]
    async fn only_failures_in_a_row_open_a_breaker_and_it_starts_counting_anew_after() {
        let dir = tempfile::tempdir().unwrap();
        let db = Db::open(&dir.path().join("t.db")).unwrap();
        let t = EmbeddedTable::new(db, Arc::new(FixedClock::at_ms(1_000_000_000)));
        let s = RetrySchedule::parse("1s,2s").unwrap();
        let b = Breakers::new(BreakerConfig::new(3, 60, 900, &s));
        let now = 1_000_000_000;
        // One lead's own 500s among deliveries that go through never add up.
        for round in 0..5 {
            for _ in 0..2 {
                let c = b
                    .failed(&t, "webhook:x", "HTTP 500", false, now + round)
                    .await;
                assert_eq!(c.unwrap(), Change::Nothing);
            }
            b.succeeded(&t, "webhook:x", false, now + round)
                .await
                .unwrap();
        }
        assert!(
            BreakerStore::new(&t)
                .read("webhook:x")
                .await
                .unwrap()
                .is_none()
        );
        // Failures further apart than the window do not either.
        for n in 0..3 {
            let c = b
                .failed(&t, "webhook:y", "HTTP 500", false, now + n * 61_000)
                .await;
            assert_eq!(c.unwrap(), Change::Nothing);
        }
        // Three in a row do, once; a probe that succeeds closes it; and the next failure
        // starts a new count rather than opening it again.
        b.failed(&t, "webhook:x", "HTTP 500", false, now)
            .await
            .unwrap();
        b.failed(&t, "webhook:x", "HTTP 500", false, now)
            .await
            .unwrap();
        let opened = b
            .failed(&t, "webhook:x", "HTTP 503", false, now)
            .await
            .unwrap();
        assert!(
            matches!(opened, Change::Opened(ref st) if st.failures == 3 && st.reason == "HTTP 503")
        );
        let closed = b
            .succeeded(&t, "webhook:x", true, now + 5_000)
            .await
            .unwrap();
        assert!(matches!(closed, Change::Closed(_)));
        let again = b
            .failed(&t, "webhook:x", "HTTP 500", false, now + 6_000)
            .await;
        assert_eq!(again.unwrap(), Change::Nothing);
        let state = BreakerStore::new(&t)
            .read("webhook:x")
            .await
            .unwrap()
            .unwrap();
        assert!(!state.open);
    }

    #[test]
    fn probes_follow_the_schedule_capped() {
        let s = RetrySchedule::parse("5s,5m,30m,2h").unwrap();
        let c = BreakerConfig::new(5, 60, 900, &s);
        let waits: Vec<i64> = (0..6).map(|i| c.probe_interval_ms(i) / 1000).collect();
        assert_eq!(waits, vec![5, 300, 900, 900, 900, 900]);
    }
}
