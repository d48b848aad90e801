//! `exact`: branch and bound over root sets with min-cut (Lagrangian) lower bounds.
//!
//! A search node fixes some nodes as roots (`F1`) and forbids some (`F0`); the rest are undecided.
//! If every group of `F1` fits, `F1` is the cheapest completion and becomes the incumbent.
//! Otherwise each overflowing group `G(r)` needs new roots inside it that cut off enough load.
//! Cutting a set `D ⊆ G(r)∖{r}` off `r` costs the `w_in` of its frontier (members of `D` with a
//! caller left in the group), so the cheapest fix is a min-cut problem with a knapsack side
//! constraint `load(D) ≥ excess`. Relaxing the side constraint with a multiplier `λ` gives a
//! parametric s-t min cut whose best `λ` (found by intersecting supporting lines) is a valid lower
//! bound on the cost still to pay. The bound of the worst group prunes the node; the search then
//! branches on a frontier node of that group's best cut: first as a root, then forbidden.
//!
//! The async penalty enters the relaxation linearly: a penalty on edge `(u, v)` is credited to
//! both ends, since `[u∈S ∧ v∈S] ≥ [u∈S] + [v∈S] − 1`.

use crate::flow::{FlowNet, INF};
use crate::problem::{Problem, Scratch};
use std::time::Instant;

/// Search status of a node: free to choose.
pub(crate) const UNDECIDED: u8 = 0;
/// Search status of a node: a root.
pub(crate) const ROOT: u8 = 1;
/// Search status of a node: never a root.
pub(crate) const FORBIDDEN: u8 = 2;
const NONE: usize = usize::MAX;

/// Result of a search.
#[derive(Debug, Clone)]
pub(crate) struct Outcome {
    pub roots: Vec<bool>,
    pub cost: u64,
    /// Whether the search finished, proving `cost` optimal.
    pub optimal: bool,
}

/// Runs branch and bound until `deadline`, starting from the feasible root set `start`.
pub(crate) fn solve(p: &Problem, start: Vec<bool>, deadline: Instant) -> Outcome {
    let fixed = vec![UNDECIDED; p.n];
    solve_within(p, start, &fixed, deadline, u64::MAX)
}

/// Like [`solve`], but nodes with `fixed[v] == ROOT` stay roots and `fixed[v] == FORBIDDEN` stay
/// non-roots (forced roots are roots regardless), and the search stops after `node_limit` search
/// nodes. `start` must be feasible. Used by the LNS heuristic.
pub(crate) fn solve_within(
    p: &Problem,
    start: Vec<bool>,
    fixed: &[u8],
    deadline: Instant,
    node_limit: u64,
) -> Outcome {
    let mut search = Search::new(p, fixed, deadline, node_limit);
    let cost = p.cost(&search.is_root);
    search.best_cost = p.cost(&start);
    search.best = start;
    search.dfs(cost);
    Outcome {
        roots: search.best,
        cost: search.best_cost,
        optimal: !search.aborted,
    }
}

/// A lower bound on the optimum: the bound of the search's first node (the optimum itself when
/// the forced roots are already feasible).
pub(crate) fn root_bound(p: &Problem) -> u64 {
    let fixed = vec![UNDECIDED; p.n];
    let mut search = Search::new(p, &fixed, Instant::now(), u64::MAX);
    let cost = p.cost(&search.is_root);
    let overflowing = search.overflowing(false);
    if overflowing.is_empty() {
        return cost;
    }
    let fixable = "every node fits alone, so every group can be fixed";
    let (lb, _) = search.bound(&overflowing, u64::MAX).expect(fixable);
    // Every closure must fit, not only the roots' groups: a non-root's closure lies inside the
    // group it ends up in. In the search this split bound costs more time than it saves
    // (docs/PERFORMANCE.md), so only the first node uses it.
    let cones = search.overflowing(true);
    let split = if cones.len() >= 2 {
        search.split_bound(&cones).expect(fixable)
    } else {
        0
    };
    cost + lb.max(split)
}

