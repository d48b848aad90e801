//! The reference's funcTree format: one `caller callee` pair per line; the first token of the first
//! line is the root. A line with a single name adds that function without an edge.

use quilt_manifest::check_name;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

/// A merge group read from a funcTree file or a plan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tree {
    /// Where the group came from (for errors).
    pub source: PathBuf,
    /// The entry of the group.
    pub root: String,
    /// Every function of the group, root first, in order of appearance.
    pub members: Vec<String>,
    /// `(caller, callee, line)` edges, duplicates removed.
    pub edges: Vec<(String, String, usize)>,
}

/// A malformed tree, naming file and line.
#[derive(Debug, thiserror::Error)]
#[error("{}{}: {message}", file.display(), line.map(|l| format!(":{l}")).unwrap_or_default())]
pub struct TreeError {
    /// The tree file.
    pub file: PathBuf,
    /// The 1-based line, when the error has one.
    pub line: Option<usize>,
    /// What is wrong.
    pub message: String,
}

impl Tree {
    /// Reads a funcTree file.
    pub fn read(path: &Path) -> Result<Tree, TreeError> {
        let text = std::fs::read_to_string(path).map_err(|e| TreeError {
            file: path.to_path_buf(),
            line: None,
            message: format!("cannot read: {e}"),
        })?;
        Tree::parse(path, &text)
    }

    /// Parses funcTree text; `path` names it in errors.
    pub fn parse(path: &Path, text: &str) -> Result<Tree, TreeError> {
        let err = |line: Option<usize>, message: String| TreeError {
            file: path.to_path_buf(),
            line,
            message,
        };
        let mut members: Vec<String> = Vec::new();
        let mut edges = Vec::new();
        let mut seen_edges = HashSet::new();
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            let tokens: Vec<&str> = raw.split_whitespace().collect();
            if tokens.is_empty() || tokens[0].starts_with('#') {
                continue;
            }
            if tokens.len() > 2 {
                return Err(err(
                    Some(line),
                    format!("expected `caller callee`, found {} names", tokens.len()),
                ));
            }
            for t in &tokens {
                check_name(t).map_err(|m| err(Some(line), format!("bad function name: {m}")))?;
                if !members.iter().any(|m| m == t) {
                    members.push(t.to_string());
                }
            }
            if let [caller, callee] = tokens[..] {
                if caller == callee {
                    return Err(err(Some(line), format!("cycle: '{caller}' calls itself")));
                }
                if seen_edges.insert((caller.to_string(), callee.to_string())) {
                    edges.push((caller.to_string(), callee.to_string(), line));
                }
            }
        }
        let Some(root) = members.first().cloned() else {
            return Err(err(None, "empty tree: no `caller callee` line".into()));
        };
        let tree = Tree {
            source: path.to_path_buf(),
            root,
            members,
            edges,
        };
        if let Some(cycle) = tree.find_cycle() {
            return Err(err(None, format!("cycle: {}", cycle.join(" -> "))));
        }
        if let Some((name, line)) = tree.unreachable() {
            return Err(err(
                Some(line),
                format!("'{name}' is not reachable from the root '{}'", tree.root),
            ));
        }
        Ok(tree)
    }

    fn callees(&self) -> HashMap<&str, Vec<&str>> {
        let mut out: HashMap<&str, Vec<&str>> = HashMap::new();
        for (a, b, _) in &self.edges {
            out.entry(a.as_str()).or_default().push(b.as_str());
        }
        out
    }

    /// A cycle, as the names along it (first repeated at the end).
    fn find_cycle(&self) -> Option<Vec<String>> {
        let callees = self.callees();
        // 0 = unvisited, 1 = on the current path, 2 = done
        let mut state: HashMap<&str, u8> = HashMap::new();
        let mut path: Vec<&str> = Vec::new();
        fn visit<'a>(
            n: &'a str,
            callees: &HashMap<&'a str, Vec<&'a str>>,
            state: &mut HashMap<&'a str, u8>,
            path: &mut Vec<&'a str>,
        ) -> Option<Vec<String>> {
            state.insert(n, 1);
            path.push(n);
            for &m in callees.get(n).map(Vec::as_slice).unwrap_or(&[]) {
                match state.get(m).copied().unwrap_or(0) {
                    1 => {
                        let start = path.iter().position(|p| *p == m).unwrap();
                        let mut cycle: Vec<String> =
                            path[start..].iter().map(|s| s.to_string()).collect();
                        cycle.push(m.to_string());
                        return Some(cycle);
                    }
                    0 => {
                        if let Some(c) = visit(m, callees, state, path) {
                            return Some(c);
                        }
                    }
                    _ => {}
                }
            }
            path.pop();
            state.insert(n, 2);
            None
        }
        for m in &self.members {
            if state.get(m.as_str()).copied().unwrap_or(0) == 0 {
                if let Some(c) = visit(m, &callees, &mut state, &mut path) {
                    return Some(c);
                }
            }
        }
        None
    }

    /// The first member not reachable from the root, with the line that names it.
    fn unreachable(&self) -> Option<(String, usize)> {
        let callees = self.callees();
        let mut reached: HashSet<&str> = HashSet::from([self.root.as_str()]);
        let mut stack = vec![self.root.as_str()];
        while let Some(n) = stack.pop() {
            for &m in callees.get(n).map(Vec::as_slice).unwrap_or(&[]) {
                if reached.insert(m) {
                    stack.push(m);
                }
            }
        }
        self.members
            .iter()
            .find(|m| !reached.contains(m.as_str()))
            .map(|m| {
                let line = self
                    .edges
                    .iter()
                    .find(|(a, b, _)| a == m || b == m)
                    .map_or(1, |e| e.2);
                (m.clone(), line)
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Tree, String> {
        Tree::parse(Path::new("t.tree"), text).map_err(|e| e.to_string())
    }

    #[test]
    fn reads_the_reference_format() {
        let t = parse("compose-post text-service \ncompose-post media-service\ntext-service url-shorten-service\ncompose-post text-service\n").unwrap();
        assert_eq!(t.root, "compose-post");
        assert_eq!(
            t.members,
            [
                "compose-post",
                "text-service",
                "media-service",
                "url-shorten-service"
            ]
        );
        assert_eq!(t.edges.len(), 3, "duplicate edge merged once");
    }

    #[test]
    fn single_name_line_is_a_lone_group() {
        let t = parse("solo\n").unwrap();
        assert_eq!(t.members, ["solo"]);
        assert!(t.edges.is_empty());
    }

    #[test]
    fn errors_name_file_line_and_what() {
        assert!(parse("").unwrap_err().contains("empty tree"));
        assert!(parse("\n\n").unwrap_err().starts_with("t.tree: empty"));
        let e = parse("a b\nb c\nc a\n").unwrap_err();
        assert!(e.contains("cycle: a -> b -> c -> a"), "{e}");
        let e = parse("a b\nb B\n").unwrap_err();
        assert!(e.starts_with("t.tree:2:"), "{e}");
        let e = parse("a b c\n").unwrap_err();
        assert!(e.starts_with("t.tree:1:") && e.contains("3 names"), "{e}");
        let e = parse("a b\nc d\n").unwrap_err();
        assert!(e.contains("'c' is not reachable"), "{e}");
        let e = parse("a ../etc\n").unwrap_err();
        assert!(e.contains("bad function name"), "{e}");
    }
}
