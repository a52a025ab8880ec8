//! The executor workflow's notifications: each step of a ticket is one message on the
//! notifications queue (retried, dead-lettered with its alarm), and the notification worker
//! delivers it here — offers to the category's executors, edits of the offers once somebody
//! took the ticket, and what the author, the assignee and the managers are told. Every
//! send and edit is claimed once per chat (`notifications::once`), so a redelivered notice
//! repeats nothing, and a chat that blocked the bot is recorded and skipped.

use serde::{Deserialize, Serialize};
use tracing::Instrument;

use super::config::TicketsConfig;
use super::model::{Category, Status, Ticket, User};
use super::store::{self, Offer};
use super::view::{self, Buttons, Names};
use crate::Deps;
use crate::keys;
use crate::notifications::{self, NotifyError, Sent};
use crate::outbound::DeliveryError;
use crate::ports::QueueError;
use crate::telegram::BotApi;
use crate::texts::{StaffTexts, fill};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TicketKind {
    Ticket,
}

/// What happened, for whom the notice is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TicketEvent {
    /// To the category's executors (the offer), the author, or the managers (nobody).
    Created,
    /// Offers edited to say who took it; the author told.
    Taken,
    Postponed,
    Resumed,
    /// The author asked to confirm.
    OnConfirmation,
    /// The assignee told the author confirmed.
    Completed,
    /// The assignee told the author returned it.
    Returned,
    /// The author's comment, to the assignee.
    Commented,
    /// A postponed ticket's time came: the assignee reminded.
    Reminder,
    /// Nobody took it in time: offered again, managers told.
    Escalated,
    /// Offered again by hand (`zayavka tickets notify`); `version` is when, in Unix ms.
    Offered,
}

impl TicketEvent {
    fn as_str(self) -> &'static str {
        match self {
            TicketEvent::Created => "created",
            TicketEvent::Taken => "taken",
            TicketEvent::Postponed => "postponed",
            TicketEvent::Resumed => "resumed",
            TicketEvent::OnConfirmation => "on_confirmation",
            TicketEvent::Completed => "completed",
            TicketEvent::Returned => "returned",
            TicketEvent::Commented => "commented",
            TicketEvent::Reminder => "reminder",
            TicketEvent::Escalated => "escalated",
            TicketEvent::Offered => "offered",
        }
    }
}

/// One step of a ticket on the notifications queue: `{"kind":"ticket", …}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TicketNotice {
    pub kind: TicketKind,
    pub ticket_id: i64,
    pub event: TicketEvent,
    /// The ticket's version the step made (for an escalation, its number): with the event,
    /// what makes the notice unique.
    pub version: i64,
    /// The author already saw the answer in the chat they created the ticket in.
    #[serde(default)]
    pub author_told: bool,
}

impl TicketNotice {
    pub fn new(ticket_id: i64, event: TicketEvent, version: i64) -> Self {
        Self {
            kind: TicketKind::Ticket,
            ticket_id,
            event,
            version,
            author_told: false,
        }
    }

    fn subject(&self) -> String {
        format!(
            "ticket#{}#{}#{}",
            self.ticket_id,
            self.event.as_str(),
            self.version
        )
    }

    /// Puts the notice on the notifications queue.
    pub async fn send(&self, deps: &Deps) -> Result<(), QueueError> {
        notifications::QUEUE
            .send(
                deps.queue.as_ref(),
                &notifications::NotificationMessage::Ticket(self.clone()),
            )
            .await
    }
}

/// Why nobody could be offered a ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nobody {
    NoExecutors,
    AllFull,
    NoneBound,
}

/// What one notice needs to be delivered.
struct Delivery<'a> {
    deps: &'a Deps,
    api: &'a BotApi,
    cfg: &'a TicketsConfig,
    notice: &'a TicketNotice,
    ticket: Ticket,
    category: Option<Category>,
    author: Option<User>,
    assignee: Option<User>,
}

/// Delivers one ticket notice through the staff bot.
pub async fn deliver(
    deps: &Deps,
    api: &BotApi,
    cfg: &TicketsConfig,
    notice: &TicketNotice,
) -> Result<(), NotifyError> {
    let span = tracing::info_span!("ticket", ticket_id = notice.ticket_id);
    deliver_in(deps, api, cfg, notice).instrument(span).await
}

