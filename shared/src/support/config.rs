//! The support relay's settings, read the same way by every function that hosts it (the
//! support bot's webhook and the support form).

use crate::config::EnvReader;
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
