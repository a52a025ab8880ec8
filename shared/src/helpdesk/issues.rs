//! A registered client's work with issues: create one from a message, page through their
//! issues, check one's status, comment on one. Every issue a button names is checked to be
//! the client's own before it is shown or commented on.

use frankenstein::types::Message;

use super::bot::{Ctx, HelpdeskBot, inline, inline_markup, menu_keyboard};
use super::okdesk::{Attachment, Issue};
use super::store::{self, FileRef, Link, Step};
use super::title;
use crate::telegram::webhook::BotError;
use crate::texts::fill;

/// Issues per page of a list.
pub const PAGE: usize = 5;
/// A button shows this much of an issue's title.
const BUTTON_TITLE: usize = 32;

fn short(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        s.to_string()
    } else {
        s.chars().take(max - 1).collect::<String>() + "…"
    }
}

/// The photo (its largest size) or the document of a message.
pub(super) fn file_of(m: &Message) -> Option<FileRef> {
    if let Some(photo) = m.photo.as_ref().and_then(|sizes| sizes.last()) {
        return Some(FileRef {
            file_id: photo.file_id.clone(),
            name: format!("photo-{}.jpg", photo.file_unique_id),
            mime: "image/jpeg".into(),
        });
    }
    m.document.as_ref().map(|d| FileRef {
        file_id: d.file_id.clone(),
        name: d.file_name.clone().unwrap_or_else(|| "file".into()),
        mime: d
            .mime_type
            .clone()
            .unwrap_or_else(|| "application/octet-stream".into()),
    })
}

impl HelpdeskBot {
    /// Fetches the file from Telegram and posts it to the issue as the contact's comment.
    async fn attach(
        &self,
        issue_id: i64,
        contact_id: i64,
        text: &str,
        file: &FileRef,
    ) -> Result<(), String> {
        let bytes = self
            .api
            .download(&file.file_id)
            .await
            .map_err(|e| e.to_string())?;
        let attachment = Attachment {
            name: file.name.clone(),
            mime: file.mime.clone(),
            bytes,
        };
        self.okdesk
            .add_comment_with_file(issue_id, contact_id, text, attachment)
            .await
            .map_err(|e| e.to_string())
    }

    /// The contact's issue ids, newest (highest id) first.
    async fn own_issue_ids(&self, link: &Link) -> Result<Vec<i64>, super::okdesk::OkdeskError> {
        let mut ids = self.okdesk.contact_issue_ids(link.contact_id).await?;
        ids.sort_unstable_by(|a, b| b.cmp(a));
        ids.dedup();
        Ok(ids)
    }

    pub(super) async fn create_issue(
        &self,
        ctx: Ctx,
        text: Option<&str>,
        file: Option<FileRef>,
    ) -> Result<(), BotError> {
        let t = ctx.t();
        let Some(link) = self.registered(ctx).await? else {
            return Ok(());
        };
        let Some(description) = text.filter(|s| !s.is_empty()) else {
            self.set_step(ctx, &Step::IssueText).await?;
            return self.say(ctx, t.text_only, None).await;
        };
        let slot = store::take_issue_slot(&self.deps, ctx.chat, self.cfg.issues_per_hour)
            .await
            .map_err(super::bot::err)?;
        if !slot {
            self.clear_step(ctx).await?;
            tracing::warn!(chat = ctx.chat, "issue limit of the hour reached");
            return self
                .say(ctx, t.too_many_issues, Some(menu_keyboard(t)))
                .await;
        }
        let title = title::derive(description);
        match self
            .okdesk
            .create_issue(&title, description, link.contact_id, link.company_id)
            .await
        {
            Ok(id) => {
                self.clear_step(ctx).await?;
                let id_text = id.to_string();
                let url = self.cfg.issue_url(id);
                let mut answer = fill(
                    t.issue_created,
                    &[("id", &id_text), ("title", &title), ("url", &url)],
                );
                if let Some(file) = &file
                    && let Err(e) = self
                        .attach(id, link.contact_id, t.attachment_comment, file)
                        .await
                {
                    tracing::warn!(error = %e, issue = id, "file not attached");
                    answer.push('\n');
                    answer.push_str(t.attachment_failed);
                }
                self.say(ctx, &answer, Some(menu_keyboard(t))).await
            }
            Err(e) => {
                if let Err(e) = store::return_issue_slot(&self.deps, ctx.chat).await {
                    tracing::warn!(error = %e, "issue slot not given back");
                }
                // Still waiting for the description: sending it again tries again.
                self.set_step(ctx, &Step::IssueText).await?;
                let trouble = self.okdesk_trouble(ctx, "create issue", &e);
                self.say(ctx, &format!("{trouble}\n{}", t.issue_not_created), None)
                    .await
            }
        }
    }

