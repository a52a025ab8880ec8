//! The Lambda wiring that every `main.rs` calls: an event loop around a handler.

use std::sync::Arc;

use async_trait::async_trait;
use aws_lambda_events::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{Error, LambdaEvent, service_fn};

use crate::http::{Body, HttpFunction, Request, dispatch};
use crate::schedule::Scheduled;
use crate::sqs_batch::QueueWorker;

pub async fn run_http<F: HttpFunction + 'static>(function: F) -> Result<(), Error> {
    lambda_http::run(http_service(Arc::new(function))).await
}

/// The service `lambda_http` runs: every request through [`dispatch`].
pub fn http_service(
    function: Arc<dyn HttpFunction>,
) -> impl lambda_http::Service<
    Request,
    Response = http::Response<Body>,
    Error = Error,
    Future: Send + 'static,
> + Clone {
    lambda_http::service_fn(move |req: Request| {
        let function = Arc::clone(&function);
        async move { Ok::<_, Error>(dispatch(function.as_ref(), req).await.into_http()) }
    })
}

pub async fn run_worker<W: QueueWorker + 'static>(worker: W) -> Result<(), Error> {
    let worker = Arc::new(worker);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| {
        let worker = Arc::clone(&worker);
        async move { Ok::<SqsBatchResponse, Error>(worker.handle(event.payload).await) }
    }))
    .await
}

/// A scheduled function: whatever the event, one run; a failed run is an invocation error,
/// so it shows in the function's error metric and alarm.
pub async fn run_scheduled<S: Scheduled + 'static>(job: S) -> Result<(), Error> {
    let job = Arc::new(job);
    lambda_runtime::run(service_fn(move |_event: LambdaEvent<serde_json::Value>| {
        let job = Arc::clone(&job);
        async move { job.run().await.map_err(Error::from) }
    }))
    .await
}

/// A function Lambda invokes asynchronously with one event of its own (see
/// `adapters::lambda_invoke`): an error makes Lambda run it again (twice, a minute and then
/// two apart) and then put the event on the function's dead-letter queue.
#[async_trait]
pub trait EventFunction: Send + Sync {
    type Event: serde::de::DeserializeOwned + Send;
    type Error: std::error::Error + Send + Sync + 'static;

    async fn handle_event(&self, event: Self::Event) -> Result<(), Self::Error>;
}

pub async fn run_invoked<F: EventFunction + 'static>(function: F) -> Result<(), Error> {
    let function = Arc::new(function);
    lambda_runtime::run(service_fn(move |event: LambdaEvent<serde_json::Value>| {
        let function = Arc::clone(&function);
        async move { invoke_once(function.as_ref(), event.payload).await }
    }))
    .await
}

/// One invocation. An event that does not decode can never be handled: retrying it would
/// only move it to the dead-letter queue later, so it is dropped here, logged.
pub async fn invoke_once<F: EventFunction + ?Sized>(
    function: &F,
    payload: serde_json::Value,
) -> Result<(), Error> {
    match serde_json::from_value::<F::Event>(payload) {
        Ok(event) => function.handle_event(event).await.map_err(Error::from),
        Err(e) => {
            tracing::error!(error = %e, "event does not decode; dropped");
            Ok(())
        }
    }
}
