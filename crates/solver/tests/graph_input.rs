//! Reading call graphs: accepted forms and one clear line per kind of bad input.

mod common;

use quilt_solver::{solve, CallGraph, CallKind, SolveOptions, SolverError};

fn err(json: &str) -> String {
    let e = CallGraph::from_json_str(json, "g.json").expect_err("should be rejected");
    let msg = e.to_string();
    assert!(!msg.contains('\n'), "error is one line: {msg}");
    assert!(msg.starts_with("g.json"), "error names the file: {msg}");
    msg
}

const NODES: &str =
    r#"[{"id": "a", "m": 1, "c": 1}, {"id": "b", "m": 1, "c": 1}, {"id": "c", "m": 1, "c": 1}]"#;

fn with_links(links: &str) -> String {
    format!(r#"{{"directed": true, "graph": {{}}, "nodes": {NODES}, "links": {links}}}"#)
}

#[test]
fn accepts_links_or_edges_integer_ids_and_extra_fields() {
    let g = common::graph(
        r#"{"directed": true, "multigraph": false, "graph": {"memory_limit": 5, "cpu_limit": 6, "runs": 2},
            "nodes": [{"id": 0, "m": 1, "c": 2, "extra": "x"}, {"id": "f", "m": 3.5, "c": 4, "domain": "d"}],
            "edges": [{"source": 0, "target": "f", "weight": 7, "type": "async", "key": 0, "latency": 1.5}]}"#,
    );
    assert_eq!(g.nodes[0].id, "0");
    assert_eq!(g.nodes[1].domain.as_deref(), Some("d"));
    assert_eq!(g.edges[0].kind, CallKind::Async);
    assert_eq!(g.edges[0].weight, 7);
    let l = g.limits(None, Some(9.0), None).unwrap();
    assert_eq!((l.memory, l.cpu, l.runs), (5.0, 9.0, 2));
    // Round trip through the writer.
    let again = CallGraph::from_json_str(&g.to_json().to_string(), "x").unwrap();
    assert_eq!(again, g);
}

#[test]
fn cycle_names_its_nodes() {
    let msg = err(&with_links(
        r#"[{"source": "a", "target": "b", "weight": 1}, {"source": "b", "target": "c", "weight": 1},
            {"source": "c", "target": "b", "weight": 1}]"#,
    ));
    assert!(msg.contains("cycle"), "{msg}");
    assert!(
        msg.contains("b -> c -> b") || msg.contains("c -> b -> c"),
        "{msg}"
    );
    let msg = err(&with_links(
        r#"[{"source": "a", "target": "a", "weight": 1}]"#,
    ));
    assert!(msg.contains("cycle: a -> a"), "{msg}");
}

#[test]
fn needs_a_single_entry() {
    let msg = err(&with_links(
        r#"[{"source": "a", "target": "b", "weight": 1}]"#,
    ));
    assert!(msg.contains("no single entry node"), "{msg}");
    assert!(msg.contains("\"a\"") && msg.contains("\"c\""), "{msg}");
}

#[test]
fn unknown_node() {
    let msg = err(&with_links(
        r#"[{"source": "a", "target": "zz", "weight": 1}]"#,
    ));
    assert!(
        msg.contains("links[0]") && msg.contains("unknown node \"zz\""),
        "{msg}"
    );
}

#[test]
fn bad_weights() {
    let msg = err(&with_links(
        r#"[{"source": "a", "target": "b", "weight": -3}]"#,
    ));
    assert!(
        msg.contains("negative weight -3") && msg.contains("a -> b"),
        "{msg}"
    );
    let msg = err(&with_links(
        r#"[{"source": "a", "target": "b", "weight": 2.5}]"#,
    ));
    assert!(
        msg.contains("non-negative integer") && msg.contains("2.5"),
        "{msg}"
    );
    let msg = err(&with_links(
        r#"[{"source": "a", "target": "b", "weight": "7"}]"#,
    ));
    assert!(msg.contains("non-negative integer"), "{msg}");
    let msg = err(&with_links(
        r#"[{"source": "a", "target": "b", "weight": 1, "type": "later"}]"#,
    ));
    assert!(msg.contains("\"sync\" or \"async\""), "{msg}");
}

