//! A job's life: claimed under a lease before the outside call, then succeeded, retrying or
//! failed. The claim is what keeps a redelivered message from calling the outside world a
//! second time; the table side of it is [`LeadStore`]'s.

use super::model::*;
use super::store::LeadStore;
use crate::ports::Clock;
use crate::ports::table::{StoreError, Table};
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

pub async fn claim(
    table: &dyn Table,
    clock: &dyn Clock,
    job: &JobRef,
    lease_ms: i64,
) -> Result<Claim, StoreError> {
    LeadStore::new(table)
        .claim_job(job, clock.now_ms(), lease_ms)
        .await
}

/// Counts the attempt about to be made (just before the outside call); its number.
pub async fn calling(table: &dyn Table, job: &JobRef) -> Result<u32, StoreError> {
    LeadStore::new(table).job_calling(job).await
}

/// Records success. Credentials and the lead copy go: the job needs them no more.
pub async fn succeed(
    table: &dyn Table,
    clock: &dyn Clock,
    job: &JobRef,
    external_id: Option<String>,
) -> Result<(), StoreError> {
    let at = timestamp(clock.now_ms());
    let ours = LeadStore::new(table)
        .job_succeeded(job, &at, external_id)
        .await?;
    warn_if_lost(ours);
    Ok(())
}

/// Records a failed attempt that will be tried again.
pub async fn retry_later(
    table: &dyn Table,
    clock: &dyn Clock,
    job: &JobRef,
    error: &str,
) -> Result<(), StoreError> {
    let at = timestamp(clock.now_ms());
    let ours = LeadStore::new(table).job_retrying(job, &at, error).await?;
    warn_if_lost(ours);
    Ok(())
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
    LeadStore::new(table).fail_job(job, &at, error).await
}

/// The job moved on without us (our lease ran out and another worker finished it): the
/// other result stands.
fn warn_if_lost(ours: bool) {
    if !ours {
        tracing::warn!("job changed hands while this worker ran it; keeping the other result");
    }
}
