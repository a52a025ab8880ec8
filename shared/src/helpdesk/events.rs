//! Okdesk's outgoing webhooks (external-apis.md § B6): `{"event": {"event_type", …},
//! "issue": {…}}`. Only what a client is told about is kept: a status change, and a public
//! comment. Ids arrive as numbers or strings. The event travels through the notifications
//! queue in the compact form below, with a key that makes a repeated delivery harmless.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::okdesk::{contact_id_of, id_of};
use crate::texts::{Lang, escape_html, fill};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum HelpdeskEvent {
    StatusChanged {
        issue_id: i64,
        #[serde(default)]
        title: String,
        #[serde(default)]
        old: Option<String>,
        new: String,
        /// The issue's client contact when the webhook named it.
        #[serde(default)]
        contact_id: Option<i64>,
    },
    Comment {
        issue_id: i64,
        #[serde(default)]
        title: String,
        /// Okdesk's HTML.
        content: String,
        #[serde(default)]
        author_type: Option<String>,
        #[serde(default)]
        author_id: Option<i64>,
        #[serde(default)]
        author_name: Option<String>,
        #[serde(default)]
        contact_id: Option<i64>,
    },
}

/// The `kind` of a client notice on the notifications queue (admin notices have others).
/// The notifications queue's tag for a helpdesk notice (the only value `kind` may have).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NoticeKind {
    Helpdesk,
}

/// A client notice as queued: `key` names the Okdesk event, so that its second delivery
/// (from Okdesk or from SQS) finds it already sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    pub kind: NoticeKind,
    pub key: String,
    pub event: HelpdeskEvent,
}

impl Notice {
    pub fn new(key: String, event: HelpdeskEvent) -> Self {
        Self {
            kind: NoticeKind::Helpdesk,
            key,
            event,
        }
    }
}

