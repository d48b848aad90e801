//! `quilt plan --explain`: the rule or limit behind each call a plan leaves remote.

use quilt_solver::{explain, solve, CallGraph, Plan, Reason, SolveOptions};

const GRAPH: &str = r#"{"directed": true, "graph": {"memory_limit": 60, "cpu_limit": 4, "runs": 1},
 "nodes": [{"id": "a", "m": 10, "c": 0.1}, {"id": "b", "m": 55, "c": 0.1},
           {"id": "c", "m": 10, "c": 0.1, "domain": "payments"},
           {"id": "d", "m": 5, "c": 0.1, "isolate": true}, {"id": "e", "m": 5, "c": 0.1}],
 "links": [{"source": "a", "target": "b", "weight": 5, "type": "sync"},
           {"source": "a", "target": "c", "weight": 3, "type": "sync"},
           {"source": "a", "target": "d", "weight": 2, "type": "sync"},
           {"source": "a", "target": "e", "weight": 1, "type": "sync"}]}"#;

#[test]
fn each_remote_call_names_the_rule_or_limit_that_keeps_it_remote() {
    let graph = CallGraph::from_json_str(GRAPH, "test graph").unwrap();
    let limits = graph.limits(None, None, None).unwrap();
    let plan = solve(&graph, &limits, &SolveOptions::default()).unwrap();
    assert!(plan.optimal);
    let remote = explain(&graph, &limits, &plan).unwrap();
    let reasons: Vec<(&str, &Reason)> = remote
        .iter()
        .map(|r| (r.callee.as_str(), &r.reason))
        .collect();
    assert_eq!(
        reasons,
        [
            (
                "b",
                &Reason::Limit {
                    group: "a".into(),
                    resource: "memory",
                    need: 70.0,
                    limit: 60.0
                }
            ),
            (
                "c",
                &Reason::Domains {
                    from: "a".into(),
                    caller: None,
                    callee: Some("payments".into())
                }
            ),
            (
                "d",
                &Reason::Isolated {
                    function: "d".into()
                }
            ),
        ]
    );
    assert_eq!(
        remote[0].reason.to_string(),
        "memory limit: the group of 'a' would need 70 > 60"
    );

    // A plan that leaves a call remote for no reason says so.
    let every_root = Plan {
        roots: ["a", "b", "c", "d", "e"].map(String::from).to_vec(),
        ..plan
    };
    let remote = explain(&graph, &limits, &every_root).unwrap();
    let e = remote.iter().find(|r| r.callee == "e").unwrap();
    assert_eq!(e.reason, Reason::NotBlocked);

    // A root the graph does not have is an error that names it.
    let unknown = Plan {
        roots: vec!["a".into(), "zz".into()],
        ..every_root
    };
    let err = explain(&graph, &limits, &unknown).unwrap_err().to_string();
    assert!(err.contains("'zz'"), "{err}");
}

/// A callee kept remote because another caller reaches it across domains.
#[test]
fn a_rule_set_off_by_another_caller_is_named() {
    let graph = CallGraph::from_json_str(
        r#"{"directed": true, "graph": {"memory_limit": 100, "cpu_limit": 4, "runs": 1},
 "nodes": [{"id": "a", "m": 1, "c": 0.1}, {"id": "p", "m": 1, "c": 0.1, "domain": "payments"},
           {"id": "c", "m": 1, "c": 0.1}],
 "links": [{"source": "a", "target": "p", "weight": 1, "type": "sync"},
           {"source": "a", "target": "c", "weight": 1, "type": "sync"},
           {"source": "p", "target": "c", "weight": 1, "type": "sync"}]}"#,
        "test graph",
    )
    .unwrap();
    let limits = graph.limits(None, None, None).unwrap();
    let plan = solve(&graph, &limits, &SolveOptions::default()).unwrap();
    let remote = explain(&graph, &limits, &plan).unwrap();
    let a_to_c = remote
        .iter()
        .find(|r| r.caller == "a" && r.callee == "c")
        .expect("a -> c stays remote: c is called from the payments domain");
    assert_eq!(
        a_to_c.reason,
        Reason::Domains {
            from: "p".into(),
            caller: Some("payments".into()),
            callee: None
        }
    );
}
