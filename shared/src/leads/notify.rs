//! What the admins are told about a batch, and how it reads in e-mail and Telegram.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::model::{Lead, status};
use crate::texts::{Lang, escape_html};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Notification {
    /// Every integration reported: completed, partial or failed.
    BatchFinished {
        lead_id: String,
        batch_id: String,
        status: String,
        #[serde(default)]
        lead_name: String,
        succeeded: Vec<String>,
        failed: Vec<String>,
        #[serde(default)]
        errors: BTreeMap<String, String>,
    },
    /// The batch was stored but could not be queued (Laravel's "catch"): always notified.
    DispatchFailed {
        lead_id: String,
        batch_id: String,
        error: String,
    },
    /// A target's breaker opened: its jobs wait for it without calling. Always notified,
    /// once per opening.
    TargetDown {
        target: String,
        reason: String,
        /// Failures that opened it: at least this many leads wait.
        failures: i64,
        opened_at: String,
        next_probe_at: String,
    },
    /// A lead was still `processing` past its last attempt: its jobs without a result were
    /// queued again or failed.
    Reconciled {
        lead_id: String,
        batch_id: String,
        #[serde(default)]
        lead_name: String,
        requeued: Vec<String>,
        failed: Vec<String>,
    },
    /// An admin pressed «Повторить» on a failure notice: the notification worker replays the
    /// lead and tells the chat. `press`: the button press, which it answers once.
    ReplayAsked {
        lead_id: String,
        by: String,
        press: String,
        lang: String,
    },
    /// A probe succeeded: the target is back and its waiting jobs go out.
    TargetBack {
        target: String,
        opened_at: String,
        closed_at: String,
        /// Jobs that waited on it.
        held: i64,
        probes: u32,
    },
}

impl Notification {
    /// What the notification is about, for its once-per-channel claim: a batch, or one
    /// opening of a target's breaker.
    pub fn subject_id(&self) -> String {
        match self {
            Notification::BatchFinished { batch_id, .. }
            | Notification::DispatchFailed { batch_id, .. }
            | Notification::Reconciled { batch_id, .. } => batch_id.clone(),
            Notification::ReplayAsked { lead_id, press, .. } => format!("replay#{lead_id}#{press}"),
            Notification::TargetDown {
                target, opened_at, ..
            }
            | Notification::TargetBack {
                target, opened_at, ..
            } => format!("breaker#{target}#{opened_at}"),
        }
    }

    /// The switch in `NOTIFY_ON` this notification answers to; `None`: always sent.
    pub fn switch(&self) -> Option<&str> {
        match self {
            Notification::BatchFinished { status, .. } => Some(status),
            Notification::DispatchFailed { .. }
            | Notification::Reconciled { .. }
            | Notification::ReplayAsked { .. }
            | Notification::TargetDown { .. }
            | Notification::TargetBack { .. } => None,
        }
    }

