//! `quilt experiment <name> --smoke`: each experiment end to end through the `quilt` binary, with
//! its output files and the shape of its JSON checked. The experiments on tests/apps/faults and
//! examples always run; those on the benchmark apps run when the app's folder exists and builds.
//! Experiments run one at a time, across test processes too (they measure; two at once on two cores
//! would only measure each other). Merged binaries are cached by the experiments, so a second run merges nothing.

use quilt_harness::cli::quilt;
use quilt_harness::{named_lock, root};
use serde_json::Value;

/// Whether a benchmark app is there and builds; says why not on stderr.
fn app_builds(rel: &str) -> bool {
    let dir = root().join(rel);
    if !dir.join("quilt.toml").is_file() {
        eprintln!("skipped: {rel} does not exist yet");
        return false;
    }
    let out = {
        let _lock = quilt_harness::build_lock(&dir);
        quilt().arg("build").arg(&dir).output().unwrap()
    };
    if !out.status.success() {
        eprintln!(
            "skipped: {rel} does not build:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        return false;
    }
    true
}

/// Runs `quilt experiment <name> --smoke` into a temporary folder; checks the files and the JSON
/// every experiment writes, and returns the JSON.
fn smoke(name: &str, columns: &[&str]) -> (tempfile::TempDir, Value) {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join(name);
    let run = quilt()
        .args(["experiment", name, "--smoke", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{name} failed:\n{stderr}");
    let stdout = String::from_utf8_lossy(&run.stdout);
    for file in [
        format!("{name}.json"),
        format!("{name}.csv"),
        format!("{name}.svg"),
        "summary.md".into(),
    ] {
        let path = out.join(&file);
        assert!(path.is_file(), "{name}: no {file}\n{stderr}");
        assert!(
            stdout.contains(&format!("wrote {}", path.display())) || file.ends_with(".svg"),
            "{name}: {file} not reported:\n{stdout}"
        );
    }
    let json: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join(format!("{name}.json"))).unwrap())
            .unwrap();
    assert_eq!(json["experiment"], name);
    assert_eq!(json["mode"], "smoke");
    assert_eq!(json["partial"], Value::Null, "{json:#}");
    assert!(json["command"]
        .as_str()
        .unwrap()
        .starts_with(&format!("quilt experiment {name} --smoke")));
    assert!(json["machine"]["cores"].as_u64().unwrap() >= 1);
    assert!(json["seconds"].as_f64().unwrap() > 0.0);
    assert!(json["config"].is_object() && json["summary"].is_object());
    let rows = json["rows"].as_array().unwrap();
    assert!(!rows.is_empty(), "{name}: no rows");
    for r in rows {
        for c in columns {
            assert!(r.get(*c).is_some(), "{name}: row without '{c}': {r}");
        }
    }
    let csv = std::fs::read_to_string(out.join(format!("{name}.csv"))).unwrap();
    let mut lines = csv.lines();
    let header: Vec<&str> = lines.next().unwrap().split(',').collect();
    for c in columns {
        assert!(
            header.contains(c),
            "{name}: CSV header lacks {c}: {header:?}"
        );
    }
    assert_eq!(lines.count(), rows.len(), "{name}: one CSV line per row");
    let svg = std::fs::read_to_string(out.join(format!("{name}.svg"))).unwrap();
    assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    let md = std::fs::read_to_string(out.join("summary.md")).unwrap();
    for part in [
        "- Command: `quilt experiment",
        "- Machine: ",
        "cores",
        "## Results",
    ] {
        assert!(md.contains(part), "{name}: summary lacks {part:?}:\n{md}");
    }
    (dir, json)
}

fn rows_where<'a>(json: &'a Value, key: &str, value: &str) -> Vec<&'a Value> {
    json["rows"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r[key] == value)
        .collect()
}

const BENCH_COLUMNS: &[&str] = &["requests", "errors", "throughput_rps", "p50_ms", "p99_ms"];

#[test]
fn tracing_on_and_off_over_a_connection_sweep() {
    let _serial = named_lock("experiments");
    let cols: Vec<&str> = ["route", "tracing", "connections"]
        .iter()
        .chain(BENCH_COLUMNS)
        .copied()
        .collect();
    let (_dir, json) = smoke("tracing", &cols);
    for t in ["off", "on"] {
        let rows = rows_where(&json, "tracing", t);
        assert_eq!(rows.len(), 2, "two connection counts with tracing {t}");
        for r in rows {
            assert_eq!(r["route"], "noop");
            assert!(r["requests"].as_u64().unwrap() > 0, "{r}");
            assert_eq!(r["errors"], 0, "{r}");
            assert!(r["p50_ms"].as_f64().unwrap() > 0.0);
        }
    }
    assert!(json["summary"]["noop"]["peak_rps_on"].as_f64().unwrap() > 0.0);
}

