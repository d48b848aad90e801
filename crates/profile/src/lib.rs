//! `quilt profile`'s analysis: spans and resource samples in, the call graph out.
//!
//! The graph is networkx node-link JSON that `quilt plan` reads directly: nodes carry `m` (peak
//! resident memory of one instance, MiB) and `c` (CPU cores used while executing); edges carry
//! `weight` (calls over the profiled runs), `type` (`sync` or `async`) and `max_fanout` (the most
//! calls of that edge in one run); the graph carries `runs` and, when given, the limits.

use quilt_platform::spans::Span;
use quilt_platform::Resources;
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};

/// A node of the profiled call graph.
///
/// `c` is CPU seconds over busy seconds, scaled by how much waiting for a CPU stretched the
/// function's executions (see [`build_graph`]), and capped at its per-instance CPU limit.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NodeProfile {
    /// Function name.
    pub id: String,
    /// Peak resident memory of one instance, MiB.
    pub m: f64,
    /// CPU cores used while executing (CPU seconds over busy seconds), corrected for run-queue wait.
    pub c: f64,
    /// Executions seen in the profiled runs.
    pub executions: u64,
}

/// An edge of the profiled call graph.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EdgeProfile {
    /// Caller.
    pub source: String,
    /// Callee.
    pub target: String,
    /// Calls over all profiled runs.
    pub weight: u64,
    /// `sync` or `async` (the kind of most calls).
    #[serde(rename = "type")]
    pub kind: String,
    /// Most calls of this edge within one run.
    pub max_fanout: u64,
}

/// Graph-level attributes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GraphAttrs {
    /// Profiled workflow runs.
    pub runs: u64,
    /// Per-instance memory limit (MiB) to plan against, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory_limit: Option<f64>,
    /// Per-instance CPU limit (cores) to plan against, when known.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu_limit: Option<f64>,
    /// The workflow's entry function.
    pub entry: String,
}

/// A profiled call graph in networkx node-link form.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProfileGraph {
    /// Always true.
    pub directed: bool,
    /// Always false.
    pub multigraph: bool,
    /// Graph attributes.
    pub graph: GraphAttrs,
    /// Functions.
    pub nodes: Vec<NodeProfile>,
    /// Calls.
    pub links: Vec<EdgeProfile>,
}

/// Resource use over the profiled period: `after - before` per function.
pub fn resource_delta(
    before: &HashMap<String, Resources>,
    after: &HashMap<String, Resources>,
) -> HashMap<String, Resources> {
    after
        .iter()
        .map(|(name, a)| {
            let b = before.get(name).cloned().unwrap_or_default();
            let delta = Resources {
                cpu_seconds: (a.cpu_seconds - b.cpu_seconds).max(0.0),
                busy_seconds: (a.busy_seconds - b.busy_seconds).max(0.0),
                requests: a.requests.saturating_sub(b.requests),
                cpu_limit: a.cpu_limit,
                peak_rss_mb: a.peak_rss_mb,
                instances: a.instances,
            };
            (name.clone(), delta)
        })
        .collect()
}

/// How much waiting for a CPU stretched a function's executions, from spans that carry their
/// thread's run-queue wait (see [`build_graph`]).
#[derive(Default)]
struct Stretch {
    /// A span did not carry its run-queue wait.
    missing: bool,
    /// Σ duration, µs.
    dur_us: u64,
    /// Σ (duration − wait), µs.
    running_us: u64,
}

impl Stretch {
    fn add(&mut self, s: &Span) {
        match s.wait_us {
            Some(wait) => {
                self.dur_us += s.dur_us;
                self.running_us += s.dur_us.saturating_sub(wait);
            }
            None => self.missing = true,
        }
    }

    /// Σ duration ÷ Σ (duration − wait), when every span told and some time ran.
    fn factor(&self) -> Option<f64> {
        (!self.missing && self.running_us > 0).then(|| self.dur_us as f64 / self.running_us as f64)
    }
}