/// Makes `is_root` feasible by repeatedly adding, for an overflowing group, the frontier of its
/// best Lagrangian cut (the cut the lower bound rests on). Never removes roots.
pub(crate) fn round_cuts(p: &Problem, is_root: &[bool]) -> Vec<bool> {
    let fixed: Vec<u8> = is_root
        .iter()
        .map(|&r| if r { ROOT } else { UNDECIDED })
        .collect();
    let mut search = Search::new(p, &fixed, Instant::now(), u64::MAX);
    loop {
        let over = search.overflowing(false);
        let Some((_, members, lm, lc)) = over.into_iter().next() else {
            return search.is_root;
        };
        let (_, frontier) = search
            .group_bound(&members, lm, lc, None)
            .expect("with nothing forbidden every group can be split down to single nodes");
        for q in frontier {
            search.is_root[q] = true;
            search.status[q] = ROOT;
        }
    }
}

/// The integer cost a fractional bound guarantees.
fn ceil_bound(value: f64) -> u64 {
    (value - 1e-6).ceil().max(0.0) as u64
}

struct Search<'a> {
    p: &'a Problem,
    status: Vec<u8>,
    is_root: Vec<bool>,
    best: Vec<bool>,
    best_cost: u64,
    s: Scratch,
    net: FlowNet,
    local: Vec<usize>,
    deadline: Instant,
    node_limit: u64,
    aborted: bool,
    nodes: u64,
}

/// One candidate cut: its frontier cost, its credited load, and the frontier.
struct Cut {
    cost: f64,
    load: f64,
    frontier: Vec<usize>,
}

/// An overflowing group: root, members (root first), memory load, CPU load.
type Overflow = (usize, Vec<usize>, f64, f64);

