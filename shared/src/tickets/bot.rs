//! The staff bot: executors take, postpone and hand over tickets with its buttons, authors
//! confirm or return them, and anyone bound creates one with «📝 Новая заявка». A chat is
//! somebody only through a binding (a link from the ticket API, or an id an administrator
//! set); a typed name or number proves nothing. Every button press is answered with
//! answerCallbackQuery, saying why when nothing happened.

use async_trait::async_trait;
use frankenstein::methods::AnswerCallbackQueryParams;
use frankenstein::types::{CallbackQuery, ChatType, MaybeInaccessibleMessage, Message};
use frankenstein::updates::UpdateContent;

use super::callback::Callback;
use super::config::TicketsConfig;
use super::model::{Ticket, User};
use super::store::{self, LinkUse, NewTicket, Replaced, Step};
use super::view::{self, Buttons, Names};
use super::workflow::{self, FlowError, MAX_DESCRIPTION, Outcome};
use crate::Deps;
use crate::keys;
use crate::notifications::{self, NotifyError, Sent};
use crate::outbound::DeliveryError;
use crate::telegram::BotApi;
use crate::telegram::reply::say;
use crate::telegram::webhook::{BotError, BotHandler, Update};
use crate::texts::{Lang, StaffTexts, fill};

pub struct StaffBot {
    deps: Deps,
    api: BotApi,
    cfg: TicketsConfig,
}

impl StaffBot {
    pub fn new(deps: Deps, api: BotApi, cfg: TicketsConfig) -> Self {
        Self { deps, api, cfg }
    }
}

impl From<FlowError> for BotError {
    fn from(e: FlowError) -> Self {
        Self {
            retryable: e.is_retryable(),
            message: e.to_string(),
        }
    }
}

/// Who is speaking, in which chat and language.
#[derive(Clone, Copy)]
struct Ctx {
    chat: i64,
    telegram_id: i64,
    lang: Lang,
}

impl Ctx {
    fn t(&self) -> &'static StaffTexts {
        self.lang.texts().staff
    }
}

fn command(text: &str) -> Option<(String, &str)> {
    let text = text.trim();
    let rest = text.strip_prefix('/')?;
    let (word, payload) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    let word = word
        .split('@')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    Some((word, payload.trim()))
}

fn is_new_ticket_label(text: &str) -> bool {
    [Lang::Ru, Lang::En]
        .iter()
        .any(|l| l.texts().staff.menu_new == text)
}

impl StaffBot {
    async fn not_bound(&self, ctx: Ctx) -> Result<(), BotError> {
        let text = fill(
            ctx.t().user_not_found,
            &[("id", &ctx.telegram_id.to_string())],
        );
        say(&self.api, ctx.chat, &text, None).await
    }

