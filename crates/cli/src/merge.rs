//! `quilt merge`: merge the groups of a funcTree or a plan into binaries served as `<root>-merged`.

use anyhow::Result;
use clap::{Args, ValueEnum};
use quilt_manifest::Manifest;
use quilt_merge::tree::Tree;
use quilt_merge::{merge_group, GroupReport, MergeOptions};
use std::path::PathBuf;

/// Report formats.
#[derive(Clone, Copy, ValueEnum)]
pub enum ReportFormat {
    /// A line per group.
    Text,
    /// Stage times, sizes and call sites as JSON.
    Json,
}

/// Arguments of `quilt merge`.
#[derive(Args)]
pub struct MergeArgs {
    /// The app folder (holds quilt.toml).
    pub app: PathBuf,
    /// A funcTree file: `caller callee` per line, the first name is the root.
    #[arg(long, required_unless_present = "plan", conflicts_with = "plan")]
    pub tree: Option<PathBuf>,
    /// A plan written by `quilt plan --out`: every group is merged.
    #[arg(long)]
    pub plan: Option<PathBuf>,
    /// Run a member locally only while fewer than N local asynchronous executions of it are in
    /// flight in the instance; above that, invoke it remotely.
    #[arg(long, value_name = "N", conflicts_with = "no_conditional")]
    pub fanout_threshold: Option<usize>,
    /// Merge unconditionally (the default).
    #[arg(long)]
    pub no_conditional: bool,
    /// Print a report.
    #[arg(long, value_enum, default_value = "text")]
    pub report: ReportFormat,
    /// Keep the rewritten modules as text, one `.ll` file per module
    /// (`.quilt/merge/out-<root>/ir/`).
    #[arg(long)]
    pub keep_ir: bool,
    /// Merge, optimize and link again even when the merge cache holds an identical merge.
    #[arg(long)]
    pub refresh: bool,
    /// Merge functions of different trust domains or isolated functions anyway (logged).
    #[arg(long)]
    pub allow_cross_domain: bool,
    /// Compile C and C++ members with a stack protector, fortified libc calls and trapping array
    /// bounds checks (see docs/SECURITY.md for what it catches and docs/PERFORMANCE.md for its cost).
    #[arg(long)]
    pub harden: bool,
    /// Serve the root's own route with the merged binary too (in place of the root's own binary), so
    /// that callers outside the group reach the merged group, as when the reference deploys a
    /// merged group under its root's name.
    #[arg(long)]
    pub serve_root: bool,
    /// Deploy each group as the reference's container merge (`container-merge-<root>`: the members'
    /// own binaries as processes of one instance behind an internal gateway) instead of merging.
    #[arg(long, conflicts_with_all = ["fanout_threshold", "keep_ir", "harden", "serve_root", "refresh"])]
    pub container: bool,
    /// Build each group's monolith fixture instead (`<root>-monolith`: every handler in one binary
    /// calling the others in-process by name, no IR rewrite), the physical limit for benchmarks.
    #[arg(long, conflicts_with_all = ["container", "fanout_threshold", "keep_ir", "harden", "serve_root", "refresh"])]
    pub monolith: bool,
    /// Skip building the members' own binaries first (used for size comparison).
    #[arg(long)]
    pub no_build: bool,
    /// Then start the app and verify each group's root against its unmerged deployment (see
    /// `quilt verify`); fails when any answer differs.
    #[arg(long, conflicts_with_all = ["container", "monolith", "serve_root"])]
    pub verify: bool,
    /// The requests `--verify` replays.
    #[command(flatten)]
    pub requests: crate::verify::RequestArgs,
    /// How `--verify` starts the app.
    #[command(flatten)]
    pub start: crate::up::StartArgs,
}

