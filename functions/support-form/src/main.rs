//! Lambda wiring only; the handler is in lib.rs.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    zayavka::logging::init();
    let wiring =
        zayavka::deps::Wiring::lambda(env!("CARGO_PKG_NAME"), &zayavka::config::ProcessEnv).await?;
    zayavka::lambda::run_http(support_form::from_env(&wiring)?).await
}
