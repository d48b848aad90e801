//! Helpers shared by the integration tests.
#![allow(dead_code)]

use quilt_solver::{plan_for_roots, CallGraph, Limits};

/// Minimum cost over every root set that contains the entry, by enumeration; `None` if none is
/// feasible.
pub fn brute_force(graph: &CallGraph, limits: &Limits) -> Option<u64> {
    // A function over a limit on its own makes every root set infeasible.
    plan_for_roots(graph, limits, &[]).ok()?;
    let entry = graph.entry();
    let others: Vec<usize> = (0..graph.nodes.len()).filter(|&v| v != entry).collect();
    assert!(others.len() <= 16, "enumeration is for small graphs");
    let mut best: Option<u64> = None;
    for mask in 0u32..(1 << others.len()) {
        let mut roots = vec![graph.nodes[entry].id.as_str()];
        for (i, &v) in others.iter().enumerate() {
            if mask >> i & 1 == 1 {
                roots.push(graph.nodes[v].id.as_str());
            }
        }
        let plan = plan_for_roots(graph, limits, &roots).expect("known roots");
        if plan.verify(graph, limits).is_ok() {
            best = Some(best.map_or(plan.cost, |b| b.min(plan.cost)));
        }
    }
    best
}

/// Parses a graph from JSON text.
pub fn graph(json: &str) -> CallGraph {
    CallGraph::from_json_str(json, "test.json").expect("valid test graph")
}
