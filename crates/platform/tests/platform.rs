//! The local platform with real function processes and real HTTP: examples/hello (C and Rust
//! functions) and the fault-provoking functions of tests/apps/faults.

use quilt_harness as common;

use common::{built, eventually, get, instance_pids, is_running, metric, metric_of, post, start};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const FAULTS: &str = "tests/apps/faults";
const HELLO: &str = "examples/hello";
const WAIT: Duration = Duration::from_secs(20);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hello_runs_c_and_rust_functions_and_the_workflow() {
    let app = built(HELLO);
    let p = start(&app, None).await;
    let addr = p.addr();

    // The C function directly.
    let r = post(addr, "/upper", r#"{"text":"quilt"}"#).await;
    assert_eq!(
        (r.status, r.json()),
        (200, serde_json::json!({"text": "QUILT"}))
    );
    let r = post(addr, "/upper", r#"{"nope":1}"#).await;
    assert_eq!(r.status, 400, "{r:?}");
    assert!(
        r.json()["error"].as_str().unwrap().contains("expected"),
        "{r:?}"
    );
    assert_eq!(r.json()["function"], "upper");

    // A Rust function directly.
    let r = post(addr, "/decorate", r#"{"text":"QUILT"}"#).await;
    assert_eq!(
        (r.status, r.json()),
        (200, serde_json::json!({"text": "Hello, QUILT!"}))
    );
    let r = post(addr, "/decorate", "not json").await;
    assert_eq!(r.status, 400, "{r:?}");
    assert!(
        r.json()["error"].as_str().unwrap().contains("request"),
        "{r:?}"
    );

    // The workflow: hello -> upper (C) -> decorate (Rust), each hop through the gateway.
    let r = post(addr, "/hello", r#"{"name":"quilt"}"#).await;
    assert_eq!(
        (r.status, r.json()),
        (200, serde_json::json!({"message": "Hello, QUILT!"}))
    );
    assert_eq!(r.content_type, "application/json");
    let m = get(addr, "/metrics").await.body;
    let count = |f: &str| metric(&m, "quilt_gateway_requests_total", &[("function", f)]);
    assert_eq!(count("hello"), Some(1.0));
    assert_eq!(
        count("upper"),
        Some(3.0),
        "two direct calls and one from hello"
    );
    assert_eq!(
        count("decorate"),
        Some(3.0),
        "two direct calls and one from hello"
    );

    let pids = instance_pids(addr, None);
    assert_eq!(pids.len(), 3, "one instance per function: {pids:?}");
    p.shutdown().await;
    for pid in pids {
        assert!(!is_running(pid), "instance {pid} survived shutdown");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn gateway_answers_healthz_unknown_function_and_wrong_method() {
    let app = built(FAULTS);
    let p = start(&app, None).await;
    let addr = p.addr();

    let r = get(addr, "/healthz").await;
    assert_eq!((r.status, r.body.as_str()), (200, "ok"));

    // The gateway's address itself lists the routes.
    let r = get(addr, "/").await;
    assert_eq!(
        (r.status, r.content_type.as_str()),
        (200, "application/json"),
        "{r:?}"
    );
    assert_eq!(r.json()["routes"], serde_json::json!(p.routes()));
    assert!(p.routes().contains(&"echo".to_string()));

    let r = post(addr, "/no-such-function", "{}").await;
    assert_eq!(r.status, 404, "{r:?}");
    assert_eq!(r.content_type, "application/json");
    let body = r.json();
    assert!(
        body["error"].as_str().unwrap().contains("no-such-function"),
        "{body}"
    );
    assert_eq!(body["function"], "no-such-function");

    let r = get(addr, "/echo").await;
    assert_eq!(r.status, 405, "{r:?}");
    assert!(r.json()["error"].as_str().unwrap().contains("POST"));
    assert_eq!(
        instance_pids(addr, None),
        Vec::<u32>::new(),
        "nothing was started for requests that never reached a function"
    );
    p.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn body_over_the_limit_is_413() {
    let app = built(FAULTS);
    let limit = app.platform.max_body_bytes;
    assert_eq!(limit, 65536, "the fixture sets a small limit");
    let p = start(&app, None).await;
    let addr = p.addr();

    // Just under the limit: echoed back whole.
    let text = "x".repeat(limit - 100);
    let under = serde_json::json!({ "text": text }).to_string();
    let r = post(addr, "/echo", under.clone()).await;
    assert_eq!(r.status, 200);
    assert_eq!(r.body.len(), under.len());
    assert_eq!(r.json()["text"].as_str().unwrap().len(), limit - 100);

    // Over the limit with a Content-Length: refused up front.
    let over = serde_json::json!({ "text": "y".repeat(limit + 1) }).to_string();
    let r = post(addr, "/echo", over.clone()).await;
    assert_eq!(r.status, 413, "{}", &r.body[..r.body.len().min(200)]);
    assert_eq!(r.json()["function"], "echo");
    assert!(r.json()["error"].as_str().unwrap().contains("65536"));

    // Over the limit in chunks (no Content-Length): refused while reading.
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let head =
        "POST /echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n";
    s.write_all(head.as_bytes()).await.unwrap();
    for chunk in over.as_bytes().chunks(16 * 1024) {
        let sent = async {
            s.write_all(format!("{:x}\r\n", chunk.len()).as_bytes())
                .await?;
            s.write_all(chunk).await?;
            s.write_all(b"\r\n").await
        };
        if sent.await.is_err() {
            break; // the gateway may answer and close before the whole body is sent
        }
    }
    let _ = s.write_all(b"0\r\n\r\n").await;
    let mut reply = Vec::new();
    let _ = tokio::time::timeout(WAIT, s.read_to_end(&mut reply)).await;
    let reply = String::from_utf8_lossy(&reply);
    assert!(reply.starts_with("HTTP/1.1 413"), "{reply}");

    p.shutdown().await;
}

/// A client that sends half a request head (or nothing) loses its connection after the header
/// timeout, while others keep being served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_headers_are_cut_off_after_the_header_timeout() {
    let app = built(HELLO);
    let p = quilt_platform::Platform::start(quilt_platform::PlatformConfig {
        bind: "127.0.0.1:0".parse().unwrap(),
        deployables: common::deployables(&app),
        header_timeout: Duration::from_millis(500),
        ..quilt_platform::PlatformConfig::from_settings(&app.platform)
    })
    .await
    .unwrap();
    let addr = p.addr();
    assert_eq!(app.platform.header_timeout_s, 10.0, "the default");

    let started = Instant::now();
    let mut slow = Vec::new();
    for partial in ["", "POST /upper HTTP/1.1\r\nHost: t\r\nContent-Le"] {
        let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
        s.write_all(partial.as_bytes()).await.unwrap();
        slow.push(s);
    }
    // Meanwhile a well-behaved client is served.
    let r = post(addr, "/upper", r#"{"text":"quilt"}"#).await;
    assert_eq!(r.status, 200, "{r:?}");
    for mut s in slow {
        let mut reply = Vec::new();
        let closed = tokio::time::timeout(WAIT, s.read_to_end(&mut reply)).await;
        assert!(
            closed.is_ok(),
            "the slow connection is still open after {WAIT:?}"
        );
        let reply = String::from_utf8_lossy(&reply);
        assert!(
            reply.is_empty() || reply.starts_with("HTTP/1.1 408"),
            "{reply}"
        );
    }
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(450),
        "cut off early: {took:?}"
    );
    assert!(took < Duration::from_secs(5), "cut off late: {took:?}");
    let r = post(addr, "/upper", r#"{"text":"again"}"#).await;
    assert_eq!(r.status, 200, "{r:?}");
    p.shutdown().await;
}

/// A platform serving tests/apps/faults with a connection limit, a body memory and a body timeout
/// of its own.
async fn guarded(max_connections: usize, body_memory: usize) -> quilt_platform::Platform {
    let app = built(FAULTS);
    quilt_platform::Platform::start(quilt_platform::PlatformConfig {
        deployables: common::deployables(&app),
        max_connections: Some(max_connections),
        body_memory_bytes: body_memory,
        body_timeout: Duration::from_secs(1),
        ..quilt_platform::PlatformConfig::from_settings(&app.platform)
    })
    .await
    .unwrap()
}

/// More clients than the gateway holds send a head announcing a body and never send it: those
/// beyond `max_connections` are answered 503 with Retry-After at once, the held ones 408 after the
/// body timeout; meanwhile /healthz answers, and afterwards requests are served.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_bodies_are_cut_off_and_connections_beyond_the_limit_are_shed() {
    let (max, flood) = (24, 100);
    let p = guarded(max, 256 << 20).await;
    let addr = p.addr();
    assert_eq!(post(addr, "/echo", r#"{"a":1}"#).await.status, 200);
    let head = "POST /echo HTTP/1.1\r\nHost: q\r\nContent-Length: 10\r\n\r\n".to_string();
    let clients = common::stalled_clients(addr, flood, &head, &[], Duration::from_secs(5));
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Every place is taken: /healthz still answers, a request is told to come back.
    let health = tokio::time::timeout(Duration::from_secs(2), get(addr, "/healthz")).await;
    let health = health.expect("/healthz answers during the flood");
    assert_eq!((health.status, health.body.as_str()), (200, "ok"));
    let r = tokio::time::timeout(Duration::from_secs(2), post(addr, "/echo", "{}")).await;
    let r = r.expect("a request is answered during the flood");
    assert!(r.status == 200 || r.status == 503, "{r:?}");
    if r.status == 503 {
        assert!(
            r.json()["error"]
                .as_str()
                .unwrap()
                .contains("max_connections"),
            "{r:?}"
        );
    }

    let (mut shed, mut cut, mut closed) = (0, 0, 0);
    for (reply, took) in common::replies(clients).await {
        if reply.starts_with("HTTP/1.1 503") {
            assert!(
                reply.contains("retry-after: 1") || reply.contains("Retry-After: 1"),
                "{reply}"
            );
            assert!(reply.contains("max_connections"), "{reply}");
            assert!(took < Duration::from_millis(900), "shed after {took:?}");
            shed += 1;
        } else if reply.is_empty() {
            // Beyond the connections being answered 503 at once: closed unanswered.
            assert!(took < Duration::from_millis(900), "closed after {took:?}");
            closed += 1;
        } else {
            assert!(reply.starts_with("HTTP/1.1 408"), "{reply}");
            assert!(reply.contains("body_timeout_s"), "{reply}");
            assert!(took >= Duration::from_millis(900), "cut after {took:?}");
            assert!(took < Duration::from_secs(3), "cut after {took:?}");
            cut += 1;
        }
    }
    println!("flood of {flood}: {shed} answered 503, {closed} closed, {cut} cut with 408");
    assert!(cut <= max, "{cut} connections held, at most {max}");
    assert!(
        shed >= 1 && shed + closed >= flood - max,
        "{shed} shed, {closed} closed"
    );
    let text = get(addr, "/metrics").await.body;
    assert_eq!(
        metric(&text, "quilt_gateway_max_connections", &[]),
        Some(max as f64)
    );
    assert!(metric(&text, "quilt_gateway_connections_shed_total", &[]).unwrap() >= shed as f64);
    assert_eq!(post(addr, "/echo", r#"{"b":2}"#).await.body, r#"{"b":2}"#);
    p.shutdown().await;
}

/// Clients that send most of a large body and stall: incomplete bodies hold at most the body
/// memory (those that would pass it are answered 503 with Retry-After), the stalled ones are cut
/// off after the body timeout, and the memory is given back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incomplete_bodies_hold_at_most_the_body_memory() {
    let memory = 1 << 20;
    let p = guarded(1000, memory).await;
    let addr = p.addr();
    let (declared, sent, clients) = (65000, 60000, 32);
    let head = format!("POST /echo HTTP/1.1\r\nHost: q\r\nContent-Length: {declared}\r\n\r\n");
    let body = vec![b' '; sent];
    let tasks = common::stalled_clients(addr, clients, &head, &body, Duration::from_secs(5));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let held = metric_of(addr, "quilt_gateway_body_bytes", &[]).await;
    assert!(held > 0.0 && held <= memory as f64, "{held} bytes held");

    let (mut refused, mut cut) = (0, 0);
    for (reply, took) in common::replies(tasks).await {
        if reply.starts_with("HTTP/1.1 503") {
            assert!(reply.contains("body_memory_mb"), "{reply}");
            assert!(reply.contains("retry-after: 1"), "{reply}");
            assert!(took < Duration::from_millis(900), "refused after {took:?}");
            refused += 1;
        } else {
            assert!(reply.starts_with("HTTP/1.1 408"), "{reply}");
            cut += 1;
        }
    }
    // 1 MiB holds 17 bodies of 60000 bytes.
    assert!(
        refused >= clients - memory / sent,
        "{refused} refused, {cut} cut"
    );
    assert!(cut >= 1, "{refused} refused, {cut} cut");
    let text = get(addr, "/metrics").await.body;
    assert_eq!(metric(&text, "quilt_gateway_body_bytes", &[]), Some(0.0));
    assert_eq!(
        metric(&text, "quilt_gateway_body_memory_refusals_total", &[]),
        Some(refused as f64)
    );
    assert_eq!(post(addr, "/echo", r#"{"c":3}"#).await.body, r#"{"c":3}"#);
    p.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scales_to_zero_when_idle_and_cold_starts_on_demand() {
    let app = built(FAULTS);
    let p = start(&app, Some(Duration::from_secs(1))).await;
    let addr = p.addr();
    assert_eq!(
        p.instances("echo"),
        0,
        "min_instances is 0: nothing runs before a request"
    );

    let r = post(addr, "/echo", r#"{"n":1}"#).await;
    assert_eq!((r.status, r.body.as_str()), (200, r#"{"n":1}"#));
    let first = instance_pids(addr, Some("echo"));
    assert_eq!(first.len(), 1, "{first:?}");
    let starts = metric_of(addr, "quilt_instance_starts_total", &[("function", "echo")]).await;
    assert_eq!(starts, 1.0);

    assert!(
        eventually(WAIT, async || p.instances("echo") == 0).await,
        "the idle instance was not stopped"
    );
    assert!(
        eventually(WAIT, async || !is_running(first[0])).await,
        "the idle instance's process {} is still running",
        first[0]
    );
    let gauge = metric_of(addr, "quilt_instances", &[("function", "echo")]).await;
    assert_eq!(gauge, 0.0);

    // Cold start: the next request succeeds on a new process.
    let r = post(addr, "/echo", r#"{"n":2}"#).await;
    assert_eq!((r.status, r.body.as_str()), (200, r#"{"n":2}"#));
    let starts = metric_of(addr, "quilt_instance_starts_total", &[("function", "echo")]).await;
    assert_eq!(starts, 2.0);
    let second = instance_pids(addr, Some("echo"));
    assert_eq!(second.len(), 1);
    assert_ne!(second, first);
    p.shutdown().await;
}

/// `{"how":"none"}` to `crash`: the pid of the instance that answered.
async fn crash_ok(addr: std::net::SocketAddr) -> u64 {
    let r = post(addr, "/crash", r#"{"how":"none"}"#).await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json()["ok"], true);
    r.json()["pid"].as_u64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crashed_instance_gives_502_and_is_replaced() {
    let app = built(FAULTS);
    let p = start(&app, None).await;
    let addr = p.addr();

    let mut pid = crash_ok(addr).await;
    for (how, cause) in [("exit", "exit code 3"), ("abort", "signal 6")] {
        let r = post(addr, "/crash", format!(r#"{{"how":"{how}"}}"#)).await;
        assert_eq!(r.status, 502, "{how}: {r:?}");
        assert_eq!(r.content_type, "application/json");
        let body = r.json();
        let error = body["error"].as_str().unwrap();
        assert_eq!(body["function"], "crash");
        assert!(error.contains("'crash'"), "{how}: {error}");
        assert!(error.contains("crashed"), "{how}: {error}");
        assert!(error.contains(cause), "{how}: {error}");
        assert!(
            !is_running(pid as u32),
            "the crashed process {pid} is still there"
        );

        // Other functions are unaffected, and the next request to crash itself succeeds.
        let r = post(addr, "/echo", r#"{"after":"crash"}"#).await;
        assert_eq!(r.status, 200, "{r:?}");
        let next = crash_ok(addr).await;
        assert_ne!(next, pid, "a new process serves after the crash");
        pid = next;
    }
    let m = get(addr, "/metrics").await.body;
    let crash = [("function", "crash")];
    assert_eq!(
        metric(&m, "quilt_instance_crashes_total", &crash),
        Some(2.0)
    );
    assert_eq!(metric(&m, "quilt_instance_starts_total", &crash), Some(3.0));
    let c502 = [("function", "crash"), ("code", "502")];
    assert_eq!(
        metric(&m, "quilt_gateway_responses_total", &c502),
        Some(2.0)
    );
    p.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn panic_is_500_and_the_instance_keeps_serving() {
    let app = built(FAULTS);
    let p = start(&app, None).await;
    let addr = p.addr();

    let pid = crash_ok(addr).await;
    for _ in 0..2 {
        let r = post(addr, "/crash", r#"{"how":"panic"}"#).await;
        assert_eq!(r.status, 500, "{r:?}");
        let body = r.json();
        assert_eq!(body["function"], "crash");
        let error = body["error"].as_str().unwrap();
        assert!(error.contains("panicked"), "{error}");
        assert!(error.contains("crash was asked to panic"), "{error}");
        assert_eq!(crash_ok(addr).await, pid, "the same process keeps serving");
    }
    let m = get(addr, "/metrics").await.body;
    let crash = [("function", "crash")];
    assert_eq!(metric(&m, "quilt_instance_starts_total", &crash), Some(1.0));
    assert_eq!(metric(&m, "quilt_instance_crashes_total", &crash), None);
    p.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_queue_gives_503_json() {
    let app = built(FAULTS);
    let f = app.function("sleep").unwrap();
    assert_eq!((f.max_instances, f.concurrency, f.queue), (1, 1, 2));
    let p = start(&app, None).await;
    let addr = p.addr();
    // Warm: the one instance runs, so one request runs and two wait.
    assert_eq!(post(addr, "/sleep", r#"{"ms":0}"#).await.status, 200);

    let admitted = (f.max_instances * (f.concurrency + f.queue)) as usize;
    let extra = 5;
    let mut tasks = Vec::new();
    for _ in 0..admitted + extra {
        // Long enough that all of them arrive while the first one runs (the two queued ones may
        // then time out: 504).
        tasks.push(tokio::spawn(post(addr, "/sleep", r#"{"ms":600}"#)));
    }
    let mut codes = Vec::new();
    for t in tasks {
        let r = t.await.unwrap();
        if r.status == 503 {
            let body = r.json();
            assert_eq!(body["function"], "sleep");
            let error = body["error"].as_str().unwrap();
            assert!(error.contains("overloaded"), "{error}");
        }
        codes.push(r.status);
    }
    let count = |c: u16| codes.iter().filter(|&&x| x == c).count();
    assert!(count(503) >= extra, "at least {extra} refused: {codes:?}");
    assert!(count(200) >= 1, "the running request finished: {codes:?}");
    assert!(
        codes.iter().all(|c| [200, 503, 504].contains(c)),
        "{codes:?}"
    );
    let refused = metric_of(
        addr,
        "quilt_gateway_responses_total",
        &[("function", "sleep"), ("code", "503")],
    )
    .await;
    assert_eq!(refused as usize, count(503));
    // The queue drains: the function serves again.
    assert_eq!(post(addr, "/sleep", r#"{"ms":1}"#).await.status, 200);
    p.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_request_gives_504_after_the_timeout() {
    let app = built(FAULTS);
    assert_eq!(app.function("sleep").unwrap().timeout_ms, 1000);
    let p = start(&app, None).await;
    let addr = p.addr();
    assert_eq!(post(addr, "/sleep", r#"{"ms":0}"#).await.status, 200);

    let t = Instant::now();
    let r = post(addr, "/sleep", r#"{"ms":6000}"#).await;
    let took = t.elapsed();
    assert_eq!(r.status, 504, "{r:?}");
    let body = r.json();
    assert_eq!(body["function"], "sleep");
    assert!(
        body["error"].as_str().unwrap().contains("1000 ms"),
        "{body}"
    );
    assert!(
        took >= Duration::from_millis(950),
        "504 before the timeout: {took:?}"
    );
    assert!(
        took < Duration::from_millis(5000),
        "the gateway waited for the function instead of timing out: {took:?}"
    );
    // The slot is free again: a quick request succeeds.
    let r = post(addr, "/sleep", r#"{"ms":5}"#).await;
    assert_eq!((r.status, r.body.as_str()), (200, r#"{"slept":5}"#));
    p.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_limit_kills_an_instance_that_exceeds_it() {
    let app = built(FAULTS);
    assert_eq!(app.function("alloc").unwrap().memory_mb, 64);
    let p = start(&app, None).await;
    let addr = p.addr();
    let enforced = metric_of(addr, "quilt_limits_enforced", &[]).await;
    if !p.enforcement().enforced() {
        assert_eq!(enforced, 0.0);
        println!(
            "SKIPPED memory limit test: limits are not enforced here: {:?}",
            p.enforcement()
        );
        p.shutdown().await;
        return;
    }
    assert_eq!(enforced, 1.0);

    let r = post(addr, "/alloc", r#"{"mb":16}"#).await;
    assert_eq!((r.status, r.body.as_str()), (200, r#"{"mb":16}"#));
    let r = post(addr, "/alloc", r#"{"mb":256}"#).await;
    assert_eq!(r.status, 502, "{r:?}");
    let body = r.json();
    assert_eq!(body["function"], "alloc");
    let error = body["error"].as_str().unwrap();
    assert!(error.contains("memory limit"), "{error}");
    // A new instance serves requests within the limit.
    let r = post(addr, "/alloc", r#"{"mb":16}"#).await;
    assert_eq!((r.status, r.body.as_str()), (200, r#"{"mb":16}"#));
    let m = get(addr, "/metrics").await.body;
    let alloc = [("function", "alloc")];
    assert_eq!(
        metric(&m, "quilt_instance_crashes_total", &alloc),
        Some(1.0)
    );
    assert_eq!(metric(&m, "quilt_instance_starts_total", &alloc), Some(2.0));
    p.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_count_requests_and_histogram_latency() {
    let app = built(FAULTS);
    let p = start(&app, None).await;
    let addr = p.addr();
    for i in 0..3 {
        let r = post(addr, "/echo", format!(r#"{{"i":{i}}}"#)).await;
        assert_eq!(r.status, 200);
    }
    assert_eq!(post(addr, "/noop", "{}").await.body, "{}");

    let r = get(addr, "/metrics").await;
    assert_eq!(r.status, 200);
    assert!(
        r.content_type.starts_with("text/plain"),
        "{}",
        r.content_type
    );
    let m = r.body;
    let echo = [("function", "echo")];
    assert_eq!(metric(&m, "quilt_gateway_requests_total", &echo), Some(3.0));
    assert_eq!(
        metric(&m, "quilt_gateway_requests_total", &[("function", "noop")]),
        Some(1.0)
    );
    assert_eq!(
        metric(
            &m,
            "quilt_gateway_responses_total",
            &[("function", "echo"), ("code", "200")]
        ),
        Some(3.0)
    );
    assert!(m.contains("# TYPE quilt_gateway_request_duration_seconds histogram"));
    let hist = "quilt_gateway_request_duration_seconds";
    assert_eq!(metric(&m, &format!("{hist}_count"), &echo), Some(3.0));
    assert!(metric(&m, &format!("{hist}_sum"), &echo).unwrap() > 0.0);
    assert_eq!(
        metric(
            &m,
            &format!("{hist}_bucket"),
            &[("function", "echo"), ("le", "+Inf")]
        ),
        Some(3.0)
    );
    let buckets = m
        .lines()
        .filter(|l| l.starts_with(&format!("{hist}_bucket{{")) && l.contains(r#"function="echo""#))
        .count();
    assert!(buckets > 5, "{buckets} buckets");
    assert_eq!(metric(&m, "quilt_instances", &echo), Some(1.0));
    p.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_requests_get_their_own_replies_within_max_instances() {
    let app = built(FAULTS);
    let max = app.function("echo").unwrap().max_instances as usize;
    let p = start(&app, None).await;
    let addr = p.addr();
    let mut tasks = Vec::new();
    for i in 0..48 {
        tasks.push(tokio::spawn(async move {
            let body = format!(r#"{{"i":{i},"pad":"{}"}}"#, "z".repeat(i * 37));
            let r = post(addr, "/echo", body.clone()).await;
            (r.status, r.body == body)
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), (200, true));
    }
    let n = instance_pids(addr, Some("echo")).len();
    assert!((1..=max).contains(&n), "{n} instances, max {max}");
    assert!(p.instances("echo") <= max);
    p.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_function_invokes_another_through_the_gateway() {
    let app = built(FAULTS);
    let p = start(&app, None).await;
    let addr = p.addr();
    for _ in 0..3 {
        let r = post(addr, "/relay", r#"{"x":1}"#).await;
        assert_eq!((r.status, r.body.as_str()), (200, "{}"), "{r:?}");
    }
    let m = get(addr, "/metrics").await.body;
    assert_eq!(
        metric(&m, "quilt_gateway_requests_total", &[("function", "noop")]),
        Some(3.0),
        "relay's calls to noop went through the gateway"
    );
    p.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_stops_every_instance_and_removes_its_cgroups() {
    let app = built(FAULTS);
    let p = start(&app, None).await;
    let addr = p.addr();
    for (f, body) in [
        ("echo", "{}"),
        ("noop", "{}"),
        ("crash", r#"{"how":"none"}"#),
        ("relay", "{}"),
    ] {
        assert_eq!(post(addr, &format!("/{f}"), body).await.status, 200, "{f}");
    }
    // A request still in flight at shutdown.
    let slow = tokio::spawn(post(addr, "/sleep", r#"{"ms":800}"#));
    assert!(
        eventually(WAIT, async || instance_pids(addr, Some("sleep")).len() == 1).await,
        "sleep did not start"
    );
    let pids = instance_pids(addr, None);
    assert_eq!(pids.len(), 5, "echo, noop, crash, relay, sleep: {pids:?}");
    let groups = memory_cgroups_of(&pids);
    if *p.enforcement() == quilt_platform::Enforcement::CgroupV1 {
        assert_eq!(
            groups.len(),
            5,
            "one memory cgroup per instance: {groups:?}"
        );
    }
    p.shutdown().await;
    for pid in &pids {
        assert!(!is_running(*pid), "instance {pid} survived shutdown");
    }
    assert!(
        eventually(WAIT, async || groups.iter().all(|g| !g.exists())).await,
        "cgroups left behind: {groups:?}"
    );
    let _ = slow.await;
}

/// The v1 memory cgroups (created by this process) holding any of `pids`.
fn memory_cgroups_of(pids: &[u32]) -> Vec<std::path::PathBuf> {
    let prefix = format!("quilt-{}-", std::process::id());
    let own = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let Some(path) = own
        .lines()
        .find_map(|l| l.split_once(":memory:").map(|(_, p)| p.to_string()))
    else {
        return Vec::new();
    };
    let dir = std::path::Path::new("/sys/fs/cgroup/memory").join(path.trim_start_matches('/'));
    let holds_ours = |group: &std::path::Path| {
        std::fs::read_to_string(group.join("cgroup.procs"))
            .unwrap_or_default()
            .lines()
            .any(|l| l.trim().parse().is_ok_and(|pid: u32| pids.contains(&pid)))
    };
    std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.path())
                .filter(|p| {
                    p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with(&prefix))
                        && holds_ours(p)
                })
                .collect()
        })
        .unwrap_or_default()
}
