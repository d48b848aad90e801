//! The merging compiler end to end: real builds, real merges with LLVM 22, real platforms.
//! Every merged answer is compared with the unmerged deployment's answer for the same input.
//! Cargo features stay each function's own (tests/apps/features): unmerged, and merged or refused.

use quilt_cli::{http, up};
use quilt_harness as common;
use quilt_manifest::Manifest;
use quilt_merge::rewrite::SiteKind;
use quilt_merge::tree::Tree;
use quilt_merge::{merge_group, GroupReport, MergeOptions};
use quilt_platform::{Platform, PlatformConfig};
use std::path::Path;
use std::time::Duration;

/// Tests that merge groups of examples/hello (they install the same `hello-merged`) run one by one,
/// across test processes too.
fn hello_lock() -> std::fs::File {
    common::named_lock("hello-merged")
}

/// `examples/<name>`, built once per process.
fn app(name: &str) -> Manifest {
    common::built(&format!("examples/{name}"))
}

fn merge(manifest: &Manifest, tree: &str, opts: &MergeOptions) -> anyhow::Result<GroupReport> {
    let tree = Tree::parse(Path::new("test.tree"), tree)?;
    let _guard = common::build_lock(&manifest.dir);
    merge_group(manifest, &tree, opts)
}

async fn start(manifest: &Manifest) -> Platform {
    Platform::start(PlatformConfig {
        bind: "127.0.0.1:0".parse().unwrap(),
        deployables: up::deployables(manifest).unwrap(),
        idle_timeout: Duration::from_secs(120),
        max_body_bytes: 1 << 20,
        ..PlatformConfig::default()
    })
    .await
    .unwrap()
}

async fn post(p: &Platform, route: &str, body: &str) -> (u16, String) {
    let (status, body) = http::post(&format!("http://{}/{route}", p.addr()), body.into())
        .await
        .unwrap();
    (status, String::from_utf8_lossy(&body).into_owned())
}

async fn requests(p: &Platform, function: &str) -> u64 {
    common::requests(p.addr(), function).await
}

fn count(r: &GroupReport, kind: SiteKind) -> usize {
    r.sites.iter().filter(|s| s.kind == kind).count()
}

