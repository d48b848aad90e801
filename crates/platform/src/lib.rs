//! The local serverless platform (`quilt up`): a gateway on one address routing `POST /<name>` to
//! pools of function instances, each a process of the function's binary, with scaling, queueing,
//! timeouts, restarts, cgroup limits and Prometheus metrics.

mod dashboard;
mod gateway;
mod instance_conn;
mod instances;
pub mod limits;
pub mod logs;
pub mod metrics;
pub mod otlp;
pub mod sandbox;
pub mod services;
pub mod spans;
mod workers;

pub use dashboard::FILES as DASHBOARD_FILES;
pub use instances::{Deployable, InstanceStatus, Placement, Resources};
pub use limits::Enforcement;

use anyhow::{Context, Result};
use gateway::{Gateway, Routes};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use instances::{Pool, Shared};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::watch;

/// What to run.
#[derive(Debug, Clone)]
pub struct PlatformConfig {
    /// The gateway's address (port 0: any free port).
    pub bind: SocketAddr,
    /// The routes and their binaries.
    pub deployables: Vec<Deployable>,
    /// How long an instance above the minimum may stay idle.
    pub idle_timeout: Duration,
    /// Largest request body (413 above).
    pub max_body_bytes: usize,
    /// How long a client may take to send a request's headers (then its connection is closed).
    pub header_timeout: Duration,
    /// How long the gateway waits for the next bytes of a request body (then 408 and close).
    pub body_timeout: Duration,
    /// Client connections held at most (503 and close beyond); None: as many as the open file
    /// limit allows next to the instances' connections.
    pub max_connections: Option<usize>,
    /// Bytes that request bodies still being received may hold together (503 beyond).
    pub body_memory_bytes: usize,
    /// Trace requests from the start (switchable at run time through `/_quilt/tracing`).
    pub tracing: bool,
    /// Where the span store keeps its segments (memory only when None).
    pub span_dir: Option<std::path::PathBuf>,
    /// Where each function's log is kept (`<function>.log`, see [`logs`]); None: only echoed on
    /// stderr.
    pub log_dir: Option<std::path::PathBuf>,
    /// The admin token; a random one when None.
    pub admin_token: Option<String>,
    /// An outer gateway (`host:port`) for routes this platform does not serve.
    pub upstream: Option<String>,
    /// An OTLP/HTTP collector (`http://host:port`) that receives every span.
    pub otlp_endpoint: Option<String>,
    /// The folder whose last profile, plan and report the dashboard shows (see
    /// [`DASHBOARD_FILES`]); None: the dashboard shows the live platform only.
    pub dashboard_dir: Option<std::path::PathBuf>,
}

impl Default for PlatformConfig {
    fn default() -> Self {
        PlatformConfig {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            deployables: Vec::new(),
            idle_timeout: Duration::from_secs(300),
            max_body_bytes: 6 << 20,
            header_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(60),
            max_connections: None,
            body_memory_bytes: 256 << 20,
            tracing: false,
            span_dir: None,
            log_dir: None,
            admin_token: None,
            upstream: None,
            otlp_endpoint: None,
            dashboard_dir: None,
        }
    }
}

impl PlatformConfig {
    /// The defaults with an app's platform settings (idle timeout, body limit and memory, header
    /// and body timeouts, connection limit).
    pub fn from_settings(settings: &quilt_manifest::PlatformSettings) -> Self {
        PlatformConfig {
            idle_timeout: Duration::from_secs_f64(settings.idle_timeout_s),
            max_body_bytes: settings.max_body_bytes,
            header_timeout: Duration::from_secs_f64(settings.header_timeout_s),
            body_timeout: Duration::from_secs_f64(settings.body_timeout_s),
            max_connections: settings.max_connections,
            body_memory_bytes: (settings.body_memory_mb as usize) << 20,
            ..PlatformConfig::default()
        }
    }
}

