//! The deployment's own credentials for the integrations, read once. A lead request that
//! leaves a credential out is delivered with these (lead-submit only checks they are there);
//! the admins' notifications use the same sender and bot.

use std::fmt;

use crate::config::EnvReader;

#[derive(Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    /// `MAIL_FROM`: the sender of every e-mail (verified in SES).
    pub mail_from: Option<String>,
    /// `AMOCRM_SUBDOMAIN`, `AMOCRM_ACCESS_TOKEN`.
    pub amocrm_subdomain: Option<String>,
    pub amocrm_access_token: Option<String>,
    /// `TELEGRAM_BOT_TOKEN`: the bot that posts leads and the admins' notifications.
    pub telegram_bot_token: Option<String>,
    /// `BITRIX24_WEBHOOK_URL`: an inbound webhook URL, which carries its own secret.
    pub bitrix24_webhook_url: Option<String>,
}

impl Credentials {
    pub fn read(env: &mut EnvReader<'_>) -> Self {
        Self {
            mail_from: env.optional("MAIL_FROM"),
            amocrm_subdomain: env.optional("AMOCRM_SUBDOMAIN"),
            amocrm_access_token: env.optional("AMOCRM_ACCESS_TOKEN"),
            telegram_bot_token: env.optional("TELEGRAM_BOT_TOKEN"),
            bitrix24_webhook_url: env.optional("BITRIX24_WEBHOOK_URL"),
        }
    }
}

/// Says which credentials are set, never what they are.
impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let set = |v: &Option<String>| if v.is_some() { "set" } else { "unset" };
        f.debug_struct("Credentials")
            .field("mail_from", &self.mail_from)
            .field("amocrm_subdomain", &self.amocrm_subdomain)
            .field("amocrm_access_token", &set(&self.amocrm_access_token))
            .field("telegram_bot_token", &set(&self.telegram_bot_token))
            .field("bitrix24_webhook_url", &set(&self.bitrix24_webhook_url))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_shows_a_credential() {
        let c = Credentials {
            amocrm_access_token: Some("amo-secret-token".into()),
            telegram_bot_token: Some("123:bot-secret".into()),
            bitrix24_webhook_url: Some("https://x.bitrix24.ru/rest/1/hook-secret/".into()),
            ..Credentials::default()
        };
        let shown = format!("{c:?}");
        for secret in ["amo-secret-token", "bot-secret", "hook-secret"] {
            assert!(!shown.contains(secret), "{shown}");
        }
        assert!(shown.contains("telegram_bot_token: \"set\""), "{shown}");
    }
}
