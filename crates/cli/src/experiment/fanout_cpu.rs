//! `quilt experiment fanout-cpu` (the reference's Figure 8c): hotel-reservation's
//! nearby-cinema-top — two fork-join levels over six CPU-bound leaves (each generates `num` random
//! points and searches their 5 nearest) — in the async variant with the fake database, under a
//! per-instance CPU limit and a fixed budget of instances per deployment:
//!
//! - **baseline**: the nine functions, each its own deployment;
//! - **merge-all**: `nearby-cinema-top-merged` (funcTree `nearby-cinema-top`): the six leaves share
//!   one instance's CPU limit;
//! - **split**: the reference's split into two (funcTrees `nearby-cinema-top-2` and
//!   `nearby-cinema-parallel-2-2`): `nearby-cinema-top-2-merged` runs the top, one parallel node and
//!   three leaves, and calls `nearby-cinema-parallel-2-2`, which is served by its merged binary
//!   (the other parallel node and three leaves) — two instances, each with its own CPU limit.
//!
//! Limits are set by overriding the deployables the platform runs (not the manifest): every
//! deployment — function or merged group — gets `--cpu` cores and `--memory` MiB per instance and
//! at most `--max-instances` instances. (A merged deployment would otherwise get the sum of its
//! members' limits.) The solver's own plan for the profiled call graph under the same CPU limit is recorded
//! beside the measurement.

use super::common::{self, md_table, round, Loader, Recorder};
use super::ExperimentArgs;
use crate::plot::{lines, Series};
use anyhow::{Context, Result};
use clap::{Args, FromArgMatches};
use quilt_bench::Bodies;
use quilt_harness::experiment::Experiment;
use quilt_harness::load::Figures;
use quilt_manifest::Manifest;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::time::Duration;

const COLUMNS: &[&str] = &[
    "deployment",
    "route",
    "connections",
    "requests",
    "errors",
    "throughput_rps",
    "p50_ms",
    "p90_ms",
    "p99_ms",
    "max_ms",
];

/// A result row: one deployment at one connection count.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Row {
    /// `baseline`, `merge-all` or `split`.
    pub deployment: String,
    /// The route measured.
    pub route: String,
    /// Connections of the closed loop.
    pub connections: usize,
    /// What the run measured.
    #[serde(flatten)]
    pub figures: Figures,
}

/// Arguments of `quilt experiment fanout-cpu`.
#[derive(Debug, Clone, Args)]
pub struct FanoutCpuArgs {
    #[command(flatten)]
    #[allow(missing_docs)]
    pub common: ExperimentArgs,
    /// CPU limit per instance, cores, for every deployment.
    #[arg(long, default_value_t = 1.0)]
    pub cpu: f64,
    /// Most instances of each deployment.
    #[arg(long, default_value_t = 1)]
    pub max_instances: u32,
    /// Memory limit per instance, MiB, for every deployment: generous, so that only CPU binds (at
    /// 128 MiB a leaf instance serving a dozen requests at once is OOM-killed).
    #[arg(long, default_value_t = 1024)]
    pub memory: u64,
    /// Points each leaf generates [default: 300000, the reference's; --quick 100000].
    #[arg(long)]
    pub num: Option<u64>,
}

impl Default for FanoutCpuArgs {
    fn default() -> Self {
        FanoutCpuArgs {
            common: ExperimentArgs::default(),
            cpu: 1.0,
            max_instances: 1,
            memory: 1024,
            num: None,
        }
    }
}

const NAME: &str = "fanout-cpu";

/// `quilt experiment fanout-cpu`: takes [`FanoutCpuArgs`].
pub struct FanoutCpu;

impl Experiment for FanoutCpu {
    fn name(&self) -> &'static str {
        NAME
    }

    fn about(&self) -> &'static str {
        "nearby-cinema-top under a CPU limit: baseline, merge-all and the split into two."
    }

    fn reference(&self) -> &'static str {
        "Figure 8c"
    }

    fn columns(&self) -> &'static [&'static str] {
        COLUMNS
    }

    fn command(&self) -> clap::Command {
        FanoutCpuArgs::augment_args(clap::Command::new(NAME)).about(self.about())
    }

    fn run_matches(&self, matches: &clap::ArgMatches) -> Result<()> {
        run(FanoutCpuArgs::from_arg_matches(matches)?)
    }

    fn run(&self, common: ExperimentArgs) -> Result<()> {
        run(FanoutCpuArgs {
            common,
            ..FanoutCpuArgs::default()
        })
    }
}