/// A running platform; [`Platform::shutdown`] stops it and every instance it started.
pub struct Platform {
    addr: SocketAddr,
    gateway: Arc<Gateway>,
    stop: watch::Sender<bool>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    workers: Arc<workers::Workers>,
}

impl Platform {
    /// Binds the gateway, starts the minimum instances and begins serving.
    pub async fn start(config: PlatformConfig) -> Result<Platform> {
        let listener = tokio::net::TcpListener::bind(config.bind)
            .await
            .with_context(|| format!("cannot listen on {}", config.bind))?;
        let addr = listener.local_addr()?;
        let enforcement = Enforcement::detect();
        let exporter = match &config.otlp_endpoint {
            Some(e) => Some(otlp::OtlpExporter::start(e).map_err(anyhow::Error::msg)?),
            None => None,
        };
        let shared = Arc::new(Shared {
            gateway: addr,
            metrics: metrics::Metrics::new(),
            enforcement,
            idle_timeout: config.idle_timeout,
            stopping: AtomicBool::new(false),
            processes: AtomicUsize::new(0),
            tracing: AtomicBool::new(config.tracing),
            spans: spans::SpanStore::new(config.span_dir.clone(), exporter),
            admin_token: config.admin_token.clone().unwrap_or_else(random_token),
            log_dir: config.log_dir.clone(),
            last_instance_id: std::sync::atomic::AtomicU64::new(0),
            max_body: config.max_body_bytes,
        });
        shared
            .metrics
            .limits_enforced
            .set(shared.enforcement.enforced() as i64);
        let mut pools = HashMap::new();
        for d in config.deployables {
            check_route(&d.name)?;
            let name = d.name.clone();
            pools.insert(name, Pool::new(d, Arc::clone(&shared)));
        }
        let max_connections = connection_limit(config.max_connections, &pools);
        shared.metrics.max_connections.set(max_connections as i64);
        let gateway = Arc::new(Gateway {
            routes: std::sync::RwLock::new(Arc::new(pools)),
            shared,
            max_body: config.max_body_bytes,
            header_timeout: config.header_timeout,
            body_timeout: config.body_timeout,
            body_memory: gateway::BodyMemory::new(config.body_memory_bytes),
            upstream: config.upstream.clone(),
            dashboard_dir: config.dashboard_dir.clone(),
        });
        let (stop, stop_rx) = watch::channel(false);
        let workers =
            Arc::new(workers::Workers::start().context("cannot start the gateway's threads")?);
        let mut tasks = vec![tokio::spawn(accept_loop(
            listener,
            Arc::clone(&gateway),
            Arc::clone(&workers),
            max_connections,
            stop_rx.clone(),
        ))];
        tasks.push(tokio::spawn(reaper(Arc::clone(&gateway), stop_rx)));
        let platform = Platform {
            addr,
            gateway,
            stop,
            tasks,
            workers,
        };
        let pools = platform.gateway.routes();
        for pool in pools.values() {
            if let Err(e) = pool.start_min().await {
                platform.shutdown().await;
                anyhow::bail!("function '{}': {e}", pool.spec.name);
            }
        }
        Ok(platform)
    }

    /// The gateway's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The token that endpoints changing the platform require.
    pub fn admin_token(&self) -> &str {
        &self.gateway.shared.admin_token
    }

    /// Spans from sequence number `after` on, and the next sequence number.
    pub fn spans(&self, after: u64) -> (Vec<spans::Span>, u64) {
        self.gateway.shared.spans.since(after)
    }

    /// Resource figures per route.
    pub fn resources(&self) -> HashMap<String, Resources> {
        self.gateway
            .routes()
            .iter()
            .map(|(name, pool)| (name.clone(), pool.resources()))
            .collect()
    }

    /// Switches tracing on or off.
    pub fn set_tracing(&self, on: bool) {
        self.gateway.shared.tracing.store(on, Ordering::Release);
    }

    /// How memory and CPU limits are enforced here.
    pub fn enforcement(&self) -> &Enforcement {
        &self.gateway.shared.enforcement
    }

