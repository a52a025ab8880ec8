//! The ticket's steps, who may take each, and what each tells whom. Permission is checked
//! before the ticket's state, so somebody outside the category never learns who holds a
//! ticket; every change is a conditional write on the version read (`store::apply`), and a
//! step repeated by its own author (a redelivered update) announces the same notice again
//! instead of failing. A step counts as repeated only when the one stored did the same
//! thing (the same action by the same user, with the same comment): Telegram delivers
//! updates in parallel, so two different comments can race, and neither may be lost.
//!
//! The assignee's steps (postpone, resume, send for confirmation) also need the assignee
//! to be an active executor of the ticket's category still: once deactivated or removed,
//! their presses get the seed's «У вас нет прав на эту заявку». Their tickets stay theirs
//! (in work, postponed or on confirmation, the author can still confirm or return one);
//! activating them again, or adding them back, lets them finish.

use super::config::{Postpone, TicketsConfig};
use super::model::{Action, Status, Ticket, User};
use super::notices::{TicketEvent, TicketNotice};
use super::store::{self, Change, Load, NewTicket, TicketError};
use crate::Deps;
use crate::ports::QueueError;
use crate::ports::table::StoreError;
use tracing::Instrument;

/// The longest ticket title and description taken (a card must fit one Telegram message).
pub const MAX_TITLE: usize = 200;
pub const MAX_DESCRIPTION: usize = 3000;

#[derive(Debug, thiserror::Error)]
pub enum FlowError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("notice not queued: {0}")]
    Queue(#[from] QueueError),
    /// The request conflicts with what is stored (an Idempotency-Key used for another
    /// request): which field, and why.
    #[error("{field}: {message}")]
    Conflict {
        field: &'static str,
        message: String,
    },
}

impl FlowError {
    pub fn is_retryable(&self) -> bool {
        match self {
            FlowError::Store(e) => e.is_retryable(),
            FlowError::Queue(e) => e.is_retryable(),
            FlowError::Conflict { .. } => false,
        }
    }
}

impl From<TicketError> for FlowError {
    fn from(e: TicketError) -> Self {
        match e {
            TicketError::Store(e) => FlowError::Store(e),
            TicketError::Conflict { field, message } => FlowError::Conflict { field, message },
            other => FlowError::Store(StoreError::Invalid(other.to_string())),
        }
    }
}

/// How a step ended, for the one who asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Done(Ticket),
    NotFound,
    /// Not theirs to do.
    Denied,
    /// Only the author may.
    NotAuthor,
    /// The ticket moved on: as it is now.
    Stale(Ticket),
    /// The executor is at `max_tickets`.
    Full(i64),
}

/// Creates a ticket and offers it. `origin` makes a repeat return the same ticket.
pub async fn create(
    deps: &Deps,
    cfg: &TicketsConfig,
    new: NewTicket,
    origin: Option<&str>,
    author_told: bool,
) -> Result<(Ticket, bool), FlowError> {
    let escalate = cfg.first_escalation(deps.clock.now_ms());
    let (ticket, created) = store::create_ticket(deps, new, origin, escalate).await?;
    let mut notice = TicketNotice::new(ticket.id, TicketEvent::Created, 1);
    notice.author_told = author_told;
    // Sent again for a repeat too: the worker sends each chat once.
    notice.send(deps).await?;
    Ok((ticket, created))
}

/// Offers a ticket nobody took to its executors again, now (the seed's test command); the
/// ticket as it is when it can no longer be offered.
pub async fn offer_again(deps: &Deps, id: i64) -> Result<Result<Ticket, Ticket>, FlowError> {
    let t = store::ticket(deps, id)
        .await?
        .ok_or_else(|| StoreError::Invalid(format!("there is no ticket {id}")))?;
    if t.status != Status::Created {
        return Ok(Err(t));
    }
    TicketNotice::new(id, TicketEvent::Offered, deps.clock.now_ms())
        .send(deps)
        .await?;
    Ok(Ok(t))
}

fn event_of(action: Action) -> TicketEvent {
    match action {
        Action::Created => TicketEvent::Created,
        Action::Taken => TicketEvent::Taken,
        Action::Postponed => TicketEvent::Postponed,
        Action::Resumed => TicketEvent::Resumed,
        Action::SentForConfirmation => TicketEvent::OnConfirmation,
        Action::Confirmed => TicketEvent::Completed,
        Action::Returned => TicketEvent::Returned,
        Action::Commented => TicketEvent::Commented,
    }
}

async fn announce(deps: &Deps, t: &Ticket, action: Action) -> Result<(), FlowError> {
    TicketNotice::new(t.id, event_of(action), t.version)
        .send(deps)
        .await?;
    Ok(())
}

/// The ticket as it is now did not allow the step: if the step is the one its actor made
/// last (a redelivery: the same action with the same comment), it is done, announced
/// again; otherwise it is stale.
async fn already_or_stale(deps: &Deps, current: Ticket, c: &Change) -> Result<Outcome, FlowError> {
    if let Some(last) = store::history_entry(deps, current.id, current.version).await?
        && last.action == c.action
        && last.actor_user_id == c.actor
        && last.comment == c.comment
    {
        announce(deps, &current, c.action).await?;
        return Ok(Outcome::Done(current));
    }
    Ok(Outcome::Stale(current))
}

