//! Merging must not change answers: tests/apps/transparency merged into `cases-merged` answers every
//! case exactly as the unmerged functions do — C and C++ global constructors, deep stacks, C
//! statuses and non-UTF-8 messages, callee names in `const char *` variables, the callee's message
//! in unknown-function errors — and keeps per-instance state apart.

use quilt_cli::{http, up};
use quilt_harness::apps::App;
use quilt_manifest::Manifest;
use quilt_merge::rewrite::SiteKind;
use quilt_merge::GroupReport;
use quilt_platform::{Platform, PlatformConfig};
use serde_json::{json, Value};
use std::sync::OnceLock;
use std::time::Duration;

const APP: App = App("tests/apps/transparency");

/// The app, built and merged (its one funcTree) once per process.
fn merged() -> &'static (Manifest, GroupReport) {
    static MERGED: OnceLock<(Manifest, GroupReport)> = OnceLock::new();
    MERGED.get_or_init(|| (APP.built(), APP.merge("cases.tree")))
}

async fn start() -> Platform {
    let (manifest, _) = merged();
    Platform::start(PlatformConfig {
        bind: "127.0.0.1:0".parse().unwrap(),
        deployables: up::deployables(manifest).unwrap(),
        idle_timeout: Duration::from_secs(120),
        ..PlatformConfig::from_settings(&manifest.platform)
    })
    .await
    .unwrap()
}

async fn post(p: &Platform, route: &str, body: &[u8]) -> (u16, String) {
    let (status, body) = http::post(&format!("http://{}/{route}", p.addr()), body.to_vec())
        .await
        .unwrap();
    (status, String::from_utf8_lossy(&body).into_owned())
}