    async fn on_message(&self, m: &Message) -> Result<(), BotError> {
        let Some(from) = m.from.as_ref() else {
            return Ok(());
        };
        let ctx = Ctx {
            chat: m.chat.id,
            telegram_id: i64::try_from(from.id).unwrap_or_default(),
            lang: Lang::from_code(from.language_code.as_deref()),
        };
        let t = ctx.t();
        let text = m.text.as_deref().map(str::trim).unwrap_or_default();
        let cmd = command(text);
        if let Some(("start", payload)) = cmd.as_ref().map(|(w, p)| (w.as_str(), *p)) {
            return self
                .start(ctx, payload, from.language_code.as_deref())
                .await;
        }
        if let Some(("id", _)) = cmd.as_ref().map(|(w, p)| (w.as_str(), *p)) {
            let text = fill(t.your_id, &[("id", &ctx.telegram_id.to_string())]);
            return say(&self.api, ctx.chat, &text, None).await;
        }
        let Some(user) = store::user_by_telegram(&self.deps, ctx.telegram_id).await? else {
            return self.not_bound(ctx).await;
        };
        match cmd.as_ref().map(|(w, _)| w.as_str()) {
            Some("cancel") => {
                store::clear_step(&self.deps, ctx.chat).await?;
                return say(
                    &self.api,
                    ctx.chat,
                    t.cancelled,
                    Some(view::menu_keyboard(t)),
                )
                .await;
            }
            Some(_) => {
                return say(&self.api, ctx.chat, t.help, Some(view::menu_keyboard(t))).await;
            }
            None => {}
        }
        if is_new_ticket_label(text) {
            return self.choose_category(ctx).await;
        }
        let body = m
            .text
            .as_deref()
            .or(m.caption.as_deref())
            .map(str::trim)
            .filter(|s| !s.is_empty());
        match store::step(&self.deps, ctx.chat).await? {
            Some(Step::NewTicket { category_id }) => {
                let Some(body) = body else {
                    return say(&self.api, ctx.chat, t.text_only, None).await;
                };
                self.create(ctx, m, &user, category_id, body).await
            }
            Some(Step::ReturnComment { ticket_id }) => {
                let Some(body) = body else {
                    return say(&self.api, ctx.chat, t.text_only, None).await;
                };
                let outcome = workflow::comment(&self.deps, ticket_id, &user, body).await?;
                store::clear_step(&self.deps, ctx.chat).await?;
                let answer = match outcome {
                    Outcome::Done(_) => t.comment_sent.to_string(),
                    other => self.why_not(ctx, &other).await?,
                };
                say(&self.api, ctx.chat, &answer, Some(view::menu_keyboard(t))).await
            }
            None => say(&self.api, ctx.chat, t.help, Some(view::menu_keyboard(t))).await,
        }
    }

    /// `/start` with a binding token binds the account; without one it greets a bound user
    /// and tells anybody else how to get bound (with their Telegram id).
    async fn start(&self, ctx: Ctx, payload: &str, code: Option<&str>) -> Result<(), BotError> {
        let t = ctx.t();
        if payload.is_empty() {
            return match store::user_by_telegram(&self.deps, ctx.telegram_id).await? {
                Some(u) => {
                    let text = fill(t.welcome, &[("name", &u.name)]);
                    say(&self.api, ctx.chat, &text, Some(view::menu_keyboard(t))).await
                }
                None => self.not_bound(ctx).await,
            };
        }
        let text = match store::use_link(&self.deps, payload, ctx.telegram_id, code).await? {
            LinkUse::Bound { user, replaced } => {
                if let Some(old) = replaced {
                    self.tell_replaced(payload, &user, &old).await?;
                }
                let text = fill(t.start_bound, &[("name", &user.name)]);
                return say(&self.api, ctx.chat, &text, Some(view::menu_keyboard(t))).await;
            }
            LinkUse::Unknown => t.link_unknown,
            LinkUse::Expired => t.link_expired,
            LinkUse::Used => t.link_used,
            LinkUse::TakenByOther => t.link_taken,
            LinkUse::AlreadyBound => t.link_already_bound,
        };
        say(&self.api, ctx.chat, text, None).await
    }

    /// Tells the account a rebind link unbound, in its own language, once per link: the
    /// send is claimed, and a redelivered /start (the binding is stored first) finds it, or
    /// makes it when it failed.
    async fn tell_replaced(&self, token: &str, u: &User, old: &Replaced) -> Result<(), BotError> {
        let t = Lang::from_code(old.language_code.as_deref()).texts().staff;
        let text = fill(t.link_rebound, &[("name", &u.name)]);
        let key = keys::notification(
            &format!("staff#link#{token}"),
            &format!("replaced#{}", old.telegram_id),
        );
        let sent = notifications::once(&self.deps, key, || async {
            self.api
                .send_text(old.telegram_id, &text, None)
                .await
                .map(|m| m.message_id.to_string())
                .map_err(DeliveryError::from)
        })
        .await;
        match sent {
            Ok(Sent::Done) => Ok(()),
            // Blocked the bot, or gone: it can hear nothing more from us.
            Ok(Sent::Refused(why)) => {
                tracing::warn!(user = u.id, error = %why, "the unbound account could not be told");
                Ok(())
            }
            Err(NotifyError::Retry(why)) => Err(BotError::retryable(why)),
            Err(NotifyError::Store(e)) => Err(e.into()),
        }
    }

