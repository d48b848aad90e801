//! `exact`, `lns` and `auto` on a tight 100-node graph (`solver_hard tight 100`, trial 1), where
//! the branch and bound alone needed 7 s to prove the optimum and `lns` alone depended on its seed.

use quilt_solver::generate::{generate, Family};
use quilt_solver::{solve, Algorithm, SolveOptions};
use std::time::Duration;

#[test]
fn tight_graph_is_proven_and_lns_and_auto_stay_within_two_percent_across_seeds() {
    let g = generate(&Family::Tight.params(100, 2_100_001));
    let limits = g.limits(None, None, None).expect("limits");
    let opts = |algorithm, seed| SolveOptions {
        algorithm,
        // Generous for a shared machine: this takes about a second alone.
        time_limit: Duration::from_secs(20),
        seed,
    };
    let exact = solve(&g, &limits, &opts(Algorithm::Exact, 0)).expect("solvable");
    assert!(exact.optimal, "not proven in {:.1} s", exact.seconds);
    exact.verify(&g, &limits).expect("valid plan");
    assert_eq!(exact.cost, 63);
    for seed in 0..3 {
        for alg in [Algorithm::Lns, Algorithm::Auto] {
            let plan = solve(&g, &limits, &opts(alg, seed)).expect("solvable");
            plan.verify(&g, &limits).expect("valid plan");
            // Their budget is fixed (5 s), so a loaded machine may stop the MIP early: within 2%
            // of the optimum, as issue 16 asks of lns across seeds (the optimum when run alone).
            assert!(
                plan.cost as f64 <= exact.cost as f64 * 1.02,
                "{alg} with seed {seed}: {} against the optimum {}",
                plan.cost,
                exact.cost
            );
        }
    }
}
