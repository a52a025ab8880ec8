//! A registered client's work on one issue: create it from a message, check its status,
//! comment on it. Every issue a button names is checked to be the client's own before it is
//! shown or commented on.

use frankenstein::types::Message;

use super::context::{Ctx, Desk};
use super::keyboard::menu_keyboard;
use super::okdesk::Attachment;
use super::store::{self, FileRef, Link, Step};
use crate::telegram::reply::err;
use crate::telegram::webhook::BotError;
use crate::texts::fill;
use crate::title;

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

/// Fetches the file from Telegram and posts it to the issue as the contact's comment.
async fn attach(
    d: &Desk,
    issue_id: i64,
    contact_id: i64,
    text: &str,
    file: &FileRef,
) -> Result<(), String> {
    let bytes = d
        .api
        .download(&file.file_id)
        .await
        .map_err(|e| e.to_string())?;
    let attachment = Attachment {
        name: file.name.clone(),
        mime: file.mime.clone(),
        bytes,
    };
    d.okdesk
        .add_comment_with_file(issue_id, contact_id, text, attachment)
        .await
        .map_err(|e| e.to_string())
}

/// A new issue from the client's text (and file), within the chat's issues per hour.
pub(super) async fn create(
    d: &Desk,
    ctx: Ctx,
    text: Option<&str>,
    file: Option<FileRef>,
) -> Result<(), BotError> {
    let t = ctx.t();
    let Some(link) = d.registered(ctx).await? else {
        return Ok(());
    };
    let Some(description) = text.filter(|s| !s.is_empty()) else {
        return d.ask(ctx, &Step::IssueText, t.text_only).await;
    };
    let title = title::derive(description);
    // Recorded before Okdesk is asked: a redelivery of this update (after a failure or a
    // crash) must not file the issue twice.
    match store::begin_issue(&d.deps, ctx.chat, ctx.update_id).await? {
        store::IssueAttempt::First => {}
        store::IssueAttempt::Created(id) => {
            return created_answer(d, ctx, &link, id, &title, file.as_ref()).await;
        }
        store::IssueAttempt::Unknown => {
            tracing::warn!(
                chat = ctx.chat,
                update_id = ctx.update_id,
                "an earlier handling asked Okdesk to create this issue and did not finish"
            );
            d.clear_step(ctx).await?;
            return d
                .say(ctx, t.issue_maybe_created, Some(menu_keyboard(t)))
                .await;
        }
    }
    let slot = store::take_issue_slot(&d.deps, ctx.chat, d.cfg.issues_per_hour)
        .await
        .map_err(err)?;
    if !slot {
        store::issue_not_created(&d.deps, ctx.chat, ctx.update_id).await?;
        d.clear_step(ctx).await?;
        tracing::warn!(chat = ctx.chat, "issue limit of the hour reached");
        return d.say(ctx, t.too_many_issues, Some(menu_keyboard(t))).await;
    }
    let created = d
        .okdesk
        .create_issue(&title, description, link.contact_id, link.company_id)
        .await;
    match created {
        Ok(id) => {
            store::issue_created(&d.deps, ctx.chat, ctx.update_id, id).await?;
            created_answer(d, ctx, &link, id, &title, file.as_ref()).await
        }
        Err(e) => {
            if let Err(e) = store::return_issue_slot(&d.deps, ctx.chat).await {
                tracing::warn!(error = %e, "issue slot not given back");
            }
            store::issue_not_created(&d.deps, ctx.chat, ctx.update_id).await?;
            // Still waiting for the description: sending it again tries again.
            let trouble = d.okdesk_trouble(ctx, "create issue", &e);
            d.ask(
                ctx,
                &Step::IssueText,
                &format!("{trouble}\n{}", t.issue_not_created),
            )
            .await
        }
    }
}

/// The issue is there: its file is attached, and the client hears its number and link.
async fn created_answer(
    d: &Desk,
    ctx: Ctx,
    link: &Link,
    id: i64,
    title: &str,
    file: Option<&FileRef>,
) -> Result<(), BotError> {
    let t = ctx.t();
    let id_text = id.to_string();
    let url = d.cfg.issue_url(id);
    let mut answer = fill(
        t.issue_created,
        &[("id", &id_text), ("title", title), ("url", &url)],
    );
    if let Some(file) = file
        && let Err(e) = attach(d, id, link.contact_id, t.attachment_comment, file).await
    {
        tracing::warn!(error = %e, issue = id, "file not attached");
        answer.push('\n');
        answer.push_str(t.attachment_failed);
    }
    d.say(ctx, &answer, Some(menu_keyboard(t))).await?;
    // Only once the client has the number: a redelivery after a failed answer comes back
    // through this step and finds the issue already filed.
    d.clear_step(ctx).await
}