async fn step(deps: &Deps, t: Ticket, from: &[Status], c: Change) -> Result<Outcome, FlowError> {
    let span = tracing::info_span!("ticket", ticket_id = t.id, user_id = c.actor);
    step_in(deps, t, from, c).instrument(span).await
}

async fn step_in(deps: &Deps, t: Ticket, from: &[Status], c: Change) -> Result<Outcome, FlowError> {
    if !from.contains(&t.status) {
        return already_or_stale(deps, t, &c).await;
    }
    match store::apply(deps, &t, c.clone()).await {
        Ok(next) => {
            announce(deps, &next, c.action).await?;
            Ok(Outcome::Done(next))
        }
        Err(TicketError::Stale(current)) => already_or_stale(deps, *current, &c).await,
        // The executor's record refused: at its limit, or no longer an active executor
        // (deactivated, removed, or added again) since it was read.
        Err(TicketError::Full) => match c.load {
            Some((category, user, Load::Take { executor_id, max })) => {
                match store::executor(deps, category, user).await? {
                    Some(e) if e.is_active && e.id == executor_id && !e.has_room() => {
                        Ok(Outcome::Full(e.max_tickets))
                    }
                    Some(e) if e.is_active && e.id == executor_id => Ok(Outcome::Full(max)),
                    _ => Ok(Outcome::Denied),
                }
            }
            _ => Ok(Outcome::Full(0)),
        },
        Err(TicketError::Store(e)) => Err(e.into()),
        Err(e @ TicketError::Conflict { .. }) => Err(StoreError::Invalid(e.to_string()).into()),
    }
}

/// «Взять в работу»: an active executor of the category with room; the first tap wins.
pub async fn take(deps: &Deps, id: i64, user: &User) -> Result<Outcome, FlowError> {
    let Some(t) = store::ticket(deps, id).await? else {
        return Ok(Outcome::NotFound);
    };
    let Some(e) = store::executor(deps, t.category_id, user.id)
        .await?
        .filter(|e| e.is_active)
    else {
        return Ok(Outcome::Denied);
    };
    if t.status == Status::Created && !e.has_room() {
        return Ok(Outcome::Full(e.max_tickets));
    }
    let mut c = Change::new(user.id, Action::Taken, Status::InWork);
    c.assignee = Some(user.id);
    c.load = Some((
        t.category_id,
        user.id,
        Load::Take {
            executor_id: e.id,
            max: e.max_tickets,
        },
    ));
    step(deps, t, &[Status::Created], c).await
}

/// Whether the user may move the ticket on as its assignee: they hold it and are still an
/// active executor of its category (see the module's comment for a deactivated one).
pub async fn holds(deps: &Deps, t: &Ticket, user: &User) -> Result<bool, StoreError> {
    if t.assignee_user_id != Some(user.id) {
        return Ok(false);
    }
    Ok(store::executor(deps, t.category_id, user.id)
        .await?
        .is_some_and(|e| e.is_active))
}

/// The assignee's steps: only theirs, while they are an active executor.
async fn assignees(
    deps: &Deps,
    id: i64,
    user: &User,
) -> Result<Result<Ticket, Outcome>, FlowError> {
    let Some(t) = store::ticket(deps, id).await? else {
        return Ok(Err(Outcome::NotFound));
    };
    if !holds(deps, &t, user).await? {
        return Ok(Err(Outcome::Denied));
    }
    Ok(Ok(t))
}

/// The author's steps: only theirs.
async fn authors(deps: &Deps, id: i64, user: &User) -> Result<Result<Ticket, Outcome>, FlowError> {
    let Some(t) = store::ticket(deps, id).await? else {
        return Ok(Err(Outcome::NotFound));
    };
    if t.author_user_id != user.id {
        return Ok(Err(Outcome::NotAuthor));
    }
    Ok(Ok(t))
}

/// Whether the user may see the ticket's details: its author, assignee, an executor or a
/// manager of its category.
pub async fn may_see(deps: &Deps, t: &Ticket, user: &User) -> Result<bool, StoreError> {
    if t.author_user_id == user.id || t.assignee_user_id == Some(user.id) {
        return Ok(true);
    }
    if store::executor(deps, t.category_id, user.id)
        .await?
        .is_some_and(|e| e.is_active)
    {
        return Ok(true);
    }
    Ok(store::category(deps, t.category_id)
        .await?
        .is_some_and(|c| c.manager_user_ids.contains(&user.id)))
}

