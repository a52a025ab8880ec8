//! Every user-visible text, one catalogue per language. Russian is the default; English is
//! for Telegram users whose language is not Russian and for admins who choose it.

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    #[default]
    Ru,
    En,
}

impl Lang {
    /// From a Telegram `language_code` or a setting: Russian for `ru…`, English otherwise.
    pub fn from_code(code: Option<&str>) -> Self {
        match code {
            None => Lang::Ru,
            Some(c) if c.to_ascii_lowercase().starts_with("ru") => Lang::Ru,
            Some(_) => Lang::En,
        }
    }

    pub fn texts(self) -> &'static Texts {
        match self {
            Lang::Ru => &RU,
            Lang::En => &EN,
        }
    }
}

pub struct Texts {
    pub new_lead: &'static str,
    pub name: &'static str,
    pub phone: &'static str,
    pub email: &'static str,
    pub comment: &'static str,
    pub source: &'static str,
    pub utm: &'static str,
    pub fields: &'static str,
    pub lead_subject: &'static str,
    pub batch_completed: &'static str,
    pub batch_partial: &'static str,
    pub batch_failed: &'static str,
    pub delivered_to: &'static str,
    pub not_delivered_to: &'static str,
    pub dispatch_failed: &'static str,
    pub lead_word: &'static str,
    pub support_from: &'static str,
    pub support_source_site: &'static str,
    pub support_source_telegram: &'static str,
    pub support_reply_header: &'static str,
    pub support_reply_delivered: &'static str,
    pub support_reply_not_bound: &'static str,
    pub support_reply_blocked: &'static str,
    pub support_reply_failed: &'static str,
    pub support_reply_hint: &'static str,
    pub support_bound: &'static str,
    pub support_token_unknown: &'static str,
    pub support_token_expired: &'static str,
    pub support_token_used: &'static str,
    pub support_start: &'static str,
    pub support_not_bound: &'static str,
    pub support_received: &'static str,
    pub support_attachment: &'static str,
    pub page_title: &'static str,
    pub page_intro: &'static str,
    pub field_subject: &'static str,
    pub field_subject_hint: &'static str,
    pub field_message: &'static str,
    pub field_name: &'static str,
    pub field_email: &'static str,
    pub page_submit: &'static str,
    pub page_error: &'static str,
    pub success_title: &'static str,
    pub success_text: &'static str,
    pub success_bind: &'static str,
    pub success_bind_link: &'static str,
}

pub static RU: Texts = Texts {
    new_lead: "Новая заявка",
    name: "Имя",
    phone: "Телефон",
    email: "E-mail",
    comment: "Комментарий",
    source: "Источник",
    utm: "UTM",
    fields: "Дополнительно",
    lead_subject: "Новая заявка: {lead_name}",
    batch_completed: "Заявка доставлена во все интеграции",
    batch_partial: "Заявка доставлена частично",
    batch_failed: "Заявку не удалось доставить",
    delivered_to: "Доставлено",
    not_delivered_to: "Не доставлено",
    dispatch_failed: "Заявку не удалось поставить в очередь; повтор будет автоматически",
    lead_word: "Заявка",
    support_from: "от",
    support_source_site: "сайт",
    support_source_telegram: "Telegram",
    support_reply_header: "📩 Ответ поддержки:",
    support_reply_delivered: "✅ Ответ доставлен пользователю.",
    support_reply_not_bound: "У пользователя нет привязки к Telegram: ответ сохранён и будет виден в его обращениях на сайте.",
    support_reply_blocked: "Пользователь заблокировал бота: ответ сохранён и будет виден в его обращениях на сайте.",
    support_reply_failed: "Не удалось доставить ответ сейчас, попробуйте ещё раз позже.",
    support_reply_hint: "Чтобы ответить пользователю, ответьте (Reply) на его сообщение от бота.",
    support_bound: "Готово! Аккаунт на сайте привязан. Пишите сюда — ответ придёт в этот чат.",
    support_token_unknown: "Ссылка не распознана. Откройте ссылку с сайта ещё раз.",
    support_token_expired: "Срок действия ссылки истёк (24 часа). Отправьте обращение на сайте ещё раз, чтобы получить новую.",
    support_token_used: "Эта ссылка уже использована. Если это были не вы, отправьте обращение на сайте, чтобы получить новую.",
    support_start: "Здравствуйте! Это бот поддержки. Чтобы писать нам отсюда, откройте ссылку, которую сайт показал после отправки обращения.",
    support_not_bound: "Сначала привяжите аккаунт: откройте ссылку, которую сайт показал после отправки обращения.",
    support_received: "Сообщение передано в поддержку. Ответ придёт сюда.",
    support_attachment: "[вложение]",
    page_title: "Связаться с поддержкой",
    page_intro: "Опишите вопрос — мы ответим на e-mail или в Telegram.",
    field_subject: "Тема",
    field_subject_hint: "необязательно",
    field_message: "Сообщение",
    field_name: "Имя",
    field_email: "E-mail",
    page_submit: "Отправить",
    page_error: "Проверьте форму",
    success_title: "Сообщение отправлено",
    success_text: "Спасибо! Поддержка получила ваше сообщение.",
    success_bind: "Хотите получить ответ в Telegram? Откройте бота по ссылке и нажмите «Запустить»:",
    success_bind_link: "Получать ответы в Telegram",
};

