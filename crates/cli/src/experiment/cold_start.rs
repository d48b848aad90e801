//! `quilt experiment cold-start`: the first request after the platform scaled a workflow to zero.
//! examples/hello unmerged is a chain of three functions (hello → upper → decorate), so its first
//! request waits for three cold starts one after the other; merged (`hello-merged`) it waits for
//! one. The platform runs with a 1 s idle timeout; before every measured request the experiment
//! waits until no instance of either deployment is left.

use super::common::{self, md_table, median, round, Recorder};
use super::ExperimentArgs;
use crate::http;
use anyhow::{bail, Result};
use quilt_harness::experiment::Basic;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::time::{Duration, Instant};

const COLUMNS: &[&str] = &[
    "rep",
    "deployment",
    "route",
    "status",
    "cold_ms",
    "warm_ms",
    "instance_starts",
];

const BASELINE: &[&str] = &["hello", "upper", "decorate"];

/// A result row: one deployment's first and second request after scale to zero.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Row {
    /// The repetition, from 0.
    pub rep: usize,
    /// `baseline` or `merged`.
    pub deployment: String,
    /// The route requested.
    pub route: String,
    /// The first request's HTTP status.
    pub status: u16,
    /// The first request's latency, ms.
    pub cold_ms: f64,
    /// The second request's latency, ms.
    pub warm_ms: f64,
    /// Instances the first request started.
    pub instance_starts: u64,
}

/// `quilt experiment cold-start`.
pub const EXPERIMENT: Basic = Basic {
    name: "cold-start",
    reference: "—",
    about: "First request after scale to zero: unmerged chain against merged.",
    columns: COLUMNS,
    run,
};

/// Runs `quilt experiment cold-start`.
pub fn run(args: ExperimentArgs) -> Result<()> {
    if args.replot {
        return common::replot(EXPERIMENT.name, &args, COLUMNS, report);
    }
    let mut rec = Recorder::new(EXPERIMENT.name, &args, COLUMNS)?;
    let reps: usize = rec.mode.pick(2, 5, 15);
    let idle = Duration::from_secs(1);
    rec.set("app", "examples/hello");
    rec.set("tree", "examples/hello/workflows/hello.tree");
    rec.set("repetitions", reps);
    rec.set("idle_timeout_s", idle.as_secs_f64());
    rec.notes.push(
        "Each repetition measures baseline then merged (alternating), each after every instance of \
         both deployments has been stopped by the idle timeout; `warm_ms` is a second request sent \
         right after the cold one. Latency is measured by the client from sending the request on a \
         fresh connection to the full reply."
            .into(),
    );
    let rt = rec.runtime()?;
    let result = rt.block_on(async {
        let manifest = common::build(&common::require_app("examples/hello")?)?;
        let tree = common::tree(&manifest, "hello")?;
        let info = common::merged(&manifest, &tree, 0, rec.fresh)?;
        rec.extra
            .insert("merge".into(), serde_json::to_value(&info)?);
        let app = crate::up::start(
            &manifest,
            &crate::up::UpOptions {
                idle_timeout: Some(idle),
                ..Default::default()
            },
        )
        .await?;
        let url = app.url();
        let result = async {
            let body = br#"{"name":"quilt"}"#.to_vec();
            for rep in 0..reps {
                for (deployment, route, functions) in [
                    ("baseline", "hello", BASELINE),
                    ("merged", "hello-merged", &["hello-merged"][..]),
                ] {
                    let all: Vec<&str> = BASELINE.iter().copied().chain(["hello-merged"]).collect();
                    let deadline = Instant::now() + Duration::from_secs(60);
                    while all.iter().any(|f| app.platform.instances(f) > 0) {
                        if Instant::now() > deadline {
                            bail!("instances did not scale to zero within 60 s");
                        }
                        tokio::time::sleep(Duration::from_millis(50)).await;
                    }
                    let mut starts = 0;
                    for f in functions {
                        starts += common::metric(&url, "quilt_instance_starts_total", f).await;
                    }
                    let t = Instant::now();
                    let (status, reply) =
                        http::post(&format!("{url}/{route}"), body.clone()).await?;
                    let cold = t.elapsed().as_secs_f64() * 1000.0;
                    let t = Instant::now();
                    let (warm_status, _) =
                        http::post(&format!("{url}/{route}"), body.clone()).await?;
                    let warm = t.elapsed().as_secs_f64() * 1000.0;
                    let mut after = 0;
                    for f in functions {
                        after += common::metric(&url, "quilt_instance_starts_total", f).await;
                    }
                    if status != 200 || warm_status != 200 {
                        bail!(
                            "{route} answered HTTP {status}: {}",
                            String::from_utf8_lossy(&reply)
                        );
                    }
                    eprintln!(
                        "  rep {rep} {deployment}: cold {cold:.1} ms, warm {warm:.2} ms, {} starts",
                        after - starts
                    );
                    rec.push(Row {
                        rep,
                        deployment: deployment.into(),
                        route: route.into(),
                        status,
                        cold_ms: round(cold, 3),
                        warm_ms: round(warm, 3),
                        instance_starts: after - starts,
                    });
                }
            }
            Ok::<_, anyhow::Error>(())
        }
        .await;
        app.shutdown().await;
        result
    });
    drop(rt);
    let report = report(&rec);
    rec.finish(result, report)
}

