//! The floor `scripts/coldstart.py` measures our functions against: a `lambda_runtime`
//! function that answers every event at once, built like them (`cargo build --release -p
//! zayavka --example hello_lambda`: the same release profile, runtime and tokio).

use lambda_runtime::{Error, LambdaEvent, service_fn};

#[tokio::main]
async fn main() -> Result<(), Error> {
    lambda_runtime::run(service_fn(|_event: LambdaEvent<serde_json::Value>| async {
        Ok::<_, Error>(serde_json::json!({"statusCode": 200, "body": "hello"}))
    }))
    .await
}