const SPLIT_B: &str = "nearby-cinema-parallel-2-2";

/// Runs `quilt experiment fanout-cpu`.
pub fn run(args: FanoutCpuArgs) -> Result<()> {
    if !(args.cpu.is_finite() && args.cpu > 0.0) || args.max_instances == 0 || args.memory == 0 {
        anyhow::bail!("--cpu and --memory must be positive and --max-instances at least 1");
    }
    if args.common.replot {
        return common::replot(NAME, &args.common, COLUMNS, report);
    }
    let mut rec = Recorder::new(NAME, &args.common, COLUMNS)?;
    let mode = rec.mode;
    if (args.cpu, args.max_instances, args.memory) != (1.0, 1, 1024) || args.num.is_some() {
        rec.command.push_str(&format!(
            " --cpu {} --max-instances {} --memory {}{}",
            args.cpu,
            args.max_instances,
            args.memory,
            args.num.map(|n| format!(" --num {n}")).unwrap_or_default()
        ));
    }
    let num = args.num.unwrap_or(mode.pick(20_000, 100_000, 300_000));
    let sweep: Vec<usize> = mode.pick(vec![1, 2], vec![1, 2, 4], vec![1, 2, 3, 4, 6, 8, 12, 16]);
    let times = mode.pick(
        (Duration::from_secs(2), Duration::from_millis(500)),
        (Duration::from_secs(5), Duration::from_secs(1)),
        (Duration::from_secs(15), Duration::from_secs(3)),
    );
    rec.set("app", "apps/hotel-reservation");
    rec.set("fakedb", true);
    rec.set("variant", "async");
    rec.set("num", num);
    rec.set("cpu_per_instance", args.cpu);
    rec.set("max_instances_per_deployment", args.max_instances);
    rec.set("memory_mb_per_instance", args.memory);
    rec.set("connections", &sweep);
    rec.set("duration_s", times.0.as_secs_f64());
    rec.set("warmup_s", times.1.as_secs_f64());
    rec.notes.push(format!(
        "Every deployment (the nine functions of the baseline, each merged group) runs with a CPU \
         limit of {} core(s) and {} MiB per instance and at most {} instance(s): the experiment \
         overrides the deployables it hands the platform (cpu, memory_mb, max_instances), leaving \
         quilt.toml alone. The \
         split's unit B is served under the name the top calls, `{SPLIT_B}`, by the merged binary \
         `{SPLIT_B}-merged`. Body {{\"num\": {num}}} (the reference: 300000). Closed loop, {} s per \
         point after {} s of warm-up.",
        args.cpu,
        args.memory,
        args.max_instances,
        times.0.as_secs_f64(),
        times.1.as_secs_f64()
    ));
    let loader = Loader::new()?;
    let rt = rec.runtime()?;
    let result = rt.block_on(async {
        let manifest = common::build(&common::require_app("apps/hotel-reservation")?)?;
        let mut merges = serde_json::Map::new();
        for t in ["nearby-cinema-top", "nearby-cinema-top-2", SPLIT_B] {
            let tree = common::tree(&manifest, t)?;
            let info = common::merged(&manifest, &tree, 0, rec.fresh)?;
            merges.insert(t.into(), serde_json::to_value(&info)?);
        }
        rec.extra.insert("merges".into(), merges.into());
        let platform = start(&manifest, (args.cpu, args.memory), args.max_instances).await?;
        let url = format!("http://{}", platform.addr());
        let body = json!({"num": num}).to_string();
        let result = async {
            if mode != common::Mode::Smoke {
                match solver_plan(&platform, &manifest, &body, args.cpu).await {
                    Ok(plan)
                        if plan["profiled_cpu"]
                            .as_object()
                            .is_some_and(|m| m.values().all(|c| c.as_f64() == Some(0.0))) =>
                    {
                        rec.notes.push(
                            "The profile measured no CPU time for any function (the platform's \
                             per-instance CPU meter read nothing on this machine), so the solver's \
                             plan against the CPU limit would be meaningless and is not shown; the \
                             split measured is the reference's funcTrees."
                                .into(),
                        );
                        rec.extra.insert("solver_plan".into(), plan);
                    }
                    Ok(plan) => {
                        rec.notes.push(format!(
                            "The solver's plan for the profiled call graph under a CPU limit of {} \
                             core(s): {}",
                            args.cpu,
                            describe_plan(&plan)
                        ));
                        rec.extra.insert("solver_plan".into(), plan);
                    }
                    Err(e) => rec.notes.push(format!("solver plan not made: {e:#}")),
                }
            }
            for (deployment, route) in [
                ("baseline", "nearby-cinema-top"),
                ("merge-all", "nearby-cinema-top-merged"),
                ("split", "nearby-cinema-top-2-merged"),
            ] {
                let (status, reply) =
                    crate::http::post(&format!("{url}/{route}"), body.clone().into_bytes()).await?;
                if status != 200 {
                    anyhow::bail!(
                        "{route} answered HTTP {status}: {}",
                        String::from_utf8_lossy(&reply)
                    );
                }
                for &c in &sweep {
                    let o = loader
                        .closed(
                            &format!("{url}/{route}"),
                            Bodies::Fixed(body.clone().into()),
                            c,
                            times,
                        )
                        .await?;
                    rec.push(Row {
                        deployment: deployment.to_string(),
                        route: route.to_string(),
                        connections: c,
                        figures: Figures::of(&o),
                    });
                }
            }
            Ok::<_, anyhow::Error>(())
        }
        .await;
        platform.shutdown().await;
        result
    });
    drop(rt);
    drop(loader);
    let report = report(&rec);
    rec.finish(result, report)
}

