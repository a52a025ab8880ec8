//! Functions that run on a schedule (EventBridge in AWS, a timer in `zayavka serve`).

use async_trait::async_trait;

#[async_trait]
pub trait Scheduled: Send + Sync {
    fn name(&self) -> &'static str;

    /// How often `zayavka serve` runs it.
    fn every(&self) -> std::time::Duration;

    /// One run; the value is what the Lambda invocation returns (a short report).
    async fn run(&self) -> Result<serde_json::Value, String>;
}
