//! `zayavka serve`: the whole stack in one process. HTTP requests go to the functions' own
//! handlers as the `http::Request`s `lambda_http` gives them in Lambda; queue messages reach
//! the workers as SQS events with SQS's retry, visibility and dead-letter behaviour.

use std::collections::{BTreeMap, HashSet};
use std::fs::File;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, DefaultBodyLimit, Request};
use axum::response::{IntoResponse, Response};
use futures::future::join_all;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use zayavka::Deps;
use zayavka::api_keys::ApiKeys;
use zayavka::config::{AwsConfig, ConfigError, EnvSource, ProcessEnv, WithDefaults};
use zayavka::deps::{AwsClients, Embedded, Wiring};
use zayavka::http::{ApiError, ApiResponse, HttpFunction, direct_request, dispatch, match_path};
use zayavka::ports::{Clock, Queue, SystemClock};
use zayavka::queues::{QueueSpec, catalogue};
use zayavka::schedule::Scheduled;
use zayavka::sqs_batch::QueueWorker;

use crate::events::sqs_event;

/// API Gateway's own payload limit.
const MAX_BODY: usize = 10 * 1024 * 1024;
/// How long a poller's receive waits before it looks at the stop flag again.
const RECEIVE_WAIT: Duration = Duration::from_millis(500);
/// How long shutdown waits for a batch a worker is still processing.
const DRAIN_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub host: IpAddr,
    /// 0 picks a free port; the chosen address is printed.
    pub port: u16,
    pub data_dir: PathBuf,
    /// DynamoDB/SQS/SES with this configuration instead of the embedded store.
    pub aws: Option<AwsConfig>,
}

impl ServeOptions {
    /// The embedded store in `data_dir`, on a free port of 127.0.0.1.
    pub fn local(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            host: IpAddr::from([127, 0, 0, 1]),
            port: 0,
            data_dir: data_dir.into(),
            aws: None,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("cannot use data directory {dir}: {source}")]
    DataDir {
        dir: String,
        #[source]
        source: std::io::Error,
    },
    #[error("another zayavka serve is already using {0}; stop it or pass a different --data-dir")]
    Busy(String),
    #[error(transparent)]
    Db(#[from] zayavka::adapters::sqlite::DbOpenError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("embedded queue: {0}")]
    Queue(#[from] zayavka::ports::QueueError),
    #[error("two functions claim the route {0}")]
    DuplicateRoute(String),
}

/// The functions one stack runs.
#[derive(Default, Clone)]
pub struct Registry {
    pub http: Vec<Arc<dyn HttpFunction>>,
    pub workers: Vec<Arc<dyn QueueWorker>>,
    pub scheduled: Vec<Arc<dyn Scheduled>>,
}

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

/// Storage opened for one serve process.
pub struct Storage {
    pub deps: Deps,
    pub queue_prefix: String,
    pub embedded: Option<Embedded>,
    pub specs: Vec<QueueSpec>,
    /// Held for the life of the process: one serve per data directory.
    _lock: Option<File>,
}

impl Storage {
    pub async fn open(opts: &ServeOptions, specs: Vec<QueueSpec>) -> Result<Self, ServeError> {
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        if let Some(cfg) = &opts.aws {
            let clients = AwsClients::new(cfg).await;
            return Ok(Self {
                deps: Deps::aws(&clients, cfg),
                queue_prefix: cfg.queue_prefix.clone(),
                embedded: None,
                specs,
                _lock: None,
            });
        }
        let dir_err = |source| ServeError::DataDir {
            dir: opts.data_dir.display().to_string(),
            source,
        };
        std::fs::create_dir_all(&opts.data_dir).map_err(dir_err)?;
        let lock = File::create(opts.data_dir.join("serve.lock")).map_err(dir_err)?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(ServeError::Busy(opts.data_dir.display().to_string()));
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(dir_err(e)),
        }
        let embedded = Embedded::open(&opts.data_dir, specs.clone(), clock.clone())?;
        // Whoever held messages in flight before this start is gone (the lock proves it):
        // hand them out again now instead of after their visibility timeout.
        let released = embedded.queue.release_in_flight().await?;
        if released > 0 {
            tracing::info!(
                released,
                "messages left in flight by an earlier run are visible again"
            );
        }
        Ok(Self {
            deps: Deps::embedded(&embedded, clock),
            queue_prefix: AwsConfig::from_env(false)?.queue_prefix,
            embedded: Some(embedded),
            specs,
            _lock: Some(lock),
        })
    }
}

/// A running stack.
pub struct Started {
    pub addr: SocketAddr,
    /// Where the embedded data lives, when embedded.
    pub data_file: Option<PathBuf>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    done: JoinHandle<()>,
}

impl Started {
    /// Stops taking requests and receiving messages, lets batches in progress finish (up to
    /// a limit), and returns when everything has stopped.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.done).await;
    }
}

