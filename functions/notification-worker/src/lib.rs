//! notification-worker: tells the admins how a lead's batch ended, by e-mail (SES) and/or
//! Telegram, per outcome as `NOTIFY_ON` says; a batch that could not be dispatched at all is
//! always reported. Tells helpdesk clients, through the main bot, about their Okdesk issues'
//! status changes and staff comments; executors, authors and managers of internal tickets,
//! through the staff bot. Each channel is sent once per notification even when
//! the message arrives twice.

use async_trait::async_trait;
use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use zayavka::Deps;
use zayavka::bridge::config::BridgeConfig;
use zayavka::bridge::notices::BridgeNotice;
use zayavka::config::{ConfigError, EnvReader, EnvSource};
use zayavka::helpdesk::config::OkdeskConfig;
use zayavka::helpdesk::events::Notice;
use zayavka::helpdesk::okdesk::Okdesk;
use zayavka::integrations::telegram::send_html_with;
use zayavka::keys;
use zayavka::leads::notify::Notification;
use zayavka::mail_events::{MailEvent, SUPPORT_REPLY, TAG as MAIL_TAG};
use zayavka::notifications::{self, NotificationMessage, NotifyError, Sent};
use zayavka::outbound::DeliveryError;
use zayavka::ports::Email;
use zayavka::ports::table::Key;
use zayavka::secret::Secret;
use zayavka::sqs_batch::{QueueMessage, QueueWorker, run_batch};
use zayavka::support::bot::admin_text;
use zayavka::support::config::SupportBotConfig;
use zayavka::support::notices::{SupportAction, SupportNotice, reply_email, visitor_lang};
use zayavka::support::store as support_store;
use zayavka::support::{SupportMessage, Thread};
use zayavka::telegram::BotApi;
use zayavka::texts::{Lang, fill};
use zayavka::tickets::config::TicketsConfig;
use zayavka::tickets::notices::TicketNotice;

pub const NAME: &str = "notification-worker";

#[derive(Debug, Clone)]
pub struct Config {
    pub emails: Vec<String>,
    pub mail_from: Option<String>,
    pub telegram_chat_id: Option<String>,
    pub telegram_bot_token: Option<Secret>,
    pub telegram_api_base: String,
    pub notify_on: Vec<String>,
    pub lang: Lang,
    /// `TELEGRAM_MAIN_BOT_TOKEN`: the bot helpdesk clients talk to.
    pub main_bot_token: Option<Secret>,
    /// Okdesk, for helpdesk notices (issue links, and the client of an issue a webhook did
    /// not name).
    pub okdesk: Option<OkdeskConfig>,
    /// The support bot, for support messages the form could not pass on at once and for
    /// replies by e-mail.
    pub support: Option<SupportBotConfig>,
    /// The executor workflow and its staff bot, for ticket notices.
    pub tickets: TicketsConfig,
    /// The chat bridge and its bot, for the system's replies.
    pub bridge: Option<BridgeConfig>,
    /// How long a lead replayed from a notice's «Повторить» may take before the sweeper
    /// looks at it (`RETRY_SCHEDULE` and `STUCK_GRACE`, as lead-submit reads them).
    pub patience_ms: i64,
}

