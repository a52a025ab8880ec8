//! Everything that lives in the one table, by key: the only place that spells a key.
//!
//! `pk / sk` per shape, with what the item holds. Typed stores (`leads::store`,
//! `support::store`, `helpdesk::store`) and the shared mechanisms (`claims`, `counter`) call
//! these; domain code never formats a key itself.

use crate::ports::table::Key;

// --- Lead fan-out -------------------------------------------------------------------------

/// The partition of one lead: the lead and its batch.
pub fn lead_pk(lead_id: &str) -> String {
    format!("lead#{lead_id}")
}

/// `lead#<lead> / meta`: the lead as submitted, the tries of its jobs, its batch's status.
pub fn lead(lead_id: &str) -> Key {
    Key::new(lead_pk(lead_id), "meta")
}

/// `lead#<lead> / batch#<batch>`: the succeeded and failed sets and each job's progress,
/// made by the first job that reports.
pub fn batch(lead_id: &str, batch_id: &str) -> Key {
    Key::new(lead_pk(lead_id), format!("batch#{batch_id}"))
}

/// `breaker#<target> / state`: one delivery target's breaker (an amoCRM account, a Bitrix24
/// portal, a webhook host, a Telegram chat, the SES sender): open or closed, why, since when,
/// when its next probe may go and how many jobs it held.
pub fn breaker(target: &str) -> Key {
    Key::new(format!("breaker#{target}"), "state")
}

/// `due#<bucket> / <lead>`: a lead's batch that must have settled by the bucket's time (ten
/// seconds wide): which batch, and its targets without their credentials. The sweeper reads
/// each bucket once it has passed and reconciles a lead still `processing`. Expires two
/// weeks on, after serving `zayavka leads retry --since` too.
pub fn lead_due(bucket_secs: i64, lead_id: &str) -> Key {
    Key::new(lead_due_pk(bucket_secs), lead_id)
}

pub fn lead_due_pk(bucket_secs: i64) -> String {
    format!("due#{bucket_secs}")
}

/// `due#cursor / state`: the last bucket the sweeper has checked.
pub fn lead_due_cursor() -> Key {
    Key::new("due#cursor", "state")
}

/// `failed#<day> / <lead>#<batch>`: a batch that settled `failed` or `partial` that UTC day,
/// with when and what failed — what `zayavka leads retry --since` replays. Expires in two
/// weeks, as the kept messages do.
pub fn lead_failed(day: &str, lead_id: &str, batch_id: &str) -> Key {
    Key::new(lead_failed_pk(day), format!("{lead_id}#{batch_id}"))
}

pub fn lead_failed_pk(day: &str) -> String {
    format!("failed#{day}")
}

// --- Notifications ------------------------------------------------------------------------

/// `notify#<subject> / <channel>`: the claim and result of one notification on one channel
/// (`email`, `telegram`, `tg#<chat>`), so a redelivered message sends once.
pub fn notification(subject: &str, channel: &str) -> Key {
    Key::new(format!("notify#{subject}"), channel)
}

// --- Telegram -----------------------------------------------------------------------------

/// `tgupdate#<bot> / <update_id>`: the claim of one update, kept as long as Telegram may
/// redeliver it.
pub fn telegram_update(bot: &str, update_id: i64) -> Key {
    Key::new(format!("tgupdate#{bot}"), update_id.to_string())
}

// --- Support relay ------------------------------------------------------------------------

/// The partition of one support thread: its meta and its messages.
pub fn support_thread_pk(user_key: &str) -> String {
    format!("support#thread#{user_key}")
}

/// `support#thread#<user> / meta`: who the thread is (name, e-mail, bound chat, language).
pub fn support_thread(user_key: &str) -> Key {
    Key::new(support_thread_pk(user_key), "meta")
}

/// `support#thread#<user> / msg#<time>#<id>`: one message, in either direction.
pub fn support_message(user_key: &str, created_at: &str, id: &str) -> Key {
    Key::new(
        support_thread_pk(user_key),
        format!("msg#{created_at}#{id}"),
    )
}

/// The sort-key prefix of a thread's messages (they sort by time).
pub const SUPPORT_MESSAGE_PREFIX: &str = "msg#";

/// `support#thread#<user> / tgmsg#<id>`: a message that came from Telegram, and when it was
/// stored, so a redelivered update finds the message it already stored.
pub fn support_telegram_message(user_key: &str, id: &str) -> Key {
    Key::new(support_thread_pk(user_key), format!("tgmsg#{id}"))
}

/// `support#admin#<message id> / ref`: which thread an admin-chat message belongs to.
pub fn support_admin_message(admin_message_id: i64) -> Key {
    Key::new(format!("support#admin#{admin_message_id}"), "ref")
}

/// `support#token#<token> / token`: a single-use binding token and its thread.
pub fn support_token(token: &str) -> Key {
    Key::new(format!("support#token#{token}"), "token")
}

/// `support#chat#<chat> / bind`: the thread a Telegram chat is bound to; listed on gsi1
/// under [`SUPPORT_BINDINGS_INDEX`].
pub fn support_chat(chat_id: i64) -> Key {
    Key::new(support_chat_pk(chat_id), "bind")
}

