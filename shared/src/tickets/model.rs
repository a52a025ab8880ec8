//! What the executor workflow keeps: staff users, categories, executors, tickets and their
//! history. These are the stored shapes and, with `#[serde(skip)]`-free fields, what the
//! ticket API shows.

use serde::{Deserialize, Serialize};

/// A ticket's status, with the seed's numbers (`status_id`): 1 created … 5 completed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Created,
    InWork,
    Postponed,
    OnConfirmation,
    Completed,
}

impl Status {
    pub const ALL: [Status; 5] = [
        Status::Created,
        Status::InWork,
        Status::Postponed,
        Status::OnConfirmation,
        Status::Completed,
    ];

    pub fn id(self) -> u8 {
        match self {
            Status::Created => 1,
            Status::InWork => 2,
            Status::Postponed => 3,
            Status::OnConfirmation => 4,
            Status::Completed => 5,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::InWork => "in_work",
            Status::Postponed => "postponed",
            Status::OnConfirmation => "on_confirmation",
            Status::Completed => "completed",
        }
    }

    /// By name (`in_work`) or number (`2`).
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|st| st.as_str() == s || st.id().to_string() == s)
    }

    /// Counts against its executor's `max_tickets`.
    pub fn is_open(self) -> bool {
        matches!(
            self,
            Status::InWork | Status::Postponed | Status::OnConfirmation
        )
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: i64,
    pub name: String,
    /// The bound Telegram account (a private chat's id is the user's id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub telegram_id: Option<i64>,
    /// The Telegram language of the bound account, for the texts it gets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language_code: Option<String>,
    pub created_at: String,
}

impl User {
    pub fn lang(&self) -> crate::texts::Lang {
        crate::texts::Lang::from_code(self.language_code.as_deref())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Category {
    pub id: i64,
    pub name: String,
    /// Told when nobody can be offered a ticket, and when a ticket waits too long.
    #[serde(default)]
    pub manager_user_ids: Vec<i64>,
    pub created_at: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Executor {
    pub id: i64,
    pub user_id: i64,
    pub category_id: i64,
    /// Higher first.
    pub priority: i64,
    /// Open tickets (in work, postponed, on confirmation) at which no more are offered.
    pub max_tickets: i64,
    pub is_active: bool,
    /// This executor's open tickets in the category, counted with each take and completion.
    #[serde(default)]
    pub open_tickets: i64,
    pub created_at: String,
}

impl Executor {
    pub fn has_room(&self) -> bool {
        self.open_tickets < self.max_tickets
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ticket {
    pub id: i64,
    pub category_id: i64,
    pub author_user_id: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignee_user_id: Option<i64>,
    pub title: String,
    pub description: String,
    pub status: Status,
    /// The number of history entries; every change is written on the version it read.
    pub version: i64,
    /// Unix ms until which a postponed ticket waits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postponed_until: Option<i64>,
    /// How many times the ticket was offered again because nobody took it.
    #[serde(default)]
    pub escalations: i64,
    /// The executor record (by id) whose open count this ticket is in, so only that record
    /// is counted down (an executor removed and added again starts a new count).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub counted_by: Option<i64>,
    pub created_at: String,
    pub updated_at: String,
}

/// What happened to a ticket, in its history.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Created,
    Taken,
    Postponed,
    Resumed,
    SentForConfirmation,
    Confirmed,
    Returned,
    Commented,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HistoryEntry {
    pub version: i64,
    pub at: String,
    pub actor_user_id: i64,
    pub action: Action,
    pub status: Status,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub postponed_until: Option<i64>,
}

/// A ticket as the API shows it: its status by name and number.
#[derive(Debug, Clone, Serialize)]
pub struct TicketView<'a> {
    pub id: i64,
    pub category_id: i64,
    pub author_user_id: i64,
    pub assignee_user_id: Option<i64>,
    pub title: &'a str,
    pub description: &'a str,
    pub status: Status,
    pub status_id: u8,
    pub postponed_until: Option<String>,
    pub escalations: i64,
    pub created_at: &'a str,
    pub updated_at: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub history: Option<Vec<HistoryView<'a>>>,
}

#[derive(Debug, Clone, Serialize)]
pub struct HistoryView<'a> {
    pub at: &'a str,
    pub actor_user_id: i64,
    pub action: Action,
    pub status: Status,
    pub status_id: u8,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub comment: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub postponed_until: Option<String>,
}

impl Ticket {
    pub fn view<'a>(&'a self, history: Option<&'a [HistoryEntry]>) -> TicketView<'a> {
        TicketView {
            id: self.id,
            category_id: self.category_id,
            author_user_id: self.author_user_id,
            assignee_user_id: self.assignee_user_id,
            title: &self.title,
            description: &self.description,
            status: self.status,
            status_id: self.status.id(),
            postponed_until: self.postponed_until.map(crate::time::timestamp),
            escalations: self.escalations,
            created_at: &self.created_at,
            updated_at: &self.updated_at,
            history: history.map(|h| {
                h.iter()
                    .map(|e| HistoryView {
                        at: &e.at,
                        actor_user_id: e.actor_user_id,
                        action: e.action,
                        status: e.status,
                        status_id: e.status.id(),
                        comment: e.comment.as_deref(),
                        postponed_until: e.postponed_until.map(crate::time::timestamp),
                    })
                    .collect()
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_carry_the_seeds_numbers_and_parse_by_name_or_number() {
        let ids: Vec<u8> = Status::ALL.iter().map(|s| s.id()).collect();
        assert_eq!(ids, [1, 2, 3, 4, 5]);
        assert_eq!(Status::parse("5"), Some(Status::Completed));
        assert_eq!(
            Status::parse("on_confirmation"),
            Some(Status::OnConfirmation)
        );
        assert_eq!(Status::parse("6"), None);
        assert_eq!(Status::parse("done"), None);
        assert_eq!(
            serde_json::to_value(Status::InWork).unwrap(),
            serde_json::json!("in_work")
        );
        assert!(!Status::Created.is_open() && !Status::Completed.is_open());
    }
}
