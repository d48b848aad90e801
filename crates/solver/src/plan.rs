//! Merge plans: what `quilt plan --json` prints, `--out` writes and `quilt merge --plan` reads, and
//! the reference's funcTree files (`--tree-dir`).
//!
//! ```json
//! {"algorithm": "exact", "cost": 12, "baseline_cost": 180, "roots": ["a", "d"],
//!  "groups": [{"root": "a", "members": ["a", "b", "c"], "edges": [["a", "b"], ["b", "c"]],
//!              "memory": 60, "cpu": 40}, …],
//!  "optimal": true, "seconds": 0.004}
//! ```
//!
//! `roots` lists the group roots in the order of `groups`. A group's `members` start with its root
//! and follow the call graph's topological order; `edges` are the call-graph edges with both ends
//! in the group whose callee is not a root — the calls that become local — sorted by caller then
//! callee in that order, so the root's edges come first. A member may appear in several groups
//! (it is cloned). `memory` and `cpu` include the async penalty.

use crate::error::PlanError;
use crate::graph::{number, CallGraph, Limits};
use crate::problem::{fits, Problem, Scratch};
use serde::{Deserialize, Serialize, Serializer};
use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};

/// A merge plan: the chosen roots and the group each one heads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// Algorithm that produced the plan (`exact`, `dih`, `wd`, `lns`).
    pub algorithm: String,
    /// Total weight of calls that stay remote (calls into roots).
    pub cost: u64,
    /// Total weight of all calls: the cost of merging nothing.
    pub baseline_cost: u64,
    /// Group roots, in the order of `groups`.
    pub roots: Vec<String>,
    /// One group per root.
    pub groups: Vec<Group>,
    /// Whether `cost` is proven minimal.
    pub optimal: bool,
    /// Wall time the algorithm took.
    pub seconds: f64,
}

/// One merged deployable: a root and the functions merged into it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Group {
    /// The function the group is invoked as.
    pub root: String,
    /// Functions in the group, root first.
    pub members: Vec<String>,
    /// Calls that become local: `[caller, callee]`, root's calls first.
    pub edges: Vec<(String, String)>,
    /// Memory the group needs, async penalty included.
    #[serde(serialize_with = "ser_number")]
    pub memory: f64,
    /// CPU the group needs, async penalty included.
    #[serde(serialize_with = "ser_number")]
    pub cpu: f64,
}

fn ser_number<S: Serializer>(x: &f64, s: S) -> Result<S::Ok, S::Error> {
    number(*x).serialize(s)
}

impl Plan {
    /// Builds the plan of a feasible root set.
    pub(crate) fn from_roots(
        p: &Problem,
        is_root: &[bool],
        algorithm: &str,
        optimal: bool,
        seconds: f64,
    ) -> Plan {
        let mut s = Scratch::new(p.n);
        let mut groups = Vec::new();
        for r in (0..p.n).filter(|&r| is_root[r]) {
            let (memory, cpu) = p.group_load(r, is_root, &mut s);
            let mut members = s.members.clone();
            members.sort_unstable();
            let mut edges = Vec::new();
            for &u in &members {
                let mut callees: Vec<usize> = p.succ[u]
                    .iter()
                    .map(|a| a.to)
                    .filter(|&v| !is_root[v])
                    .collect();
                callees.dedup();
                edges.extend(
                    callees
                        .into_iter()
                        .map(|v| (p.names[u].clone(), p.names[v].clone())),
                );
            }
            groups.push(Group {
                root: p.names[r].clone(),
                members: members.iter().map(|&v| p.names[v].clone()).collect(),
                edges,
                memory,
                cpu,
            });
        }
        Plan {
            algorithm: algorithm.to_string(),
            cost: p.cost(is_root),
            baseline_cost: p.baseline,
            roots: groups.iter().map(|g| g.root.clone()).collect(),
            groups,
            optimal,
            seconds,
        }
    }

