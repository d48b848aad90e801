//! `quilt optimize`: the main job. Build, deploy the baseline, profile, plan, merge, deploy the
//! merged groups, measure both side by side, print a before/after table and write a report.

use crate::verify::{self, Verification};
use crate::{bench, merge, populate, profile, up};
use anyhow::{bail, Context, Result};
use clap::Args;
use quilt_bench::{Bodies, Load, Outcome, Spec};
use quilt_harness::load::Loader;
use quilt_manifest::Manifest;
use quilt_merge::{merge_group, GroupReport, MergeOptions};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Arguments of `quilt optimize`.
#[derive(Args)]
pub struct OptimizeArgs {
    /// The app folder (holds quilt.toml).
    pub app: PathBuf,
    /// The workflow to optimize.
    #[arg(long)]
    pub workflow: String,
    /// Per-instance memory limit to plan against, MiB [default: the manifest's
    /// platform.max_instance_memory_mb].
    #[arg(long)]
    pub memory: Option<f64>,
    /// Per-instance CPU limit to plan against, cores [default: the manifest's
    /// platform.max_instance_cpu].
    #[arg(long)]
    pub cpu: Option<f64>,
    /// Shorter profiling and measurement (about a minute of load in all).
    #[arg(long)]
    pub quick: bool,
    /// Fake-database mode.
    #[arg(long)]
    pub fakedb: bool,
    /// App variant, e.g. `async`.
    #[arg(long)]
    pub variant: Option<String>,
    /// Connections for the saturation measurement.
    #[arg(long, default_value_t = 16)]
    pub connections: usize,
    /// Where the report goes (default: results/optimize/<app>-<workflow>).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// Latency at one connection and throughput at saturation, for one route.
#[derive(Debug, Clone, Serialize)]
pub struct Measured {
    /// The route measured.
    pub route: String,
    /// Closed loop, one connection.
    pub latency: Outcome,
    /// Closed loop, many connections.
    pub saturation: Outcome,
    /// Instances running after the saturation run.
    pub instances: usize,
    /// Peak resident memory summed over the instances involved, MiB.
    pub memory_mb: f64,
}

/// Everything `quilt optimize` found.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// App name.
    pub app: String,
    /// Workflow name.
    pub workflow: String,
    /// The solver's plan.
    pub plan: serde_json::Value,
    /// The merge of each group.
    pub merges: Vec<GroupReport>,
    /// The merged entry route checked against the unmerged one on the workflow's requests.
    pub verification: Verification,
    /// The unmerged deployment.
    pub baseline: Measured,
    /// The merged deployment.
    pub merged: Measured,
    /// Seconds per step.
    pub steps: Vec<(String, f64)>,
}

/// Requests replayed against the baseline and the merged entry before measuring.
const VERIFY_REQUESTS: usize = 50;

/// A latency run (one connection) and a saturation run (`connections`) against `route`, on the
/// load runner's own runtime.
async fn measure(
    loader: &Loader,
    url: &str,
    route: &str,
    declared: Option<&[u8]>,
    (app, workflow): (&str, &str),
    quick: bool,
    connections: usize,
) -> Result<(Outcome, Outcome)> {
    let (duration, warmup) = if quick {
        (Duration::from_secs(5), Duration::from_secs(1))
    } else {
        (Duration::from_secs(20), Duration::from_secs(3))
    };
    let spec = |load| Spec {
        url: format!("{url}/{route}"),
        bodies: match declared {
            Some(body) => Bodies::Fixed(body.to_vec().into()),
            None => bench::bodies(None, Some(&format!("{app}/{workflow}")), 7).expect("checked"),
        },
        load,
        duration,
        warmup,
        progress: true,
    };
    let latency = loader.run(spec(Load::Closed { connections: 1 })).await?;
    let saturation = loader.run(spec(Load::Closed { connections })).await?;
    for (what, o) in [("latency", &latency), ("saturation", &saturation)] {
        if o.requests == 0 {
            bail!(
                "no request to {route} succeeded in the {what} run ({} errors)",
                o.errors
            );
        }
    }
    Ok((latency, saturation))
}

fn footprint(platform: &quilt_platform::Platform, routes: &[String]) -> (usize, f64) {
    let resources = platform.resources();
    routes
        .iter()
        .filter_map(|r| resources.get(r))
        .fold((0, 0.0), |(n, mb), r| {
            (
                n + r.instances,
                mb + r.peak_rss_mb * r.instances.max(1) as f64,
            )
        })
}

