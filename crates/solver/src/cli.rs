//! Command-line types the `quilt` binary embeds: `quilt plan …`, `quilt plan gen …` and
//! `quilt experiment solver …`, with the functions that run them.

use crate::experiment::{self, ExperimentConfig};
use crate::generate::{generate, Family, GenParams};
use crate::{solve, Algorithm, CallGraph, Plan, SolveOptions};
use anyhow::{bail, Context};
use clap::{Args, Subcommand};
use std::path::PathBuf;
use std::time::Duration;

/// `quilt plan`: choose which functions to merge under per-instance limits.
#[derive(Debug, Clone, Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct PlanCommand {
    /// `gen`: write a random call graph instead of solving one.
    #[command(subcommand)]
    pub command: Option<PlanSubcommand>,
    /// Solve a call graph.
    #[command(flatten)]
    pub solve: SolveArgs,
}

/// Subcommands of `quilt plan`.
#[derive(Debug, Clone, Subcommand)]
pub enum PlanSubcommand {
    /// Write a random call graph made as the reference's generator makes them.
    Gen(GenArgs),
}

/// `quilt plan <graph.json> …`.
#[derive(Debug, Clone, Args)]
pub struct SolveArgs {
    /// Call graph: networkx node-link JSON with `m`, `c` per node and `weight`, `type` per edge.
    #[arg(required = true, value_name = "GRAPH")]
    pub graph: Option<PathBuf>,
    /// Per-instance memory limit M (overrides the graph's `memory_limit`).
    #[arg(long, value_name = "M")]
    pub memory: Option<f64>,
    /// Per-instance CPU limit C (overrides the graph's `cpu_limit`).
    #[arg(long, value_name = "C")]
    pub cpu: Option<f64>,
    /// Workflow runs N the weights were counted over (overrides the graph's `runs`).
    #[arg(long, value_name = "N")]
    pub runs: Option<u64>,
    /// Algorithm.
    #[arg(long, value_enum, default_value_t = Algorithm::Auto)]
    pub algorithm: Algorithm,
    /// Seconds `exact` may search before returning its best unproven plan.
    #[arg(long, value_name = "S", default_value_t = 30.0)]
    pub time_limit: f64,
    /// Seed for the randomised algorithms.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Print the plan as JSON instead of a summary.
    #[arg(long)]
    pub json: bool,
    /// After the summary, name for each call left remote the rule or limit that keeps it so.
    #[arg(long, conflicts_with = "json")]
    pub explain: bool,
    /// Write the plan (the file `quilt merge --plan` reads).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Write one funcTree file per group (`funcTree.<root>`) into this folder.
    #[arg(long, value_name = "DIR")]
    pub tree_dir: Option<PathBuf>,
}

/// `quilt plan gen …`.
#[derive(Debug, Clone, Args)]
pub struct GenArgs {
    /// Number of functions.
    #[arg(long, value_name = "N")]
    pub nodes: usize,
    /// Seed of the random stream.
    #[arg(long, value_name = "S", default_value_t = 0)]
    pub seed: u64,
    /// Extra forward edges per node.
    #[arg(long, value_name = "F", default_value_t = 1.2)]
    pub edge_factor: f64,
    /// Probability that an edge is async.
    #[arg(long, value_name = "P", default_value_t = 0.1)]
    pub async_prob: f64,
    /// K in limit = ceil(total / K); larger is tighter.
    #[arg(long, value_name = "K", default_value_t = 1.2)]
    pub constraint_factor: f64,
    /// Largest call weight (weights are uniform in 1..=W).
    #[arg(long, value_name = "W", default_value_t = 10)]
    pub max_weight: u64,
    /// Output file (standard output if absent).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
}

/// Runs `quilt plan` or `quilt plan gen`.
pub fn run(cmd: PlanCommand) -> anyhow::Result<()> {
    match cmd.command {
        Some(PlanSubcommand::Gen(args)) => run_gen(&args),
        None => run_solve(&cmd.solve),
    }
}

