//! Registration, one step at a time: an individual gives a full name and a phone; a company
//! employee gives the company's INN first, then the same. The Okdesk contact is found by
//! phone or created, and the chat is linked to it.
//!
//! A number someone types proves nothing: anyone who knows a client's phone could type it
//! and read that client's issues. So a chat is linked to an **existing** contact only when
//! Telegram vouches for the number — a shared contact whose `user_id` is the sender, which
//! is what the «📱 Отправить номер» button sends. A typed number (or a forwarded contact
//! card, which has no `user_id`) may only create a new contact when none has that number.
//! An existing contact is never moved into another company from the bot: an INN is public.

use frankenstein::types::Message;

use super::callback::{Callback, RegisterAs};
use super::context::{Ctx, Desk};
use super::inn::{self, InnError};
use super::keyboard::{inline, menu_keyboard, phone_keyboard};
use super::okdesk::{Contact, NewContact, OkdeskError};
use super::phone;
use super::store::{self, Link, Step};
use crate::telegram::reply::err;
use crate::telegram::webhook::BotError;
use crate::texts::{HelpdeskTexts, fill};
use crate::time::timestamp;

/// A person's name as typed: letters, at most a few words, no digits (a phone typed one
/// step early is not a name).
fn valid_name(s: &str) -> bool {
    let count = s.chars().count();
    (2..=100).contains(&count)
        && s.chars().any(char::is_alphabetic)
        && !s.chars().any(|c| c.is_ascii_digit())
        && !s.starts_with('/')
}

/// Who is registering, as far as the steps so far tell.
struct Registrant {
    name: String,
    company_id: Option<i64>,
    company_name: Option<String>,
}

/// Asks whether the user registers as an individual or for a company.
pub(super) async fn ask_kind(d: &Desk, ctx: Ctx, text: &str) -> Result<(), BotError> {
    let t = ctx.t();
    let buttons = inline(vec![
        vec![(
            t.kind_person.to_string(),
            Callback::Register(RegisterAs::Person),
        )],
        vec![(
            t.kind_company.to_string(),
            Callback::Register(RegisterAs::Company),
        )],
    ]);
    d.say(ctx, text, Some(buttons)).await
}

pub(super) async fn start(d: &Desk, ctx: Ctx) -> Result<(), BotError> {
    d.set_step(ctx, &Step::ChooseKind).await?;
    ask_kind(d, ctx, ctx.t().greeting).await
}

/// The answer to [`ask_kind`]'s buttons.
pub(super) async fn on_kind(d: &Desk, ctx: Ctx, kind: RegisterAs) -> Result<(), BotError> {
    let (step, question) = match kind {
        RegisterAs::Person => (Step::PersonName, ctx.t().ask_full_name),
        RegisterAs::Company => (Step::CompanyInn, ctx.t().ask_inn),
    };
    d.ask(ctx, &step, question).await
}

/// The full name; for a company employee the company is already known.
pub(super) async fn on_name(
    d: &Desk,
    ctx: Ctx,
    text: Option<&str>,
    company: Option<(i64, String)>,
) -> Result<(), BotError> {
    let t = ctx.t();
    let Some(name) = text.filter(|s| valid_name(s)) else {
        let step = match company {
            Some((company_id, company_name)) => Step::CompanyName {
                company_id,
                company_name,
            },
            None => Step::PersonName,
        };
        return d.ask(ctx, &step, t.bad_full_name).await;
    };
    let name = name.split_whitespace().collect::<Vec<_>>().join(" ");
    let (company_id, company_name) = company.unzip();
    let step = Step::Phone {
        name,
        company_id,
        company_name,
    };
    d.set_step(ctx, &step).await?;
    ask_phone(d, ctx, t.ask_phone).await
}

async fn ask_phone(d: &Desk, ctx: Ctx, text: &str) -> Result<(), BotError> {
    d.say(ctx, text, Some(phone_keyboard(ctx.t()))).await
}

fn inn_problem(t: &HelpdeskTexts, e: InnError) -> String {
    match e {
        InnError::NotDigits => t.inn_not_digits.to_string(),
        InnError::Length(n) => fill(t.inn_length, &[("n", &n.to_string())]),
        InnError::Checksum => t.inn_checksum.to_string(),
    }
}

/// The company's INN: checked, then looked up in Okdesk.
pub(super) async fn on_inn(d: &Desk, ctx: Ctx, text: Option<&str>) -> Result<(), BotError> {
    let t = ctx.t();
    // Every answer below keeps the conversation at this step for another day.
    d.set_step(ctx, &Step::CompanyInn).await?;
    let inn = match inn::parse(text.unwrap_or_default()) {
        Ok(inn) => inn,
        Err(e) => return d.say(ctx, &inn_problem(t, e), None).await,
    };
    let found = d
        .okdesk
        .find_company_by_inn(&inn, d.cfg.inn_parameter.as_deref())
        .await;
    match found {
        Ok(Some(company)) => {
            let company_name = company.name.unwrap_or_else(|| format!("#{}", company.id));
            let text = fill(t.company_found, &[("company", &company_name)]);
            let step = Step::CompanyName {
                company_id: company.id,
                company_name,
            };
            d.ask(ctx, &step, &text).await
        }
        Ok(None) => {
            let text = fill(t.company_not_found, &[("inn", &inn)]);
            let ways = inline(vec![
                vec![(
                    t.another_inn.to_string(),
                    Callback::Register(RegisterAs::Company),
                )],
                vec![(
                    t.kind_person.to_string(),
                    Callback::Register(RegisterAs::Person),
                )],
            ]);
            d.say(ctx, &text, Some(ways)).await
        }
        Err(e) => {
            let answer = d.okdesk_trouble(ctx, "company search", &e);
            d.say(ctx, answer, None).await
        }
    }
}