    /// The routes served, sorted.
    pub fn routes(&self) -> Vec<String> {
        let mut routes: Vec<String> = self.gateway.routes().keys().cloned().collect();
        routes.sort();
        routes
    }

    /// Running instances of a route (0 for unknown routes).
    pub fn instances(&self, name: &str) -> usize {
        self.gateway
            .routes()
            .get(name)
            .map_or(0, |p| p.instance_count())
    }

    /// Serves `deployable` from now on, atomically: a new route, or a new version of a route it
    /// serves (a rebuilt or re-merged binary, other limits). The new version's minimum instances
    /// are started first; requests that reached the old version finish there (or wait at most its
    /// timeout), then its instances stop.
    pub async fn deploy(&self, deployable: Deployable) -> Result<()> {
        check_route(&deployable.name)?;
        let name = deployable.name.clone();
        let pool = Pool::new(deployable, Arc::clone(&self.gateway.shared));
        if let Err(e) = pool.start_min().await {
            pool.stop_all();
            anyhow::bail!("function '{name}': {e}");
        }
        let replaced = {
            let mut routes = self.gateway.routes.write().unwrap();
            let mut next = Routes::clone(&routes);
            let replaced = next.insert(name.clone(), pool);
            *routes = Arc::new(next);
            replaced
        };
        if let Some(old) = replaced {
            retire_when_idle(old);
        }
        tracing::info!(function = %name, "deployed");
        Ok(())
    }

    /// Stops serving route `name` (its requests in progress finish first); whether it was served.
    pub fn retire(&self, name: &str) -> bool {
        let removed = {
            let mut routes = self.gateway.routes.write().unwrap();
            let mut next = Routes::clone(&routes);
            let removed = next.remove(name);
            *routes = Arc::new(next);
            removed
        };
        match removed {
            Some(old) => {
                retire_when_idle(old);
                tracing::info!(function = %name, "retired");
                true
            }
            None => false,
        }
    }

    /// Serves one connection given as a byte stream, as the gateway serves accepted sockets (the
    /// fuzz targets in `fuzz/` drive the gateway's request handling this way).
    #[doc(hidden)]
    pub async fn serve_stream<IO>(&self, io: IO)
    where
        IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        serve_connection(Arc::clone(&self.gateway), io, None).await
    }

    /// Stops serving and stops every instance, waiting until their processes are gone.
    pub async fn shutdown(self) {
        self.gateway.shared.stopping.store(true, Ordering::Release);
        let _ = self.stop.send(true);
        for pool in self.gateway.routes().values() {
            pool.stop_all();
        }
        for t in self.tasks {
            t.abort();
            // Awaited so that the listener is closed on return: a new platform may bind its port.
            let _ = t.await;
        }
        // Instances are killed by their watchers; wait until every process is reaped.
        for _ in 0..500 {
            if self.gateway.shared.processes.load(Ordering::Acquire) == 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // Last: instances' watchers may run on the serving threads.
        self.workers.finish();
    }
}

/// Checks a route name: route names become cgroup folder names and environment values.
fn check_route(name: &str) -> Result<()> {
    if !limits::is_safe_name(name) {
        anyhow::bail!("route {name:?}: names are made of [A-Za-z0-9._-] (and are not '.' or '..')");
    }
    Ok(())
}

/// Stops the instances of a pool no longer routed to, once the requests it holds (running or
/// queued) are answered, or after its timeout and a second.
fn retire_when_idle(pool: Arc<Pool>) {
    tokio::spawn(async move {
        let until = Instant::now() + pool.spec.timeout + Duration::from_secs(1);
        while pool.busy() && Instant::now() < until {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        pool.stop_all();
    });
}

fn random_token() -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    (0..32)
        .map(|_| format!("{:02x}", rng.random::<u8>()))
        .collect()
}

