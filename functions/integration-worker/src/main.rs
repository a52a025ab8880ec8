//! Lambda wiring only; the handler is in lib.rs.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    zayavka::logging::init();
    let (deps, aws) = zayavka::Deps::from_lambda_env().await?;
    let cfg = integration_worker::config(&zayavka::config::ProcessEnv, aws.queue_prefix)?;
    zayavka::lambda::run_worker(integration_worker::IntegrationWorker::new(deps, cfg)).await
}