#[test]
fn syntax_error_has_path_line_and_column() {
    let e = CallGraph::from_json_str("{\n  \"nodes\": [\n    {\"id\": 1,, }\n]}", "dir/g.json")
        .unwrap_err();
    let msg = e.to_string();
    assert!(msg.starts_with("dir/g.json:3:"), "{msg}");
    assert!(msg.contains("JSON syntax error"), "{msg}");
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nope.json");
    let msg = CallGraph::read(&missing).unwrap_err().to_string();
    assert!(
        msg.contains("nope.json") && msg.contains("cannot read"),
        "{msg}"
    );
}

#[test]
fn node_alone_over_a_limit_is_infeasible() {
    let g = common::graph(
        r#"{"graph": {"memory_limit": 50, "cpu_limit": 50},
            "nodes": [{"id": "a", "m": 10, "c": 10}, {"id": "big", "m": 80, "c": 10}],
            "links": [{"source": "a", "target": "big", "weight": 1}]}"#,
    );
    let limits = g.limits(None, None, None).unwrap();
    let e = solve(&g, &limits, &SolveOptions::default()).unwrap_err();
    assert!(matches!(e, SolverError::NodeTooLarge { .. }));
    assert_eq!(e.to_string(), "infeasible: node big needs m=80 > M=50");
    let limits = g.limits(Some(100.0), Some(5.0), None).unwrap();
    let e = solve(&g, &limits, &SolveOptions::default()).unwrap_err();
    assert_eq!(e.to_string(), "infeasible: node a needs c=10 > C=5");
}

#[test]
fn missing_fields_and_limits() {
    let msg = err(r#"{"nodes": [{"id": "a", "c": 1}]}"#);
    assert!(
        msg.contains("nodes[0]") && msg.contains("missing \"m\""),
        "{msg}"
    );
    let msg = err(r#"{"nodes": [{"id": "a", "m": -1, "c": 1}]}"#);
    assert!(msg.contains("non-negative"), "{msg}");
    let msg = err(r#"{"directed": false, "nodes": []}"#);
    assert!(msg.contains("directed"), "{msg}");
    let msg = err(r#"{"nodes": [{"id": "a", "m": 1, "c": 1}, {"id": "a", "m": 1, "c": 1}]}"#);
    assert!(msg.contains("duplicate node id \"a\""), "{msg}");
    let g = common::graph(r#"{"nodes": [{"id": "a", "m": 1, "c": 1}]}"#);
    let e = g.limits(None, Some(1.0), None).unwrap_err().to_string();
    assert!(e.contains("memory limit") && e.contains("--memory"), "{e}");
    assert!(g.limits(Some(-1.0), Some(1.0), None).is_err());
}

#[test]
fn duplicate_edges_are_refused_naming_the_pair() {
    let msg = err(&with_links(
        r#"[{"source": "a", "target": "b", "weight": 1}, {"source": "a", "target": "c", "weight": 2},
            {"source": "a", "target": "b", "weight": 4, "type": "async"}]"#,
    ));
    assert!(
        msg.contains("links[2]") && msg.contains("links[0]"),
        "{msg}"
    );
    assert!(msg.contains("duplicate edge a -> b"), "{msg}");
    // A graph built in code is checked too, before solving.
    let mut g = common::graph(&with_links(
        r#"[{"source": "a", "target": "b", "weight": 1}, {"source": "a", "target": "c", "weight": 2}]"#,
    ));
    g.edges.push(g.edges[0].clone());
    let limits = quilt_solver::Limits {
        memory: 10.0,
        cpu: 10.0,
        runs: 1,
    };
    let e = solve(&g, &limits, &SolveOptions::default()).unwrap_err();
    assert!(e.to_string().contains("duplicate edge a -> b"), "{e}");
}
