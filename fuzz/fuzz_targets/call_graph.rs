//! Call graphs (networkx node-link JSON): any text either gives a one-line error naming its origin,
//! or a graph that survives a round trip through the writer; small graphs are then solved and the
//! plan must verify against the graph.
#![no_main]

use libfuzzer_sys::fuzz_target;
use quilt_solver::{solve, Algorithm, CallGraph, SolveOptions};
use std::time::Duration;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let g = match CallGraph::from_json_str(text, "fuzz.json") {
        Ok(g) => g,
        Err(e) => {
            let msg = e.to_string();
            assert!(msg.starts_with("fuzz.json"), "{msg}");
            return;
        }
    };
    let again = CallGraph::from_json_str(&g.to_json().to_string(), "again")
        .expect("a graph the writer wrote reads back");
    assert_eq!(again, g, "round trip");
    if g.nodes.len() > 12 {
        return;
    }
    let Ok(limits) = g.limits(None, None, None) else {
        return;
    };
    for algorithm in [Algorithm::Exact, Algorithm::Lns] {
        let opts = SolveOptions {
            algorithm,
            time_limit: Duration::from_millis(20),
            seed: 1,
        };
        if let Ok(plan) = solve(&g, &limits, &opts) {
            plan.verify(&g, &limits)
                .unwrap_or_else(|e| panic!("{algorithm:?} plan does not verify: {e}"));
        }
    }
});