    fn headline(&self, lang: Lang) -> &'static str {
        let t = lang.texts();
        match self {
            Notification::BatchFinished { status: s, .. } if s == status::COMPLETED => {
                t.batch_completed
            }
            Notification::BatchFinished { status: s, .. } if s == status::PARTIAL => {
                t.batch_partial
            }
            Notification::BatchFinished { .. } => t.batch_failed,
            Notification::DispatchFailed { .. } => t.dispatch_failed,
            Notification::Reconciled { .. } => t.lead_reconciled,
            Notification::ReplayAsked { .. } => t.replay_button,
            Notification::TargetDown { .. } => t.target_down,
            Notification::TargetBack { .. } => t.target_back,
        }
    }

    fn lines(&self, lang: Lang, html: bool) -> Vec<String> {
        let t = lang.texts();
        let esc = |s: &str| if html { escape_html(s) } else { s.to_string() };
        match self {
            Notification::BatchFinished {
                lead_id,
                lead_name,
                succeeded,
                failed,
                errors,
                ..
            } => {
                let mut lines = vec![format!(
                    "{} {} {}",
                    t.lead_word,
                    esc(lead_id),
                    esc(lead_name)
                )];
                if !succeeded.is_empty() {
                    lines.push(format!(
                        "{}: {}",
                        t.delivered_to,
                        esc(&succeeded.join(", "))
                    ));
                }
                for name in failed {
                    let why = errors.get(name).map(String::as_str).unwrap_or_default();
                    lines.push(format!(
                        "{}: {} — {}",
                        t.not_delivered_to,
                        esc(name),
                        esc(why)
                    ));
                }
                lines
            }
            Notification::DispatchFailed { lead_id, error, .. } => {
                vec![format!("{} {}", t.lead_word, esc(lead_id)), esc(error)]
            }
            Notification::Reconciled {
                lead_id,
                lead_name,
                requeued,
                failed,
                ..
            } => {
                let mut lines = vec![format!(
                    "{} {} {}",
                    t.lead_word,
                    esc(lead_id),
                    esc(lead_name)
                )];
                if !requeued.is_empty() {
                    lines.push(format!("{}: {}", t.requeued_to, esc(&requeued.join(", "))));
                }
                if !failed.is_empty() {
                    lines.push(format!("{}: {}", t.lost_for, esc(&failed.join(", "))));
                }
                lines
            }
            Notification::ReplayAsked { lead_id, .. } => {
                vec![format!("{} {}", t.lead_word, esc(lead_id))]
            }
            Notification::TargetDown {
                target,
                reason,
                failures,
                opened_at,
                next_probe_at,
            } => vec![
                format!("{}: {}", t.target_word, esc(target)),
                format!("{}: {}", t.target_why, esc(reason)),
                format!("{}: {failures}", t.target_waiting),
                format!("{}: {}", t.target_since, esc(opened_at)),
                format!("{}: {}", t.target_next_probe, esc(next_probe_at)),
            ],
            Notification::TargetBack {
                target,
                opened_at,
                closed_at,
                held,
                probes,
            } => vec![
                format!("{}: {}", t.target_word, esc(target)),
                format!(
                    "{}: {} — {}",
                    t.target_down_span,
                    esc(opened_at),
                    esc(closed_at)
                ),
                format!("{}: {held}", t.target_held),
                format!("{}: {probes}", t.target_probes),
            ],
        }
    }

    pub fn subject(&self, lang: Lang) -> String {
        match self {
            Notification::BatchFinished { lead_id, .. }
            | Notification::DispatchFailed { lead_id, .. }
            | Notification::Reconciled { lead_id, .. }
            | Notification::ReplayAsked { lead_id, .. } => {
                format!("{} ({lead_id})", self.headline(lang))
            }
            Notification::TargetDown { target, .. } | Notification::TargetBack { target, .. } => {
                format!("{}: {target}", self.headline(lang))
            }
        }
    }

    pub fn text(&self, lang: Lang) -> String {
        let mut out = vec![self.headline(lang).to_string()];
        out.extend(self.lines(lang, false));
        out.join("\n")
    }

    /// For Telegram's HTML parse mode: every value escaped.
    pub fn telegram_html(&self, lang: Lang) -> String {
        let mut out = vec![format!("<b>{}</b>", escape_html(self.headline(lang)))];
        out.extend(self.lines(lang, true));
        out.join("\n")
    }
}

/// A lead as a Telegram message (HTML parse mode, every value escaped).
pub fn lead_telegram_html(lead_id: &str, lead: &Lead, lang: Lang) -> String {
    let t = lang.texts();
    let mut lines = vec![format!(
        "<b>{}</b> #{}",
        escape_html(t.new_lead),
        escape_html(lead_id)
    )];
    for (label, value) in lead_fields(lead, lang) {
        lines.push(format!(
            "<b>{}:</b> {}",
            escape_html(label),
            escape_html(&value)
        ));
    }
    lines.join("\n")
}

/// The lead's fields with their labels, in a fixed order, empty ones left out.
pub fn lead_fields(lead: &Lead, lang: Lang) -> Vec<(&'static str, String)> {
    let t = lang.texts();
    let mut out = Vec::new();
    let mut push = |label, v: &Option<String>| {
        if let Some(v) = v.as_ref().filter(|v| !v.is_empty()) {
            out.push((label, v.clone()));
        }
    };
    push(t.name, &lead.name);
    push(t.phone, &lead.phone);
    push(t.email, &lead.email);
    push(t.comment, &lead.comment);
    push(t.source, &lead.source);
    if !lead.utm.is_empty() {
        let utm = lead
            .utm
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(", ");
        out.push((t.utm, utm));
    }
    for (k, v) in &lead.fields {
        let v = match v {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        out.push((t.fields, format!("{k}: {v}")));
    }
    out
}

/// `NOTIFY_TELEGRAM_CHAT_ID`: the admins' chat that gets batch outcomes (and may press their
/// «Повторить»).
pub fn admin_chat(r: &mut crate::config::EnvReader<'_>) -> Option<String> {
    r.optional("NOTIFY_TELEGRAM_CHAT_ID")
}

/// `NOTIFY_EMAILS`: the admins who get batch outcomes by e-mail (the notification worker
/// sends to them; `zayavka doctor` checks the sandbox lets it).
pub fn notify_emails(r: &mut crate::config::EnvReader<'_>) -> Vec<String> {
    r.list("NOTIFY_EMAILS")
}
