//! The `quilt plan` and `quilt experiment solver` commands, driven through their clap types.

use clap::{Parser, Subcommand};
use quilt_solver::cli::{self, PlanCommand, SolverExperimentArgs};
use quilt_solver::{CallGraph, Plan};
use serde_json::Value;

/// Stand-in for the `quilt` binary.
#[derive(Parser)]
struct Quilt {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    Plan(PlanCommand),
    Experiment {
        #[command(subcommand)]
        what: Exp,
    },
}

#[derive(Subcommand)]
enum Exp {
    Solver(SolverExperimentArgs),
}

fn run(args: &[&str]) -> anyhow::Result<()> {
    let q = Quilt::try_parse_from(std::iter::once("quilt").chain(args.iter().copied()))?;
    match q.cmd {
        Cmd::Plan(p) => cli::run(p),
        Cmd::Experiment {
            what: Exp::Solver(a),
        } => cli::run_experiment(a),
    }
}

#[test]
fn gen_then_plan_writes_plan_and_func_trees() {
    let dir = tempfile::tempdir().unwrap();
    let d = |name: &str| dir.path().join(name).to_string_lossy().into_owned();
    run(&[
        "plan",
        "gen",
        "--nodes",
        "30",
        "--seed",
        "4",
        "--out",
        &d("g.json"),
    ])
    .unwrap();
    let g = CallGraph::read(dir.path().join("g.json").as_path()).unwrap();
    assert_eq!(g.nodes.len(), 30);

    run(&[
        "plan",
        &d("g.json"),
        "--algorithm",
        "exact",
        "--out",
        &d("plan.json"),
        "--tree-dir",
        &d("trees"),
    ])
    .unwrap();
    let text = std::fs::read_to_string(dir.path().join("plan.json")).unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    for key in [
        "algorithm",
        "cost",
        "baseline_cost",
        "roots",
        "groups",
        "optimal",
        "seconds",
    ] {
        assert!(v.get(key).is_some(), "plan lacks {key}");
    }
    assert_eq!(v["algorithm"], "exact");
    assert_eq!(v["optimal"], true);
    let baseline: u64 = g.edges.iter().map(|e| e.weight).sum();
    assert_eq!(v["baseline_cost"].as_u64(), Some(baseline));
    let groups = v["groups"].as_array().unwrap();
    assert_eq!(groups.len(), v["roots"].as_array().unwrap().len());
    for grp in groups {
        for key in ["root", "members", "edges", "memory", "cpu"] {
            assert!(grp.get(key).is_some(), "group lacks {key}");
        }
        assert_eq!(grp["members"][0], grp["root"]);
        for e in grp["edges"].as_array().unwrap() {
            assert_eq!(e.as_array().unwrap().len(), 2, "edges are [caller, callee]");
        }
        assert!(grp["memory"].as_f64().unwrap() <= g.attrs.memory_limit.unwrap());
    }
    // The plan reads back, matches the graph, and the funcTrees start with their roots.
    let plan = Plan::read(&dir.path().join("plan.json")).unwrap();
    let limits = g.limits(None, None, None).unwrap();
    plan.verify(&g, &limits).unwrap();
    for grp in &plan.groups {
        let tree = std::fs::read_to_string(
            dir.path()
                .join("trees")
                .join(format!("funcTree.{}", grp.root)),
        )
        .unwrap();
        let first = tree.split_whitespace().next().unwrap();
        assert_eq!(first, grp.root);
        let tokens: std::collections::BTreeSet<&str> = tree.split_whitespace().collect();
        let members: std::collections::BTreeSet<&str> =
            grp.members.iter().map(String::as_str).collect();
        assert_eq!(
            tokens, members,
            "funcTree of {} names exactly its members",
            grp.root
        );
        assert_eq!(tree.lines().count(), grp.edges.len().max(1));
    }
    // No temporary files are left behind.
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().ends_with(".tmp"))
        .collect();
    assert!(leftovers.is_empty());
}

