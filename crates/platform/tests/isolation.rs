//! The instance sandbox against a hostile function (tests/apps/hostile): it cannot read or use the
//! admin token, cannot see or read the platform's and other instances' processes, cannot read
//! other apps' files, runs as its own unprivileged user with no_new_privs and a seccomp filter, and
//! a fork bomb stops at its pids limit without harming the platform or other functions.

use quilt_harness as common;

use common::{built, eventually, get, instance_pids, post, start};
use serde_json::Value;
use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

const HOSTILE: &str = "tests/apps/hostile";

/// Whether this process can build full sandboxes (root); the tests that need it say when skipped.
fn root() -> bool {
    // SAFETY: geteuid has no preconditions.
    let root = unsafe { libc::geteuid() } == 0;
    if !root {
        eprintln!("skipped: the sandbox's users and mount namespaces need a root platform");
    }
    root
}

async fn probe(addr: std::net::SocketAddr, body: Value) -> Value {
    let r = post(addr, "/probe", body.to_string()).await;
    assert_eq!(r.status, 200, "{body}: {}", r.body);
    r.json()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_function_cannot_read_or_use_the_admin_token() {
    if !root() {
        return;
    }
    let app = built(HOSTILE);
    // `quilt up` takes a token from its environment: instances must not inherit it. (Rust's
    // std serializes environment changes with the reads of process spawns.)
    std::env::set_var("QUILT_ADMIN_TOKEN", "isolation-test-token");
    let p = quilt_platform::Platform::start(quilt_platform::PlatformConfig {
        deployables: common::deployables(&app),
        admin_token: Some("isolation-test-token".into()),
        ..quilt_platform::PlatformConfig::default()
    })
    .await
    .unwrap();
    let addr = p.addr();
    // Where `quilt up` keeps it: the app's .quilt folder, readable by its owner only.
    let token = app.work_dir().join("admin-token");
    std::fs::write(&token, p.admin_token()).unwrap();
    std::fs::set_permissions(&token, std::fs::Permissions::from_mode(0o600)).unwrap();
    let stolen = probe(
        addr,
        serde_json::json!({"op": "steal", "path": token.to_str().unwrap()}),
    )
    .await;
    assert!(stolen["err"].is_string(), "the token was used: {stolen}");
    let env = probe(
        addr,
        serde_json::json!({"op": "env", "path": "QUILT_ADMIN_TOKEN"}),
    )
    .await;
    assert_eq!(
        env["value"],
        Value::Null,
        "the token is in the instance's environment"
    );
    assert_eq!(get(addr, "/_quilt/tracing").await.json()["tracing"], false);
    // Nothing of the .quilt folder but the binary itself is there.
    let read = probe(
        addr,
        serde_json::json!({"op": "read", "path": token.to_str().unwrap()}),
    )
    .await;
    assert!(
        read["err"].as_str().unwrap().contains("No such file"),
        "{read}"
    );
    p.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_function_cannot_see_or_read_the_platform_or_other_instances() {
    if !root() {
        return;
    }
    let app = built(HOSTILE);
    let p = start(&app, None).await;
    let addr = p.addr();
    // Another function's instance.
    let r = post(addr, "/bomb", r#"{"max": 0}"#).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let other = instance_pids(addr, Some("bomb"));
    assert_eq!(other.len(), 1, "{other:?}");
    let me = probe(addr, serde_json::json!({"op": "status"})).await;
    let own = me["pid"].as_u64().unwrap() as u32;
    let gateway = std::process::id();

    let seen = probe(addr, serde_json::json!({"op": "pids"})).await;
    let seen: Vec<u32> = serde_json::from_value(seen["pids"].clone()).unwrap();
    assert!(
        seen.contains(&own),
        "its own pid {own} is missing: {seen:?}"
    );
    assert!(!seen.contains(&gateway), "sees the platform: {seen:?}");
    assert!(!seen.contains(&other[0]), "sees another instance: {seen:?}");
    assert!(!seen.contains(&1), "sees init: {seen:?}");
    for pid in [gateway, other[0], 1] {
        let read = probe(addr, serde_json::json!({"op": "proc", "pid": pid})).await;
        assert!(read["environ"]["err"].is_string(), "pid {pid}: {read}");
        assert!(read["maps"]["err"].is_string(), "pid {pid}: {read}");
    }
    // Its own process stays readable (the runtime and the C library use it).
    let read = probe(addr, serde_json::json!({"op": "proc", "pid": own})).await;
    assert!(read["maps"]["ok"].as_u64().unwrap() > 0, "{read}");
    p.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_function_cannot_read_its_own_or_another_apps_files() {
    if !root() {
        return;
    }
    let app = built(HOSTILE);
    // Another app's folder with a file anyone on the machine may read.
    let other = common::quilt_target_dir().join("isolation-other-app");
    std::fs::create_dir_all(&other).unwrap();
    let secret = other.join("secret.txt");
    std::fs::write(&secret, "other app's secret").unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o644)).unwrap();
    let p = start(&app, None).await;
    let addr = p.addr();
    let own_manifest = app.dir.join("quilt.toml");
    let other_binary = app.work_dir().join("bin/bomb");
    for path in [&secret, &own_manifest, &other_binary] {
        let read = probe(
            addr,
            serde_json::json!({"op": "read", "path": path.to_str().unwrap()}),
        )
        .await;
        assert!(
            read["err"].is_string(),
            "{} was read: {read}",
            path.display()
        );
    }
    // What a function needs is there: the system's files.
    let read = probe(
        addr,
        serde_json::json!({"op": "read", "path": "/etc/hostname"}),
    )
    .await;
    assert!(read["ok"].is_string(), "{read}");
    p.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_function_runs_unprivileged_with_no_new_privs_and_a_seccomp_filter() {
    let app = built(HOSTILE);
    let p = start(&app, None).await;
    let addr = p.addr();
    let status = probe(addr, serde_json::json!({"op": "status"})).await;
    assert_eq!(status["no_new_privs"], "1", "{status}");
    assert_eq!(status["seccomp"], "2", "{status}");
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } == 0 {
        let uids = status["uid"].as_str().unwrap();
        let uid: u32 = uids.split(' ').next().unwrap().parse().unwrap();
        let range = quilt_platform::sandbox::UID_BASE
            ..quilt_platform::sandbox::UID_BASE + quilt_platform::sandbox::UID_SPAN;
        assert!(range.contains(&uid), "uid {uid}: {status}");
        assert_eq!(uids, [uid; 4].map(|u| u.to_string()).join(" "), "{status}");
    }
    let errnos = probe(addr, serde_json::json!({"op": "syscalls"})).await;
    for call in ["ptrace", "process_vm_readv", "mount", "unshare"] {
        assert_eq!(errnos[call], libc::EPERM, "{call}: {errnos}");
    }
    p.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fork_bomb_stops_at_its_pids_limit_and_dies_with_its_instance() {
    let app = built(HOSTILE);
    let p = start(&app, None).await;
    if !p.enforcement().enforced() {
        eprintln!(
            "skipped: limits are not enforced here ({:?})",
            p.enforcement()
        );
        p.shutdown().await;
        return;
    }
    let addr = p.addr();
    let limit = app.function("bomb").unwrap().pids;
    let r = post(addr, "/bomb", r#"{"max": 1000}"#).await;
    assert_eq!(r.status, 200, "{}", r.body);
    let forked = r.json()["forked"].as_u64().unwrap();
    assert!(
        forked > 0 && forked < limit,
        "forked {forked} (limit {limit})"
    );
    assert!(
        r.json()["error"]
            .as_str()
            .is_some_and(|e| e.contains("Resource temporarily unavailable")),
        "{}",
        r.body
    );
    // The platform and the other functions are unharmed.
    assert_eq!(get(addr, "/healthz").await.status, 200);
    assert_eq!(
        probe(addr, serde_json::json!({"op": "ok"})).await["ok"],
        true
    );
    assert_eq!(instance_pids(addr, Some("bomb")).len() as u64, forked + 1);
    // At its limit the instance cannot make a thread for a new connection, and still answers on
    // one (the gateway opens a new connection whenever its kept ones are busy or elsewhere).
    let status = get(addr, "/_quilt/status").await.json();
    let port = status["routes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["route"] == "bomb")
        .and_then(|r| r["instances"][0]["port"].as_u64())
        .unwrap_or_else(|| panic!("no bomb instance in {status}"));
    let instance = std::net::SocketAddr::from(([127, 0, 0, 1], port as u16));
    let r = get(instance, "/healthz").await;
    assert_eq!(
        (r.status, r.body.as_str()),
        (200, "ok"),
        "a new connection at the limit"
    );
    // A connection that sends nothing holds the accepting thread for a moment only.
    let stalled = tokio::net::TcpStream::connect(instance).await.unwrap();
    let r = tokio::time::timeout(Duration::from_secs(20), get(instance, "/healthz"))
        .await
        .expect("a stalled connection at the limit stopped the instance from accepting");
    assert_eq!(r.status, 200, "{}", r.body);
    drop(stalled);
    // The instance dies: its children go with it, and a new instance serves.
    let r = post(addr, "/bomb", r#"{"exit": true}"#).await;
    assert_eq!(r.status, 502, "{}", r.body);
    assert!(
        eventually(Duration::from_secs(5), async || instance_pids(
            addr,
            Some("bomb")
        )
        .is_empty())
        .await,
        "the bomb's children outlived its instance: {:?}",
        instance_pids(addr, Some("bomb"))
    );
    let r = post(addr, "/bomb", r#"{"max": 4}"#).await;
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.json()["forked"], 4, "{}", r.body);
    p.shutdown().await;
    assert!(
        instance_pids(addr, Some("bomb")).is_empty(),
        "children outlived the platform"
    );
}

/// Cold start figures (docs/PERFORMANCE.md, "Instance sandbox"): the first request to `echo` of
/// tests/apps/faults on a fresh platform (an instance is started for it) and the second (warm), 30
/// platforms; prints the medians. Run with `--ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore]
async fn cold_start_figures() {
    let app = built("tests/apps/faults");
    let (mut cold, mut warm) = (Vec::new(), Vec::new());
    for _ in 0..30 {
        let p = start(&app, None).await;
        for times in [&mut cold, &mut warm] {
            let t = std::time::Instant::now();
            let r = post(p.addr(), "/echo", r#"{"x": 1}"#).await;
            times.push(t.elapsed().as_secs_f64() * 1e3);
            assert_eq!(r.status, 200, "{}", r.body);
        }
        p.shutdown().await;
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(|a, b| a.partial_cmp(b).unwrap());
        v[v.len() / 2]
    };
    let (c, w) = (median(&mut cold), median(&mut warm));
    println!(
        "cold first request p50 {c:.2} ms, warm p50 {w:.2} ms, cold start {:.2} ms",
        c - w
    );
}
