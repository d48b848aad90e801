//! `quilt verify` and `quilt merge --verify` as a user runs them, on examples/polyglot and
//! examples/hello: a merged group answering like its root (its timestamp masked), two routes that
//! answer differently, a bad requests file, and the requests `quilt profile` recorded.

use quilt_harness as common;
use quilt_harness::cli::text;
use std::path::Path;
use std::process::Output;

fn quilt(args: &[&str]) -> Output {
    quilt_harness::cli::quilt()
        .args(args)
        .output()
        .expect("running quilt")
}

fn path(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Three request bodies, one a JSON string, one an object, one with an escaped quote.
const REQUESTS: &str = "\"hi\"\n{\"a\":[1,2]}\n\n\"x\\\"y\"\n";

#[test]
fn merged_group_verifies_equal_with_its_timestamp_masked() {
    let app = common::built("examples/polyglot");
    let dir = tempfile::tempdir().unwrap();
    let (tree, requests) = (dir.path().join("stamp.tree"), dir.path().join("r.jsonl"));
    std::fs::write(&tree, "stamp c-leaf\n").unwrap();
    std::fs::write(&requests, REQUESTS).unwrap();
    let out = {
        let _lock = common::build_lock(&app.dir);
        quilt(&[
            "merge",
            path(&app.dir),
            "--tree",
            path(&tree),
            "--verify",
            "--requests",
            path(&requests),
        ])
    };
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.contains("verify stamp-merged against stamp: 3 requests, 3 equal, 0 different")
            && stdout.contains("nondeterministic (masked): $.at_ns in 3 requests"),
        "{stdout}"
    );
    // The verb on its own, as JSON: the timestamp differs on every call and is the only field
    // masked; the leaf's reply is compared.
    let out = quilt(&[
        "verify",
        path(&app.dir),
        "--function",
        "stamp",
        "--requests",
        path(&requests),
        "--json",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["merged"], "stamp-merged");
    assert_eq!(
        (v["requests"].as_u64(), v["equal"].as_u64()),
        (Some(3), Some(3))
    );
    assert_eq!(v["nondeterministic"], serde_json::json!({ "$.at_ns": 3 }));
}

#[tokio::test(flavor = "multi_thread")]
async fn routes_that_answer_differently_are_reported_and_fail() {
    let app = common::built("examples/polyglot");
    let platform = common::start(&app, None).await;
    let gateway = format!("http://{}", platform.addr());
    let dir = tempfile::tempdir().unwrap();
    let requests = dir.path().join("r.jsonl");
    std::fs::write(&requests, REQUESTS).unwrap();
    let args = [
        "verify",
        path(&app.dir),
        "--function",
        "rust-to-c",
        "--against",
        "rust-to-cpp",
        "--requests",
        path(&requests),
        "--gateway",
        &gateway,
        "--json",
    ]
    .map(String::from);
    let out = tokio::task::spawn_blocking(move || {
        quilt(&args.iter().map(String::as_str).collect::<Vec<_>>())
    })
    .await
    .unwrap();
    platform.shutdown().await;
    assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr)
            .contains("rust-to-cpp answered 3 of 3 requests differently from rust-to-c"),
        "{}",
        text(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (v["equal"].as_u64(), v["different"].as_u64()),
        (Some(0), Some(3))
    );
    let d = &v["differences"][1];
    assert_eq!(d["index"], 2);
    assert_eq!(d["request"], r#"{"a":[1,2]}"#);
    assert_eq!(d["unmerged"]["status"], 200);
    assert_eq!(d["unmerged"]["body"], r#"rust-to-c(c-leaf[{"a":[1,2]}])"#);
    assert_eq!(d["merged"]["body"], r#"rust-to-cpp(cpp-leaf[{"a":[1,2]}])"#);
}

#[test]
fn a_bad_requests_file_is_named_with_its_line() {
    let dir = tempfile::tempdir().unwrap();
    let requests = dir.path().join("bad.jsonl");
    std::fs::write(&requests, "\"ok\"\n\n{\"a\": nope}\n").unwrap();
    let app = common::root().join("examples/polyglot");
    let out = quilt(&[
        "verify",
        path(&app),
        "--function",
        "stamp",
        "--requests",
        path(&requests),
    ]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&format!("{}:3:", requests.display()))
            && stderr.contains("not a JSON request body"),
        "{stderr}"
    );
}

#[test]
fn profile_records_its_requests_and_verify_replays_them() {
    let app = common::built("examples/hello");
    let dir = tempfile::tempdir().unwrap();
    let graph = dir.path().join("graph.json");
    let out = quilt(&[
        "profile",
        path(&app.dir),
        "--workflow",
        "hello",
        "--requests",
        "6",
        "--out",
        path(&graph),
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let recorded = dir.path().join("graph.requests.jsonl");
    let lines = std::fs::read_to_string(&recorded).unwrap();
    assert_eq!(lines.lines().count(), 6, "{lines}");
    for line in lines.lines() {
        let body: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(body["name"].as_str().map(str::len), Some(8), "{line}");
    }
    // hello is deterministic: against itself, every recorded request is answered alike.
    let out = quilt(&[
        "verify",
        path(&app.dir),
        "--function",
        "hello",
        "--against",
        "hello",
        "--requests",
        path(&recorded),
    ]);
    let stdout = text(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", text(&out.stderr));
    assert!(
        stdout.starts_with("verify hello against hello: 6 requests, 6 equal, 0 different"),
        "{stdout}"
    );
    assert!(!stdout.contains("nondeterministic"), "{stdout}");
}
