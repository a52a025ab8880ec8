//! Lambda wiring only; the handler is in lib.rs.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    zayavka::logging::init();
    let (deps, aws) = zayavka::Deps::from_lambda_env().await?;
    zayavka::lambda::run_worker(batch_tracker::BatchTracker::new(deps, aws.queue_prefix)).await
}