async fn start(
    manifest: &Manifest,
    (cpu, memory_mb): (f64, u64),
    max_instances: u32,
) -> Result<quilt_platform::Platform> {
    let mut deployables = crate::up::deployables(manifest)?;
    let merged_b = deployables
        .iter()
        .find(|d| d.name == format!("{SPLIT_B}-merged"))
        .cloned()
        .with_context(|| format!("{SPLIT_B}-merged is not installed"))?;
    for d in &mut deployables {
        d.cpu = cpu;
        d.memory_mb = memory_mb;
        d.max_instances = max_instances;
        d.min_instances = d.min_instances.min(max_instances);
        if d.name == SPLIT_B {
            d.binary = merged_b.binary.clone();
            d.args = merged_b.args.clone();
        }
    }
    let env = vec![
        (crate::up::FAKEDB_ENV.to_string(), "1".to_string()),
        (crate::up::VARIANT_ENV.to_string(), "async".to_string()),
    ];
    common::start_platform(manifest, deployables, &env, Duration::from_secs(600)).await
}

/// Profiles the baseline workflow and asks the solver for a plan under the CPU limit (memory
/// generous), as `quilt optimize` would.
async fn solver_plan(
    platform: &quilt_platform::Platform,
    manifest: &Manifest,
    body: &str,
    cpu: f64,
) -> Result<serde_json::Value> {
    let url = format!("http://{}", platform.addr());
    let graph = crate::profile::profile(&crate::profile::Profiling {
        gateway: &url,
        admin_token: platform.admin_token(),
        app: &manifest.name,
        workflow: "nearby-cinema-top",
        entry: "nearby-cinema-top",
        body: Some(body.as_bytes().to_vec()),
        requests: 40,
        concurrency: 1,
        limits: (Some(4096.0), Some(cpu)),
    })
    .await?;
    let plan = crate::profile::plan(&graph)?;
    let cpu_of: serde_json::Map<String, serde_json::Value> = graph
        .nodes
        .iter()
        .map(|n| (n.id.clone(), json!(round(n.c, 3))))
        .collect();
    Ok(json!({
        "cpu_limit": cpu,
        "profiled_cpu": cpu_of,
        "plan": serde_json::from_str::<serde_json::Value>(&plan.to_json())?,
    }))
}