pub fn support_chat_pk(chat_id: i64) -> String {
    format!("support#chat#{chat_id}")
}

/// gsi1 partition listing every chat binding.
pub const SUPPORT_BINDINGS_INDEX: &str = "support#bindings";

/// `signin#rate#<subject> / <window start>`: sign-in attempts to the admin pages from one
/// address (`ip#…`) or from everyone (`all`) in a window.
pub fn sign_in_rate(subject: &str, window_start: i64) -> Key {
    Key::new(format!("signin#rate#{subject}"), window_start.to_string())
}

/// `support#rate#<subject> / <window start>`: messages from one address or user in a window.
pub fn support_rate(subject: &str, window_start: i64) -> Key {
    Key::new(format!("support#rate#{subject}"), window_start.to_string())
}

// --- Helpdesk bot -------------------------------------------------------------------------

fn helpdesk_chat_pk(chat_id: i64) -> String {
    format!("helpdesk#chat#{chat_id}")
}

/// `helpdesk#chat#<chat> / link`: the chat's Okdesk contact (and company).
pub fn helpdesk_link(chat_id: i64) -> Key {
    Key::new(helpdesk_chat_pk(chat_id), "link")
}

/// `helpdesk#chat#<chat> / step`: where the chat's conversation is (expires after a day).
pub fn helpdesk_step(chat_id: i64) -> Key {
    Key::new(helpdesk_chat_pk(chat_id), "step")
}

/// `helpdesk#chat#<chat> / issues#<hour>`: issues the chat created in one clock hour.
pub fn helpdesk_issue_count(chat_id: i64, hour: i64) -> Key {
    Key::new(helpdesk_chat_pk(chat_id), format!("issues#{hour}"))
}

/// `helpdesk#chat#<chat> / issue-for#<update>`: an issue being created from one update,
/// written before Okdesk is asked (and its id after), so a redelivery never files it twice.
pub fn helpdesk_issue_attempt(chat_id: i64, update_id: i64) -> Key {
    Key::new(helpdesk_chat_pk(chat_id), format!("issue-for#{update_id}"))
}

/// The partition listing the chats of one Okdesk contact.
pub fn helpdesk_contact_pk(contact_id: i64) -> String {
    format!("helpdesk#contact#{contact_id}")
}

/// `helpdesk#contact#<contact> / chat#<chat>`: a chat linked to the contact (a copy of the
/// link), so an Okdesk event finds its chats.
pub fn helpdesk_contact_chat(contact_id: i64, chat_id: i64) -> Key {
    Key::new(helpdesk_contact_pk(contact_id), format!("chat#{chat_id}"))
}

pub const HELPDESK_CONTACT_CHAT_PREFIX: &str = "chat#";

// --- Staff tickets (the executor workflow) --------------------------------------------------

/// Ids sort as text when padded: gsi1 sort keys and history entries use this width.
fn padded(n: i64) -> String {
    format!("{n:012}")
}

/// `staff#seq / <kind>`: the last integer id given to a user, category, executor or ticket.
pub fn staff_sequence(kind: &str) -> Key {
    Key::new("staff#seq", kind)
}

/// `staff#user#<id> / meta`: a staff member (name, bound Telegram account); listed on gsi1
/// under [`STAFF_USERS_INDEX`].
pub fn staff_user(id: i64) -> Key {
    Key::new(format!("staff#user#{id}"), "meta")
}

pub const STAFF_USERS_INDEX: &str = "staff#users";

/// The gsi1 sort key of an object with an integer id.
pub fn staff_sort(id: i64) -> String {
    padded(id)
}

/// `staff#tg#<telegram id> / user`: which user a Telegram account is bound to (one user per
/// account, kept unique by writing it with the binding).
pub fn staff_telegram(telegram_id: i64) -> Key {
    Key::new(format!("staff#tg#{telegram_id}"), "user")
}

/// `staff#link#<token> / link`: a single-use binding link and its user (expires in 24 h).
pub fn staff_link(token: &str) -> Key {
    Key::new(format!("staff#link#{token}"), "link")
}

/// `staff#cat#<id> / meta`: a ticket category and its managers; listed on gsi1 under
/// [`STAFF_CATEGORIES_INDEX`].
pub fn staff_category(id: i64) -> Key {
    Key::new(staff_category_pk(id), "meta")
}

pub fn staff_category_pk(id: i64) -> String {
    format!("staff#cat#{id}")
}

pub const STAFF_CATEGORIES_INDEX: &str = "staff#categories";

/// `staff#cat#<category> / exec#<user>`: a user as an executor of a category (priority,
/// capacity, open tickets); listed on gsi1 under [`STAFF_EXECUTORS_INDEX`].
pub fn staff_executor(category_id: i64, user_id: i64) -> Key {
    Key::new(staff_category_pk(category_id), format!("exec#{user_id}"))
}

pub const STAFF_EXECUTOR_PREFIX: &str = "exec#";
pub const STAFF_EXECUTORS_INDEX: &str = "staff#executors";

