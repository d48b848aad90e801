//! `quilt deploy` and `quilt up --hosts` as a user runs them: images and Fission specs for every
//! deployable of examples/hello, `--apply` naming what is missing, and examples/hello served by
//! instances on emulated hosts, where every remote hop pays the round trip asked for.

use quilt_harness as common;
use quilt_harness::cli::{quilt, Up};
use quilt_harness::oci;
use serde_json::Value;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::{Duration, Instant};

fn hello_dir() -> std::path::PathBuf {
    common::built("examples/hello").dir.clone()
}

#[test]
fn deploy_writes_an_image_and_fission_specs_per_deployable() {
    let app = hello_dir();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("fission");
    let run = quilt()
        .arg("deploy")
        .arg(&app)
        .args([
            "--target",
            "fission",
            "--no-build",
            "--only",
            "hello",
            "--only",
            "upper",
        ])
        .args([
            "--only",
            "decorate",
            "--registry",
            "registry.example.com/quilt",
        ])
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "quilt deploy failed: {stderr}");
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("quilt-deploy.json")).unwrap())
            .unwrap();
    let images = report["images"].as_array().unwrap();
    let names: Vec<&str> = images.iter().map(|i| i["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["hello", "upper", "decorate"]);
    for image in images {
        let name = image["name"].as_str().unwrap();
        let reference = image["image"].as_str().unwrap();
        assert!(
            reference.starts_with("registry.example.com/quilt/hello-") || name == "hello",
            "{reference}"
        );
        // Every image is a layout skopeo reads, with the digest the report gives.
        let layout = format!(
            "oci:{}:{}",
            out.join(image["layout"].as_str().unwrap()).display(),
            image["tag"].as_str().unwrap()
        );
        let inspect = Command::new("skopeo")
            .args(["inspect", &layout])
            .output()
            .unwrap();
        assert!(
            inspect.status.success(),
            "skopeo inspect {layout}: {}",
            String::from_utf8_lossy(&inspect.stderr)
        );
        let inspect: Value = serde_json::from_slice(&inspect.stdout).unwrap();
        assert_eq!(inspect["Digest"], image["manifest_digest"]);
        // And each has its three Fission resources.
        for kind in ["env", "function", "route"] {
            let spec = out.join(format!("specs/{kind}-{name}.yaml"));
            let text = std::fs::read_to_string(&spec).unwrap();
            assert!(
                text.contains(&format!("name: {name}")),
                "{}",
                spec.display()
            );
        }
        let function =
            std::fs::read_to_string(out.join(format!("specs/function-{name}.yaml"))).unwrap();
        assert!(function.contains(reference), "the function runs its image");
        assert!(function.contains("router.fission.svc.cluster.local:80"));
        assert!(function.contains("ExecutorType: container"));
        assert!(function.contains("memory: 64Mi") && function.contains("cpu: 500m"));
    }
    assert!(out.join("specs/fission-deployment-config.yaml").is_file());
    let push = std::fs::read_to_string(out.join("images/push.sh")).unwrap();
    assert_eq!(push.matches("skopeo copy").count(), 3);
}

#[test]
fn deploy_apply_says_exactly_what_is_missing() {
    let app = hello_dir();
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("fission");
    let empty = tmp.path().join("bin");
    std::fs::create_dir(&empty).unwrap();
    let run = quilt()
        .arg("deploy")
        .arg(&app)
        .args(["--target", "fission", "--no-build", "--apply", "--out"])
        .arg(&out)
        .env("PATH", &empty)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(!run.status.success());
    assert!(
        stderr.contains("`fission`") && stderr.contains("`kubectl`"),
        "{stderr}"
    );
    assert!(stderr.contains("neither is on PATH"), "{stderr}");
    assert!(!out.exists(), "nothing is written when --apply cannot run");
}

#[test]
fn a_merged_groups_image_serves_its_root_at_slash_as_fissions_router_calls_it() {
    let app = hello_dir();
    {
        let _lock = common::build_lock(&app);
        let merged = quilt()
            .arg("merge")
            .arg(&app)
            .arg("--tree")
            .arg(app.join("workflows/hello.tree"))
            .output()
            .unwrap();
        assert!(
            merged.status.success(),
            "quilt merge: {}",
            String::from_utf8_lossy(&merged.stderr)
        );
    }
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("fission");
    let run = quilt()
        .arg("deploy")
        .arg(&app)
        .args([
            "--target",
            "fission",
            "--no-build",
            "--only",
            "hello-merged",
            "--out",
        ])
        .arg(&out)
        .output()
        .unwrap();
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let report: Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("quilt-deploy.json")).unwrap())
            .unwrap();
    let image = &report["images"][0];
    let bundle = tmp.path().join("bundle");
    let layout = out.join(image["layout"].as_str().unwrap());
    let config = oci::unpack(&layout, image["tag"].as_str().unwrap(), &bundle);
    // Run it as the container runtime would: the image's entrypoint and environment (the port and
    // address changed to fit this machine), inside its rootfs when root.
    assert_eq!(config["process"]["args"][0], "/quilt/bin/hello-merged");
    let served = oci::serve(&bundle, &config);
    let port = served.port;
    let mut client = Client::new(SocketAddr::from(([127, 0, 0, 1], port)));
    let root = client.post("", r#"{"name":"quilt"}"#);
    let member = client.post("upper", r#"{"text":"abc"}"#);
    drop(served);
    assert_eq!(root, (200, r#"{"message":"Hello, QUILT!"}"#.to_string()));
    assert_eq!(member, (200, r#"{"text":"ABC"}"#.to_string()));
}

/// `quilt up` serving the built examples/hello with `args`.
fn up(args: &[&str]) -> Up {
    Up::with_args(&hello_dir(), &[&["--no-build"][..], args].concat())
}

/// A kept-alive HTTP/1.1 connection posting JSON.
struct Client {
    stream: TcpStream,
}

impl Client {
    fn new(addr: SocketAddr) -> Client {
        let stream = TcpStream::connect(addr).unwrap();
        stream.set_nodelay(true).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        Client { stream }
    }

    fn post(&mut self, route: &str, body: &str) -> (u16, String) {
        write!(
            self.stream,
            "POST /{route} HTTP/1.1\r\nHost: quilt\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            self.stream.read_exact(&mut byte).unwrap();
            head.push(byte[0]);
        }
        let head = String::from_utf8_lossy(&head).into_owned();
        let status: u16 = head[9..12].parse().unwrap();
        let len: usize = head
            .lines()
            .find_map(|l| {
                let (k, v) = l.split_once(':')?;
                k.eq_ignore_ascii_case("content-length")
                    .then(|| v.trim().parse().ok())?
            })
            .unwrap_or(0);
        let mut body = vec![0u8; len];
        self.stream.read_exact(&mut body).unwrap();
        (status, String::from_utf8_lossy(&body).into_owned())
    }
}

/// Median latency of `hello` over `n` requests (after a warm-up that starts every instance).
fn p50_hello(up: &Up, n: usize) -> Duration {
    let mut client = Client::new(up.gateway);
    for _ in 0..5 {
        let (status, body) = client.post("hello", r#"{"name":"quilt"}"#);
        assert_eq!(
            (status, body.as_str()),
            (200, r#"{"message":"Hello, QUILT!"}"#)
        );
    }
    let mut times: Vec<Duration> = (0..n)
        .map(|_| {
            let t = Instant::now();
            let (status, _) = client.post("hello", r#"{"name":"quilt"}"#);
            assert_eq!(status, 200);
            t.elapsed()
        })
        .collect();
    times.sort();
    times[n / 2]
}

fn namespaces() -> Vec<String> {
    let out = Command::new("ip").args(["netns", "list"]).output().unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect()
}

fn netns_pids(ns: &str) -> Vec<String> {
    let out = Command::new("ip")
        .args(["netns", "pids", ns])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

#[test]
fn emulated_hosts_serve_hello_and_add_the_round_trip_to_every_hop() {
    let root = oci::is_root();
    let ip = Command::new("ip").arg("-V").output().is_ok();
    if !root || !ip {
        eprintln!("skipped: emulated hosts need root and iproute2 (root: {root}, ip: {ip})");
        return;
    }
    hello_dir();
    // A leftover of a dead run (a pid above pid_max cannot be alive) is removed at start.
    let pid_max: u64 = std::fs::read_to_string("/proc/sys/kernel/pid_max")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let stale = format!("quilt-{}-h0", pid_max + 7);
    let made = Command::new("ip")
        .args(["netns", "add", &stale])
        .status()
        .unwrap();
    assert!(made.success());

    const N: usize = 60;
    let rtt = Duration::from_millis(2);
    let mut measured = Vec::new();
    for (label, args) in [
        ("one host", vec![]),
        ("3 hosts, rtt 0", vec!["--hosts", "3", "--rtt", "0s"]),
        (
            "3 hosts, tun, rtt 0",
            vec!["--hosts", "3", "--rtt", "0s", "--link", "tun"],
        ),
        ("3 hosts, rtt 2ms", vec!["--hosts", "3", "--rtt", "2ms"]),
    ] {
        let up = up(&args);
        let p50 = p50_hello(&up, N);
        if !args.is_empty() {
            assert!(
                !namespaces().contains(&stale),
                "the dead run's namespace is removed"
            );
            // Every host runs an instance (hello, upper and decorate go round-robin on 3 hosts).
            let pid = up.pid();
            for h in 0..3 {
                let ns = format!("quilt-{pid}-h{h}");
                assert!(!netns_pids(&ns).is_empty(), "{ns} runs an instance");
            }
        }
        let pid = up.pid();
        up.stop_with("TERM");
        let left: Vec<String> = namespaces()
            .into_iter()
            .filter(|n| n.starts_with(&format!("quilt-{pid}-")))
            .collect();
        assert!(left.is_empty(), "namespaces left after shutdown: {left:?}");
        eprintln!("p50 of hello, {label}: {p50:?}");
        measured.push(p50);
    }
    let (base, tun0, delayed) = (measured[1], measured[2], measured[3]);
    // hello makes 3 hops through the gateway (client→hello, hello→upper, hello→decorate); the
    // calls hello makes cross the link twice each way, so ≈ 5 round trips are added. Ask for 2.
    let added = delayed.saturating_sub(base.max(tun0));
    assert!(
        added >= rtt * 2,
        "with --rtt {rtt:?} hello's p50 rose by only {added:?} ({base:?} → {delayed:?})"
    );
    assert!(
        delayed < Duration::from_millis(200),
        "p50 {delayed:?} is far above the round trips asked for"
    );
}