/// Runs `quilt optimize`.
pub fn run(args: OptimizeArgs) -> Result<()> {
    let manifest = Manifest::load(&args.app)?;
    let workflow = manifest
        .workflow(&args.workflow)
        .with_context(|| {
            format!(
                "app '{}' has no workflow '{}'",
                manifest.name, args.workflow
            )
        })?
        .clone();
    // The workflow's declared body, else its generator (checked now: an error names both).
    let declared = profile::workflow_body(&manifest, &workflow)?;
    let (memory, cpu) = profile::instance_limits(&manifest, args.memory, args.cpu);
    let out = args.out.clone().unwrap_or_else(|| {
        PathBuf::from("results/optimize").join(format!("{}-{}", manifest.name, workflow.name))
    });
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let mut steps: Vec<(String, f64)> = Vec::new();
    let mut step = |name: &str, t: Instant| {
        let s = t.elapsed().as_secs_f64();
        eprintln!("optimize: {name} done in {s:.1}s");
        steps.push((name.to_string(), s));
    };

    let t = Instant::now();
    quilt_build::build_app(&manifest)?;
    step("build", t);

    // Declared before the platform's runtime, so dropped after it (outside any runtime).
    let loader = Loader::new()?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let report = rt.block_on(async {
        let t = Instant::now();
        let opts = up::UpOptions::for_app(args.fakedb, args.variant.as_deref());
        let app = up::start(&manifest, &opts).await?;
        if !args.fakedb {
            populate::populate(&app.url(), &manifest.name, if args.quick { 0.3 } else { 1.0 }, 1)
                .await?;
        }
        step("deploy baseline", t);

        let t = Instant::now();
        let graph = profile::profile(&profile::Profiling {
            gateway: &app.url(),
            admin_token: app.platform.admin_token(),
            app: &manifest.name,
            workflow: &workflow.name,
            entry: &workflow.entry,
            body: declared.clone(),
            requests: if args.quick { 30 } else { 200 },
            concurrency: 2,
            limits: (Some(memory), Some(cpu)),
        })
        .await?;
        let dot = which_dot().then(|| out.join("callgraph.svg"));
        profile::write_graph(&graph, &out.join("callgraph.json"), None, dot.as_deref())?;
        step("profile", t);

        let t = Instant::now();
        let plan = profile::plan(&graph)?;
        plan.write(&out.join("plan.json"))?;
        plan.write_func_trees(&out.join("trees"))?;
        profile::publish(&manifest, &graph, Some(&plan))?;
        step("plan", t);

        let t = Instant::now();
        let trees = merge::plan_trees(&out.join("plan.json"))?;
        if trees.is_empty() {
            bail!("the plan merges nothing under these limits (memory {} MiB, cpu {}): every group is a single function (`quilt plan --explain` names the limit behind each call left remote)", memory, cpu);
        }
        let mut merges = Vec::new();
        for tree in &trees {
            merges.push(merge_group(&manifest, tree, &MergeOptions::default())?);
        }
        step("merge", t);

        let t = Instant::now();
        let app = app.restart_platform(&manifest).await?;
        step("deploy merged", t);

        let entry_group = plan
            .groups
            .iter()
            .find(|g| g.members.contains(&workflow.entry))
            .context("the plan has no group for the entry")?;
        let merged_route = if entry_group.members.len() > 1 {
            format!("{}-merged", entry_group.root)
        } else {
            workflow.entry.clone()
        };
        let t = Instant::now();
        let bodies = match &declared {
            Some(body) => vec![body.clone(); VERIFY_REQUESTS],
            None => quilt_workloads::bodies(&manifest.name, &workflow.name, 2, VERIFY_REQUESTS)?,
        };
        let verification =
            verify::verify(&app.url(), &workflow.entry, &merged_route, &bodies).await;
        eprint!("{}", verify::text(&verification));
        step("verify", t);
        if let Err(e) = verify::check(std::slice::from_ref(&verification)) {
            app.shutdown().await;
            let path = out.join("verification.json");
            quilt_build::write_if_changed(&path, &serde_json::to_string_pretty(&verification)?)?;
            return Err(e.context(format!(
                "the merged deployment answers differently, so no speed-up is reported (every \
                 difference in {})",
                path.display()
            )));
        }

        let t = Instant::now();
        let functions: Vec<String> = graph.nodes.iter().map(|n| n.id.clone()).collect();
        let merged_routes: Vec<String> = plan
            .groups
            .iter()
            .map(|g| {
                if g.members.len() > 1 {
                    format!("{}-merged", g.root)
                } else {
                    g.root.clone()
                }
            })
            .collect();
        let url = app.url();
        let (bl, bs) =
            measure(&loader, &url, &workflow.entry, declared.as_deref(), (&manifest.name, &workflow.name), args.quick, args.connections)
                .await?;
        let (base_instances, base_mb) = footprint(&app.platform, &functions);
        let (ml, ms) =
            measure(&loader, &url, &merged_route, declared.as_deref(), (&manifest.name, &workflow.name), args.quick, args.connections)
                .await?;
        let (merged_instances, merged_mb) = footprint(&app.platform, &merged_routes);
        step("measure", t);
        app.shutdown().await;
        Ok::<_, anyhow::Error>(Report {
            app: manifest.name.clone(),
            workflow: workflow.name.clone(),
            plan: serde_json::from_str(&plan.to_json())?,
            merges,
            verification,
            baseline: Measured {
                route: workflow.entry.clone(),
                latency: bl,
                saturation: bs,
                instances: base_instances,
                memory_mb: base_mb,
            },
            merged: Measured {
                route: merged_route,
                latency: ml,
                saturation: ms,
                instances: merged_instances,
                memory_mb: merged_mb,
            },
            steps: Vec::new(),
        })
    })?;
    let report = Report { steps, ..report };
    let table = table(&report);
    println!("{table}");
    write_report(&out, &report, &table)?;
    for file in ["report.json", "latency.svg"] {
        let published = std::fs::read(out.join(file))
            .map_err(anyhow::Error::from)
            .and_then(|bytes| up::publish_to_dashboard(&manifest, file, &bytes));
        if let Err(e) = published {
            eprintln!("optimize: {file} not shown on the dashboard: {e:#}");
        }
    }
    eprintln!("optimize: report in {}", out.display());
    Ok(())
}

