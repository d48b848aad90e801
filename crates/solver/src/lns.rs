//! `lns`: our heuristic, a large neighbourhood search whose repair step is the exact solver's
//! branch and bound confined to a small region.
//!
//! 1. **Construct** by cut rounding: while some group overflows, add the frontier of the best
//!    Lagrangian cut of that group (the cut behind the exact solver's lower bound) as roots.
//! 2. **Drop**: try removing roots, most expensive first, keeping each removal that stays feasible.
//! 3. **Destroy and repair** until the time budget or a run of fruitless rounds ends: free a
//!    region — the undirected neighbourhood of one or two current roots, or of a random node — and
//!    fix everything else as in the incumbent (roots stay roots, others stay non-roots); then run
//!    branch and bound over the region with a node limit. A node whose `w_in` alone reaches the
//!    incumbent's cost can never be in a better plan, so it is always fixed as a non-root.

use crate::exact::{self, FORBIDDEN, ROOT, UNDECIDED};
use crate::problem::{Problem, Scratch};
use rand::seq::IndexedRandom;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use std::collections::VecDeque;
use std::time::{Duration, Instant};

/// Search nodes one repair may use.
const REPAIR_NODES: u64 = 2_000;
/// Wall time one repair may use.
const REPAIR_TIME: Duration = Duration::from_millis(100);

/// Runs the heuristic from steps 1 and 2 until `deadline` or until a run of rounds brings no
/// improvement.
pub(crate) fn solve(p: &Problem, deadline: Instant, rng: &mut ChaCha8Rng) -> Vec<bool> {
    let mut s = Scratch::new(p.n);
    let mut best = construct(p);
    let mut best_cost = p.cost(&best);
    let forced_cost = p.cost(&p.forced);
    let stall_limit = 20 + p.n / 10;
    let mut stall = 0;
    while stall < stall_limit && best_cost > forced_cost && Instant::now() < deadline {
        let mut fixed: Vec<u8> = (0..p.n)
            .map(|v| if best[v] { ROOT } else { FORBIDDEN })
            .collect();
        if rng.random_bool(0.3) {
            // Every node cheaper than a random threshold.
            let t = rng.random_range(1..=best_cost - forced_cost);
            for v in (0..p.n).filter(|&v| p.w_in[v] <= t) {
                fixed[v] = UNDECIDED;
            }
        } else {
            for v in pick_region(p, &best, rng) {
                fixed[v] = UNDECIDED;
            }
        }
        for (v, f) in fixed.iter_mut().enumerate() {
            if !p.forced[v] && *f == UNDECIDED && p.w_in[v] + forced_cost >= best_cost {
                *f = FORBIDDEN;
            }
        }
        let until = deadline.min(Instant::now() + REPAIR_TIME);
        let out = exact::solve_within(p, best.clone(), &fixed, until, REPAIR_NODES);
        if out.cost < best_cost {
            best = out.roots;
            drop_roots(p, &mut best, &mut s);
            best_cost = p.cost(&best);
            stall = 0;
        } else {
            stall += 1;
        }
    }
    best
}

/// Steps 1 and 2: cut rounding from the forced roots, then dropping roots.
pub(crate) fn construct(p: &Problem) -> Vec<bool> {
    let mut roots = exact::round_cuts(p, &p.forced);
    drop_roots(p, &mut roots, &mut Scratch::new(p.n));
    roots
}

/// Removes roots, most expensive first, while the root set stays feasible.
fn drop_roots(p: &Problem, roots: &mut [bool], s: &mut Scratch) {
    let mut order: Vec<usize> = (0..p.n).filter(|&v| roots[v] && !p.forced[v]).collect();
    order.sort_by_key(|&v| std::cmp::Reverse(p.w_in[v]));
    for v in order {
        roots[v] = false;
        if !p.feasible(roots, s) {
            roots[v] = true;
        }
    }
}

/// A region to re-optimise: the undirected neighbourhood of one or two current roots, or of a
/// random node, of random size.
fn pick_region(p: &Problem, roots: &[bool], rng: &mut ChaCha8Rng) -> Vec<usize> {
    let movable: Vec<usize> = (0..p.n).filter(|&v| roots[v] && !p.forced[v]).collect();
    let mut seeds = Vec::new();
    if !movable.is_empty() && rng.random_bool(0.6) {
        let k = if movable.len() >= 2 && rng.random_bool(0.5) {
            2
        } else {
            1
        };
        seeds.extend(movable.choose_multiple(rng, k).copied());
    } else {
        seeds.push(rng.random_range(0..p.n));
    }
    let size = rng.random_range(8..=96).min(p.n);
    let mut seen = vec![false; p.n];
    let mut queue: VecDeque<usize> = VecDeque::new();
    for &x in &seeds {
        seen[x] = true;
        queue.push_back(x);
    }
    let mut region = Vec::new();
    while let Some(u) = queue.pop_front() {
        region.push(u);
        if region.len() >= size {
            break;
        }
        let nbrs = p.succ[u]
            .iter()
            .map(|a| a.to)
            .chain(p.pred[u].iter().copied());
        for w in nbrs {
            if !seen[w] {
                seen[w] = true;
                queue.push_back(w);
            }
        }
    }
    region
}
