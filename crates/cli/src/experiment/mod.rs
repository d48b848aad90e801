//! `quilt experiment <name>`: the reference's figures on our platform, each writing
//! `results/<name>/{<name>.json, <name>.csv, <name>.svg, summary.md}`.
//!
//! | name | reference | what |
//! |---|---|---|
//! | `latency` | Figure 7 | p50/p99 per workflow, baseline vs merged, sync and async, real storage |
//! | `throughput` | Figures 8a/8b | compose-post (fake database): latency against throughput, baseline vs merged vs container merge |
//! | `fanout-cpu` | Figure 8c | nearby-cinema-top under a CPU limit: baseline vs merge-all vs the split into two |
//! | `tracing` | Figure 9a | a no-op with tracing on and off |
//! | `merge-time` | merge-time table | compile / merge / optimize / link seconds and binary sizes |
//! | `conditional` | fan-out experiment | fan-out 5 and 13, threshold 6 vs unconditional vs baseline |
//! | `cold-start` | — | first request after scale to zero, unmerged chain vs merged |
//!
//! `--quick` runs finish in a few minutes on a 2-core machine once the apps are built; the hidden
//! `--smoke` runs are the test suite's. Merged binaries are cached per app (keyed by the members'
//! binaries and the fan-out threshold) so that a second run does not merge again (`--remerge`).

pub mod cold_start;
pub mod common;
pub mod conditional;
pub mod fanout_cpu;
pub mod latency;
pub mod merge_time;
pub mod throughput;
pub mod trace;

use clap::Args;
use std::path::PathBuf;
use std::time::Instant;

/// Arguments every experiment takes.
#[derive(Debug, Clone, Default, Args)]
pub struct ExperimentArgs {
    /// A short run (about a minute of measurement; ≤ 3 minutes once the apps are built).
    #[arg(long)]
    pub quick: bool,
    /// Seconds of measurement, for the test suite.
    #[arg(long, hide = true)]
    pub smoke: bool,
    /// Output folder [default: results/<name>].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Merge again even where the experiment cache holds a merged binary of the same members.
    #[arg(long)]
    pub remerge: bool,
    /// Redraw the summary and plot of the run in --out from its JSON, measuring nothing.
    #[arg(long, hide = true)]
    pub replot: bool,
}

/// Arguments of `quilt experiment all`.
#[derive(Debug, Clone, Args)]
pub struct AllArgs {
    /// Quick variants of every experiment.
    #[arg(long)]
    pub quick: bool,
    /// Parent folder of the results [default: results]: each experiment writes `<DIR>/<name>/`.
    #[arg(long, value_name = "DIR", default_value = "results")]
    pub out: PathBuf,
    /// Merge again even where the experiment cache holds a merged binary of the same members.
    #[arg(long)]
    pub remerge: bool,
    /// Experiments to leave out, comma-separated.
    #[arg(long, value_delimiter = ',', value_name = "NAME,…")]
    pub skip: Vec<String>,
}

/// Every experiment `all` runs, in order (cheap ones first).
pub const ALL: [&str; 8] = [
    "solver",
    "tracing",
    "cold-start",
    "conditional",
    "merge-time",
    "latency",
    "throughput",
    "fanout-cpu",
];

/// Runs one experiment by name.
pub fn run_named(name: &str, args: ExperimentArgs) -> anyhow::Result<()> {
    match name {
        "latency" => latency::run(args),
        "throughput" => throughput::run(args),
        "fanout-cpu" => fanout_cpu::run(fanout_cpu::FanoutCpuArgs {
            common: args,
            ..fanout_cpu::FanoutCpuArgs::default()
        }),
        "tracing" => trace::run(args),
        "merge-time" => merge_time::run(args),
        "conditional" => conditional::run(args),
        "cold-start" => cold_start::run(args),
        "solver" => quilt_solver::cli::run_experiment(quilt_solver::cli::SolverExperimentArgs {
            sizes: None,
            trials: None,
            seed: 1,
            exact_time_limit: 10.0,
            out: args.out.unwrap_or_else(|| PathBuf::from("results/solver")),
            quick: args.quick || args.smoke,
        }),
        other => anyhow::bail!("no experiment '{other}' (known: {})", ALL.join(", ")),
    }
}

/// Runs `quilt experiment all`: every experiment, one after the other; a failure does not stop the
/// others, and the command fails at the end if any failed.
pub fn run_all(args: AllArgs) -> anyhow::Result<()> {
    for s in &args.skip {
        if !ALL.contains(&s.as_str()) {
            anyhow::bail!("--skip {s}: no such experiment (known: {})", ALL.join(", "));
        }
    }
    let mut outcomes = Vec::new();
    for name in ALL {
        if args.skip.iter().any(|s| s == name) {
            continue;
        }
        let t = Instant::now();
        let result = run_named(
            name,
            ExperimentArgs {
                quick: args.quick,
                smoke: false,
                out: Some(args.out.join(name)),
                remerge: args.remerge,
                replot: false,
            },
        );
        let secs = t.elapsed().as_secs_f64();
        if let Err(e) = &result {
            eprintln!("experiment {name} failed after {secs:.0}s: {e:#}");
        }
        outcomes.push((name, secs, result.err()));
    }
    println!("\n| experiment | seconds | result |\n|---|---:|---|");
    for (name, secs, err) in &outcomes {
        let what = match err {
            None => "ok".to_string(),
            Some(e) => format!("failed: {}", format!("{e:#}").replace('\n', " ")),
        };
        println!("| {name} | {secs:.0} | {what} |");
    }
    let failed: Vec<&str> = outcomes
        .iter()
        .filter(|o| o.2.is_some())
        .map(|o| o.0)
        .collect();
    if failed.is_empty() {
        Ok(())
    } else {
        anyhow::bail!(
            "{} experiment(s) failed: {}",
            failed.len(),
            failed.join(", ")
        )
    }
}
