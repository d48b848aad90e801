//! Random call graphs made as the reference's generator makes them (`merge_solver/rdag.py`,
//! `_generate_base_rdag`, with the limits of `merge_solver/experiment.py`):
//!
//! 1. a random recursive tree rooted at node 0 (each node `i ≥ 1`, visited in shuffled order, gets a
//!    parent drawn uniformly from `0..i`);
//! 2. `⌊edge_factor·n⌋` extra edges `u → v` between distinct random nodes with
//!    `depth(u) < depth(v)` that are not yet edges, with at most 20 attempts per wanted edge;
//! 3. `m`, `c` uniform in `5..=50`, weights uniform in `1..=max_weight` (reference: 10), each edge
//!    async with probability `async_prob`;
//! 4. `N = 10` runs, and limits `M = ⌈(Σm + async penalty)/K⌉`, `C` likewise, where the async
//!    penalty sums `(α−1)·m_v` over all async edges with `α = ⌈w/N⌉ > 1`.
//!
//! The random stream is a ChaCha8 generator seeded from `seed`, so a seed always gives the same graph.

use crate::graph::{CallGraph, CallKind, Edge, GraphAttrs, Node};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::{HashSet, VecDeque};

/// Runs the generator assumes the weights were counted over.
pub const RUNS: u64 = 10;

/// Generator parameters; [`GenParams::new`] gives the reference's defaults.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GenParams {
    /// Number of functions.
    pub nodes: usize,
    /// Extra forward edges per node (reference: 1.2).
    pub edge_factor: f64,
    /// Probability that an edge is async (reference: 0.1).
    pub async_prob: f64,
    /// `K` in `limit = ⌈total/K⌉`; larger is tighter (reference: 1.2).
    pub constraint_factor: f64,
    /// Largest call weight (reference: 10, so with `N = 10` no async edge has a penalty).
    pub max_weight: u64,
    /// Seed of the random stream.
    pub seed: u64,
}

/// Named generator settings the solver is measured on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum Family {
    /// The reference's parameters (K = 1.2, async probability 0.1, weights up to 10).
    Reference,
    /// Tight limits: K = 2.5, otherwise the reference's parameters.
    Tight,
    /// Heavy async calls under tight limits: async probability 0.5, weights up to 30 (so async
    /// edges carry penalties of up to 2·m), K = 2.5.
    HeavyAsync,
}

impl Family {
    /// Every family.
    pub const ALL: [Family; 3] = [Family::Reference, Family::Tight, Family::HeavyAsync];

    /// The name used on the command line and in results.
    pub fn name(self) -> &'static str {
        match self {
            Family::Reference => "reference",
            Family::Tight => "tight",
            Family::HeavyAsync => "heavy-async",
        }
    }

    /// Generator parameters of this family for `nodes` functions and `seed`.
    pub fn params(self, nodes: usize, seed: u64) -> GenParams {
        let base = GenParams::new(nodes, seed);
        match self {
            Family::Reference => base,
            Family::Tight => GenParams {
                constraint_factor: 2.5,
                ..base
            },
            Family::HeavyAsync => GenParams {
                constraint_factor: 2.5,
                async_prob: 0.5,
                max_weight: 30,
                ..base
            },
        }
    }
}

impl GenParams {
    /// Reference defaults for `nodes` functions and `seed`.
    pub fn new(nodes: usize, seed: u64) -> GenParams {
        GenParams {
            nodes,
            edge_factor: 1.2,
            async_prob: 0.1,
            constraint_factor: 1.2,
            max_weight: 10,
            seed,
        }
    }
}

/// Generates a call graph named `f0`, `f1`, … with `f0` as the entry and the limits in its attributes.
///
/// # Panics
/// If `nodes` or `max_weight` is 0, or a probability or factor is out of range (the CLI checks
/// these first).
pub fn generate(p: &GenParams) -> CallGraph {
    assert!(p.nodes > 0, "a graph needs at least one node");
    assert!(p.max_weight > 0, "max_weight must be at least 1");
    assert!(
        (0.0..=1.0).contains(&p.async_prob),
        "async_prob must be in [0, 1]"
    );
    assert!(
        p.edge_factor >= 0.0 && p.constraint_factor > 0.0,
        "factors must be positive"
    );
    let n = p.nodes;
    let mut rng = ChaCha8Rng::seed_from_u64(p.seed);
    let mut succ: Vec<Vec<usize>> = vec![Vec::new(); n];
    let mut present: HashSet<(usize, usize)> = HashSet::new();
    let mut pairs: Vec<(usize, usize)> = Vec::new();

    let mut order: Vec<usize> = (1..n).collect();
    order.shuffle(&mut rng);
    for &i in &order {
        let parent = rng.random_range(0..i);
        succ[parent].push(i);
        present.insert((parent, i));
        pairs.push((parent, i));
    }

    let mut depth = vec![usize::MAX; n];
    depth[0] = 0;
    let mut queue = VecDeque::from([0usize]);
    while let Some(u) = queue.pop_front() {
        for &v in &succ[u] {
            if depth[v] == usize::MAX {
                depth[v] = depth[u] + 1;
                queue.push_back(v);
            }
        }
    }

    let wanted = (n as f64 * p.edge_factor) as usize;
    let (mut added, mut attempts) = (0usize, 0usize);
    while n >= 2 && added < wanted && attempts < wanted * 20 {
        attempts += 1;
        let u = rng.random_range(0..n);
        let mut v = rng.random_range(0..n - 1);
        if v >= u {
            v += 1;
        }
        if depth[u] < depth[v] && present.insert((u, v)) {
            pairs.push((u, v));
            added += 1;
        }
    }

    let nodes: Vec<Node> = (0..n)
        .map(|i| Node {
            id: format!("f{i}"),
            m: rng.random_range(5..=50) as f64,
            c: rng.random_range(5..=50) as f64,
            domain: None,
            isolate: false,
        })
        .collect();
    let edges: Vec<Edge> = pairs
        .iter()
        .map(|&(source, target)| {
            let weight = rng.random_range(1..=p.max_weight);
            let kind = if rng.random::<f64>() < p.async_prob {
                CallKind::Async
            } else {
                CallKind::Sync
            };
            Edge {
                source,
                target,
                weight,
                kind,
            }
        })
        .collect();

    let (mut total_m, mut total_c) = (0.0, 0.0);
    for node in &nodes {
        total_m += node.m;
        total_c += node.c;
    }
    for e in edges.iter().filter(|e| e.kind == CallKind::Async) {
        let alpha = e.weight.div_ceil(RUNS);
        if alpha > 1 {
            total_m += (alpha - 1) as f64 * nodes[e.target].m;
            total_c += (alpha - 1) as f64 * nodes[e.target].c;
        }
    }
    let attrs = GraphAttrs {
        memory_limit: Some((total_m / p.constraint_factor).ceil().max(1.0)),
        cpu_limit: Some((total_c / p.constraint_factor).ceil().max(1.0)),
        runs: Some(RUNS),
    };
    CallGraph {
        nodes,
        edges,
        attrs,
    }
}