/// A number, and whether Telegram vouches that it is the sender's.
struct Number {
    text: String,
    proven: bool,
}

/// The number the message gives: a shared contact or typed text; else the question to ask
/// again.
fn number_of(ctx: Ctx, m: &Message) -> Result<Number, &'static str> {
    let t = ctx.t();
    match (&m.contact, m.text.as_deref()) {
        (Some(contact), _) => {
            if contact.user_id.is_some_and(|id| id != ctx.user_id) {
                return Err(t.not_own_contact);
            }
            // Telegram gives the international number, usually without its `+`.
            let number = contact.phone_number.trim();
            Ok(Number {
                text: if number.starts_with('+') {
                    number.to_string()
                } else {
                    format!("+{number}")
                },
                // A card without `user_id` is a forwarded or hand-made one.
                proven: contact.user_id == Some(ctx.user_id),
            })
        }
        (None, Some(text)) => Ok(Number {
            text: text.trim().to_string(),
            proven: false,
        }),
        (None, None) => Err(t.ask_phone),
    }
}

/// What registration found for a number.
enum Found {
    /// A contact made for this chat just now.
    Created(Contact),
    /// An existing contact, the number proven.
    Existing(Contact),
    /// An existing contact, the number only typed: not linked.
    NeedsProof,
}

/// The phone, shared with the button or typed; then the contact, and the link.
pub(super) async fn on_phone(
    d: &Desk,
    ctx: Ctx,
    m: &Message,
    name: String,
    company_id: Option<i64>,
    company_name: Option<String>,
) -> Result<(), BotError> {
    let who = Registrant {
        name,
        company_id,
        company_name,
    };
    let step = Step::Phone {
        name: who.name.clone(),
        company_id: who.company_id,
        company_name: who.company_name.clone(),
    };
    d.set_step(ctx, &step).await?;
    let number = match number_of(ctx, m) {
        Ok(number) => number,
        Err(question) => return ask_phone(d, ctx, question).await,
    };
    let Ok(e164) = phone::normalize(&number.text) else {
        let text = fill(ctx.t().bad_phone, &[("phone", &number.text)]);
        return ask_phone(d, ctx, &text).await;
    };
    match contact_for(d, &who, &e164, number.proven).await {
        Ok(Found::Created(contact)) => link_chat(d, ctx, who, &contact, e164).await,
        Ok(Found::Existing(contact)) => link_chat(d, ctx, who, &contact, e164).await,
        Ok(Found::NeedsProof) => {
            tracing::info!(
                chat = ctx.chat,
                "a typed number belongs to an existing contact; asked for the button"
            );
            ask_phone(d, ctx, ctx.t().prove_number).await
        }
        Err(e) => {
            let answer = d.okdesk_trouble(ctx, "contact", &e);
            ask_phone(d, ctx, answer).await
        }
    }
}

/// The Okdesk contact with this phone if the number is proven, or a new one if none has it.
async fn contact_for(
    d: &Desk,
    who: &Registrant,
    e164: &str,
    proven: bool,
) -> Result<Found, OkdeskError> {
    match d.okdesk.find_contact_by_phone(e164).await? {
        Some(found) if proven => Ok(Found::Existing(found)),
        Some(_) => Ok(Found::NeedsProof),
        None => {
            let new = NewContact::from_full_name(&who.name, e164, who.company_id);
            Ok(Found::Created(d.okdesk.create_contact(&new).await?))
        }
    }
}

/// Links the chat to the contact and says so.
/// The chat takes the contact's own company: an existing contact of another company (or of
/// none) is not moved, and its issues are filed as that contact's.
async fn link_chat(
    d: &Desk,
    ctx: Ctx,
    who: Registrant,
    contact: &Contact,
    e164: String,
) -> Result<(), BotError> {
    let t = ctx.t();
    let claimed = who.company_id;
    let company_matches = claimed.is_none() || contact.company_id == claimed;
    let (company_id, company_name) = if company_matches {
        (claimed, who.company_name.clone())
    } else {
        (contact.company_id, None)
    };
    let link = Link {
        chat_id: ctx.chat,
        contact_id: contact.id,
        company_id,
        company_name: company_name.clone(),
        name: who.name.clone(),
        phone: e164,
        lang: ctx.lang_code().to_string(),
        registered_at: timestamp(d.deps.clock.now_ms()),
    };
    store::save_link(&d.deps, &link).await.map_err(err)?;
    d.clear_step(ctx).await?;
    let mut text = fill(t.registered, &[("name", &who.name)]);
    if let Some(company) = &company_name {
        text.push('\n');
        text.push_str(&fill(t.registered_company, &[("company", company)]));
    }
    if let (false, Some(named)) = (company_matches, &who.company_name) {
        text.push('\n');
        text.push_str(&fill(t.contact_elsewhere, &[("company", named)]));
    }
    d.say(ctx, &text, Some(menu_keyboard(t))).await
}

#[cfg(test)]
mod tests {
    use super::valid_name;

    #[test]
    fn names_are_words_not_numbers() {
        assert!(valid_name("Иванов Иван Иванович"));
        assert!(valid_name("Jo"));
        assert!(!valid_name("+7 999 000 11 22"));
        assert!(!valid_name("/start"));
        assert!(!valid_name("x"));
    }
}