    /// One page of the client's issues: `mode` `l` lists them with statuses, `s` and `c`
    /// offer them as buttons to check a status or to comment. With `edit`, the message
    /// showing the previous page is replaced.
    pub(super) async fn show_issues(
        &self,
        ctx: Ctx,
        link: &Link,
        mode: char,
        page: usize,
        edit: Option<i32>,
    ) -> Result<(), BotError> {
        let t = ctx.t();
        let ids = match self.own_issue_ids(link).await {
            Ok(ids) => ids,
            Err(e) => {
                let answer = self.okdesk_trouble(ctx, "list issues", &e);
                return self.say(ctx, answer, None).await;
            }
        };
        if ids.is_empty() {
            return self.say(ctx, t.no_issues, Some(menu_keyboard(t))).await;
        }
        let pages = ids.len().div_ceil(PAGE);
        let page = page.min(pages - 1);
        let shown = &ids[page * PAGE..ids.len().min((page + 1) * PAGE)];
        let fetched =
            futures::future::join_all(shown.iter().map(|id| self.okdesk.issue(*id))).await;
        let mut issues: Vec<(i64, Option<Issue>)> = Vec::with_capacity(shown.len());
        for (id, result) in shown.iter().zip(fetched) {
            match result {
                Ok(issue) => issues.push((*id, issue)),
                Err(e) => {
                    let answer = self.okdesk_trouble(ctx, "list issues", &e);
                    return self.say(ctx, answer, None).await;
                }
            }
        }
        let line = |id: i64, issue: &Option<Issue>, max: usize| match issue {
            Some(i) => format!("#{id} · {} — {}", short(&i.title, max), i.status.label()),
            None => format!("#{id}"),
        };
        let mut rows: Vec<Vec<(String, String)>> = Vec::new();
        let text = match mode {
            's' | 'c' => {
                let action = if mode == 's' { "st" } else { "cm" };
                for (id, issue) in &issues {
                    rows.push(vec![(
                        line(*id, issue, BUTTON_TITLE),
                        format!("{action}:{id}"),
                    )]);
                }
                if mode == 's' {
                    t.choose_status.to_string()
                } else {
                    t.choose_comment.to_string()
                }
            }
            _ => {
                let from = (page * PAGE + 1).to_string();
                let to = (page * PAGE + shown.len()).to_string();
                let total = ids.len().to_string();
                let mut text = fill(
                    t.list_header,
                    &[("from", &from), ("to", &to), ("total", &total)],
                );
                for (id, issue) in &issues {
                    text.push('\n');
                    text.push_str(&line(*id, issue, 80));
                }
                text
            }
        };
        let mut nav = Vec::new();
        if page > 0 {
            nav.push((t.prev.to_string(), format!("ls:{mode}:{}", page - 1)));
        }
        if page + 1 < pages {
            nav.push((t.next.to_string(), format!("ls:{mode}:{}", page + 1)));
        }
        if !nav.is_empty() {
            rows.push(nav);
        }
        match edit {
            Some(message_id) => self.edit(ctx, message_id, &text, inline_markup(rows)).await,
            None if rows.is_empty() => self.say(ctx, &text, None).await,
            None => self.say(ctx, &text, Some(inline(rows))).await,
        }
    }