async fn deliver_in(
    deps: &Deps,
    api: &BotApi,
    cfg: &TicketsConfig,
    notice: &TicketNotice,
) -> Result<(), NotifyError> {
    let Some(ticket) = store::ticket(deps, notice.ticket_id).await? else {
        tracing::warn!(ticket = notice.ticket_id, "ticket gone; notice dropped");
        return Ok(());
    };
    let category = store::category(deps, ticket.category_id).await?;
    let author = store::user(deps, ticket.author_user_id).await?;
    let assignee = match ticket.assignee_user_id {
        Some(id) => store::user(deps, id).await?,
        None => None,
    };
    let d = Delivery {
        deps,
        api,
        cfg,
        notice,
        ticket,
        category,
        author,
        assignee,
    };
    match notice.event {
        TicketEvent::Created => {
            d.offer(false).await?;
            if !notice.author_told {
                d.to_author(|t, id, title| {
                    fill(
                        t.author_created,
                        &[
                            ("id", id),
                            ("title", title),
                            ("category", &d.category_name()),
                        ],
                    )
                })
                .await?;
            }
            Ok(())
        }
        TicketEvent::Escalated => {
            // Taken meanwhile (the sweeper looked before queuing this): nothing to say.
            if d.ticket.status != Status::Created {
                return Ok(());
            }
            d.offer(true).await?;
            let minutes = (cfg.escalate_minutes() * notice.version).to_string();
            d.to_managers("waiting", |t| {
                fill(
                    t.managers_waiting,
                    &[
                        ("id", &d.ticket.id.to_string()),
                        ("title", &d.ticket.title),
                        ("category", &d.category_name()),
                        ("minutes", &minutes),
                    ],
                )
            })
            .await
        }
        TicketEvent::Offered => d.offer(false).await,
        TicketEvent::Taken => d.taken().await,
        TicketEvent::Postponed => {
            let until = d.until();
            let name = d.assignee_name();
            d.to_author(|t, id, title| {
                fill(
                    t.author_postponed,
                    &[
                        ("id", id),
                        ("title", title),
                        ("until", &until),
                        ("name", &name),
                    ],
                )
            })
            .await
        }
        TicketEvent::Resumed => {
            let name = d.assignee_name();
            d.to_author(|t, id, title| {
                fill(
                    t.author_resumed,
                    &[("id", id), ("title", title), ("name", &name)],
                )
            })
            .await
        }
        TicketEvent::OnConfirmation => d.ask_author().await,
        TicketEvent::Completed => {
            d.to_assignee(None, |t, id, title| {
                fill(t.executor_confirmed, &[("id", id), ("title", title)])
            })
            .await
        }
        TicketEvent::Returned => {
            d.to_assignee(Some(Buttons::Work), |t, id, title| {
                fill(t.executor_returned, &[("id", id), ("title", title)])
            })
            .await
        }
        TicketEvent::Commented => {
            let entry = store::history_entry(deps, d.ticket.id, notice.version).await?;
            let comment = entry.and_then(|e| e.comment).unwrap_or_default();
            d.to_assignee(None, |t, id, title| {
                fill(
                    t.executor_comment,
                    &[("id", id), ("title", title), ("comment", &comment)],
                )
            })
            .await
        }
        TicketEvent::Reminder => {
            // Only while the ticket still waits at the version the reminder was set for.
            if d.ticket.status != Status::Postponed || d.ticket.version != notice.version {
                return Ok(());
            }
            let until = d.until();
            d.to_assignee(Some(Buttons::Resume), |t, id, title| {
                fill(
                    t.reminder,
                    &[("id", id), ("title", title), ("until", &until)],
                )
            })
            .await
        }
    }
}