/// Runs one case unmerged and merged; asserts both answers are equal and returns the answer.
async fn case(p: &Platform, case: &str, input: &str) -> Value {
    let body = json!({"case": case, "input": input}).to_string();
    let unmerged = post(p, "cases", body.as_bytes()).await;
    let merged = post(p, "cases-merged", body.as_bytes()).await;
    assert_eq!(merged, unmerged, "case {case} with input {input:?}");
    assert_eq!(unmerged.0, 200, "case {case}: {}", unmerged.1);
    serde_json::from_str(&unmerged.1).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn global_constructors_run_in_merged_members() {
    let (_, report) = merged();
    // Four C constructors and the C++ translation unit's initializer; one C destructor.
    assert!(report.structors.constructors >= 5, "{:?}", report.structors);
    assert!(report.structors.destructors >= 1, "{:?}", report.structors);
    let p = start().await;
    let c = case(&p, "ctor-c", "").await;
    assert_eq!(
        c,
        json!({"ok": true, "reply": "101,200,default,default-2,"})
    );
    let cpp = case(&p, "ctor-cpp", "").await;
    assert_eq!(cpp, json!({"ok": true, "reply": "constructed:22"}));
    p.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn deep_stacks_hold_merged_and_real_overflows_fail_alike() {
    let p = start().await;
    // deep-a, deep-b (C) and deep-c each hold 1 MiB on the stack while calling the next.
    let deep = case(&p, "deep", "x").await;
    let reply = deep["reply"].as_str().unwrap_or_default();
    assert!(
        reply.starts_with("a:") && reply.contains("/b:") && reply.contains("/c:"),
        "{deep}"
    );
    // A real overflow aborts the instance, merged as unmerged (a 502 naming the signal), and a
    // fresh instance serves afterwards.
    let unmerged = post(&p, "deep-a", b"recurse").await;
    let body = json!({"case": "deep", "input": "recurse"}).to_string();
    let merged = post(&p, "cases-merged", body.as_bytes()).await;
    for (what, (status, text)) in [("unmerged", &unmerged), ("merged", &merged)] {
        assert_eq!(*status, 502, "{what}: {text}");
        assert!(text.contains("signal 6"), "{what}: {text}");
    }
    assert_eq!(case(&p, "deep", "x").await, deep);
    // Recursion through the group: 120 levels of 1 MiB outgrow the merged instance's threads (8 MiB
    // per member), so the deepest levels run on fresh stacks.
    let recursion = case(&p, "recurse", "120").await;
    assert_eq!(recursion, json!({"ok": true, "reply": "120"}));
    p.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn c_statuses_and_messages_are_normalized_as_remote_calls() {
    let (_, report) = merged();
    // status-caller names status-c through a `const char *`: still a constant, still rewritten.
    let direct = report
        .sites
        .iter()
        .filter(|s| s.kind == SiteKind::Direct && s.callee.as_deref() == Some("status-c"))
        .count();
    assert_eq!(direct, 2, "{:?}", report.sites);
    let p = start().await;
    for input in [
        "0:fine",
        "42:answer",
        "-1:minus",
        "1:failed",
        "2:bad",
        "3:gone",
        "4:slow",
        "5:busy",
        "bad-utf8",
        "empty",
    ] {
        case(&p, "status", input).await;
        case(&p, "status-caller", input).await;
    }
    // What a C caller sees: a status the ABI knows, text, memory it can free.
    let seen = |v: Value| v["reply"].as_str().unwrap_or_default().to_string();
    assert_eq!(
        seen(case(&p, "status-caller", "0:fine").await),
        "status=0 len=4 ptr=set bytes=66696e65"
    );
    assert!(seen(case(&p, "status-caller", "42:answer").await).starts_with("status=1 "));
    assert!(seen(case(&p, "status-caller", "-1:minus").await).starts_with("status=1 "));
    assert_eq!(
        seen(case(&p, "status-caller", "bad-utf8").await),
        "status=1 len=11 ptr=set bytes=62616420efbfbdefbfbd21"
    );
    assert_eq!(
        seen(case(&p, "status-caller", "empty").await),
        "status=0 len=0 ptr=set bytes="
    );
    // A Rust caller sees the error kind and the callee's message, for unknown-function errors too.
    let unknown = case(&p, "status", "3:no such widget").await;
    let text = unknown["error"].as_str().unwrap_or_default();
    assert!(
        text.contains("unknown function 'status-c'") && text.contains("no such widget"),
        "{unknown}"
    );
    p.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn statics_belong_to_each_instance() {
    let p = start().await;
    let count = |r: (u16, String)| r.1;
    assert_eq!(count(post(&p, "counter", b"").await), "1");
    // Unmerged, `cases` calls the counter's own deployment.
    let via_cases = post(&p, "cases", br#"{"case":"counter"}"#).await;
    assert!(via_cases.1.contains(r#""reply":"2""#), "{via_cases:?}");
    // Merged, the counter's copy inside cases-merged counts on its own ...
    let merged = post(&p, "cases-merged", br#"{"case":"counter"}"#).await;
    assert!(merged.1.contains(r#""reply":"1""#), "{merged:?}");
    // ... and leaves the counter's own deployment alone.
    assert_eq!(count(post(&p, "counter", b"").await), "3");
    p.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_callee_past_its_timeout_times_out_merged_too() {
    let p = start().await;
    assert_eq!(
        case(&p, "sleepy", "sleep:10").await,
        json!({"ok": true, "reply": "slept"})
    );
    // sleepy's timeout_ms is 400: through the gateway its caller gets a timeout, and merged too,
    // synchronously or not.
    for c in ["sleepy", "sleepy-async"] {
        let answer = case(&p, c, "sleep:1500").await;
        assert_eq!(
            answer["error"],
            "function 'sleepy' timed out: function 'sleepy' did not answer within 400 ms",
            "{c}: {answer}"
        );
    }
    p.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_call_with_a_body_past_the_gateways_limit_is_refused_merged_too() {
    let (manifest, _) = merged();
    let limit = manifest.platform.max_body_bytes;
    let p = start().await;
    assert_eq!(
        case(&p, "sleepy-big", &limit.to_string()).await,
        json!({"ok": true, "reply": format!("len={limit}")})
    );
    let answer = case(&p, "sleepy-big", &(limit + 1).to_string()).await;
    assert_eq!(
        answer["error"],
        format!("bad payload: request body is larger than {limit} bytes"),
        "{answer}"
    );
    p.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn two_functions_of_one_crate_merge_and_share_its_statics() {
    let p = start().await;
    assert_eq!(
        case(&p, "counter-twin", "").await,
        json!({"ok": true, "reply": "1"})
    );
    // One crate is linked once: merged, counter and counter-twin count together (README, "What a
    // merge keeps"), where unmerged each deployment counts on its own.
    let merged = post(&p, "cases-merged", br#"{"case":"counter"}"#).await;
    assert!(merged.1.contains(r#""reply":"2""#), "{merged:?}");
    let unmerged = post(&p, "cases", br#"{"case":"counter"}"#).await;
    assert!(unmerged.1.contains(r#""reply":"1""#), "{unmerged:?}");
    p.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_callee_name_cannot_smuggle_a_request() {
    let p = start().await;
    let count = |r: (u16, String)| r.1.parse::<u64>().unwrap();
    let before = count(post(&p, "counter", b"").await);
    let smuggling = "counter HTTP/1.1\r\nContent-Length: 0\r\n\r\nPOST /counter";
    for name in [
        smuggling,
        "counter\r\nX-Injected: 1",
        "bäck",
        "counter?x=1",
        "",
    ] {
        let body = json!({"case": "by-name", "name": name, "input": ""}).to_string();
        let unmerged = post(&p, "cases", body.as_bytes()).await;
        let merged = post(&p, "cases-merged", body.as_bytes()).await;
        assert_eq!(merged, unmerged, "name {name:?}");
        let answer: Value = serde_json::from_str(&unmerged.1).unwrap();
        assert_eq!(
            answer["error"],
            format!(
                "unknown function '{}': unknown function '{}'",
                name,
                name.escape_debug()
            ),
            "name {name:?}"
        );
    }
    // Only the two counts asked directly reached the counter.
    assert_eq!(count(post(&p, "counter", b"").await), before + 1);
    p.shutdown().await;
}
