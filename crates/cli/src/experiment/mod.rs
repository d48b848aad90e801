//! `quilt experiment <name>`: the reference's figures on our platform, each writing
//! `results/<name>/{<name>.json, <name>.csv, <name>.svg, summary.md}`. The experiments, as
//! [`REGISTRY`] lists them (a test keeps this table equal to [`Registry::table`]):
//!
//! | name | reference | what |
//! |---|---|---|
//! | `solver` | solver experiment | Decision time and quality of the merge solver's algorithms on generated graphs. |
//! | `tracing` | Figure 9a | A no-op function with tracing on and off. |
//! | `cold-start` | — | First request after scale to zero: unmerged chain against merged. |
//! | `conditional` | fan-out experiment | Fan-out 5 and 13: threshold 6 against no conditional against baseline. |
//! | `merge-time` | merge-time table | Compile, merge, optimize and link time and binary sizes of four workflows. |
//! | `latency` | Figure 7 | Median and p99 latency per workflow, baseline against merged, sync and async, real storage. |
//! | `throughput` | Figures 8a/8b | compose-post (fake database): latency against throughput, baseline, merged and container merge. |
//! | `fanout-cpu` | Figure 8c | nearby-cinema-top under a CPU limit: baseline, merge-all, the split into two and the solver's plan. |
//!
//! `--quick` runs finish in a few minutes on a 2-core machine once the apps are built; the hidden
//! `--smoke` runs are the test suite's. An unchanged group comes from the merge cache, so that a
//! second run does not merge again (`--remerge` merges anyway).

pub mod cold_start;
pub mod common;
pub mod conditional;
pub mod fanout_cpu;
pub mod latency;
pub mod merge_time;
pub mod throughput;
pub mod trace;

use clap::{Args, FromArgMatches};
pub use quilt_harness::experiment::ExperimentArgs;
use quilt_harness::experiment::{Experiment, Registry};
use quilt_solver::cli::SolverExperimentArgs;
use std::path::PathBuf;
use std::time::Instant;

/// Arguments of `quilt experiment all`.
#[derive(Debug, Clone, Args)]
pub struct AllArgs {
    /// Quick variants of every experiment.
    #[arg(long)]
    pub quick: bool,
    /// Parent folder of the results [default: results]: each experiment writes `<DIR>/<name>/`.
    #[arg(long, value_name = "DIR", default_value = "results")]
    pub out: PathBuf,
    /// Merge again even where the merge cache holds a merged binary of the same bitcode.
    #[arg(long)]
    pub remerge: bool,
    /// Experiments to leave out, comma-separated.
    #[arg(long, value_delimiter = ',', value_name = "NAME,…")]
    pub skip: Vec<String>,
}

/// Every experiment, in the order `all` runs them (cheap ones first): the command line, `all` and
/// the table above derive from it.
pub const REGISTRY: Registry = Registry(&[
    &Solver,
    &trace::EXPERIMENT,
    &cold_start::EXPERIMENT,
    &conditional::EXPERIMENT,
    &merge_time::EXPERIMENT,
    &latency::EXPERIMENT,
    &throughput::EXPERIMENT,
    &fanout_cpu::FanoutCpu,
]);

/// `quilt experiment solver`: the merge solver on generated graphs (quilt-solver writes its own
/// files).
pub struct Solver;

impl Experiment for Solver {
    fn name(&self) -> &'static str {
        "solver"
    }

    fn about(&self) -> &'static str {
        "Decision time and quality of the merge solver's algorithms on generated graphs."
    }

    fn reference(&self) -> &'static str {
        "solver experiment"
    }

    fn columns(&self) -> &'static [&'static str] {
        &[]
    }

    fn command(&self) -> clap::Command {
        SolverExperimentArgs::augment_args(clap::Command::new(self.name())).about(self.about())
    }

    fn run_matches(&self, matches: &clap::ArgMatches) -> anyhow::Result<()> {
        quilt_solver::cli::run_experiment(SolverExperimentArgs::from_arg_matches(matches)?)
    }

    fn run(&self, args: ExperimentArgs) -> anyhow::Result<()> {
        if args.hosts.is_some() {
            anyhow::bail!("--hosts: experiment solver does not run on emulated hosts");
        }
        quilt_solver::cli::run_experiment(SolverExperimentArgs {
            sizes: None,
            trials: None,
            seed: 1,
            exact_time_limit: 10.0,
            families: None,
            out: args.out.unwrap_or_else(|| PathBuf::from("results/solver")),
            quick: args.quick || args.smoke,
        })
    }
}

/// Runs one experiment by name.
pub fn run_named(name: &str, args: ExperimentArgs) -> anyhow::Result<()> {
    REGISTRY.find(name)?.run(args)
}

