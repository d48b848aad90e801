//! Call graphs: reading and writing networkx node-link JSON, and structural validation.
//!
//! The format is the one `quilt profile` emits and the reference's solver reads:
//!
//! ```json
//! {"directed": true, "graph": {"memory_limit": 100, "cpu_limit": 80, "runs": 10},
//!  "nodes": [{"id": "f", "m": 10, "c": 5, "domain": "x", "isolate": true}],
//!  "links": [{"source": "f", "target": "g", "weight": 3, "type": "sync"}]}
//! ```
//!
//! `edges` is accepted in place of `links`; node ids may be strings or integers; unknown fields are
//! ignored. Every error is one line naming the file and the offending item.

use crate::error::GraphError;
use serde_json::{json, Map, Value};
use std::collections::HashMap;
use std::fmt;
use std::path::Path;

/// How a caller invokes a callee.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallKind {
    /// The caller waits for the result: merged, it becomes a direct call.
    Sync,
    /// Fork-join: merged, it becomes a local thread, so concurrent copies cost resources.
    Async,
}

impl fmt::Display for CallKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CallKind::Sync => "sync",
            CallKind::Async => "async",
        })
    }
}

/// A function in the call graph.
#[derive(Debug, Clone, PartialEq)]
pub struct Node {
    /// Function name.
    pub id: String,
    /// Memory one instance of the function needs.
    pub m: f64,
    /// CPU one instance of the function needs.
    pub c: f64,
    /// Trust domain; functions of different domains never share a group. `None` is the default domain.
    pub domain: Option<String>,
    /// Never merged with anything: the node is a root and its callees are roots.
    pub isolate: bool,
}

/// A caller-callee edge, by node index into [`CallGraph::nodes`].
#[derive(Debug, Clone, PartialEq)]
pub struct Edge {
    /// Caller.
    pub source: usize,
    /// Callee.
    pub target: usize,
    /// Calls over all profiled workflow runs.
    pub weight: u64,
    /// Sync or async.
    pub kind: CallKind,
}

/// Limits recorded in the graph's `graph` attribute; each may be overridden on the command line.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct GraphAttrs {
    /// Per-instance memory limit `M`.
    pub memory_limit: Option<f64>,
    /// Per-instance CPU limit `C`.
    pub cpu_limit: Option<f64>,
    /// Number of profiled workflow runs `N`.
    pub runs: Option<u64>,
}

/// Resolved per-instance limits the solver plans against.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// Memory limit `M`.
    pub memory: f64,
    /// CPU limit `C`.
    pub cpu: f64,
    /// Workflow runs `N` the edge weights were counted over.
    pub runs: u64,
}

/// A validated call graph: a rooted DAG with a single entry node.
#[derive(Debug, Clone, PartialEq)]
pub struct CallGraph {
    /// Functions, in file order.
    pub nodes: Vec<Node>,
    /// Calls, in file order.
    pub edges: Vec<Edge>,
    /// Limits recorded in the file.
    pub attrs: GraphAttrs,
}

