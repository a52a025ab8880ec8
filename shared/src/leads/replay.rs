//! Replay: a settled lead's failed deliveries go again, in a batch of their own, and nothing
//! that succeeded is called again.
//!
//! A failed job's message is kept on its queue, invisible, for `REPLAY_KEEP` (its receipt
//! handle on the batch item): a replay wakes it, so the request's credentials, which never
//! enter the table, need not be sent again. Past that, the replay request brings the
//! integration's settings and credentials as a new lead would.
//!
//! The steps, each safe to repeat: the replay's batch item (its integrations, and how the
//! lead's others ended, so it settles on all of them), the note on the failed batch that its
//! kept messages now run as the replay's jobs, the lead pointed at the replay's batch (under
//! the condition that it is still settled on the failed one: two replays at once make one),
//! and only then the messages woken or sent — a job that finished before the lead pointed
//! at its batch could not settle it.

use std::collections::BTreeMap;

use sha2::{Digest, Sha256};

use super::dispatch;
use super::model::*;
use super::store::LeadStore;
use crate::Deps;
use crate::ports::table::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("lead not found")]
    NotFound,
    /// The replay cannot be made as asked; nothing changed.
    #[error("{0}")]
    Refused(String),
    #[error(transparent)]
    NotQueued(#[from] dispatch::DispatchError),
}

/// What to replay: some of the failed integrations (none named: all), and targets the
/// request brought (with their credentials) for deliveries whose messages are gone.
#[derive(Debug, Clone, Default)]
pub struct ReplayAsk {
    pub only: Vec<Integration>,
    pub targets: Vec<Target>,
}

/// A replay that was made.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Replayed {
    pub lead_id: String,
    pub batch_id: String,
    pub status: &'static str,
    pub replayed: Vec<String>,
}

/// The batch a replay of `batch_id` opens: made from it, so a replay asked twice (or resumed
/// after a crash) opens the same one.
pub fn replay_batch_id(batch_id: &str) -> String {
    let digest = Sha256::digest(format!("replay:{batch_id}").as_bytes());
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("r-{hex}")
}

/// How one failed delivery goes again.
enum Source {
    /// Its kept message: in this batch, with this receipt handle.
    Kept { batch: String, handle: String },
    /// A target the request brought.
    Given(Target),
}

/// Replays the lead's failed deliveries. `owns`: whether the caller may touch a lead
/// submitted by that key id (others' leads are not found); `by`: who asks, for the history.
pub async fn replay(
    deps: &Deps,
    lead_id: &str,
    owns: impl Fn(Option<&str>) -> bool,
    by: &str,
    ask: ReplayAsk,
    patience_ms: i64,
) -> Result<Replayed, ReplayError> {
    let store = LeadStore::of(deps);
    let Some((lead, batches)) = store.lead_and_batches(lead_id).await? else {
        return Err(ReplayError::NotFound);
    };
    if !owns(lead.submitted_by.as_deref()) {
        return Err(ReplayError::NotFound);
    }
    if lead.status == status::PROCESSING {
        return Err(ReplayError::Refused(
            "the lead is still being delivered: replay it once it has settled".into(),
        ));
    }
    let current = batches.get(&lead.batch_id).cloned().unwrap_or_default();
    let chosen = choose(&lead, &current, &ask.only)?;
    let now_ms = deps.clock.now_ms();
    let sources = sources(&lead, &batches, &chosen, ask.targets, now_ms)?;
    let replay = Replay {
        batch_id: replay_batch_id(&lead.batch_id),
        from_batch: lead.batch_id.clone(),
        integrations: chosen.clone(),
        at: crate::time::timestamp(now_ms),
        by: by.to_string(),
    };
    prepare(deps, &lead, &current, &replay, &sources, patience_ms).await?;
    if !store.switch_to_replay(&lead, &replay).await? {
        return Err(ReplayError::Refused(
            "another replay of this lead came first".into(),
        ));
    }
    send(deps, &lead, &replay, sources).await?;
    tracing::info!(lead_id, batch_id = %replay.batch_id, integrations = ?chosen, by, "lead replayed");
    Ok(Replayed {
        lead_id: lead.lead_id,
        batch_id: replay.batch_id,
        status: status::PROCESSING,
        replayed: chosen,
    })
}

/// Everything before the lead points at the replay: the replay's batch item, the marks on
/// the batches whose kept messages it wakes, and its due marker. Each step may be repeated.
async fn prepare(
    deps: &Deps,
    lead: &LeadRecord,
    current: &BatchState,
    replay: &Replay,
    sources: &[(Integration, Source)],
    patience_ms: i64,
) -> Result<(), ReplayError> {
    let store = LeadStore::of(deps);
    let chosen = &replay.integrations;
    let (succeeded, failed) = carried(current, chosen);
    store
        .open_replay(
            &lead.lead_id,
            &replay.batch_id,
            chosen,
            (&succeeded, &failed),
        )
        .await?;
    for (i, source) in sources {
        if let Source::Kept { batch, .. } = source {
            let one = [i.to_string()];
            store
                .mark_replayed(&lead.lead_id, batch, &one, &replay.batch_id)
                .await?;
        }
    }
    let targets = sources
        .iter()
        .map(|(i, src)| match src {
            Source::Given(t) => (i.to_string(), Some(t.clone())),
            Source::Kept { .. } => (i.to_string(), None),
        })
        .collect();
    let made_ms = crate::time::parse_ms(&replay.at).unwrap_or_else(|| deps.clock.now_ms());
    let batch = (lead.lead_id.as_str(), replay.batch_id.as_str(), &chosen[..]);
    let marker = super::due::Due::new(batch, targets, (made_ms, patience_ms));
    super::due::DueStore::new(deps.table.as_ref())
        .put(&marker)
        .await?;
    Ok(())
}