    async fn choose_category(&self, ctx: Ctx) -> Result<(), BotError> {
        let t = ctx.t();
        let cats: Vec<(i64, String)> = store::categories(&self.deps)
            .await?
            .into_iter()
            .map(|c| (c.id, c.name))
            .collect();
        if cats.is_empty() {
            return say(&self.api, ctx.chat, t.no_categories, None).await;
        }
        say(
            &self.api,
            ctx.chat,
            t.choose_category,
            Some(view::categories_keyboard(&cats)),
        )
        .await
    }

    async fn create(
        &self,
        ctx: Ctx,
        m: &Message,
        user: &User,
        category_id: i64,
        body: &str,
    ) -> Result<(), BotError> {
        let t = ctx.t();
        let description: String = body.chars().take(MAX_DESCRIPTION).collect();
        let new = NewTicket {
            category_id,
            author_user_id: user.id,
            title: crate::title::derive(&description),
            description,
        };
        // The message names the ticket: a redelivered update finds the one it made.
        let origin = format!("tg#{}#{}", ctx.chat, m.message_id);
        let (ticket, _) = workflow::create(&self.deps, &self.cfg, new, Some(&origin), true).await?;
        store::clear_step(&self.deps, ctx.chat).await?;
        let text = fill(
            t.ticket_created,
            &[("id", &ticket.id.to_string()), ("title", &ticket.title)],
        );
        say(&self.api, ctx.chat, &text, Some(view::menu_keyboard(t))).await
    }

    /// The short answer to a press that did nothing.
    async fn why_not(&self, ctx: Ctx, o: &Outcome) -> Result<String, BotError> {
        let t = ctx.t();
        Ok(match o {
            Outcome::Done(_) => String::new(),
            Outcome::NotFound => t.not_found_ticket.into(),
            Outcome::Denied => t.no_rights.into(),
            Outcome::NotAuthor => t.only_author.into(),
            Outcome::Full(n) => fill(t.full, &[("n", &n.to_string())]),
            Outcome::Stale(ticket) => {
                let holder = match ticket.assignee_user_id {
                    Some(id) => match store::user(&self.deps, id).await? {
                        Some(u) => fill(t.stale_holder, &[("name", &u.name)]),
                        None => String::new(),
                    },
                    None => String::new(),
                };
                fill(
                    t.stale,
                    &[
                        ("id", &ticket.id.to_string()),
                        ("status", view::status_name(t, ticket.status)),
                        ("holder", &holder),
                    ],
                )
            }
        })
    }

    async fn card(&self, t: &StaffTexts, ticket: &Ticket) -> Result<String, BotError> {
        let category = store::category(&self.deps, ticket.category_id)
            .await?
            .map(|c| c.name)
            .unwrap_or_default();
        let author = store::user(&self.deps, ticket.author_user_id)
            .await?
            .map(|u| u.name)
            .unwrap_or_default();
        let assignee = match ticket.assignee_user_id {
            Some(id) => store::user(&self.deps, id).await?.map(|u| u.name),
            None => None,
        };
        Ok(view::card(
            t,
            ticket,
            &Names {
                category: &category,
                author: &author,
                assignee: assignee.as_deref(),
            },
        ))
    }