impl<'a> Search<'a> {
    fn new(p: &'a Problem, fixed: &[u8], deadline: Instant, node_limit: u64) -> Search<'a> {
        let mut status = fixed.to_vec();
        for (st, &forced) in status.iter_mut().zip(&p.forced) {
            if forced {
                *st = ROOT;
            }
        }
        let is_root: Vec<bool> = status.iter().map(|&s| s == ROOT).collect();
        Search {
            p,
            is_root,
            status,
            best_cost: u64::MAX,
            best: Vec::new(),
            s: Scratch::new(p.n),
            net: FlowNet::default(),
            local: vec![NONE; p.n],
            deadline,
            node_limit,
            aborted: false,
            nodes: 0,
        }
    }

    /// Overflowing closures of the current roots, and with `cones`, of every other node too.
    fn overflowing(&mut self, cones: bool) -> Vec<Overflow> {
        let p = self.p;
        let mut out = Vec::new();
        for r in 0..p.n {
            if cones || self.is_root[r] {
                let (lm, lc) = p.group_load(r, &self.is_root, &mut self.s);
                if !p.fits(lm, lc) {
                    out.push((r, self.s.members.clone(), lm, lc));
                }
            }
        }
        out
    }

    fn dfs(&mut self, cost: u64) {
        if self.aborted || cost >= self.best_cost {
            return;
        }
        self.nodes += 1;
        // A search node costs far more than reading the clock.
        if self.nodes > self.node_limit || Instant::now() >= self.deadline {
            self.aborted = true;
            return;
        }
        let p = self.p;
        let overflowing = self.overflowing(false);
        if overflowing.is_empty() {
            self.best_cost = cost;
            self.best = self.is_root.clone();
            return;
        }
        let Some((lb, q)) = self.bound(&overflowing, self.best_cost - cost) else {
            return;
        };
        if cost + lb >= self.best_cost {
            return;
        }
        self.status[q] = ROOT;
        self.is_root[q] = true;
        self.dfs(cost + p.w_in[q]);
        self.is_root[q] = false;
        self.status[q] = FORBIDDEN;
        self.dfs(cost);
        self.status[q] = UNDECIDED;
    }

    /// Lower bound on the cost still to pay to fix the overflowing groups `overflowing` of the
    /// current roots, and the node to branch on (the costliest frontier node of the best single
    /// group's cut); `None` if no completion fixes them. Stops once the bound reaches `enough`.
    fn bound(&mut self, overflowing: &[Overflow], enough: u64) -> Option<(u64, usize)> {
        let p = self.p;
        let mut best_lb = 0u64;
        let mut branch = NONE;
        for (_, members, lm, lc) in overflowing {
            let (value, frontier) = self.group_bound(members, *lm, *lc, None)?;
            let lb = ceil_bound(value);
            if branch == NONE || lb > best_lb {
                best_lb = lb;
                branch = frontier
                    .iter()
                    .copied()
                    .max_by_key(|&q| (p.w_in[q], std::cmp::Reverse(q)))
                    .expect("a cut that separates load has a frontier");
            }
            if best_lb >= enough {
                return Some((best_lb, branch));
            }
        }
        Some((best_lb, branch))
    }

    /// The groups' bounds summed, with every candidate's cost split evenly among the
    /// overflowing groups it belongs to. A root added later is paid once however many groups it
    /// fixes, and each group's bound counts only its share of it, so the sum is a valid bound
    /// where the groups' maximum is all the unsplit bounds give. `None` if a group cannot be
    /// fixed.
    fn split_bound(&mut self, overflowing: &[Overflow]) -> Option<u64> {
        let mut shares = vec![0.0; self.p.n];
        for (_, members, _, _) in overflowing {
            for &v in &members[1..] {
                shares[v] += 1.0;
            }
        }
        for (_, members, _, _) in overflowing {
            for &v in &members[1..] {
                if shares[v] > 1.0 {
                    shares[v] = 1.0 / shares[v];
                }
            }
        }
        let mut total = 0.0;
        for (_, members, lm, lc) in overflowing {
            total += self.group_bound(members, *lm, *lc, Some(&shares))?.0;
        }
        Some(ceil_bound(total))
    }

    /// Lower bound on the cost of fixing the overflowing group whose members are `members`
    /// (the root first), and the frontier of the cut it rests on; `None` if no completion can
    /// fix it. With `shares`, a member's cost is its `w_in` times its share.
    fn group_bound(
        &mut self,
        members: &[usize],
        lm: f64,
        lc: f64,
        shares: Option<&[f64]>,
    ) -> Option<(f64, Vec<usize>)> {
        let p = self.p;
        let k = members.len();
        for (j, &v) in members.iter().enumerate() {
            self.local[v] = j;
        }
        // Credited loads and internal arcs (local indices).
        let mut wm = vec![0.0; k];
        let mut wc = vec![0.0; k];
        let mut arcs: Vec<(usize, usize)> = Vec::new();
        for (i, &u) in members.iter().enumerate() {
            wm[i] += p.m[u];
            wc[i] += p.c[u];
            for a in &p.succ[u] {
                if self.is_root[a.to] {
                    continue;
                }
                let j = self.local[a.to];
                arcs.push((i, j));
                wm[i] += a.pm;
                wm[j] += a.pm;
                wc[i] += a.pc;
                wc[j] += a.pc;
            }
        }
        let forbidden: Vec<bool> = members
            .iter()
            .map(|&v| self.status[v] == FORBIDDEN)
            .collect();
        let cost: Vec<f64> = members
            .iter()
            .map(|&v| p.w_in[v] as f64 * shares.map_or(1.0, |s| s[v]))
            .collect();

        // The largest separable set: everything not reachable from r through forbidden nodes.
        let mut keep = vec![false; k];
        keep[0] = true;
        let mut stack = vec![0usize];
        let mut out: Vec<Vec<usize>> = vec![Vec::new(); k];
        for &(i, j) in &arcs {
            out[i].push(j);
        }
        while let Some(i) = stack.pop() {
            for &j in &out[i] {
                if forbidden[j] && !keep[j] {
                    keep[j] = true;
                    stack.push(j);
                }
            }
        }
        let (mut km, mut kc) = (0.0, 0.0);
        for i in (0..k).filter(|&i| keep[i]) {
            km += p.m[members[i]];
            kc += p.c[members[i]];
            for a in &p.succ[members[i]] {
                if !self.is_root[a.to] && keep[self.local[a.to]] {
                    km += a.pm;
                    kc += a.pc;
                }
            }
        }
        for &v in members {
            self.local[v] = NONE;
        }
        if !p.fits(km, kc) {
            return None;
        }
        let mut on_frontier = vec![false; k];
        for &(i, j) in &arcs {
            on_frontier[j] |= keep[i] && !keep[j];
        }
        let full_frontier: Vec<usize> = (1..k).filter(|&j| on_frontier[j]).collect();
        let full_cost: f64 = full_frontier.iter().map(|&j| cost[j]).sum();

        let xm = lm - p.limit_m;
        let xc = lc - p.limit_c;
        let thetas: &[f64] = match (xm > 1e-9, xc > 1e-9) {
            (true, true) => &[1.0, 0.0, 0.5],
            (true, false) => &[1.0],
            _ => &[0.0],
        };
        let mut best: Option<(f64, Vec<usize>)> = None;
        for &theta in thetas {
            let wt: Vec<f64> = (0..k)
                .map(|i| {
                    let mut w = 0.0;
                    if theta > 0.0 {
                        w += theta * wm[i] / xm;
                    }
                    if theta < 1.0 {
                        w += (1.0 - theta) * wc[i] / xc;
                    }
                    w
                })
                .collect();
            let full_load: f64 = (1..k).filter(|&j| !keep[j]).map(|j| wt[j]).sum();
            if full_load < 1.0 - 1e-9 {
                // Even cutting everything cuttable leaves too much in the group.
                return None;
            }
            let full = Cut {
                cost: full_cost,
                load: full_load,
                frontier: full_frontier.clone(),
            };
            let (value, frontier) = self.lagrangian(&arcs, &wt, &cost, &forbidden, full);
            if best.as_ref().is_none_or(|(v, _)| value > *v) {
                best = Some((value, frontier));
            }
        }
        let (value, frontier) = best.expect("at least one multiplier direction");
        Some((value, frontier.into_iter().map(|j| members[j]).collect()))
    }

    /// Maximises `min_D cost(D) + λ(1 − load(D))` over `λ ≥ 0`; returns the value and the frontier
    /// of a maximising cut with `load ≥ 1`.
    fn lagrangian(
        &mut self,
        arcs: &[(usize, usize)],
        wt: &[f64],
        cost: &[f64],
        forbidden: &[bool],
        full: Cut,
    ) -> (f64, Vec<usize>) {
        let mut a = Cut {
            cost: 0.0,
            load: 0.0,
            frontier: Vec::new(),
        };
        let mut b = full;
        for _ in 0..40 {
            let denom = b.load - a.load;
            if denom <= 1e-12 {
                break;
            }
            let lambda = ((b.cost - a.cost) / denom).max(0.0);
            let envelope = a.cost + lambda * (1.0 - a.load);
            let c = self.min_cut(arcs, wt, cost, forbidden, lambda);
            let val = c.cost + lambda * (1.0 - c.load);
            if val >= envelope - 1e-7 * (1.0 + envelope.abs()) {
                return (envelope, b.frontier);
            }
            if c.load < 1.0 {
                a = c;
            } else {
                b = c;
            }
        }
        let denom = b.load - a.load;
        let lambda = if denom > 1e-12 {
            ((b.cost - a.cost) / denom).max(0.0)
        } else {
            0.0
        };
        (a.cost + lambda * (1.0 - a.load), b.frontier)
    }

    /// Minimises `cost(frontier(D)) − λ·load(D)` over sets `D` not containing the group root.
    fn min_cut(
        &mut self,
        arcs: &[(usize, usize)],
        wt: &[f64],
        cost: &[f64],
        forbidden: &[bool],
        lambda: f64,
    ) -> Cut {
        let k = wt.len();
        // Node 2j is member j, 2j+1 its entrance; 2k is the sink; member 0 (the root) is the source.
        let sink = 2 * k;
        let net = &mut self.net;
        net.reset(2 * k + 1);
        for &(i, j) in arcs {
            net.add_edge(2 * i, 2 * j + 1, INF);
        }
        for j in 1..k {
            net.add_edge(2 * j + 1, 2 * j, if forbidden[j] { INF } else { cost[j] });
            if wt[j] > 0.0 {
                net.add_edge(2 * j, sink, lambda * wt[j]);
            }
        }
        net.max_flow(0, sink);
        let side = net.source_side(0);
        let mut cut = Cut {
            cost: 0.0,
            load: 0.0,
            frontier: Vec::new(),
        };
        for j in 1..k {
            if !side[2 * j] {
                cut.load += wt[j];
                if side[2 * j + 1] {
                    cut.cost += cost[j];
                    cut.frontier.push(j);
                }
            }
        }
        cut
    }
}