/// True if the issue is the client's; otherwise the client has been told why not.
async fn check_own(d: &Desk, ctx: Ctx, link: &Link, issue_id: i64) -> Result<bool, BotError> {
    match d.own_issue_ids(link).await {
        Ok(ids) if ids.contains(&issue_id) => Ok(true),
        Ok(_) => {
            d.say(ctx, ctx.t().issue_not_yours, None).await?;
            Ok(false)
        }
        Err(e) => {
            let answer = d.okdesk_trouble(ctx, "list issues", &e);
            d.say(ctx, answer, None).await?;
            Ok(false)
        }
    }
}

/// The answer to a status button.
pub(super) async fn show_status(
    d: &Desk,
    ctx: Ctx,
    link: &Link,
    issue_id: i64,
) -> Result<(), BotError> {
    if !check_own(d, ctx, link, issue_id).await? {
        return Ok(());
    }
    let t = ctx.t();
    match d.okdesk.issue(issue_id).await {
        Ok(Some(issue)) => {
            let id = issue_id.to_string();
            let url = d.cfg.issue_url(issue_id);
            let text = fill(
                t.issue_status,
                &[
                    ("id", &id),
                    ("title", &issue.title),
                    ("status", issue.status.label()),
                    ("url", &url),
                ],
            );
            d.say(ctx, &text, None).await
        }
        Ok(None) => d.say(ctx, t.issue_not_yours, None).await,
        Err(e) => {
            let answer = d.okdesk_trouble(ctx, "issue status", &e);
            d.say(ctx, answer, None).await
        }
    }
}

/// The answer to a comment button: the next message is the comment.
pub(super) async fn choose_for_comment(
    d: &Desk,
    ctx: Ctx,
    link: &Link,
    issue_id: i64,
) -> Result<(), BotError> {
    if !check_own(d, ctx, link, issue_id).await? {
        return Ok(());
    }
    d.set_step(ctx, &Step::CommentText { issue_id }).await?;
    let text = fill(ctx.t().ask_comment, &[("id", &issue_id.to_string())]);
    d.say(ctx, &text, None).await
}

/// The comment (text, file, or both) on the chosen issue.
pub(super) async fn add_comment(
    d: &Desk,
    ctx: Ctx,
    issue_id: i64,
    text: Option<&str>,
    file: Option<FileRef>,
) -> Result<(), BotError> {
    let t = ctx.t();
    let Some(link) = d.registered(ctx).await? else {
        return Ok(());
    };
    let body = text.filter(|s| !s.is_empty());
    if body.is_none() && file.is_none() {
        return d
            .ask(ctx, &Step::CommentText { issue_id }, t.text_only)
            .await;
    }
    let id = issue_id.to_string();
    match send_comment(d, ctx, &link, issue_id, body, file.as_ref()).await {
        Ok(()) => {
            d.clear_step(ctx).await?;
            let answer = fill(t.comment_added, &[("id", &id)]);
            d.say(ctx, &answer, Some(menu_keyboard(t))).await
        }
        Err(trouble) => {
            d.ask(
                ctx,
                &Step::CommentText { issue_id },
                &format!("{trouble}\n{}", t.comment_not_added),
            )
            .await
        }
    }
}

/// Posts the comment to Okdesk; the error is what to tell the client.
async fn send_comment(
    d: &Desk,
    ctx: Ctx,
    link: &Link,
    issue_id: i64,
    body: Option<&str>,
    file: Option<&FileRef>,
) -> Result<(), &'static str> {
    let t = ctx.t();
    match (body, file) {
        (body, Some(file)) => {
            let text = body.unwrap_or(t.attachment_comment);
            attach(d, issue_id, link.contact_id, text, file)
                .await
                .map_err(|e| {
                    // The reason (Telegram or Okdesk) is in the log; the user needs the way out.
                    tracing::warn!(error = %e, issue = issue_id, "file comment not added");
                    t.attachment_failed
                })
        }
        (Some(body), None) => d
            .okdesk
            .add_comment(issue_id, link.contact_id, body)
            .await
            .map_err(|e| d.okdesk_trouble(ctx, "add comment", &e)),
        (None, None) => Ok(()),
    }
}