    /// Replaces the pressed message; a failure here changes nothing that matters (the step
    /// is stored and announced), so it is logged.
    async fn show(&self, ctx: Ctx, message_id: Option<i64>, text: &str, b: Option<(i64, Buttons)>) {
        let t = ctx.t();
        let markup = b.map(|(id, b)| view::buttons(t, id, b));
        let result = match message_id {
            Some(mid) => view::edit(&self.api, ctx.chat, mid, text, markup).await,
            None => self
                .api
                .send_text(ctx.chat, text, markup.map(view::inline))
                .await
                .map(|_| ()),
        };
        if let Err(e) = result {
            tracing::warn!(error = %e, "the pressed message was not updated");
        }
    }

    async fn answer(&self, q: &CallbackQuery, text: &str) {
        let params = AnswerCallbackQueryParams::builder()
            .callback_query_id(q.id.clone())
            .maybe_text((!text.is_empty()).then(|| text.chars().take(200).collect::<String>()))
            .build();
        if let Err(e) = self.api.answer_callback_query(&params).await {
            tracing::warn!(error = %e, "callback query not answered");
        }
    }

    async fn on_callback(&self, q: &CallbackQuery) -> Result<(), BotError> {
        let (chat, message_id) = match &q.message {
            Some(MaybeInaccessibleMessage::Message(m)) => {
                if m.chat.type_field != ChatType::Private {
                    self.answer(q, "").await;
                    return Ok(());
                }
                (m.chat.id, Some(i64::from(m.message_id)))
            }
            _ => (i64::try_from(q.from.id).unwrap_or_default(), None),
        };
        let ctx = Ctx {
            chat,
            telegram_id: i64::try_from(q.from.id).unwrap_or_default(),
            lang: Lang::from_code(q.from.language_code.as_deref()),
        };
        match self.press(ctx, q, message_id).await {
            Ok(answer) => {
                self.answer(q, &answer).await;
                Ok(())
            }
            // Telegram delivers the press again, and that handling answers it (a query is
            // answered once; an empty answer now would take the place of the real one).
            Err(e) if e.retryable => Err(e),
            Err(e) => {
                self.answer(q, "").await;
                Err(e)
            }
        }
    }

