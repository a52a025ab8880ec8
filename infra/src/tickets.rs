//! `zayavka tickets …` and `zayavka executors …`: the seed's test command and its three
//! "check setup" queries, as commands over the same store the functions use.

use zayavka::Deps;
use zayavka::queues::{NOTIFICATIONS, dead_letter_name};
use zayavka::tickets::model::Executor;
use zayavka::tickets::store::{self, NewExecutor, TicketFilter};
use zayavka::tickets::workflow;

use crate::okdesk_check::Check;

pub const EXECUTORS: &str = "active executors with a bound Telegram";
pub const WEBHOOK: &str = "staff bot webhook set";
pub const QUEUE: &str = "notifications queue draining";

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// The executors a new ticket of the category would be offered to now.
pub async fn reachable(deps: &Deps, category: i64) -> Result<Vec<(Executor, String)>, String> {
    let mut out = Vec::new();
    for e in store::executors(deps, Some(category)).await.map_err(err)? {
        if !e.is_active {
            continue;
        }
        if let Some(u) = store::user(deps, e.user_id).await.map_err(err)?
            && u.telegram_id.is_some()
        {
            out.push((e, u.name));
        }
    }
    Ok(out)
}

/// `zayavka tickets notify [ID]`: the ticket (the latest when not given) offered again.
pub async fn notify(deps: &Deps, id: Option<i64>) -> Result<Vec<String>, String> {
    let id = match id {
        Some(id) => id,
        None => store::list_tickets(deps, &TicketFilter::default(), 1, None)
            .await
            .map_err(err)?
            .0
            .first()
            .map(|t| t.id)
            .ok_or("there are no tickets yet")?,
    };
    match workflow::offer_again(deps, id).await.map_err(err)? {
        Ok(t) => {
            let to: Vec<String> = reachable(deps, t.category_id)
                .await?
                .into_iter()
                .filter(|(e, _)| e.has_room())
                .map(|(e, name)| format!("{name} (priority {})", e.priority))
                .collect();
            let mut lines = vec![format!(
                "ticket #{id} «{}»: offer queued on the notifications queue",
                t.title
            )];
            if to.is_empty() {
                lines.push(
                    "nobody can be offered it: its category's managers will be told why".into(),
                );
            } else {
                lines.push(format!(
                    "the notification worker sends it to: {}",
                    to.join(", ")
                ));
            }
            Ok(lines)
        }
        Err(t) => Err(format!(
            "ticket #{id} is {} (status_id {}): only a ticket nobody took is offered",
            t.status.as_str(),
            t.status.id()
        )),
    }
}

/// The seed's three checks, as verdicts: executors, the staff bot's webhook, the queue.
pub async fn check(
    deps: &Deps,
    category: i64,
    bot: Option<&zayavka::telegram::BotApi>,
) -> Result<Vec<Check>, String> {
    let mut out = Vec::new();
    let Some(c) = store::category(deps, category).await.map_err(err)? else {
        return Err(format!("there is no category {category}"));
    };
    let reach = reachable(deps, category).await?;
    out.push(if reach.is_empty() {
        Check::new(
            EXECUTORS,
            Some(false),
            format!(
                "«{}» has none; add one (zayavka executors add --user ID --category {category}) and bind their Telegram (POST /api/users/ID/telegram-link)",
                c.name
            ),
        )
    } else {
        let names: Vec<String> = reach
            .iter()
            .map(|(e, n)| format!("{n} (priority {}, {} of {} open)", e.priority, e.open_tickets, e.max_tickets))
            .collect();
        Check::new(EXECUTORS, Some(true), names.join(", "))
    });
    out.push(match bot {
        None => Check::new(
            WEBHOOK,
            Some(false),
            "TELEGRAM_STAFF_BOT_TOKEN and TELEGRAM_STAFF_WEBHOOK_SECRET are not set",
        ),
        Some(api) => match api.webhook_info().await {
            Ok(info) if info.url.ends_with("/telegram/staff/webhook") => {
                let mut detail = format!("{} ({} updates waiting)", info.url, info.pending_update_count);
                if let Some(e) = info.last_error_message {
                    detail.push_str(&format!("; last error: {e}"));
                }
                Check::new(WEBHOOK, Some(true), detail)
            }
            Ok(info) => Check::new(
                WEBHOOK,
                Some(false),
                format!(
                    "Telegram sends the staff bot's updates to {:?}; run zayavka telegram set-webhook --bot staff --url <ApiUrl>/telegram/staff/webhook",
                    info.url
                ),
            ),
            Err(e) => Check::new(WEBHOOK, Some(false), format!("getWebhookInfo failed: {e}")),
        },
    });
    let q = deps.queue.stats(NOTIFICATIONS).await.map_err(err)?;
    let dlq_name = dead_letter_name(NOTIFICATIONS);
    let dlq = deps.queue.stats(&dlq_name).await.map_err(err)?;
    let dead = dlq.visible + dlq.in_flight + dlq.delayed;
    out.push(if dead > 0 {
        Check::new(
            QUEUE,
            Some(false),
            format!(
                "{dead} notices dead-lettered in {dlq_name} (their errors are in the notification worker's log); after fixing, zayavka queue redrive {dlq_name}"
            ),
        )
    } else {
        Check::new(
            QUEUE,
            Some(true),
            format!(
                "{} waiting, {} being sent, {dead} dead-lettered",
                q.visible + q.delayed,
                q.in_flight
            ),
        )
    });
    Ok(out)
}

pub async fn add(deps: &Deps, n: NewExecutor) -> Result<Executor, String> {
    if store::user(deps, n.user_id).await.map_err(err)?.is_none() {
        return Err(format!("there is no user {}", n.user_id));
    }
    if store::category(deps, n.category_id)
        .await
        .map_err(err)?
        .is_none()
    {
        return Err(format!("there is no category {}", n.category_id));
    }
    store::add_executor(deps, n).await.map_err(err)
}

pub async fn list(deps: &Deps, category: Option<i64>) -> Result<Vec<String>, String> {
    let mut lines = vec![format!(
        "{:>4} {:>8} {:<24} {:>8} {:>5} {:>4} {:<6} {:<8}",
        "id", "category", "user", "priority", "max", "open", "active", "telegram"
    )];
    for e in store::executors(deps, category).await.map_err(err)? {
        let u = store::user(deps, e.user_id).await.map_err(err)?;
        let (name, tg) = match u {
            Some(u) => (
                u.name,
                u.telegram_id.map(|t| t.to_string()).unwrap_or("-".into()),
            ),
            None => (format!("#{}", e.user_id), "-".into()),
        };
        lines.push(format!(
            "{:>4} {:>8} {:<24} {:>8} {:>5} {:>4} {:<6} {:<8}",
            e.id,
            e.category_id,
            name,
            e.priority,
            e.max_tickets,
            e.open_tickets,
            if e.is_active { "yes" } else { "no" },
            tg
        ));
    }
    Ok(lines)
}

pub async fn remove(deps: &Deps, id: i64) -> Result<(), String> {
    let e = store::executor_by_id(deps, id)
        .await
        .map_err(err)?
        .ok_or_else(|| format!("there is no executor {id}"))?;
    store::remove_executor(deps, &e).await.map_err(err)
}
