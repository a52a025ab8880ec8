//! Lambda wiring only; the handler is in lib.rs.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    zayavka::logging::init();
    let (deps, _) = zayavka::Deps::from_lambda_env().await?;
    let f = support_form::from_env(deps, &zayavka::config::ProcessEnv)?;
    zayavka::lambda::run_http(f).await
}