#[test]
fn cold_start_counts_three_cold_starts_unmerged_and_one_merged() {
    let _serial = named_lock("experiments");
    let (_dir, json) = smoke(
        "cold-start",
        &[
            "rep",
            "deployment",
            "status",
            "cold_ms",
            "warm_ms",
            "instance_starts",
        ],
    );
    for (deployment, starts) in [("baseline", 3), ("merged", 1)] {
        let rows = rows_where(&json, "deployment", deployment);
        assert_eq!(rows.len(), 2, "{deployment}: two repetitions");
        for r in rows {
            assert_eq!(r["status"], 200);
            assert_eq!(r["instance_starts"], starts, "{r}");
            assert!(r["cold_ms"].as_f64().unwrap() > 0.0);
        }
    }
    let s = &json["summary"];
    assert_eq!(s["instance_starts_median"]["baseline"], 3.0);
    assert!(s["cold_ms_median"]["merged"].as_f64().unwrap() > 0.0);
    assert_eq!(json["extra"]["merge"]["name"], "hello-merged");
}

#[test]
fn conditional_fanout_stays_under_the_memory_limit_where_unconditional_does_not() {
    let _serial = named_lock("experiments");
    let cols: Vec<&str> = [
        "fanout",
        "deployment",
        "failed_pct",
        "peak_mb_entry",
        "peak_mb_work",
        "memory_limit_mb",
        "crashes",
    ]
    .iter()
    .chain(BENCH_COLUMNS)
    .copied()
    .collect();
    let (_dir, json) = smoke("conditional", &cols);
    let find = |k: u64, d: &str| {
        json["rows"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["fanout"] == k && r["deployment"] == d)
            .unwrap_or_else(|| panic!("no row for fan-out {k}, {d}"))
            .clone()
    };
    for k in [5, 13] {
        for d in ["baseline", "quilt-threshold-6"] {
            let r = find(k, d);
            assert_eq!(r["errors"], 0, "{r}");
            assert!(r["requests"].as_u64().unwrap() > 0, "{r}");
        }
    }
    assert_eq!(find(5, "no-conditional")["errors"], 0);
    // 13 local executions of 40 MiB do not fit the merged deployment's 400 MiB.
    let unconditional = find(13, "no-conditional");
    if quilt_platform::Enforcement::detect().enforced() {
        // The merged instance is OOM-killed and requests fail. Not every request: on a loaded
        // machine the 13 executions may start so far apart that the first have let go of their
        // memory before the last take theirs (a CI run answered 1 of 16 requests after 18
        // crashes; at load 24, 2 of 4 took 0.5 s each and 2 failed).
        assert!(
            unconditional["errors"].as_u64().unwrap() > 0,
            "{unconditional}"
        );
        assert!(
            unconditional["crashes"].as_u64().unwrap() > 0,
            "{unconditional}"
        );
    }
    // With the threshold, at most 6 run in the merged instance: well under its limit.
    let t = find(13, "quilt-threshold-6");
    assert!(t["peak_mb_entry"].as_f64().unwrap() < 400.0, "{t}");
}

#[test]
fn merge_time_reports_stage_times_and_sizes() {
    let _serial = named_lock("experiments");
    let (_dir, json) = smoke(
        "merge-time",
        &[
            "app",
            "workflow",
            "members",
            "compile_s",
            "merge_s",
            "optimize_s",
            "link_s",
            "total_s",
            "merged_kib",
            "originals_kib",
        ],
    );
    let r = &json["rows"][0];
    assert_eq!(r["app"], "hello");
    assert_eq!(r["members"], 3);
    assert!(r["link_s"].as_f64().unwrap() > 0.0);
    assert!(r["merged_kib"].as_u64().unwrap() > 0);
    assert!(r["originals_kib"].as_u64().unwrap() > r["merged_kib"].as_u64().unwrap());
}

#[test]
fn latency_on_the_social_network_when_it_builds() {
    let _serial = named_lock("experiments");
    if !app_builds("apps/social-network") {
        return;
    }
    let cols: Vec<&str> = ["app", "workflow", "variant", "deployment", "route"]
        .iter()
        .chain(BENCH_COLUMNS)
        .copied()
        .collect();
    let (_dir, json) = smoke("latency", &cols);
    let base = rows_where(&json, "deployment", "baseline");
    let merged = rows_where(&json, "deployment", "merged");
    assert_eq!((base.len(), merged.len()), (1, 1));
    assert_eq!(merged[0]["route"], "read-home-timeline-merged");
    for r in base.iter().chain(&merged) {
        assert!(r["requests"].as_u64().unwrap() > 0, "{r}");
    }
    assert!(json["summary"]["read-home-timeline/sync"]["p50_change"].is_number());
}