#[tokio::test(flavor = "multi_thread")]
async fn hello_merged_answers_like_unmerged_and_skips_the_gateway() {
    let _hello = hello_lock();
    let m = app("hello");
    let report = merge(
        &m,
        "hello upper\nhello decorate\n",
        &MergeOptions::default(),
    )
    .unwrap();
    assert_eq!(report.name, "hello-merged");
    assert_eq!(count(&report, SiteKind::Direct), 2, "{:?}", report.sites);
    assert_eq!(count(&report, SiteKind::Remote), 0);
    assert!(report.merged_bytes > 0 && report.originals_bytes > report.merged_bytes);
    // A merged instance gets the budget of an instance of each member: requests in flight and
    // queued, processes, memory and CPU add up; it may have as many instances as its root.
    let all = up::deployables(&m).unwrap();
    let of = |name: &str| all.iter().find(|d| d.name == name).unwrap().clone();
    let (merged, members) = (of("hello-merged"), ["hello", "upper", "decorate"].map(of));
    let sum =
        |field: fn(&quilt_platform::Deployable) -> u64| members.iter().map(field).sum::<u64>();
    assert_eq!(u64::from(merged.concurrency), sum(|d| d.concurrency.into()));
    assert_eq!(u64::from(merged.queue), sum(|d| d.queue.into()));
    assert_eq!(merged.pids, sum(|d| d.pids));
    assert_eq!(merged.memory_mb, sum(|d| d.memory_mb));
    assert_eq!(merged.max_instances, members[0].max_instances);
    let p = start(&m).await;
    for input in [
        r#"{"name":"quilt"}"#,
        r#"{"name":"a\"b"}"#,
        r#"{"nom":1}"#,
        "junk",
    ] {
        let base = post(&p, "hello", input).await;
        let (upper, decorate) = (requests(&p, "upper").await, requests(&p, "decorate").await);
        let merged = post(&p, "hello-merged", input).await;
        assert_eq!(merged, base, "input {input}");
        assert_eq!(
            requests(&p, "upper").await,
            upper,
            "upper was called remotely"
        );
        assert_eq!(requests(&p, "decorate").await, decorate);
    }
    assert_eq!(
        post(&p, "hello-merged", r#"{"name":"quilt"}"#).await,
        (200, r#"{"message":"Hello, QUILT!"}"#.to_string())
    );
    p.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn partial_merge_keeps_non_members_remote() {
    let _hello = hello_lock();
    let m = app("hello");
    let report = merge(&m, "hello upper\n", &MergeOptions::default()).unwrap();
    assert_eq!(count(&report, SiteKind::Direct), 1);
    assert_eq!(count(&report, SiteKind::Remote), 1, "decorate stays remote");
    let p = start(&m).await;
    let decorate = requests(&p, "decorate").await;
    let upper = requests(&p, "upper").await;
    let reply = post(&p, "hello-merged", r#"{"name":"quilt"}"#).await;
    assert_eq!(reply, (200, r#"{"message":"Hello, QUILT!"}"#.to_string()));
    assert_eq!(requests(&p, "decorate").await, decorate + 1);
    assert_eq!(requests(&p, "upper").await, upper);
    p.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn cross_language_merges_keep_answers_and_errors() {
    let m = app("polyglot");
    let trees = [
        ("rust-to-c", "rust-to-c c-leaf\n"),
        ("c-to-rust", "c-to-rust rust-leaf\n"),
        ("cpp-to-rust", "cpp-to-rust rust-leaf\n"),
        ("rust-to-cpp", "rust-to-cpp cpp-leaf\n"),
        ("chain", "chain c-to-cpp\nc-to-cpp cpp-leaf\n"),
    ];
    for (root, tree) in trees {
        let r = merge(&m, tree, &MergeOptions::default()).unwrap();
        assert_eq!(
            count(&r, SiteKind::Direct),
            tree.lines().count(),
            "{root}: {:?}",
            r.sites
        );
    }
    let p = start(&m).await;
    for (root, _) in trees {
        for input in ["hi", "fail", ""] {
            let base = post(&p, root, input).await;
            let merged = post(&p, &format!("{root}-merged"), input).await;
            assert_eq!(merged, base, "{root} with {input:?}");
        }
    }
    assert_eq!(
        post(&p, "chain-merged", "x").await,
        (200, "chain(c-to-cpp(cpp-leaf[x]))".to_string())
    );
    // A panic in a merged Rust callee becomes the caller's error; the instance keeps serving.
    let base = post(&p, "c-to-rust", "panic").await;
    let merged = post(&p, "c-to-rust-merged", "panic").await;
    assert_eq!(merged, base);
    assert_eq!(merged.0, 500);
    assert!(
        merged.1.contains("rust-leaf was asked to panic"),
        "{}",
        merged.1
    );
    assert_eq!(
        post(&p, "c-to-rust-merged", "ok").await,
        (200, "c-to-rust(rust-leaf[ok])".to_string())
    );
    assert_eq!(p.instances("c-to-rust-merged"), 1);
    p.shutdown().await;
}

#[derive(serde::Deserialize)]
struct FanoutReply {
    caller_pid: u32,
    replies: Vec<WorkReply>,
}

#[derive(serde::Deserialize)]
struct WorkReply {
    pid: u32,
    max_in_flight: usize,
}

#[tokio::test(flavor = "multi_thread")]
async fn fanout_threshold_bounds_local_executions() {
    let m = app("fanout");
    let opts = MergeOptions {
        fanout_threshold: 3,
        ..MergeOptions::default()
    };
    let r = merge(&m, "fanout work\n", &opts).unwrap();
    assert_eq!(count(&r, SiteKind::LocalAsync), 1, "{:?}", r.sites);
    let p = start(&m).await;
    let before = requests(&p, "work").await;
    let (status, body) = post(&p, "fanout-merged", r#"{"k":9,"ms":300}"#).await;
    assert_eq!(status, 200, "{body}");
    let reply: FanoutReply = serde_json::from_str(&body).unwrap();
    let local: Vec<_> = reply
        .replies
        .iter()
        .filter(|w| w.pid == reply.caller_pid)
        .collect();
    assert_eq!(reply.replies.len(), 9);
    assert!(
        !local.is_empty() && local.len() <= 3,
        "{} local",
        local.len()
    );
    assert!(local.iter().all(|w| w.max_in_flight <= 3));
    let remote = 9 - local.len() as u64;
    assert_eq!(requests(&p, "work").await, before + remote);
    p.shutdown().await;

    // Unconditional: every execution stays in the caller's process.
    merge(&m, "fanout work\n", &MergeOptions::default()).unwrap();
    let p = start(&m).await;
    let before = requests(&p, "work").await;
    let (status, body) = post(&p, "fanout-merged", r#"{"k":9,"ms":100}"#).await;
    assert_eq!(status, 200, "{body}");
    let reply: FanoutReply = serde_json::from_str(&body).unwrap();
    assert!(reply.replies.iter().all(|w| w.pid == reply.caller_pid));
    assert_eq!(requests(&p, "work").await, before);
    p.shutdown().await;
}

fn merged_dir(m: &Manifest) -> Vec<String> {
    std::fs::read_dir(m.work_dir().join("merged"))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn bad_groups_are_refused_with_their_place_and_nothing_is_installed() {
    let _hello = hello_lock();
    let m = app("hello");
    let before = merged_dir(&m);
    let err = |tree: &str| {
        let e = merge(&m, tree, &MergeOptions::default()).unwrap_err();
        format!("{e:#}")
    };
    let e = err("hello upper\nhello nope\n");
    assert!(
        e.contains("test.tree:2") && e.contains("unknown function 'nope'"),
        "{e}"
    );
    let e = err("ghost upper\n");
    assert!(e.contains("unknown root 'ghost'"), "{e}");
    assert!(err("hello upper\nupper hello\n").contains("cycle: hello -> upper -> hello"));
    assert!(err("").contains("empty tree"));
    assert_eq!(merged_dir(&m), before, "a refused merge installs nothing");
}

#[test]
fn a_member_that_fails_to_compile_is_named() {
    common::quilt_target_dir();
    let dir = tempfile::tempdir().unwrap();
    let sdk = common::root().join("crates/sdk").canonicalize().unwrap();
    for (name, body) in [
        (
            "good",
            "fn f(x: u32) -> Result<u32, quilt_sdk::Error> { quilt_sdk::invoke(\"broken\", &x) }",
        ),
        (
            "broken",
            "fn f(x: u32) -> Result<u32, quilt_sdk::Error> { Ok(x + \"one\") }",
        ),
    ] {
        let f = dir.path().join(name);
        std::fs::create_dir_all(f.join("src")).unwrap();
        std::fs::write(
            f.join("Cargo.toml"),
            format!(
                "[package]\nname = \"bad-{name}\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n\
                 [dependencies]\nquilt-sdk = {{ path = {:?} }}\n",
                sdk.to_string_lossy()
            ),
        )
        .unwrap();
        std::fs::write(
            f.join("src/lib.rs"),
            format!("{body}\nquilt_sdk::handler!(f);\n"),
        )
        .unwrap();
    }
    std::fs::write(
        dir.path().join("quilt.toml"),
        "[app]\nname = \"bad\"\n\n[[functions]]\nname = \"good\"\nlanguage = \"rust\"\nsource = \"good\"\n\n\
         [[functions]]\nname = \"broken\"\nlanguage = \"rust\"\nsource = \"broken\"\n",
    )
    .unwrap();
    let m = Manifest::load(dir.path()).unwrap();
    let e = merge(&m, "good broken\n", &MergeOptions::default()).unwrap_err();
    let e = format!("{e:#}");
    assert!(e.contains("member 'broken' failed to compile"), "{e}");
    assert!(
        merged_dir(&m).is_empty(),
        "nothing installed: {:?}",
        merged_dir(&m)
    );
}

/// An app of its own for the merge cache: `front` (Rust) asks `word` (C) for a word.
fn cache_app(dir: &Path, word: &str) -> Manifest {
    let sdk = common::root().join("crates/sdk").canonicalize().unwrap();
    let front = dir.join("front");
    std::fs::create_dir_all(front.join("src")).unwrap();
    std::fs::write(
        front.join("Cargo.toml"),
        format!(
            "[package]\nname = \"cache-front\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n\
             [dependencies]\nquilt-sdk = {{ path = {:?} }}\nserde_json = \"1\"\n",
            sdk.to_string_lossy()
        ),
    )
    .unwrap();
    std::fs::write(
        front.join("src/lib.rs"),
        "fn front(x: serde_json::Value) -> Result<serde_json::Value, quilt_sdk::Error> {\n\
         quilt_sdk::invoke(\"word\", &x)\n}\nquilt_sdk::handler!(front);\n",
    )
    .unwrap();
    std::fs::write(
        dir.join("word.c"),
        format!(
            "#include <quilt.h>\nstatic int32_t word(const uint8_t *in, size_t len, quilt_buf *out) {{\n\
             (void)in; (void)len;\n  return quilt_buf_set_str(out, \"\\\"{word}\\\"\");\n}}\n\
             QUILT_FUNCTION(word, word)\n"
        ),
    )
    .unwrap();
    std::fs::write(
        dir.join("quilt.toml"),
        "[app]\nname = \"cache\"\n\n[[functions]]\nname = \"front\"\nlanguage = \"rust\"\nsource = \"front\"\n\n\
         [[functions]]\nname = \"word\"\nlanguage = \"c\"\nsource = \"word.c\"\n",
    )
    .unwrap();
    let m = Manifest::load(dir).unwrap();
    let _lock = common::build_lock(&m.dir);
    quilt_build::build_app(&m).unwrap();
    m
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unchanged_group_re_merges_from_the_cache_and_a_changed_member_does_not() {
    common::quilt_target_dir();
    let dir = tempfile::tempdir().unwrap();
    let m = cache_app(dir.path(), "first");
    let tree = "front word\n";
    let opts = MergeOptions::default();
    let first = merge(&m, tree, &opts).unwrap();
    assert!(!first.cached, "nothing was cached yet");
    let bytes = std::fs::read(&first.binary).unwrap();
    // The merged crate's recorded link, which cargo records again whenever it compiles the crate.
    let recorded = m.work_dir().join("merge/out-front/link/args");
    let compiled = std::fs::metadata(&recorded).unwrap().modified().unwrap();

    let again = merge(&m, tree, &opts).unwrap();
    assert_eq!(
        std::fs::metadata(&recorded).unwrap().modified().unwrap(),
        compiled,
        "cargo compiled the unchanged merged crate again"
    );
    assert!(again.cached, "an unchanged group comes from the cache");
    assert_eq!(again.modules.rewritten, 0);
    assert_eq!(again.times.optimize_s, 0.0);
    assert_eq!(std::fs::read(&again.binary).unwrap(), bytes);
    assert_eq!(again.sites, first.sites);
    assert_eq!(again.structors, first.structors);
    // Generous: cargo finds the merged crate unchanged, nothing is compiled again.
    assert!(
        again.times.compile_s < 5.0,
        "compile {:.1}s",
        again.times.compile_s
    );

    let refreshed = merge(
        &m,
        tree,
        &MergeOptions {
            refresh: true,
            ..MergeOptions::default()
        },
    )
    .unwrap();
    assert!(!refreshed.cached, "--refresh merges again");

    let p = start(&m).await;
    assert_eq!(
        post(&p, "front-merged", "{}").await,
        (200, "\"first\"".into())
    );
    drop(p);

    // One member changes: merged again, and the new binary answers with the new source. Only the
    // changed member's module is rewritten; the caller's object and the runtime's come from the
    // object cache.
    let m = cache_app(dir.path(), "second");
    let changed = merge(&m, tree, &opts).unwrap();
    assert!(!changed.cached, "a changed member is merged again");
    assert_eq!(changed.modules.rewritten, 1, "{:?}", changed.modules);
    assert!(changed.modules.cached >= 2, "{:?}", changed.modules);
    let p = start(&m).await;
    assert_eq!(
        post(&p, "front-merged", "{}").await,
        (200, "\"second\"".into())
    );
    assert_eq!(post(&p, "front", "{}").await, (200, "\"second\"".into()));
}

/// A C member made of several files (a folder source): one file holds the entry, another the
/// helper it calls; the merge keeps both and the merged binary answers as the unmerged one.
#[tokio::test(flavor = "multi_thread")]
async fn a_c_member_of_several_files_merges() {
    common::quilt_target_dir();
    let dir = tempfile::tempdir().unwrap();
    cache_app(dir.path(), "unused");
    std::fs::remove_file(dir.path().join("word.c")).unwrap();
    let word = dir.path().join("word");
    std::fs::create_dir_all(&word).unwrap();
    std::fs::write(
        word.join("entry.c"),
        "#include <quilt.h>\nconst char *helper_word(void);\n\
         static int32_t word(const uint8_t *in, size_t len, quilt_buf *out) {\n\
         (void)in; (void)len;\n  return quilt_buf_set_str(out, helper_word());\n}\n\
         QUILT_FUNCTION(word, word)\n",
    )
    .unwrap();
    std::fs::write(
        word.join("helper.c"),
        "const char *helper_word(void) { return \"\\\"from the helper\\\"\"; }\n",
    )
    .unwrap();
    let toml = dir.path().join("quilt.toml");
    let text = std::fs::read_to_string(&toml).unwrap();
    std::fs::write(
        &toml,
        text.replace("source = \"word.c\"", "source = \"word\""),
    )
    .unwrap();
    let m = Manifest::load(dir.path()).unwrap();
    {
        let _lock = common::build_lock(&m.dir);
        quilt_build::build_app(&m).unwrap();
    }
    merge(&m, "front word\n", &MergeOptions::default()).unwrap();
    let p = start(&m).await;
    let expected = (200, "\"from the helper\"".to_string());
    assert_eq!(post(&p, "front", "{}").await, expected);
    assert_eq!(post(&p, "front-merged", "{}").await, expected);
}

#[test]
fn trust_domains_and_isolation_are_never_merged_without_override() {
    let dir = tempfile::tempdir().unwrap();
    let src = common::root().join("examples/hello");
    let text = std::fs::read_to_string(src.join("quilt.toml"))
        .unwrap()
        .replace(
            "name = \"upper\"\nlanguage = \"c\"",
            "name = \"upper\"\ndomain = \"payments\"\nlanguage = \"c\"",
        )
        .replace(
            "name = \"decorate\"\nlanguage = \"rust\"",
            "name = \"decorate\"\nisolate = true\nlanguage = \"rust\"",
        );
    std::fs::write(dir.path().join("quilt.toml"), text).unwrap();
    common::copy_dir(&src.join("functions"), &dir.path().join("functions"));
    let m = Manifest::load(dir.path()).unwrap();
    let check = |tree: &str, allow: bool| {
        let tree = Tree::parse(Path::new("t.tree"), tree).unwrap();
        let opts = MergeOptions {
            allow_cross_domain: allow,
            ..MergeOptions::default()
        };
        quilt_merge::check_group(&m, &tree, &opts).map_err(|e| e.to_string())
    };
    let e = check("hello upper\n", false).unwrap_err();
    assert!(
        e.contains("different trust domains") && e.contains("payments"),
        "{e}"
    );
    let e = check("hello decorate\n", false).unwrap_err();
    assert!(e.contains("'decorate' is isolated"), "{e}");
    assert!(check("hello upper\n", true).is_ok());
    assert!(check("hello\n", false).is_ok());
}

#[derive(serde::Deserialize, Debug, PartialEq)]
struct SitesReply {
    values: Vec<i64>,
    pids: Vec<u32>,
    own_pid: u32,
}

#[tokio::test(flavor = "multi_thread")]
async fn call_sites_are_found_in_helpers_closures_threads_and_loops() {
    let m = app("callsites");
    let r = merge(&m, "sites leaf\n", &MergeOptions::default()).unwrap();
    let direct: Vec<_> = r
        .sites
        .iter()
        .filter(|s| s.kind == SiteKind::Direct)
        .collect();
    assert!(direct.len() >= 6, "{:?}", r.sites);
    assert!(direct.iter().all(|s| s.callee.as_deref() == Some("leaf")));
    assert!(
        direct.iter().any(|s| s.caller.contains("helper")),
        "{:?}",
        r.sites
    );
    assert_eq!(count(&r, SiteKind::Dynamic), 1, "the run-time name");
    let p = start(&m).await;
    let body = r#"{"n":10,"target":"leaf"}"#;
    let (status, base) = post(&p, "sites", body).await;
    assert_eq!(status, 200, "{base}");
    let base: SitesReply = serde_json::from_str(&base).unwrap();
    let leaf_calls = requests(&p, "leaf").await;
    let (status, merged) = post(&p, "sites-merged", body).await;
    assert_eq!(status, 200, "{merged}");
    let merged: SitesReply = serde_json::from_str(&merged).unwrap();
    assert_eq!(merged.values, base.values);
    assert_eq!(
        merged.values,
        (10..19).map(|n| n * 2 + 1).collect::<Vec<_>>()
    );
    assert!(base.pids.iter().all(|p| *p != base.own_pid));
    assert!(
        merged.pids.iter().all(|p| *p == merged.own_pid),
        "all local: {merged:?}"
    );
    assert_eq!(
        requests(&p, "leaf").await,
        leaf_calls,
        "no call reached the gateway"
    );
    // A run-time name outside the group still goes remote, with the same error as unmerged.
    let body = r#"{"n":1,"target":"nope"}"#;
    assert_eq!(
        post(&p, "sites-merged", body).await,
        post(&p, "sites", body).await
    );
    p.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_solver_plan_is_merged_group_by_group() {
    let _hello = hello_lock();
    let m = app("hello");
    // hello calls upper and decorate ten times each; the memory limit fits two functions, so the
    // optimum keeps one edge local and one remote.
    let graph = r#"{"directed": true, "graph": {"memory_limit": 25, "cpu_limit": 10, "runs": 10},
        "nodes": [{"id": "hello", "m": 10, "c": 1}, {"id": "upper", "m": 10, "c": 1},
                  {"id": "decorate", "m": 10, "c": 1}],
        "links": [{"source": "hello", "target": "upper", "weight": 10, "type": "sync"},
                  {"source": "hello", "target": "decorate", "weight": 10, "type": "sync"}]}"#;
    let graph = quilt_solver::CallGraph::from_json_str(graph, "test").unwrap();
    let limits = graph.limits(None, None, None).unwrap();
    let opts = quilt_solver::SolveOptions {
        algorithm: quilt_solver::Algorithm::Exact,
        time_limit: Duration::from_secs(5),
        seed: 1,
    };
    let plan = quilt_solver::solve(&graph, &limits, &opts).unwrap();
    assert!(plan.optimal);
    assert_eq!(plan.cost, 10);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("plan.json");
    plan.write(&path).unwrap();
    let trees = quilt_cli::merge::plan_trees(&path).unwrap();
    assert_eq!(trees.len(), 1, "one group has two members");
    assert_eq!(trees[0].root, "hello");
    assert_eq!(trees[0].members.len(), 2);
    let _guard = common::build_lock(&m.dir);
    let r = merge_group(&m, &trees[0], &MergeOptions::default()).unwrap();
    drop(_guard);
    assert_eq!(count(&r, SiteKind::Direct), 1);
    assert_eq!(count(&r, SiteKind::Remote), 1);
    let p = start(&m).await;
    let body = r#"{"name":"plan"}"#;
    assert_eq!(
        post(&p, "hello-merged", body).await,
        post(&p, "hello", body).await
    );
    p.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn container_merge_runs_members_in_one_instance_behind_an_internal_gateway() {
    let _hello = hello_lock();
    std::env::set_var("QUILT_EXE", env!("CARGO_BIN_EXE_quilt"));
    let m = app("hello");
    let tree = Tree::parse(Path::new("t"), "hello upper\nhello decorate\n").unwrap();
    let d = quilt_merge::deployment::MergedDeployment::install_container(&m, &tree).unwrap();
    assert_eq!(d.name, "container-merge-hello");
    let p = start(&m).await;
    for (body, baseline_calls) in [(r#"{"name":"box"}"#, 1), ("junk", 0)] {
        let (upper, decorate) = (requests(&p, "upper").await, requests(&p, "decorate").await);
        assert_eq!(
            post(&p, "container-merge-hello", body).await,
            post(&p, "hello", body).await
        );
        // Only the baseline's calls went through the outer gateway; the container's stayed inside.
        assert_eq!(requests(&p, "upper").await - upper, baseline_calls);
        assert_eq!(requests(&p, "decorate").await - decorate, baseline_calls);
    }
    assert_eq!(p.instances("container-merge-hello"), 1);
    p.shutdown().await;
    std::fs::remove_file(m.work_dir().join("merged/container-merge-hello.json")).unwrap();
}

#[derive(serde::Deserialize)]
struct CallCost {
    invoke_ns: f64,
    direct_ns: f64,
    checksum: u64,
}

#[tokio::test(flavor = "multi_thread")]
async fn a_merged_call_costs_about_what_a_direct_call_costs() {
    let m = app("callcost");
    merge(&m, "caller callee\n", &MergeOptions::default()).unwrap();
    let p = start(&m).await;
    let (status, body) = post(&p, "caller-merged", r#"{"n":20000}"#).await;
    assert_eq!(status, 200, "{body}");
    let merged: CallCost = serde_json::from_str(&body).unwrap();
    let (status, body) = post(&p, "caller", r#"{"n":50}"#).await;
    assert_eq!(status, 200, "{body}");
    let remote: CallCost = serde_json::from_str(&body).unwrap();
    // Same answers: sum of x + 1 over both loops.
    assert_eq!(merged.checksum, 2 * (20000 * 20001 / 2));
    assert_eq!(remote.checksum, 2 * (50 * 51 / 2));
    // Generous sanity bounds (figures go to docs/PERFORMANCE.md): the merged call stays within
    // a few microseconds of a direct call, while a remote call costs far more.
    assert!(
        merged.invoke_ns < merged.direct_ns + 5_000.0,
        "{} ns",
        merged.invoke_ns
    );
    assert!(remote.invoke_ns > merged.invoke_ns * 5.0);
    p.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn monolith_fixture_answers_like_unmerged_without_the_gateway() {
    let _hello = hello_lock();
    let m = app("hello");
    let tree = Tree::parse(Path::new("t"), "hello upper\nhello decorate\n").unwrap();
    let binary = {
        let _guard = common::build_lock(&m.dir);
        quilt_merge::build_monolith(&m, &tree).unwrap()
    };
    assert!(binary.ends_with("hello-monolith"));
    let p = start(&m).await;
    let (upper, decorate) = (requests(&p, "upper").await, requests(&p, "decorate").await);
    let body = r#"{"name":"mono"}"#;
    assert_eq!(
        post(&p, "hello-monolith", body).await,
        (200, r#"{"message":"Hello, MONO!"}"#.to_string())
    );
    assert_eq!(requests(&p, "upper").await, upper);
    assert_eq!(requests(&p, "decorate").await, decorate);
    p.shutdown().await;
    std::fs::remove_file(m.work_dir().join("merged/hello-monolith.json")).unwrap();
}

/// tests/apps/features: `loud` enables the feature `loud` of a crate and of a procedural macro
/// `quiet` uses without it; `plain` uses neither.
const FEATURES: &str = "tests/apps/features";

#[tokio::test(flavor = "multi_thread")]
async fn each_function_answers_with_its_own_cargo_features() {
    let m = common::built(FEATURES);
    let p = start(&m).await;
    assert_eq!(
        post(&p, "quiet", r#"{"name":"ann"}"#).await,
        (
            200,
            r#"{"greeting":"hello, ann","salute":"hi"}"#.to_string()
        ),
        "quiet is built without the features loud enables (of a crate and of a procedural macro)"
    );
    assert_eq!(
        post(&p, "salute", "{}").await,
        (200, r#"{"salute":"hi"}"#.to_string()),
        "salute is built without the feature loud enables on the procedural macro"
    );
    assert_eq!(
        post(&p, "loud", r#"{"name":"ann"}"#).await,
        (
            200,
            r#"{"greeting":"HELLO, ANN!","length":11,"salute":"HI"}"#.to_string()
        )
    );
    p.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn members_with_different_features_are_refused_and_agreeing_ones_answer_as_unmerged() {
    let m = common::built(FEATURES);
    let before = merged_dir(&m);
    let e = format!(
        "{:#}",
        merge(&m, "loud quiet\n", &MergeOptions::default()).unwrap_err()
    );
    let shared = common::root()
        .join(FEATURES)
        .join("shared")
        .canonicalize()
        .unwrap();
    for part in [
        "test.tree: refusing to merge group 'loud'",
        "members 'loud' and 'quiet'",
        &format!("crate 'features-shared v0.1.0 ({})'", shared.display()),
        "(loud: [loud], quiet: [])",
        "merge them separately or align their features",
        "crate 'features-macro v0.1.0",
    ] {
        assert!(e.contains(part), "{part:?} in: {e}");
    }
    assert_eq!(merged_dir(&m), before, "a refused merge installs nothing");

    let report = merge(&m, "loud plain\n", &MergeOptions::default()).unwrap();
    assert_eq!(count(&report, SiteKind::Direct), 1, "{:?}", report.sites);
    let p = start(&m).await;
    for input in [r#"{"name":"ann"}"#, r#"{"name":"zoë"}"#, "{}", "junk"] {
        let base = post(&p, "loud", input).await;
        let plain = requests(&p, "plain").await;
        assert_eq!(post(&p, "loud-merged", input).await, base, "input {input}");
        assert_eq!(
            requests(&p, "plain").await,
            plain,
            "plain was called remotely"
        );
    }
    assert_eq!(
        post(&p, "loud-merged", r#"{"name":"zoë"}"#).await,
        (
            200,
            r#"{"greeting":"HELLO, ZOË!","length":11,"salute":"HI"}"#.to_string()
        )
    );
    p.shutdown().await;
}

/// `--keep-ir` writes each rewritten module to a file of its own that LLVM's own assembler reads
/// back: the Rust root's object and both C/C++ members of the chain.
#[test]
fn kept_ir_is_one_readable_module_per_file() {
    let m = app("polyglot");
    let opts = MergeOptions {
        keep_ir: true,
        ..MergeOptions::default()
    };
    let r = merge(&m, "chain c-to-cpp\nc-to-cpp cpp-leaf\n", &opts).unwrap();
    let dir = r.ir.expect("the IR is kept");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.sort();
    assert_eq!(files.len(), r.modules.rewritten, "{files:?}");
    assert!(files.len() >= 3, "{files:?}");
    for file in &files {
        assert_eq!(file.extension().unwrap(), "ll", "{}", file.display());
        let out = std::process::Command::new(quilt_build::paths::llvm_tool("llvm-as"))
            .arg(file)
            .args(["-o", "/dev/null"])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}: {}",
            file.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // Merging again replaces the folder whole.
    let again = merge(&m, "chain c-to-cpp\nc-to-cpp cpp-leaf\n", &opts).unwrap();
    assert_eq!(
        std::fs::read_dir(again.ir.unwrap()).unwrap().count(),
        files.len()
    );
}

/// A built app in `dir` of C and C++ functions, one per `(file, source)`: `name.c` or `name.cpp`.
fn native_app(dir: &Path, files: &[(&str, String)]) -> Manifest {
    let mut manifest = "[app]\nname = \"native\"\n".to_string();
    for (file, source) in files {
        std::fs::write(dir.join(file), source).unwrap();
        let (name, ext) = file.split_once('.').unwrap();
        manifest.push_str(&format!(
            "\n[[functions]]\nname = \"{name}\"\nlanguage = \"{ext}\"\nsource = \"{file}\"\n"
        ));
    }
    std::fs::write(dir.join("quilt.toml"), manifest).unwrap();
    let m = Manifest::load(dir).unwrap();
    let _lock = common::build_lock(&m.dir);
    quilt_build::build_app(&m).unwrap();
    m
}

/// A callee replaces `malloc` and `free` with its own (blocks tagged in a header it checks). Its
/// reply is freed by its caller: merged, the whole instance uses its allocator, as its own process
/// did unmerged (renaming the allocator like the member's other names aborted every request).
#[tokio::test(flavor = "multi_thread")]
async fn a_member_that_replaces_malloc_replaces_it_for_the_merged_instance() {
    common::quilt_target_dir();
    let dir = tempfile::tempdir().unwrap();
    let caller = "#include <quilt.h>\n#include <stdio.h>\n\
        static int32_t handle(const uint8_t *in, size_t len, quilt_buf *out) {\n\
        quilt_buf r = {0, 0, 0};\n  int32_t s = QUILT_INVOKE(\"tagged\", in, len, &r);\n\
        char msg[256];\n  snprintf(msg, sizeof msg, \"s=%d b=%.*s\", s, (int)r.len, (const char *)r.ptr);\n\
        quilt_buf_free(&r);\n  return quilt_buf_set_str(out, msg);\n}\nQUILT_FUNCTION(caller, handle)\n";
    let tagged = "#include <quilt.h>\n#include <stdio.h>\n\
        extern void *__libc_malloc(size_t);\nextern void __libc_free(void *);\n\
        #define TAG 0x5155494c54ULL\n\
        void *malloc(size_t n) { uint64_t *p = __libc_malloc(n + 16); if (!p) return 0; p[0] = TAG; p[1] = n; return p + 2; }\n\
        void free(void *q) { if (!q) return; uint64_t *p = (uint64_t *)q - 2; if (p[0] != TAG) abort(); p[0] = 0; __libc_free(p); }\n\
        void *calloc(size_t a, size_t b) { void *q = malloc(a * b); if (q) memset(q, 0, a * b); return q; }\n\
        void *realloc(void *q, size_t n) { if (!q) return malloc(n); uint64_t *p = (uint64_t *)q - 2;\n\
          if (p[0] != TAG) abort(); void *r = malloc(n); if (!r) return 0;\n\
          memcpy(r, q, p[1] < n ? p[1] : n); free(q); return r; }\n\
        static int32_t handle(const uint8_t *in, size_t len, quilt_buf *out) {\n\
        (void)in;\n  char msg[64];\n  snprintf(msg, sizeof msg, \"len=%zu\", len);\n\
        return quilt_buf_set_str(out, msg);\n}\nQUILT_FUNCTION(tagged, handle)\n";
    let m = native_app(
        dir.path(),
        &[
            ("caller.c", caller.to_string()),
            ("tagged.c", tagged.to_string()),
        ],
    );
    merged_and_unmerged_answer(&m, "caller tagged\n", 2, "s=0 b=len=2").await;
}

/// A C callee writes to its input through the `const` pointer (legal C: the caller's buffer is not
/// `const`). Through the gateway it writes to its own copy; a merged call must give it one too,
/// or the caller sees its buffer changed.
#[tokio::test(flavor = "multi_thread")]
async fn a_callee_that_writes_to_its_input_leaves_its_callers_buffer_alone() {
    common::quilt_target_dir();
    let dir = tempfile::tempdir().unwrap();
    let caller = "#include <quilt.h>\n#include <stdio.h>\n\
        static int32_t handle(const uint8_t *in, size_t len, quilt_buf *out) {\n\
        (void)in; (void)len;\n  char buf[] = \"hello\";\n  quilt_buf r = {0, 0, 0};\n\
        int32_t s = QUILT_INVOKE(\"upper\", buf, 5, &r);\n  char msg[256];\n\
        snprintf(msg, sizeof msg, \"s=%d b=%.*s mine=%s\", s, (int)r.len, (const char *)r.ptr, buf);\n\
        quilt_buf_free(&r);\n  return quilt_buf_set_str(out, msg);\n}\nQUILT_FUNCTION(caller, handle)\n";
    let upper = "#include <quilt.h>\n\
        static int32_t handle(const uint8_t *in, size_t len, quilt_buf *out) {\n\
        uint8_t *w = (uint8_t *)in;\n\
        for (size_t i = 0; i < len; i++) if (w[i] >= 'a' && w[i] <= 'z') w[i] -= 32;\n\
        return quilt_buf_set(out, in, len);\n}\nQUILT_FUNCTION(upper, handle)\n";
    let m = native_app(
        dir.path(),
        &[
            ("caller.c", caller.to_string()),
            ("upper.c", upper.to_string()),
        ],
    );
    merged_and_unmerged_answer(&m, "caller upper\n", 1, "s=0 b=HELLO mine=hello").await;
}

/// A callee leaves `errno` set (ERANGE from `strtol`): after a call through the gateway the caller's
/// `errno` is as it was, and after a local call too.
#[tokio::test(flavor = "multi_thread")]
async fn errno_after_a_call_is_the_callers() {
    common::quilt_target_dir();
    let dir = tempfile::tempdir().unwrap();
    let caller = "#include <quilt.h>\n#include <stdio.h>\n#include <errno.h>\n\
        static int32_t handle(const uint8_t *in, size_t len, quilt_buf *out) {\n\
        quilt_buf r = {0, 0, 0};\n  errno = 0;\n  int32_t s = QUILT_INVOKE(\"ranged\", in, len, &r);\n\
        int e = errno;\n  char msg[256];\n\
        snprintf(msg, sizeof msg, \"s=%d b=%.*s errno=%d\", s, (int)r.len, (const char *)r.ptr, e);\n\
        quilt_buf_free(&r);\n  return quilt_buf_set_str(out, msg);\n}\nQUILT_FUNCTION(caller, handle)\n";
    let ranged = "#include <quilt.h>\n#include <stdlib.h>\n\
        static int32_t handle(const uint8_t *in, size_t len, quilt_buf *out) {\n\
        (void)in; (void)len;\n  strtol(\"99999999999999999999999\", NULL, 10);\n\
        return quilt_buf_set_str(out, \"ok\");\n}\nQUILT_FUNCTION(ranged, handle)\n";
    let m = native_app(
        dir.path(),
        &[
            ("caller.c", caller.to_string()),
            ("ranged.c", ranged.to_string()),
        ],
    );
    merged_and_unmerged_answer(&m, "caller ranged\n", 2, "s=0 b=ok errno=0").await;
}

/// Merges `tree` (rooted at `caller`), then asks `caller` and `caller-merged` `times` times each
/// (input `hi`): every answer is 200 with `want`.
async fn merged_and_unmerged_answer(m: &Manifest, tree: &str, times: usize, want: &str) {
    merge(m, tree, &MergeOptions::default()).unwrap();
    let p = start(m).await;
    for _ in 0..times {
        for route in ["caller", "caller-merged"] {
            assert_eq!(
                post(&p, route, "hi").await,
                (200, want.to_string()),
                "{route}"
            );
        }
    }
    p.shutdown().await;
}

/// Two C++ members define the same inline function and template member with bodies of their own,
/// as two separate programs may; two C members define the same external function and global.
/// Merged, each member still runs its own (before, the C++ pair shared one body and answered
/// differently, and the C pair failed to link).
#[tokio::test(flavor = "multi_thread")]
async fn members_that_define_the_same_names_each_keep_their_own() {
    common::quilt_target_dir();
    let dir = tempfile::tempdir().unwrap();
    let cpp = |name: &str, callee: Option<&str>, k: u32| {
        let call = match callee {
            Some(c) => format!(
                "quilt_buf r{{}};\n  QUILT_INVOKE(\"{c}\", in, len, &r);\n  \
                 std::string tail(reinterpret_cast<const char *>(r.ptr), r.len);\n  quilt_buf_free(&r);\n"
            ),
            None => "std::string tail;\n".to_string(),
        };
        format!(
            "#include <quilt.h>\n#include <string>\n\
             __attribute__((noinline)) inline int pick() {{ static int calls = 0; return ++calls * {k}; }}\n\
             template <int N> struct Scale {{ __attribute__((noinline)) static int of(int x) {{ return x * {k}; }} }};\n\
             static int32_t handle(const uint8_t *in, size_t len, quilt_buf *out) {{\n  {call}  \
             return quilt::reply(out, \"{name} \" + std::to_string(pick()) + \" \" + \
             std::to_string(Scale<2>::of(7)) + \" [\" + tail + \"]\");\n}}\n\
             extern \"C\" QUILT_FUNCTION({name}, handle)\n"
        )
    };
    let c = |name: &str, callee: Option<&str>, k: u32| {
        let call = match callee {
            Some(c) => format!("QUILT_INVOKE(\"{c}\", in, len, &r);"),
            None => String::new(),
        };
        format!(
            "#include <quilt.h>\n#include <stdio.h>\nint counter = {k};\n\
             const char *who(void) {{ return \"{name}\"; }}\n\
             static int32_t handle(const uint8_t *in, size_t len, quilt_buf *out) {{\n  \
             quilt_buf r = {{0}};\n  {call}\n  char reply[256];\n  counter++;\n  \
             snprintf(reply, sizeof reply, \"%s %d [%.*s]\", who(), counter, (int)r.len, (const char *)r.ptr);\n  \
             quilt_buf_free(&r);\n  return quilt_buf_set_str(out, reply);\n}}\n\
             QUILT_FUNCTION({name}, handle)\n"
        )
    };
    let m = native_app(
        dir.path(),
        &[
            ("cl.cpp", cpp("cl", Some("cr"), 10)),
            ("cr.cpp", cpp("cr", None, 1000)),
            ("left.c", c("left", Some("right"), 100)),
            ("right.c", c("right", None, 7)),
        ],
    );
    merge(&m, "cl cr\n", &MergeOptions::default()).unwrap();
    merge(&m, "left right\n", &MergeOptions::default()).unwrap();
    let p = start(&m).await;
    for root in ["cl", "left"] {
        // Twice: the second answer shows each member's own state (static counters) too.
        for _ in 0..2 {
            let base = post(&p, root, "x").await;
            let merged = post(&p, &format!("{root}-merged"), "x").await;
            assert_eq!(merged, base, "{root}");
        }
    }
    assert_eq!(
        post(&p, "cr", "x").await.1,
        "cr 3000 7000 []",
        "cr's own bodies, third call"
    );
    p.shutdown().await;
}

/// A merged binary older than a member's last build serves that member's old code: the deployment
/// names such members (`quilt up` warns with them), and a merge again clears them.
#[test]
fn a_merge_older_than_a_members_build_names_the_member() {
    let _hello = hello_lock();
    let m = app("hello");
    let r = merge(&m, "hello upper\n", &MergeOptions::default()).unwrap();
    let installed = || {
        quilt_merge::deployment::MergedDeployment::installed(&m)
            .unwrap()
            .into_iter()
            .find(|(d, _)| d.name == "hello-merged")
            .expect("hello-merged is installed")
    };
    let (d, binary) = installed();
    assert_eq!(binary, r.binary);
    assert!(d.rebuilt_members(&m, &binary).is_empty());
    // As if both members had been built again after the merge.
    let hour_ago = std::time::SystemTime::now() - Duration::from_secs(3600);
    std::fs::File::options()
        .write(true)
        .open(&binary)
        .unwrap()
        .set_modified(hour_ago)
        .unwrap();
    assert_eq!(d.rebuilt_members(&m, &binary), ["hello", "upper"]);
    merge(&m, "hello upper\n", &MergeOptions::default()).unwrap();
    let (d, binary) = installed();
    assert!(d.rebuilt_members(&m, &binary).is_empty());
}
