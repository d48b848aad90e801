//! `quilt bench`: an HTTP load generator for functions behind the gateway.
//!
//! - **Closed loop**: `connections` connections, each with one request in flight.
//! - **Open loop**: a constant `rate` spread over the connections; each request's latency counts
//!   from the moment it was *scheduled*, not sent, so a stalled server is not hidden by the
//!   generator waiting for it (coordinated omission corrected as wrk2 does).
//!
//! Latencies go into an HdrHistogram (1 µs to 60 s, 3 significant digits); the warm-up period is
//! excluded. A run that loses its server ends early and is marked partial.

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use quilt_workloads::Generator;
use rand::SeedableRng;
use serde::Serialize;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Where request bodies come from.
pub enum Bodies {
    /// The same body every time.
    Fixed(Bytes),
    /// A workload generator (`app/workflow`), one instance per connection.
    Workload {
        /// App name.
        app: String,
        /// Workflow or route name.
        workflow: String,
        /// Seed of the first connection (others add their index).
        seed: u64,
    },
}

/// How load is offered.
#[derive(Debug, Clone, Copy)]
pub enum Load {
    /// `connections` connections, one request in flight each.
    Closed {
        /// Connections.
        connections: usize,
    },
    /// `rate` requests per second over `connections` connections.
    Open {
        /// Requests per second.
        rate: f64,
        /// Connections.
        connections: usize,
    },
}

/// A benchmark run.
pub struct Spec {
    /// `http://host:port/path`.
    pub url: String,
    /// Request bodies.
    pub bodies: Bodies,
    /// Offered load.
    pub load: Load,
    /// Measured duration.
    pub duration: Duration,
    /// Excluded warm-up before it.
    pub warmup: Duration,
    /// Show a progress bar (on a terminal).
    pub progress: bool,
}

/// Latency percentiles in milliseconds.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
pub struct Latency {
    /// Median.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// 99.9th percentile.
    pub p999: f64,
    /// Largest.
    pub max: f64,
}

/// What a run measured.
#[derive(Debug, Clone, Serialize, serde::Deserialize, PartialEq)]
pub struct Outcome {
    /// Requests answered 2xx in the measured period.
    pub requests: u64,
    /// Requests that failed (non-2xx or transport error) in the measured period.
    pub errors: u64,
    /// Measured seconds.
    pub duration_s: f64,
    /// Successful requests per second.
    pub throughput_rps: f64,
    /// Latency of successful requests.
    pub latency_ms: Latency,
    /// Set when the run ended early; says why.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub partial: Option<String>,
}

struct Shared {
    histogram: Mutex<Histogram<u64>>,
    ok: AtomicU64,
    errors: AtomicU64,
    measuring: AtomicBool,
    stop: AtomicBool,
    fatal: Mutex<Option<String>>,
}

struct Target {
    host: String,
    port: u16,
    path: String,
}

fn parse_url(url: &str) -> Result<Target> {
    let uri: hyper::Uri = url.parse().with_context(|| format!("bad URL '{url}'"))?;
    if uri.scheme_str() != Some("http") {
        bail!("bad URL '{url}': only http:// is supported");
    }
    Ok(Target {
        host: uri.host().context("URL has no host")?.to_string(),
        port: uri.port_u16().unwrap_or(80),
        path: uri.path_and_query().map_or("/".into(), |p| p.to_string()),
    })
}

async fn connect(t: &Target) -> Result<SendRequest<Full<Bytes>>> {
    let stream = tokio::net::TcpStream::connect((t.host.as_str(), t.port))
        .await
        .with_context(|| format!("cannot reach {}:{}", t.host, t.port))?;
    let _ = stream.set_nodelay(true);
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    Ok(sender)
}

fn body_source(bodies: &Bodies, index: usize) -> Result<Box<dyn FnMut() -> Bytes + Send>> {
    Ok(match bodies {
        Bodies::Fixed(b) => {
            let b = b.clone();
            Box::new(move || b.clone())
        }
        Bodies::Workload {
            app,
            workflow,
            seed,
        } => {
            let mut generator: Generator = quilt_workloads::generator(app, workflow)?;
            let mut rng = rand::rngs::StdRng::seed_from_u64(seed.wrapping_add(index as u64));
            Box::new(move || Bytes::from(generator(&mut rng)))
        }
    })
}

