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
//!   (the other parallel node and three leaves) — two instances, each with its own CPU limit;
//! - **solver**: the solver's own plan — the baseline workflow profiled on the platform, the
//!   profiled graph solved against the deployment's CPU and memory limits (crates/solver, as `quilt
//!   optimize` does), each of its groups merged and served under its root's route, on a platform
//!   of its own (a group's root is a function the baseline serves unmerged). The app's installed
//!   merged deployments are left as they were.
//!
//! Limits are set by overriding the deployables the platform runs (not the manifest): every
//! deployment — function or merged group — gets `--cpu` cores and `--memory` MiB per instance and
//! at most `--max-instances` instances. (A merged deployment would otherwise get the sum of its
//! members' limits.)

use super::common::{self, md_table, round, Loader, Recorder};
use super::ExperimentArgs;
use crate::plot::{lines, Series};
use anyhow::{Context, Result};
use clap::{Args, FromArgMatches};
use quilt_bench::Bodies;
use quilt_harness::experiment::Experiment;
use quilt_harness::load::Figures;
use quilt_manifest::Manifest;
use quilt_merge::deployment::MergedDeployment;
use quilt_platform::Deployable;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::path::Path;
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
    /// `baseline`, `merge-all`, `split` or `solver`.
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
        "nearby-cinema-top under a CPU limit: baseline, merge-all, the split into two and the solver's plan."
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
    let profiled: u64 = mode.pick(8, 40, 40);
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
    rec.set("profiled_requests", profiled);
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
    let limits = Limits {
        cpu: args.cpu,
        memory_mb: args.memory,
        max_instances: args.max_instances,
    };
    let load = Load {
        body: json!({"num": num}).to_string(),
        sweep,
        times,
    };
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
        let platform = start(&manifest, split_deployables(&manifest)?, &limits).await?;
        let url = format!("http://{}", platform.addr());
        let result = async {
            let plan = solver_plan(&platform, &manifest, &load.body, &limits, profiled).await?;
            let (json, _) = &plan;
            if json["profiled_cpu"]
                .as_object()
                .is_some_and(|m| m.values().all(|c| c.as_f64() == Some(0.0)))
            {
                rec.notes.push(
                    "The profile measured no CPU time for any function (the platform's \
                     per-instance CPU meter read nothing on this machine), so the solver planned \
                     against a CPU limit it could not see."
                        .into(),
                );
            }
            rec.notes.push(format!(
                "`solver`: the solver's plan for the call graph profiled on the baseline ({profiled} \
                 requests) under {} core(s) and {} MiB per instance: {}. Each merged group is served \
                 under its root's route on a platform of its own, with the same limits per instance.",
                limits.cpu,
                limits.memory_mb,
                describe_plan(json)
            ));
            rec.extra.insert("solver_plan".into(), json.clone());
            for (deployment, route) in [
                ("baseline", "nearby-cinema-top"),
                ("merge-all", "nearby-cinema-top-merged"),
                ("split", "nearby-cinema-top-2-merged"),
            ] {
                measure(&mut rec, &loader, (&url, route), deployment, &load).await?;
            }
            Ok::<_, anyhow::Error>(plan)
        }
        .await;
        platform.shutdown().await;
        let (_, plan) = result?;
        let keep = tempfile::tempdir()?;
        let (deployables, infos) = solver_deployables(&manifest, &plan, keep.path(), rec.fresh)?;
        rec.extra
            .insert("solver_merges".into(), serde_json::to_value(&infos)?);
        let platform = start(&manifest, deployables, &limits).await?;
        let url = format!("http://{}", platform.addr());
        let result = measure(&mut rec, &loader, (&url, ENTRY), "solver", &load).await;
        platform.shutdown().await;
        result
    });
    drop(rt);
    drop(loader);
    let report = report(&rec);
    rec.finish(result, report)
}

/// The deployments measured, in order.
const DEPLOYMENTS: [&str; 4] = ["baseline", "merge-all", "split", "solver"];

/// The workflow's entry, the route every deployment but merge-all and split is measured on.
const ENTRY: &str = "nearby-cinema-top";

