//! `lns` and `auto`: the large neighbourhood search as it always ran (until it stalls, 1.5 s at
//! most), then the MIP solver ([`crate::mip`]) started from the better of its plan and the
//! caller's, for the rest of the budget.
//!
//! The search alone depends on its seed (up to 13% apart across seeds on a tight 150-node graph,
//! docs/PERFORMANCE.md). The MIP does not use the seed and never returns a plan worse than its
//! start; given the rest of the budget it reaches the optimum, or close to it, from whichever
//! plan the search found, so the result hardly varies with the seed.

use crate::problem::Problem;
use crate::{lns, mip};
use rand_chacha::ChaCha8Rng;
use std::time::{Duration, Instant};

/// Longest the search runs before the MIP takes over.
const SEARCH_HEAD: Duration = Duration::from_millis(1500);

/// The plan, which part found it (`"lns"` or `"exact"`), and whether it is proven optimal.
/// `start` is a feasible root set the MIP may start from if it beats the search's plan.
pub(crate) fn solve(
    p: &Problem,
    start: &[bool],
    deadline: Instant,
    rng: &mut ChaCha8Rng,
) -> (Vec<bool>, &'static str, bool) {
    let heuristic = lns::solve(p, deadline.min(Instant::now() + SEARCH_HEAD), rng);
    let from = if p.cost(start) < p.cost(&heuristic) {
        start
    } else {
        &heuristic
    };
    let out = mip::solve(p, from, deadline);
    if out.cost < p.cost(&heuristic) || out.optimal {
        (out.roots, "exact", out.optimal)
    } else {
        (heuristic, "lns", false)
    }
}
