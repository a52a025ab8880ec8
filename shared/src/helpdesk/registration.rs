//! Registration, one step at a time: an individual gives a full name and a phone; a company
//! employee gives the company's INN first, then the same. The Okdesk contact is found by
//! phone or created, and the chat is linked to it.

use frankenstein::types::{KeyboardButton, Message, ReplyKeyboardMarkup, ReplyMarkup};

use super::bot::{Ctx, HelpdeskBot, err, inline, menu_keyboard};
use super::inn::{self, InnError};
use super::okdesk::NewContact;
use super::phone;
use super::store::{self, Link, Step};
use crate::telegram::webhook::BotError;
use crate::texts::fill;
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

impl HelpdeskBot {
    pub(super) async fn ask_kind(&self, ctx: Ctx, text: &str) -> Result<(), BotError> {
        let t = ctx.t();
        let buttons = inline(vec![
            vec![(t.kind_person.to_string(), "reg:p".to_string())],
            vec![(t.kind_company.to_string(), "reg:c".to_string())],
        ]);
        self.say(ctx, text, Some(buttons)).await
    }

    pub(super) async fn start_registration(&self, ctx: Ctx) -> Result<(), BotError> {
        self.set_step(ctx, &Step::ChooseKind).await?;
        self.ask_kind(ctx, ctx.t().greeting).await
    }

    /// The full name; for a company employee the company is already known.
    pub(super) async fn on_name(
        &self,
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
            self.set_step(ctx, &step).await?;
            return self.say(ctx, t.bad_full_name, None).await;
        };
        let name = name.split_whitespace().collect::<Vec<_>>().join(" ");
        let (company_id, company_name) = company.unzip();
        self.set_step(
            ctx,
            &Step::Phone {
                name,
                company_id,
                company_name,
            },
        )
        .await?;
        self.ask_phone(ctx, t.ask_phone).await
    }

    async fn ask_phone(&self, ctx: Ctx, text: &str) -> Result<(), BotError> {
        let t = ctx.t();
        let keyboard = ReplyMarkup::ReplyKeyboardMarkup(
            ReplyKeyboardMarkup::builder()
                .keyboard(vec![vec![
                    KeyboardButton::builder()
                        .text(t.share_phone)
                        .request_contact(true)
                        .build(),
                ]])
                .resize_keyboard(true)
                .one_time_keyboard(true)
                .build(),
        );
        self.say(ctx, text, Some(keyboard)).await
    }

    pub(super) async fn on_inn(&self, ctx: Ctx, text: Option<&str>) -> Result<(), BotError> {
        let t = ctx.t();
        // Every answer below keeps the conversation at this step for another day.
        self.set_step(ctx, &Step::CompanyInn).await?;
        let inn = match inn::parse(text.unwrap_or_default()) {
            Ok(inn) => inn,
            Err(e) => {
                let answer = match e {
                    InnError::NotDigits => t.inn_not_digits.to_string(),
                    InnError::Length(n) => fill(t.inn_length, &[("n", &n.to_string())]),
                    InnError::Checksum => t.inn_checksum.to_string(),
                };
                return self.say(ctx, &answer, None).await;
            }
        };
        let found = self
            .okdesk
            .find_company_by_inn(&inn, self.cfg.inn_parameter.as_deref())
            .await;
        match found {
            Ok(Some(company)) => {
                let company_name = company.name.unwrap_or_else(|| format!("#{}", company.id));
                self.set_step(
                    ctx,
                    &Step::CompanyName {
                        company_id: company.id,
                        company_name: company_name.clone(),
                    },
                )
                .await?;
                let text = fill(t.company_found, &[("company", &company_name)]);
                self.say(ctx, &text, None).await
            }
            Ok(None) => {
                let text = fill(t.company_not_found, &[("inn", &inn)]);
                let ways = inline(vec![
                    vec![(t.another_inn.to_string(), "reg:c".to_string())],
                    vec![(t.kind_person.to_string(), "reg:p".to_string())],
                ]);
                self.say(ctx, &text, Some(ways)).await
            }
            Err(e) => {
                let answer = self.okdesk_trouble(ctx, "company search", &e);
                self.say(ctx, answer, None).await
            }
        }
    }

    /// The phone, shared with the button or typed; then the contact, and the link.
    pub(super) async fn on_phone(
        &self,
        ctx: Ctx,
        m: &Message,
        name: String,
        company_id: Option<i64>,
        company_name: Option<String>,
    ) -> Result<(), BotError> {
        let t = ctx.t();
        let step = Step::Phone {
            name: name.clone(),
            company_id,
            company_name: company_name.clone(),
        };
        self.set_step(ctx, &step).await?;
        let typed = match (&m.contact, m.text.as_deref()) {
            (Some(contact), _) => {
                if contact.user_id.is_some_and(|id| id != ctx.user_id) {
                    return self.ask_phone(ctx, t.not_own_contact).await;
                }
                // Telegram gives the international number, usually without its `+`.
                let number = contact.phone_number.trim();
                if number.starts_with('+') {
                    number.to_string()
                } else {
                    format!("+{number}")
                }
            }
            (None, Some(text)) => text.trim().to_string(),
            (None, None) => return self.ask_phone(ctx, t.ask_phone).await,
        };
        let Ok(e164) = phone::normalize(&typed) else {
            let text = fill(t.bad_phone, &[("phone", &typed)]);
            return self.ask_phone(ctx, &text).await;
        };
        let contact = match self.okdesk.find_contact_by_phone(&e164).await {
            Ok(Some(found)) => {
                if let Some(company) = company_id
                    && found.company_id != Some(company)
                    && let Err(e) = self.okdesk.set_contact_company(found.id, company).await
                {
                    // The link below still carries the company, so issues are filed under it.
                    tracing::warn!(error = %e, contact = found.id, company, "contact not moved to the company");
                }
                Ok(found)
            }
            Ok(None) => {
                self.okdesk
                    .create_contact(&NewContact::from_full_name(&name, &e164, company_id))
                    .await
            }
            Err(e) => Err(e),
        };
        let contact = match contact {
            Ok(c) => c,
            Err(e) => {
                let answer = self.okdesk_trouble(ctx, "contact", &e);
                return self.ask_phone(ctx, answer).await;
            }
        };
        let link = Link {
            chat_id: ctx.chat,
            contact_id: contact.id,
            company_id,
            company_name: company_name.clone(),
            name: name.clone(),
            phone: e164,
            lang: ctx.lang_code().to_string(),
            registered_at: timestamp(self.deps.clock.now_ms()),
        };
        store::save_link(&self.deps, &link).await.map_err(err)?;
        self.clear_step(ctx).await?;
        let mut text = fill(t.registered, &[("name", &name)]);
        if let Some(company) = &company_name {
            text.push('\n');
            text.push_str(&fill(t.registered_company, &[("company", company)]));
        }
        self.say(ctx, &text, Some(menu_keyboard(t))).await
    }
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