impl Config {
    pub fn read(env: &dyn EnvSource) -> Result<Self, ConfigError> {
        let mut r = EnvReader::new(env);
        let emails = zayavka::leads::notify::notify_emails(&mut r);
        let own = zayavka::credentials::Credentials::read(&mut r);
        let mail_from = own.mail_from;
        if !emails.is_empty() && mail_from.is_none() {
            r.problem("MAIL_FROM is not set, but NOTIFY_EMAILS needs a sender");
        }
        let telegram_chat_id = zayavka::leads::notify::admin_chat(&mut r);
        let telegram_bot_token = own.telegram_bot_token;
        if telegram_chat_id.is_some() && telegram_bot_token.is_none() {
            r.problem("TELEGRAM_BOT_TOKEN is not set, but NOTIFY_TELEGRAM_CHAT_ID needs a bot");
        }
        let mut notify_on = r.list("NOTIFY_ON");
        if notify_on.is_empty() {
            notify_on = vec!["completed".into(), "partial".into(), "failed".into()];
        }
        for s in &notify_on {
            if !["completed", "partial", "failed"].contains(&s.as_str()) {
                r.problem(format!(
                    "NOTIFY_ON: {s:?} is not one of completed, partial, failed"
                ));
            }
        }
        let lang = Lang::from_code(r.optional("NOTIFY_LANGUAGE").as_deref());
        let telegram_api_base = zayavka::telegram::config::api_base(&mut r);
        let main_bot_token = r.optional("TELEGRAM_MAIN_BOT_TOKEN").map(Secret);
        let support = SupportBotConfig::read_if_configured(&mut r);
        let okdesk = OkdeskConfig::read(&mut r);
        let tickets = TicketsConfig::read(&mut r);
        let bridge = BridgeConfig::read_if_configured(&mut r);
        let schedule = zayavka::leads::retry::RetrySchedule::read(&mut r);
        let patience_ms = zayavka::leads::request::patience_ms(&mut r, &schedule);
        if okdesk.is_some() && main_bot_token.is_none() {
            // Not fatal: the admins' notifications must keep working; helpdesk notices wait
            // in the queue (and then its dead-letter queue, with an alarm) until it is set.
            tracing::warn!(
                "TELEGRAM_MAIN_BOT_TOKEN is not set, but OKDESK_API_URL is: clients cannot be told about their issues"
            );
        }
        r.finish()?;
        Ok(Self {
            emails,
            mail_from,
            telegram_chat_id,
            telegram_bot_token,
            telegram_api_base,
            notify_on,
            lang,
            main_bot_token,
            okdesk,
            support,
            tickets,
            bridge,
            patience_ms,
        })
    }
}

/// What helpdesk notices need: the main bot and Okdesk.
struct Helpdesk {
    bot: BotApi,
    okdesk: Okdesk,
    cfg: OkdeskConfig,
}

pub struct NotificationWorker {
    deps: Deps,
    cfg: Config,
    http: reqwest::Client,
    helpdesk: Option<Helpdesk>,
    support: Option<BotApi>,
    staff: Option<BotApi>,
    bridge: Option<BotApi>,
}

impl NotificationWorker {
    pub fn new(deps: Deps, cfg: Config) -> Result<Self, ConfigError> {
        let http = zayavka::outbound::client(std::time::Duration::from_secs(10))?;
        let bot = |token: &str| {
            BotApi::new(http.clone(), &cfg.telegram_api_base, token)
                .with_metrics(deps.metrics.clone())
        };
        let helpdesk = match (&cfg.main_bot_token, &cfg.okdesk) {
            (Some(token), Some(okdesk)) => Some(Helpdesk {
                bot: BotApi::new(http.clone(), &cfg.telegram_api_base, token.expose())
                    .with_metrics(deps.metrics.clone()),
                okdesk: okdesk.client_with(http.clone()),
                cfg: okdesk.clone(),
            }),
            _ => None,
        };
        let support = cfg.support.as_ref().map(|s| bot(s.token.expose()));
        let staff = cfg
            .tickets
            .bot_token
            .as_ref()
            .map(|token| bot(token.expose()));
        let bridge = cfg.bridge.as_ref().map(|b| bot(b.bot_token.expose()));
        Ok(Self {
            deps,
            cfg,
            http,
            helpdesk,
            support,
            staff,
            bridge,
        })
    }

    /// What an admin notification is claimed under: its batch and what happened.
    fn admin_subject(note: &Notification) -> String {
        let kind = match note {
            Notification::BatchFinished { .. } => "finished",
            Notification::DispatchFailed { .. } => "dispatch_failed",
            Notification::Reconciled { .. } => "reconciled",
            Notification::ReplayAsked { .. } => "replay",
            Notification::TargetDown { .. } => "down",
            Notification::TargetBack { .. } => "back",
        };
        format!("{}#{kind}", note.subject_id())
    }