/// `staff#exec#<id> / ref`: which category and user an executor id names.
pub fn staff_executor_ref(id: i64) -> Key {
    Key::new(format!("staff#exec#{id}"), "ref")
}

fn staff_ticket_pk(id: i64) -> String {
    format!("staff#ticket#{id}")
}

/// `staff#ticket#<id> / meta`: a ticket and its state; listed on gsi1 under
/// [`STAFF_TICKETS_INDEX`].
pub fn staff_ticket(id: i64) -> Key {
    Key::new(staff_ticket_pk(id), "meta")
}

pub const STAFF_TICKETS_INDEX: &str = "staff#tickets";

/// `staff#ticket#<id> / hist#<version>`: one step of the ticket's history, written with the
/// change it records.
pub fn staff_history(ticket_id: i64, version: i64) -> Key {
    Key::new(
        staff_ticket_pk(ticket_id),
        format!("hist#{}", padded(version)),
    )
}

pub const STAFF_HISTORY_PREFIX: &str = "hist#";

/// `staff#ticket#<id> / sent#<chat>#<message>`: a message that offered the ticket to an
/// executor's chat (each offer and re-offer), so every one is edited once somebody takes it.
pub fn staff_offer(ticket_id: i64, chat_id: i64, message_id: i64) -> Key {
    Key::new(
        staff_ticket_pk(ticket_id),
        format!("sent#{chat_id}#{message_id}"),
    )
}

pub const STAFF_OFFER_PREFIX: &str = "sent#";

/// `staff#origin#<origin> / ticket`: the ticket one bot message or one API request (its
/// Idempotency-Key) created, so a repeat creates nothing (kept two days).
pub fn staff_ticket_origin(origin: &str) -> Key {
    Key::new(format!("staff#origin#{origin}"), "ticket")
}

/// The partition of the tickets' timers (reminders, escalations), sorted by when they are
/// due: `staff#timers / <due ms>#<ticket>#<kind>`.
pub const STAFF_TIMERS_PK: &str = "staff#timers";

pub fn staff_timer(due_ms: i64, ticket_id: i64, kind: &str) -> Key {
    Key::new(STAFF_TIMERS_PK, format!("{due_ms:015}#{ticket_id}#{kind}"))
}

/// `staff#chat#<chat> / step`: where a staff chat's conversation is (expires after a day).
pub fn staff_step(chat_id: i64) -> Key {
    Key::new(format!("staff#chat#{chat_id}"), "step")
}

// --- Chat bridge --------------------------------------------------------------------------

fn bridge_client_pk(client_id: &str) -> String {
    format!("bridge#client#{client_id}")
}

/// `bridge#client#<client> / meta`: the client's chat, whether the bot is blocked, whether
/// they were told the system is down, when they last wrote.
pub fn bridge_client(client_id: &str) -> Key {
    Key::new(bridge_client_pk(client_id), "meta")
}

/// `bridge#client#<client> / msg#<time>#<id>`: one message either way and its delivery.
pub fn bridge_message(client_id: &str, at_ms: i64, id: &str) -> Key {
    Key::new(bridge_client_pk(client_id), format!("msg#{at_ms:015}#{id}"))
}

pub const BRIDGE_MESSAGE_PREFIX: &str = "msg#";

/// `bridge#reply#<key> / claim`: a reply from the system being (or already) queued, so a
/// reply the system sends twice goes out once; it keeps the time of the reply's history
/// entry, what the reply's sends are claimed under.
pub fn bridge_reply(key: &str) -> Key {
    Key::new(format!("bridge#reply#{key}"), "claim")
}

/// `bridge#rate#<client> / <window start>`: the client's messages to the bot in a minute.
pub fn bridge_rate(client_id: &str, window_start: i64) -> Key {
    Key::new(format!("bridge#rate#{client_id}"), window_start.to_string())
}

/// `bridge#stats#<day> / counts`: messages in and out, failures, answer times that day.
pub fn bridge_stats(day: &str) -> Key {
    Key::new(format!("bridge#stats#{day}"), "counts")
}

/// `bridge#health / last`: how the last deliveries to the system went.
pub fn bridge_health() -> Key {
    Key::new("bridge#health", "last")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Stored data outlives a release: these shapes must not drift.
    #[test]
    fn key_shapes_are_stable() {
        let k = batch("l1", "b1");
        assert_eq!((k.pk.as_str(), k.sk.as_str()), ("lead#l1", "batch#b1"));
        assert_eq!(telegram_update("main", 7).pk, "tgupdate#main");
        assert_eq!(
            support_rate("ip#1.2.3.4", 600).pk,
            "support#rate#ip#1.2.3.4"
        );
        assert_eq!(helpdesk_issue_count(5, 9).sk, "issues#9");
        assert_eq!(
            notification("b1#finished", "email").pk,
            "notify#b1#finished"
        );
        assert_eq!(staff_history(7, 3).sk, "hist#000000000003");
        assert_eq!(
            staff_timer(1_700_000_000_000, 7, "remind").sk,
            "001700000000000#7#remind"
        );
    }
}
