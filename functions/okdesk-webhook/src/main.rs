//! Lambda wiring only; the handler is in lib.rs.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    zayavka::logging::init();
    let cfg = okdesk_webhook::Config::read(&zayavka::config::ProcessEnv)?;
    let (deps, _) = zayavka::Deps::from_lambda_env().await?;
    zayavka::lambda::run_http(okdesk_webhook::OkdeskWebhook::new(deps, cfg)).await
}