pub static EN: Texts = Texts {
    new_lead: "New lead",
    name: "Name",
    phone: "Phone",
    email: "E-mail",
    comment: "Comment",
    source: "Source",
    utm: "UTM",
    fields: "More",
    lead_subject: "New lead: {lead_name}",
    batch_completed: "Lead delivered to every integration",
    batch_partial: "Lead delivered in part",
    batch_failed: "Lead could not be delivered",
    delivered_to: "Delivered",
    not_delivered_to: "Not delivered",
    dispatch_failed: "Lead could not be queued; it will be retried automatically",
    lead_word: "Lead",
    support_from: "from",
    support_source_site: "site",
    support_source_telegram: "Telegram",
    support_reply_header: "📩 Reply from support:",
    support_reply_delivered: "✅ Reply delivered to the user.",
    support_reply_not_bound: "The user has no Telegram binding: the reply is kept and shows in their thread on the site.",
    support_reply_blocked: "The user blocked the bot: the reply is kept and shows in their thread on the site.",
    support_reply_failed: "The reply could not be delivered right now; please try again later.",
    support_reply_hint: "To answer a user, reply to their message from the bot.",
    support_bound: "Done! Your site account is connected. Write here and the answer will come to this chat.",
    support_token_unknown: "This link is not recognised. Please open the link from the site again.",
    support_token_expired: "This link has expired (24 hours). Send your request on the site again to get a new one.",
    support_token_used: "This link was already used. If it was not you, send a request on the site to get a new one.",
    support_start: "Hello! This is the support bot. To write to us from here, open the link the site showed after you sent your request.",
    support_not_bound: "Please connect your account first: open the link the site showed after you sent your request.",
    support_received: "Your message was passed to support. The answer will come here.",
    support_attachment: "[attachment]",
    page_title: "Contact support",
    page_intro: "Describe your question and we will answer by e-mail or in Telegram.",
    field_subject: "Subject",
    field_subject_hint: "optional",
    field_message: "Message",
    field_name: "Name",
    field_email: "E-mail",
    page_submit: "Send",
    page_error: "Please check the form",
    success_title: "Message sent",
    success_text: "Thank you! Support has your message.",
    success_bind: "Want the answer in Telegram? Open the bot with this link and press Start:",
    success_bind_link: "Get answers in Telegram",
};

/// Escapes text for Telegram's HTML parse mode (and for HTML e-mail).
pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn russian_unless_told_otherwise() {
        assert_eq!(Lang::from_code(None), Lang::Ru);
        assert_eq!(Lang::from_code(Some("ru-RU")), Lang::Ru);
        assert_eq!(Lang::from_code(Some("en")), Lang::En);
        assert_eq!(Lang::from_code(Some("uk")), Lang::En);
    }

    #[test]
    fn html_is_escaped() {
        assert_eq!(
            escape_html("<b>&\"x\"</b>"),
            "&lt;b&gt;&amp;&quot;x&quot;&lt;/b&gt;"
        );
    }
}
