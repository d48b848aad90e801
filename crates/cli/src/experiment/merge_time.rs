//! `quilt experiment merge-time` (the reference's merge-time table): seconds to compile (the merged
//! crate, its link recorded; clang-22 for C/C++ members), merge (load and rewrite the modules that
//! use the invocation ABI), optimize (their dead-code elimination) and link (their code generation
//! and the link), and the merged binary's size against its members' own binaries, for compose-post,
//! compose-review, page-service and read-home-timeline.
//!
//! Every group is merged afresh. The merged crate's `main.rs` is touched first so that cargo
//! compiles it again; the members and their dependencies (serde, redis, …) stay compiled in the
//! shared target folder, where the app's own build left them. The reference's README
//! publishes no merge times, so there is no reference column. (`--smoke` merges examples/hello.)

use super::common::{self, md_table, round, Recorder};
use super::ExperimentArgs;
use anyhow::Result;
use quilt_harness::experiment::Basic;
use quilt_manifest::Manifest;
use serde::{Deserialize, Serialize};
use serde_json::json;

const COLUMNS: &[&str] = &[
    "app",
    "workflow",
    "members",
    "compile_s",
    "merge_s",
    "optimize_s",
    "link_s",
    "total_s",
    "merged_kib",
    "originals_kib",
    "size_ratio",
    "sites_direct",
    "sites_local_async",
    "sites_remote",
];

/// A result row: one group merged, its stage times and sizes.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Row {
    /// The app's name.
    pub app: String,
    /// The workflow whose funcTree was merged.
    pub workflow: String,
    /// Members of the group.
    pub members: usize,
    /// Seconds compiling members to bitcode.
    pub compile_s: f64,
    /// Seconds linking modules and rewriting call sites.
    pub merge_s: f64,
    /// Seconds in the post-merge pipeline (dead-code elimination).
    pub optimize_s: f64,
    /// Seconds emitting code and linking.
    pub link_s: f64,
    /// The four stages added up.
    pub total_s: f64,
    /// Size of the merged binary, KiB.
    pub merged_kib: u64,
    /// Sizes of the members' own binaries added up, KiB.
    pub originals_kib: u64,
    /// `merged_kib / originals_kib` (none when the members have no size).
    pub size_ratio: Option<f64>,
    /// Call sites made direct calls.
    pub sites_direct: usize,
    /// Call sites made local asynchronous calls.
    pub sites_local_async: usize,
    /// Call sites left remote.
    pub sites_remote: usize,
}