#[test]
fn flags_override_the_graph_and_errors_are_clear() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("g.json");
    std::fs::write(
        &path,
        r#"{"graph": {"memory_limit": 100, "cpu_limit": 100, "runs": 1},
            "nodes": [{"id": "a", "m": 10, "c": 10}, {"id": "b", "m": 10, "c": 10}],
            "links": [{"source": "a", "target": "b", "weight": 4, "type": "async"}]}"#,
    )
    .unwrap();
    let p = path.to_string_lossy().into_owned();
    let out = dir.path().join("p.json");
    let o = out.to_string_lossy().into_owned();
    // With runs = 1 the async penalty is 3·10, so the pair needs 50 and fits in 100 …
    run(&["plan", &p, "--out", &o]).unwrap();
    assert_eq!(Plan::read(&out).unwrap().cost, 0);
    // … but not in --memory 40; with --runs 4 the penalty vanishes and 20 fits again.
    run(&["plan", &p, "--memory", "40", "--out", &o]).unwrap();
    assert_eq!(Plan::read(&out).unwrap().cost, 4);
    run(&["plan", &p, "--memory", "40", "--runs", "4", "--out", &o]).unwrap();
    assert_eq!(Plan::read(&out).unwrap().cost, 0);

    let e = run(&["plan", &p, "--memory", "5"]).unwrap_err();
    assert!(
        format!("{e:#}").contains("infeasible: node a needs m=10 > M=5"),
        "{e:#}"
    );
    let e = run(&["plan", &dir.path().join("none.json").to_string_lossy()]).unwrap_err();
    assert!(format!("{e:#}").contains("none.json"), "{e:#}");
    assert!(run(&["plan"]).is_err(), "a graph is required");
    assert!(run(&["plan", &p, "--algorithm", "magic"]).is_err());

    std::fs::write(
        dir.path().join("bad.json"),
        "{\"algorithm\": \"x\",\n \"cost\": }",
    )
    .unwrap();
    let e = Plan::read(&dir.path().join("bad.json"))
        .unwrap_err()
        .to_string();
    assert!(e.contains("bad.json:2:"), "{e}");
}

#[test]
fn every_algorithm_name_parses_and_solves() {
    let dir = tempfile::tempdir().unwrap();
    let g = dir.path().join("g.json").to_string_lossy().into_owned();
    run(&[
        "plan",
        "gen",
        "--nodes",
        "12",
        "--seed",
        "1",
        "--constraint-factor",
        "1.5",
        "--out",
        &g,
    ])
    .unwrap();
    let mut costs = Vec::new();
    for alg in ["exact", "dih", "wd", "lns", "auto"] {
        let o = dir.path().join(format!("{alg}.json"));
        run(&[
            "plan",
            &g,
            "--algorithm",
            alg,
            "--seed",
            "3",
            "--out",
            &o.to_string_lossy(),
        ])
        .unwrap();
        costs.push((alg, Plan::read(&o).unwrap().cost));
    }
    let exact = costs[0].1;
    assert!(costs.iter().all(|&(_, c)| c >= exact), "{costs:?}");
}

#[test]
fn experiment_quick_writes_results() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("res");
    run(&[
        "experiment",
        "solver",
        "--quick",
        "--sizes",
        "5,12",
        "--trials",
        "2",
        "--out",
        &out.to_string_lossy(),
    ])
    .unwrap();
    for f in [
        "results.json",
        "results.csv",
        "summary.csv",
        "SUMMARY.md",
        "decision_time.svg",
        "optimality_gap.svg",
        "cost_ratio.svg",
    ] {
        let text = std::fs::read_to_string(out.join(f)).unwrap_or_else(|_| panic!("{f} missing"));
        assert!(!text.is_empty(), "{f} empty");
    }
    let csv = std::fs::read_to_string(out.join("results.csv")).unwrap();
    assert_eq!(
        csv.lines().count(),
        1 + 2 * 2 * 4,
        "one row per size × trial × algorithm"
    );
    let svg = std::fs::read_to_string(out.join("decision_time.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("exact"));
}

#[test]
fn experiment_runs_each_family_and_reports_the_bound() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("res");
    run(&[
        "experiment",
        "solver",
        "--families",
        "tight,heavy-async",
        "--sizes",
        "12",
        "--trials",
        "1",
        "--out",
        &out.to_string_lossy(),
    ])
    .unwrap();
    let csv = std::fs::read_to_string(out.join("results.csv")).unwrap();
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    let col = |name: &str| header.iter().position(|h| *h == name).unwrap();
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 2 * 4, "one row per family × algorithm");
    for family in ["tight", "heavy-async"] {
        assert!(rows.iter().any(|r| r[col("family")] == family), "{csv}");
    }
    for r in &rows {
        let (cost, bound): (u64, u64) = (
            r[col("cost")].parse().unwrap(),
            r[col("bound")].parse().unwrap(),
        );
        assert!(bound <= cost, "bound above a plan's cost: {r:?}");
    }
    let md = std::fs::read_to_string(out.join("SUMMARY.md")).unwrap();
    assert!(
        md.contains("| heavy-async |") && md.contains("bound gap"),
        "{md}"
    );
}
