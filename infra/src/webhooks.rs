//! `zayavka telegram set-webhook`: pointing the configured bots at the deployed API, one or
//! all at once, each with its secret, the updates it handles and its command menu.

use zayavka::telegram::BotApi;
use zayavka::telegram::webhook::{BOTS, BotConfig, read_bots};
use zayavka::texts::{EN_BRIDGE, EN_HELPDESK, EN_STAFF, RU_BRIDGE, RU_HELPDESK, RU_STAFF};

use crate::admin::AdminError;

/// The bots the environment configures (`TELEGRAM_<BOT>_BOT_TOKEN` and its secret), each with
/// a client for the Bot API; every problem of the settings at once.
pub fn configured_bots(
    env: &dyn zayavka::config::EnvSource,
) -> Result<Vec<(BotApi, BotConfig)>, AdminError> {
    let mut r = zayavka::config::EnvReader::new(env);
    let bots = read_bots(&mut r);
    let base = zayavka::telegram::config::api_base(&mut r);
    r.finish()?;
    let http = zayavka::outbound::client(std::time::Duration::from_secs(15))
        .map_err(zayavka::config::ConfigError::from)?;
    Ok(bots
        .into_iter()
        .map(|b| (BotApi::new(http.clone(), &base, &b.token), b))
        .collect())
}

/// Where Telegram sends `bot`'s updates under the API's base URL (the stack's `ApiUrl`).
pub fn webhook_url(api_url: &str, bot: &str) -> Result<String, String> {
    let base = api_url.trim_end_matches('/');
    let Some(host) = base.strip_prefix("https://") else {
        return Err(format!(
            "Telegram only calls https:// webhooks, not {api_url} (give the stack's ApiUrl output)"
        ));
    };
    // The ApiUrl output is scheme and host only; anything else is a copying mistake
    // (`https://https://…`, a path, a query) that Telegram would be sent as is.
    let valid = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':'))
        && !host.contains("::");
    if !valid {
        return Err(format!(
            "{api_url} is not an API base URL: give the stack's ApiUrl output, https://<host>"
        ));
    }
    Ok(format!("{base}/telegram/{bot}/webhook"))
}

/// A bot's "/" menu: (command, description) pairs.
type Menu = &'static [(&'static str, &'static str)];

/// The "/" menu a bot shows, Russian and English, if it has one.
fn menus(bot: &str) -> Option<(Menu, Menu)> {
    match bot {
        "main" => Some((RU_HELPDESK.commands, EN_HELPDESK.commands)),
        "staff" => Some((RU_STAFF.commands, EN_STAFF.commands)),
        "bridge" => Some((RU_BRIDGE.commands, EN_BRIDGE.commands)),
        _ => None,
    }
}

/// Telegram calls https:// webhooks only.
fn https_only(url: &str) -> Result<(), String> {
    if url.starts_with("https://") {
        Ok(())
    } else {
        Err(format!("Telegram only calls https:// webhooks, not {url}"))
    }
}

/// Registers one bot's webhook and its command menu; returns what was done, line by line.
pub async fn set_one(
    api: &BotApi,
    bot: &BotConfig,
    url: &str,
    drop_pending_updates: bool,
) -> Result<Vec<String>, String> {
    https_only(url)?;
    let mut done = Vec::new();
    api.set_webhook(url, &bot.secret, drop_pending_updates)
        .await
        .map_err(|e| format!("bot {}: {e}", bot.name))?;
    done.push(format!("bot {}: updates now go to {url}", bot.name));
    if let Some((ru, en)) = menus(bot.name) {
        // Russian for everyone, English for English-language apps.
        for (commands, code) in [(ru, None), (en, Some("en"))] {
            api.set_my_commands(commands, code).await.map_err(|e| {
                // The webhook is set: say so with the failure.
                format!(
                    "bot {0}: updates now go to {url}, but its command menu failed: {e}",
                    bot.name
                )
            })?;
        }
        done.push(format!("bot {}: command menu set (ru, en)", bot.name));
    }
    Ok(done)
}

/// `--bot <name> --url <url>`.
pub async fn set_named(
    name: &str,
    url: &str,
    drop_pending_updates: bool,
    env: &dyn zayavka::config::EnvSource,
) -> Result<Vec<String>, String> {
    // Checked before reading the bot's settings: Telegram would refuse it anyway.
    https_only(url)?;
    let (api, bot) = crate::admin::telegram_bot(name, env).map_err(|e| e.to_string())?;
    set_one(&api, &bot, url, drop_pending_updates).await
}

/// `--all --api-url <ApiUrl>`: every bot `env` configures (a stack's secrets with
/// `--stack`). One bot's failure does not stop the others; the result names each that
/// failed.
pub async fn set_all(
    api_url: &str,
    drop_pending_updates: bool,
    env: &dyn zayavka::config::EnvSource,
) -> (Vec<String>, Result<(), String>) {
    let mut done = Vec::new();
    let bots = match configured_bots(env) {
        Ok(b) => b,
        Err(e) => return (done, Err(e.to_string())),
    };
    if bots.is_empty() {
        return (
            done,
            Err(format!(
                "no bot is configured: TELEGRAM_<BOT>_BOT_TOKEN and TELEGRAM_<BOT>_WEBHOOK_SECRET are set for none of {} (a deployed stack's: `zayavka secrets set`, then give --stack)",
                BOTS.join(", ")
            )),
        );
    }
    let mut failed = Vec::new();
    for (api, bot) in &bots {
        let outcome = match webhook_url(api_url, bot.name) {
            Ok(url) => set_one(api, bot, &url, drop_pending_updates).await,
            Err(e) => Err(e),
        };
        match outcome {
            Ok(lines) => done.extend(lines),
            Err(e) => failed.push(e),
        }
    }
    let result = if failed.is_empty() {
        Ok(())
    } else {
        Err(failed.join("\n"))
    };
    (done, result)
}