    /// Sends on one channel unless it was sent before (see [`notifications::once`]).
    async fn once<F, Fut>(&self, key: Key, send: F) -> Result<Sent, NotifyError>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<String, DeliveryError>>,
    {
        notifications::once(&self.deps, key, send).await
    }

    /// The support bot and its settings, or why the notice must wait.
    fn support_bot(&self, what: &str) -> Result<(&BotApi, &SupportBotConfig), NotifyError> {
        match (&self.support, &self.cfg.support) {
            (Some(api), Some(s)) => Ok((api, s)),
            _ => Err(NotifyError::Retry(format!(
                "{what}, but TELEGRAM_SUPPORT_BOT_TOKEN is not set"
            ))),
        }
    }

    /// A note to the admins' chat, once under `key`.
    async fn note_admins(&self, key: Key, text: &str) -> Result<(), NotifyError> {
        let (api, s) = self.support_bot("a note to the admins")?;
        self.once(key, || async {
            api.send_text(s.relay.admin_chat_id, text, None)
                .await
                .map(|m| m.message_id.to_string())
                .map_err(DeliveryError::from)
        })
        .await?;
        Ok(())
    }

    /// What SES published about one of our e-mails: a reply to a visitor that bounced is
    /// told to the admins, once however often SNS delivers it.
    async fn mail_event(&self, event: MailEvent) -> Result<(), NotifyError> {
        if !event.failed() || !event.tagged(SUPPORT_REPLY) {
            tracing::info!(event = %event.event_type, message_id = %event.mail.message_id, "mail event with nobody to tell");
            return Ok(());
        }
        let (_, s) = self.support_bot("a bounced support reply")?;
        let (who, why) = event.who_and_why();
        tracing::warn!(message_id = %event.mail.message_id, reason = %why, "a support reply by e-mail bounced");
        let note = fill(
            s.relay.admin_lang.texts().support_reply_bounced,
            &[("email", &who), ("error", &why)],
        );
        let key = keys::notification(&format!("mail#{}", event.mail.message_id), "note");
        self.note_admins(key, &note).await
    }

    /// A support delivery: a site message to the admins, or a reply by e-mail.
    async fn support_notice(&self, notice: SupportNotice) -> Result<(), NotifyError> {
        self.support_bot("a support notice")?;
        let Some((thread, msg)) = notice.load(&self.deps).await? else {
            tracing::warn!(id = %notice.id, "support message gone; notice dropped");
            return Ok(());
        };
        match notice.action {
            SupportAction::ToAdmins => self.to_admins(&notice, &thread, msg).await,
            SupportAction::ReplyByEmail => self.reply_by_email(&notice, &thread, &msg).await,
        }
    }

    /// A site message the form could not show the admins at once.
    async fn to_admins(
        &self,
        notice: &SupportNotice,
        thread: &Thread,
        mut msg: SupportMessage,
    ) -> Result<(), NotifyError> {
        if msg.admin_message_id.is_some() {
            return Ok(());
        }
        let (api, s) = self.support_bot("a support notice")?;
        let html = admin_text(s.relay.admin_lang.texts(), thread, &msg);
        let key = keys::notification(&notice.subject(), "telegram");
        self.once(key, || async {
            let sent = api
                .send_html(s.relay.admin_chat_id, &html)
                .await
                .map_err(DeliveryError::from)?;
            let id = i64::from(sent.message_id);
            if let Err(e) = support_store::set_message_admin_id(&self.deps, &mut msg, id).await {
                // Sent: sending again would tell the admins twice.
                tracing::error!(error = %e, "admin message sent but not linked to its thread");
            }
            Ok(id.to_string())
        })
        .await?;
        Ok(())
    }

