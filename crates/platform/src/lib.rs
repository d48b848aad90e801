//! The local serverless platform (`quilt up`): a gateway on one address routing `POST /<name>` to
//! pools of function instances, each a process of the function's binary, with scaling, queueing,
//! timeouts, restarts, cgroup limits and Prometheus metrics.

mod gateway;
mod instances;
pub mod limits;
pub mod metrics;
pub mod otlp;
pub mod sandbox;
pub mod services;
pub mod spans;

pub use instances::{Deployable, Placement, Resources};
pub use limits::Enforcement;

use anyhow::{Context, Result};
use gateway::Gateway;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use instances::{Pool, Shared};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;
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
    /// Trace requests from the start (switchable at run time through `/_quilt/tracing`).
    pub tracing: bool,
    /// Where the span store keeps its segments (memory only when None).
    pub span_dir: Option<std::path::PathBuf>,
    /// The admin token; a random one when None.
    pub admin_token: Option<String>,
    /// An outer gateway (`host:port`) for routes this platform does not serve.
    pub upstream: Option<String>,
    /// An OTLP/HTTP collector (`http://host:port`) that receives every span.
    pub otlp_endpoint: Option<String>,
}

impl Default for PlatformConfig {
    fn default() -> Self {
        PlatformConfig {
            bind: SocketAddr::from(([127, 0, 0, 1], 0)),
            deployables: Vec::new(),
            idle_timeout: Duration::from_secs(300),
            max_body_bytes: 6 << 20,
            header_timeout: Duration::from_secs(10),
            tracing: false,
            span_dir: None,
            admin_token: None,
            upstream: None,
            otlp_endpoint: None,
        }
    }
}

impl PlatformConfig {
    /// The defaults with an app's platform settings (idle timeout, body limit, header timeout).
    pub fn from_settings(settings: &quilt_manifest::PlatformSettings) -> Self {
        PlatformConfig {
            idle_timeout: Duration::from_secs_f64(settings.idle_timeout_s),
            max_body_bytes: settings.max_body_bytes,
            header_timeout: Duration::from_secs_f64(settings.header_timeout_s),
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
        });
        shared
            .metrics
            .limits_enforced
            .set(shared.enforcement.enforced() as i64);
        let mut pools = HashMap::new();
        for d in config.deployables {
            // Route names become cgroup folder names and environment values.
            if !limits::is_safe_name(&d.name) {
                anyhow::bail!(
                    "route {:?}: names are made of [A-Za-z0-9._-] (and are not '.' or '..')",
                    d.name
                );
            }
            let name = d.name.clone();
            pools.insert(name, Pool::new(d, Arc::clone(&shared)));
        }
        let gateway = Arc::new(Gateway {
            pools,
            shared,
            max_body: config.max_body_bytes,
            header_timeout: config.header_timeout,
            upstream: config.upstream.clone(),
        });
        let (stop, stop_rx) = watch::channel(false);
        let mut tasks = vec![tokio::spawn(accept_loop(
            listener,
            Arc::clone(&gateway),
            stop_rx.clone(),
        ))];
        tasks.push(tokio::spawn(reaper(Arc::clone(&gateway), stop_rx)));
        let platform = Platform {
            addr,
            gateway,
            stop,
            tasks,
        };
        let pools: Vec<Arc<Pool>> = platform.gateway.pools.values().cloned().collect();
        for pool in pools {
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
            .pools
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
        let mut routes: Vec<String> = self.gateway.pools.keys().cloned().collect();
        routes.sort();
        routes
    }

    /// Running instances of a route (0 for unknown routes).
    pub fn instances(&self, name: &str) -> usize {
        self.gateway
            .pools
            .get(name)
            .map_or(0, |p| p.instance_count())
    }

    /// Serves one connection given as a byte stream, as the gateway serves accepted sockets (the
    /// fuzz targets in `fuzz/` drive the gateway's request handling this way).
    #[doc(hidden)]
    pub async fn serve_stream<IO>(&self, io: IO)
    where
        IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    {
        serve_connection(Arc::clone(&self.gateway), io).await
    }

    /// Stops serving and stops every instance, waiting until their processes are gone.
    pub async fn shutdown(self) {
        self.gateway.shared.stopping.store(true, Ordering::Release);
        let _ = self.stop.send(true);
        for pool in self.gateway.pools.values() {
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
    }
}

fn random_token() -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    (0..32)
        .map(|_| format!("{:02x}", rng.random::<u8>()))
        .collect()
}

async fn accept_loop(
    listener: tokio::net::TcpListener,
    gateway: Arc<Gateway>,
    mut stop: watch::Receiver<bool>,
) {
    loop {
        let accepted = tokio::select! {
            a = listener.accept() => a,
            _ = stop.changed() => return,
        };
        let Ok((stream, _)) = accepted else { continue };
        let _ = stream.set_nodelay(true);
        tokio::spawn(serve_connection(Arc::clone(&gateway), stream));
    }
}

/// Serves HTTP/1.1 on one connection until it closes.
async fn serve_connection<IO>(gateway: Arc<Gateway>, io: IO)
where
    IO: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
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

async fn reaper(gateway: Arc<Gateway>, mut stop: watch::Receiver<bool>) {
    let period =
        (gateway.shared.idle_timeout / 4).clamp(Duration::from_millis(50), Duration::from_secs(5));
    loop {
        tokio::select! {
            _ = tokio::time::sleep(period) => {}
            _ = stop.changed() => return,
        }
        for pool in gateway.pools.values() {
            pool.reap_idle();
            pool.sample();
        }
    }
}
