//! Node ids that could escape a folder: a plan whose group root climbs out of the funcTree folder
//! or hides control characters is refused instead of written.

use quilt_solver::{solve, CallGraph, SolveOptions};

fn plan_with_root(id: &str) -> quilt_solver::Plan {
    let json = serde_json::json!({
        "directed": true,
        "graph": {"memory_limit": 1, "cpu_limit": 1, "runs": 1},
        "nodes": [{"id": id, "m": 1, "c": 1}],
        "links": []
    });
    let g = CallGraph::from_json_str(&json.to_string(), "g.json").unwrap();
    let limits = g.limits(None, None, None).unwrap();
    solve(&g, &limits, &SolveOptions::default()).unwrap()
}

#[test]
fn func_tree_files_are_never_written_outside_their_folder() {
    let dir = tempfile::tempdir().unwrap();
    let trees = dir.path().join("trees");
    for bad in [
        "a/../../../escaped",
        "/etc/x",
        "x\u{1b}[2J",
        "a\\b",
        "tab\u{7}",
    ] {
        let plan = plan_with_root(bad);
        let e = plan.write_func_trees(&trees).unwrap_err().to_string();
        assert!(e.contains("cannot name a funcTree file"), "{bad:?}: {e}");
    }
    assert!(!dir.path().join("escaped").exists());
    // Ordinary ids (strings or networkx integers) still work.
    for good in ["compose-post", "7", "Upper_Case.v2"] {
        let written = plan_with_root(good).write_func_trees(&trees).unwrap();
        assert_eq!(written, [trees.join(format!("funcTree.{good}"))]);
    }
}

/// Found by `fuzz/` (call_graph): a resource with 17 significant digits read back 1 ulp off after a
/// round trip through the writer, so a plan could be checked against other numbers than profiled.
#[test]
fn fuzz_regression_graph_numbers_round_trip_exactly() {
    for m in [
        "2222222222262222222222222222222222222222222222222222222222222222222222222222222.809",
        "2.2222222222622227e78",
        "0.30000000000000004",
        "1e-300",
        "123456789.12345678",
    ] {
        let json = format!(
            r#"{{"directed": true, "graph": {{"memory_limit": 1e300, "cpu_limit": 1}},
                "nodes": [{{"id": "a", "m": {m}, "c": 0}}], "links": []}}"#
        );
        let g = CallGraph::from_json_str(&json, "g.json").unwrap();
        let again = CallGraph::from_json_str(&g.to_json().to_string(), "again").unwrap();
        assert_eq!(again, g, "{m}");
        assert_eq!(g.nodes[0].m, m.parse::<f64>().unwrap(), "{m}: read exactly");
    }
}
