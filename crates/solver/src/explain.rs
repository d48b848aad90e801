//! Why a plan leaves calls remote (`quilt plan --explain`): for every call into a group root, the
//! rule or the limit that keeps its callee out of its caller's group.

use crate::error::SolverError;
use crate::graph::{CallGraph, CallKind, Limits};
use crate::plan::Plan;
use crate::problem::{Problem, Scratch};
use std::fmt;

/// A call the plan leaves remote, and why.
#[derive(Debug, Clone, PartialEq)]
pub struct RemoteCall {
    /// The calling function.
    pub caller: String,
    /// The called function, a group root.
    pub callee: String,
    /// Calls over the profiled runs.
    pub weight: u64,
    /// Sync or async.
    pub kind: CallKind,
    /// What keeps the callee a root.
    pub reason: Reason,
}

/// What keeps a callee in a group of its own.
#[derive(Debug, Clone, PartialEq)]
pub enum Reason {
    /// The callee, or a function that calls it, is marked `isolate`.
    Isolated {
        /// The isolated function.
        function: String,
    },
    /// The callee is called across trust domains (by this caller or another).
    Domains {
        /// The caller from another domain.
        from: String,
        /// That caller's domain (None: the default one).
        caller: Option<String>,
        /// The callee's domain.
        callee: Option<String>,
    },
    /// Merging the callee would make a group exceed a limit.
    Limit {
        /// The group's root.
        group: String,
        /// `memory` or `cpu`.
        resource: &'static str,
        /// What the group would need, async penalty included.
        need: f64,
        /// The per-instance limit.
        limit: f64,
    },
    /// No rule or limit: merging it fits, so the plan is not optimal here.
    NotBlocked,
}

impl fmt::Display for Reason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let domain = |d: &Option<String>| d.clone().unwrap_or_else(|| "default".into());
        match self {
            Reason::Isolated { function } => write!(f, "'{function}' is isolated"),
            Reason::Domains {
                from,
                caller,
                callee,
            } => write!(
                f,
                "different domains ('{from}' in '{}' calls it in '{}')",
                domain(caller),
                domain(callee)
            ),
            Reason::Limit {
                group,
                resource,
                need,
                limit,
            } => write!(
                f,
                "{resource} limit: the group of '{group}' would need {need} > {limit}"
            ),
            Reason::NotBlocked => write!(
                f,
                "no limit blocks it: merging it fits (the plan is not optimal here)"
            ),
        }
    }
}

/// Every call of `graph` that `plan` leaves remote (a call into a root other than its caller's
/// group), with the reason, in the graph's edge order.
pub fn explain(
    graph: &CallGraph,
    limits: &Limits,
    plan: &Plan,
) -> Result<Vec<RemoteCall>, SolverError> {
    let p = Problem::new(graph, limits)?;
    let index = |name: &str| p.names.iter().position(|n| n == name);
    let mut is_root = vec![false; p.n];
    for root in &plan.roots {
        let i = index(root).ok_or_else(|| {
            SolverError::Graph(format!("the plan's root '{root}' is not in the graph"))
        })?;
        is_root[i] = true;
    }
    let mut scratch = Scratch::new(p.n);
    let mut out = Vec::new();
    for e in &graph.edges {
        let (caller, callee) = (&graph.nodes[e.source], &graph.nodes[e.target]);
        let v = index(&callee.id).expect("the problem has every node");
        if !is_root[v] {
            continue;
        }
        let reason = if let Some(rule) = rule_forcing(graph, e.source, e.target) {
            rule
        } else {
            // Without `v` as a root, its closure joins every group that reaches it.
            is_root[v] = false;
            let blocked = (0..p.n).filter(|&r| is_root[r]).find_map(|r| {
                let (m, c) = p.group_load(r, &is_root, &mut scratch);
                let over = |resource, need: f64, limit| {
                    (!crate::problem::fits(need, limit)).then(|| Reason::Limit {
                        group: p.names[r].clone(),
                        resource,
                        need: round(need),
                        limit,
                    })
                };
                over("memory", m, p.limit_m).or_else(|| over("cpu", c, p.limit_c))
            });
            is_root[v] = true;
            blocked.unwrap_or(Reason::NotBlocked)
        };
        out.push(RemoteCall {
            caller: caller.id.clone(),
            callee: callee.id.clone(),
            weight: e.weight,
            kind: e.kind,
            reason,
        });
    }
    Ok(out)
}

/// The isolation or domain rule that makes `target` a root, looking at the call from `source`
/// first, then at every other call into it.
fn rule_forcing(graph: &CallGraph, source: usize, target: usize) -> Option<Reason> {
    let callee = &graph.nodes[target];
    let callers = std::iter::once(source).chain(
        graph
            .edges
            .iter()
            .filter(|e| e.target == target && e.source != source)
            .map(|e| e.source),
    );
    if callee.isolate {
        return Some(Reason::Isolated {
            function: callee.id.clone(),
        });
    }
    callers.map(|u| &graph.nodes[u]).find_map(|caller| {
        if caller.isolate {
            Some(Reason::Isolated {
                function: caller.id.clone(),
            })
        } else if caller.domain != callee.domain {
            Some(Reason::Domains {
                from: caller.id.clone(),
                caller: caller.domain.clone(),
                callee: callee.domain.clone(),
            })
        } else {
            None
        }
    })
}

/// Six significant digits: sums of fractional resources print without float noise.
fn round(x: f64) -> f64 {
    if x == 0.0 || !x.is_finite() {
        return x;
    }
    let scale = 10f64.powi(5 - x.abs().log10().floor() as i32);
    (x * scale).round() / scale
}