/// File descriptors the gateway keeps for itself (listener, epoll, pipes, span segments,
/// services) besides client and instance connections.
const RESERVED_FILES: usize = 64;
/// Connections answered 503 at once at most (beyond, an extra connection is closed unanswered).
const SHEDDING: usize = 32;
/// The most client connections held by default, whatever the file limit (memory: each costs a
/// task and buffers).
const DEFAULT_MAX_CONNECTIONS: usize = 16384;

/// Raises the soft open file limit to the hard one; returns the limit now in force.
fn raise_file_limit() -> std::io::Result<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct it is given.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    if lim.rlim_cur < lim.rlim_max {
        let raised = libc::rlimit {
            rlim_cur: lim.rlim_max,
            rlim_max: lim.rlim_max,
        };
        // SAFETY: setrlimit reads the struct it is given.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            return Ok(raised.rlim_cur);
        }
        // An infinite hard limit cannot be the soft one: keep the soft limit.
        tracing::warn!(
            "cannot raise the open file limit from {} to {}: {}",
            lim.rlim_cur,
            lim.rlim_max,
            std::io::Error::last_os_error()
        );
    }
    Ok(lim.rlim_cur)
}

/// How many client connections the gateway holds: `configured`, or what the open file limit
/// (raised to its hard value) leaves after the files the gateway keeps, the connections that
/// refused clients get their answer on, and its connections to instances (one per slot, at most
/// half of what remains). Logged, since it is where the gateway starts refusing clients.
fn connection_limit(configured: Option<usize>, pools: &HashMap<String, Arc<Pool>>) -> usize {
    let files = match raise_file_limit() {
        Ok(n) => usize::try_from(n).unwrap_or(usize::MAX),
        Err(e) => {
            tracing::warn!("cannot read the open file limit: {e}");
            1024
        }
    };
    let slots: usize = pools
        .values()
        .map(|p| p.spec.max_instances as usize * (p.spec.concurrency as usize + 1))
        .sum();
    let budget = files.saturating_sub(RESERVED_FILES + SHEDDING);
    let for_instances = slots.min(budget / 2);
    let fits = (budget - for_instances).max(1);
    let max = match configured {
        Some(n) if n > fits => {
            tracing::warn!(
                "max_connections {n} is above the {fits} connections that the open file limit \
                 of {files} leaves; accepts may fail (and back off) when files run out"
            );
            n
        }
        Some(n) => n,
        None => fits.min(DEFAULT_MAX_CONNECTIONS),
    };
    tracing::info!(
        max_connections = max,
        open_file_limit = files,
        instance_connections = for_instances,
        "the gateway holds up to {max} client connections (more are answered 503 and closed)"
    );
    max
}

/// Whether an accept failed for want of file descriptors or memory: retrying at once would
/// fail again (the connection stays in the listen queue), so the accept loop backs off.
fn out_of_files(e: &std::io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM)
    )
}

async fn accept_loop(
    listener: tokio::net::TcpListener,
    gateway: Arc<Gateway>,
    workers: Arc<workers::Workers>,
    max_connections: usize,
    mut stop: watch::Receiver<bool>,
) {
    let held = Arc::new(tokio::sync::Semaphore::new(max_connections));
    let shedding = Arc::new(tokio::sync::Semaphore::new(SHEDDING));
    let mut backoff = Duration::ZERO;
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = stop.changed() => return,
        };
        let stream = match accepted {
            Ok((stream, _)) => {
                backoff = Duration::ZERO;
                stream
            }
            Err(e) if out_of_files(&e) => {
                // As Go's net/http: 5 ms, doubling up to 1 s, while files stay short.
                backoff = (backoff * 2).clamp(Duration::from_millis(5), Duration::from_secs(1));
                gateway.shared.metrics.accept_errors.inc();
                if backoff == Duration::from_secs(1) || backoff == Duration::from_millis(5) {
                    tracing::warn!("cannot accept connections: {e}; retrying in {backoff:?}");
                }
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => continue,
                    _ = stop.changed() => return,
                }
            }
            Err(_) => continue,
        };
        let _ = stream.set_nodelay(true);
        match Arc::clone(&held).try_acquire_owned() {
            Ok(permit) => {
                let gateway = Arc::clone(&gateway);
                workers.serve(stream, move |stream| {
                    serve_connection(gateway, stream, Some(permit))
                });
            }
            Err(_) => {
                gateway.shared.metrics.connections_shed.inc();
                if let Ok(permit) = Arc::clone(&shedding).try_acquire_owned() {
                    tokio::spawn(shed(stream, max_connections, permit));
                }
                // Else the connection is closed unanswered: shedding must not cost more files.
            }
        }
    }
}

