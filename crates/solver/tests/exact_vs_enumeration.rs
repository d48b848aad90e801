//! `exact` against exhaustive enumeration of root sets, and every algorithm's plan checked.

mod common;

use quilt_solver::generate::{generate, GenParams};
use quilt_solver::{solve, Algorithm, CallGraph, Limits, SolveOptions};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::time::Duration;

fn opts(algorithm: Algorithm, seed: u64) -> SolveOptions {
    SolveOptions {
        algorithm,
        time_limit: Duration::from_secs(20),
        seed,
    }
}

/// Random small instances: sizes 4..=12, constraint factors from loose to tight, and few runs so
/// that async penalties bite.
fn instances() -> Vec<(CallGraph, Limits)> {
    let mut out = Vec::new();
    let mut rng = ChaCha8Rng::seed_from_u64(7);
    for seed in 0..160u64 {
        let mut p = GenParams::new(rng.random_range(4..=12), seed);
        p.constraint_factor = [1.1, 1.2, 1.5, 2.0, 3.0][seed as usize % 5];
        p.async_prob = [0.1, 0.5][seed as usize % 2];
        let g = generate(&p);
        let runs = [10, 1, 3][seed as usize % 3];
        let limits = g.limits(None, None, Some(runs)).expect("limits");
        out.push((g, limits));
    }
    out
}

#[test]
fn exact_matches_enumeration_and_every_plan_is_valid() {
    let mut infeasible = 0;
    let mut nontrivial = 0;
    for (i, (g, limits)) in instances().into_iter().enumerate() {
        let brute = common::brute_force(&g, &limits);
        let exact = solve(&g, &limits, &opts(Algorithm::Exact, i as u64));
        let Some(best) = brute else {
            // Only a function larger than a limit makes the problem infeasible.
            assert!(
                exact.is_err(),
                "instance {i}: exact solved an infeasible problem"
            );
            infeasible += 1;
            continue;
        };
        let exact = exact.expect("feasible");
        assert!(exact.optimal, "instance {i}: not proven");
        assert_eq!(
            exact.cost, best,
            "instance {i}: exact {} vs enumeration {best}",
            exact.cost
        );
        if best > 0 && best < exact.baseline_cost {
            nontrivial += 1;
        }
        for alg in [
            Algorithm::Dih,
            Algorithm::Wd,
            Algorithm::Lns,
            Algorithm::Auto,
        ] {
            let plan = solve(&g, &limits, &opts(alg, i as u64)).expect("feasible");
            plan.verify(&g, &limits)
                .unwrap_or_else(|e| panic!("instance {i}, {alg}: {e}"));
            assert!(plan.cost >= best, "instance {i}, {alg}: below the optimum");
        }
        exact.verify(&g, &limits).expect("exact plan valid");
    }
    assert!(
        nontrivial > 60,
        "too few instances where merging is partial: {nontrivial}"
    );
    assert!(
        infeasible < 40,
        "too many infeasible instances: {infeasible}"
    );
}

#[test]
fn exact_matches_enumeration_with_domains_and_isolation() {
    let mut rng = ChaCha8Rng::seed_from_u64(11);
    for seed in 0..60u64 {
        let mut g = generate(&GenParams::new(rng.random_range(5..=11), 500 + seed));
        for node in g.nodes.iter_mut().skip(1) {
            match rng.random_range(0..10) {
                0 => node.isolate = true,
                1 | 2 => node.domain = Some("secure".into()),
                _ => {}
            }
        }
        let limits = g.limits(None, None, None).expect("limits");
        let Some(best) = common::brute_force(&g, &limits) else {
            continue;
        };
        let plan = solve(&g, &limits, &opts(Algorithm::Exact, seed)).expect("feasible");
        assert_eq!(plan.cost, best, "seed {seed}");
        assert!(plan.optimal);
    }
}

