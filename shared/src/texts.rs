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