/// Opens storage, binds the address and starts HTTP and the queue pollers.
pub async fn start<R>(
    opts: ServeOptions,
    specs: Vec<QueueSpec>,
    make_registry: R,
) -> Result<Started, ServeError>
where
    R: FnOnce(&Deps, &str) -> Result<Registry, ConfigError>,
{
    let storage = Storage::open(&opts, specs).await?;
    let registry = make_registry(&storage.deps, &storage.queue_prefix)?;
    let app = router(&registry)?;

    let addr = SocketAddr::new(opts.host, opts.port);
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError::Listen { addr, source })?;
    let local = listener
        .local_addr()
        .map_err(|source| ServeError::Listen { addr, source })?;

    let stopping = Arc::new(AtomicBool::new(false));
    let mut pollers = start_pollers(&storage, &registry, stopping.clone());
    pollers.extend(start_timers(&registry, stopping.clone()));
    let purger = storage.embedded.clone().map(|e| {
        let stopping = stopping.clone();
        tokio::spawn(async move {
            while !stopping.load(Ordering::SeqCst) {
                if let Err(e) = e.table.purge_expired().await {
                    tracing::warn!(error = %e, "purging expired items failed");
                }
                for _ in 0..60 {
                    if stopping.load(Ordering::SeqCst) {
                        return;
                    }
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            }
        })
    });

    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let data_file = storage.embedded.as_ref().map(|e| e.data_file.clone());
    let done = tokio::spawn(async move {
        // Keeps the data directory's lock until everything has stopped.
        let _storage = storage;
        let flag = stopping.clone();
        let served = axum::serve(
            listener,
            app.into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(async move {
            let _ = stop_rx.await;
            flag.store(true, Ordering::SeqCst);
        })
        .await;
        stopping.store(true, Ordering::SeqCst);
        if let Err(e) = served {
            tracing::error!(error = %e, "HTTP server stopped with an error");
        }
        if tokio::time::timeout(DRAIN_TIMEOUT, join_all(pollers))
            .await
            .is_err()
        {
            tracing::warn!("a worker did not finish in time; its messages will be delivered again");
        }
        if let Some(p) = purger {
            p.abort();
        }
    });
    Ok(Started {
        addr: local,
        data_file,
        stop: Some(stop_tx),
        done,
    })
}

/// Runs until `shutdown` resolves, then drains: no new HTTP requests or queue receives,
/// batches in progress finish (or stay safely in the queue).
pub async fn run<R, S>(
    opts: ServeOptions,
    specs: Vec<QueueSpec>,
    make_registry: R,
    shutdown: S,
) -> Result<(), ServeError>
where
    R: FnOnce(&Deps, &str) -> Result<Registry, ConfigError>,
    S: std::future::Future<Output = ()>,
{
    let started = start(opts, specs, make_registry).await?;
    let where_data = match &started.data_file {
        Some(file) => format!("embedded storage {}", file.display()),
        None => "AWS backend".to_string(),
    };
    // The first line on stdout is the address: scripts and tests read it.
    println!(
        "zayavka serve listening on http://{} ({where_data})",
        started.addr
    );
    shutdown.await;
    tracing::info!("stopping: finishing work in progress");
    started.stop().await;
    tracing::info!("zayavka serve stopped");
    Ok(())
}

fn router(registry: &Registry) -> Result<Router, ServeError> {
    let mut seen = HashSet::new();
    for function in &registry.http {
        for route_key in function.routes() {
            if !seen.insert(route_key) {
                return Err(ServeError::DuplicateRoute(route_key.into()));
            }
        }
    }
    let all = registry.http.clone();
    let functions = registry.http.clone();
    Ok(Router::new()
        .route(
            "/health",
            axum::routing::get(move |ConnectInfo(peer): ConnectInfo<SocketAddr>| {
                let all = all.clone();
                async move { health(&all, peer).await }
            }),
        )
        .fallback(
            move |ConnectInfo(peer): ConnectInfo<SocketAddr>, req: Request| {
                let functions = functions.clone();
                async move { call(&functions, peer, req).await }
            },
        )
        .layer(DefaultBodyLimit::max(MAX_BODY)))
}

/// Whether any of the function's routes has this path (the method is the function's to
/// judge, so a wrong one gets its 405).
fn serves(f: &dyn HttpFunction, path: &str) -> bool {
    f.routes().iter().any(|route| {
        route
            .split_once(' ')
            .is_some_and(|(_, template)| match_path(template, path).is_some())
    })
}

async fn call(functions: &[Arc<dyn HttpFunction>], peer: SocketAddr, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let Some(f) = functions
        .iter()
        .find(|f| serves(f.as_ref(), parts.uri.path()))
    else {
        return to_response(
            ApiError::not_found(format!(
                "no route for {} {}",
                parts.method,
                parts.uri.path()
            ))
            .into(),
        );
    };
    let body = match axum::body::to_bytes(body, MAX_BODY).await {
        Ok(b) => b.to_vec(),
        Err(_) => return to_response(ApiError::too_large(MAX_BODY).into()),
    };
    to_response(dispatch(f.as_ref(), direct_request(parts, body, Some(peer.ip()))).await)
}

/// `GET /health` asks every function and reports each.
async fn health(all: &[Arc<dyn HttpFunction>], peer: SocketAddr) -> Response {
    let mut functions = BTreeMap::new();
    let mut backend = String::new();
    let mut ok = true;
    for f in all {
        let (parts, ()) = http::Request::get("/health")
            .body(())
            .unwrap_or_default()
            .into_parts();
        let r = dispatch(
            f.as_ref(),
            direct_request(parts, Vec::new(), Some(peer.ip())),
        )
        .await;
        if backend.is_empty()
            && let Ok(v) = serde_json::from_str::<serde_json::Value>(&r.body)
        {
            backend = v["backend"].as_str().unwrap_or_default().to_string();
        }
        ok &= r.status_code == 200;
        functions.insert(
            f.name(),
            if r.status_code == 200 {
                "ok"
            } else {
                "failing"
            },
        );
    }
    let body = serde_json::json!({
        "status": if ok { "ok" } else { "degraded" },
        "version": zayavka::VERSION,
        "backend": backend,
        "functions": functions,
    });
    to_response(ApiResponse::json(if ok { 200 } else { 503 }, &body))
}

fn to_response(r: ApiResponse) -> Response {
    let (parts, body) = r.into_http().into_parts();
    let bytes = match body {
        zayavka::http::Body::Text(t) => t.into_bytes(),
        zayavka::http::Body::Binary(b) => b,
        _ => Vec::new(),
    };
    Response::from_parts(parts, Body::from(bytes)).into_response()
}

fn start_pollers(
    storage: &Storage,
    registry: &Registry,
    stopping: Arc<AtomicBool>,
) -> Vec<JoinHandle<()>> {
    let mut handles = Vec::new();
    for worker in &registry.workers {
        for queue in worker.queues() {
            let aws_name = format!("{}{queue}", storage.queue_prefix);
            handles.push(tokio::spawn(poll(
                storage.deps.queue.clone(),
                worker.clone(),
                queue,
                aws_name,
                stopping.clone(),
            )));
        }
    }
    handles
}

/// Scheduled functions: each on its own timer, the first run one interval after start.
fn start_timers(registry: &Registry, stopping: Arc<AtomicBool>) -> Vec<JoinHandle<()>> {
    registry
        .scheduled
        .iter()
        .map(|job| {
            let job = job.clone();
            let stopping = stopping.clone();
            tokio::spawn(async move {
                let tick = Duration::from_millis(100);
                let mut waited = Duration::ZERO;
                while !stopping.load(Ordering::SeqCst) {
                    tokio::time::sleep(tick).await;
                    waited += tick;
                    if waited < job.every() {
                        continue;
                    }
                    waited = Duration::ZERO;
                    if let Err(e) = job.run().await {
                        tracing::warn!(function = job.name(), error = %e, "scheduled run failed");
                    }
                }
            })
        })
        .collect()
}

/// One queue's event source: receive, hand the batch to the worker, delete what succeeded.
async fn poll(
    queue: Arc<dyn Queue>,
    worker: Arc<dyn QueueWorker>,
    name: String,
    aws_name: String,
    stopping: Arc<AtomicBool>,
) {
    while !stopping.load(Ordering::SeqCst) {
        let messages = match queue.receive(&name, 10, RECEIVE_WAIT).await {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(queue = %name, error = %e, "receive failed");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        if messages.is_empty() {
            continue;
        }
        let event = match sqs_event(&aws_name, &messages) {
            Ok(e) => e,
            Err(e) => {
                tracing::error!(queue = %name, error = %e, "cannot build SQS event");
                continue;
            }
        };
        let response = worker.handle(event).await;
        let ids: HashSet<&str> = messages.iter().map(|m| m.message_id.as_str()).collect();
        let failed: HashSet<&str> = response
            .batch_item_failures
            .iter()
            .map(|f| f.item_identifier.as_str())
            .collect();
        // Like Lambda: a failure naming a message that was not in the batch fails the
        // whole batch.
        if failed.iter().any(|id| !ids.contains(id)) {
            tracing::error!(queue = %name, worker = worker.name(), "batch response names unknown messages; the whole batch returns");
            continue;
        }
        for m in messages
            .iter()
            .filter(|m| !failed.contains(m.message_id.as_str()))
        {
            if let Err(e) = queue.delete(&name, &m.receipt_handle).await {
                tracing::warn!(queue = %name, message_id = %m.message_id, error = %e, "delete failed; the message will be delivered again");
            }
        }
    }
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

/// The environment `zayavka serve` runs the functions with: the process's own, and for what
/// it leaves unset, local defaults: an API key kept in the data directory (made on first
/// start) and a sender address for the mail outbox.
pub fn local_env(
    data_dir: &std::path::Path,
) -> Result<(WithDefaults<ProcessEnv>, String), ServeError> {
    let dir_err = |source| ServeError::DataDir {
        dir: data_dir.display().to_string(),
        source,
    };
    std::fs::create_dir_all(data_dir).map_err(dir_err)?;
    let key_file = data_dir.join("api-key");
    let key = match std::fs::read_to_string(&key_file) {
        Ok(k) if k.trim().len() >= 16 => k.trim().to_string(),
        _ => {
            let k = format!("local-{}", uuid::Uuid::new_v4().simple());
            std::fs::write(&key_file, &k).map_err(dir_err)?;
            k
        }
    };
    let defaults = std::collections::HashMap::from([
        ("ZAYAVKA_API_KEYS".to_string(), key.clone()),
        ("MAIL_FROM".to_string(), "zayavka@zayavka.local".to_string()),
    ]);
    let env = WithDefaults {
        source: ProcessEnv,
        defaults,
    };
    let mut reader = zayavka::config::EnvReader::new(&env);
    let active = ApiKeys::read(&mut reader)
        .first()
        .unwrap_or_default()
        .to_string();
    Ok((env, active))
}

/// The default queue set for serve.
pub fn default_specs() -> Vec<QueueSpec> {
    catalogue()
}
