//! Prometheus metrics of the gateway and the instance manager.

use prometheus::core::Collector;
use prometheus::proto::Metric;
use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};
use std::collections::HashMap;
use std::sync::OnceLock;

/// The platform's metrics, in their own registry.
pub struct Metrics {
    registry: Registry,
    /// Requests received per function.
    pub requests: IntCounterVec,
    /// Responses per function and HTTP status.
    pub responses: IntCounterVec,
    /// Gateway latency per function.
    pub latency: HistogramVec,
    /// Running instances per function.
    pub instances: IntGaugeVec,
    /// Instance starts per function (cold starts included).
    pub starts: IntCounterVec,
    /// Instances that exited without being asked to.
    pub crashes: IntCounterVec,
    /// Instances taken out of service after a request ran past its timeout, per function.
    pub recycles: IntCounterVec,
    /// Requests whose client went away before their answer, per function.
    pub aborted: IntCounterVec,
    /// Requests waiting for an instance, per function.
    pub queued: IntGaugeVec,
    /// 1 when memory/CPU limits are enforced by cgroups.
    pub limits_enforced: IntGauge,
    /// Client connections open.
    pub connections: IntGauge,
    /// Client connections the gateway holds at most.
    pub max_connections: IntGauge,
    /// Connections answered 503 and closed because the gateway held its maximum.
    pub connections_shed: IntCounter,
    /// Accepts that failed for want of file descriptors (the accept loop backed off).
    pub accept_errors: IntCounter,
    /// Bytes held in request bodies still being received.
    pub body_bytes: IntGauge,
    /// Requests answered 503 because incomplete bodies held the whole body memory.
    pub body_memory_refusals: IntCounter,
}

impl Metrics {
    /// Creates and registers every metric.
    pub fn new() -> Metrics {
        let registry = Registry::new();
        let counter = |name: &str, help: &str, labels: &[&str]| {
            let c = IntCounterVec::new(Opts::new(name, help), labels).unwrap();
            registry.register(Box::new(c.clone())).unwrap();
            c
        };
        let gauge = |name: &str, help: &str| {
            let g = IntGaugeVec::new(Opts::new(name, help), &["function"]).unwrap();
            registry.register(Box::new(g.clone())).unwrap();
            g
        };
        let latency = HistogramVec::new(
            HistogramOpts::new(
                "quilt_gateway_request_duration_seconds",
                "Time from request to response at the gateway",
            )
            .buckets(vec![
                0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                1.0, 2.5, 5.0, 10.0, 30.0,
            ]),
            &["function"],
        )
        .unwrap();
        registry.register(Box::new(latency.clone())).unwrap();
        let limits_enforced = IntGauge::new(
            "quilt_limits_enforced",
            "1 when per-instance memory and CPU limits are enforced with cgroups",
        )
        .unwrap();
        registry
            .register(Box::new(limits_enforced.clone()))
            .unwrap();
        let single_gauge = |name: &str, help: &str| {
            let g = IntGauge::new(name, help).unwrap();
            registry.register(Box::new(g.clone())).unwrap();
            g
        };
        let single_counter = |name: &str, help: &str| {
            let c = IntCounter::new(name, help).unwrap();
            registry.register(Box::new(c.clone())).unwrap();
            c
        };
        let connections = single_gauge("quilt_gateway_connections", "Client connections open");
        let max_connections = single_gauge(
            "quilt_gateway_max_connections",
            "Client connections the gateway holds at most (more are answered 503 and closed)",
        );
        let connections_shed = single_counter(
            "quilt_gateway_connections_shed_total",
            "Connections answered 503 and closed because the gateway held its maximum",
        );
        let accept_errors = single_counter(
            "quilt_gateway_accept_errors_total",
            "Accepts that failed for want of file descriptors (the accept loop backed off)",
        );
        let body_bytes = single_gauge(
            "quilt_gateway_body_bytes",
            "Bytes held in request bodies still being received",
        );
        let body_memory_refusals = single_counter(
            "quilt_gateway_body_memory_refusals_total",
            "Requests answered 503 because incomplete bodies held the whole body memory",
        );
        Metrics {
            requests: counter(
                "quilt_gateway_requests_total",
                "Requests received per function",
                &["function"],
            ),
            responses: counter(
                "quilt_gateway_responses_total",
                "Responses per function and HTTP status",
                &["function", "code"],
            ),
            latency,
            instances: gauge("quilt_instances", "Running instances per function"),
            starts: counter(
                "quilt_instance_starts_total",
                "Instance starts per function",
                &["function"],
            ),
            crashes: counter(
                "quilt_instance_crashes_total",
                "Instances that exited unasked, per function",
                &["function"],
            ),
            recycles: counter(
                "quilt_instance_recycles_total",
                "Instances recycled after a request ran past its timeout, per function",
                &["function"],
            ),
            aborted: counter(
                "quilt_gateway_requests_aborted_total",
                "Requests whose client went away before their answer, per function",
                &["function"],
            ),
            queued: gauge("quilt_queued_requests", "Requests waiting for an instance"),
            limits_enforced,
            connections,
            max_connections,
            connections_shed,
            accept_errors,
            body_bytes,
            body_memory_refusals,
            registry,
        }
    }

