//! Benchmark of the merge solver on one generator family, one line per graph and a summary.
//!
//! `cargo run --release -p quilt-solver --example solver_hard -- FAMILY SIZES TRIALS SECONDS ALGS [SEEDS]`
//!
//! FAMILY is `reference`, `tight` or `heavy-async`; SIZES and ALGS are comma-separated (ALGS from
//! `exact`, `lns`, `auto`, `dih`, `wd`); graph `t` of size `n` uses seed `2_000_000 + 1000·n + t`.
//! SEEDS (default 1) runs every randomised algorithm with solver seeds `0..SEEDS`. Prints, per
//! algorithm and size: proven count, median and max seconds, costs.

use clap::ValueEnum;
use quilt_solver::generate::{generate, Family};
use quilt_solver::{solve, Algorithm, SolveOptions};
use std::time::Duration;

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "FAMILY SIZES TRIALS SECONDS ALGS [SEEDS]";
    let family = Family::from_str(args.first().expect(usage), true).expect("a family");
    let sizes: Vec<usize> = args[1]
        .split(',')
        .map(|s| s.parse().expect("a size"))
        .collect();
    let trials: usize = args[2].parse().expect("trials");
    let secs: f64 = args[3].parse().expect("seconds");
    let algs: Vec<Algorithm> = args[4]
        .split(',')
        .map(|a| Algorithm::from_str(a, true).expect("an algorithm"))
        .collect();
    let seeds: u64 = args.get(5).map_or(1, |s| s.parse().expect("seeds"));
    for n in sizes {
        for alg in &algs {
            let (mut times, mut proven, mut costs) = (Vec::new(), 0, Vec::new());
            for trial in 0..trials {
                let seed = 2_000_000 + 1000 * n as u64 + trial as u64;
                let g = generate(&family.params(n, seed));
                let limits = g.limits(None, None, None).expect("limits");
                let mut line = Vec::new();
                for s in 0..seeds {
                    let opts = SolveOptions {
                        algorithm: *alg,
                        time_limit: Duration::from_secs_f64(secs),
                        seed: s,
                    };
                    let plan = solve(&g, &limits, &opts).expect("solvable");
                    times.push(plan.seconds);
                    proven += plan.optimal as usize;
                    line.push(plan.cost);
                    println!(
                        "{} n={n} trial={trial} {alg} seed={s}: cost {} {} {:.3}s",
                        family.name(),
                        plan.cost,
                        if plan.optimal { "proven" } else { "-" },
                        plan.seconds
                    );
                }
                costs.push(line);
            }
            times.sort_by(f64::total_cmp);
            println!(
                "SUMMARY {} n={n} {alg}: proven {proven}/{} median {:.3}s max {:.3}s costs {costs:?}",
                family.name(),
                times.len(),
                times[times.len() / 2],
                times[times.len() - 1],
            );
        }
    }
}
