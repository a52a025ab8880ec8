//! The breakers' items (see [`crate::keys::breaker`]): the only code that knows their
//! layout. Every change is one conditional update, so two workers that race to open, probe or
//! close a breaker do it once between them.

use crate::keys;
use crate::ports::table::{AttributeValue, Cond, Item, StoreError, Table, Update};

const OPEN: &str = "open";
const CLOSED: &str = "closed";

/// One target's breaker as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BreakerState {
    pub target: String,
    pub open: bool,
    /// The failure that opened it, or the last probe's.
    pub reason: String,
    pub opened_at_ms: i64,
    /// When the next probe may go (while open).
    pub probe_at_ms: i64,
    /// Probes made since it opened.
    pub probes: u32,
    /// The failures in a row that opened it.
    pub failures: i64,
    /// Jobs that waited on it since it opened.
    pub held: i64,
    pub closed_at_ms: Option<i64>,
}

pub struct BreakerStore<'a> {
    table: &'a dyn Table,
}

impl<'a> BreakerStore<'a> {
    pub fn new(table: &'a dyn Table) -> Self {
        Self { table }
    }

    /// An eventually consistent read: the conditional writes decide every race.
    pub async fn read(&self, target: &str) -> Result<Option<BreakerState>, StoreError> {
        let item = self.table.get_eventually(&keys::breaker(target)).await?;
        Ok(item.map(|i| state(target, &i)))
    }

    /// Opens the breaker unless it is open: the state this call wrote, or `None` when
    /// another worker opened it first.
    pub async fn open(
        &self,
        target: &str,
        reason: &str,
        now_ms: i64,
        probe_at_ms: i64,
        failures: i64,
    ) -> Result<Option<BreakerState>, StoreError> {
        let update = Update::new()
            .set("target", target)
            .set("state", OPEN)
            .set("reason", reason)
            .set("opened_at", now_ms)
            .set("probe_at", probe_at_ms)
            .set("probe_step", 0i64)
            .set("failures", failures)
            .set("held", 0i64)
            .remove("closed_at")
            .when(Cond::eq("state", OPEN).negate());
        self.changed(target, update).await
    }

    /// Takes the probe that is due: true for the one job that may call.
    pub async fn claim_probe(
        &self,
        target: &str,
        now_ms: i64,
        lease_ms: i64,
    ) -> Result<bool, StoreError> {
        let update = Update::new()
            .set("probe_at", now_ms.saturating_add(lease_ms))
            .when(Cond::eq("state", OPEN))
            .when(Cond::Le(
                "probe_at".into(),
                AttributeValue::N(now_ms.to_string()),
            ));
        Ok(self.changed(target, update).await?.is_some())
    }

    /// The probe failed: the next one goes after the next interval. Returns when.
    pub async fn probe_failed(
        &self,
        target: &str,
        reason: &str,
        now_ms: i64,
        interval_ms: impl Fn(u32) -> i64,
    ) -> Result<i64, StoreError> {
        let step = self
            .read(target)
            .await?
            .map(|s| s.probes.saturating_add(1))
            .unwrap_or(1);
        let probe_at = now_ms.saturating_add(interval_ms(step));
        let update = Update::new()
            .set("reason", reason)
            .set("probe_at", probe_at)
            .set("probe_step", i64::from(step))
            .when(Cond::eq("state", OPEN));
        self.changed(target, update).await?;
        Ok(probe_at)
    }

    /// Closes an open breaker: the state as it was closed, or `None` when it was not open.
    pub async fn close(
        &self,
        target: &str,
        now_ms: i64,
    ) -> Result<Option<BreakerState>, StoreError> {
        let update = Update::new()
            .set("state", CLOSED)
            .set("closed_at", now_ms)
            .when(Cond::eq("state", OPEN));
        self.changed(target, update).await
    }

    /// One more job waits on the open breaker.
    pub async fn count_held(&self, target: &str) -> Result<(), StoreError> {
        let update = Update::new().add("held", 1).when(Cond::eq("state", OPEN));
        self.changed(target, update).await.map(|_| ())
    }

    async fn changed(
        &self,
        target: &str,
        update: Update,
    ) -> Result<Option<BreakerState>, StoreError> {
        match self.table.update(&keys::breaker(target), update).await {
            Ok(item) => Ok(Some(state(target, &item))),
            Err(StoreError::ConditionFailed) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

fn state(target: &str, item: &Item) -> BreakerState {
    let n = |a: &str| crate::claims::count(item, a);
    let text = |a: &str| match item.get(a) {
        Some(AttributeValue::S(s)) => s.clone(),
        _ => String::new(),
    };
    BreakerState {
        target: target.to_string(),
        open: text("state") == OPEN,
        reason: text("reason"),
        opened_at_ms: n("opened_at"),
        probe_at_ms: n("probe_at"),
        probes: u32::try_from(n("probe_step")).unwrap_or(0),
        failures: n("failures"),
        held: n("held"),
        closed_at_ms: item.get("closed_at").map(|_| n("closed_at")),
    }
}
