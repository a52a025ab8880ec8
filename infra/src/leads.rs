//! `zayavka leads retry`: replays, in bulk and at a steady pace, the failed deliveries of
//! every lead that settled `failed` or `partial` since a time — after the configuration is
//! fixed, or a service came back too late for its leads' schedule.

use std::time::Duration;

use zayavka::Deps;
use zayavka::leads::Integration;
use zayavka::leads::model::status;
use zayavka::leads::replay::{self, ReplayAsk, ReplayError};
use zayavka::leads::store::LeadStore;

/// What to replay.
#[derive(Debug, Clone)]
pub struct Bulk {
    /// Settled at or after this (Unix ms).
    pub since_ms: i64,
    /// Only this integration's deliveries (and only leads where it failed).
    pub integration: Option<Integration>,
    /// Only leads that settled so (`failed` or `partial`).
    pub status: Option<String>,
    /// Replays per second.
    pub rate: f64,
    /// How long a replay's batch may take before the sweeper looks at it.
    pub patience_ms: i64,
}

/// `--since`: an RFC 3339 time, or a span back from now (`90m`, `24h`, `3d`).
pub fn parse_since(raw: &str, now_ms: i64) -> Result<i64, String> {
    if let Some(ms) = zayavka::time::parse_ms(raw) {
        return Ok(ms);
    }
    let (digits, unit_ms) = match raw.char_indices().last() {
        Some((i, 'm')) => (&raw[..i], 60_000),
        Some((i, 'h')) => (&raw[..i], 3_600_000),
        Some((i, 'd')) => (&raw[..i], 86_400_000),
        _ => (raw, 0),
    };
    match digits.parse::<i64>() {
        Ok(n) if unit_ms > 0 && n >= 0 => Ok(now_ms - n.saturating_mul(unit_ms)),
        _ => Err(format!(
            "--since {raw:?}: give a time (2026-12-01T09:00:00Z) or a span back (90m, 24h, 3d)"
        )),
    }
}

/// Replays each listed lead once, in the order they settled; one line per lead.
pub async fn retry(deps: &Deps, bulk: &Bulk) -> Result<Vec<String>, String> {
    if let Some(s) = &bulk.status
        && s != status::FAILED
        && s != status::PARTIAL
    {
        return Err(format!("--status {s:?}: failed or partial"));
    }
    let store = LeadStore::of(deps);
    let now_ms = deps.clock.now_ms();
    let mut found = Vec::new();
    let mut day_ms = bulk.since_ms - bulk.since_ms.rem_euclid(86_400_000);
    while day_ms <= now_ms {
        let day = zayavka::time::timestamp(day_ms);
        for f in store
            .failures_on(&day[..10])
            .await
            .map_err(|e| e.to_string())?
        {
            let at = zayavka::time::parse_ms(&f.finished_at).unwrap_or(0);
            let wanted = at >= bulk.since_ms
                && bulk.status.as_ref().is_none_or(|s| *s == f.status)
                && bulk
                    .integration
                    .is_none_or(|i| f.failed.iter().any(|n| n == i.as_str()));
            if wanted {
                found.push((at, f));
            }
        }
        day_ms += 86_400_000;
    }
    found.sort_by_key(|(at, _)| *at);
    // A lead listed for several batches is replayed once.
    let mut seen = std::collections::HashSet::new();
    found.retain(|(_, f)| seen.insert(f.lead_id.clone()));
    let pause = Duration::from_secs_f64(1.0 / bulk.rate.max(0.01));
    let mut lines = Vec::new();
    let mut replayed = 0;
    for (n, (_, f)) in found.iter().enumerate() {
        if n > 0 {
            tokio::time::sleep(pause).await;
        }
        let ask = ReplayAsk {
            only: bulk.integration.into_iter().collect(),
            targets: Vec::new(),
        };
        let done = replay::replay(deps, &f.lead_id, |_| true, "cli", ask, bulk.patience_ms).await;
        lines.push(match done {
            Ok(r) => {
                replayed += 1;
                format!("{}: replayed {}", f.lead_id, r.replayed.join(", "))
            }
            Err(ReplayError::Refused(why)) => format!("{}: skipped: {why}", f.lead_id),
            Err(ReplayError::NotFound) => format!("{}: skipped: no such lead", f.lead_id),
            Err(e) => return Err(format!("{}: {e}", f.lead_id)),
        });
    }
    lines.push(format!("{replayed} of {} leads replayed", found.len()));
    Ok(lines)
}