    /// An admin's reply, to the e-mail a visitor without Telegram gave; then the admins
    /// hear how that went.
    async fn reply_by_email(
        &self,
        notice: &SupportNotice,
        thread: &Thread,
        msg: &SupportMessage,
    ) -> Result<(), NotifyError> {
        let (_, s) = self.support_bot("a reply by e-mail")?;
        let (Some(to), Some(from)) = (&thread.email, &self.cfg.mail_from) else {
            return Err(NotifyError::Retry(
                "a reply by e-mail, but MAIL_FROM is not set".into(),
            ));
        };
        let link = match &s.username {
            Some(u) => Some(format!(
                "https://t.me/{u}?start={}",
                support_store::new_binding_token(&self.deps, &thread.user_key).await?
            )),
            None => None,
        };
        let (subject, text) = reply_email(visitor_lang(thread).texts(), &msg.text, link.as_deref());
        let email = Email {
            // Its bounce comes back through SES event publishing, and the tag says whose.
            tags: vec![(MAIL_TAG.to_string(), SUPPORT_REPLY.to_string())],
            from: from.clone(),
            to: vec![to.clone()],
            subject,
            text,
            html: None,
        };
        let claim = keys::notification(&notice.subject(), "email");
        let sent = self
            .once(claim, || async {
                self.deps
                    .mailer
                    .send(&email)
                    .await
                    .map_err(DeliveryError::from)
            })
            .await?;
        let admin_t = s.relay.admin_lang.texts();
        let note = match sent {
            Sent::Done => fill(admin_t.support_reply_emailed, &[("email", to)]),
            Sent::Refused(why) => fill(
                admin_t.support_reply_email_failed,
                &[("email", to), ("error", &why)],
            ),
        };
        self.note_admins(keys::notification(&notice.subject(), "note"), &note)
            .await
    }

    /// A helpdesk client's notice: to every chat linked to the issue's client contact.
    async fn client_notice(&self, notice: Notice) -> Result<(), NotifyError> {
        let Some(h) = &self.helpdesk else {
            // Kept (and, after its retries, dead-lettered with an alarm) rather than lost.
            return Err(NotifyError::Retry(
                "a helpdesk notice, but TELEGRAM_MAIN_BOT_TOKEN or OKDESK_API_URL is not set"
                    .into(),
            ));
        };
        let chats =
            zayavka::helpdesk::notify::recipients(&self.deps, Some(&h.okdesk), &notice.event)
                .await
                .map_err(|e| {
                    tracing::warn!(error = %e, issue = notice.event.issue_id(), "recipients of a helpdesk notice not known yet");
                    NotifyError::Retry(e.to_string())
                })?;
        let url = h.cfg.issue_url(notice.event.issue_id());
        for link in chats {
            let html = notice
                .event
                .telegram_html(Lang::from_code(Some(&link.lang)), &url);
            let key = keys::notification(&notice.key, &format!("tg#{}", link.chat_id));
            self.once(key, || async {
                h.bot
                    .send_html(link.chat_id, &html)
                    .await
                    .map(|m| m.message_id.to_string())
                    .map_err(DeliveryError::from)
            })
            .await?;
        }
        Ok(())
    }

    /// A step of an internal ticket, through the staff bot.
    async fn ticket_notice(&self, notice: TicketNotice) -> Result<(), NotifyError> {
        let Some(api) = &self.staff else {
            // Kept (and, after its retries, dead-lettered with an alarm) rather than lost.
            return Err(NotifyError::Retry(
                "a ticket notice, but TELEGRAM_STAFF_BOT_TOKEN is not set".into(),
            ));
        };
        zayavka::tickets::notices::deliver(&self.deps, api, &self.cfg.tickets, &notice).await
    }

    /// The chat bridge's message to a user, through the bridge bot.
    async fn bridge_notice(&self, notice: BridgeNotice) -> Result<(), NotifyError> {
        let (Some(api), Some(cfg)) = (&self.bridge, &self.cfg.bridge) else {
            return Err(NotifyError::Retry(
                "a bridge notice, but TELEGRAM_BRIDGE_BOT_TOKEN is not set".into(),
            ));
        };
        zayavka::bridge::notices::deliver(&self.deps, api, cfg, &notice).await
    }

