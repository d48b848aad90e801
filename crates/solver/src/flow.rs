//! A small Dinic max-flow with `f64` capacities, used for the exact solver's min-cut bounds.

/// Capacity that no finite cut uses.
pub(crate) const INF: f64 = 1.0e18;
const EPS: f64 = 1.0e-9;

/// A flow network rebuilt for every cut; buffers are kept across uses.
#[derive(Debug, Default, Clone)]
pub(crate) struct FlowNet {
    head: Vec<u32>,
    next: Vec<u32>,
    to: Vec<u32>,
    cap: Vec<f64>,
    level: Vec<i32>,
    iter: Vec<u32>,
    queue: Vec<u32>,
}

const NIL: u32 = u32::MAX;

impl FlowNet {
    /// Clears the network to `n` nodes and no edges.
    pub fn reset(&mut self, n: usize) {
        self.head.clear();
        self.head.resize(n, NIL);
        self.next.clear();
        self.to.clear();
        self.cap.clear();
    }

    /// Adds a directed edge `u → v` with capacity `c`.
    pub fn add_edge(&mut self, u: usize, v: usize, c: f64) {
        for (a, b, cap) in [(u, v, c), (v, u, 0.0)] {
            let id = self.to.len() as u32;
            self.to.push(b as u32);
            self.cap.push(cap);
            self.next.push(self.head[a]);
            self.head[a] = id;
        }
    }

    fn bfs(&mut self, s: usize, t: usize) -> bool {
        self.level.clear();
        self.level.resize(self.head.len(), -1);
        self.queue.clear();
        self.level[s] = 0;
        self.queue.push(s as u32);
        let mut qi = 0;
        while qi < self.queue.len() {
            let u = self.queue[qi] as usize;
            qi += 1;
            let mut e = self.head[u];
            while e != NIL {
                let v = self.to[e as usize] as usize;
                if self.cap[e as usize] > EPS && self.level[v] < 0 {
                    self.level[v] = self.level[u] + 1;
                    self.queue.push(v as u32);
                }
                e = self.next[e as usize];
            }
        }
        self.level[t] >= 0
    }

    fn dfs(&mut self, u: usize, t: usize, f: f64) -> f64 {
        if u == t {
            return f;
        }
        while self.iter[u] != NIL {
            let e = self.iter[u] as usize;
            let v = self.to[e] as usize;
            if self.cap[e] > EPS && self.level[v] == self.level[u] + 1 {
                let d = self.dfs(v, t, f.min(self.cap[e]));
                if d > EPS {
                    self.cap[e] -= d;
                    self.cap[e ^ 1] += d;
                    return d;
                }
            }
            self.iter[u] = self.next[e];
        }
        0.0
    }

    /// Maximum flow from `s` to `t`; afterwards [`FlowNet::source_side`] gives a minimum cut.
    pub fn max_flow(&mut self, s: usize, t: usize) -> f64 {
        let mut flow = 0.0;
        while self.bfs(s, t) {
            self.iter.clear();
            self.iter.extend_from_slice(&self.head);
            loop {
                let f = self.dfs(s, t, INF);
                if f <= EPS {
                    break;
                }
                flow += f;
            }
        }
        flow
    }

    /// After [`FlowNet::max_flow`]: whether each node is on the source side of the minimum cut.
    pub fn source_side(&mut self, s: usize) -> Vec<bool> {
        // The last BFS of max_flow failed to reach t; its levels mark the residual-reachable set.
        let _ = self.bfs(s, s);
        self.level.iter().map(|&l| l >= 0).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_cut() {
        let mut f = FlowNet::default();
        f.reset(4);
        f.add_edge(0, 1, 3.0);
        f.add_edge(0, 2, 2.0);
        f.add_edge(1, 2, 5.0);
        f.add_edge(1, 3, 2.0);
        f.add_edge(2, 3, 3.0);
        assert!((f.max_flow(0, 3) - 5.0).abs() < 1e-9);
        let side = f.source_side(0);
        assert!(side[0] && !side[3]);
    }
}
