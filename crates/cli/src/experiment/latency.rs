//! `quilt experiment latency` (the reference's Figure 7): median and p99 latency of each workflow,
//! unmerged against merged with the funcTree the app ships (`apps/<app>/workflows/<workflow>.tree`),
//! in the sync and async variants, with real storage (Redis and memcached, populated first).
//! Closed loop, one connection, as the reference's `wrk2 -c 1`.

use super::common::{self, bodies_for, md_table, round, Loader, Mode, Recorder};
use super::ExperimentArgs;
use anyhow::{Context, Result};
use quilt_harness::experiment::Basic;
use quilt_harness::load::Figures;
use quilt_manifest::Manifest;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::time::Duration;

const COLUMNS: &[&str] = &[
    "app",
    "workflow",
    "variant",
    "deployment",
    "route",
    "requests",
    "errors",
    "throughput_rps",
    "p50_ms",
    "p90_ms",
    "p99_ms",
    "max_ms",
];

/// A result row: one workflow of an app in one variant, baseline or merged.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Row {
    /// The app's name.
    pub app: String,
    /// The workflow.
    pub workflow: String,
    /// `sync` or `async`.
    pub variant: String,
    /// `baseline` or `merged`.
    pub deployment: String,
    /// The route measured.
    pub route: String,
    /// What the run measured.
    #[serde(flatten)]
    pub figures: Figures,
}

/// One app's part of the experiment.
pub struct AppPlan {
    /// Folder under the source tree.
    pub dir: &'static str,
    /// Workflows (each with `workflows/<name>.tree`).
    pub workflows: Vec<&'static str>,
    /// Variants to run (the hotel app has only sync workflows).
    pub variants: Vec<&'static str>,
}

/// What each mode measures.
pub fn plan(mode: Mode) -> Vec<AppPlan> {
    let both = || vec!["sync", "async"];
    match mode {
        Mode::Full => vec![
            AppPlan {
                dir: "apps/social-network",
                workflows: vec![
                    "compose-post",
                    "read-home-timeline",
                    "social-graph-follow-with-username",
                ],
                variants: both(),
            },
            AppPlan {
                dir: "apps/media-review",
                workflows: vec!["compose-review", "page-service", "read-user-review"],
                variants: both(),
            },
            AppPlan {
                dir: "apps/hotel-reservation",
                workflows: vec!["search-handler", "reservation-handler", "nearby-cinema"],
                variants: vec!["sync"],
            },
        ],
        Mode::Quick => vec![
            AppPlan {
                dir: "apps/social-network",
                workflows: vec!["compose-post"],
                variants: both(),
            },
            AppPlan {
                dir: "apps/media-review",
                workflows: vec!["page-service"],
                variants: both(),
            },
            AppPlan {
                dir: "apps/hotel-reservation",
                workflows: vec!["search-handler"],
                variants: vec!["sync"],
            },
        ],
        Mode::Smoke => vec![AppPlan {
            dir: "apps/social-network",
            workflows: vec!["read-home-timeline"],
            variants: vec!["sync"],
        }],
    }
}

/// `quilt experiment latency`.
pub const EXPERIMENT: Basic = Basic {
    name: "latency",
    reference: "Figure 7",
    about: "Median and p99 latency per workflow, baseline against merged, sync and async, real storage.",
    columns: COLUMNS,
    run,
};

