//! Every function of the product, built by the constructors their `main.rs` call.

use std::sync::Arc;

use zayavka::Deps;
use zayavka::config::{ConfigError, EnvSource};
use zayavka::deps::Wiring;
use zayavka::http::HttpFunction;
use zayavka::sqs_batch::QueueWorker;

use super::{Place, Registry};

/// The environment, with `ZAYAVKA_PUBLIC_URL` defaulting to the address serve listens on.
struct ServedAt<'a> {
    env: &'a dyn EnvSource,
    public_url: Option<String>,
}

impl EnvSource for ServedAt<'_> {
    fn var(&self, name: &str) -> Option<String> {
        self.env.var(name).or_else(|| match name {
            "ZAYAVKA_PUBLIC_URL" => self.public_url.clone(),
            _ => None,
        })
    }
}

/// Every function of the product, built by the same constructors their `main.rs` call;
/// every configuration problem of every function is reported at once.
pub fn functions(
    deps: &Deps,
    env: &dyn EnvSource,
    place: impl Into<Place>,
) -> Result<Registry, ConfigError> {
    let place: Place = place.into();
    let env = ServedAt {
        env,
        public_url: place.public_url.clone(),
    };
    let w = Wiring {
        deps: deps.clone(),
        env: &env,
        queue_prefix: place.queue_prefix.clone(),
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
    keep(add_http(&mut registry, bridge_api::from_env(&w)));
    keep(add_worker(&mut registry, integration_worker::from_env(&w)));
    keep(add_worker(&mut registry, batch_tracker::from_env(&w)));
    keep(add_worker(&mut registry, notification_worker::from_env(&w)));
    keep(add_worker(&mut registry, bridge_worker::from_env(&w)));
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
