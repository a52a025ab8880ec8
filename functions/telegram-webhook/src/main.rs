//! Lambda wiring only; the handler is in lib.rs.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    zayavka::logging::init();
    let cfg = telegram_webhook::Config::read(&zayavka::config::ProcessEnv)?;
    let (deps, _) = zayavka::Deps::from_lambda_env().await?;
    zayavka::lambda::run_http(telegram_webhook::TelegramWebhook::new(deps, cfg)).await
}