fn which_dot() -> bool {
    std::process::Command::new("dot")
        .arg("-V")
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// The before/after table, in markdown.
pub fn table(r: &Report) -> String {
    let (b, m) = (&r.baseline, &r.merged);
    let ratio = |a: f64, b: f64| if b > 0.0 { a / b } else { f64::NAN };
    format!(
        "| {} / {} | baseline (`{}`) | merged (`{}`) | merged / baseline |\n|---|---:|---:|---:|\n\
         | p50 latency, 1 connection (ms) | {:.3} | {:.3} | {:.2} |\n\
         | p99 latency, 1 connection (ms) | {:.3} | {:.3} | {:.2} |\n\
         | throughput at saturation (req/s) | {:.0} | {:.0} | {:.2} |\n\
         | p50 latency at saturation (ms) | {:.3} | {:.3} | {:.2} |\n\
         | instances | {} | {} | |\n\
         | memory, peak RSS summed (MiB) | {:.1} | {:.1} | {:.2} |\n",
        r.app,
        r.workflow,
        b.route,
        m.route,
        b.latency.latency_ms.p50,
        m.latency.latency_ms.p50,
        ratio(m.latency.latency_ms.p50, b.latency.latency_ms.p50),
        b.latency.latency_ms.p99,
        m.latency.latency_ms.p99,
        ratio(m.latency.latency_ms.p99, b.latency.latency_ms.p99),
        b.saturation.throughput_rps,
        m.saturation.throughput_rps,
        ratio(m.saturation.throughput_rps, b.saturation.throughput_rps),
        b.saturation.latency_ms.p50,
        m.saturation.latency_ms.p50,
        ratio(m.saturation.latency_ms.p50, b.saturation.latency_ms.p50),
        b.instances,
        m.instances,
        b.memory_mb,
        m.memory_mb,
        ratio(m.memory_mb, b.memory_mb),
    )
}

fn write_report(out: &Path, r: &Report, table: &str) -> Result<()> {
    let json = serde_json::to_string_pretty(r)?;
    quilt_build::write_if_changed(&out.join("report.json"), &json)?;
    let groups: Vec<String> = r
        .merges
        .iter()
        .map(|g| {
            format!(
                "- `{}`: {} (compile {:.1}s, merge {:.1}s, optimize {:.1}s, link {:.1}s)",
                g.name,
                g.members.join(", "),
                g.times.compile_s,
                g.times.merge_s,
                g.times.optimize_s,
                g.times.link_s
            )
        })
        .collect();
    let steps: Vec<String> = r
        .steps
        .iter()
        .map(|(s, t)| format!("{s} {t:.1}s"))
        .collect();
    let v = &r.verification;
    let masked: Vec<&str> = v.nondeterministic.keys().map(String::as_str).collect();
    let md = format!(
        "# quilt optimize: {} / {}\n\n{table}\nMerged groups:\n{}\n\nVerified: `{}` answered {} of {} \
         requests like `{}` ({} unstable; nondeterministic fields masked: {}).\n\nSteps: {}.\n\nFiles: `callgraph.json` \
         (profiled call graph), `plan.json` and `trees/` (the solver's plan), `report.json` (every figure), \
         `latency.svg`.\n",
        r.app,
        r.workflow,
        groups.join("\n"),
        v.merged,
        v.equal,
        v.requests,
        v.unmerged,
        v.unstable,
        if masked.is_empty() { "none".to_string() } else { masked.join(", ") },
        steps.join(", ")
    );
    quilt_build::write_if_changed(&out.join("report.md"), &md)?;
    crate::plot::bars(
        &out.join("latency.svg"),
        &format!("{} / {}: p50 latency (ms)", r.app, r.workflow),
        &[
            ("baseline", r.baseline.latency.latency_ms.p50),
            ("merged", r.merged.latency.latency_ms.p50),
        ],
    )?;
    Ok(())
}