    /// What a press does; the text of its answer.
    async fn press(
        &self,
        ctx: Ctx,
        q: &CallbackQuery,
        message_id: Option<i64>,
    ) -> Result<String, BotError> {
        let t = ctx.t();
        let Some(callback) = q.data.as_deref().and_then(Callback::parse) else {
            return Ok(String::new());
        };
        let Some(user) = store::user_by_telegram(&self.deps, ctx.telegram_id).await? else {
            self.not_bound(ctx).await?;
            return Ok(t.user_not_found.lines().next().unwrap_or_default().into());
        };
        let d = &self.deps;
        let outcome = match callback {
            Callback::Take(id) => workflow::take(d, id, &user).await?,
            Callback::Postpone(id, how) => workflow::postpone(d, &self.cfg, id, &user, how).await?,
            Callback::Resume(id) => workflow::resume(d, id, &user).await?,
            Callback::ToConfirmation(id) => workflow::to_confirmation(d, id, &user).await?,
            Callback::Confirm(id) => workflow::confirm(d, id, &user).await?,
            Callback::Return(id) => workflow::send_back(d, id, &user).await?,
            Callback::Details(id) => return self.details(ctx, id, &user).await,
            Callback::PostponeMenu(id) => {
                return self.postpone_menu(ctx, id, &user, message_id).await;
            }
            Callback::NoComment(id) => {
                if store::step(d, ctx.chat).await? == Some(Step::ReturnComment { ticket_id: id }) {
                    store::clear_step(d, ctx.chat).await?;
                }
                let text = fill(t.returned, &[("id", &id.to_string())]);
                let first = text.lines().next().unwrap_or_default().to_string();
                self.show(ctx, message_id, &first, None).await;
                return Ok(t.ok.into());
            }
            Callback::Category(id) => {
                let Some(c) = store::category(d, id).await? else {
                    return Ok(t.no_categories.into());
                };
                store::set_step(d, ctx.chat, Step::NewTicket { category_id: id }).await?;
                let text = fill(t.ask_ticket_text, &[("category", &c.name)]);
                self.show(ctx, message_id, &text, None).await;
                return Ok(String::new());
            }
        };
        let Outcome::Done(ticket) = outcome else {
            return self.why_not(ctx, &outcome).await;
        };
        let id = ticket.id.to_string();
        let answer = match callback {
            Callback::Take(_) => {
                let card = self.card(t, &ticket).await?;
                self.show(ctx, message_id, &card, Some((ticket.id, Buttons::Work)))
                    .await;
                fill(t.you_took, &[("id", &id)])
            }
            Callback::Postpone(..) => {
                let until = ticket
                    .postponed_until
                    .map(|ms| self.cfg.local_time(ms))
                    .unwrap_or_default();
                let text = fill(t.postponed_until, &[("id", &id), ("until", &until)]);
                self.show(ctx, message_id, &text, Some((ticket.id, Buttons::Resume)))
                    .await;
                text
            }
            Callback::Resume(_) => {
                let card = self.card(t, &ticket).await?;
                self.show(ctx, message_id, &card, Some((ticket.id, Buttons::Work)))
                    .await;
                fill(t.resumed, &[("id", &id)])
            }
            Callback::ToConfirmation(_) => {
                let text = fill(t.sent_for_confirmation, &[("id", &id)]);
                self.show(ctx, message_id, &text, None).await;
                text
            }
            Callback::Confirm(_) => {
                let text = fill(t.confirmed, &[("id", &id)]);
                self.show(ctx, message_id, &text, None).await;
                text
            }
            Callback::Return(_) => {
                store::set_step(
                    d,
                    ctx.chat,
                    Step::ReturnComment {
                        ticket_id: ticket.id,
                    },
                )
                .await?;
                let text = fill(t.returned, &[("id", &id)]);
                self.show(
                    ctx,
                    message_id,
                    &text,
                    Some((ticket.id, Buttons::NoComment)),
                )
                .await;
                t.ok.into()
            }
            _ => String::new(),
        };
        Ok(answer)
    }

    async fn details(&self, ctx: Ctx, id: i64, user: &User) -> Result<String, BotError> {
        let t = ctx.t();
        let Some(ticket) = store::ticket(&self.deps, id).await? else {
            return Ok(t.not_found_ticket.into());
        };
        if !workflow::may_see(&self.deps, &ticket, user).await? {
            return Ok(t.no_rights.into());
        }
        let card = self.card(t, &ticket).await?;
        say(&self.api, ctx.chat, &card, None).await?;
        Ok(String::new())
    }

    async fn postpone_menu(
        &self,
        ctx: Ctx,
        id: i64,
        user: &User,
        message_id: Option<i64>,
    ) -> Result<String, BotError> {
        let t = ctx.t();
        let Some(ticket) = store::ticket(&self.deps, id).await? else {
            return Ok(t.not_found_ticket.into());
        };
        if !workflow::holds(&self.deps, &ticket, user).await? {
            return Ok(t.no_rights.into());
        }
        if ticket.status != super::model::Status::InWork {
            return self.why_not(ctx, &Outcome::Stale(ticket)).await;
        }
        let text = fill(t.choose_postpone, &[("id", &id.to_string())]);
        self.show(ctx, message_id, &text, Some((id, Buttons::PostponeChoice)))
            .await;
        Ok(String::new())
    }
}

#[async_trait]
impl BotHandler for StaffBot {
    async fn handle(&self, update: Update) -> Result<(), BotError> {
        match update.content {
            // Staff work in private chats; groups the bot is added to are not listened to.
            UpdateContent::Message(m) if m.chat.type_field == ChatType::Private => {
                self.on_message(&m).await
            }
            UpdateContent::CallbackQuery(q) => self.on_callback(&q).await,
            _ => Ok(()),
        }
    }
}
