//! The Bot API settings every Telegram caller shares.

use crate::config::EnvReader;

/// Telegram's own Bot API server.
pub const DEFAULT_API_BASE: &str = "https://api.telegram.org";

/// `TELEGRAM_API_BASE`: where the Bot API is (a local Bot API server, or a fake in tests).
pub fn api_base(env: &mut EnvReader<'_>) -> String {
    env.or("TELEGRAM_API_BASE", DEFAULT_API_BASE)
}