impl CallGraph {
    /// Reads and validates a node-link JSON call graph from `path`.
    pub fn read(path: &Path) -> Result<CallGraph, GraphError> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| GraphError::Io {
            origin: origin.clone(),
            message: e.to_string(),
        })?;
        CallGraph::from_json_str(&text, &origin)
    }

    /// Parses and validates node-link JSON; `origin` names the source in error messages.
    pub fn from_json_str(text: &str, origin: &str) -> Result<CallGraph, GraphError> {
        let value: Value = serde_json::from_str(text).map_err(|e| GraphError::Syntax {
            origin: origin.to_string(),
            line: e.line(),
            column: e.column(),
            message: strip_position(&e.to_string()),
        })?;
        let bad = |what: String| GraphError::Invalid {
            origin: origin.to_string(),
            message: what,
        };
        let top = value
            .as_object()
            .ok_or_else(|| bad("top level: expected a JSON object".into()))?;
        if top.get("directed") == Some(&Value::Bool(false)) {
            return Err(bad(
                "\"directed\" is false: a call graph must be directed".into()
            ));
        }
        let attrs = parse_attrs(top.get("graph")).map_err(bad)?;
        let nodes_v = top
            .get("nodes")
            .and_then(Value::as_array)
            .ok_or_else(|| bad("missing \"nodes\" array".into()))?;
        let (key, edges_v) = match (top.get("links"), top.get("edges")) {
            (Some(_), Some(_)) => {
                return Err(bad("both \"links\" and \"edges\" given; use one".into()))
            }
            (Some(v), None) => ("links", v),
            (None, Some(v)) => ("edges", v),
            (None, None) => ("links", &Value::Null),
        };
        let edges_v: &[Value] = match edges_v {
            Value::Null => &[],
            Value::Array(a) => a,
            _ => return Err(bad(format!("\"{key}\" must be an array"))),
        };

        let mut nodes = Vec::with_capacity(nodes_v.len());
        let mut index: HashMap<String, usize> = HashMap::new();
        for (i, nv) in nodes_v.iter().enumerate() {
            let node = parse_node(nv).map_err(|e| bad(format!("nodes[{i}]: {e}")))?;
            if index.insert(node.id.clone(), i).is_some() {
                return Err(bad(format!(
                    "nodes[{i}]: duplicate node id \"{}\"",
                    node.id
                )));
            }
            nodes.push(node);
        }
        let mut edges = Vec::with_capacity(edges_v.len());
        let mut pairs: HashMap<(usize, usize), usize> = HashMap::new();
        for (i, ev) in edges_v.iter().enumerate() {
            let edge = parse_edge(ev, &index).map_err(|e| bad(format!("{key}[{i}]: {e}")))?;
            if let Some(first) = pairs.insert((edge.source, edge.target), i) {
                return Err(bad(format!(
                    "{key}[{i}]: {}; the first is {key}[{first}]",
                    duplicate_edge(&nodes, &edge)
                )));
            }
            edges.push(edge);
        }
        let graph = CallGraph {
            nodes,
            edges,
            attrs,
        };
        graph.validate().map_err(bad)?;
        Ok(graph)
    }

    /// Checks the structure: no self-loops, cycles or duplicate edges, exactly one entry node.
    /// Returns one line.
    pub fn validate(&self) -> Result<(), String> {
        if self.nodes.is_empty() {
            return Err("the graph has no nodes".into());
        }
        let mut pairs = std::collections::HashSet::new();
        if let Some(e) = self
            .edges
            .iter()
            .find(|e| !pairs.insert((e.source, e.target)))
        {
            return Err(duplicate_edge(&self.nodes, e));
        }
        if let Some(cycle) = self.find_cycle() {
            let names: Vec<&str> = cycle.iter().map(|&v| self.nodes[v].id.as_str()).collect();
            return Err(format!("cycle: {}", names.join(" -> ")));
        }
        let entries = self.entry_candidates();
        if entries.len() != 1 {
            let names: Vec<String> = entries
                .iter()
                .take(8)
                .map(|&v| format!("\"{}\"", self.nodes[v].id))
                .collect();
            let more = if entries.len() > 8 { ", …" } else { "" };
            return Err(format!(
                "no single entry node: {} nodes have no callers ({}{more}); a workflow needs exactly one",
                entries.len(),
                names.join(", ")
            ));
        }
        Ok(())
    }

    /// Index of the entry node (the one node without callers). Call after [`CallGraph::validate`].
    pub fn entry(&self) -> usize {
        self.entry_candidates()[0]
    }

    fn entry_candidates(&self) -> Vec<usize> {
        let mut has_caller = vec![false; self.nodes.len()];
        for e in &self.edges {
            has_caller[e.target] = true;
        }
        (0..self.nodes.len()).filter(|&v| !has_caller[v]).collect()
    }

    /// Returns the nodes of one directed cycle (first node repeated at the end), if any.
    fn find_cycle(&self) -> Option<Vec<usize>> {
        let n = self.nodes.len();
        let mut succ = vec![Vec::new(); n];
        for e in &self.edges {
            succ[e.source].push(e.target);
        }
        // 0 = unvisited, 1 = on the stack, 2 = done.
        let mut state = vec![0u8; n];
        let mut parent = vec![usize::MAX; n];
        for start in 0..n {
            if state[start] != 0 {
                continue;
            }
            let mut stack = vec![(start, 0usize)];
            state[start] = 1;
            while let Some(&mut (v, ref mut next)) = stack.last_mut() {
                if *next < succ[v].len() {
                    let w = succ[v][*next];
                    *next += 1;
                    match state[w] {
                        0 => {
                            state[w] = 1;
                            parent[w] = v;
                            stack.push((w, 0));
                        }
                        1 => {
                            let mut cycle = vec![w];
                            let mut x = v;
                            while x != w {
                                cycle.push(x);
                                x = parent[x];
                            }
                            cycle.push(w);
                            cycle.reverse();
                            return Some(cycle);
                        }
                        _ => {}
                    }
                } else {
                    state[v] = 2;
                    stack.pop();
                }
            }
        }
        None
    }

    /// Resolves limits: explicit values win over the graph's own; every limit must be known.
    pub fn limits(
        &self,
        memory: Option<f64>,
        cpu: Option<f64>,
        runs: Option<u64>,
    ) -> Result<Limits, crate::error::SolverError> {
        use crate::error::SolverError::MissingLimit;
        let memory = memory.or(self.attrs.memory_limit).ok_or(MissingLimit(
            "memory limit: set graph.memory_limit or pass --memory",
        ))?;
        let cpu = cpu
            .or(self.attrs.cpu_limit)
            .ok_or(MissingLimit("CPU limit: set graph.cpu_limit or pass --cpu"))?;
        let runs = runs.or(self.attrs.runs).unwrap_or(1);
        let limits = Limits { memory, cpu, runs };
        check_limits(&limits)?;
        Ok(limits)
    }

    /// Sum of all edge weights: the cost of merging nothing.
    pub fn baseline_cost(&self) -> u64 {
        self.edges.iter().map(|e| e.weight).sum()
    }

    /// The graph as node-link JSON (`links` as the edge key), with `attrs` in `graph`.
    pub fn to_json(&self) -> Value {
        let mut g = Map::new();
        if let Some(m) = self.attrs.memory_limit {
            g.insert("memory_limit".into(), number(m));
        }
        if let Some(c) = self.attrs.cpu_limit {
            g.insert("cpu_limit".into(), number(c));
        }
        if let Some(n) = self.attrs.runs {
            g.insert("runs".into(), json!(n));
        }
        let nodes: Vec<Value> = self
            .nodes
            .iter()
            .map(|n| {
                let mut o = Map::new();
                o.insert("id".into(), json!(n.id));
                o.insert("m".into(), number(n.m));
                o.insert("c".into(), number(n.c));
                if let Some(d) = &n.domain {
                    o.insert("domain".into(), json!(d));
                }
                if n.isolate {
                    o.insert("isolate".into(), json!(true));
                }
                Value::Object(o)
            })
            .collect();
        let links: Vec<Value> = self
            .edges
            .iter()
            .map(|e| {
                json!({"source": self.nodes[e.source].id, "target": self.nodes[e.target].id,
                       "weight": e.weight, "type": e.kind.to_string()})
            })
            .collect();
        json!({"directed": true, "multigraph": false, "graph": Value::Object(g),
               "nodes": nodes, "links": links})
    }
}

