//! Faults with real processes: an instance SIGKILLed mid-request, an instance killed by its memory
//! limit under load, a Rust panic and a C abort inside merged callees, Redis stopped during a
//! workflow, a callee that never answers, a handler that never returns, clients that hang up, and
//! the gateway restarted while instances run.
//!
//! Every test sends its requests concurrently and counts the answers: each request gets one, within
//! its timeout, and it is a success or an error naming the failing function and the cause; then the
//! platform serves again without being restarted by hand.

use quilt_harness as common;

use common::{built, deployables, eventually, instance_pids, is_running, metric_of, post, Resp};
use quilt_platform::{Deployable, Platform, PlatformConfig};
use std::net::SocketAddr;
use std::time::{Duration, Instant};

const FAULTS: &str = "tests/apps/faults";
const POLYGLOT: &str = "examples/polyglot";
const WAIT: Duration = Duration::from_secs(20);

/// One answer: its status, its body and how long it took.
struct Answer {
    resp: Resp,
    took: Duration,
}

/// Sends every `(path, body)` at once and waits for all answers (in order).
async fn send_all(addr: SocketAddr, requests: Vec<(String, String)>) -> Vec<Answer> {
    let tasks: Vec<_> = requests
        .into_iter()
        .map(|(path, body)| {
            tokio::spawn(async move {
                let t = Instant::now();
                let resp = post(addr, &path, body).await;
                Answer {
                    resp,
                    took: t.elapsed(),
                }
            })
        })
        .collect();
    let mut answers = Vec::new();
    for t in tasks {
        answers.push(t.await.expect("the request task finished"));
    }
    answers
}

/// Asserts that a failed answer is JSON naming `function` and, in its error, one of `causes`.
fn names_function_and_cause(r: &Resp, function: &str, causes: &[&str]) {
    let body = r.json();
    assert_eq!(body["function"], function, "{r:?}");
    let error = body["error"].as_str().unwrap_or_default();
    assert!(
        causes.iter().any(|c| error.contains(c)),
        "status {}: {error:?} names none of {causes:?}",
        r.status
    );
}