/// Answers a connection beyond the gateway's maximum and closes it: `GET /healthz` gets its `ok`
/// (the gateway is alive, only full), anything else 503 with `Retry-After`.
async fn shed(
    mut stream: tokio::net::TcpStream,
    max_connections: usize,
    _permit: tokio::sync::OwnedSemaphorePermit,
) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut head = [0u8; 1024];
    let read = tokio::time::timeout(Duration::from_millis(200), stream.read(&mut head)).await;
    let n = match read {
        Ok(Ok(n)) => n,
        _ => 0,
    };
    let (status, content_type, body) = if head[..n].starts_with(b"GET /healthz ") {
        ("200 OK", "text/plain", "ok".to_string())
    } else {
        let error = format!(
            "the gateway holds its maximum of {max_connections} connections (max_connections); \
             retry later"
        );
        (
            "503 Service Unavailable",
            "application/json",
            serde_json::json!({ "error": error, "function": "" }).to_string(),
        )
    };
    let answer = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\
         Retry-After: 1\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let written = async {
        stream.write_all(answer.as_bytes()).await?;
        stream.shutdown().await?;
        // Read what the client still sends for a moment: closing with unread bytes would reset
        // the connection, and the client might lose the answer.
        let mut sink = [0u8; 4096];
        while stream.read(&mut sink).await? > 0 {}
        Ok::<_, std::io::Error>(())
    };
    let _ = tokio::time::timeout(Duration::from_millis(500), written).await;
}

/// Serves HTTP/1.1 on one connection until it closes; `permit` is its place among the
/// connections the gateway holds.
async fn serve_connection<IO>(
    gateway: Arc<Gateway>,
    io: IO,
    permit: Option<tokio::sync::OwnedSemaphorePermit>,
) where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let _open = OpenConnection::new(gateway.shared.metrics.connections.clone(), permit);
    let header_timeout = gateway.header_timeout;
    let service = service_fn(move |req| {
        let gateway = Arc::clone(&gateway);
        async move { Ok::<_, std::convert::Infallible>(gateway.handle(req).await) }
    });
    // A client that does not finish its headers in time (slow, or idle between requests) loses
    // its connection, so that slow clients cannot hold the gateway's connections open.
    let _ = hyper::server::conn::http1::Builder::new()
        .timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(header_timeout)
        .serve_connection(TokioIo::new(io), service)
        .await;
}

/// A client connection counted in `quilt_gateway_connections`, holding its place (if any) until
/// dropped.
struct OpenConnection {
    gauge: prometheus::IntGauge,
    _permit: Option<tokio::sync::OwnedSemaphorePermit>,
}

impl OpenConnection {
    fn new(gauge: prometheus::IntGauge, permit: Option<tokio::sync::OwnedSemaphorePermit>) -> Self {
        gauge.inc();
        OpenConnection {
            gauge,
            _permit: permit,
        }
    }
}

impl Drop for OpenConnection {
    fn drop(&mut self) {
        self.gauge.dec();
    }
}

async fn reaper(gateway: Arc<Gateway>, mut stop: watch::Receiver<bool>) {
    let period =
        (gateway.shared.idle_timeout / 4).clamp(Duration::from_millis(50), Duration::from_secs(5));
    loop {
        tokio::select! {
            _ = tokio::time::sleep(period) => {}
            _ = stop.changed() => return,
        }
        for pool in gateway.routes().values() {
            pool.reap_idle();
            pool.sample();
        }
    }
}