/// Builds the call graph of the runs of `entry` found in `spans`.
///
/// A run is a trace whose root span (no parent among the spans) executed `entry`. Only spans of
/// such traces count. `resources` (per function, over the same period) gives `m` and `c`.
///
/// `c` is the instances' CPU seconds over the seconds the gateway had a request of the function in
/// flight — what it got. On a contended machine (six CPU-bound leaves sharing two cores, say) that
/// is less than it wants with a CPU to itself, the question a plan against per-instance CPU limits
/// asks. Spans that carry their thread's run-queue wait correct this: `c` is multiplied by
/// Σ duration ÷ Σ (duration − wait) over the function's executions, the factor by which waiting for
/// a CPU stretched them.
pub fn build_graph(
    spans: &[Span],
    entry: &str,
    resources: &HashMap<String, Resources>,
    limits: (Option<f64>, Option<f64>),
) -> ProfileGraph {
    let by_id: HashMap<(&str, &str), &Span> = spans
        .iter()
        .map(|s| ((s.trace.as_str(), s.span.as_str()), s))
        .collect();
    let parent_of = |s: &Span| by_id.get(&(s.trace.as_str(), s.parent.as_str())).copied();
    let runs: HashSet<&str> = spans
        .iter()
        .filter(|s| s.function == entry && parent_of(s).is_none())
        .map(|s| s.trace.as_str())
        .collect();
    // (caller, callee) -> (calls, async calls, calls per trace)
    type EdgeCount<'a> = (u64, u64, HashMap<&'a str, u64>);
    let mut edges: BTreeMap<(String, String), EdgeCount> = BTreeMap::new();
    let mut executions: BTreeMap<String, u64> = BTreeMap::new();
    let mut stretch: HashMap<&str, Stretch> = HashMap::new();
    for s in spans.iter().filter(|s| runs.contains(s.trace.as_str())) {
        *executions.entry(s.function.clone()).or_default() += 1;
        stretch.entry(s.function.as_str()).or_default().add(s);
        let Some(parent) = parent_of(s) else { continue };
        let e = edges
            .entry((parent.function.clone(), s.function.clone()))
            .or_default();
        e.0 += 1;
        e.1 += (s.kind == "async") as u64;
        *e.2.entry(s.trace.as_str()).or_default() += 1;
    }
    let nodes = executions
        .iter()
        .map(|(f, n)| {
            let r = resources.get(f).cloned().unwrap_or_default();
            let mut c = if r.busy_seconds > 0.0 {
                r.cpu_seconds / r.busy_seconds
            } else {
                0.0
            };
            if let Some(factor) = stretch.get(f.as_str()).and_then(Stretch::factor) {
                c *= factor;
            }
            // An instance cannot use more than its limit; above it is sampling noise.
            if r.cpu_limit > 0.0 {
                c = c.min(r.cpu_limit);
            }
            NodeProfile {
                id: f.clone(),
                m: round3(r.peak_rss_mb),
                c: round3(c),
                executions: *n,
            }
        })
        .collect();
    let links = edges
        .into_iter()
        .map(
            |((source, target), (calls, async_calls, per_trace))| EdgeProfile {
                source,
                target,
                weight: calls,
                kind: if async_calls * 2 > calls {
                    "async"
                } else {
                    "sync"
                }
                .into(),
                max_fanout: per_trace.values().copied().max().unwrap_or(0),
            },
        )
        .collect();
    ProfileGraph {
        directed: true,
        multigraph: false,
        graph: GraphAttrs {
            runs: runs.len() as u64,
            memory_limit: limits.0,
            cpu_limit: limits.1,
            entry: entry.to_string(),
        },
        nodes,
        links,
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

impl ProfileGraph {
    /// The graph as pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("serializable")
    }

    /// The graph in Graphviz dot, edges labelled with weight and kind.
    pub fn to_dot(&self) -> String {
        let mut s = String::from("digraph callgraph {\n  rankdir=LR;\n  node [shape=box];\n");
        for n in &self.nodes {
            s.push_str(&format!(
                "  \"{}\" [label=\"{}\\nm={:.1} MiB c={:.2}\"];\n",
                n.id, n.id, n.m, n.c
            ));
        }
        for e in &self.links {
            let style = if e.kind == "async" {
                ", style=dashed"
            } else {
                ""
            };
            s.push_str(&format!(
                "  \"{}\" -> \"{}\" [label=\"{} ({})\"{style}];\n",
                e.source, e.target, e.weight, e.kind
            ));
        }
        s.push_str("}\n");
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn span(trace: &str, id: &str, parent: &str, f: &str, kind: &str) -> Span {
        Span {
            cpu_us: None,
            wait_us: None,
            trace: trace.into(),
            span: id.into(),
            parent: parent.into(),
            function: f.into(),
            start_us: 0,
            dur_us: 10,
            status: 0,
            kind: kind.into(),
            local: false,
            instance: format!("{f}/1"),
        }
    }

    #[test]
    fn edges_weights_kinds_and_fanout_come_from_spans() {
        let mut spans = Vec::new();
        for (t, k) in [("t1", 3), ("t2", 1)] {
            spans.push(span(t, "r", "gw", "root", "sync"));
            spans.push(span(t, "a", "r", "a", "sync"));
            for i in 0..k {
                spans.push(span(t, &format!("w{i}"), "a", "w", "async"));
            }
        }
        // A trace rooted elsewhere is not a run of `root`.
        spans.push(span("t3", "x", "gw", "a", "sync"));
        spans.push(span("t3", "y", "x", "w", "sync"));
        let mut res = HashMap::new();
        res.insert(
            "w".to_string(),
            Resources {
                cpu_seconds: 0.5,
                busy_seconds: 1.0,
                requests: 4,
                cpu_limit: 0.4,
                peak_rss_mb: 3.25,
                instances: 1,
            },
        );
        let g = build_graph(&spans, "root", &res, (Some(100.0), None));
        assert_eq!(g.graph.runs, 2);
        let edge = |s: &str, t: &str| {
            g.links
                .iter()
                .find(|e| e.source == s && e.target == t)
                .unwrap()
        };
        assert_eq!(edge("root", "a").weight, 2);
        assert_eq!(edge("root", "a").kind, "sync");
        assert_eq!(edge("a", "w").weight, 4);
        assert_eq!(edge("a", "w").kind, "async");
        assert_eq!(edge("a", "w").max_fanout, 3);
        let w = g.nodes.iter().find(|n| n.id == "w").unwrap();
        assert_eq!(
            (w.m, w.c, w.executions),
            (3.25, 0.4, 4),
            "c capped at the limit"
        );
        let json: serde_json::Value = serde_json::from_str(&g.to_json()).unwrap();
        assert_eq!(json["links"][0]["source"], "a");
        assert_eq!(json["links"][0]["type"], "async");
        assert_eq!(json["graph"]["memory_limit"], 100.0);
        assert!(g
            .to_dot()
            .contains("\"a\" -> \"w\" [label=\"4 (async)\", style=dashed]"));
    }

    #[test]
    fn cpu_is_corrected_for_the_time_executions_waited_for_a_cpu() {
        // Six leaves shared two cores: each execution of 90 ms ran 30 ms and waited 60 ms for a
        // CPU, so the leaf got a third of a core while busy and wants a whole one. `root`'s spans
        // carry no wait: its figure stays the instances' CPU over the gateway's busy time.
        let mut spans = vec![span("t", "r", "gw", "root", "sync")];
        for i in 0..6 {
            let mut leaf = span("t", &format!("l{i}"), "r", "leaf", "async");
            leaf.dur_us = 90_000;
            leaf.cpu_us = Some(30_000);
            leaf.wait_us = Some(60_000);
            spans.push(leaf);
        }
        let got = |cpu_seconds, limit| Resources {
            cpu_seconds,
            busy_seconds: 1.0,
            requests: 6,
            cpu_limit: limit,
            peak_rss_mb: 1.0,
            instances: 1,
        };
        let mut res = HashMap::new();
        res.insert("leaf".to_string(), got(0.3, 4.0));
        res.insert("root".to_string(), got(0.01, 4.0));
        let g = build_graph(&spans, "root", &res, (None, None));
        let c = |f: &str| g.nodes.iter().find(|n| n.id == f).unwrap().c;
        assert_eq!((c("leaf"), c("root")), (0.9, 0.01));
        res.insert("leaf".to_string(), got(0.3, 0.5));
        let g = build_graph(&spans, "root", &res, (None, None));
        assert_eq!(
            g.nodes.iter().find(|n| n.id == "leaf").unwrap().c,
            0.5,
            "capped"
        );
    }
}
