//! The solver's view of a call graph: nodes renumbered in topological order (the entry is 0),
//! resources, forced roots, and the group closure that every algorithm evaluates.
//!
//! A root set `R` defines one group per root `r`: `r` plus every node reachable from `r` through
//! non-roots. A node reachable from two roots is cloned into both. The cost of `R` is the total
//! weight of edges entering roots. A group's load is Σm (Σc) of its members plus, for each async
//! edge `(u, v)` inside it with `α = ⌈w/N⌉ > 1`, `(α−1)·m_v` (`(α−1)·c_v`).

use crate::error::SolverError;
use crate::graph::{CallGraph, CallKind, Limits};

/// An out-edge with the async penalty it adds when both ends share a group.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Arc {
    pub to: usize,
    pub pm: f64,
    pub pc: f64,
}

/// A solver-ready instance. Node indices are topological: every edge goes from a lower to a
/// higher index, and the entry is node 0.
#[derive(Debug, Clone)]
pub(crate) struct Problem {
    pub n: usize,
    pub names: Vec<String>,
    pub m: Vec<f64>,
    pub c: Vec<f64>,
    pub succ: Vec<Vec<Arc>>,
    pub pred: Vec<Vec<usize>>,
    /// Total weight of edges entering each node: what making it a root costs.
    pub w_in: Vec<u64>,
    /// Nodes that must be roots: the entry, isolated nodes and their callees, and callees
    /// across a domain boundary.
    pub forced: Vec<bool>,
    pub limit_m: f64,
    pub limit_c: f64,
    pub baseline: u64,
}

/// Reusable buffers for closures.
#[derive(Debug, Clone)]
pub(crate) struct Scratch {
    stamp: Vec<u32>,
    epoch: u32,
    stack: Vec<usize>,
    /// Members of the last closure, in visit order.
    pub members: Vec<usize>,
}

impl Scratch {
    pub fn new(n: usize) -> Scratch {
        Scratch {
            stamp: vec![0; n],
            epoch: 0,
            stack: Vec::new(),
            members: Vec::new(),
        }
    }

    fn next_epoch(&mut self) -> u32 {
        self.epoch = self.epoch.wrapping_add(1);
        if self.epoch == 0 {
            self.stamp.iter_mut().for_each(|s| *s = 0);
            self.epoch = 1;
        }
        self.epoch
    }
}