/// What a webhook body turned out to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    /// To be told to the issue's client; `key` is the same for every delivery of this event.
    Notify { event: HelpdeskEvent, key: String },
    /// Valid, but nobody is told (other event types, private comments).
    Ignored {
        event_type: String,
        reason: &'static str,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Malformed(pub String);

fn text(v: &Value) -> Option<String> {
    v.as_str()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(String::from)
}

/// A status's readable name, else its code.
fn status_name(v: &Value) -> Option<String> {
    text(&v["name"]).or_else(|| text(&v["code"]))
}

fn person_name(v: &Value) -> Option<String> {
    let parts: Vec<String> = ["first_name", "last_name"]
        .iter()
        .filter_map(|f| text(&v[*f]))
        .collect();
    if parts.is_empty() {
        text(&v["name"])
    } else {
        Some(parts.join(" "))
    }
}

/// A short, stable digest of the whole body: two deliveries of one event are the same bytes
/// once parsed, while two changes of one issue differ in their times.
fn digest(v: &Value) -> String {
    let hash = Sha256::digest(v.to_string().as_bytes());
    hash[..12].iter().map(|b| format!("{b:02x}")).collect()
}

pub fn parse(body: &[u8]) -> Result<Incoming, Malformed> {
    let v: Value =
        serde_json::from_slice(body).map_err(|e| Malformed(format!("body is not JSON: {e}")))?;
    let event = v
        .get("event")
        .filter(|e| e.is_object())
        .ok_or_else(|| Malformed("no \"event\" object".into()))?;
    let event_type =
        text(&event["event_type"]).ok_or_else(|| Malformed("no \"event.event_type\"".into()))?;
    let issue = &v["issue"];
    let handled = matches!(event_type.as_str(), "new_ticket_status" | "new_comment");
    if !handled {
        return Ok(Incoming::Ignored {
            event_type,
            reason: "not an event clients are told about",
        });
    }
    let issue_id = id_of(&issue["id"])
        .or_else(|| id_of(&event["issue_id"]))
        .ok_or_else(|| Malformed(format!("{event_type} without \"issue.id\"")))?;
    let about = About {
        issue_id,
        title: text(&issue["title"]).unwrap_or_default(),
        contact_id: contact_id_of(issue),
    };
    if event_type == "new_ticket_status" {
        status_changed(&v, event, about)
    } else {
        commented(&v, event, event_type, about)
    }
}

/// What every event says about its issue.
struct About {
    issue_id: i64,
    title: String,
    contact_id: Option<i64>,
}

/// A `new_ticket_status` event; `v` is the whole body, `event` its `event`.
fn status_changed(v: &Value, event: &Value, about: About) -> Result<Incoming, Malformed> {
    let issue = &v["issue"];
    let Some(new) = status_name(&event["new_status"]).or_else(|| status_name(&issue["status"]))
    else {
        // Nothing to tell the client; by the README's rule (400 only for non-JSON or a
        // missing event type) it is acknowledged.
        return Ok(Incoming::Ignored {
            event_type: "new_ticket_status".into(),
            reason: "new_ticket_status without its new status",
        });
    };
    let old = status_name(&event["old_status"]).or_else(|| status_name(&issue["old_status"]));
    Ok(Incoming::Notify {
        key: format!("okdesk#status#{}#{}", about.issue_id, digest(v)),
        event: HelpdeskEvent::StatusChanged {
            issue_id: about.issue_id,
            title: about.title,
            old,
            new,
            contact_id: about.contact_id,
        },
    })
}

/// A `new_comment` event: told only when the comment is public.
fn commented(
    v: &Value,
    event: &Value,
    event_type: String,
    about: About,
) -> Result<Incoming, Malformed> {
    let comment = &event["comment"];
    if !comment.is_object() {
        // Seen in public payloads. Without the comment we cannot tell whether it is public,
        // and a private one must never reach a client: acknowledged, nobody told (the rule
        // the README states: 400 only for non-JSON or a missing event type).
        return Ok(Incoming::Ignored {
            event_type,
            reason: "new_comment without its comment",
        });
    }
    let public = match &comment["is_public"] {
        Value::Bool(b) => *b,
        Value::String(s) => s == "true",
        // Said nowhere: a comment clients were not meant to see must not leak.
        _ => comment["public"].as_bool().unwrap_or(false),
    };
    if !public {
        return Ok(Incoming::Ignored {
            event_type,
            reason: "private comment",
        });
    }
    let author = &event["author"];
    let key = match id_of(&comment["id"]) {
        Some(id) => format!("okdesk#comment#{id}"),
        None => format!("okdesk#comment#{}#{}", about.issue_id, digest(v)),
    };
    Ok(Incoming::Notify {
        key,
        event: HelpdeskEvent::Comment {
            issue_id: about.issue_id,
            title: about.title,
            content: comment["content"].as_str().unwrap_or_default().to_string(),
            author_type: text(&author["type"]),
            author_id: id_of(&author["id"]),
            author_name: person_name(author),
            contact_id: about.contact_id,
        },
    })
}

/// Okdesk's comment HTML as plain text (links kept as footnotes); the result is escaped
/// by whoever puts it in a Telegram HTML message.
pub fn html_to_text(html: &str) -> String {
    let text = html2text::config::plain_no_decorate()
        .link_footnotes(true)
        .raw_mode(true)
        .allow_width_overflow()
        .string_from_read(html.as_bytes(), 4096)
        .unwrap_or_else(|_| html.to_string());
    // Paragraph breaks come out as runs of blank lines.
    let mut out = String::with_capacity(text.len());
    let mut blank = 0;
    for line in text.lines().map(str::trim_end) {
        if line.is_empty() {
            blank += 1;
            continue;
        }
        if !out.is_empty() {
            out.push_str(if blank > 0 { "\n\n" } else { "\n" });
        }
        blank = 0;
        out.push_str(line);
    }
    out
}

/// Telegram allows 4096 characters in a message; a long comment is cut with a pointer to
/// the issue.
const MAX_BODY_CHARS: usize = 3500;

impl HelpdeskEvent {
    pub fn issue_id(&self) -> i64 {
        match self {
            HelpdeskEvent::StatusChanged { issue_id, .. }
            | HelpdeskEvent::Comment { issue_id, .. } => *issue_id,
        }
    }

    pub fn contact_id(&self) -> Option<i64> {
        match self {
            HelpdeskEvent::StatusChanged { contact_id, .. }
            | HelpdeskEvent::Comment { contact_id, .. } => *contact_id,
        }
    }

    /// False for the echo of a comment the contact wrote through the bot.
    pub fn concerns(&self, contact_id: i64) -> bool {
        match self {
            HelpdeskEvent::StatusChanged { .. } => true,
            HelpdeskEvent::Comment {
                author_type,
                author_id,
                ..
            } => !(author_type.as_deref() == Some("contact") && *author_id == Some(contact_id)),
        }
    }

    /// The message for the client, in Telegram's HTML.
    pub fn telegram_html(&self, lang: Lang, issue_url: &str) -> String {
        let t = lang.texts().helpdesk;
        match self {
            HelpdeskEvent::StatusChanged {
                issue_id,
                title,
                old,
                new,
                ..
            } => {
                let id = issue_id.to_string();
                let head = fill(
                    t.status_changed,
                    &[
                        ("id", &id),
                        ("old", old.as_deref().unwrap_or("—")),
                        ("new", new),
                    ],
                );
                let mut out = format!("<b>{}</b>", escape_html(&head));
                if !title.is_empty() {
                    out.push('\n');
                    out.push_str(&escape_html(title));
                }
                out.push('\n');
                out.push_str(&escape_html(issue_url));
                out
            }
            HelpdeskEvent::Comment {
                issue_id,
                content,
                author_name,
                ..
            } => {
                let id = issue_id.to_string();
                let author = author_name.as_deref().unwrap_or(t.staff);
                let head = fill(t.new_comment, &[("id", &id), ("author", author)]);
                let mut body = html_to_text(content);
                if body.is_empty() {
                    body = t.attachment_only.to_string();
                }
                if body.chars().count() > MAX_BODY_CHARS {
                    body = body.chars().take(MAX_BODY_CHARS).collect::<String>() + " …";
                }
                format!(
                    "<b>{}</b>\n\n{}\n\n{}",
                    escape_html(&head),
                    escape_html(&body),
                    escape_html(issue_url)
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comment_html_becomes_plain_text() {
        let text = html_to_text(
            "<p>Hello <b>there</b></p><p>Line&nbsp;two<br>three &lt;script&gt; &amp; co</p>",
        );
        assert_eq!(text, "Hello there\n\nLine\u{a0}two\nthree <script> & co");
    }

    #[test]
    fn scripts_and_links_in_comments() {
        let text = html_to_text(
            "<p>See <a href=\"https://x.example/kb\">the guide</a></p><script>alert(1)</script><ul><li>one</li><li>two</li></ul>",
        );
        // Scripts vanish; links stay reachable as footnotes; list items keep their bullets.
        assert_eq!(
            text,
            "See [the guide][1]\n* one\n* two\n\n[1]: https://x.example/kb"
        );
    }

    #[test]
    fn ids_may_be_strings() {
        let body = br#"{"event":{"event_type":"new_comment","author":{"id":"5","type":"contact"},
            "comment":{"id":"77","is_public":true,"content":"x"}},
            "issue":{"id":"12","client":{"contact":{"id":"5"}}}}"#;
        let Incoming::Notify { event, key } = parse(body).unwrap() else {
            panic!("not notified")
        };
        assert_eq!(key, "okdesk#comment#77");
        assert_eq!(event.issue_id(), 12);
        assert_eq!(event.contact_id(), Some(5));
        assert!(!event.concerns(5));
        assert!(event.concerns(6));
    }

    #[test]
    fn a_comment_event_without_its_comment_is_acknowledged_and_told_to_nobody() {
        let body = br#"{"event":{"event_type":"new_comment","author":{"id":5,"type":"employee"}},
            "issue":{"id":12,"client":{"contact":{"id":5}}}}"#;
        assert_eq!(
            parse(body).unwrap(),
            Incoming::Ignored {
                event_type: "new_comment".into(),
                reason: "new_comment without its comment"
            }
        );
        // The rule: only non-JSON and a missing event type are malformed.
        assert!(parse(b"not json").is_err());
        assert!(parse(br#"{"event":{}}"#).is_err());
    }
}
