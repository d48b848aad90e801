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

/// Whether emulated hosts can be made here (root and iproute2); says why not when not.
fn namespaces_available() -> bool {
    let root = oci::is_root();
    let ip = Command::new("ip").arg("-V").output().is_ok();
    if !root || !ip {
        eprintln!("skipped: emulated hosts need root and iproute2 (root: {root}, ip: {ip})");
    }
    root && ip
}

/// Stops `quilt up` with SIGTERM and checks that it removed every namespace it made.
fn stop_and_check_namespaces_removed(up: Up) {
    let pid = up.pid();
    up.stop_with("TERM");
    let left: Vec<String> = namespaces()
        .into_iter()
        .filter(|n| n.starts_with(&format!("quilt-{pid}-")))
        .collect();
    assert!(left.is_empty(), "namespaces left after shutdown: {left:?}");
}

#[test]
fn emulated_hosts_serve_hello_and_add_the_round_trip_to_every_hop() {
    if !namespaces_available() {
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
        stop_and_check_namespaces_removed(up);
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

/// Median round trip of `request` to a TCP server at `addr`, from network namespace `ns` (a
/// thread of this process enters it), over one connection, after it answered once.
fn round_trip_from(ns: &str, addr: SocketAddr, request: &'static [u8], n: usize) -> Duration {
    let ns = ns.to_string();
    std::thread::spawn(move || {
        use std::os::fd::AsRawFd;
        let f = std::fs::File::open(format!("/run/netns/{ns}")).unwrap();
        // SAFETY: setns on a namespace file this thread holds; affects this thread only.
        assert_eq!(unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) }, 0);
        let mut stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5)).unwrap();
        stream.set_nodelay(true).unwrap();
        let mut ask = || {
            let t = Instant::now();
            stream.write_all(request).unwrap();
            let mut buf = [0u8; 256];
            let got = stream.read(&mut buf).unwrap();
            assert!(got > 0, "{addr} closed the connection");
            t.elapsed()
        };
        ask();
        let mut times: Vec<Duration> = (0..n).map(|_| ask()).collect();
        times.sort();
        times[n / 2]
    })
    .join()
    .unwrap()
}

#[test]
fn a_storage_host_serves_redis_and_memcached_one_round_trip_from_every_host() {
    if !namespaces_available() {
        return;
    }
    // examples/hello with Redis and memcached asked for: its binaries, a manifest with services.
    let hello = hello_dir();
    let tmp = tempfile::tempdir().unwrap();
    let app = tmp.path().join("hello");
    std::fs::create_dir_all(app.join(".quilt")).unwrap();
    for part in ["functions", "workflows", ".quilt/bin"] {
        let copied = Command::new("cp")
            .arg("-a")
            .arg(hello.join(part))
            .arg(app.join(part))
            .status()
            .unwrap();
        assert!(copied.success(), "copying {part}");
    }
    let manifest = std::fs::read_to_string(hello.join("quilt.toml")).unwrap();
    std::fs::write(
        app.join("quilt.toml"),
        format!("{manifest}\n[services]\nredis = true\nmemcached = true\n"),
    )
    .unwrap();

    let rtt = Duration::from_millis(2);
    let up = Up::with_args(
        &app,
        &[
            "--no-build",
            "--hosts",
            "2",
            "--rtt",
            "2ms",
            "--storage-host",
        ],
    );
    let pid = up.pid();
    // hello runs (its instances start, on the hosts), and gets the storage host's addresses.
    p50_hello(&up, 3);
    let log = up.log();
    let services = log
        .lines()
        .find_map(|l| l.split_once("; services: ").map(|(_, s)| s.to_string()))
        .unwrap_or_else(|| panic!("no services line:\n{log}"));
    let addr_of = |kind: &str| -> SocketAddr {
        let rest = services
            .split(", ")
            .find_map(|s| s.strip_prefix(&format!("{kind} on ")))
            .unwrap_or_else(|| panic!("{kind} not in {services:?}"));
        rest.trim().parse().unwrap()
    };
    let (redis, memcached) = (addr_of("redis"), addr_of("memcached"));
    let storage_ns = format!("quilt-{pid}-st");
    assert!(namespaces().contains(&storage_ns), "{storage_ns} exists");
    let commands: Vec<String> = netns_pids(&storage_ns)
        .iter()
        .filter_map(|p| std::fs::read_to_string(format!("/proc/{p}/comm")).ok())
        .map(|c| c.trim().to_string())
        .collect();
    for kind in ["redis-server", "memcached"] {
        assert!(
            commands.iter().any(|c| c == kind),
            "{kind} runs on the storage host: {commands:?}"
        );
    }
    // Both listen on the storage host's address (10.213.N.2), not on loopback or the gateway's.
    for a in [redis, memcached] {
        let octets = match a.ip() {
            std::net::IpAddr::V4(v4) => v4.octets(),
            other => panic!("{other}"),
        };
        assert_eq!((octets[0], octets[1], octets[3]), (10, 213, 2), "{a}");
    }
    // The functions' instances were told these addresses.
    let instance = netns_pids(&format!("quilt-{pid}-h0"))
        .into_iter()
        .find_map(|p| std::fs::read(format!("/proc/{p}/environ")).ok())
        .expect("an instance runs on h0");
    let environ = String::from_utf8_lossy(&instance);
    assert!(
        environ.contains(&format!("QUILT_REDIS_ADDR={redis}"))
            && environ.contains(&format!("QUILT_MEMCACHED_ADDR={memcached}")),
        "{environ}"
    );
    // A round trip to either costs the link's round trip from an instance's host and from the
    // gateway's namespace alike — once, not twice (every two hosts are one rtt apart).
    for ns in [format!("quilt-{pid}-h0"), format!("quilt-{pid}-gw")] {
        for (what, addr, request) in [
            ("redis", redis, &b"PING\r\n"[..]),
            ("memcached", memcached, &b"version\r\n"[..]),
        ] {
            let t = round_trip_from(&ns, addr, request, 15);
            eprintln!("{what} from {ns}: p50 {t:?}");
            assert!(
                t >= rtt,
                "{what} from {ns} answered in {t:?}, under the rtt {rtt:?}"
            );
            assert!(
                t < rtt * 2,
                "{what} from {ns} took {t:?}: more than one round trip of {rtt:?}"
            );
        }
    }
    stop_and_check_namespaces_removed(up);
}