/// What every deployment gets per instance.
struct Limits {
    cpu: f64,
    memory_mb: u64,
    max_instances: u32,
}

/// The load each deployment is measured under.
struct Load {
    body: String,
    sweep: Vec<usize>,
    times: (Duration, Duration),
}

/// Measures one deployment (`route` on the gateway `url`) over the sweep, after checking it
/// answers.
async fn measure(
    rec: &mut Recorder<Row>,
    loader: &Loader,
    (url, route): (&str, &str),
    deployment: &str,
    load: &Load,
) -> Result<()> {
    let (status, reply) =
        crate::http::post(&format!("{url}/{route}"), load.body.clone().into_bytes()).await?;
    if status != 200 {
        anyhow::bail!(
            "{deployment}: {route} answered HTTP {status}: {}",
            String::from_utf8_lossy(&reply)
        );
    }
    for &c in &load.sweep {
        let o = loader
            .closed(
                &format!("{url}/{route}"),
                Bodies::Fixed(load.body.clone().into()),
                c,
                load.times,
            )
            .await?;
        rec.push(Row {
            deployment: deployment.to_string(),
            route: route.to_string(),
            connections: c,
            figures: Figures::of(&o),
        });
    }
    Ok(())
}

/// The app's deployables with the split's unit B served under the name the top calls.
fn split_deployables(manifest: &Manifest) -> Result<Vec<Deployable>> {
    let mut deployables = crate::up::deployables(manifest)?;
    let merged_b = deployables
        .iter()
        .find(|d| d.name == format!("{SPLIT_B}-merged"))
        .cloned()
        .with_context(|| format!("{SPLIT_B}-merged is not installed"))?;
    for d in deployables.iter_mut().filter(|d| d.name == SPLIT_B) {
        d.binary = merged_b.binary.clone();
        d.args = merged_b.args.clone();
    }
    Ok(deployables)
}

/// Starts a platform serving `deployables`, each with the experiment's limits per instance.
async fn start(
    manifest: &Manifest,
    mut deployables: Vec<Deployable>,
    limits: &Limits,
) -> Result<quilt_platform::Platform> {
    for d in &mut deployables {
        d.cpu = limits.cpu;
        d.memory_mb = limits.memory_mb;
        d.max_instances = limits.max_instances;
        d.min_instances = d.min_instances.min(limits.max_instances);
    }
    let env = vec![
        (crate::up::FAKEDB_ENV.to_string(), "1".to_string()),
        (crate::up::VARIANT_ENV.to_string(), "async".to_string()),
    ];
    common::start_platform(manifest, deployables, &env, Duration::from_secs(600)).await
}

/// The solver's deployment: the app's functions, each group of `plan` with more than one member
/// merged and served under its root's route. The merged binaries are kept in `keep`; the app's
/// installed merged deployments are restored afterwards (a group's `<root>-merged` may be one of
/// the other deployments, such as merge-all's `nearby-cinema-top-merged`).
fn solver_deployables(
    manifest: &Manifest,
    plan: &quilt_solver::Plan,
    keep: &Path,
    fresh: bool,
) -> Result<(Vec<Deployable>, Vec<common::MergeInfo>)> {
    let trees = crate::merge::group_trees(plan, "the solver's plan")?;
    let installed = MergedDeployment::dir(manifest);
    let saved = keep.join("installed");
    std::fs::create_dir_all(&saved)?;
    let files: Vec<String> = trees
        .iter()
        .flat_map(|t| {
            let name = format!("{}-merged", t.root);
            [format!("{name}.json"), name]
        })
        .collect();
    for f in &files {
        let path = installed.join(f);
        if path.exists() {
            quilt_build::install_file(&path, &saved.join(f))?;
        }
    }
    let merged = (|| {
        let mut out = Vec::new();
        for tree in &trees {
            let info = common::merged(manifest, tree, 0, fresh)?;
            let binary = keep.join(&info.name);
            quilt_build::install_file(&installed.join(&info.name), &binary)?;
            out.push((tree, binary, info));
        }
        Ok::<_, anyhow::Error>(out)
    })();
    // Whatever happened, the app's merged deployments are the ones it had.
    for f in files.iter().rev() {
        let (path, kept) = (installed.join(f), saved.join(f));
        if kept.exists() {
            quilt_build::install_file(&kept, &path)?;
        } else if let Err(e) = std::fs::remove_file(&path) {
            if e.kind() != std::io::ErrorKind::NotFound {
                return Err(e).with_context(|| format!("removing {}", path.display()));
            }
        }
    }
    let mut groups = Vec::new();
    let mut infos = Vec::new();
    for (tree, binary, info) in merged? {
        let mut d = MergedDeployment::new(manifest, &info.name, tree, 0);
        d.serves_root = true;
        groups.extend(crate::up::group_deployables(manifest, &d, binary)?);
        infos.push(info);
    }
    let deployables = crate::up::with_groups(crate::up::function_deployables(manifest), groups);
    Ok((deployables, infos))
}