impl Delivery<'_> {
    fn category_name(&self) -> String {
        self.category
            .as_ref()
            .map(|c| c.name.clone())
            .unwrap_or_else(|| format!("#{}", self.ticket.category_id))
    }

    fn assignee_name(&self) -> String {
        self.assignee
            .as_ref()
            .map(|u| u.name.clone())
            .unwrap_or_default()
    }

    fn until(&self) -> String {
        self.ticket
            .postponed_until
            .map(|ms| self.cfg.local_time(ms))
            .unwrap_or_default()
    }

    fn card(&self, t: &StaffTexts) -> String {
        let category = self.category_name();
        let author = self.author.as_ref().map(|u| u.name.as_str()).unwrap_or("?");
        view::card(
            t,
            &self.ticket,
            &Names {
                category: &category,
                author,
                assignee: self.assignee.as_ref().map(|u| u.name.as_str()),
            },
        )
    }

    fn key(&self, channel: String) -> crate::ports::table::Key {
        keys::notification(&self.notice.subject(), &channel)
    }

    /// Sends a text to a user's bound chat once per role (one person may be the author and
    /// an executor); the message id when it went out now.
    async fn send(
        &self,
        role: &str,
        user: &User,
        text: &str,
        buttons: Option<Buttons>,
    ) -> Result<Option<i64>, NotifyError> {
        let Some(chat) = user.telegram_id else {
            tracing::info!(
                user = user.id,
                ticket = self.ticket.id,
                "user has no bound chat; not told"
            );
            return Ok(None);
        };
        let t = user.lang().texts().staff;
        let markup = buttons.map(|b| view::inline(view::buttons(t, self.ticket.id, b)));
        let sent = std::sync::Mutex::new(None);
        let key = self.key(format!("{role}#{chat}"));
        let outcome = notifications::once(self.deps, key.clone(), || async {
            let m = self
                .api
                .send_text(chat, text, markup)
                .await
                .map_err(DeliveryError::from)?;
            if let Ok(mut s) = sent.lock() {
                *s = Some(i64::from(m.message_id));
            }
            Ok(m.message_id.to_string())
        })
        .await?;
        if let Sent::Refused(why) = &outcome {
            tracing::warn!(user = user.id, chat, ticket = self.ticket.id, error = %why, "staff chat not reachable; skipped");
            return Ok(None);
        }
        if let Some(id) = sent.into_inner().unwrap_or(None) {
            return Ok(Some(id));
        }
        // Sent by an earlier delivery of this notice: its claim keeps the message id.
        let detail = self
            .deps
            .table
            .get(&key)
            .await?
            .and_then(|item| match item.get("detail") {
                Some(crate::ports::table::AttributeValue::S(d)) => d.parse::<i64>().ok(),
                _ => None,
            });
        Ok(detail)
    }

    async fn to_author(
        &self,
        text: impl Fn(&StaffTexts, &str, &str) -> String,
    ) -> Result<(), NotifyError> {
        let Some(author) = &self.author else {
            return Ok(());
        };
        let t = author.lang().texts().staff;
        let body = text(t, &self.ticket.id.to_string(), &self.ticket.title);
        self.send("author", author, &body, None).await.map(|_| ())
    }

    async fn to_assignee(
        &self,
        buttons: Option<Buttons>,
        text: impl Fn(&StaffTexts, &str, &str) -> String,
    ) -> Result<(), NotifyError> {
        let Some(assignee) = &self.assignee else {
            return Ok(());
        };
        let t = assignee.lang().texts().staff;
        let body = text(t, &self.ticket.id.to_string(), &self.ticket.title);
        self.send("assignee", assignee, &body, buttons)
            .await
            .map(|_| ())
    }

    /// The author, asked to confirm or return the ticket.
    async fn ask_author(&self) -> Result<(), NotifyError> {
        let Some(author) = &self.author else {
            return Ok(());
        };
        let t = author.lang().texts().staff;
        let body = fill(
            t.author_confirm,
            &[
                ("name", &self.assignee_name()),
                ("id", &self.ticket.id.to_string()),
                ("card", &self.card(t)),
            ],
        );
        self.send("author", author, &body, Some(Buttons::Confirm))
            .await
            .map(|_| ())
    }

    async fn to_managers(
        &self,
        why: &str,
        text: impl Fn(&StaffTexts) -> String,
    ) -> Result<(), NotifyError> {
        let managers = self
            .category
            .as_ref()
            .map(|c| c.manager_user_ids.clone())
            .unwrap_or_default();
        if managers.is_empty() {
            tracing::warn!(
                ticket = self.ticket.id,
                why,
                "the category has no managers to tell"
            );
        }
        for id in managers {
            if let Some(m) = store::user(self.deps, id).await? {
                self.send("manager", &m, &text(m.lang().texts().staff), None)
                    .await?;
            }
        }
        Ok(())
    }

    /// The ticket offered to every active executor of its category who has a bound chat and
    /// room, highest priority first; the managers told when that is nobody.
    async fn offer(&self, again: bool) -> Result<(), NotifyError> {
        if self.ticket.status != Status::Created {
            return Ok(());
        }
        let executors = store::executors(self.deps, Some(self.ticket.category_id)).await?;
        let mut active = 0;
        let mut bound = 0;
        let mut offered = 0;
        for e in executors.iter().filter(|e| e.is_active) {
            active += 1;
            let Some(user) = store::user(self.deps, e.user_id).await? else {
                continue;
            };
            let Some(chat) = user.telegram_id else {
                continue;
            };
            bound += 1;
            if !e.has_room() {
                tracing::info!(
                    user = user.id,
                    ticket = self.ticket.id,
                    "executor at max_tickets; not offered"
                );
                continue;
            }
            let t = user.lang().texts().staff;
            let card = self.card(t);
            let body = if again {
                fill(
                    t.offer_again,
                    &[
                        (
                            "minutes",
                            &(self.cfg.escalate_minutes() * self.notice.version).to_string(),
                        ),
                        ("card", &card),
                    ],
                )
            } else {
                fill(t.offer, &[("card", &card)])
            };
            if let Some(message_id) = self
                .send("offer", &user, &body, Some(Buttons::Offer))
                .await?
            {
                let offer = Offer {
                    chat_id: chat,
                    user_id: user.id,
                    message_id,
                };
                store::record_offer(self.deps, self.ticket.id, &offer).await?;
                offered += 1;
                self.if_taken_meanwhile(&offer, &user).await?;
            }
        }
        if offered > 0 || self.ticket.status != Status::Created {
            return Ok(());
        }
        let why = if active == 0 {
            Nobody::NoExecutors
        } else if bound == 0 {
            Nobody::NoneBound
        } else {
            Nobody::AllFull
        };
        tracing::warn!(
            ticket = self.ticket.id,
            ?why,
            "nobody could be offered the ticket"
        );
        let (label, pick): (&str, fn(&StaffTexts) -> &'static str) = match why {
            Nobody::NoExecutors => ("no_executors", |t| t.managers_no_executors),
            Nobody::AllFull => ("all_full", |t| t.managers_all_full),
            Nobody::NoneBound => ("none_bound", |t| t.managers_none_bound),
        };
        self.to_managers(label, |t| {
            fill(
                pick(t),
                &[
                    ("id", &self.ticket.id.to_string()),
                    ("title", &self.ticket.title),
                    ("category", &self.category_name()),
                ],
            )
        })
        .await
    }

    /// An offer recorded after somebody took the ticket is edited at once: the Taken notice
    /// may have edited the offers before this one was recorded.
    async fn if_taken_meanwhile(&self, o: &Offer, user: &User) -> Result<(), NotifyError> {
        let Some(now) = store::ticket(self.deps, self.ticket.id).await? else {
            return Ok(());
        };
        let Some(assignee) = now.assignee_user_id else {
            return Ok(());
        };
        if now.status == Status::Created || Some(o.user_id) == Some(assignee) {
            return Ok(());
        }
        let name = store::user(self.deps, assignee)
            .await?
            .map(|u| u.name)
            .unwrap_or_default();
        self.edit_taken(o, user.lang().texts().staff, &name).await
    }

    async fn edit_taken(&self, o: &Offer, t: &StaffTexts, name: &str) -> Result<(), NotifyError> {
        let text = fill(
            t.taken_by,
            &[
                ("id", &self.ticket.id.to_string()),
                ("title", &self.ticket.title),
                ("name", name),
            ],
        );
        let channel = format!("edit#{}#{}", o.chat_id, o.message_id);
        // The edit is claimed under the ticket's Taken step, whichever notice makes it.
        let key = keys::notification(
            &TicketNotice::new(self.ticket.id, TicketEvent::Taken, 0).subject(),
            &channel,
        );
        notifications::once(self.deps, key, || async {
            view::edit(self.api, o.chat_id, o.message_id, &text, None)
                .await
                .map(|_| o.message_id.to_string())
                .map_err(DeliveryError::from)
        })
        .await?;
        Ok(())
    }

    /// Somebody took the ticket: every other executor's offer says who; the author is told.
    async fn taken(&self) -> Result<(), NotifyError> {
        let name = self.assignee_name();
        let assignee_chat = self.assignee.as_ref().and_then(|u| u.telegram_id);
        for o in store::offers(self.deps, self.ticket.id).await? {
            if Some(o.chat_id) == assignee_chat {
                continue;
            }
            let lang = store::user(self.deps, o.user_id)
                .await?
                .map(|u| u.lang())
                .unwrap_or_default();
            self.edit_taken(&o, lang.texts().staff, &name).await?;
        }
        if self.ticket.assignee_user_id == Some(self.ticket.author_user_id) {
            return Ok(());
        }
        self.to_author(|t, id, title| {
            fill(
                t.author_taken,
                &[("id", id), ("title", title), ("name", &name)],
            )
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_notice_is_tagged_ticket_and_decodes_from_the_queue() {
        let n = TicketNotice::new(12, TicketEvent::Taken, 2);
        let json = serde_json::to_value(&n).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"kind": "ticket", "ticket_id": 12, "event": "taken", "version": 2, "author_told": false})
        );
        match notifications::QUEUE.decode(&json.to_string()) {
            Ok(notifications::NotificationMessage::Ticket(back)) => assert_eq!(back, n),
            other => panic!("{other:?}"),
        }
    }
}
