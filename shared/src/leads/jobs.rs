//! A job's life in the table: claimed under a lease before the outside call, then
//! succeeded, retrying or failed. The claim is what keeps a redelivered message from calling
//! the outside world a second time.

use super::model::*;
use crate::ports::Clock;
use crate::ports::table::{AttributeValue, Cond, StoreError, Table, Update, from_item};
use crate::time::timestamp;

#[derive(Debug)]
pub enum Claim {
    /// Ours to run until the lease ends.
    Acquired(JobRecord),
    /// Already succeeded or failed: nothing to do but report it again.
    Finished(JobRecord),
    /// Another worker holds it; look again in this many milliseconds.
    Busy(i64),
    /// No such job (its lead was removed).
    Missing,
}

fn is_open(status: &str) -> bool {
    status == status::PENDING || status == status::RETRYING || status == status::RUNNING
}

pub async fn claim(
    table: &dyn Table,
    clock: &dyn Clock,
    job: &JobRef,
    lease_ms: i64,
) -> Result<Claim, StoreError> {
    let key = key_of(job);
    let now = clock.now_ms();
    let claimable = Cond::Or(vec![
        Cond::eq("status", status::PENDING),
        Cond::eq("status", status::RETRYING),
        Cond::eq("status", status::RUNNING).and(Cond::Lt(
            "lease_until".into(),
            AttributeValue::N(now.to_string()),
        )),
    ]);
    let update = Update::new()
        .set("status", status::RUNNING)
        .set("lease_until", now + lease_ms)
        .set("updated_at", timestamp(now))
        .add("attempts", 1)
        .when(Cond::item_exists().and(claimable));
    match table.update(&key, update).await {
        Ok(item) => Ok(Claim::Acquired(from_item(item)?)),
        Err(StoreError::ConditionFailed) => match table.get(&key).await? {
            None => Ok(Claim::Missing),
            Some(item) => {
                let record: JobRecord = from_item(item)?;
                if is_open(&record.status) {
                    let wait = record.lease_until.unwrap_or(now) - now;
                    Ok(Claim::Busy(wait.max(0)))
                } else {
                    Ok(Claim::Finished(record))
                }
            }
        },
        Err(e) => Err(e),
    }
}

/// Records success. Credentials and the lead copy go: the job needs them no more.
pub async fn succeed(
    table: &dyn Table,
    clock: &dyn Clock,
    job: &JobRef,
    external_id: Option<String>,
) -> Result<(), StoreError> {
    let at = timestamp(clock.now_ms());
    let mut update = Update::new()
        .set("status", status::SUCCEEDED)
        .set("updated_at", at.clone())
        .set("finished_at", at)
        .remove("lease_until")
        .remove("target")
        .remove("lead")
        .remove("last_error")
        .when(Cond::eq("status", status::RUNNING));
    if let Some(id) = external_id {
        update = update.set("external_id", id);
    }
    ignore_lost_race(table.update(&key_of(job), update).await)
}

/// Records a failed attempt that will be tried again.
pub async fn retry_later(
    table: &dyn Table,
    clock: &dyn Clock,
    job: &JobRef,
    error: &str,
) -> Result<(), StoreError> {
    let update = Update::new()
        .set("status", status::RETRYING)
        .set("last_error", error)
        .set("updated_at", timestamp(clock.now_ms()))
        .remove("lease_until")
        .when(Cond::eq("status", status::RUNNING));
    ignore_lost_race(table.update(&key_of(job), update).await)
}

/// Records the final failure; true when this call made it final (false: it had already
/// finished, possibly successfully).
pub async fn fail(
    table: &dyn Table,
    clock: &dyn Clock,
    job: &JobRef,
    error: &str,
) -> Result<bool, StoreError> {
    let at = timestamp(clock.now_ms());
    let update = Update::new()
        .set("status", status::FAILED)
        .set("last_error", error)
        .set("updated_at", at.clone())
        .set("finished_at", at)
        .remove("lease_until")
        .remove("target")
        .remove("lead")
        .when(Cond::item_exists().and(Cond::Or(vec![
            Cond::eq("status", status::PENDING),
            Cond::eq("status", status::RETRYING),
            Cond::eq("status", status::RUNNING),
        ])));
    match table.update(&key_of(job), update).await {
        Ok(_) => Ok(true),
        Err(StoreError::ConditionFailed) => Ok(false),
        Err(e) => Err(e),
    }
}

fn key_of(job: &JobRef) -> crate::ports::Key {
    job_key(&job.lead_id, &job.batch_id, job.integration)
}

/// The job moved on without us (our lease ran out and another worker finished it).
fn ignore_lost_race(r: Result<crate::ports::Item, StoreError>) -> Result<(), StoreError> {
    match r {
        Ok(_) => Ok(()),
        Err(StoreError::ConditionFailed) => {
            tracing::warn!("job changed hands while this worker ran it; keeping the other result");
            Ok(())
        }
        Err(e) => Err(e),
    }
}