/// Why a second edge between the same caller and callee is refused: its weight would count twice.
fn duplicate_edge(nodes: &[Node], e: &Edge) -> String {
    let (s, t) = (&nodes[e.source].id, &nodes[e.target].id);
    format!(
        "duplicate edge {s} -> {t}: give each caller-callee pair one edge, with the weights summed"
    )
}

/// Checks that limits are positive and finite.
pub(crate) fn check_limits(l: &Limits) -> Result<(), crate::error::SolverError> {
    use crate::error::SolverError::BadLimit;
    if !(l.memory.is_finite() && l.memory > 0.0) {
        return Err(BadLimit(format!(
            "memory limit must be positive, got {}",
            l.memory
        )));
    }
    if !(l.cpu.is_finite() && l.cpu > 0.0) {
        return Err(BadLimit(format!(
            "CPU limit must be positive, got {}",
            l.cpu
        )));
    }
    if l.runs == 0 {
        return Err(BadLimit("runs must be at least 1".into()));
    }
    Ok(())
}

/// A JSON number that prints integral values without a fraction.
pub(crate) fn number(x: f64) -> Value {
    if x.fract() == 0.0 && x.abs() < 9.0e15 {
        json!(x as i64)
    } else {
        json!(x)
    }
}

fn strip_position(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}