fn report(rec: &Recorder<Row>) -> Result<common::Report> {
    let mut r = common::Report::default();
    let stats = |d: &str| {
        let rows: Vec<&Row> = rec.rows.iter().filter(|x| x.deployment == d).collect();
        let cold: Vec<f64> = rows.iter().map(|x| x.cold_ms).collect();
        let warm: Vec<f64> = rows.iter().map(|x| x.warm_ms).collect();
        let starts: Vec<f64> = rows.iter().map(|x| x.instance_starts as f64).collect();
        (
            rows.len(),
            median(&cold),
            median(&warm),
            median(&starts),
            cold,
        )
    };
    let (bn, bc, bw, bs, bcold) = stats("baseline");
    let (mn, mc, mw, ms, mcold) = stats("merged");
    let minmax = |v: &[f64]| {
        let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = v.iter().copied().fold(0.0, f64::max);
        format!("{lo:.1}–{hi:.1}")
    };
    r.table = md_table(
        &[
            "deployment",
            "repetitions",
            "cold starts per request (median)",
            "first request, median (ms)",
            "range (ms)",
            "warm request, median (ms)",
        ],
        &[
            vec![
                "baseline (`hello` → `upper` → `decorate`)".into(),
                bn.to_string(),
                format!("{bs}"),
                format!("{bc:.1}"),
                minmax(&bcold),
                format!("{bw:.2}"),
            ],
            vec![
                "merged (`hello-merged`)".into(),
                mn.to_string(),
                format!("{ms}"),
                format!("{mc:.1}"),
                minmax(&mcold),
                format!("{mw:.2}"),
            ],
        ],
    );
    r.headlines.push(format!(
        "first request after scale to zero, median of {bn}: baseline {bc:.1} ms ({bs} cold starts), \
         merged {mc:.1} ms ({ms} cold start): {} ({})",
        common::change(mc, bc),
        common::times(bc, mc).replace('×', "baseline ×"),
    ));
    r.summary.insert(
        "cold_ms_median".into(),
        json!({"baseline": round(bc, 3), "merged": round(mc, 3)}),
    );
    r.summary.insert(
        "warm_ms_median".into(),
        json!({"baseline": round(bw, 3), "merged": round(mw, 3)}),
    );
    r.summary.insert(
        "instance_starts_median".into(),
        json!({"baseline": bs, "merged": ms}),
    );
    crate::plot::grouped_bars(
        &rec.path("svg"),
        "examples/hello: first request after scale to zero (median, ms)",
        "latency (ms)",
        &[
            "cold (first request)".into(),
            "warm (second request)".into(),
        ],
        &[
            ("baseline".into(), vec![bc, bw]),
            ("merged".into(), vec![mc, mw]),
        ],
    )?;
    Ok(r)
}
