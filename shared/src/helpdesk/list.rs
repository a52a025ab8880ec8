//! Pages of the client's issues, newest first: read as a list with statuses, or offered as
//! buttons to check a status or to comment. The page's buttons turn it.

use super::callback::{Callback, ListMode};
use super::context::{Ctx, Desk};
use super::keyboard::{Button, inline, inline_markup, menu_keyboard};
use super::okdesk::Issue;
use super::store::Link;
use crate::telegram::webhook::BotError;
use crate::texts::{HelpdeskTexts, fill};

/// Issues per page of a list.
pub const PAGE: usize = 5;
/// A button shows this much of an issue's title.
const BUTTON_TITLE: usize = 32;
/// A line of the list shows this much.
const LINE_TITLE: usize = 80;

fn short(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        s.chars().take(max - 1).collect::<String>() + "…"
    }
}

fn line(id: i64, issue: &Option<Issue>, max: usize) -> String {
    match issue {
        Some(i) => format!("#{id} · {} — {}", short(&i.title, max), i.status.label()),
        None => format!("#{id}"),
    }
}

/// One page of issue ids, and where it sits among all of them.
struct Page<'a> {
    all: &'a [i64],
    number: usize,
    count: usize,
}

impl<'a> Page<'a> {
    /// The page `number` of `all` (not empty), or its last page.
    fn of(all: &'a [i64], number: usize) -> Self {
        let count = all.len().div_ceil(PAGE);
        Self {
            all,
            number: number.min(count - 1),
            count,
        }
    }

    fn ids(&self) -> &'a [i64] {
        &self.all[self.number * PAGE..self.all.len().min((self.number + 1) * PAGE)]
    }

    /// The previous and next page's buttons, as far as there are such pages.
    fn nav(&self, t: &HelpdeskTexts, mode: ListMode) -> Vec<Button> {
        let to = |page| Callback::Page { mode, page };
        let mut nav = Vec::new();
        if self.number > 0 {
            nav.push((t.prev.to_string(), to(self.number - 1)));
        }
        if self.number + 1 < self.count {
            nav.push((t.next.to_string(), to(self.number + 1)));
        }
        nav
    }
}

/// The page's text and buttons.
fn render(
    t: &HelpdeskTexts,
    mode: ListMode,
    page: &Page<'_>,
    issues: &[(i64, Option<Issue>)],
) -> (String, Vec<Vec<Button>>) {
    let mut rows: Vec<Vec<Button>> = Vec::new();
    let text = match mode {
        ListMode::Status | ListMode::Comment => {
            for (id, issue) in issues {
                let data = match mode {
                    ListMode::Status => Callback::Status(*id),
                    _ => Callback::Comment(*id),
                };
                rows.push(vec![(line(*id, issue, BUTTON_TITLE), data)]);
            }
            match mode {
                ListMode::Status => t.choose_status.to_string(),
                _ => t.choose_comment.to_string(),
            }
        }
        ListMode::List => {
            let from = (page.number * PAGE + 1).to_string();
            let to = (page.number * PAGE + issues.len()).to_string();
            let total = page.all.len().to_string();
            let mut text = fill(
                t.list_header,
                &[("from", &from), ("to", &to), ("total", &total)],
            );
            for (id, issue) in issues {
                text.push('\n');
                text.push_str(&line(*id, issue, LINE_TITLE));
            }
            text
        }
    };
    let nav = page.nav(t, mode);
    if !nav.is_empty() {
        rows.push(nav);
    }
    (text, rows)
}

/// One page of the client's issues for `mode`. With `edit`, the message showing the
/// previous page is replaced.
pub(super) async fn show(
    d: &Desk,
    ctx: Ctx,
    link: &Link,
    mode: ListMode,
    page: usize,
    edit: Option<i32>,
) -> Result<(), BotError> {
    let t = ctx.t();
    let ids = match d.own_issue_ids(link).await {
        Ok(ids) => ids,
        Err(e) => {
            return d
                .say(ctx, d.okdesk_trouble(ctx, "list issues", &e), None)
                .await;
        }
    };
    if ids.is_empty() {
        return d.say(ctx, t.no_issues, Some(menu_keyboard(t))).await;
    }
    let page = Page::of(&ids, page);
    let fetched = futures::future::join_all(page.ids().iter().map(|id| d.okdesk.issue(*id))).await;
    let mut issues = Vec::with_capacity(fetched.len());
    for (id, result) in page.ids().iter().zip(fetched) {
        match result {
            Ok(issue) => issues.push((*id, issue)),
            Err(e) => {
                return d
                    .say(ctx, d.okdesk_trouble(ctx, "list issues", &e), None)
                    .await;
            }
        }
    }
    let (text, rows) = render(t, mode, &page, &issues);
    match edit {
        Some(message_id) => d.edit(ctx, message_id, &text, inline_markup(rows)).await,
        None if rows.is_empty() => d.say(ctx, &text, None).await,
        None => d.say(ctx, &text, Some(inline(rows))).await,
    }
}
