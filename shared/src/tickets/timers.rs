//! The tickets' clock, run by the sweeper: a postponed ticket's reminder when its time
//! comes, and a ticket nobody took offered again every `TICKET_ESCALATE_MINUTES` (at most
//! `TICKET_ESCALATE_TIMES`). The notice is queued before the timer is dropped: a crash in
//! between queues it twice, which the worker sends once.

use serde::Serialize;

use super::config::TicketsConfig;
use super::model::Status;
use super::notices::{TicketEvent, TicketNotice};
use super::store::{self, TimerKind};
use super::workflow::FlowError;
use crate::Deps;

/// Timers handled in one run, at most.
const PER_RUN: u32 = 100;

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct TimerReport {
    pub reminded: u32,
    pub escalated: u32,
    /// Timers of tickets that had moved on.
    pub dropped: u32,
    /// Timers that failed this time (logged); the next run tries them again.
    pub failed: u32,
}

pub async fn run_due(deps: &Deps, cfg: &TicketsConfig) -> Result<TimerReport, FlowError> {
    let now = deps.clock.now_ms();
    let mut report = TimerReport::default();
    for timer in store::due_timers(deps, now, PER_RUN).await? {
        // One timer that fails (its ticket unreadable, the queue down) holds up no other.
        if let Err(e) = fire(deps, cfg, now, &timer, &mut report).await {
            tracing::warn!(ticket = timer.ticket_id, kind = ?timer.kind, error = %e, "ticket timer failed; tried again next run");
            report.failed += 1;
        }
    }
    Ok(report)
}

async fn fire(
    deps: &Deps,
    cfg: &TicketsConfig,
    now: i64,
    timer: &store::Timer,
    report: &mut TimerReport,
) -> Result<(), FlowError> {
    let ticket = store::ticket(deps, timer.ticket_id).await?;
    {
        match timer.kind {
            TimerKind::Remind => {
                let due =
                    ticket.is_some_and(|t| t.status == Status::Postponed && t.version == timer.of);
                if due {
                    TicketNotice::new(timer.ticket_id, TicketEvent::Reminder, timer.of)
                        .send(deps)
                        .await?;
                    report.reminded += 1;
                } else {
                    report.dropped += 1;
                }
                store::drop_timer(deps, timer).await?;
            }
            TimerKind::Escalate => {
                let waiting =
                    ticket.is_some_and(|t| t.status == Status::Created && t.escalations < timer.of);
                if !waiting {
                    store::drop_timer(deps, timer).await?;
                    report.dropped += 1;
                    return Ok(());
                }
                TicketNotice::new(timer.ticket_id, TicketEvent::Escalated, timer.of)
                    .send(deps)
                    .await?;
                let next = (timer.of < cfg.escalate_times).then_some(now + cfg.escalate_after_ms);
                if store::escalated(deps, timer, next).await? {
                    report.escalated += 1;
                }
            }
        }
    }
    Ok(())
}