/// Profiles the baseline workflow (`requests` runs) and asks the solver for a plan under the
/// deployment's CPU and memory limits, as `quilt optimize` would: the plan, and what it is as JSON
/// (with the CPU profiled per function).
async fn solver_plan(
    platform: &quilt_platform::Platform,
    manifest: &Manifest,
    body: &str,
    limits: &Limits,
    requests: u64,
) -> Result<(serde_json::Value, quilt_solver::Plan)> {
    let url = format!("http://{}", platform.addr());
    let graph = crate::profile::profile(&crate::profile::Profiling {
        gateway: &url,
        admin_token: platform.admin_token(),
        app: &manifest.name,
        workflow: ENTRY,
        entry: ENTRY,
        body: Some(body.as_bytes().to_vec()),
        requests,
        concurrency: 1,
        limits: (Some(limits.memory_mb as f64), Some(limits.cpu)),
    })
    .await?;
    let plan = crate::profile::plan(&graph)?;
    let cpu_of: serde_json::Map<String, serde_json::Value> = graph
        .nodes
        .iter()
        .map(|n| (n.id.clone(), json!(round(n.c, 3))))
        .collect();
    let json = json!({
        "cpu_limit": limits.cpu,
        "memory_limit_mb": limits.memory_mb,
        "profiled_cpu": cpu_of,
        "plan": serde_json::from_str::<serde_json::Value>(&plan.to_json())?,
    });
    Ok((json, plan))
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
    for d in DEPLOYMENTS {
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
        "peak throughput: baseline {:.2} req/s, merge-all {:.2} ({}), split {:.2} ({}), solver's \
         plan {:.2} ({}) (the reference: merge-all −11.6%, split +50.8%); p50 at 1 connection \
         {:.1} / {:.1} / {:.1} / {:.1} ms",
        peak("baseline"),
        peak("merge-all"),
        common::change(peak("merge-all"), peak("baseline")),
        peak("split"),
        common::change(peak("split"), peak("baseline")),
        peak("solver"),
        common::change(peak("solver"), peak("baseline")),
        p50_1("baseline"),
        p50_1("merge-all"),
        p50_1("split"),
        p50_1("solver"),
    ));
    let key = |d: &str| d.replace('-', "_");
    let per = |f: &dyn Fn(&str) -> serde_json::Value| -> serde_json::Value {
        DEPLOYMENTS.iter().map(|d| (key(d), f(d))).collect()
    };
    r.summary
        .insert("peak_rps".into(), per(&|d| json!(round(peak(d), 2))));
    r.summary.insert(
        "peak_change".into(),
        DEPLOYMENTS[1..]
            .iter()
            .map(|d| (key(d), json!(round(peak(d) / peak("baseline") - 1.0, 4))))
            .collect(),
    );
    r.summary
        .insert("p50_1conn_ms".into(), per(&|d| json!(p50_1(d))));
    lines(
        &rec.path("svg"),
        "nearby-cinema-top under a CPU limit: p50 latency against throughput",
        ("throughput (req/s)", "p50 latency (ms)"),
        &series,
        true,
    )?;
    Ok(r)
}