/// Runs `quilt merge`.
pub fn run(args: MergeArgs) -> Result<()> {
    let manifest = Manifest::load(&args.app)?;
    let trees = match (&args.tree, &args.plan) {
        (Some(tree), _) => vec![Tree::read(tree)?],
        (None, Some(plan)) => plan_trees(plan)?,
        (None, None) => unreachable!("clap requires --tree or --plan"),
    };
    let opts = MergeOptions {
        fanout_threshold: args.fanout_threshold.unwrap_or(0),
        keep_ir: args.keep_ir,
        allow_cross_domain: args.allow_cross_domain,
        harden: args.harden,
        serve_root: args.serve_root,
        refresh: args.refresh,
    };
    for tree in &trees {
        quilt_merge::check_group(&manifest, tree, &opts)?;
    }
    if !args.no_build {
        let members: Vec<&str> = trees
            .iter()
            .flat_map(|t| t.members.iter().map(String::as_str))
            .collect();
        quilt_build::build_functions(&manifest, &members)?;
    }
    if args.container {
        for tree in &trees {
            let d = quilt_merge::deployment::MergedDeployment::install_container(&manifest, tree)?;
            println!(
                "{}: {} members ({})",
                d.name,
                d.members.len(),
                d.members.join(", ")
            );
        }
        return Ok(());
    }
    if args.monolith {
        for tree in &trees {
            let binary = quilt_merge::build_monolith(&manifest, tree)?;
            println!("{}-monolith: {}", tree.root, binary.display());
        }
        return Ok(());
    }
    let mut reports = Vec::new();
    for tree in &trees {
        let report = merge_group(&manifest, tree, &opts)?;
        if let ReportFormat::Text = args.report {
            print_text(&report);
        }
        reports.push(report);
    }
    if let ReportFormat::Json = args.report {
        println!("{}", serde_json::to_string_pretty(&reports)?);
    }
    if !args.verify {
        return Ok(());
    }
    let pairs: Vec<(String, String)> = reports
        .iter()
        .map(|r| (r.root.clone(), r.name.clone()))
        .collect();
    let reach = crate::up::ReachArgs {
        gateway: None,
        start: args.start.clone(),
    };
    let verifications = crate::verify::verify_pairs(&manifest, &reach, &args.requests, &pairs)?;
    for v in &verifications {
        // Keep a JSON report alone on stdout.
        match args.report {
            ReportFormat::Text => print!("{}", crate::verify::text(v)),
            ReportFormat::Json => eprint!("{}", crate::verify::text(v)),
        }
    }
    crate::verify::check(&verifications)
}

/// The groups of a plan file with more than one member, as trees (a lone function needs no merge).
pub fn plan_trees(path: &std::path::Path) -> Result<Vec<Tree>> {
    group_trees(
        &quilt_solver::Plan::read(path)?,
        &path.display().to_string(),
    )
}

/// The groups of `plan` with more than one member, as trees; `source` names the plan in errors.
pub fn group_trees(plan: &quilt_solver::Plan, source: &str) -> Result<Vec<Tree>> {
    let mut trees = Vec::new();
    for group in plan.groups.iter().filter(|g| g.members.len() > 1) {
        let label = PathBuf::from(format!("{source} (group '{}')", group.root));
        trees.push(Tree::parse(&label, &quilt_solver::Plan::func_tree(group))?);
    }
    Ok(trees)
}

fn print_text(r: &GroupReport) {
    use quilt_merge::rewrite::SiteKind;
    let count = |k: SiteKind| r.sites.iter().filter(|s| s.kind == k).count();
    println!(
        "{}: {} members ({}); compile {:.1}s, {}; \
         {} KiB (originals {} KiB); sites: {} direct, {} local async, {} remote, {} dynamic",
        r.name,
        r.members.len(),
        r.members.join(", "),
        r.times.compile_s,
        if r.cached {
            "merge, optimize and link cached".to_string()
        } else {
            format!(
                "merge {:.1}s, optimize {:.1}s, link {:.1}s",
                r.times.merge_s, r.times.optimize_s, r.times.link_s
            )
        },
        r.merged_bytes / 1024,
        r.originals_bytes / 1024,
        count(SiteKind::Direct),
        count(SiteKind::LocalAsync),
        count(SiteKind::Remote),
        count(SiteKind::Dynamic),
    );
}