/// Runs `quilt experiment latency`.
pub fn run(args: ExperimentArgs) -> Result<()> {
    if args.replot {
        return common::replot(EXPERIMENT.name, &args, COLUMNS, report);
    }
    let mut rec = Recorder::on_network(EXPERIMENT.name, &args, COLUMNS)?;
    common::check_network(&rec)?;
    let mode = rec.mode;
    let times = mode.pick(
        (Duration::from_secs(2), Duration::from_millis(500)),
        (Duration::from_secs(5), Duration::from_secs(1)),
        (Duration::from_secs(30), Duration::from_secs(3)),
    );
    // Below scale 1 only a prefix of each id range exists, and media's page-service, which looks
    // up casts and plots by random ids, fails: quick runs populate fully too (a few seconds).
    let scale = mode.pick(0.05, 1.0, 1.0);
    let plan = plan(mode);
    rec.set("duration_s", times.0.as_secs_f64());
    rec.set("warmup_s", times.1.as_secs_f64());
    rec.set("connections", 1);
    rec.set("populate_scale", scale);
    rec.set(
        "workflows",
        plan.iter()
            .map(|p| json!({"app": p.dir, "workflows": p.workflows, "variants": p.variants}))
            .collect::<Vec<_>>(),
    );
    rec.notes.push(format!(
        "Closed loop, 1 connection, {} s per run after {} s of warm-up; every variant gets a fresh \
         platform with fresh Redis and memcached, populated with `quilt populate --scale {scale}`. \
         Baseline and merged are measured one after the other on the same platform. Request bodies \
         come from the reference's generators (the `-merged` generator where the reference has one, \
         e.g. compose-review-merged's own req_id range).",
        times.0.as_secs_f64(),
        times.1.as_secs_f64()
    ));
    if let Some(n) = rec.network {
        rec.notes.push(format!(
            "Emulated network: {}. Every function instance runs on one of the hosts (round-robin), \
             Redis and memcached on the storage host; the load generator runs beside the gateway.",
            n.describe()
        ));
    }
    rec.notes.push(
        "The hotel workflows exist only in a sync variant (as in the reference), so they are \
         measured once."
            .into(),
    );
    // Every app is built and merged first: cargo needs the machine's network, which the
    // emulated one (entered next) does not reach.
    let prepared: Vec<Result<Prepared>> = plan.iter().map(|p| prepare(&mut rec, p)).collect();
    let network = common::emulated_network(&mut rec)?;
    let hosts = network.as_ref().map(|n| n.layout().clone());
    let loader = Loader::new()?;
    let rt = rec.runtime()?;
    let mut failures = Vec::new();
    for (app_plan, prepared) in plan.iter().zip(prepared) {
        let result = prepared.and_then(|prepared| {
            rt.block_on(run_app(
                &mut rec,
                &loader,
                (app_plan, &prepared),
                (times, scale),
                hosts.as_ref(),
            ))
        });
        if let Err(e) = result {
            eprintln!("experiment latency: {}: {e:#}", app_plan.dir);
            rec.notes
                .push(format!("{} not (fully) measured: {e:#}", app_plan.dir));
            failures.push(app_plan.dir);
        }
    }
    drop(rt);
    drop(loader);
    drop(network);
    let result = if failures.is_empty() {
        Ok(())
    } else {
        Err(anyhow::anyhow!("not measured: {}", failures.join(", ")))
    };
    let report = report(&rec);
    rec.finish(result, report)
}

/// An app built, with its workflows' routes: (workflow, entry, merged route).
struct Prepared {
    manifest: Manifest,
    routes: Vec<(String, String, String)>,
}

/// Builds an app and merges each workflow of the plan (recording the merges).
fn prepare(rec: &mut Recorder<Row>, p: &AppPlan) -> Result<Prepared> {
    let dir = common::require_app(p.dir)?;
    let manifest = common::build(&dir)?;
    let mut routes = Vec::new();
    for w in &p.workflows {
        let workflow = manifest
            .workflow(w)
            .with_context(|| format!("{} has no workflow '{w}'", p.dir))?;
        let tree = common::tree(&manifest, w)?;
        let info = common::merged(&manifest, &tree, 0, rec.fresh)?;
        rec.extra.insert(
            format!("merge/{}/{w}", manifest.name),
            serde_json::to_value(&info)?,
        );
        routes.push((w.to_string(), workflow.entry.clone(), info.name));
    }
    Ok(Prepared { manifest, routes })
}

async fn run_app(
    rec: &mut Recorder<Row>,
    loader: &Loader,
    (p, Prepared { manifest, routes }): (&AppPlan, &Prepared),
    (times, scale): ((Duration, Duration), f64),
    hosts: Option<&quilt_netem::Layout>,
) -> Result<()> {
    for variant in &p.variants {
        let opts = crate::up::UpOptions {
            env: vec![(crate::up::VARIANT_ENV.into(), variant.to_string())],
            idle_timeout: Some(Duration::from_secs(600)),
            hosts: hosts.cloned(),
            ..Default::default()
        };
        measure_variant(
            rec,
            loader,
            manifest,
            routes,
            variant,
            &opts,
            (times, scale),
        )
        .await?;
    }
    Ok(())
}

