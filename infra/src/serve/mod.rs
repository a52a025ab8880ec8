//! `zayavka serve`: the whole stack in one process. HTTP requests go to the functions' own
//! handlers as the `http::Request`s `lambda_http` gives them in Lambda (`router`); queue
//! messages reach the workers as SQS events with SQS's retry, visibility and dead-letter
//! behaviour (`workers`); every function is built by its own constructor (`registry`).

mod local;
mod registry;
mod router;
mod workers;

use std::fs::File;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use futures::future::join_all;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use zayavka::Deps;
use zayavka::config::{AwsConfig, ConfigError};
use zayavka::deps::{AwsClients, Embedded};
use zayavka::http::HttpFunction;
use zayavka::ports::{Clock, SystemClock};
use zayavka::queues::QueueSpec;
use zayavka::schedule::Scheduled;
use zayavka::sqs_batch::QueueWorker;

pub use local::{default_specs, local_env, shutdown_signal};
pub use registry::functions;

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
            // serve runs the tracker itself, on a real queue: a deployed tracker named in the
            // shell's environment is not invoked from here.
            let cfg = &AwsConfig {
                invoked: Default::default(),
                ..cfg.clone()
            };
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

/// Where the functions run: the queues' name prefix and the address they are served at
/// (`ZAYAVKA_PUBLIC_URL` when the environment does not say).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Place {
    pub queue_prefix: String,
    pub public_url: Option<String>,
}

impl From<&str> for Place {
    fn from(queue_prefix: &str) -> Self {
        Self {
            queue_prefix: queue_prefix.into(),
            public_url: None,
        }
    }
}

impl From<&Place> for Place {
    fn from(p: &Place) -> Self {
        p.clone()
    }
}

/// Opens storage, binds the address and starts HTTP and the queue pollers.
pub async fn start<R>(
    opts: ServeOptions,
    specs: Vec<QueueSpec>,
    make_registry: R,
) -> Result<Started, ServeError>
where
    R: FnOnce(&Deps, &Place) -> Result<Registry, ConfigError>,
{
    let storage = Storage::open(&opts, specs).await?;
    // Bound first: the functions learn the address they are served at.
    let (listener, addr) = bind(&opts).await?;
    // Bound to every interface, the machine itself is still reachable on loopback.
    let reachable = match addr.ip() {
        ip if ip.is_unspecified() => {
            SocketAddr::new(std::net::Ipv4Addr::LOCALHOST.into(), addr.port())
        }
        _ => addr,
    };
    let place = Place {
        queue_prefix: storage.queue_prefix.clone(),
        public_url: Some(format!("http://{reachable}")),
    };
    let registry = make_registry(&storage.deps, &place)?;
    let app = router::router(&registry)?;

    let stopping = Arc::new(AtomicBool::new(false));
    let mut tasks = workers::start_pollers(&storage, &registry, stopping.clone());
    tasks.extend(workers::start_timers(&registry, stopping.clone()));
    let purger = storage
        .embedded
        .clone()
        .map(|e| workers::start_purger(e, stopping.clone()));

    let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let data_file = storage.embedded.as_ref().map(|e| e.data_file.clone());
    let done = tokio::spawn(async move {
        // Keeps the data directory's lock until everything has stopped.
        let _storage = storage;
        serve_http(listener, app, stop_rx, stopping).await;
        drain(tasks, purger).await;
    });
    Ok(Started {
        addr,
        data_file,
        stop: Some(stop),
        done,
    })
}

async fn bind(opts: &ServeOptions) -> Result<(TcpListener, SocketAddr), ServeError> {
    let addr = SocketAddr::new(opts.host, opts.port);
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| ServeError::Listen { addr, source })?;
    let local = listener
        .local_addr()
        .map_err(|source| ServeError::Listen { addr, source })?;
    Ok((listener, local))
}

/// Serves HTTP until told to stop; then the pollers see the flag and stop receiving.
async fn serve_http(
    listener: TcpListener,
    app: axum::Router,
    stop: tokio::sync::oneshot::Receiver<()>,
    stopping: Arc<AtomicBool>,
) {
    let flag = stopping.clone();
    let served = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        let _ = stop.await;
        flag.store(true, Ordering::SeqCst);
    })
    .await;
    stopping.store(true, Ordering::SeqCst);
    if let Err(e) = served {
        tracing::error!(error = %e, "HTTP server stopped with an error");
    }
}

/// Lets batches in progress finish, up to a limit; what does not finish stays queued.
async fn drain(tasks: Vec<JoinHandle<()>>, purger: Option<JoinHandle<()>>) {
    if tokio::time::timeout(DRAIN_TIMEOUT, join_all(tasks))
        .await
        .is_err()
    {
        tracing::warn!("a worker did not finish in time; its messages will be delivered again");
    }
    if let Some(p) = purger {
        p.abort();
    }
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
    R: FnOnce(&Deps, &Place) -> Result<Registry, ConfigError>,
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