/// `n` requests to `wait`, of `ms` each.
fn waits(n: usize, ms: u64) -> Vec<(String, String)> {
    (0..n)
        .map(|_| ("/wait".to_string(), format!(r#"{{"ms":{ms}}}"#)))
        .collect()
}

/// A platform serving the fault app whose `wait` has run on every slot (its instances are up),
/// and `wait`'s settings.
async fn wait_warm() -> (Platform, quilt_manifest::Function) {
    let app = built(FAULTS);
    let f = app.function("wait").unwrap().clone();
    let p = common::start(&app, None).await;
    let slots = (f.max_instances * f.concurrency) as usize;
    let warm = send_all(p.addr(), waits(slots, 100)).await;
    assert!(warm.iter().all(|a| a.resp.status == 200));
    (p, f)
}

fn count(answers: &[Answer], status: u16) -> usize {
    answers.iter().filter(|a| a.resp.status == status).count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_mid_request_answers_every_request_and_a_new_instance_serves() {
    let app = built(FAULTS);
    let f = app.function("wait").unwrap();
    let p = common::start(&app, None).await;
    let addr = p.addr();
    assert_eq!(post(addr, "/wait", r#"{"ms":0}"#).await.status, 200);

    // 2 instances x 8 slots run 16 requests, 8 more wait in the queue.
    let sent = 24;
    let load = tokio::spawn(send_all(
        addr,
        (0..sent)
            .map(|_| ("/wait".to_string(), r#"{"ms":1500}"#.to_string()))
            .collect(),
    ));
    assert!(
        eventually(WAIT, async || instance_pids(addr, Some("wait")).len() == 2).await,
        "the second instance did not start"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    let victim = instance_pids(addr, Some("wait"))[0];
    // SAFETY: kill has no memory-safety preconditions; `victim` is an instance of this test.
    assert_eq!(unsafe { libc::kill(victim as i32, libc::SIGKILL) }, 0);

    let answers = load.await.unwrap();
    assert_eq!(answers.len(), sent, "one answer per request");
    let limit = Duration::from_millis(f.timeout_ms) + Duration::from_secs(2);
    for a in &answers {
        assert!(a.took < limit, "answered after {:?}", a.took);
        match a.resp.status {
            200 => assert_eq!(a.resp.json()["slept"], 1500),
            502 => names_function_and_cause(&a.resp, "wait", &["crashed (killed by signal 9)"]),
            other => panic!("unexpected {other}: {:?}", a.resp),
        }
    }
    let failed = count(&answers, 502);
    assert!(
        (1..=8).contains(&failed),
        "the killed instance's requests (at most its 8 slots) failed: {failed}"
    );
    assert_eq!(
        count(&answers, 200),
        sent - failed,
        "every other request succeeded"
    );
    assert!(!is_running(victim), "the killed process is gone");

    // Recovery without a restart: a replacement serves, the crash is counted.
    let r = post(addr, "/wait", r#"{"ms":1}"#).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_ne!(r.json()["pid"], victim);
    let labels = [("function", "wait")];
    assert_eq!(
        metric_of(addr, "quilt_instance_crashes_total", &labels).await,
        1.0
    );
    assert!(
        eventually(WAIT, async || !instance_pids(addr, Some("wait"))
            .contains(&victim))
        .await
    );
    p.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_limit_kill_under_concurrent_load_answers_every_request() {
    let app = built(FAULTS);
    let f = app.function("alloc").unwrap();
    assert_eq!(
        (f.memory_mb, f.max_instances, f.concurrency, f.queue),
        (64, 1, 1, 4)
    );
    let p = common::start(&app, None).await;
    let addr = p.addr();
    if !p.enforcement().enforced() {
        println!(
            "SKIPPED: memory limits are not enforced here: {:?}",
            p.enforcement()
        );
        p.shutdown().await;
        return;
    }
    assert_eq!(post(addr, "/alloc", r#"{"mb":8}"#).await.status, 200);

    // One request over the limit, then more than the one slot and the queue of four can hold.
    let over = tokio::spawn(send_all(
        addr,
        vec![("/alloc".to_string(), r#"{"mb":256}"#.to_string())],
    ));
    tokio::time::sleep(Duration::from_millis(20)).await;
    let small = 8;
    let rest = send_all(
        addr,
        (0..small)
            .map(|_| ("/alloc".to_string(), r#"{"mb":16}"#.to_string()))
            .collect(),
    )
    .await;
    let mut answers = over.await.unwrap();
    answers.extend(rest);
    assert_eq!(answers.len(), small + 1, "one answer per request");
    let limit = Duration::from_millis(f.timeout_ms) + Duration::from_secs(2);
    for a in &answers {
        assert!(a.took < limit, "answered after {:?}", a.took);
        match a.resp.status {
            200 => {}
            502 => names_function_and_cause(&a.resp, "alloc", &["killed by its memory limit"]),
            503 => names_function_and_cause(&a.resp, "alloc", &["overloaded"]),
            other => panic!("unexpected {other}: {:?}", a.resp),
        }
    }
    assert_eq!(answers[0].resp.status, 502, "{:?}", answers[0].resp);
    assert_eq!(
        count(&answers, 502),
        1,
        "only the request over the limit failed"
    );
    assert!(count(&answers, 200) >= 4, "the queued requests were served");

    // Recovery: the replacement instance serves within the limit.
    let r = post(addr, "/alloc", r#"{"mb":16}"#).await;
    assert_eq!((r.status, r.body.as_str()), (200, r#"{"mb":16}"#));
    let labels = [("function", "alloc")];
    assert_eq!(
        metric_of(addr, "quilt_instance_crashes_total", &labels).await,
        1.0
    );
    p.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_that_give_up_while_queued_leave_every_slot_free() {
    use tokio::io::AsyncWriteExt;
    let (p, f) = wait_warm().await;
    let (addr, slots) = (p.addr(), (f.max_instances * f.concurrency) as usize);

    // Rounds of clients that fill every slot and the queue, then hang up (as a load generator does
    // when it stops): some queued requests are handed a slot just as their client goes away.
    let request = b"POST /wait HTTP/1.1\r\nHost: q\r\nContent-Length: 9\r\n\r\n{\"ms\":20}";
    for round in 0..8u64 {
        let clients: Vec<_> = (0..slots * 3)
            .map(|_| {
                tokio::spawn(async move {
                    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
                    s.write_all(request).await.unwrap();
                    tokio::time::sleep(Duration::from_secs(30)).await;
                })
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(15 + 5 * round)).await;
        for c in clients {
            c.abort();
        }
    }
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Every slot is free again: as many requests as there are slots run at once.
    let t = Instant::now();
    let answers = send_all(addr, waits(slots, 500)).await;
    let took = t.elapsed();
    assert!(answers.iter().all(|a| a.resp.status == 200));
    assert!(
        took < Duration::from_millis(950),
        "{slots} requests of 500 ms took {took:?}: slots were lost to cancelled requests"
    );
    p.shutdown().await;
}

/// A platform serving the app's functions and its installed merged binaries.
async fn start_with_merged(app: &quilt_manifest::Manifest) -> Platform {
    let mut all = deployables(app);
    all.extend(merged_deployables(app));
    Platform::start(PlatformConfig {
        deployables: all,
        ..PlatformConfig::default()
    })
    .await
    .unwrap()
}

/// The deployables of an app's installed merged binaries with their members' budget (as `quilt up`
/// gives it), one instance at most.
fn merged_deployables(app: &quilt_manifest::Manifest) -> Vec<Deployable> {
    quilt_merge::deployment::MergedDeployment::installed(app)
        .unwrap()
        .into_iter()
        .map(|(d, binary)| {
            let root = app.function(&d.root).unwrap();
            let members = || d.members.iter().map(|m| app.function(m).unwrap());
            Deployable {
                name: d.name.clone(),
                binary,
                entry: d.root.clone(),
                memory_mb: d.memory_mb,
                cpu: d.cpu,
                min_instances: 0,
                max_instances: 1,
                concurrency: members().map(|f| f.concurrency).sum(),
                queue: members().map(|f| f.queue).sum(),
                timeout: Duration::from_millis(root.timeout_ms),
                pids: members().map(|f| f.pids).sum(),
                sandbox: true,
                env: Vec::new(),
                args: Vec::new(),
                members: d.members.clone(),
                placements: Vec::new(),
            }
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn panic_and_abort_inside_merged_callees() {
    let app = built(POLYGLOT);
    {
        let _lock = common::build_lock(&app.dir);
        for tree in ["rust-to-c c-leaf\n", "c-to-rust rust-leaf\n"] {
            let tree =
                quilt_merge::tree::Tree::parse(std::path::Path::new("t.tree"), tree).unwrap();
            quilt_merge::merge_group(&app, &tree, &quilt_merge::MergeOptions::default())
                .expect("the group merges");
        }
    }
    let p = start_with_merged(&app).await;
    let addr = p.addr();
    let route = "rust-to-c-merged";
    let r = post(addr, &format!("/{route}"), "warm").await;
    assert_eq!(
        (r.status, r.body.as_str()),
        (200, "rust-to-c(c-leaf[warm])")
    );
    let pid = instance_pids(addr, Some(route));
    assert_eq!(pid.len(), 1);

    // A C abort in the merged callee takes the whole merged instance down: the request that caused
    // it, and any other in flight on that instance, get a 502 naming the deployment and the crash.
    let mut requests: Vec<(String, String)> = (0..8)
        .map(|i| (format!("/{route}"), format!("ok{i}")))
        .collect();
    requests.insert(4, (format!("/{route}"), "abort".to_string()));
    let answers = send_all(addr, requests).await;
    assert_eq!(answers.len(), 9, "one answer per request");
    for (i, a) in answers.iter().enumerate() {
        match a.resp.status {
            200 => {
                let j = if i < 4 { i } else { i - 1 };
                assert_eq!(a.resp.body, format!("rust-to-c(c-leaf[ok{j}])"));
            }
            502 => names_function_and_cause(&a.resp, route, &["crashed (killed by signal 6)"]),
            other => panic!("unexpected {other}: {:?}", a.resp),
        }
    }
    assert_eq!(
        answers[4].resp.status, 502,
        "the abort: {:?}",
        answers[4].resp
    );
    assert!(!is_running(pid[0]), "the aborted process is gone");
    // The next request succeeds on a new instance; the unmerged originals were never affected.
    let r = post(addr, &format!("/{route}"), "after").await;
    assert_eq!(
        (r.status, r.body.as_str()),
        (200, "rust-to-c(c-leaf[after])")
    );
    assert_ne!(instance_pids(addr, Some(route)), pid);

    // A Rust panic in a merged callee is contained: the caller gets the error, naming the callee and
    // the panic, and the instance keeps serving.
    let route = "c-to-rust-merged";
    let answers = send_all(
        addr,
        (0..6)
            .map(|i| {
                let input = if i % 2 == 0 { "panic" } else { "fine" };
                (format!("/{route}"), input.to_string())
            })
            .collect(),
    )
    .await;
    assert_eq!(answers.len(), 6);
    for (i, a) in answers.iter().enumerate() {
        if i % 2 == 0 {
            assert_eq!(a.resp.status, 500, "{:?}", a.resp);
            let error = a.resp.json()["error"].as_str().unwrap().to_string();
            assert!(error.contains("rust-leaf"), "{error}");
            assert!(error.contains("rust-leaf was asked to panic"), "{error}");
        } else {
            assert_eq!(
                (a.resp.status, a.resp.body.as_str()),
                (200, "c-to-rust(rust-leaf[fine])")
            );
        }
    }
    let labels = [("function", route)];
    assert_eq!(
        metric_of(addr, "quilt_instance_starts_total", &labels).await,
        1.0
    );
    assert_eq!(
        metric_of(addr, "quilt_instance_crashes_total", &labels).await,
        0.0
    );
    p.shutdown().await;
}

/// `quilt merge --harden`: in the merged binary, the C member's unchecked table read traps and its
/// unchecked copy into a stack buffer aborts (the instance dies, the request gets a 502 naming the
/// deployment and the signal, the next request a new instance) where the plain merge would read
/// and write outside their objects; in-bounds answers are those of the unmerged workflow.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hardened_c_members_stop_out_of_bounds_access() {
    use quilt_merge::{merge_group, tree::Tree, MergeOptions};
    let app = built(FAULTS);
    let tree = Tree::parse(std::path::Path::new("t.tree"), "call c-bounds\n").unwrap();
    let ir_of = |harden: bool| {
        let _lock = common::build_lock(&app.dir);
        let opts = MergeOptions {
            harden,
            keep_ir: true,
            ..MergeOptions::default()
        };
        let report = merge_group(&app, &tree, &opts).expect("the group merges");
        assert_eq!(report.hardened, harden);
        let dir = report.ir.unwrap();
        let modules = std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().path());
        modules
            .map(|m| std::fs::read_to_string(m).unwrap())
            .collect::<String>()
    };
    let checks = ["__memcpy_chk", "@llvm.ubsantrap", "sspstrong"];
    let plain = ir_of(false);
    assert!(
        checks.iter().all(|c| !plain.contains(c)),
        "plain merge has no checks"
    );
    let hardened = ir_of(true);
    for c in checks {
        assert!(hardened.contains(c), "hardened merge lacks {c}");
    }

    let p = start_with_merged(&app).await;
    let addr = p.addr();
    let call = |route: &'static str, body: String| async move {
        post(addr, route, format!(r#"{{"to":"c-bounds","body":{body}}}"#)).await
    };
    for n in [0, 3, 7] {
        let base = call("/call", n.to_string()).await;
        assert_eq!(base.status, 200, "{base:?}");
        assert_eq!(base.json()["square"], n * n);
        assert_eq!(call("/call-merged", n.to_string()).await.body, base.body);
    }
    let r = call("/call-merged", r#""short""#.into()).await;
    assert_eq!(r.json(), serde_json::json!({"copied": 7, "first": 34}));
    let remote = metric_of(
        addr,
        "quilt_gateway_requests_total",
        &[("function", "c-bounds")],
    )
    .await;

    for (bad, signal) in [
        ("8".to_string(), "killed by signal 4"),
        (format!("\"{}\"", "x".repeat(40)), "killed by signal 6"),
    ] {
        let pid = instance_pids(addr, Some("call-merged"));
        let r = call("/call-merged", bad).await;
        assert_eq!(r.status, 502, "{r:?}");
        names_function_and_cause(&r, "call-merged", &[signal]);
        assert!(!is_running(pid[0]), "the trapped instance is gone");
        let r = call("/call-merged", "5".into()).await;
        assert_eq!(r.json()["square"], 25, "{r:?}");
    }
    assert_eq!(
        metric_of(
            addr,
            "quilt_gateway_requests_total",
            &[("function", "c-bounds")]
        )
        .await,
        remote,
        "the merged calls stayed local"
    );
    p.shutdown().await;
}

/// Starts `redis-server` on `port` (to bring a stopped Redis back at the same address).
fn redis_on(port: u16) -> std::process::Child {
    let child = std::process::Command::new("redis-server")
        .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
        .args(["--save", "", "--appendonly", "no"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("redis-server starts");
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(addr).is_err() {
        assert!(
            Instant::now() < deadline,
            "redis-server did not listen on {addr}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    child
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_stopped_during_a_workflow_gives_errors_naming_the_function() {
    let app = built(FAULTS);
    let mut redis = quilt_platform::services::Service::redis().expect("redis-server runs");
    let port = redis.addr.port();
    let mut all = deployables(&app);
    for d in &mut all {
        d.env.push(redis.env());
    }
    let p = Platform::start(PlatformConfig {
        deployables: all,
        ..PlatformConfig::default()
    })
    .await
    .unwrap();
    let addr = p.addr();
    // The workflow: call -> kv (through the gateway) -> Redis.
    let set = r#"{"to":"kv","body":{"key":"k","value":"v"}}"#;
    let get = r#"{"to":"kv","body":{"key":"k"}}"#;
    let r = post(addr, "/call", set).await;
    assert_eq!(
        (r.status, r.json()["value"].as_str()),
        (200, Some("v")),
        "{r:?}"
    );

    // Four clients run the workflow back to back; Redis stops in the middle.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let clients: Vec<_> = (0..4)
        .map(|_| {
            let stop = std::sync::Arc::clone(&stop);
            tokio::spawn(async move {
                let (mut sent, mut answers) = (0, Vec::new());
                while !stop.load(std::sync::atomic::Ordering::Acquire) {
                    sent += 1;
                    let t = Instant::now();
                    let resp = post(addr, "/call", get).await;
                    answers.push(Answer {
                        resp,
                        took: t.elapsed(),
                    });
                }
                (sent, answers)
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    redis.stop();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // Meanwhile the platform keeps serving functions that do not need Redis.
    let r = post(addr, "/echo", r#"{"during":"outage"}"#).await;
    assert_eq!(r.status, 200);
    stop.store(true, std::sync::atomic::Ordering::Release);
    let (mut sent, mut answers) = (0, Vec::new());
    for c in clients {
        let (s, a) = c.await.unwrap();
        sent += s;
        answers.extend(a);
    }
    assert_eq!(answers.len(), sent, "one answer per request");
    for a in &answers {
        assert!(
            a.took < Duration::from_secs(5),
            "answered after {:?}",
            a.took
        );
        match a.resp.status {
            200 => assert_eq!(a.resp.json()["value"], "v"),
            500 => {
                // The entry reports its callee's failure: kv, and why (Redis at its address).
                names_function_and_cause(&a.resp, "call", &["function 'kv' failed"]);
                let error = a.resp.json()["error"].as_str().unwrap().to_string();
                assert!(error.contains("redis at"), "{error}");
            }
            other => panic!("unexpected {other}: {:?}", a.resp),
        }
    }
    assert!(
        count(&answers, 200) >= 1,
        "some requests ran before the stop"
    );
    assert!(
        count(&answers, 500) >= 1,
        "some requests ran during the outage"
    );
    assert_eq!(
        metric_of(addr, "quilt_instance_crashes_total", &[("function", "kv")]).await,
        0.0,
        "a storage outage is an error, not a crash"
    );

    // Redis comes back at the same address: the workflow serves again without a platform restart
    // (its data is gone: Redis ran without persistence).
    let mut again = redis_on(port);
    let r = post(addr, "/call", set).await;
    assert_eq!(
        (r.status, r.json()["value"].as_str()),
        (200, Some("v")),
        "{r:?}"
    );
    let r = post(addr, "/call", get).await;
    assert_eq!(
        (r.status, r.json()["value"].as_str()),
        (200, Some("v")),
        "{r:?}"
    );
    p.shutdown().await;
    let _ = again.kill();
    let _ = again.wait();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_callee_that_never_answers_gives_504_naming_it_then_serves_again() {
    let app = built(FAULTS);
    let f = app.function("sleep").unwrap();
    assert_eq!(f.timeout_ms, 1000);
    let p = common::start(&app, None).await;
    let addr = p.addr();
    assert_eq!(post(addr, "/sleep", r#"{"ms":0}"#).await.status, 200);

    // Directly, and as the callee of a workflow (call -> sleep): sleep answers after a minute, far
    // beyond its timeout.
    let never = r#"{"ms":60000}"#;
    let answers = send_all(
        addr,
        vec![
            ("/sleep".to_string(), never.to_string()),
            (
                "/call".to_string(),
                format!(r#"{{"to":"sleep","body":{never}}}"#),
            ),
        ],
    )
    .await;
    assert_eq!(answers.len(), 2);
    let direct = &answers[0];
    assert_eq!(direct.resp.status, 504, "{:?}", direct.resp);
    names_function_and_cause(&direct.resp, "sleep", &["did not answer within 1000 ms"]);
    assert!(
        direct.took < Duration::from_millis(3000),
        "{:?}",
        direct.took
    );
    // The workflow's entry answers within its own timeout with the callee's timeout: whether the
    // call ran (it times out) or queued behind the direct one (it waits past the timeout), the
    // error names sleep and the timeout.
    let flow = &answers[1];
    assert_eq!(flow.resp.status, 500, "{:?}", flow.resp);
    names_function_and_cause(&flow.resp, "call", &["function 'sleep' timed out"]);
    assert!(flow.took < Duration::from_millis(5000), "{:?}", flow.took);

    // Recovery: sleep's one slot is free again once every execution that got it has ended (a
    // callee request that reached a fresh instance just before its deadline keeps the slot until
    // it has run its own timeout there, then that instance is recycled); sleep and the workflow
    // answer.
    let t = Instant::now();
    assert!(
        eventually(Duration::from_secs(4), async || {
            let r = post(addr, "/sleep", r#"{"ms":5}"#).await;
            (r.status, r.body.as_str()) == (200, r#"{"slept":5}"#)
        })
        .await,
        "sleep does not serve again"
    );
    assert!(
        t.elapsed() < Duration::from_millis(2500),
        "{:?}",
        t.elapsed()
    );
    let r = post(addr, "/call", r#"{"to":"sleep","body":{"ms":5}}"#).await;
    assert_eq!((r.status, r.body.as_str()), (200, r#"{"slept":5}"#));
    p.shutdown().await;
}

/// A handler that never returns: its client gets 504 at the timeout, and the platform reclaims
/// the execution (as Lambda does): the instance gets no new requests, its other request finishes,
/// then it is killed, within 2 s of the 504, and a fresh instance serves at full speed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_that_never_returns_is_recycled_and_the_function_serves_again() {
    let app = built(FAULTS);
    let f = app.function("spin").unwrap();
    assert_eq!((f.timeout_ms, f.max_instances), (1000, 1));
    let p = common::start(&app, None).await;
    let addr = p.addr();
    let warm = post(addr, "/spin", r#"{"ms":1}"#).await;
    assert_eq!(warm.status, 200, "{warm:?}");
    let pid = warm.json()["pid"].as_u64().unwrap() as u32;

    let forever = tokio::spawn(async move { post(addr, "/spin", "{}").await });
    tokio::time::sleep(Duration::from_millis(600)).await;
    // Sent while the other spins; it finishes within its own timeout, after the other's 504.
    let finite = tokio::spawn(async move { post(addr, "/spin", r#"{"ms":700}"#).await });
    let r = forever.await.unwrap();
    let answered = Instant::now();
    assert_eq!(r.status, 504, "{r:?}");
    names_function_and_cause(&r, "spin", &["did not answer within 1000 ms"]);
    let r = finite.await.unwrap();
    assert_eq!(
        r.status, 200,
        "the other request finished on the recycled instance: {r:?}"
    );
    assert_eq!(r.json()["pid"], pid);

    assert!(
        eventually(Duration::from_secs(2), async || !is_running(pid)).await,
        "the spinning instance {pid} still runs 2 s after its 504"
    );
    let gone = answered.elapsed();
    // A fresh instance serves at full speed: its 4 slots run 4 requests of 200 ms at once.
    let t = Instant::now();
    let answers = send_all(
        addr,
        (0..4)
            .map(|_| ("/spin".to_string(), r#"{"ms":200}"#.to_string()))
            .collect(),
    )
    .await;
    for a in &answers {
        assert_eq!(a.resp.status, 200, "{:?}", a.resp);
        assert_ne!(a.resp.json()["pid"], pid);
    }
    assert!(
        t.elapsed() < Duration::from_millis(1000),
        "{:?}",
        t.elapsed()
    );
    println!(
        "spinning instance gone {gone:?} after its 504; 4 x 200 ms then took {:?}",
        t.elapsed()
    );
    let labels = [("function", "spin")];
    assert_eq!(
        metric_of(addr, "quilt_instance_recycles_total", &labels).await,
        1.0
    );
    assert_eq!(
        metric_of(addr, "quilt_instance_crashes_total", &labels).await,
        0.0
    );
    p.shutdown().await;
}

/// Clients that hang up while their requests run: each execution keeps its slot until the
/// instance answers, so the instance never runs more than its concurrency, and the requests are
/// counted as aborted (requests = responses + aborted).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aborted_requests_keep_their_slot_until_the_instance_answers_and_are_counted() {
    use tokio::io::AsyncWriteExt;
    let (p, f) = wait_warm().await;
    let (addr, slots) = (p.addr(), (f.max_instances * f.concurrency) as usize);

    // Clients fill every slot with requests of 1.5 s, and hang up after 300 ms.
    let request = b"POST /wait HTTP/1.1\r\nHost: q\r\nContent-Length: 11\r\n\r\n{\"ms\":1500}";
    let mut gone = Vec::new();
    for _ in 0..slots {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(request).await.unwrap();
        gone.push(s);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    drop(gone);
    // Clients that stay: they run only as the hung-up requests end.
    let answers = send_all(addr, waits(slots, 300)).await;
    let last = send_all(addr, waits(2, 1)).await;
    let mut peak = 0;
    for a in answers.iter().chain(&last) {
        assert_eq!(a.resp.status, 200, "{:?}", a.resp);
        peak = peak.max(a.resp.json()["peak"].as_u64().unwrap());
    }
    assert!(
        peak <= f.concurrency as u64,
        "an instance ran {peak} executions at once; its concurrency is {}",
        f.concurrency
    );
    let text = common::get(addr, "/metrics").await.body;
    let labels = [("function", "wait")];
    let aborted = common::metric(&text, "quilt_gateway_requests_aborted_total", &labels);
    assert_eq!(aborted, Some(slots as f64), "{text}");
    let requests = common::metric_sum(&text, "quilt_gateway_requests_total", &labels);
    let responses = common::metric_sum(&text, "quilt_gateway_responses_total", &labels);
    assert_eq!(requests, responses + slots as f64, "{text}");
    p.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_restarted_while_instances_run() {
    use http_body_util::{BodyExt, Full};
    let app = built(FAULTS);
    let config = |bind: SocketAddr| PlatformConfig {
        bind,
        deployables: deployables(&app),
        ..PlatformConfig::default()
    };
    let first = Platform::start(config("127.0.0.1:0".parse().unwrap()))
        .await
        .unwrap();
    let addr = first.addr();
    assert_eq!(post(addr, "/echo", "{}").await.status, 200);
    assert_eq!(post(addr, "/wait", r#"{"ms":0}"#).await.status, 200);
    // A client keeping its connection alive across the restart.
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut kept, conn) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(conn);
    let on_kept = |body: &'static str| {
        hyper::Request::post("/echo")
            .header(hyper::header::HOST, "quilt")
            .body(Full::new(bytes::Bytes::from(body)))
            .unwrap()
    };
    let r = kept.send_request(on_kept("{}")).await.unwrap();
    assert_eq!(r.status(), 200);
    r.into_body().collect().await.unwrap();

    // Requests in flight when the gateway goes down.
    let sent = 6;
    let in_flight = tokio::spawn(send_all(
        addr,
        (0..sent)
            .map(|_| ("/wait".to_string(), r#"{"ms":3000}"#.to_string()))
            .collect(),
    ));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let old = instance_pids(addr, None);
    assert!(old.len() >= 2, "echo and wait run: {old:?}");
    let t = Instant::now();
    first.shutdown().await;
    for pid in &old {
        assert!(!is_running(*pid), "instance {pid} outlived its gateway");
    }
    let second = Platform::start(config(addr))
        .await
        .expect("a new gateway binds the same port at once");
    assert_eq!(second.addr(), addr);

    let answers = in_flight.await.unwrap();
    assert_eq!(answers.len(), sent, "one answer per request in flight");
    for a in &answers {
        assert_eq!(a.resp.status, 502, "{:?}", a.resp);
        names_function_and_cause(&a.resp, "wait", &["stopped by the platform"]);
    }
    assert!(
        t.elapsed() < Duration::from_secs(3),
        "answered at shutdown, not after the sleep"
    );

    // The kept-alive connection still reaches the old gateway: answered at once, and closed.
    let r = kept.send_request(on_kept("{}")).await.unwrap();
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers()[hyper::header::CONNECTION], "close");
    let body = r.into_body().collect().await.unwrap().to_bytes();
    assert!(
        String::from_utf8_lossy(&body).contains("the platform is stopping"),
        "{body:?}"
    );

    // New requests reach the new gateway and new instances.
    let r = post(addr, "/wait", r#"{"ms":1}"#).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(post(addr, "/echo", r#"{"a":1}"#).await.body, r#"{"a":1}"#);
    let new = instance_pids(addr, None);
    assert_eq!(new.len(), 2, "{new:?}");
    assert!(new.iter().all(|p| !old.contains(p)));
    second.shutdown().await;
    assert!(
        eventually(WAIT, async || instance_pids(addr, None).is_empty()).await,
        "orphans: {:?}",
        instance_pids(addr, None)
    );
}