    /// Reads a plan file and checks that it is consistent with itself.
    pub fn read(path: &Path) -> Result<Plan, PlanError> {
        let shown = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| PlanError::Io {
            path: shown.clone(),
            message: format!("cannot read: {e}"),
        })?;
        let plan: Plan = serde_json::from_str(&text).map_err(|e| PlanError::Syntax {
            path: shown.clone(),
            line: e.line(),
            column: e.column(),
            message: e
                .to_string()
                .split(" at line ")
                .next()
                .unwrap_or("")
                .to_string(),
        })?;
        plan.check_consistent()
            .map_err(|message| PlanError::Invalid {
                path: shown,
                message,
            })?;
        Ok(plan)
    }

    fn check_consistent(&self) -> Result<(), String> {
        if self.groups.is_empty() {
            return Err("a plan needs at least one group".into());
        }
        let group_roots: Vec<&String> = self.groups.iter().map(|g| &g.root).collect();
        if self.roots.iter().collect::<Vec<_>>() != group_roots {
            return Err("\"roots\" must list the groups' roots in order".into());
        }
        let mut seen = HashSet::new();
        for (i, g) in self.groups.iter().enumerate() {
            if !seen.insert(&g.root) {
                return Err(format!("groups[{i}]: root \"{}\" heads two groups", g.root));
            }
            if g.members.first() != Some(&g.root) {
                return Err(format!(
                    "groups[{i}]: members must start with the root \"{}\"",
                    g.root
                ));
            }
            let members: HashSet<&String> = g.members.iter().collect();
            if members.len() != g.members.len() {
                return Err(format!("groups[{i}]: a member is listed twice"));
            }
            for (caller, callee) in &g.edges {
                for end in [caller, callee] {
                    if !members.contains(end) {
                        return Err(format!(
                            "groups[{i}]: edge {caller} -> {callee} names \"{end}\", not a member"
                        ));
                    }
                }
            }
        }
        Ok(())
    }

    /// Checks the plan against the graph it claims to solve: roots include every forced root,
    /// each group is exactly its root's closure with the stated edges and loads, loads fit the
    /// limits, and the cost is the weight into the roots. Returns the first violation.
    pub fn verify(&self, graph: &CallGraph, limits: &Limits) -> Result<(), String> {
        let p = Problem::new(graph, limits).map_err(|e| e.to_string())?;
        let index: HashMap<&str, usize> = p
            .names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.as_str(), i))
            .collect();
        let mut is_root = vec![false; p.n];
        for r in &self.roots {
            let &v = index
                .get(r.as_str())
                .ok_or(format!("root \"{r}\" is not in the graph"))?;
            is_root[v] = true;
        }
        if let Some(v) = (0..p.n).find(|&v| p.forced[v] && !is_root[v]) {
            return Err(format!(
                "\"{}\" must be a root (entry, isolated, isolated caller, or domain boundary)",
                p.names[v]
            ));
        }
        let expect = Plan::from_roots(&p, &is_root, &self.algorithm, self.optimal, self.seconds);
        if expect.cost != self.cost {
            return Err(format!(
                "cost is {}, the roots give {}",
                self.cost, expect.cost
            ));
        }
        for (g, e) in self.groups.iter().zip(&expect.groups) {
            let (a, b): (BTreeSet<_>, BTreeSet<_>) =
                (g.members.iter().collect(), e.members.iter().collect());
            if a != b {
                return Err(format!(
                    "group \"{}\": members differ from the closure of its root",
                    g.root
                ));
            }
            let (a, b): (BTreeSet<_>, BTreeSet<_>) =
                (g.edges.iter().collect(), e.edges.iter().collect());
            if a != b {
                return Err(format!(
                    "group \"{}\": edges differ from the graph's",
                    g.root
                ));
            }
            if !fits(e.memory, limits.memory) || !fits(e.cpu, limits.cpu) {
                return Err(format!(
                    "group \"{}\" needs memory {} / cpu {}, over the limits {} / {}",
                    g.root, e.memory, e.cpu, limits.memory, limits.cpu
                ));
            }
            if (g.memory - e.memory).abs() > 1e-6 * e.memory.max(1.0)
                || (g.cpu - e.cpu).abs() > 1e-6 * e.cpu.max(1.0)
            {
                return Err(format!(
                    "group \"{}\": stated loads differ from the graph's",
                    g.root
                ));
            }
        }
        Ok(())
    }

    /// The plan as pretty JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("plans serialize")
    }

    /// Writes the plan as JSON, atomically (temporary file, then rename).
    pub fn write(&self, path: &Path) -> Result<(), PlanError> {
        let mut text = self.to_json();
        text.push('\n');
        quilt_atomic_file::write(path, text.as_bytes()).map_err(|e| PlanError::Io {
            path: path.display().to_string(),
            message: format!("cannot write: {e}"),
        })
    }

    /// A group in the reference's funcTree format: one `caller callee` line per local call, the
    /// root's calls first, so the first token is the root. A group without local calls (a single
    /// function) is one line holding just the root's name: the reference's tooling collects every
    /// token of the file as a function to include, so that line names the one member.
    pub fn func_tree(group: &Group) -> String {
        if group.edges.is_empty() {
            return format!("{}\n", group.root);
        }
        group
            .edges
            .iter()
            .map(|(a, b)| format!("{a} {b}\n"))
            .collect()
    }

    /// Writes one funcTree file per group into `dir` (created if missing), named
    /// `funcTree.<root>`, each atomically. Returns the paths written.
    pub fn write_func_trees(&self, dir: &Path) -> Result<Vec<PathBuf>, PlanError> {
        let io = |p: &Path, e: std::io::Error| PlanError::Io {
            path: p.display().to_string(),
            message: e.to_string(),
        };
        std::fs::create_dir_all(dir).map_err(|e| io(dir, e))?;
        let mut written = Vec::new();
        for g in &self.groups {
            // A root names a file: nothing that leaves `dir` or hides in control characters.
            if g.root.is_empty()
                || g.root
                    .chars()
                    .any(|c| c == '/' || c == '\\' || c.is_control())
            {
                return Err(PlanError::Invalid {
                    path: dir.display().to_string(),
                    message: format!("group root {:?} cannot name a funcTree file", g.root),
                });
            }
            let path = dir.join(format!("funcTree.{}", g.root));
            quilt_atomic_file::write(&path, Plan::func_tree(g).as_bytes())
                .map_err(|e| io(&path, e))?;
            written.push(path);
        }
        Ok(written)
    }
}