pub async fn postpone(
    deps: &Deps,
    cfg: &TicketsConfig,
    id: i64,
    user: &User,
    how_long: Postpone,
) -> Result<Outcome, FlowError> {
    let t = match assignees(deps, id, user).await? {
        Ok(t) => t,
        Err(o) => return Ok(o),
    };
    let until = how_long.until(deps.clock.now_ms(), &cfg.timezone);
    let mut c = Change::new(user.id, Action::Postponed, Status::Postponed);
    c.postponed_until = Some(until);
    c.remind_at = Some(until);
    step(deps, t, &[Status::InWork], c).await
}

pub async fn resume(deps: &Deps, id: i64, user: &User) -> Result<Outcome, FlowError> {
    let t = match assignees(deps, id, user).await? {
        Ok(t) => t,
        Err(o) => return Ok(o),
    };
    step(
        deps,
        t,
        &[Status::Postponed],
        Change::new(user.id, Action::Resumed, Status::InWork),
    )
    .await
}

pub async fn to_confirmation(deps: &Deps, id: i64, user: &User) -> Result<Outcome, FlowError> {
    let t = match assignees(deps, id, user).await? {
        Ok(t) => t,
        Err(o) => return Ok(o),
    };
    step(
        deps,
        t,
        &[Status::InWork, Status::Postponed],
        Change::new(user.id, Action::SentForConfirmation, Status::OnConfirmation),
    )
    .await
}

pub async fn confirm(deps: &Deps, id: i64, user: &User) -> Result<Outcome, FlowError> {
    let t = match authors(deps, id, user).await? {
        Ok(t) => t,
        Err(o) => return Ok(o),
    };
    let mut c = Change::new(user.id, Action::Confirmed, Status::Completed);
    c.load = t
        .assignee_user_id
        .map(|a| (t.category_id, a, Load::Release));
    step(deps, t, &[Status::OnConfirmation], c).await
}

pub async fn send_back(deps: &Deps, id: i64, user: &User) -> Result<Outcome, FlowError> {
    let t = match authors(deps, id, user).await? {
        Ok(t) => t,
        Err(o) => return Ok(o),
    };
    step(
        deps,
        t,
        &[Status::OnConfirmation],
        Change::new(user.id, Action::Returned, Status::InWork),
    )
    .await
}

/// How many times a comment is tried on a ticket that moved on while it was written.
const COMMENT_TRIES: usize = 5;

/// The author's comment on a ticket they returned; the status stays. A comment does not
/// depend on the ticket's state beyond being open, so when the ticket moved on while it was
/// written (another comment of the author's at the same moment), it is made again on the
/// version now stored, unless that version already holds this very comment.
pub async fn comment(deps: &Deps, id: i64, user: &User, text: &str) -> Result<Outcome, FlowError> {
    let t = match authors(deps, id, user).await? {
        Ok(t) => t,
        Err(o) => return Ok(o),
    };
    let text: String = text.chars().take(MAX_DESCRIPTION).collect();
    let span = tracing::info_span!("ticket", ticket_id = t.id, user_id = user.id);
    comment_in(deps, t, user, text).instrument(span).await
}

async fn comment_in(
    deps: &Deps,
    mut t: Ticket,
    user: &User,
    text: String,
) -> Result<Outcome, FlowError> {
    let open = [Status::InWork, Status::Postponed, Status::OnConfirmation];
    // The versions to look for this comment in: at first the last step only (a redelivered
    // message), then every step made since the version the write was tried on.
    let mut since = t.version;
    for _ in 0..COMMENT_TRIES {
        if made_since(deps, &t, since, user.id, &text).await? {
            announce(deps, &t, Action::Commented).await?;
            return Ok(Outcome::Done(t));
        }
        if !open.contains(&t.status) {
            return Ok(Outcome::Stale(t));
        }
        let mut c = Change::new(user.id, Action::Commented, t.status);
        c.comment = Some(text.clone());
        match store::apply(deps, &t, c).await {
            Ok(next) => {
                announce(deps, &next, Action::Commented).await?;
                return Ok(Outcome::Done(next));
            }
            Err(TicketError::Stale(current)) => {
                since = t.version + 1;
                t = *current;
            }
            // Refused with the version unchanged (nothing a comment counts): read again.
            Err(TicketError::Full) => {
                since = t.version + 1;
                t = store::ticket(deps, t.id)
                    .await?
                    .ok_or_else(|| StoreError::Invalid(format!("ticket {} vanished", t.id)))?;
            }
            Err(TicketError::Store(e)) => return Err(e.into()),
            Err(e @ TicketError::Conflict { .. }) => {
                return Err(StoreError::Invalid(e.to_string()).into());
            }
        }
    }
    Ok(Outcome::Stale(t))
}

/// Whether one of the ticket's steps from version `since` to its current one is this
/// comment by this user.
async fn made_since(
    deps: &Deps,
    t: &Ticket,
    since: i64,
    user_id: i64,
    text: &str,
) -> Result<bool, StoreError> {
    for version in since.max(1)..=t.version {
        if let Some(e) = store::history_entry(deps, t.id, version).await?
            && e.action == Action::Commented
            && e.actor_user_id == user_id
            && e.comment.as_deref() == Some(text)
        {
            return Ok(true);
        }
    }
    Ok(false)
}
