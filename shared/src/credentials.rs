//! The deployment's own credentials for the integrations, read once. A lead request that
//! leaves a credential out is delivered with these (lead-submit only checks they are there);
//! the admins' notifications use the same sender and bot.

use crate::config::EnvReader;
use crate::secret::Secret;

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    /// `MAIL_FROM`: the sender of every e-mail (verified in SES).
    pub mail_from: Option<String>,
    /// `AMOCRM_SUBDOMAIN`, `AMOCRM_ACCESS_TOKEN`.
    pub amocrm_subdomain: Option<String>,
    pub amocrm_access_token: Option<Secret>,
    /// `TELEGRAM_BOT_TOKEN`: the bot that posts leads and the admins' notifications.
    pub telegram_bot_token: Option<Secret>,
    /// `BITRIX24_WEBHOOK_URL`: an inbound webhook URL, which carries its own secret.
    pub bitrix24_webhook_url: Option<Secret>,
}

impl Credentials {
    /// The secrets among them, to keep out of error texts.
    pub fn secrets(&self) -> Vec<&str> {
        [
            &self.amocrm_access_token,
            &self.telegram_bot_token,
            &self.bitrix24_webhook_url,
        ]
        .into_iter()
        .flatten()
        .flat_map(|s| secret_parts(s.expose()))
        .collect()
    }

    pub fn read(env: &mut EnvReader<'_>) -> Self {
        Self {
            mail_from: env.optional("MAIL_FROM"),
            amocrm_subdomain: env.optional("AMOCRM_SUBDOMAIN"),
            amocrm_access_token: env.optional("AMOCRM_ACCESS_TOKEN").map(Secret),
            telegram_bot_token: telegram_bot_token(env),
            bitrix24_webhook_url: env.optional("BITRIX24_WEBHOOK_URL").map(Secret),
        }
    }
}

/// `TELEGRAM_BOT_TOKEN`: the bot that posts leads and the admins' notifications (and so
/// receives the presses of their buttons).
pub fn telegram_bot_token(env: &mut EnvReader<'_>) -> Option<Secret> {
    env.optional("TELEGRAM_BOT_TOKEN").map(Secret)
}

/// A secret and the parts of it that are secrets on their own: a Bitrix24 webhook URL's
/// path (`/rest/<user>/<code>/`) and a bot token's part after the colon.
pub fn secret_parts(s: &str) -> Vec<&str> {
    let mut parts = vec![s];
    if let Some(at) = s.find("/rest/") {
        parts.push(&s[at..]);
    }
    if let Some((_, after)) = s.split_once(':')
        && !s.contains('/')
    {
        parts.push(after);
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_never_shows_a_credential() {
        let c = Credentials {
            amocrm_access_token: Some(Secret("amo-secret-token".into())),
            telegram_bot_token: Some(Secret("123:bot-secret".into())),
            bitrix24_webhook_url: Some(Secret("https://x.bitrix24.ru/rest/1/hook-secret/".into())),
            ..Credentials::default()
        };
        let shown = format!("{c:?}");
        for secret in ["amo-secret-token", "bot-secret", "hook-secret"] {
            assert!(!shown.contains(secret), "{shown}");
        }
        assert!(
            shown.contains("telegram_bot_token: Some(Secret(***))"),
            "{shown}"
        );
    }
}
