//! Trust boundaries of the platform: the gateway listens on loopback unless told otherwise,
//! endpoints that change a running platform need the admin token, and route names that could
//! escape a folder are refused.

use quilt_harness as common;

use common::{built, get, post, request};
use quilt_platform::{Deployable, Platform, PlatformConfig};
use std::net::SocketAddr;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_listens_on_loopback_unless_told_otherwise() {
    assert!(PlatformConfig::default().bind.ip().is_loopback());
    let p = Platform::start(PlatformConfig::default()).await.unwrap();
    assert!(p.addr().ip().is_loopback(), "{}", p.addr());
    // Not reachable through another address of this machine.
    let port = p.addr().port();
    if let Some(other) = non_loopback_ipv4() {
        let reached = tokio::net::TcpStream::connect(SocketAddr::from((other, port))).await;
        assert!(reached.is_err(), "the gateway answered on {other}:{port}");
    }
    p.shutdown().await;
    // Told otherwise, it binds where it is told.
    let p = Platform::start(PlatformConfig {
        bind: "0.0.0.0:0".parse().unwrap(),
        ..PlatformConfig::default()
    })
    .await
    .unwrap();
    assert!(p.addr().ip().is_unspecified());
    p.shutdown().await;
}

/// An IPv4 address of this machine that is not loopback (from the routing table), if any.
fn non_loopback_ipv4() -> Option<std::net::Ipv4Addr> {
    // A UDP "connection" picks the outgoing interface without sending anything.
    let s = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
    s.connect("192.0.2.1:9").ok()?;
    match s.local_addr().ok()?.ip() {
        std::net::IpAddr::V4(ip) if !ip.is_loopback() && !ip.is_unspecified() => Some(ip),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn changing_a_running_platform_needs_the_admin_token() {
    let app = built("tests/apps/faults");
    let p = Platform::start(PlatformConfig {
        deployables: common::deployables(&app),
        admin_token: Some("s3cret".into()),
        ..PlatformConfig::default()
    })
    .await
    .unwrap();
    let addr = p.addr();
    assert_eq!(p.admin_token(), "s3cret");
    let tracing = async || get(addr, "/_quilt/tracing").await.json()["tracing"].clone();
    assert_eq!(tracing().await, false);

    let switch = |auth: Option<&'static str>, body: &'static str| async move {
        let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (mut s, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                .await
                .unwrap();
        tokio::spawn(conn);
        let mut req = hyper::Request::post("/_quilt/tracing").header(hyper::header::HOST, "q");
        if let Some(a) = auth {
            req = req.header(hyper::header::AUTHORIZATION, a);
        }
        let req = req
            .body(http_body_util::Full::new(bytes::Bytes::from(body)))
            .unwrap();
        s.send_request(req).await.unwrap().status().as_u16()
    };
    // No token, a wrong one, the right one in the wrong scheme, a prefix of it: refused, no change.
    for auth in [
        None,
        Some("Bearer wrong"),
        Some("Basic s3cret"),
        Some("Bearer s3cre"),
        Some("Bearer s3cret2"),
    ] {
        assert_eq!(switch(auth, "on").await, 401, "{auth:?}");
        assert_eq!(tracing().await, false, "{auth:?} changed the platform");
    }
    let r = post(addr, "/_quilt/tracing", "on").await;
    assert_eq!(r.status, 401);
    assert!(r.json()["error"].as_str().unwrap().contains("admin token"));
    // The right token: 200, and the platform changed.
    assert_eq!(switch(Some("Bearer s3cret"), "on").await, 200);
    assert_eq!(tracing().await, true);
    assert_eq!(switch(Some("Bearer s3cret"), "bogus").await, 400);
    assert_eq!(switch(Some("Bearer s3cret"), "off").await, 200);
    assert_eq!(tracing().await, false);
    // Reading endpoints stay open; other methods on them do not change anything.
    assert_eq!(get(addr, "/_quilt/resources").await.status, 200);
    assert_eq!(
        request(addr, "DELETE", "/_quilt/tracing", "").await.status,
        404
    );
    assert_eq!(request(addr, "PUT", "/_quilt/spans", "").await.status, 404);
    p.shutdown().await;

    // Without a configured token the platform makes a random one: nobody can guess it.
    let p = Platform::start(PlatformConfig::default()).await.unwrap();
    assert!(p.admin_token().len() >= 32, "{}", p.admin_token());
    let other = Platform::start(PlatformConfig::default()).await.unwrap();
    assert_ne!(p.admin_token(), other.admin_token());
    p.shutdown().await;
    other.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn route_names_that_could_escape_a_folder_are_refused() {
    for bad in ["..", "../x", "a/b", "/abs", "a\nb", "a\0b", ""] {
        let d = Deployable {
            name: bad.into(),
            binary: "/bin/true".into(),
            entry: "x".into(),
            memory_mb: 64,
            cpu: 1.0,
            min_instances: 0,
            max_instances: 1,
            concurrency: 1,
            queue: 1,
            timeout: Duration::from_secs(1),
            pids: 64,
            sandbox: true,
            env: Vec::new(),
            args: Vec::new(),
            members: Vec::new(),
            placements: Vec::new(),
        };
        let e = Platform::start(PlatformConfig {
            deployables: vec![d],
            ..PlatformConfig::default()
        })
        .await
        .err()
        .unwrap_or_else(|| panic!("route {bad:?} was accepted"));
        assert!(e.to_string().contains("names are made of"), "{bad:?}: {e}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_paths_reach_no_function_and_are_not_echoed_raw() {
    let app = built("tests/apps/faults");
    let p = common::start(&app, None).await;
    let addr = p.addr();
    for path in [
        "/../echo",
        "/echo/../echo",
        "/%2e%2e/echo",
        "/echo%00",
        "/ech%0Ao",
    ] {
        let r = post(addr, path, "{}").await;
        assert_eq!(r.status, 404, "{path}: {r:?}");
        assert!(!r.body.contains('\n'), "{path}: {:?}", r.body);
    }
    assert!(
        common::instance_pids(addr, None).is_empty(),
        "nothing was started for a hostile path"
    );
    let m = get(addr, "/metrics").await.body;
    let hostile = [("function", "../echo")];
    assert_eq!(
        common::metric(&m, "quilt_gateway_requests_total", &hostile),
        None,
        "hostile names never become metric labels"
    );
    p.shutdown().await;
}