/// Runs a benchmark.
pub async fn run(spec: Spec) -> Result<Outcome> {
    let target = Arc::new(parse_url(&spec.url)?);
    // Fail fast on an unreachable server.
    connect(&target).await?;
    let (connections, interval) = match spec.load {
        Load::Closed { connections } => (connections.max(1), None),
        Load::Open { rate, connections } => {
            if rate.is_nan() || rate <= 0.0 {
                bail!("--rate must be positive");
            }
            let c = connections.max(1);
            (c, Some(Duration::from_secs_f64(c as f64 / rate)))
        }
    };
    let shared = Arc::new(Shared {
        histogram: Mutex::new(Histogram::new_with_bounds(1, 60_000_000, 3)?),
        ok: AtomicU64::new(0),
        errors: AtomicU64::new(0),
        measuring: AtomicBool::new(spec.warmup.is_zero()),
        stop: AtomicBool::new(false),
        fatal: Mutex::new(None),
    });
    let start = Instant::now();
    let mut tasks = Vec::new();
    for i in 0..connections {
        let bodies = body_source(&spec.bodies, i)?;
        let shared = Arc::clone(&shared);
        let target = Arc::clone(&target);
        // Spread open-loop connections' schedules evenly over one interval.
        let offset = interval.map(|iv| iv.mul_f64(i as f64 / connections as f64));
        tasks.push(tokio::spawn(connection_loop(
            target, bodies, shared, interval, offset, start,
        )));
    }
    let bar = progress_bar(spec.progress, spec.warmup + spec.duration);
    let warm_end = start + spec.warmup;
    let end = warm_end + spec.duration;
    let mut measured_from = if spec.warmup.is_zero() {
        Some(start)
    } else {
        None
    };
    let mut partial = None;
    while Instant::now() < end {
        tokio::time::sleep(Duration::from_millis(50)).await;
        if measured_from.is_none() && Instant::now() >= warm_end {
            shared.histogram.lock().unwrap().reset();
            shared.ok.store(0, Ordering::Release);
            shared.errors.store(0, Ordering::Release);
            shared.measuring.store(true, Ordering::Release);
            measured_from = Some(Instant::now());
        }
        if let Some(b) = &bar {
            b.set_position(start.elapsed().as_millis() as u64);
        }
        if let Some(f) = shared.fatal.lock().unwrap().clone() {
            partial = Some(f);
            break;
        }
    }
    shared.stop.store(true, Ordering::Release);
    let measured_for = measured_from.map_or(Duration::ZERO, |m| m.elapsed());
    for t in tasks {
        t.abort();
    }
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let h = shared.histogram.lock().unwrap().clone();
    let ms = |v: u64| v as f64 / 1000.0;
    let requests = shared.ok.load(Ordering::Acquire);
    let secs = measured_for.as_secs_f64();
    Ok(Outcome {
        requests,
        errors: shared.errors.load(Ordering::Acquire),
        duration_s: secs,
        throughput_rps: if secs > 0.0 {
            requests as f64 / secs
        } else {
            0.0
        },
        latency_ms: Latency {
            p50: ms(h.value_at_quantile(0.5)),
            p90: ms(h.value_at_quantile(0.9)),
            p99: ms(h.value_at_quantile(0.99)),
            p999: ms(h.value_at_quantile(0.999)),
            max: ms(h.max()),
        },
        partial,
    })
}

fn progress_bar(show: bool, total: Duration) -> Option<indicatif::ProgressBar> {
    use std::io::IsTerminal;
    if !show || !std::io::stderr().is_terminal() {
        return None;
    }
    let bar = indicatif::ProgressBar::new(total.as_millis() as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} [{elapsed_precise}] {wide_bar} {percent}%",
        )
        .unwrap(),
    );
    Some(bar)
}

/// Consecutive transport failures after which a connection gives up on the server.
const FATAL_FAILURES: u32 = 50;

async fn connection_loop(
    target: Arc<Target>,
    mut bodies: Box<dyn FnMut() -> Bytes + Send>,
    shared: Arc<Shared>,
    interval: Option<Duration>,
    offset: Option<Duration>,
    start: Instant,
) {
    let mut sender: Option<SendRequest<Full<Bytes>>> = None;
    let mut next = start + offset.unwrap_or_default();
    let mut failures = 0u32;
    while !shared.stop.load(Ordering::Acquire) {
        let scheduled = match interval {
            Some(iv) => {
                tokio::time::sleep_until(next.into()).await;
                let s = next;
                next += iv;
                s
            }
            None => Instant::now(),
        };
        if sender.as_ref().is_none_or(|s| s.is_closed()) {
            match connect(&target).await {
                Ok(s) => sender = Some(s),
                Err(e) => {
                    failures += 1;
                    record_error(&shared);
                    if failures >= FATAL_FAILURES {
                        *shared.fatal.lock().unwrap() = Some(format!("server lost: {e:#}"));
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                    continue;
                }
            }
        }
        let req = hyper::Request::post(target.path.as_str())
            .header(
                hyper::header::HOST,
                format!("{}:{}", target.host, target.port),
            )
            .header(hyper::header::CONTENT_TYPE, "application/json")
            .body(Full::new(bodies()))
            .expect("valid request");
        let s = sender.as_mut().unwrap();
        let result = async {
            let resp = s.send_request(req).await?;
            let status = resp.status();
            resp.into_body().collect().await?;
            Ok::<_, hyper::Error>(status)
        }
        .await;
        match result {
            Ok(status) if status.is_success() => {
                failures = 0;
                if shared.measuring.load(Ordering::Acquire) {
                    let us = scheduled.elapsed().as_micros().max(1) as u64;
                    let _ = shared.histogram.lock().unwrap().record(us.min(60_000_000));
                    shared.ok.fetch_add(1, Ordering::AcqRel);
                }
            }
            Ok(_) => {
                failures = 0;
                record_error(&shared);
            }
            Err(_) => {
                sender = None;
                failures += 1;
                record_error(&shared);
            }
        }
    }
}

fn record_error(shared: &Shared) {
    if shared.measuring.load(Ordering::Acquire) {
        shared.errors.fetch_add(1, Ordering::AcqRel);
    }
}