/// `quilt experiment <name> …`: the experiment named and its arguments, as its own command line
/// ([`Experiment::command`]) parsed them; the subcommands come from [`REGISTRY`], and `all`.
#[derive(Debug, Clone)]
pub struct ExperimentCommand {
    name: String,
    matches: clap::ArgMatches,
}

impl ExperimentCommand {
    /// Runs it.
    pub fn run(self) -> anyhow::Result<()> {
        if self.name == "all" {
            return run_all(AllArgs::from_arg_matches(&self.matches)?);
        }
        REGISTRY.find(&self.name)?.run_matches(&self.matches)
    }
}

impl FromArgMatches for ExperimentCommand {
    fn from_arg_matches(matches: &clap::ArgMatches) -> Result<Self, clap::Error> {
        let (name, sub) = matches
            .subcommand()
            .ok_or_else(|| clap::Error::new(clap::error::ErrorKind::MissingSubcommand))?;
        Ok(ExperimentCommand {
            name: name.to_string(),
            matches: sub.clone(),
        })
    }

    fn update_from_arg_matches(&mut self, matches: &clap::ArgMatches) -> Result<(), clap::Error> {
        *self = ExperimentCommand::from_arg_matches(matches)?;
        Ok(())
    }
}

impl Args for ExperimentCommand {
    fn augment_args(cmd: clap::Command) -> clap::Command {
        REGISTRY
            .0
            .iter()
            .fold(cmd, |cmd, e| cmd.subcommand(e.command()))
            .subcommand(
                AllArgs::augment_args(clap::Command::new("all"))
                    .about("Every experiment, one after the other."),
            )
            .subcommand_required(true)
    }

    fn augment_args_for_update(cmd: clap::Command) -> clap::Command {
        ExperimentCommand::augment_args(cmd)
    }
}

/// Runs `quilt experiment all`: every experiment, one after the other; a failure does not stop the
/// others, and the command fails at the end if any failed.
pub fn run_all(args: AllArgs) -> anyhow::Result<()> {
    for s in &args.skip {
        if let Err(e) = REGISTRY.find(s) {
            anyhow::bail!("--skip {s}: {e}");
        }
    }
    let mut outcomes = Vec::new();
    for experiment in REGISTRY.0 {
        let name = experiment.name();
        if args.skip.iter().any(|s| s == name) {
            continue;
        }
        let t = Instant::now();
        let result = experiment.run(ExperimentArgs {
            quick: args.quick,
            smoke: false,
            out: Some(args.out.join(name)),
            remerge: args.remerge,
            ..ExperimentArgs::default()
        });
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_docs_table_is_the_registrys() {
        let docs: String = include_str!("mod.rs")
            .lines()
            .filter_map(|l| l.strip_prefix("//! |"))
            .map(|l| format!("|{l}\n"))
            .collect();
        assert_eq!(docs, REGISTRY.table());
    }

    /// A row of the experiment's type with every field at its default, as JSON.
    fn fields<R: serde::Serialize + Default>() -> serde_json::Value {
        serde_json::to_value(R::default()).unwrap()
    }

    #[test]
    fn every_column_is_a_field_of_the_rows() {
        for (name, row) in [
            ("tracing", fields::<trace::Row>()),
            ("cold-start", fields::<cold_start::Row>()),
            ("conditional", fields::<conditional::Row>()),
            ("merge-time", fields::<merge_time::Row>()),
            ("latency", fields::<latency::Row>()),
            ("throughput", fields::<throughput::Row>()),
            ("fanout-cpu", fields::<fanout_cpu::Row>()),
        ] {
            for c in REGISTRY.find(name).unwrap().columns() {
                assert!(row.get(*c).is_some(), "{name}: no field {c}");
            }
        }
    }

    #[test]
    fn every_experiment_has_a_subcommand_and_all_refuses_unknown_names() {
        let cmd = ExperimentCommand::augment_args(clap::Command::new("experiment"));
        for experiment in REGISTRY.0 {
            let sub = cmd
                .find_subcommand(experiment.name())
                .unwrap_or_else(|| panic!("no subcommand {}", experiment.name()));
            // Its own description, not the shared arguments' doc comment.
            let about = sub.get_about().map(|a| a.to_string()).unwrap_or_default();
            assert_eq!(about, experiment.about(), "{}", experiment.name());
        }
        assert!(cmd.find_subcommand("all").is_some());
        let err = run_all(AllArgs {
            quick: true,
            out: PathBuf::from("results"),
            remerge: false,
            skip: vec!["nope".into()],
        })
        .unwrap_err();
        assert!(format!("{err:#}").contains("no such experiment"), "{err:#}");
    }
}
