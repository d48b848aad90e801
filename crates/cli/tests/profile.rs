//! Profiling end to end: traces through sync, async and merged calls, call graphs from real runs,
//! resource figures, and tracing switched off recording nothing.

use quilt_cli::profile::{profile, Profiling};
use quilt_cli::up::{self, UpOptions};
use quilt_harness as common;
use quilt_manifest::Manifest;
use std::path::Path;
use std::sync::Mutex;

/// `examples/<name>`, built once per process.
fn app(name: &str) -> Manifest {
    common::built(&format!("examples/{name}"))
}

fn run<'a>(
    app: &'a up::RunningApp,
    url: &'a str,
    m: &'a Manifest,
    body: &str,
    n: u64,
) -> Profiling<'a> {
    let wf = &m.workflows[0];
    Profiling {
        gateway: url,
        admin_token: app.platform.admin_token(),
        app: &m.name,
        workflow: &wf.name,
        entry: &wf.entry,
        body: Some(body.as_bytes().to_vec()),
        requests: n,
        concurrency: 2,
        limits: (Some(512.0), Some(2.0)),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn sync_workflow_graph_has_one_call_per_run_on_each_edge() {
    let m = app("hello");
    let app = up::start(&m, &UpOptions::default()).await.unwrap();
    let url = app.url();
    let g = profile(&run(&app, &url, &m, r#"{"name":"x"}"#, 40))
        .await
        .unwrap();
    assert_eq!(g.graph.runs, 40);
    assert_eq!(g.graph.memory_limit, Some(512.0));
    let mut edges: Vec<_> = g
        .links
        .iter()
        .map(|e| {
            (
                e.source.as_str(),
                e.target.as_str(),
                e.weight,
                e.kind.as_str(),
                e.max_fanout,
            )
        })
        .collect();
    edges.sort();
    assert_eq!(
        edges,
        [
            ("hello", "decorate", 40, "sync", 1),
            ("hello", "upper", 40, "sync", 1)
        ]
    );
    for n in &g.nodes {
        assert!(n.m > 0.5 && n.m < 100.0, "{}: m = {} MiB", n.id, n.m);
        assert_eq!(n.executions, 40);
    }
    // The graph is what `quilt plan` reads.
    let graph = quilt_solver::CallGraph::from_json_str(&g.to_json(), "profile").unwrap();
    assert!(graph.limits(None, None, None).is_ok());
    app.shutdown().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn async_fanout_weights_follow_the_requests_and_memory_and_cpu_are_measured() {
    let m = app("fanout");
    let app = up::start(&m, &UpOptions::default()).await.unwrap();
    let url = app.url();
    // Each run forks `work` 5 times; each `work` holds 24 MiB for 50 ms.
    let g = profile(&run(&app, &url, &m, r#"{"k":5,"ms":50,"mb":24}"#, 12))
        .await
        .unwrap();
    let e = &g.links[0];
    assert_eq!((e.source.as_str(), e.target.as_str()), ("fanout", "work"));
    assert_eq!((e.weight, e.kind.as_str(), e.max_fanout), (60, "async", 5));
    let work = g.nodes.iter().find(|n| n.id == "work").unwrap();
    assert!(work.m >= 24.0 && work.m < 400.0, "work m = {} MiB", work.m);

    // CPU in cores while busy: about none for calls that sleep, about a core (the limit) for
    // calls that compute.
    let mut c = Vec::new();
    for body in [r#"{"k":2,"ms":30}"#, r#"{"k":2,"ms":0,"spin_ms":30}"#] {
        let g = profile(&run(&app, &url, &m, body, 10)).await.unwrap();
        c.push(g.nodes.iter().find(|n| n.id == "work").unwrap().c);
    }
    let (sleeping, computing) = (c[0], c[1]);
    assert!(sleeping < 0.2, "work c = {sleeping} cores sleeping");
    assert!(
        computing > 0.5 && computing <= 1.0,
        "work c = {computing} cores computing"
    );
    app.shutdown().await;
}

/// The six CPU-bound leaves of hotel-reservation's nearby-cinema-top run at once on two cores, so
/// each gets about a third of a core: the profile still shows what a leaf wants with a core to
/// itself (about one), because the leaves' spans carry their run-queue wait. (CPU over busy time
/// alone gave 0.38–0.42 cores here, and in the fan-out experiment the solver then packed three
/// leaves per one-core instance.)
#[tokio::test(flavor = "multi_thread")]
async fn cpu_is_profiled_as_wanted_when_leaves_share_the_cpus() {
    let hotel = common::apps::App("apps/hotel-reservation");
    let app: up::RunningApp = hotel.start(true, "profile").await;
    let url = app.url();
    let profiling = Profiling {
        gateway: &url,
        admin_token: app.platform.admin_token(),
        app: "hotel-reservation",
        workflow: "nearby-cinema-top",
        entry: "nearby-cinema-top",
        body: Some(br#"{"num":300000}"#.to_vec()),
        requests: 8,
        concurrency: 2,
        limits: (Some(1024.0), Some(1.0)),
    };
    let g = profile(&profiling).await.unwrap();
    let page = spans(&url, 0).await;
    let leaves: Vec<_> = page
        .spans
        .iter()
        .filter(|s| s.function.starts_with("get-nearby-points-cinema-"))
        .collect();
    assert_eq!(leaves.len(), 6 * 8);
    for s in &leaves {
        let cpu = s.cpu_us.expect("the span carries its thread's CPU time");
        let wait = s
            .wait_us
            .expect("the span carries its thread's run-queue wait");
        assert!(cpu > 0 && cpu + wait <= s.dur_us + 1_000, "{s:?}");
    }
    let waited: u64 = leaves.iter().map(|s| s.wait_us.unwrap()).sum();
    let ran: u64 = leaves.iter().map(|s| s.cpu_us.unwrap()).sum();
    assert!(
        waited * 2 > ran,
        "six leaves on two cores wait: {waited} us waited, {ran} us ran"
    );
    for n in g
        .nodes
        .iter()
        .filter(|n| n.id.starts_with("get-nearby-points-cinema-"))
    {
        let mine: Vec<_> = leaves
            .iter()
            .filter(|s| s.function == n.id)
            .map(|s| (s.dur_us, s.cpu_us.unwrap(), s.wait_us.unwrap()))
            .collect();
        assert!(n.c >= 0.7, "{} c = {} cores {mine:?}", n.id, n.c);
    }
    app.shutdown().await;
}

#[derive(serde::Deserialize)]
struct SpanPage {
    next: u64,
    spans: Vec<quilt_platform::spans::Span>,
}

async fn spans(url: &str, after: u64) -> SpanPage {
    let (_, body) = quilt_cli::http::get(&format!("{url}/_quilt/spans?after={after}"))
        .await
        .unwrap();
    serde_json::from_slice(&body).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn traces_cross_merged_calls_and_tracing_off_records_nothing() {
    let m = app("fanout");
    let tree = quilt_merge::tree::Tree::parse(Path::new("t"), "fanout work\n").unwrap();
    {
        let _guard = common::build_lock(&m.dir);
        quilt_merge::merge_group(&m, &tree, &quilt_merge::MergeOptions::default()).unwrap();
    }
    let app = up::start(&m, &UpOptions::default()).await.unwrap();
    let url = app.url();
    let post = |route: &str| {
        let url = format!("{url}/{route}");
        async move {
            quilt_cli::http::post(&url, br#"{"k":3,"ms":1}"#.to_vec())
                .await
                .unwrap()
                .0
        }
    };
    // Off (the default): nothing is recorded.
    assert_eq!(post("fanout-merged").await, 200);
    assert_eq!(post("fanout").await, 200);
    let page = spans(&url, 0).await;
    assert!(
        page.spans.is_empty(),
        "tracing off recorded {:?}",
        page.spans
    );
    // The switch needs the token.
    let (status, _) = quilt_cli::http::post(&format!("{url}/_quilt/tracing"), b"on".to_vec())
        .await
        .unwrap();
    assert_eq!(status, 401);
    app.platform.set_tracing(true);
    assert_eq!(post("fanout-merged").await, 200);
    let merged = spans(&url, page.next).await;
    let root = merged
        .spans
        .iter()
        .find(|s| s.function == "fanout")
        .unwrap();
    let children: Vec<_> = merged
        .spans
        .iter()
        .filter(|s| s.parent == root.span)
        .collect();
    assert_eq!(children.len(), 3, "{:?}", merged.spans);
    for c in &children {
        assert_eq!(
            (c.function.as_str(), c.kind.as_str(), c.local),
            ("work", "async", true)
        );
        assert_eq!(c.trace, root.trace);
        assert_eq!(c.instance, root.instance, "ran inside the merged instance");
    }
    // The unmerged workflow: the same tree, across processes, through the gateway.
    assert_eq!(post("fanout").await, 200);
    let remote = spans(&url, merged.next).await;
    let root = remote
        .spans
        .iter()
        .find(|s| s.function == "fanout")
        .unwrap();
    let children: Vec<_> = remote
        .spans
        .iter()
        .filter(|s| s.parent == root.span)
        .collect();
    assert_eq!(children.len(), 3);
    assert!(children
        .iter()
        .all(|c| c.kind == "async" && !c.local && c.instance != root.instance));
    app.shutdown().await;
}

/// Name, trace id and service name of an exported span.
type ExportedSpan = (String, Vec<u8>, String);

#[tokio::test(flavor = "multi_thread")]
async fn spans_are_exported_to_an_otlp_collector() {
    use http_body_util::BodyExt;
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use prost::Message;
    // A minimal OTLP/HTTP collector: keeps every exported span.
    let received: std::sync::Arc<Mutex<Vec<ExportedSpan>>> = Default::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let sink = std::sync::Arc::clone(&received);
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let sink = std::sync::Arc::clone(&sink);
            tokio::spawn(async move {
                let service = hyper::service::service_fn(
                    move |req: hyper::Request<hyper::body::Incoming>| {
                        let sink = std::sync::Arc::clone(&sink);
                        async move {
                            assert_eq!(req.uri().path(), "/v1/traces");
                            let body = req.into_body().collect().await.unwrap().to_bytes();
                            let export = ExportTraceServiceRequest::decode(body).unwrap();
                            for rs in export.resource_spans {
                                let service =
                                    rs.resource.unwrap().attributes[0].value.clone().unwrap();
                                let service = format!("{:?}", service.value.unwrap());
                                for ss in rs.scope_spans {
                                    for sp in ss.spans {
                                        sink.lock().unwrap().push((
                                            sp.name,
                                            sp.trace_id,
                                            service.clone(),
                                        ));
                                    }
                                }
                            }
                            Ok::<_, std::convert::Infallible>(hyper::Response::new(
                                http_body_util::Full::new(bytes::Bytes::new()),
                            ))
                        }
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    let m = app("hello");
    let opts = UpOptions {
        tracing: true,
        otlp_endpoint: Some(endpoint),
        ..UpOptions::default()
    };
    let app = up::start(&m, &opts).await.unwrap();
    let (status, _) = quilt_cli::http::post(
        &format!("{}/hello", app.url()),
        br#"{"name":"otel"}"#.to_vec(),
    )
    .await
    .unwrap();
    assert_eq!(status, 200);
    for _ in 0..100 {
        if received.lock().unwrap().len() >= 3 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    let spans = received.lock().unwrap().clone();
    let mut names: Vec<&str> = spans.iter().map(|s| s.0.as_str()).collect();
    names.sort();
    assert_eq!(names, ["decorate", "hello", "upper"]);
    assert!(
        spans.iter().all(|s| s.1.len() == 16 && s.1 == spans[0].1),
        "one trace"
    );
    assert!(
        spans.iter().all(|s| s.2.contains(&s.0)),
        "service.name is the function"
    );
    app.shutdown().await;
}

/// `quilt profile` on an app of one's own: without a generator it stops before starting anything
/// and names `--data` and `--body`; `--data` sends exactly that body on every run.
#[test]
fn profile_takes_an_inline_body_and_says_how_when_there_is_no_generator() {
    use quilt_harness::cli::{quilt, text};
    let faults = common::built("tests/apps/faults");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("graph.json");
    let refused = quilt()
        .args(["profile"])
        .arg(&faults.dir)
        .args(["--workflow", "relay", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(!refused.status.success());
    let e = text(&refused.stderr);
    assert!(
        e.contains("--data")
            && e.contains("--body")
            && e.contains("relay")
            && e.contains("quilt.toml"),
        "{e}"
    );
    assert!(!out.exists(), "nothing written");

    let hello = app("hello");
    let body = r#"{"name":"inline"}"#;
    let run = quilt()
        .args(["profile"])
        .arg(&hello.dir)
        .args([
            "--workflow",
            "hello",
            "--requests",
            "3",
            "--data",
            body,
            "--out",
        ])
        .arg(&out)
        .output()
        .unwrap();
    assert!(run.status.success(), "{}", text(&run.stderr));
    let sent = std::fs::read_to_string(dir.path().join("graph.requests.jsonl")).unwrap();
    assert_eq!(sent.lines().collect::<Vec<_>>(), vec![body; 3]);
}