/// Hand-built cases from the reference's unit tests (`merge_solver/tests.py`), with the answers
/// its comments derive.
#[test]
fn reference_unit_cases() {
    let case = |nodes: &[(u32, f64)], edges: &[(u32, u32, u64, &str)], m: f64, n: u64| {
        let nodes: Vec<String> = nodes
            .iter()
            .map(|(id, r)| format!(r#"{{"id": {id}, "m": {r}, "c": {r}}}"#))
            .collect();
        let edges: Vec<String> = edges
            .iter()
            .map(|(s, t, w, k)| {
                format!(r#"{{"source": {s}, "target": {t}, "weight": {w}, "type": "{k}"}}"#)
            })
            .collect();
        let g = common::graph(&format!(
            r#"{{"directed": true, "graph": {{"memory_limit": {m}, "cpu_limit": {m}, "runs": {n}}},
                "nodes": [{}], "links": [{}]}}"#,
            nodes.join(","),
            edges.join(",")
        ));
        let limits = g.limits(None, None, None).unwrap();
        let plan = solve(&g, &limits, &opts(Algorithm::Exact, 0)).unwrap();
        let mut roots = plan.roots.clone();
        roots.sort();
        let holding_3 = plan
            .groups
            .iter()
            .filter(|g| g.members.iter().any(|m| m == "3"))
            .count();
        (plan.cost, roots, holding_3)
    };
    // Diamond with room for two functions per group: roots {0, 1, 2}, 3 cloned, cost 101.
    let diamond = case(
        &[(0, 10.0), (1, 10.0), (2, 10.0), (3, 10.0)],
        &[
            (0, 1, 100, "sync"),
            (0, 2, 1, "sync"),
            (1, 3, 100, "sync"),
            (2, 3, 1, "sync"),
        ],
        25.0,
        1,
    );
    assert_eq!(
        (diamond.0, diamond.1),
        (101, vec!["0".to_string(), "1".to_string(), "2".to_string()])
    );
    assert_eq!(diamond.2, 2, "3 is cloned");
    // Profitable cloning: one of the two big callees becomes a root and the small shared
    // callee 3 is cloned into both groups; cost 5.
    let cloning = case(
        &[(0, 1.0), (1, 20.0), (2, 20.0), (3, 1.0)],
        &[
            (0, 1, 5, "sync"),
            (0, 2, 5, "sync"),
            (1, 3, 100, "sync"),
            (2, 3, 100, "sync"),
        ],
        25.0,
        1,
    );
    assert_eq!(cloning.0, 5);
    assert_eq!(cloning.1.len(), 2);
    assert_eq!(cloning.2, 2, "3 is cloned");
    // Async penalty forces the cut at the cheaper edge: roots {0, 2}, cost 10.
    let chain = case(
        &[(0, 5.0), (1, 5.0), (2, 5.0), (3, 5.0)],
        &[(0, 1, 10, "sync"), (1, 2, 10, "async"), (2, 3, 15, "async")],
        29.0,
        5,
    );
    assert_eq!(
        (chain.0, chain.1),
        (10, vec!["0".to_string(), "2".to_string()])
    );
    // Async prevents merging two nodes that would fit without the penalty.
    let prevent = case(&[(0, 10.0), (1, 10.0)], &[(0, 1, 10, "async")], 25.0, 5);
    assert_eq!(prevent.0, 10);
    let allow = case(&[(0, 10.0), (1, 10.0)], &[(0, 1, 10, "async")], 35.0, 5);
    assert_eq!(allow.0, 0);
}

#[test]
fn lower_bound_never_exceeds_the_optimum_and_is_not_trivial() {
    let (mut below, mut positive) = (0, 0);
    for (i, (g, limits)) in instances().into_iter().enumerate() {
        let Some(best) = common::brute_force(&g, &limits) else {
            continue;
        };
        let lb = quilt_solver::lower_bound(&g, &limits).expect("feasible");
        assert!(
            lb <= best,
            "instance {i}: bound {lb} above the optimum {best}"
        );
        below += (lb < best) as usize;
        positive += (lb > 0) as usize;
    }
    // The bound is a bound, not the optimum in disguise, and not zero everywhere.
    assert!(
        below > 0 && positive > 20,
        "{below} below, {positive} positive"
    );
}