fn describe_plan(v: &serde_json::Value) -> String {
    let groups = v["plan"]["groups"].as_array().cloned().unwrap_or_default();
    let merged: Vec<String> = groups
        .iter()
        .filter_map(|g| {
            let members = g["members"].as_array()?;
            (members.len() > 1).then(|| {
                format!(
                    "{{{}}}",
                    members
                        .iter()
                        .filter_map(|m| m.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })
        })
        .collect();
    let cpus: Vec<String> = v["profiled_cpu"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, c)| format!("{k} {c}"))
                .collect::<Vec<_>>()
        })
        .unwrap_or_default();
    format!(
        "{} group(s), {} merged: {} (profiled CPU per function, cores: {})",
        groups.len(),
        merged.len(),
        if merged.is_empty() {
            "nothing merged".to_string()
        } else {
            merged.join("; ")
        },
        cpus.join(", ")
    )
}

fn report(rec: &Recorder<Row>) -> Result<common::Report> {
    let mut r = common::Report::default();
    let rows = |d: &str| -> Vec<&Row> { rec.rows.iter().filter(|x| x.deployment == d).collect() };
    let peak = |d: &str| {
        rows(d)
            .iter()
            .map(|x| x.figures.throughput_rps)
            .fold(0.0, f64::max)
    };
    let p50_1 = |d: &str| rows(d).first().map_or(f64::NAN, |x| x.figures.p50());
    let mut series = Vec::new();
    let mut table = Vec::new();
    for d in ["baseline", "merge-all", "split"] {
        let rs = rows(d);
        if rs.is_empty() {
            continue;
        }
        series.push(Series {
            label: d.to_string(),
            points: rs
                .iter()
                .map(|x| (x.figures.throughput_rps, x.figures.p50()))
                .collect(),
        });
        table.push(vec![
            d.to_string(),
            common::fmt(p50_1(d), 1),
            common::fmt(peak(d), 2),
            common::change(peak(d), peak("baseline")),
            rs.iter()
                .map(|x| {
                    format!(
                        "{}: {:.2}/{:.0}",
                        x.connections,
                        x.figures.throughput_rps,
                        x.figures.p50()
                    )
                })
                .collect::<Vec<_>>()
                .join(", "),
        ]);
    }
    r.table = md_table(
        &[
            "deployment",
            "p50 at 1 conn (ms)",
            "peak req/s",
            "peak vs baseline",
            "connections: req/s / p50 ms",
        ],
        &table,
    );
    r.headlines.push(format!(
        "peak throughput: baseline {:.2} req/s, merge-all {:.2} ({}), split {:.2} ({}) (the \
         reference: merge-all −11.6%, split +50.8%); p50 at 1 connection {:.1} / {:.1} / {:.1} ms",
        peak("baseline"),
        peak("merge-all"),
        common::change(peak("merge-all"), peak("baseline")),
        peak("split"),
        common::change(peak("split"), peak("baseline")),
        p50_1("baseline"),
        p50_1("merge-all"),
        p50_1("split"),
    ));
    r.summary.insert(
        "peak_rps".into(),
        json!({"baseline": round(peak("baseline"), 2), "merge_all": round(peak("merge-all"), 2), "split": round(peak("split"), 2)}),
    );
    r.summary.insert(
        "peak_change".into(),
        json!({"merge_all": round(peak("merge-all") / peak("baseline") - 1.0, 4), "split": round(peak("split") / peak("baseline") - 1.0, 4)}),
    );
    r.summary.insert(
        "p50_1conn_ms".into(),
        json!({"baseline": p50_1("baseline"), "merge_all": p50_1("merge-all"), "split": p50_1("split")}),
    );
    lines(
        &rec.path("svg"),
        "nearby-cinema-top under a CPU limit: p50 latency against throughput",
        ("throughput (req/s)", "p50 latency (ms)"),
        &series,
        true,
    )?;
    Ok(r)
}
