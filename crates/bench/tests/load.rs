//! The load generator against an in-process HTTP server whose behaviour is known: closed-loop
//! counts, warm-up exclusion, the open loop's correction for coordinated omission, an unreachable
//! URL and a server that dies mid-run.

use bytes::Bytes;
use http_body_util::Full;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use quilt_bench::{run, Bodies, Load, Outcome, Spec};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// What the server does: answers `{}` after `delay`; the first request that arrives after
/// `stall_after` waits `stall` instead.
struct Behaviour {
    delay: Duration,
    stall_after: Option<Duration>,
    stall: Duration,
}

struct Server {
    addr: SocketAddr,
    served: Arc<AtomicU64>,
    stop: tokio::sync::watch::Sender<bool>,
}

impl Server {
    /// Closes the listener and every open connection, as a crashed server would.
    fn kill(&self) {
        let _ = self.stop.send(true);
    }
}

async fn serve(b: Behaviour) -> Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let served = Arc::new(AtomicU64::new(0));
    let stalled = Arc::new(AtomicBool::new(false));
    let b = Arc::new(b);
    let started = Instant::now();
    let counter = Arc::clone(&served);
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let mut accept_stopped = stopped.clone();
    tokio::spawn(async move {
        loop {
            let stream = tokio::select! {
                accepted = listener.accept() => accepted.unwrap().0,
                _ = accept_stopped.changed() => return,
            };
            let (b, served, stalled) = (Arc::clone(&b), Arc::clone(&counter), Arc::clone(&stalled));
            let mut conn_stopped = stopped.clone();
            tokio::spawn(async move {
                let service = service_fn(move |_req| {
                    let (b, served, stalled) =
                        (Arc::clone(&b), Arc::clone(&served), Arc::clone(&stalled));
                    async move {
                        let stall = b.stall_after.is_some_and(|t| started.elapsed() >= t)
                            && !stalled.swap(true, Ordering::AcqRel);
                        tokio::time::sleep(if stall { b.stall } else { b.delay }).await;
                        served.fetch_add(1, Ordering::AcqRel);
                        Ok::<_, std::convert::Infallible>(hyper::Response::new(Full::new(
                            Bytes::from_static(b"{}"),
                        )))
                    }
                });
                let conn = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service);
                tokio::select! {
                    _ = conn => {}
                    _ = conn_stopped.changed() => {}
                }
            });
        }
    });
    Server { addr, served, stop }
}

fn spec(addr: SocketAddr, load: Load, duration_ms: u64, warmup_ms: u64) -> Spec {
    Spec {
        url: format!("http://{addr}/f"),
        bodies: Bodies::Fixed(Bytes::from_static(b"{}")),
        load,
        duration: Duration::from_millis(duration_ms),
        warmup: Duration::from_millis(warmup_ms),
        progress: false,
    }
}

fn steady(delay_ms: u64) -> Behaviour {
    Behaviour {
        delay: Duration::from_millis(delay_ms),
        stall_after: None,
        stall: Duration::ZERO,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_loop_measures_a_server_of_known_latency() {
    let s = serve(steady(10)).await;
    let o: Outcome = run(spec(s.addr, Load::Closed { connections: 2 }, 1000, 0))
        .await
        .unwrap();
    // Two connections, 10 ms per request: at most 200 requests in a second.
    assert!((100..=200).contains(&o.requests), "{o:?}");
    assert_eq!((o.errors, o.partial.as_deref()), (0, None));
    assert!((0.95..1.5).contains(&o.duration_s), "{o:?}");
    assert!(o.latency_ms.p50 >= 10.0 && o.latency_ms.p50 < 40.0, "{o:?}");
    assert!(o.latency_ms.p50 <= o.latency_ms.p99 && o.latency_ms.p99 <= o.latency_ms.max);
    let rps = o.requests as f64 / o.duration_s;
    assert!((o.throughput_rps - rps).abs() < 1e-6, "{o:?}");
    s.kill();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn warm_up_requests_are_not_counted() {
    let s = serve(steady(5)).await;
    let o = run(spec(s.addr, Load::Closed { connections: 1 }, 500, 500))
        .await
        .unwrap();
    let served = s.served.load(Ordering::Acquire);
    assert!(
        o.requests > 0 && o.requests < served * 3 / 4,
        "{o:?}, {served} served"
    );
    assert!((0.45..1.0).contains(&o.duration_s), "{o:?}");
    s.kill();
}

/// One 400 ms stall: the closed loop sees a single slow request, the open loop (100 requests/s
/// over one connection) also charges the requests that should have been sent during the stall.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn open_loop_charges_the_requests_a_stall_delayed() {
    let stalling = || Behaviour {
        delay: Duration::from_millis(1),
        stall_after: Some(Duration::from_millis(300)),
        stall: Duration::from_millis(400),
    };
    let s = serve(stalling()).await;
    let closed = run(spec(s.addr, Load::Closed { connections: 1 }, 1500, 0))
        .await
        .unwrap();
    s.kill();
    let s = serve(stalling()).await;
    let open = Load::Open {
        rate: 100.0,
        connections: 1,
    };
    let open = run(spec(s.addr, open, 1500, 0)).await.unwrap();
    s.kill();
    for o in [&closed, &open] {
        assert!(
            o.latency_ms.max >= 390.0,
            "the stall is the slowest request: {o:?}"
        );
    }
    assert!(closed.latency_ms.p90 < 50.0, "closed loop: {closed:?}");
    // About 40 of the ≈150 scheduled requests fall in the stall, waiting 10–400 ms.
    assert!(open.latency_ms.p90 >= 100.0, "open loop: {open:?}");
    assert!((100..=160).contains(&open.requests), "open loop: {open:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_url_fails_at_once_naming_it() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let addr: SocketAddr = ([127, 0, 0, 1], port).into();
    let t = Instant::now();
    let err = run(spec(addr, Load::Closed { connections: 1 }, 5000, 0))
        .await
        .unwrap_err();
    assert!(
        format!("{err:#}").contains(&format!("cannot reach 127.0.0.1:{port}")),
        "{err:#}"
    );
    assert!(t.elapsed() < Duration::from_secs(2));
    let err = run(Spec {
        url: "https://example.invalid/f".into(),
        ..spec(addr, Load::Closed { connections: 1 }, 100, 0)
    })
    .await
    .unwrap_err();
    assert!(format!("{err:#}").contains("only http://"), "{err:#}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_that_dies_mid_run_leaves_partial_results() {
    let s = serve(steady(2)).await;
    let stop = s.stop.clone();
    let killer = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(400)).await;
        let _ = stop.send(true);
    });
    let t = Instant::now();
    let o = run(spec(s.addr, Load::Closed { connections: 2 }, 10_000, 0))
        .await
        .unwrap();
    killer.await.unwrap();
    assert!(
        o.partial
            .as_deref()
            .is_some_and(|p| p.contains("server lost")),
        "{o:?}"
    );
    assert!(o.requests > 0, "what was measured before is kept: {o:?}");
    assert!(o.errors > 0, "{o:?}");
    assert!(
        t.elapsed() < Duration::from_secs(8),
        "ended early: {:?}",
        t.elapsed()
    );
}