    /// The metrics in Prometheus text format.
    pub fn render(&self) -> String {
        let mut buf = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut buf)
            .expect("text encoding never fails");
        String::from_utf8(buf).expect("metrics are UTF-8")
    }

    /// Every route's request figures, by route (read without creating any series: each family
    /// is collected once).
    pub fn figures_by_route(&self) -> HashMap<String, RouteFigures> {
        let mut by_route = HashMap::new();
        add_by_route(&self.requests, &mut by_route, |m, f| {
            f.requests = m.get_counter().get_value() as u64;
        });
        add_by_route(&self.responses, &mut by_route, |m, f| {
            let code = label(m, "code").to_string();
            f.responses.insert(code, m.get_counter().get_value() as u64);
        });
        add_by_route(&self.latency, &mut by_route, |m, f| {
            let h = m.get_histogram();
            f.answered = h.get_sample_count();
            f.latency_sum_seconds = h.get_sample_sum();
            f.latency_buckets = h
                .get_bucket()
                .iter()
                .map(|b| (b.upper_bound(), b.cumulative_count()))
                .collect();
        });
        by_route
    }
}

/// One function's series on the gateway's path, each looked up on first use and kept: a lookup by
/// label hashes the label and takes a lock, and every request would make several.
pub(crate) struct FunctionSeries {
    function: String,
    requests: OnceLock<IntCounter>,
    latency: OnceLock<Histogram>,
    answered_ok: OnceLock<IntCounter>,
    instances: OnceLock<IntGauge>,
    queued: OnceLock<IntGauge>,
}

impl FunctionSeries {
    pub fn new(function: &str) -> FunctionSeries {
        FunctionSeries {
            function: function.to_string(),
            requests: OnceLock::new(),
            latency: OnceLock::new(),
            answered_ok: OnceLock::new(),
            instances: OnceLock::new(),
            queued: OnceLock::new(),
        }
    }

    /// `quilt_gateway_requests_total` of this function.
    pub fn requests(&self, m: &Metrics) -> &IntCounter {
        self.requests
            .get_or_init(|| m.requests.with_label_values(&[&self.function]))
    }

    /// `quilt_gateway_request_duration_seconds` of this function.
    pub fn latency(&self, m: &Metrics) -> &Histogram {
        self.latency
            .get_or_init(|| m.latency.with_label_values(&[&self.function]))
    }

    /// Counts one response with status `code`.
    pub fn count_response(&self, m: &Metrics, code: hyper::StatusCode) {
        if code == hyper::StatusCode::OK {
            self.answered_ok
                .get_or_init(|| m.responses.with_label_values(&[&self.function, "200"]))
                .inc();
        } else {
            m.responses
                .with_label_values(&[&self.function, code.as_str()])
                .inc();
        }
    }

    /// `quilt_instances` of this function.
    pub fn instances(&self, m: &Metrics) -> &IntGauge {
        self.instances
            .get_or_init(|| m.instances.with_label_values(&[&self.function]))
    }

    /// `quilt_queued_requests` of this function.
    pub fn queued(&self, m: &Metrics) -> &IntGauge {
        self.queued
            .get_or_init(|| m.queued.with_label_values(&[&self.function]))
    }
}

/// One route's request figures so far, as the dashboard reads them.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct RouteFigures {
    /// Requests received.
    pub requests: u64,
    /// Responses per HTTP status.
    pub responses: std::collections::BTreeMap<String, u64>,
    /// Requests answered so far (latency observations).
    pub answered: u64,
    /// Their latency summed, seconds.
    pub latency_sum_seconds: f64,
    /// Cumulative latency histogram: `(upper bound in seconds, requests at most that long)`.
    pub latency_buckets: Vec<(f64, u64)>,
}

/// A label's value on a collected metric ("" when absent).
fn label<'m>(m: &'m Metric, name: &str) -> &'m str {
    m.get_label()
        .iter()
        .find(|l| l.name() == name)
        .map_or("", |l| l.value())
}

/// Hands each metric `collector` holds to `add`, with the figures of its `function`.
fn add_by_route(
    collector: &dyn Collector,
    by_route: &mut HashMap<String, RouteFigures>,
    mut add: impl FnMut(&Metric, &mut RouteFigures),
) {
    for family in collector.collect() {
        for m in family.get_metric() {
            add(
                m,
                by_route
                    .entry(label(m, "function").to_string())
                    .or_default(),
            );
        }
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics::new()
    }
}
