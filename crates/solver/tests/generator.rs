//! The generator: deterministic from a seed, reference parameter ranges, valid rooted DAGs.

use quilt_solver::generate::{generate, GenParams, RUNS};
use quilt_solver::{CallGraph, CallKind};
use std::collections::HashSet;

#[test]
fn same_seed_same_graph_other_seed_other_graph() {
    let a = generate(&GenParams::new(60, 42));
    let b = generate(&GenParams::new(60, 42));
    let c = generate(&GenParams::new(60, 43));
    assert_eq!(a.to_json(), b.to_json());
    assert_ne!(a.to_json(), c.to_json());
}

#[test]
fn ranges_structure_and_limits() {
    let (mut asyncs, mut total_edges) = (0usize, 0usize);
    for seed in 0..30 {
        let n = 5 + seed as usize * 7;
        let p = GenParams::new(n, seed);
        let g = generate(&p);
        g.validate().expect("rooted DAG");
        assert_eq!(g.entry(), 0);
        assert_eq!(g.nodes.len(), n);
        for node in &g.nodes {
            assert!((5.0..=50.0).contains(&node.m) && node.m.fract() == 0.0);
            assert!((5.0..=50.0).contains(&node.c) && node.c.fract() == 0.0);
        }
        let mut pairs = HashSet::new();
        for e in &g.edges {
            assert!((1..=10).contains(&e.weight));
            assert!(pairs.insert((e.source, e.target)), "duplicate edge");
            asyncs += (e.kind == CallKind::Async) as usize;
        }
        total_edges += g.edges.len();
        let extra = g.edges.len() - (n - 1);
        assert!(extra <= (n as f64 * 1.2) as usize);
        if n >= 50 {
            assert!(
                extra as f64 >= 0.5 * n as f64,
                "n={n}: only {extra} extra edges"
            );
        }
        // Limits are ceil(total / K), async penalty included.
        let mut total_m: f64 = g.nodes.iter().map(|x| x.m).sum();
        for e in g.edges.iter().filter(|e| e.kind == CallKind::Async) {
            let alpha = e.weight.div_ceil(RUNS);
            total_m += alpha.saturating_sub(1) as f64 * g.nodes[e.target].m;
        }
        assert_eq!(g.attrs.memory_limit, Some((total_m / 1.2).ceil()));
        assert_eq!(g.attrs.runs, Some(10));
        let round = CallGraph::from_json_str(&g.to_json().to_string(), "gen").unwrap();
        assert_eq!(round, g);
    }
    let share = asyncs as f64 / total_edges as f64;
    assert!((0.07..0.13).contains(&share), "async share {share}");
}

#[test]
fn parameters_are_honoured() {
    let mut p = GenParams::new(100, 5);
    p.edge_factor = 0.0;
    p.async_prob = 1.0;
    p.constraint_factor = 2.0;
    let g = generate(&p);
    assert_eq!(g.edges.len(), 99, "a tree");
    assert!(g.edges.iter().all(|e| e.kind == CallKind::Async));
    let total_c: f64 = g.nodes.iter().map(|x| x.c).sum();
    assert_eq!(g.attrs.cpu_limit, Some((total_c / 2.0).ceil()));
}

#[test]
fn families_set_tight_limits_and_heavy_async_calls() {
    use quilt_solver::generate::Family;
    let (reference, tight, heavy) = (
        generate(&Family::Reference.params(80, 5)),
        generate(&Family::Tight.params(80, 5)),
        generate(&Family::HeavyAsync.params(80, 5)),
    );
    assert_eq!(
        reference.to_json(),
        generate(&GenParams::new(80, 5)).to_json()
    );
    let m = |g: &CallGraph| g.attrs.memory_limit.unwrap();
    assert!(m(&tight) < m(&reference) / 2.0 + 1.0, "K = 2.5 against 1.2");
    assert!(heavy.edges.iter().all(|e| (1..=30).contains(&e.weight)));
    // Async edges heavier than the runs carry a penalty: the reference's never do.
    let penalised = |g: &CallGraph| {
        g.edges
            .iter()
            .filter(|e| e.kind == CallKind::Async && e.weight > RUNS)
            .count()
    };
    assert_eq!(penalised(&reference), 0);
    assert!(penalised(&heavy) > 20, "{}", penalised(&heavy));
}