#[test]
fn throughput_sweep_on_the_social_network_when_it_builds() {
    let _serial = named_lock("experiments");
    if !app_builds("apps/social-network") {
        return;
    }
    let cols: Vec<&str> = ["variant", "deployment", "route", "connections"]
        .iter()
        .chain(BENCH_COLUMNS)
        .copied()
        .collect();
    let (_dir, json) = smoke("throughput", &cols);
    for (d, route) in [
        ("baseline", "text-service"),
        ("merged", "text-service-merged"),
        ("container", "container-merge-text-service"),
    ] {
        let rows = rows_where(&json, "deployment", d);
        assert_eq!(rows.len(), 2, "{d}: two connection counts");
        for r in rows {
            assert_eq!(r["route"], route);
            assert!(r["requests"].as_u64().unwrap() > 0, "{r}");
        }
    }
    assert!(json["summary"]["sync"]["merged_over_baseline"].is_number());
}

#[test]
fn fanout_cpu_on_the_hotel_app_when_it_builds() {
    let _serial = named_lock("experiments");
    if !app_builds("apps/hotel-reservation") {
        return;
    }
    let cols: Vec<&str> = ["deployment", "route", "connections"]
        .iter()
        .chain(BENCH_COLUMNS)
        .copied()
        .collect();
    let installed = || {
        let dir = root().join("apps/hotel-reservation/.quilt/merged");
        // Every file's name, and what each deployment file says (members, limits).
        let mut files: Vec<(String, String)> = std::fs::read_dir(&dir)
            .map(|d| {
                d.filter_map(|e| {
                    let path = e.ok()?.path();
                    let name = path.file_name()?.to_str()?.to_string();
                    let said = if name.ends_with(".json") {
                        std::fs::read_to_string(&path).ok()?
                    } else {
                        String::new()
                    };
                    Some((name, said))
                })
                .collect()
            })
            .unwrap_or_default();
        files.sort();
        files
    };
    let before = installed();
    let (_dir, json) = smoke("fanout-cpu", &cols);
    for d in ["baseline", "merge-all", "split", "solver"] {
        let rows = rows_where(&json, "deployment", d);
        assert_eq!(rows.len(), 2, "{d}");
        for r in rows {
            assert!(r["requests"].as_u64().unwrap() > 0, "{r}");
        }
    }
    assert_eq!(json["config"]["cpu_per_instance"], 1.0);
    assert!(json["summary"]["peak_change"]["split"].is_number());
    assert!(json["summary"]["peak_change"]["solver"].is_number());
    // The solver's plan was made against the deployment's limits and is recorded with its merges.
    let plan = &json["extra"]["solver_plan"];
    assert_eq!(plan["cpu_limit"], 1.0);
    assert!(plan["plan"]["groups"]
        .as_array()
        .is_some_and(|g| !g.is_empty()));
    assert!(json["extra"]["solver_merges"].is_array());
    // The solver's groups were merged aside: the app's merged deployments are as they were, but
    // for merge-all's and the split's, which the run installs (another test may have installed the
    // split's unit B serving its root's route); those hold the members the run merged, not the
    // solver's groups, whose roots may be the same.
    let by_design = [
        ("nearby-cinema-top-merged", "nearby-cinema-top.tree"),
        ("nearby-cinema-top-2-merged", "nearby-cinema-top-2.tree"),
        (
            "nearby-cinema-parallel-2-2-merged",
            "nearby-cinema-parallel-2-2.tree",
        ),
    ];
    let installed_by_design = |name: &str| {
        by_design
            .iter()
            .any(|(d, _)| name == *d || name == format!("{d}.json"))
    };
    let others = |files: Vec<(String, String)>| -> Vec<(String, String)> {
        files
            .into_iter()
            .filter(|(name, _)| !installed_by_design(name))
            .collect()
    };
    let after = installed();
    assert_eq!(
        others(after.clone()),
        others(before),
        "the app's installed merged deployments changed"
    );
    for (name, tree) in by_design {
        let tree = quilt_merge::tree::Tree::read(
            &root().join("apps/hotel-reservation/workflows").join(tree),
        )
        .unwrap();
        let said = &after
            .iter()
            .find(|(f, _)| *f == format!("{name}.json"))
            .unwrap_or_else(|| panic!("{name} is installed"))
            .1;
        let members: serde_json::Value =
            serde_json::from_str::<serde_json::Value>(said).unwrap()["members"].clone();
        assert_eq!(members, serde_json::json!(tree.members), "{name}");
    }
}

#[test]
fn unknown_names_and_bad_limits_are_refused() {
    let out = quilt()
        .args(["experiment", "fanout-cpu", "--cpu", "0", "--smoke"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--cpu and --memory must be positive"));
    let out = quilt()
        .args(["experiment", "all", "--skip", "nope"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no such experiment"));
    // Only latency and throughput run on emulated hosts; the others say so before measuring.
    for name in ["tracing", "fanout-cpu"] {
        let out = quilt()
            .args(["experiment", name, "--smoke", "--hosts", "2"])
            .output()
            .unwrap();
        assert!(!out.status.success(), "{name} took --hosts");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains(&format!(
                "--hosts: experiment {name} does not run on emulated hosts"
            )),
            "{stderr}"
        );
    }
    let out = quilt()
        .args(["experiment", "latency", "--smoke", "--rtt", "1ms"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--hosts"));
}
