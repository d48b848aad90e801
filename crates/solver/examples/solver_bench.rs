//! Benchmark of the merge solver on the reference's generator (K = 1.2, edge factor 1.2, p = 0.1).
//!
//! `cargo run --release -p quilt-solver --example solver_bench -- [TRIALS] [LARGE_TRIALS]`
//!
//! For 25, 50, 100, 200 nodes: `exact` seconds per graph (median, 90th percentile, max) and how
//! many it proved; `lns` cost against the optimum (mean of cost/opt − 1, and Σcost/Σopt − 1) and
//! its time. For 400 and 800 nodes: `lns` and `exact` times and `lns` against the best known.
//! Prints a markdown table.

use quilt_solver::generate::{generate, GenParams};
use quilt_solver::{solve, Algorithm, SolveOptions};
use std::time::{Duration, Instant};

fn quantile(xs: &mut [f64], q: f64) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[((xs.len() - 1) as f64 * q).round() as usize]
}

fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .map(|a| a.parse().expect("a number"))
        .collect();
    let trials = args.first().copied().unwrap_or(30);
    let large_trials = args.get(1).copied().unwrap_or(10);
    println!("| nodes | graphs | exact median s | exact p90 s | exact max s | proven | lns mean excess | lns Σcost/Σopt−1 | lns median s | lns max s |");
    println!("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for (n, t) in [
        (25, trials),
        (50, trials),
        (100, trials),
        (200, trials),
        (400, large_trials),
        (800, large_trials),
    ] {
        let (mut te, mut tl) = (Vec::new(), Vec::new());
        let (mut proven, mut excess, mut sum_l, mut sum_o) = (0, Vec::new(), 0u64, 0u64);
        for trial in 0..t {
            let seed = 1_000_000 + 1000 * n as u64 + trial as u64;
            let g = generate(&GenParams::new(n, seed));
            let limits = g.limits(None, None, None).expect("limits");
            let run = |algorithm| {
                let opts = SolveOptions {
                    algorithm,
                    time_limit: Duration::from_secs(60),
                    seed,
                };
                let start = Instant::now();
                let plan = solve(&g, &limits, &opts).expect("solvable");
                (plan, start.elapsed().as_secs_f64())
            };
            let (exact, se) = run(Algorithm::Exact);
            let (lns, sl) = run(Algorithm::Lns);
            te.push(se);
            tl.push(sl);
            assert!(lns.cost >= exact.cost || !exact.optimal);
            if exact.optimal {
                proven += 1;
                if exact.cost > 0 {
                    excess.push(lns.cost as f64 / exact.cost as f64 - 1.0);
                }
            }
            sum_l += lns.cost;
            sum_o += exact.cost;
        }
        let mean_excess = excess.iter().sum::<f64>() / excess.len().max(1) as f64;
        println!(
            "| {n} | {t} | {:.4} | {:.4} | {:.4} | {proven}/{t} | {:.2}% | {:.2}% | {:.4} | {:.4} |",
            quantile(&mut te, 0.5),
            quantile(&mut te, 0.9),
            quantile(&mut te, 1.0),
            100.0 * mean_excess,
            100.0 * (sum_l as f64 / sum_o.max(1) as f64 - 1.0),
            quantile(&mut tl, 0.5),
            quantile(&mut tl, 1.0),
        );
    }
}
