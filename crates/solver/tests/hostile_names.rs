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