fn run_solve(args: &SolveArgs) -> anyhow::Result<()> {
    let Some(path) = &args.graph else {
        bail!("missing the call graph: quilt plan <GRAPH>");
    };
    if !(args.time_limit.is_finite() && args.time_limit > 0.0) {
        bail!(
            "--time-limit must be a positive number of seconds, got {}",
            args.time_limit
        );
    }
    let graph = CallGraph::read(path)?;
    let limits = graph.limits(args.memory, args.cpu, args.runs)?;
    let opts = SolveOptions {
        algorithm: args.algorithm,
        time_limit: Duration::from_secs_f64(args.time_limit),
        seed: args.seed,
    };
    let plan = solve(&graph, &limits, &opts).with_context(|| path.display().to_string())?;
    if let Some(out) = &args.out {
        plan.write(out)?;
    }
    let trees = match &args.tree_dir {
        Some(dir) => plan.write_func_trees(dir)?,
        None => Vec::new(),
    };
    if args.json {
        println!("{}", plan.to_json());
        return Ok(());
    }
    print!("{}", summary(&plan, limits.memory, limits.cpu));
    if !args.explain && plan.baseline_cost > 0 && plan.cost == plan.baseline_cost {
        println!("nothing merges: --explain names the limit that keeps each call remote");
    }
    if args.explain {
        let from = |flag: Option<f64>, field| {
            if flag.is_some() {
                "command line"
            } else {
                field
            }
        };
        println!(
            "limits: memory {} (from the {}), cpu {} (from the {})",
            limits.memory,
            from(args.memory, "graph's memory_limit"),
            limits.cpu,
            from(args.cpu, "graph's cpu_limit")
        );
        let remote = crate::explain(&graph, &limits, &plan)?;
        if remote.is_empty() {
            println!("every call becomes local");
        }
        for r in &remote {
            println!(
                "remote: {} -> {} ({} {} calls): {}",
                r.caller, r.callee, r.weight, r.kind, r.reason
            );
        }
    }
    if let Some(out) = &args.out {
        println!("wrote {}", out.display());
    }
    if let Some(dir) = &args.tree_dir {
        println!("wrote {} funcTree files to {}", trees.len(), dir.display());
    }
    Ok(())
}

/// A short human summary of a plan.
fn summary(plan: &Plan, memory: f64, cpu: f64) -> String {
    let local = plan.baseline_cost - plan.cost;
    let share = if plan.baseline_cost > 0 {
        100.0 * local as f64 / plan.baseline_cost as f64
    } else {
        100.0
    };
    let mut s =
        format!(
        "{} group{}; {} of {} calls stay remote ({share:.1}% become local); {} ({}) in {:.3} s\n",
        plan.groups.len(),
        if plan.groups.len() == 1 { "" } else { "s" },
        plan.cost,
        plan.baseline_cost,
        plan.algorithm,
        if plan.optimal { "optimal" } else { "not proven optimal" },
        plan.seconds
    );
    for g in &plan.groups {
        let shown: Vec<&str> = g.members.iter().take(8).map(String::as_str).collect();
        let more = if g.members.len() > 8 {
            format!(" … (+{})", g.members.len() - 8)
        } else {
            String::new()
        };
        s.push_str(&format!(
            "  {}: {} function{}, memory {}/{}, cpu {}/{}: {}{more}\n",
            g.root,
            g.members.len(),
            if g.members.len() == 1 { "" } else { "s" },
            g.memory,
            memory,
            g.cpu,
            cpu,
            shown.join(" ")
        ));
    }
    s
}