async fn measure_variant(
    rec: &mut Recorder<Row>,
    loader: &Loader,
    manifest: &Manifest,
    routes: &[(String, String, String)],
    variant: &str,
    opts: &crate::up::UpOptions,
    (times, scale): ((Duration, Duration), f64),
) -> Result<()> {
    let app = crate::up::start(manifest, opts).await?;
    let url = app.url();
    let result = async {
        let populated = crate::populate::populate(&url, &manifest.name, scale, 1).await?;
        eprintln!(
            "experiment latency: {} ({variant}) populated: {} requests, {} errors",
            manifest.name, populated.requests, populated.errors
        );
        for (workflow, entry, merged) in routes {
            for (deployment, route) in [("baseline", entry), ("merged", merged)] {
                let bodies = bodies_for(&manifest.name, route, workflow, 7)?;
                let o = loader
                    .closed(&format!("{url}/{route}"), bodies, 1, times)
                    .await?;
                rec.push(Row {
                    app: manifest.name.clone(),
                    workflow: workflow.clone(),
                    variant: variant.to_string(),
                    deployment: deployment.to_string(),
                    route: route.clone(),
                    figures: Figures::of(&o),
                });
            }
        }
        Ok::<_, anyhow::Error>(())
    }
    .await;
    app.shutdown().await;
    result
}

fn report(rec: &Recorder<Row>) -> Result<common::Report> {
    let mut r = common::Report::default();
    let mut table = Vec::new();
    let mut groups = Vec::new();
    let (mut base_p50, mut merged_p50) = (Vec::new(), Vec::new());
    let mut changes = Vec::new();
    for b in rec.rows.iter().filter(|x| x.deployment == "baseline") {
        let Some(m) = rec.rows.iter().find(|x| {
            x.deployment == "merged"
                && x.workflow == b.workflow
                && x.variant == b.variant
                && x.app == b.app
        }) else {
            continue;
        };
        let (w, v) = (&b.workflow, &b.variant);
        let (bf, mf) = (&b.figures, &m.figures);
        let d50 = mf.p50() / bf.p50() - 1.0;
        changes.push((format!("{w} ({v})"), d50));
        table.push(vec![
            format!("{w} ({})", b.app),
            v.to_string(),
            common::fmt(bf.p50(), 2),
            common::fmt(mf.p50(), 2),
            common::change(mf.p50(), bf.p50()),
            common::fmt(bf.p99(), 2),
            common::fmt(mf.p99(), 2),
            common::change(mf.p99(), bf.p99()),
            format!("{} / {}", bf.errors, mf.errors),
        ]);
        groups.push(format!("{w} ({v})"));
        base_p50.push(bf.p50());
        merged_p50.push(mf.p50());
        r.summary.insert(
            format!("{w}/{v}"),
            json!({
                "baseline_p50_ms": bf.p50(), "merged_p50_ms": mf.p50(),
                "baseline_p99_ms": bf.p99(), "merged_p99_ms": mf.p99(),
                "p50_change": round(d50, 4),
                "p99_change": round(mf.p99() / bf.p99() - 1.0, 4),
            }),
        );
    }
    r.table = md_table(
        &[
            "workflow",
            "variant",
            "baseline p50 (ms)",
            "merged p50 (ms)",
            "Δ p50",
            "baseline p99 (ms)",
            "merged p99 (ms)",
            "Δ p99",
            "errors (baseline / merged)",
        ],
        &table,
    );
    let finite: Vec<&(String, f64)> = changes.iter().filter(|c| c.1.is_finite()).collect();
    if let (Some(lo), Some(hi)) = (
        finite.iter().min_by(|a, b| a.1.total_cmp(&b.1)),
        finite.iter().max_by(|a, b| a.1.total_cmp(&b.1)),
    ) {
        r.headlines.push(format!(
            "merged p50 against baseline p50: from {} ({}) to {} ({}) over {} \
             workflow/variant pairs (the reference: −45.6% to −71%)",
            common::pct(lo.1),
            lo.0,
            common::pct(hi.1),
            hi.0,
            finite.len()
        ));
        r.summary
            .insert("p50_change_min".into(), json!(round(lo.1, 4)));
        r.summary
            .insert("p50_change_max".into(), json!(round(hi.1, 4)));
    }
    for (name, c) in &changes {
        r.headlines.push(format!("{name}: p50 {}", common::pct(*c)));
    }
    crate::plot::grouped_bars(
        &rec.path("svg"),
        "p50 latency per workflow, 1 connection (ms)",
        "p50 latency (ms)",
        &groups,
        &[("baseline".into(), base_p50), ("merged".into(), merged_p50)],
    )?;
    Ok(r)
}
