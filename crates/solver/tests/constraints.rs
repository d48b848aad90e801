//! Domains, isolation and limits are respected by every algorithm.

mod common;

use quilt_solver::generate::{generate, GenParams};
use quilt_solver::{solve, Algorithm, CallGraph, Limits, Plan, SolveOptions};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::HashMap;
use std::time::Duration;

const ALL: [Algorithm; 5] = [
    Algorithm::Exact,
    Algorithm::Dih,
    Algorithm::Wd,
    Algorithm::Lns,
    Algorithm::Auto,
];

fn check_plan(g: &CallGraph, limits: &Limits, plan: &Plan) {
    let by_id: HashMap<&str, usize> = g
        .nodes
        .iter()
        .enumerate()
        .map(|(i, n)| (n.id.as_str(), i))
        .collect();
    for group in &plan.groups {
        assert!(
            group.memory <= limits.memory + 1e-9,
            "{}: memory over",
            group.root
        );
        assert!(group.cpu <= limits.cpu + 1e-9, "{}: cpu over", group.root);
        let domains: Vec<&Option<String>> = group
            .members
            .iter()
            .map(|m| &g.nodes[by_id[m.as_str()]].domain)
            .collect();
        assert!(
            domains.windows(2).all(|w| w[0] == w[1]),
            "{} mixes domains",
            group.root
        );
        for m in &group.members {
            if g.nodes[by_id[m.as_str()]].isolate {
                assert_eq!(
                    group.members.len(),
                    1,
                    "isolated {m} shares group {}",
                    group.root
                );
            }
        }
        // Recompute the load from the graph.
        let (mut mem, mut cpu) = (0.0, 0.0);
        for m in &group.members {
            mem += g.nodes[by_id[m.as_str()]].m;
            cpu += g.nodes[by_id[m.as_str()]].c;
        }
        for e in &g.edges {
            let (s, t) = (g.nodes[e.source].id.as_str(), g.nodes[e.target].id.as_str());
            if group.edges.iter().any(|(a, b)| a == s && b == t)
                && e.kind == quilt_solver::CallKind::Async
            {
                let alpha = e.weight.div_ceil(limits.runs);
                if alpha > 1 {
                    mem += (alpha - 1) as f64 * g.nodes[e.target].m;
                    cpu += (alpha - 1) as f64 * g.nodes[e.target].c;
                }
            }
        }
        assert!(
            (mem - group.memory).abs() < 1e-6 && (cpu - group.cpu).abs() < 1e-6,
            "{} load",
            group.root
        );
    }
    // Every isolated function heads its own group.
    for n in g.nodes.iter().filter(|n| n.isolate) {
        assert!(
            plan.roots.contains(&n.id),
            "isolated {} is not a root",
            n.id
        );
    }
    plan.verify(g, limits).unwrap();
}

#[test]
fn domains_isolation_and_limits_hold_for_every_algorithm() {
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let mut isolated_seen = 0;
    for seed in 0..40u64 {
        let mut g = generate(&GenParams::new(rng.random_range(10..=60), seed));
        for node in g.nodes.iter_mut().skip(1) {
            match rng.random_range(0..12) {
                0 => node.isolate = true,
                1..=3 => node.domain = Some(format!("d{}", rng.random_range(0..2))),
                _ => {}
            }
        }
        let limits = g
            .limits(None, None, Some([10, 2][seed as usize % 2]))
            .unwrap();
        for alg in ALL {
            let opts = SolveOptions {
                algorithm: alg,
                time_limit: Duration::from_secs(10),
                seed,
            };
            let plan = solve(&g, &limits, &opts).unwrap();
            check_plan(&g, &limits, &plan);
        }
        isolated_seen += g.nodes.iter().filter(|n| n.isolate).count();
    }
    assert!(isolated_seen > 20);
}

#[test]
fn domain_boundary_forces_a_root_even_when_everything_fits() {
    let g = common::graph(
        r#"{"graph": {"memory_limit": 1000, "cpu_limit": 1000},
            "nodes": [{"id": "a", "m": 1, "c": 1}, {"id": "b", "m": 1, "c": 1},
                      {"id": "s", "m": 1, "c": 1, "domain": "secure"}, {"id": "t", "m": 1, "c": 1, "domain": "secure"},
                      {"id": "i", "m": 1, "c": 1, "isolate": true}, {"id": "j", "m": 1, "c": 1}],
            "links": [{"source": "a", "target": "b", "weight": 5}, {"source": "b", "target": "s", "weight": 3},
                      {"source": "s", "target": "t", "weight": 4}, {"source": "a", "target": "i", "weight": 2},
                      {"source": "i", "target": "j", "weight": 6}]}"#,
    );
    let limits = g.limits(None, None, None).unwrap();
    for alg in ALL {
        let plan = solve(
            &g,
            &limits,
            &SolveOptions {
                algorithm: alg,
                ..Default::default()
            },
        )
        .unwrap();
        let mut roots = plan.roots.clone();
        roots.sort();
        assert_eq!(roots, ["a", "i", "j", "s"], "{alg}");
        assert_eq!(plan.cost, 3 + 2 + 6, "{alg}");
        check_plan(&g, &limits, &plan);
    }
}