impl Row {
    /// The stage times by name (`compile`, `merge`, `optimize`, `link`).
    fn stages(&self) -> [(&'static str, f64); 4] {
        [
            ("compile", self.compile_s),
            ("merge", self.merge_s),
            ("optimize", self.optimize_s),
            ("link", self.link_s),
        ]
    }
}

/// The groups measured: (app folder, workflow tree).
pub fn groups(mode: common::Mode) -> Vec<(&'static str, &'static str)> {
    let all = vec![
        ("apps/social-network", "compose-post"),
        ("apps/media-review", "compose-review"),
        ("apps/media-review", "page-service"),
        ("apps/social-network", "read-home-timeline"),
    ];
    match mode {
        common::Mode::Full => all,
        common::Mode::Quick => vec![
            ("apps/media-review", "page-service"),
            ("apps/social-network", "read-home-timeline"),
        ],
        // The smoke run merges examples/hello (3 functions, Rust and C): the same pipeline in
        // seconds, with no benchmark app needed.
        common::Mode::Smoke => vec![("examples/hello", "hello")],
    }
}

fn touch_merged_crate(manifest: &Manifest, root: &str) {
    let main = manifest
        .work_dir()
        .join("merge")
        .join(format!("merged-{root}"))
        .join("main.rs");
    if let Ok(f) = std::fs::OpenOptions::new().append(true).open(&main) {
        let _ = f.set_modified(std::time::SystemTime::now());
    }
}

/// `quilt experiment merge-time`.
pub const EXPERIMENT: Basic = Basic {
    name: "merge-time",
    reference: "merge-time table",
    about: "Compile, merge, optimize and link time and binary sizes of four workflows.",
    columns: COLUMNS,
    run,
};

/// Runs `quilt experiment merge-time`.
pub fn run(args: ExperimentArgs) -> Result<()> {
    if args.replot {
        return common::replot(EXPERIMENT.name, &args, COLUMNS, report);
    }
    let mut rec = Recorder::new(EXPERIMENT.name, &args, COLUMNS)?;
    let groups = groups(rec.mode);
    rec.set(
        "groups",
        groups
            .iter()
            .map(|(a, w)| format!("{a}/workflows/{w}.tree"))
            .collect::<Vec<_>>(),
    );
    rec.notes.push(
        "Each group is merged afresh (the merge caches bypassed); `compile` compiles the merged \
         crate again, the members and their dependencies being already compiled by the app's build. Sizes are of stripped release binaries; `originals` adds up the members' \
         own binaries."
            .into(),
    );
    let mut result = Ok(());
    for (app, workflow) in &groups {
        let Some(dir) = common::app_dir(app) else {
            rec.notes
                .push(format!("{app} not found: {workflow} skipped"));
            result = Err(anyhow::anyhow!("{app} not found"));
            continue;
        };
        let step = (|| {
            let manifest = common::build(&dir)?;
            let tree = common::tree(&manifest, workflow)?;
            touch_merged_crate(&manifest, &tree.root);
            let info = common::merged(&manifest, &tree, 0, true)?;
            let total = info.compile_s + info.merge_s + info.optimize_s + info.link_s;
            eprintln!(
                "  {workflow}: compile {:.1}s merge {:.1}s optimize {:.1}s link {:.1}s",
                info.compile_s, info.merge_s, info.optimize_s, info.link_s
            );
            Ok::<_, anyhow::Error>(Row {
                app: manifest.name.clone(),
                workflow: workflow.to_string(),
                members: info.members.len(),
                compile_s: round(info.compile_s, 2),
                merge_s: round(info.merge_s, 2),
                optimize_s: round(info.optimize_s, 2),
                link_s: round(info.link_s, 2),
                total_s: round(total, 2),
                merged_kib: info.merged_bytes / 1024,
                originals_kib: info.originals_bytes / 1024,
                size_ratio: (info.originals_bytes > 0)
                    .then(|| round(info.merged_bytes as f64 / info.originals_bytes as f64, 3)),
                sites_direct: info.sites[0],
                sites_local_async: info.sites[1],
                sites_remote: info.sites[2],
            })
        })();
        match step {
            Ok(r) => rec.push(r),
            Err(e) => {
                rec.notes.push(format!("{app} {workflow}: {e:#}"));
                result = Err(e);
            }
        }
    }
    let report = report(&rec);
    rec.finish(result, report)
}

fn report(rec: &Recorder<Row>) -> Result<common::Report> {
    let mut r = common::Report::default();
    let mut table = Vec::new();
    for x in &rec.rows {
        table.push(vec![
            format!("{} ({} functions)", x.workflow, x.members),
            common::fmt(x.compile_s, 1),
            common::fmt(x.merge_s, 1),
            common::fmt(x.optimize_s, 1),
            common::fmt(x.link_s, 1),
            common::fmt(x.total_s, 1),
            common::fmt(x.merged_kib as f64, 0),
            common::fmt(x.originals_kib as f64, 0),
            common::fmt(x.size_ratio.unwrap_or(f64::NAN), 2),
        ]);
        r.headlines.push(format!(
            "{} ({} functions): {:.1} s in all (compile {:.1}, merge {:.1}, optimize {:.1}, link {:.1}); \
             merged binary {:.0} KiB against {:.0} KiB for the members' own binaries",
            x.workflow,
            x.members,
            x.total_s,
            x.compile_s,
            x.merge_s,
            x.optimize_s,
            x.link_s,
            x.merged_kib as f64,
            x.originals_kib as f64,
        ));
        r.summary.insert(
            x.workflow.clone(),
            json!({"total_s": x.total_s, "merged_kib": x.merged_kib as f64, "originals_kib": x.originals_kib as f64}),
        );
    }
    r.table = md_table(
        &[
            "workflow",
            "compile (s)",
            "merge (s)",
            "optimize (s)",
            "link (s)",
            "total (s)",
            "merged (KiB)",
            "members' binaries (KiB)",
            "size ratio",
        ],
        &table,
    );
    let groups: Vec<String> = rec.rows.iter().map(|x| x.workflow.clone()).collect();
    let series: Vec<(String, Vec<f64>)> = (0..4)
        .map(|i| {
            (
                Row::default().stages()[i].0.to_string(),
                rec.rows.iter().map(|x| x.stages()[i].1).collect(),
            )
        })
        .collect();
    crate::plot::grouped_bars(
        &rec.path("svg"),
        "merge time per stage (s)",
        "seconds",
        &groups,
        &series,
    )?;
    Ok(r)
}