fn run_gen(args: &GenArgs) -> anyhow::Result<()> {
    if args.nodes == 0 {
        bail!("--nodes must be at least 1");
    }
    if !(0.0..=1.0).contains(&args.async_prob) {
        bail!(
            "--async-prob must be between 0 and 1, got {}",
            args.async_prob
        );
    }
    if !(args.edge_factor.is_finite() && args.edge_factor >= 0.0) {
        bail!(
            "--edge-factor must be a non-negative number, got {}",
            args.edge_factor
        );
    }
    if !(args.constraint_factor.is_finite() && args.constraint_factor > 0.0) {
        bail!(
            "--constraint-factor must be positive, got {}",
            args.constraint_factor
        );
    }
    if args.max_weight == 0 {
        bail!("--max-weight must be at least 1");
    }
    let graph = generate(&GenParams {
        nodes: args.nodes,
        edge_factor: args.edge_factor,
        async_prob: args.async_prob,
        constraint_factor: args.constraint_factor,
        max_weight: args.max_weight,
        seed: args.seed,
    });
    let text = serde_json::to_string_pretty(&graph.to_json())? + "\n";
    match &args.out {
        Some(out) => {
            quilt_atomic_file::write(out, text.as_bytes())
                .with_context(|| format!("{}: cannot write", out.display()))?;
        }
        None => print!("{text}"),
    }
    Ok(())
}

/// `quilt experiment solver`: decision time and quality of every algorithm on generated graphs.
#[derive(Debug, Clone, Args)]
pub struct SolverExperimentArgs {
    /// Graph sizes (nodes), comma-separated [default: 5,10,15,20,25,50,100,200,400,800;
    /// with --quick: 5,10,25,50,100,200].
    #[arg(long, value_delimiter = ',', value_name = "N,…")]
    pub sizes: Option<Vec<usize>>,
    /// Graphs per size [default: 10; with --quick: 3].
    #[arg(long, value_name = "T")]
    pub trials: Option<usize>,
    /// Base seed.
    #[arg(long, value_name = "S", default_value_t = 1)]
    pub seed: u64,
    /// Seconds `exact` may spend per graph.
    #[arg(long, value_name = "S", default_value_t = 10.0)]
    pub exact_time_limit: f64,
    /// Generator families, comma-separated [default: reference,tight,heavy-async; with --quick:
    /// reference].
    #[arg(long, value_enum, value_delimiter = ',', value_name = "FAMILY,…")]
    pub families: Option<Vec<Family>>,
    /// Output folder.
    #[arg(long, value_name = "DIR", default_value = "results/solver")]
    pub out: PathBuf,
    /// A small run (well under a minute) for smoke tests.
    #[arg(long)]
    pub quick: bool,
}

/// Runs `quilt experiment solver` and writes JSON, CSV, SVG plots and a markdown summary.
pub fn run_experiment(args: SolverExperimentArgs) -> anyhow::Result<()> {
    let sizes = args.sizes.clone().unwrap_or_else(|| {
        if args.quick {
            vec![5, 10, 25, 50, 100, 200]
        } else {
            vec![5, 10, 15, 20, 25, 50, 100, 200, 400, 800]
        }
    });
    if sizes.is_empty() || sizes.contains(&0) {
        bail!("--sizes must list positive graph sizes");
    }
    let trials = args.trials.unwrap_or(if args.quick { 3 } else { 10 });
    if trials == 0 {
        bail!("--trials must be at least 1");
    }
    if !(args.exact_time_limit.is_finite() && args.exact_time_limit > 0.0) {
        bail!("--exact-time-limit must be positive");
    }
    let families = args.families.clone().unwrap_or_else(|| {
        if args.quick {
            vec![Family::Reference]
        } else {
            Family::ALL.to_vec()
        }
    });
    if families.is_empty() {
        bail!("--families must list at least one family");
    }
    let config = ExperimentConfig {
        sizes,
        trials,
        seed: args.seed,
        exact_time_limit: Duration::from_secs_f64(if args.quick {
            args.exact_time_limit.min(2.0)
        } else {
            args.exact_time_limit
        }),
        families,
    };
    let records = experiment::run(&config, |line| println!("{line}"))?;
    let summaries = experiment::summarize(&records);
    let written = experiment::write_outputs(&args.out, &config, &records, &summaries)?;
    for p in written {
        println!("wrote {}", p.display());
    }
    Ok(())
}
