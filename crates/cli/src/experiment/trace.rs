//! `quilt experiment tracing` (the reference's Figure 9a): what tracing costs. The no-op function
//! of tests/apps/faults (`noop`, `{}` in and out) and `relay` (noop behind one more hop), with
//! tracing off and on, over a sweep of connections: latency against throughput.
//!
//! The reference switched an nginx ingress in and out of the request path; here tracing means the
//! gateway records a span per request (and the instance one per execution, carried back in a
//! response header) into the embedded span store.

use super::common::{self, md_table, round, Loader, Recorder};
use super::ExperimentArgs;
use crate::plot::{lines, Series};
use anyhow::Result;
use quilt_bench::Bodies;
use quilt_harness::experiment::Basic;
use quilt_harness::load::Figures;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::time::Duration;

const COLUMNS: &[&str] = &[
    "route",
    "tracing",
    "connections",
    "requests",
    "errors",
    "throughput_rps",
    "p50_ms",
    "p90_ms",
    "p99_ms",
    "max_ms",
];

/// A result row: one route at one connection count with tracing off or on.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Row {
    /// The function measured.
    pub route: String,
    /// "off" or "on".
    pub tracing: String,
    /// Connections of the closed loop.
    pub connections: usize,
    /// What the run measured.
    #[serde(flatten)]
    pub figures: Figures,
}

/// `quilt experiment tracing`.
pub const EXPERIMENT: Basic = Basic {
    name: "tracing",
    reference: "Figure 9a",
    about: "A no-op function with tracing on and off.",
    columns: COLUMNS,
    run,
};

/// Runs `quilt experiment tracing`.
pub fn run(args: ExperimentArgs) -> Result<()> {
    if args.replot {
        return common::replot(EXPERIMENT.name, &args, COLUMNS, report);
    }
    let mut rec = Recorder::new(EXPERIMENT.name, &args, COLUMNS)?;
    let mode = rec.mode;
    let sweep: Vec<usize> = mode.pick(
        vec![1, 4],
        vec![1, 4, 16],
        vec![1, 3, 5, 7, 10, 15, 20, 30, 40, 50, 70],
    );
    let routes: Vec<&str> = mode.pick(vec!["noop"], vec!["noop", "relay"], vec!["noop", "relay"]);
    let times = mode.pick(
        (Duration::from_secs(1), Duration::from_millis(300)),
        (Duration::from_secs(3), Duration::from_secs(1)),
        (Duration::from_secs(10), Duration::from_secs(2)),
    );
    rec.set("app", "tests/apps/faults");
    rec.set("routes", &routes);
    rec.set("connections", &sweep);
    rec.set("duration_s", times.0.as_secs_f64());
    rec.set("warmup_s", times.1.as_secs_f64());
    rec.notes.push(
        "Closed loop; tracing off and on alternate at every connection count, so that drift in the \
         machine's background load hits both alike. Tracing on: the gateway records a span per \
         request and every instance one per execution (kept in the embedded span store)."
            .into(),
    );
    let loader = Loader::new()?;
    let rt = rec.runtime()?;
    let result = rt.block_on(async {
        let manifest = common::build(&common::require_app("tests/apps/faults")?)?;
        let app = crate::up::start(
            &manifest,
            &crate::up::UpOptions {
                idle_timeout: Some(Duration::from_secs(600)),
                ..Default::default()
            },
        )
        .await?;
        let url = app.url();
        let result = async {
            for route in &routes {
                for &c in &sweep {
                    for tracing in [false, true] {
                        app.platform.set_tracing(tracing);
                        let o = loader
                            .closed(
                                &format!("{url}/{route}"),
                                Bodies::Fixed("{}".into()),
                                c,
                                times,
                            )
                            .await?;
                        rec.push(Row {
                            route: route.to_string(),
                            tracing: if tracing { "on" } else { "off" }.into(),
                            connections: c,
                            figures: Figures::of(&o),
                        });
                    }
                }
            }
            Ok::<_, anyhow::Error>(())
        }
        .await;
        app.platform.set_tracing(false);
        app.shutdown().await;
        result
    });
    drop(rt);
    drop(loader);
    let report = report(&rec);
    rec.finish(result, report)
}

fn report(rec: &Recorder<Row>) -> Result<common::Report> {
    let mut r = common::Report::default();
    let mut series = Vec::new();
    let mut table = Vec::new();
    let routes: Vec<String> = {
        let mut v: Vec<String> = rec.rows.iter().map(|x| x.route.clone()).collect();
        v.dedup();
        v
    };
    for route in &routes {
        let pick = |t: &str| -> Vec<&Row> {
            rec.rows
                .iter()
                .filter(|x| &x.route == route && x.tracing == t)
                .collect()
        };
        let (off, on) = (pick("off"), pick("on"));
        for (t, rows) in [("off", &off), ("on", &on)] {
            series.push(Series {
                label: format!("{route}, tracing {t}"),
                points: rows
                    .iter()
                    .map(|x| (x.figures.throughput_rps, x.figures.p50()))
                    .collect(),
            });
        }
        for (a, b) in off.iter().zip(&on) {
            table.push(vec![
                route.clone(),
                format!("{}", a.connections),
                common::fmt(a.figures.throughput_rps, 0),
                common::fmt(b.figures.throughput_rps, 0),
                common::change(b.figures.throughput_rps, a.figures.throughput_rps),
                common::fmt(a.figures.p50(), 3),
                common::fmt(b.figures.p50(), 3),
                common::change(b.figures.p50(), a.figures.p50()),
                common::fmt(a.figures.p99(), 3),
                common::fmt(b.figures.p99(), 3),
            ]);
        }
        let peak = |rows: &[&Row]| {
            rows.iter()
                .map(|x| x.figures.throughput_rps)
                .fold(0.0, f64::max)
        };
        let p50_1 = |rows: &[&Row]| rows.first().map_or(f64::NAN, |x| x.figures.p50());
        let (peak_off, peak_on) = (peak(&off), peak(&on));
        r.headlines.push(format!(
            "{route}: peak throughput {:.0} req/s with tracing off, {:.0} with tracing on ({}); p50 at \
             1 connection {:.3} ms off, {:.3} ms on ({})",
            peak_off,
            peak_on,
            common::change(peak_on, peak_off),
            p50_1(&off),
            p50_1(&on),
            common::change(p50_1(&on), p50_1(&off)),
        ));
        r.summary.insert(
            route.clone(),
            json!({
                "peak_rps_off": round(peak_off, 1),
                "peak_rps_on": round(peak_on, 1),
                "p50_1conn_ms_off": p50_1(&off),
                "p50_1conn_ms_on": p50_1(&on),
            }),
        );
    }
    r.table = md_table(
        &[
            "route",
            "connections",
            "req/s off",
            "req/s on",
            "Δ req/s",
            "p50 off (ms)",
            "p50 on (ms)",
            "Δ p50",
            "p99 off (ms)",
            "p99 on (ms)",
        ],
        &table,
    );
    lines(
        &rec.path("svg"),
        "tracing off vs on: p50 latency against throughput",
        ("throughput (req/s)", "p50 latency (ms)"),
        &series,
        true,
    )?;
    Ok(r)
}
