//! `quilt experiment throughput` (the reference's Figures 8a and 8b): social-network compose-post in
//! fake-database mode, sync (8a) and async (8b): p50 latency against throughput over a sweep of
//! closed-loop connections, for the unmerged workflow, the merged binary (`compose-post-merged`)
//! and the reference's container merge (`container-merge-compose-post`: the members' own binaries
//! as processes of one instance behind an internal gateway).

use super::common::{self, bodies_for, md_table, round, Loader, Mode, Recorder};
use super::ExperimentArgs;
use crate::plot::{lines, Series};
use anyhow::{Context, Result};
use quilt_harness::experiment::Basic;
use quilt_harness::load::Figures;
use quilt_merge::deployment::MergedDeployment;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::time::Duration;

const COLUMNS: &[&str] = &[
    "variant",
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

/// A result row: one deployment of a variant at one connection count.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Row {
    /// `sync` or `async`.
    pub variant: String,
    /// `baseline`, `merged` or `container`.
    pub deployment: String,
    /// The route measured.
    pub route: String,
    /// Connections of the closed loop.
    pub connections: usize,
    /// What the run measured.
    #[serde(flatten)]
    pub figures: Figures,
}

/// `quilt experiment throughput`.
pub const EXPERIMENT: Basic = Basic {
    name: "throughput",
    reference: "Figures 8a/8b",
    about: "compose-post (fake database): latency against throughput, baseline, merged and container merge.",
    columns: COLUMNS,
    run,
};

/// Runs `quilt experiment throughput`.
pub fn run(args: ExperimentArgs) -> Result<()> {
    if args.replot {
        return common::replot(EXPERIMENT.name, &args, COLUMNS, report);
    }
    let mut rec = Recorder::on_network(EXPERIMENT.name, &args, COLUMNS)?;
    common::check_network(&rec)?;
    let mode = rec.mode;
    // The smoke run uses the 3-function text-service workflow: same pipeline, a fraction of the
    // merge time.
    let workflow = mode.pick("text-service", "compose-post", "compose-post");
    let variants: Vec<&str> = mode.pick(vec!["sync"], vec!["sync", "async"], vec!["sync", "async"]);
    let sweep: Vec<usize> = mode.pick(
        vec![1, 4],
        vec![1, 16, 64],
        // The reference's sweep (figure8ab.sh).
        vec![
            1, 3, 5, 7, 9, 13, 18, 25, 32, 39, 50, 70, 90, 110, 130, 150, 180, 210, 240, 270, 300,
            350,
        ],
    );
    let times = mode.pick(
        (Duration::from_secs(1), Duration::from_millis(500)),
        (Duration::from_secs(3), Duration::from_secs(1)),
        (Duration::from_secs(8), Duration::from_secs(2)),
    );
    rec.set("app", "apps/social-network");
    rec.set("workflow", workflow);
    rec.set("fakedb", true);
    rec.set("variants", &variants);
    rec.set("connections", &sweep);
    rec.set("duration_s", times.0.as_secs_f64());
    rec.set("warmup_s", times.1.as_secs_f64());
    rec.notes.push(format!(
        "Closed loop, {} s per point after {} s of warm-up, connections {:?}; one platform per \
         variant serving all three deployments (fake database: storage calls are the reference's \
         sleeps). Limits from apps/social-network/quilt.toml; the merged and container-merged \
         deployments get their members' budgets added up (memory, CPU, requests in flight and \
         queued, processes) and as many instances as the root.",
        times.0.as_secs_f64(),
        times.1.as_secs_f64(),
        sweep
    ));
    if let Some(n) = rec.network {
        rec.notes.push(format!(
            "Emulated network: {}. Every instance (the container merge's too) runs on one of the \
             hosts, round-robin; the load generator runs beside the gateway. Fake database: no \
             storage service runs, so the storage host stays idle.",
            n.describe()
        ));
    }
    if mode == Mode::Smoke {
        rec.notes
            .push("Smoke run: text-service stands in for compose-post.".into());
    }
    // Built and merged first: cargo needs the machine's network, which the emulated one (entered
    // next) does not reach.
    let prepared = (|| {
        let manifest = common::build(&common::require_app("apps/social-network")?)?;
        let entry = manifest
            .workflow(workflow)
            .with_context(|| format!("social-network has no workflow '{workflow}'"))?
            .entry
            .clone();
        let tree = common::tree(&manifest, workflow)?;
        let info = common::merged(&manifest, &tree, 0, rec.fresh)?;
        let container = {
            let _lock = common::build_lock(&manifest.dir)?;
            MergedDeployment::install_container(&manifest, &tree)?
        };
        rec.extra
            .insert("merge".into(), serde_json::to_value(&info)?);
        rec.extra
            .insert("container".into(), serde_json::to_value(&container)?);
        Ok::<_, anyhow::Error>((manifest, entry, info, container))
    })();
    let network = common::emulated_network(&mut rec)?;
    let hosts = network.as_ref().map(|n| n.layout().clone());
    let loader = Loader::new()?;
    let rt = rec.runtime()?;
    let result = rt.block_on(async {
        let (manifest, entry, info, container) = prepared?;
        let deployments = [
            ("baseline", entry.clone()),
            ("merged", info.name.clone()),
            ("container", container.name.clone()),
        ];
        for variant in &variants {
            let app = crate::up::start(
                &manifest,
                &crate::up::UpOptions {
                    env: vec![(crate::up::VARIANT_ENV.into(), variant.to_string())],
                    fakedb: true,
                    idle_timeout: Some(Duration::from_secs(600)),
                    hosts: hosts.clone(),
                    ..Default::default()
                },
            )
            .await?;
            let url = app.url();
            let result = async {
                for (deployment, route) in &deployments {
                    for &c in &sweep {
                        let bodies = bodies_for(&manifest.name, route, workflow, 7)?;
                        let o = loader
                            .closed(&format!("{url}/{route}"), bodies, c, times)
                            .await?;
                        rec.push(Row {
                            variant: variant.to_string(),
                            deployment: deployment.to_string(),
                            route: route.clone(),
                            connections: c,
                            figures: Figures::of(&o),
                        });
                    }
                }
                Ok::<_, anyhow::Error>(())
            }
            .await;
            app.shutdown().await;
            result?;
        }
        Ok::<_, anyhow::Error>(())
    });
    drop(rt);
    drop(loader);
    drop(network);
    let report = report(&rec);
    rec.finish(result, report)
}

