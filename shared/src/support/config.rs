//! The support relay's settings, read the same way by every function that hosts it (the
//! support bot's webhook and the support form).

use super::rate_limit::RateLimit;
use crate::config::EnvReader;
use crate::secret::Secret;
use crate::texts::Lang;

#[derive(Debug, Clone)]
pub struct SupportConfig {
    /// `TELEGRAM_ADMIN_CHAT_ID`: a private chat or a group of admins.
    pub admin_chat_id: i64,
    /// The admin chat's language (`SUPPORT_ADMIN_LANGUAGE`, default ru).
    pub admin_lang: Lang,
}

impl SupportConfig {
    /// Reads the admins' chat and language. A missing or malformed chat id is recorded as a
    /// problem (so the caller's `finish` fails) and read as 0.
    pub fn read(r: &mut EnvReader<'_>) -> Self {
        let admin_chat_id = match r.optional("TELEGRAM_ADMIN_CHAT_ID") {
            Some(raw) => raw.parse().unwrap_or_else(|_| {
                r.problem("TELEGRAM_ADMIN_CHAT_ID must be a numeric chat id");
                0
            }),
            None => {
                r.problem(
                    "TELEGRAM_ADMIN_CHAT_ID is not set, but the support bot needs the admins' chat",
                );
                0
            }
        };
        Self {
            admin_chat_id,
            admin_lang: Lang::from_code(r.optional("SUPPORT_ADMIN_LANGUAGE").as_deref()),
        }
    }
}

/// What the support form needs besides the relay: the support bot to tell the admins with,
/// who the site's users are, which origins the widget runs on, and the rate limit.
#[derive(Debug, Clone)]
pub struct SiteConfig {
    /// `TELEGRAM_SUPPORT_BOT_TOKEN`.
    pub bot_token: Secret,
    /// `TELEGRAM_SUPPORT_BOT_USERNAME` (without `@`); else asked with getMe.
    pub bot_username: Option<String>,
    /// `TELEGRAM_API_BASE`.
    pub api_base: String,
    pub support: SupportConfig,
    /// `SUPPORT_USER_HASH_SECRET`: without it, site users are refused.
    pub user_hash_secret: Option<Secret>,
    /// `SUPPORT_ALLOWED_ORIGINS`: where the widget may call from.
    pub allowed_origins: Vec<String>,
    pub rate: RateLimit,
}

/// The support bot as a sender: its token, its username (for binding links) and the
/// admins' chat. Read the same way by the form and the notification worker.
#[derive(Debug, Clone)]
pub struct SupportBotConfig {
    /// `TELEGRAM_SUPPORT_BOT_TOKEN`.
    pub token: Secret,
    /// `TELEGRAM_SUPPORT_BOT_USERNAME` (without `@`); else asked with getMe.
    pub username: Option<String>,
    pub relay: SupportConfig,
}

impl SupportBotConfig {
    /// The bot's settings when its token is set; nothing is read otherwise.
    pub fn read_if_configured(r: &mut EnvReader<'_>) -> Option<Self> {
        let token = Secret(r.optional("TELEGRAM_SUPPORT_BOT_TOKEN")?);
        Some(Self {
            token,
            username: r
                .optional("TELEGRAM_SUPPORT_BOT_USERNAME")
                .map(|u| u.trim_start_matches('@').to_string()),
            relay: SupportConfig::read(r),
        })
    }
}

impl SiteConfig {
    /// The form's settings when the support bot is configured (`TELEGRAM_SUPPORT_BOT_TOKEN`
    /// set); without it the form only answers its health check, and nothing else is read.
    pub fn read_if_configured(r: &mut EnvReader<'_>) -> Option<Self> {
        let bot = SupportBotConfig::read_if_configured(r)?;
        Some(Self::read_with(r, bot))
    }

    fn read_with(r: &mut EnvReader<'_>, bot: SupportBotConfig) -> Self {
        Self {
            bot_token: bot.token,
            bot_username: bot.username,
            support: bot.relay,
            api_base: crate::telegram::config::api_base(r),
            user_hash_secret: r.optional("SUPPORT_USER_HASH_SECRET").map(Secret),
            allowed_origins: r.list("SUPPORT_ALLOWED_ORIGINS"),
            rate: RateLimit {
                limit: r.parse_or("SUPPORT_RATE_LIMIT", 5),
                window_secs: r.parse_or("SUPPORT_RATE_WINDOW_SECONDS", 600),
                global: r.parse_or("SUPPORT_GLOBAL_RATE_LIMIT", 200),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn read(env: &[(&str, &str)]) -> (SupportConfig, Vec<String>) {
        let env: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let mut r = EnvReader::new(&env);
        let cfg = SupportConfig::read(&mut r);
        let problems = r.finish().err().map(|e| e.problems).unwrap_or_default();
        (cfg, problems)
    }

    #[test]
    fn the_admins_chat_and_language() {
        let (cfg, problems) = read(&[
            ("TELEGRAM_ADMIN_CHAT_ID", "-100777"),
            ("SUPPORT_ADMIN_LANGUAGE", "en"),
        ]);
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(cfg.admin_chat_id, -100777);
        assert_eq!(cfg.admin_lang, Lang::En);
        let (cfg, _) = read(&[("TELEGRAM_ADMIN_CHAT_ID", "5")]);
        assert_eq!(cfg.admin_lang, Lang::Ru, "Russian by default");
    }

    #[test]
    fn a_missing_or_malformed_chat_is_one_problem() {
        assert_eq!(read(&[]).1.len(), 1);
        let (_, problems) = read(&[("TELEGRAM_ADMIN_CHAT_ID", "@admins")]);
        assert_eq!(
            problems,
            ["TELEGRAM_ADMIN_CHAT_ID must be a numeric chat id"]
        );
    }
}