    async fn one(&self, msg: QueueMessage) -> Result<(), NotifyError> {
        match notifications::QUEUE.decode(&msg.body) {
            Ok(NotificationMessage::Helpdesk(notice)) => self.client_notice(notice).await,
            Ok(NotificationMessage::Lead(note)) => self.admin_notice(note).await,
            Ok(NotificationMessage::Support(notice)) => self.support_notice(notice).await,
            Ok(NotificationMessage::Mail(event)) => self.mail_event(event).await,
            Ok(NotificationMessage::Ticket(notice)) => self.ticket_notice(notice).await,
            Ok(NotificationMessage::Bridge(notice)) => self.bridge_notice(notice).await,
            Err(e) => {
                // Retrying cannot make it readable.
                tracing::error!(error = %e, "message is not a notification; dropped");
                Ok(())
            }
        }
    }

    /// How a lead's batch ended: to the admins, by e-mail and Telegram as configured.
    /// «Повторить» pressed on a failure notice: the lead replayed, and what came of it told
    /// in the admins' chat, once.
    async fn replay_asked(&self, note: &Notification) -> Result<(), NotifyError> {
        let Notification::ReplayAsked {
            lead_id, by, lang, ..
        } = note
        else {
            return Ok(());
        };
        let (Some(chat), Some(token)) = (&self.cfg.telegram_chat_id, &self.cfg.telegram_bot_token)
        else {
            return Ok(());
        };
        let key = keys::notification(&Self::admin_subject(note), "telegram");
        let lang = Lang::from_code(Some(lang));
        self.once(key, || async {
            let said = zayavka::leads::press::replay_asked(
                &self.deps,
                lead_id,
                by,
                lang,
                self.cfg.patience_ms,
            )
            .await;
            let html = zayavka::texts::escape_html(&said);
            let base = (self.cfg.telegram_api_base.as_str(), token.expose());
            send_html_with(&self.http, base, chat, &html, None, &self.deps.metrics).await
        })
        .await?;
        Ok(())
    }

    async fn admin_notice(&self, note: Notification) -> Result<(), NotifyError> {
        if matches!(note, Notification::ReplayAsked { .. }) {
            return self.replay_asked(&note).await;
        }
        if let Some(switch) = note.switch()
            && !self.cfg.notify_on.iter().any(|s| s == switch)
        {
            return Ok(());
        }
        let lang = self.cfg.lang;
        if let (Some(from), false) = (&self.cfg.mail_from, self.cfg.emails.is_empty()) {
            self.once(
                keys::notification(&Self::admin_subject(&note), "email"),
                || async {
                    self.deps
                        .mailer
                        .send(&Email {
                            tags: Vec::new(),
                            from: from.clone(),
                            to: self.cfg.emails.clone(),
                            subject: note.subject(lang),
                            text: note.text(lang),
                            html: None,
                        })
                        .await
                        .map_err(DeliveryError::from)
                },
            )
            .await?;
        }
        if let (Some(chat), Some(token)) =
            (&self.cfg.telegram_chat_id, &self.cfg.telegram_bot_token)
        {
            let html = note.telegram_html(lang);
            // A failure can be sent again from the notice itself.
            let buttons = match &note {
                Notification::BatchFinished {
                    lead_id, failed, ..
                } if !failed.is_empty() => zayavka::leads::press::button(lead_id, lang),
                _ => None,
            };
            self.once(
                keys::notification(&Self::admin_subject(&note), "telegram"),
                || {
                    send_html_with(
                        &self.http,
                        (&self.cfg.telegram_api_base, token.expose()),
                        chat,
                        &html,
                        buttons,
                        &self.deps.metrics,
                    )
                },
            )
            .await?;
        }
        Ok(())
    }
}

#[async_trait]
impl QueueWorker for NotificationWorker {
    fn name(&self) -> &'static str {
        NAME
    }

    fn queues(&self) -> Vec<String> {
        vec![notifications::QUEUE.name.to_string()]
    }

    async fn handle(&self, event: SqsEvent) -> SqsBatchResponse {
        run_batch(event, 2, |msg| self.one(msg)).await
    }
}

/// The one constructor, shared by `main.rs` and `zayavka serve`.
pub fn from_env(
    w: &zayavka::deps::Wiring<'_>,
) -> Result<NotificationWorker, zayavka::config::ConfigError> {
    NotificationWorker::new(w.deps.clone(), Config::read(w.env)?)
}