fn report(rec: &Recorder<Row>) -> Result<common::Report> {
    let mut r = common::Report::default();
    let mut series = Vec::new();
    let mut table = Vec::new();
    let mut variants: Vec<&str> = rec.rows.iter().map(|x| x.variant.as_str()).collect();
    variants.dedup();
    for v in variants {
        let rows = |d: &str| -> Vec<&Row> {
            rec.rows
                .iter()
                .filter(|x| x.variant == v && x.deployment == d)
                .collect()
        };
        let peak = |d: &str| {
            rows(d)
                .iter()
                .map(|x| x.figures.throughput_rps)
                .fold(0.0, f64::max)
        };
        let p50_1 = |d: &str| rows(d).first().map_or(f64::NAN, |x| x.figures.p50());
        for d in ["baseline", "merged", "container"] {
            let rs = rows(d);
            if rs.is_empty() {
                continue;
            }
            series.push(Series {
                label: format!("{d} ({v})"),
                points: rs
                    .iter()
                    .map(|x| (x.figures.throughput_rps, x.figures.p50()))
                    .collect(),
            });
            table.push(vec![
                v.to_string(),
                d.to_string(),
                common::fmt(p50_1(d), 2),
                common::fmt(peak(d), 0),
                common::times(peak(d), peak("baseline")),
                rs.iter()
                    .map(|x| {
                        format!(
                            "{}: {:.0}/{:.1}",
                            x.connections,
                            x.figures.throughput_rps,
                            x.figures.p50()
                        )
                    })
                    .collect::<Vec<_>>()
                    .join(", "),
            ]);
        }
        r.headlines.push(format!(
            "{v}: peak throughput baseline {:.0} req/s, merged {:.0} ({}), container merge {:.0} ({}); \
             p50 at 1 connection {:.2} / {:.2} / {:.2} ms (the reference: merged ×2.05 to ×12.9)",
            peak("baseline"),
            peak("merged"),
            common::times(peak("merged"), peak("baseline")),
            peak("container"),
            common::times(peak("container"), peak("baseline")),
            p50_1("baseline"),
            p50_1("merged"),
            p50_1("container"),
        ));
        r.summary.insert(
            v.to_string(),
            json!({
                "peak_rps": {"baseline": round(peak("baseline"), 1), "merged": round(peak("merged"), 1), "container": round(peak("container"), 1)},
                "merged_over_baseline": round(peak("merged") / peak("baseline"), 3),
                "container_over_baseline": round(peak("container") / peak("baseline"), 3),
                "p50_1conn_ms": {"baseline": p50_1("baseline"), "merged": p50_1("merged"), "container": p50_1("container")},
            }),
        );
    }
    r.table = md_table(
        &[
            "variant",
            "deployment",
            "p50 at 1 conn (ms)",
            "peak req/s",
            "peak / baseline",
            "connections: req/s / p50 ms",
        ],
        &table,
    );
    lines(
        &rec.path("svg"),
        "compose-post (fake database): p50 latency against throughput",
        ("throughput (req/s)", "p50 latency (ms)"),
        &series,
        true,
    )?;
    Ok(r)
}