impl Problem {
    /// Builds the instance, checking that every node fits the limits on its own.
    pub fn new(graph: &CallGraph, limits: &Limits) -> Result<Problem, SolverError> {
        crate::graph::check_limits(limits)?;
        graph.validate().map_err(SolverError::Graph)?;
        for node in &graph.nodes {
            for (res, need, lname, limit) in [
                ("m", node.m, "M", limits.memory),
                ("c", node.c, "C", limits.cpu),
            ] {
                if !fits(need, limit) {
                    return Err(SolverError::NodeTooLarge {
                        node: node.id.clone(),
                        resource: res,
                        need,
                        limit_name: lname,
                        limit,
                    });
                }
            }
        }
        let n0 = graph.nodes.len();
        // Kahn's algorithm from the entry, ties broken by file order.
        let mut indeg = vec![0usize; n0];
        let mut out: Vec<Vec<usize>> = vec![Vec::new(); n0];
        for (i, e) in graph.edges.iter().enumerate() {
            indeg[e.target] += 1;
            out[e.source].push(i);
        }
        let mut order = Vec::with_capacity(n0);
        let mut ready = std::collections::BinaryHeap::new();
        ready.push(std::cmp::Reverse(graph.entry()));
        while let Some(std::cmp::Reverse(v)) = ready.pop() {
            order.push(v);
            for &ei in &out[v] {
                let t = graph.edges[ei].target;
                indeg[t] -= 1;
                if indeg[t] == 0 {
                    ready.push(std::cmp::Reverse(t));
                }
            }
        }
        debug_assert_eq!(order.len(), n0, "validated graphs are rooted DAGs");
        let mut pos = vec![0usize; n0];
        for (i, &v) in order.iter().enumerate() {
            pos[v] = i;
        }
        let n = n0;
        let names: Vec<String> = order.iter().map(|&v| graph.nodes[v].id.clone()).collect();
        let m: Vec<f64> = order.iter().map(|&v| graph.nodes[v].m).collect();
        let c: Vec<f64> = order.iter().map(|&v| graph.nodes[v].c).collect();
        let mut succ: Vec<Vec<Arc>> = vec![Vec::new(); n];
        let mut pred: Vec<Vec<usize>> = vec![Vec::new(); n];
        let mut w_in = vec![0u64; n];
        let mut forced = vec![false; n];
        forced[0] = true;
        for e in &graph.edges {
            let (u, v) = (pos[e.source], pos[e.target]);
            let alpha = e.weight.div_ceil(limits.runs);
            let (pm, pc) = if e.kind == CallKind::Async && alpha > 1 {
                ((alpha - 1) as f64 * m[v], (alpha - 1) as f64 * c[v])
            } else {
                (0.0, 0.0)
            };
            succ[u].push(Arc { to: v, pm, pc });
            pred[v].push(u);
            w_in[v] += e.weight;
            let (su, sv) = (&graph.nodes[e.source], &graph.nodes[e.target]);
            if su.isolate || sv.isolate || su.domain != sv.domain {
                forced[v] = true;
            }
        }
        for s in &mut succ {
            s.sort_by_key(|a| a.to);
        }
        for p in &mut pred {
            p.sort_unstable();
        }
        Ok(Problem {
            n,
            names,
            m,
            c,
            succ,
            pred,
            w_in,
            forced,
            limit_m: limits.memory,
            limit_c: limits.cpu,
            baseline: graph.baseline_cost(),
        })
    }

    /// Whether a load fits both limits.
    pub fn fits(&self, m: f64, c: f64) -> bool {
        fits(m, self.limit_m) && fits(c, self.limit_c)
    }

    /// Load of the group of `t` under `is_root` (`t` itself is included whether or not it is a
    /// root). Members are left in `s.members`.
    pub fn group_load(&self, t: usize, is_root: &[bool], s: &mut Scratch) -> (f64, f64) {
        let ep = s.next_epoch();
        s.members.clear();
        s.stack.clear();
        s.stack.push(t);
        s.stamp[t] = ep;
        let (mut lm, mut lc) = (0.0, 0.0);
        while let Some(u) = s.stack.pop() {
            s.members.push(u);
            lm += self.m[u];
            lc += self.c[u];
            for a in &self.succ[u] {
                if is_root[a.to] {
                    continue;
                }
                lm += a.pm;
                lc += a.pc;
                if s.stamp[a.to] != ep {
                    s.stamp[a.to] = ep;
                    s.stack.push(a.to);
                }
            }
        }
        (lm, lc)
    }

    /// Cost of a root set: the weight of all calls into roots.
    pub fn cost(&self, is_root: &[bool]) -> u64 {
        (0..self.n)
            .filter(|&v| is_root[v])
            .map(|v| self.w_in[v])
            .sum()
    }

    /// Whether every group of the root set fits and every forced root is a root.
    pub fn feasible(&self, is_root: &[bool], s: &mut Scratch) -> bool {
        (0..self.n).all(|v| !self.forced[v] || is_root[v])
            && (0..self.n).filter(|&r| is_root[r]).all(|r| {
                let (lm, lc) = self.group_load(r, is_root, s);
                self.fits(lm, lc)
            })
    }

    /// Roots of the trivial solution: every node is a root (always feasible once every node fits).
    pub fn all_roots(&self) -> Vec<bool> {
        vec![true; self.n]
    }
}

/// `need ≤ limit`, with a relative tolerance for sums of fractional resources.
pub(crate) fn fits(need: f64, limit: f64) -> bool {
    need <= limit + 1e-9 * limit.abs().max(1.0)
}