fn parse_attrs(v: Option<&Value>) -> Result<GraphAttrs, String> {
    let Some(v) = v else {
        return Ok(GraphAttrs::default());
    };
    let Some(o) = v.as_object() else {
        return Err("\"graph\" must be an object".into());
    };
    let pos = |key: &str| -> Result<Option<f64>, String> {
        match o.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(x) => match x.as_f64() {
                Some(f) if f > 0.0 && f.is_finite() => Ok(Some(f)),
                _ => Err(format!("graph.{key} must be a positive number, got {x}")),
            },
        }
    };
    let runs = match o.get("runs") {
        None | Some(Value::Null) => None,
        Some(x) => match x.as_u64() {
            Some(r) if r > 0 => Some(r),
            _ => return Err(format!("graph.runs must be a positive integer, got {x}")),
        },
    };
    Ok(GraphAttrs {
        memory_limit: pos("memory_limit")?,
        cpu_limit: pos("cpu_limit")?,
        runs,
    })
}

fn node_id(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) if n.is_i64() || n.is_u64() => Some(n.to_string()),
        _ => None,
    }
}

fn parse_node(v: &Value) -> Result<Node, String> {
    let o = v.as_object().ok_or("expected an object")?;
    let id = o
        .get("id")
        .ok_or_else(|| "missing \"id\"".to_string())
        .and_then(|x| {
            node_id(x).ok_or(format!("\"id\" must be a string or an integer, got {x}"))
        })?;
    if id.is_empty() || id.chars().any(char::is_whitespace) {
        return Err(format!(
            "node id {id:?} must be non-empty and contain no whitespace"
        ));
    }
    let resource = |key: &str| -> Result<f64, String> {
        match o.get(key) {
            None => Err(format!("node \"{id}\": missing \"{key}\"")),
            Some(x) => match x.as_f64() {
                Some(f) if f >= 0.0 && f.is_finite() => Ok(f),
                _ => Err(format!(
                    "node \"{id}\": \"{key}\" must be a non-negative number, got {x}"
                )),
            },
        }
    };
    let m = resource("m")?;
    let c = resource("c")?;
    let domain = match o.get("domain") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(x) => {
            return Err(format!(
                "node \"{id}\": \"domain\" must be a string, got {x}"
            ))
        }
    };
    let isolate = match o.get("isolate") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(x) => {
            return Err(format!(
                "node \"{id}\": \"isolate\" must be true or false, got {x}"
            ))
        }
    };
    Ok(Node {
        id,
        m,
        c,
        domain,
        isolate,
    })
}

fn parse_edge(v: &Value, index: &HashMap<String, usize>) -> Result<Edge, String> {
    let o = v.as_object().ok_or("expected an object")?;
    let end = |key: &str| -> Result<usize, String> {
        let x = o.get(key).ok_or(format!("missing \"{key}\""))?;
        let id = node_id(x).ok_or(format!("\"{key}\" must be a node id, got {x}"))?;
        index
            .get(&id)
            .copied()
            .ok_or(format!("edge to unknown node \"{id}\" (\"{key}\")"))
    };
    let source = end("source")?;
    let target = end("target")?;
    let (s, t) = (
        node_id(&o["source"]).unwrap_or_default(),
        node_id(&o["target"]).unwrap_or_default(),
    );
    let weight = match o.get("weight") {
        None => return Err(format!("edge {s} -> {t}: missing \"weight\"")),
        Some(x) => match (x.as_u64(), x.as_f64()) {
            (Some(w), _) => w,
            (None, Some(f)) if f >= 0.0 && f.fract() == 0.0 && f < 1.0e18 => f as u64,
            (None, Some(f)) if f < 0.0 => {
                return Err(format!("edge {s} -> {t}: negative weight {x}"));
            }
            _ => {
                return Err(format!(
                    "edge {s} -> {t}: weight must be a non-negative integer (calls over N runs), got {x}"
                ))
            }
        },
    };
    let kind = match o.get("type") {
        None | Some(Value::Null) => CallKind::Sync,
        Some(Value::String(k)) if k == "sync" => CallKind::Sync,
        Some(Value::String(k)) if k == "async" => CallKind::Async,
        Some(x) => {
            return Err(format!(
                "edge {s} -> {t}: \"type\" must be \"sync\" or \"async\", got {x}"
            ))
        }
    };
    Ok(Edge {
        source,
        target,
        weight,
        kind,
    })
}
