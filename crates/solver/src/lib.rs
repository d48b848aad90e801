//! Quilt's merge solver: given a profiled call graph and per-instance memory and CPU limits, choose
//! which functions to merge (`quilt plan`).
//!
//! A plan picks a set of **roots** containing the entry; each root's group is the root plus every
//! function reachable from it through non-roots (a function reachable from two roots is cloned into
//! both). The cost is the total weight of calls into roots — the calls that stay remote. A group
//! fits if its memory (CPU) plus the async penalty is within the limit; the penalty adds
//! `(α−1)·m_v` for every async edge `(u, v)` inside the group with `α = ⌈w_uv/N⌉ > 1`. Functions
//! of different `domain`s never share a group and `isolate` functions are alone in theirs.
//!
//! - [`CallGraph::read`] reads a networkx node-link JSON graph; [`CallGraph::limits`] resolves limits.
//! - [`solve`] runs an [`Algorithm`] and returns a [`Plan`]; [`Plan::write`],
//!   [`Plan::write_func_trees`] and [`Plan::read`] handle plan files.
//! - [`generate::generate`] makes random graphs as the reference's experiments do.
//! - [`experiment`] runs the solver experiment; [`cli`] holds the `quilt plan` and `quilt experiment solver` commands.

#![warn(missing_docs)]

pub mod cli;
mod error;
mod exact;
pub mod experiment;
mod explain;
mod flow;
pub mod generate;
mod graph;
mod lns;
mod lns_then_mip;
mod mip;
mod plan;
mod problem;
mod reference;

pub use error::{GraphError, PlanError, SolverError};
pub use explain::{explain, Reason, RemoteCall};
pub use graph::{CallGraph, CallKind, Edge, GraphAttrs, Limits, Node};
pub use plan::{Group, Plan};

use problem::Problem;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::fmt;
use std::time::{Duration, Instant};

/// A merge algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, clap::ValueEnum)]
pub enum Algorithm {
    /// Branch and bound with min-cut bounds for half a second, then a MIP of the whole problem
    /// (CBC) started from its plan: a proven optimum, or the best plan when time runs out.
    Exact,
    /// The reference's Downstream Impact Heuristic (ported).
    Dih,
    /// The reference's Weighted Degree heuristic (ported).
    Wd,
    /// Our large neighbourhood search (until it stalls, 1.5 s at most), then the MIP started from
    /// its plan (5 s in all at most).
    Lns,
    /// `exact`'s branch and bound for half a second; if that does not prove the optimum, `lns`
    /// with the MIP starting from the branch and bound's plan.
    Auto,
}

impl Algorithm {
    /// Every concrete algorithm (all but `auto`).
    pub const CONCRETE: [Algorithm; 4] = [
        Algorithm::Exact,
        Algorithm::Dih,
        Algorithm::Wd,
        Algorithm::Lns,
    ];

    /// The name used on the command line and in plans.
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Exact => "exact",
            Algorithm::Dih => "dih",
            Algorithm::Wd => "wd",
            Algorithm::Lns => "lns",
            Algorithm::Auto => "auto",
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// How to solve.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct SolveOptions {
    /// Which algorithm.
    pub algorithm: Algorithm,
    /// Wall-time limit for `exact` (and the cap on every other algorithm's search).
    pub time_limit: Duration,
    /// Seed for the randomised algorithms (`dih`, `wd`, `lns`).
    pub seed: u64,
}

impl Default for SolveOptions {
    fn default() -> SolveOptions {
        SolveOptions {
            algorithm: Algorithm::Auto,
            time_limit: Duration::from_secs(30),
            seed: 0,
        }
    }
}

/// Longest `lns` runs, whatever the time limit.
const LNS_BUDGET: Duration = Duration::from_secs(5);
/// How long `exact` and `auto` run the branch and bound before handing its plan to the MIP solver.
const EXACT_SEARCH_HEAD: Duration = Duration::from_millis(500);

/// Solves the merge problem for `graph` under `limits`.
///
/// Fails only if the problem has no solution: a function alone exceeds a limit. (Every function
/// in a group of its own is always a valid plan otherwise, whatever the domains and isolation.)
pub fn solve(graph: &CallGraph, limits: &Limits, opts: &SolveOptions) -> Result<Plan, SolverError> {
    let start = Instant::now();
    let p = Problem::new(graph, limits)?;
    let mut rng = ChaCha8Rng::seed_from_u64(opts.seed);
    let deadline = start + opts.time_limit;
    let (roots, name, optimal) = match opts.algorithm {
        Algorithm::Exact => {
            let out = exact::solve(
                &p,
                lns::construct(&p),
                deadline.min(start + EXACT_SEARCH_HEAD),
            );
            let out = if out.optimal {
                out
            } else {
                mip::solve(&p, &out.roots, deadline)
            };
            (out.roots, "exact", out.optimal)
        }
        Algorithm::Dih => (
            reference::run(&p, reference::Scoring::Dih, &Default::default(), &mut rng),
            "dih",
            false,
        ),
        Algorithm::Wd => (
            reference::run(&p, reference::Scoring::Wd, &Default::default(), &mut rng),
            "wd",
            false,
        ),
        Algorithm::Lns => {
            let (roots, _, optimal) = lns_then_mip::solve(
                &p,
                &lns::construct(&p),
                deadline.min(start + LNS_BUDGET),
                &mut rng,
            );
            (roots, "lns", optimal)
        }
        Algorithm::Auto => {
            let out = exact::solve(
                &p,
                lns::construct(&p),
                deadline.min(start + EXACT_SEARCH_HEAD),
            );
            if out.optimal {
                (out.roots, "exact", true)
            } else {
                // `lns` as it runs alone (same seed and budget), its MIP starting from the better
                // of the two searches' plans: never worse than either.
                let until = deadline.min(Instant::now() + LNS_BUDGET);
                lns_then_mip::solve(&p, &out.roots, until, &mut rng)
            }
        }
    };
    Ok(Plan::from_roots(
        &p,
        &roots,
        name,
        optimal,
        start.elapsed().as_secs_f64(),
    ))
}

/// A lower bound on the cost of every plan for `graph` under `limits`: the bound `exact` starts
/// from (min-cut bounds of the overflowing groups and closures). Fails as [`solve`] does.
pub fn lower_bound(graph: &CallGraph, limits: &Limits) -> Result<u64, SolverError> {
    Ok(exact::root_bound(&Problem::new(graph, limits)?))
}

/// The plan a given root set makes, feasible or not (check with [`Plan::verify`]). Roots are
/// function names; unknown names are an error.
pub fn plan_for_roots(
    graph: &CallGraph,
    limits: &Limits,
    roots: &[&str],
) -> Result<Plan, SolverError> {
    let p = Problem::new(graph, limits)?;
    let mut is_root = vec![false; p.n];
    for r in roots {
        let v = p
            .names
            .iter()
            .position(|n| n == r)
            .ok_or_else(|| SolverError::Graph(format!("unknown root \"{r}\"")))?;
        is_root[v] = true;
    }
    Ok(Plan::from_roots(&p, &is_root, "given", false, 0.0))
}