/// The integrations to send again: the named ones, each of which must have failed, or every
/// failed one.
fn choose(
    lead: &LeadRecord,
    current: &BatchState,
    only: &[Integration],
) -> Result<Vec<String>, ReplayError> {
    let mut failed: Vec<String> = current
        .failed
        .iter()
        .chain(&current.carried_failed)
        .cloned()
        .collect();
    failed.sort();
    failed.dedup();
    if failed.is_empty() {
        return Err(ReplayError::Refused(
            "nothing to replay: every delivery of the lead succeeded".into(),
        ));
    }
    if only.is_empty() {
        return Ok(failed);
    }
    let mut chosen = Vec::new();
    for i in only {
        let name = i.as_str().to_string();
        if !failed.contains(&name) {
            let why = if lead.tries.contains_key(&name) {
                "it succeeded, and a delivery that succeeded is never sent again"
            } else {
                "the lead has no such integration"
            };
            return Err(ReplayError::Refused(format!("{name}: {why}")));
        }
        if !chosen.contains(&name) {
            chosen.push(name);
        }
    }
    chosen.sort();
    Ok(chosen)
}

/// For each chosen integration, how it goes again: a target the request brought, else its
/// kept message. One with neither refuses the whole replay.
fn sources(
    lead: &LeadRecord,
    batches: &BTreeMap<String, BatchState>,
    chosen: &[String],
    given: Vec<Target>,
    now_ms: i64,
) -> Result<Vec<(Integration, Source)>, ReplayError> {
    let mut out = Vec::new();
    let mut missing = Vec::new();
    for name in chosen {
        let Some(i) = Integration::parse(name) else {
            continue;
        };
        if let Some(t) = given.iter().find(|t| t.integration() == i) {
            out.push((i, Source::Given(t.clone())));
            continue;
        }
        // The newest batch where it failed holds its kept message.
        let kept = lead.batches().into_iter().rev().find_map(|b| {
            let state = batches.get(&b)?;
            if !state.failed.contains(name) {
                return None;
            }
            let (handle, until) = state.job(i).kept?;
            (until > now_ms).then_some((b, handle))
        });
        match kept {
            Some((batch, handle)) => out.push((i, Source::Kept { batch, handle })),
            None => missing.push(name.clone()),
        }
    }
    if missing.is_empty() {
        return Ok(out);
    }
    Err(ReplayError::Refused(format!(
        "{}: the failed delivery's message is no longer kept; send the integration's settings and credentials with the replay, as in a new lead",
        missing.join(", ")
    )))
}

/// How the lead's other integrations ended: succeeded, and failed but not sent again.
fn carried(current: &BatchState, chosen: &[String]) -> (Vec<String>, Vec<String>) {
    let succeeded = current
        .succeeded
        .iter()
        .chain(&current.carried_succeeded)
        .cloned()
        .collect();
    let failed = current
        .failed
        .iter()
        .chain(&current.carried_failed)
        .filter(|i| !chosen.contains(i))
        .cloned()
        .collect();
    (succeeded, failed)
}

/// Wakes the kept messages and queues the given targets' jobs.
async fn send(
    deps: &Deps,
    lead: &LeadRecord,
    replay: &Replay,
    sources: Vec<(Integration, Source)>,
) -> Result<(), ReplayError> {
    let mut jobs = Vec::new();
    for (i, source) in sources {
        match source {
            Source::Kept { batch, handle } => wake(deps, lead, i, &batch, handle).await?,
            Source::Given(target) => jobs.push(replay_job(lead, replay, i, target)),
        }
    }
    dispatch::queue(deps, &jobs).await?;
    Ok(())
}

/// The replay's job of integration `i`, to the target the replay brought.
fn replay_job(lead: &LeadRecord, replay: &Replay, i: Integration, target: Target) -> Job {
    Job {
        lead_id: lead.lead_id.clone(),
        batch_id: replay.batch_id.clone(),
        tries: lead.tries.get(i.as_str()).copied().unwrap_or(1),
        created_at: replay.at.clone(),
        expected: replay.integrations.clone(),
        lead: lead.lead.clone(),
        target,
        again: false,
        first_batch: lead.batches().first().cloned(),
    }
}

/// Makes a kept message visible now. Its worker may have just received it to keep it
/// longer (a new receipt handle): then the handle is read again, once. A message that
/// cannot be woken still runs as the replay's job when it next comes back by itself.
async fn wake(
    deps: &Deps,
    lead: &LeadRecord,
    i: Integration,
    batch: &str,
    handle: String,
) -> Result<(), ReplayError> {
    let queue = i.queue();
    if deps
        .queue
        .change_visibility(queue, &handle, 0)
        .await
        .is_ok()
    {
        return Ok(());
    }
    let state = LeadStore::of(deps)
        .batch(&lead.lead_id, batch, true)
        .await?;
    let again = state.job(i).kept.map(|(h, _)| h);
    if let Some(h) = again.filter(|h| *h != handle)
        && deps.queue.change_visibility(queue, &h, 0).await.is_ok()
    {
        return Ok(());
    }
    tracing::warn!(lead_id = %lead.lead_id, integration = %i, "the kept message could not be woken; it runs as the replay's job when it next comes back");
    Ok(())
}
