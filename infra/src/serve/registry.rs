//! Every function of the product, built by the constructors their `main.rs` call.

use std::sync::Arc;

use zayavka::Deps;
use zayavka::config::{ConfigError, EnvSource};
use zayavka::deps::Wiring;
use zayavka::http::HttpFunction;
use zayavka::sqs_batch::QueueWorker;

use super::Registry;

/// Every function of the product, built by the same constructors their `main.rs` call;
/// every configuration problem of every function is reported at once.
pub fn functions(
    deps: &Deps,
    env: &dyn EnvSource,
    queue_prefix: &str,
) -> Result<Registry, ConfigError> {
    let w = Wiring {
        deps: deps.clone(),
        env,
        queue_prefix: queue_prefix.to_string(),
    };
    let mut problems = Vec::new();
    let mut keep = |r: Result<(), ConfigError>| {
        if let Err(e) = r {
            problems.extend(e.problems);
        }
    };
    let mut registry = Registry::default();
    keep(add_http(&mut registry, lead_submit::from_env(&w)));
    keep(add_http(&mut registry, support_form::from_env(&w)));
    keep(add_http(&mut registry, telegram_webhook::from_env(&w)));
    keep(add_http(&mut registry, okdesk_webhook::from_env(&w)));
    keep(add_http(&mut registry, ticket_api::from_env(&w)));
    keep(add_worker(&mut registry, integration_worker::from_env(&w)));
    keep(add_worker(&mut registry, batch_tracker::from_env(&w)));
    keep(add_worker(&mut registry, notification_worker::from_env(&w)));
    keep(sweeper::from_env(&w).map(|s| registry.scheduled.push(Arc::new(s))));
    if problems.is_empty() {
        Ok(registry)
    } else {
        problems.dedup();
        Err(ConfigError { problems })
    }
}

fn add_http<F: HttpFunction + 'static>(
    registry: &mut Registry,
    built: Result<F, ConfigError>,
) -> Result<(), ConfigError> {
    registry.http.push(Arc::new(built?));
    Ok(())
}

fn add_worker<W: QueueWorker + 'static>(
    registry: &mut Registry,
    built: Result<W, ConfigError>,
) -> Result<(), ConfigError> {
    registry.workers.push(Arc::new(built?));
    Ok(())
}
