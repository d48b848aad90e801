//! The load runner of the experiments and `quilt optimize`: runs of the load generator on a runtime
//! of their own, and the figures of a run as result rows carry them ([`Figures`]).

use crate::experiment::round;
use anyhow::{bail, Result};
use quilt_bench::{Bodies, Load, Outcome, Spec};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// A load generator on its own single-worker runtime (as `wrk -t1` is its own process), so that it
/// does not share the gateway's worker threads. Drop it outside any runtime.
pub struct Loader {
    rt: tokio::runtime::Runtime,
}

impl Loader {
    /// A generator runtime with one worker.
    pub fn new() -> Result<Loader> {
        Ok(Loader {
            rt: tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .thread_name("quilt-loadgen")
                .enable_all()
                .build()?,
        })
    }

    /// Runs `spec` on the generator's runtime.
    pub async fn run(&self, spec: Spec) -> Result<Outcome> {
        self.rt.spawn(quilt_bench::run(spec)).await?
    }

    /// A closed-loop run against `url`: `connections` connections, one request in flight each.
    pub async fn closed(
        &self,
        url: &str,
        bodies: Bodies,
        connections: usize,
        (duration, warmup): (Duration, Duration),
    ) -> Result<Outcome> {
        let spec = Spec {
            url: url.to_string(),
            bodies,
            load: Load::Closed { connections },
            duration,
            warmup,
            progress: false,
        };
        let outcome = self.run(spec).await?;
        eprintln!(
            "  {url} c={connections}: {} ok, {} failed, {:.1} req/s, p50 {:.3} ms, p99 {:.3} ms",
            outcome.requests,
            outcome.errors,
            outcome.throughput_rps,
            outcome.latency_ms.p50,
            outcome.latency_ms.p99
        );
        if let Some(why) = &outcome.partial {
            bail!("the run against {url} ended early: {why}");
        }
        Ok(outcome)
    }
}

/// The figures of a load run as experiment rows carry them: counts, throughput and latencies,
/// rounded; no latencies when no request succeeded.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Figures {
    /// Successful requests.
    pub requests: u64,
    /// Failed requests.
    pub errors: u64,
    /// Seconds measured.
    pub duration_s: f64,
    /// Successful requests per second.
    pub throughput_rps: f64,
    /// Median latency, ms.
    pub p50_ms: Option<f64>,
    /// 90th percentile latency, ms.
    pub p90_ms: Option<f64>,
    /// 99th percentile latency, ms.
    pub p99_ms: Option<f64>,
    /// Highest latency, ms.
    pub max_ms: Option<f64>,
}

impl Figures {
    /// The figures of an outcome.
    pub fn of(o: &Outcome) -> Figures {
        // No successful request: there is no latency to report.
        let ms = |v: f64| (o.requests > 0).then(|| round(v, 3));
        Figures {
            requests: o.requests,
            errors: o.errors,
            duration_s: round(o.duration_s, 2),
            throughput_rps: round(o.throughput_rps, 1),
            p50_ms: ms(o.latency_ms.p50),
            p90_ms: ms(o.latency_ms.p90),
            p99_ms: ms(o.latency_ms.p99),
            max_ms: ms(o.latency_ms.max),
        }
    }

    /// The median latency, ms (NaN when none).
    pub fn p50(&self) -> f64 {
        self.p50_ms.unwrap_or(f64::NAN)
    }

    /// The 99th percentile latency, ms (NaN when none).
    pub fn p99(&self) -> f64 {
        self.p99_ms.unwrap_or(f64::NAN)
    }
}