    /// True if the issue is the client's; otherwise the client has been told why not.
    async fn check_own(&self, ctx: Ctx, link: &Link, issue_id: i64) -> Result<bool, BotError> {
        match self.own_issue_ids(link).await {
            Ok(ids) if ids.contains(&issue_id) => Ok(true),
            Ok(_) => {
                self.say(ctx, ctx.t().issue_not_yours, None).await?;
                Ok(false)
            }
            Err(e) => {
                let answer = self.okdesk_trouble(ctx, "list issues", &e);
                self.say(ctx, answer, None).await?;
                Ok(false)
            }
        }
    }

    pub(super) async fn show_status(
        &self,
        ctx: Ctx,
        link: &Link,
        issue_id: i64,
    ) -> Result<(), BotError> {
        if !self.check_own(ctx, link, issue_id).await? {
            return Ok(());
        }
        let t = ctx.t();
        match self.okdesk.issue(issue_id).await {
            Ok(Some(issue)) => {
                let id = issue_id.to_string();
                let url = self.cfg.issue_url(issue_id);
                let text = fill(
                    t.issue_status,
                    &[
                        ("id", &id),
                        ("title", &issue.title),
                        ("status", issue.status.label()),
                        ("url", &url),
                    ],
                );
                self.say(ctx, &text, None).await
            }
            Ok(None) => self.say(ctx, t.issue_not_yours, None).await,
            Err(e) => {
                let answer = self.okdesk_trouble(ctx, "issue status", &e);
                self.say(ctx, answer, None).await
            }
        }
    }

    pub(super) async fn choose_for_comment(
        &self,
        ctx: Ctx,
        link: &Link,
        issue_id: i64,
    ) -> Result<(), BotError> {
        if !self.check_own(ctx, link, issue_id).await? {
            return Ok(());
        }
        self.set_step(ctx, &Step::CommentText { issue_id }).await?;
        let text = fill(ctx.t().ask_comment, &[("id", &issue_id.to_string())]);
        self.say(ctx, &text, None).await
    }

    pub(super) async fn add_comment(
        &self,
        ctx: Ctx,
        issue_id: i64,
        text: Option<&str>,
        file: Option<FileRef>,
    ) -> Result<(), BotError> {
        let t = ctx.t();
        let Some(link) = self.registered(ctx).await? else {
            return Ok(());
        };
        let body = text.filter(|s| !s.is_empty());
        let sent: Result<(), &str> = match (body, &file) {
            (None, None) => {
                self.set_step(ctx, &Step::CommentText { issue_id }).await?;
                return self.say(ctx, t.text_only, None).await;
            }
            (body, Some(file)) => self
                .attach(
                    issue_id,
                    link.contact_id,
                    body.unwrap_or(t.attachment_comment),
                    file,
                )
                .await
                .map_err(|e| {
                    // The reason (Telegram or Okdesk) is in the log; the user needs the way out.
                    tracing::warn!(error = %e, issue = issue_id, "file comment not added");
                    t.attachment_failed
                }),
            (Some(body), None) => self
                .okdesk
                .add_comment(issue_id, link.contact_id, body)
                .await
                .map_err(|e| self.okdesk_trouble(ctx, "add comment", &e)),
        };
        let id = issue_id.to_string();
        match sent {
            Ok(()) => {
                self.clear_step(ctx).await?;
                let answer = fill(t.comment_added, &[("id", &id)]);
                self.say(ctx, &answer, Some(menu_keyboard(t))).await
            }
            Err(trouble) => {
                self.set_step(ctx, &Step::CommentText { issue_id }).await?;
                self.say(ctx, &format!("{trouble}\n{}", t.comment_not_added), None)
                    .await
            }
        }
    }
}
