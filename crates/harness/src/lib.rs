//! What the tests and the experiments share: building apps once per process under a file lock
//! shared by every process (tests, `quilt experiment`), starting a platform in-process, a small HTTP
//! client, reading Prometheus text, finding instance processes in /proc, running `quilt up` as a
//! child ([`cli`]), OCI images unpacked and run ([`oci`]), storage clients ([`storage`]), the benchmark apps' test scaffolding ([`apps`]),
//! the load runner ([`load`]) and what every experiment shares ([`experiment`]).
//!
//! Integration tests use it as a dev-dependency: `use quilt_harness as common;`.

pub mod apps;
pub mod cli;
pub mod experiment;
pub mod load;
pub mod oci;
pub mod storage;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use quilt_manifest::Manifest;
use quilt_platform::{Deployable, Platform, PlatformConfig};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// The workspace root.
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("workspace root")
}

/// The shared cargo target folder of test apps; also exported as `QUILT_TARGET_DIR` so that every
/// app built by this process (or its children) shares compiled dependencies.
pub fn quilt_target_dir() -> PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = target_dir_in_env();
        std::fs::create_dir_all(&dir).expect("creating the test apps' target folder");
        // Set once, before this process starts any build.
        std::env::set_var("QUILT_TARGET_DIR", &dir);
        dir
    })
    .clone()
}

/// `$QUILT_TARGET_DIR`, else `<workspace>/target/quilt-apps`.
fn target_dir_in_env() -> PathBuf {
    std::env::var_os("QUILT_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target/quilt-apps"))
}

/// An exclusive lock on the builds and merges of the app in folder `dir` (of every app of its
/// name), across threads and processes (nextest runs each test in its own process, and `quilt experiment` takes the same
/// lock; two builds of one app would race on its generated files). Builds and merges of different
/// apps run at once: cargo itself serializes their compiles in the shared target folder, and the
/// merging compiler's own stages overlap. Released on drop. Not reentrant: a thread that holds it
/// and asks again waits forever.
pub fn build_lock(dir: &Path) -> std::fs::File {
    quilt_target_dir();
    try_build_lock(dir).expect("locking the build lock")
}

/// [`build_lock`], with errors returned instead of panics (for `quilt experiment`).
pub fn try_build_lock(dir: &Path) -> std::io::Result<std::fs::File> {
    try_named_lock(&format!("build-{}", app_key(dir)))
}

/// The app's name (its folder's name if its manifest does not load): binaries in the shared
/// target folder are named after the app, so two folders holding apps of one name (a copy of
/// `examples/hello`) must not build at once either.
fn app_key(dir: &Path) -> String {
    let name = Manifest::load(dir).map(|m| m.name).unwrap_or_else(|_| {
        dir.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    });
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// An exclusive lock named `name`, across threads and processes (a file
/// `.quilt-test-<name>.lock` in the test apps' target folder), e.g. to run measurements one at a
/// time. Released on drop; not reentrant.
pub fn named_lock(name: &str) -> std::fs::File {
    quilt_target_dir();
    try_named_lock(name).unwrap_or_else(|e| panic!("locking the {name} lock: {e}"))
}

fn try_named_lock(name: &str) -> std::io::Result<std::fs::File> {
    // Not `quilt_target_dir`, which exports the folder: `quilt experiment` exports it itself.
    let dir = target_dir_in_env();
    std::fs::create_dir_all(&dir)?;
    let path = dir.join(format!(".quilt-test-{name}.lock"));
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)?;
    file.lock()?;
    Ok(file)
}

/// The app at `<workspace>/<rel>` (e.g. `examples/hello`, `tests/apps/faults`), built once per
/// process.
pub fn built(rel: &str) -> Manifest {
    built_at(&root().join(rel))
}

/// The app in folder `dir`, built once per process.
pub fn built_at(dir: &Path) -> Manifest {
    static BUILT: OnceLock<Mutex<HashMap<PathBuf, Manifest>>> = OnceLock::new();
    let mut built = BUILT.get_or_init(Default::default).lock().unwrap();
    if let Some(m) = built.get(dir) {
        return m.clone();
    }
    quilt_target_dir();
    let manifest = Manifest::load(dir).expect("valid manifest");
    {
        let _lock = build_lock(dir);
        quilt_build::build_app(&manifest).expect("the app builds");
    }
    built.insert(dir.to_path_buf(), manifest.clone());
    manifest
}

/// The deployables of an app's functions (what `quilt up` serves).
pub fn deployables(manifest: &Manifest) -> Vec<Deployable> {
    manifest
        .functions
        .iter()
        .map(|f| Deployable {
            name: f.name.clone(),
            binary: manifest.work_dir().join("bin").join(&f.name),
            entry: f.name.clone(),
            memory_mb: f.memory_mb,
            cpu: f.cpu,
            min_instances: f.min_instances,
            max_instances: f.max_instances,
            concurrency: f.concurrency,
            queue: f.queue,
            timeout: Duration::from_millis(f.timeout_ms),
            pids: f.pids,
            sandbox: true,
            env: Vec::new(),
            args: Vec::new(),
            members: Vec::new(),
            placements: Vec::new(),
        })
        .collect()
}

/// Starts a platform on 127.0.0.1:0 serving the app; `idle` overrides the manifest's idle timeout.
pub async fn start(manifest: &Manifest, idle: Option<Duration>) -> Platform {
    Platform::start(PlatformConfig {
        bind: "127.0.0.1:0".parse().unwrap(),
        deployables: deployables(manifest),
        idle_timeout: idle
            .unwrap_or_else(|| Duration::from_secs_f64(manifest.platform.idle_timeout_s)),
        ..PlatformConfig::from_settings(&manifest.platform)
    })
    .await
    .expect("the platform starts")
}

/// Copies the folder `from` to `to`, recursively (an app's sources into a test's own app folder:
/// a manifest's sources must lie inside its folder).
pub fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap_or_else(|e| panic!("creating {}: {e}", to.display()));
    for entry in std::fs::read_dir(from).unwrap_or_else(|e| panic!("{}: {e}", from.display())) {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target)
                .unwrap_or_else(|e| panic!("copying {}: {e}", entry.path().display()));
        }
    }
}

/// An HTTP response.
#[derive(Debug)]
pub struct Resp {
    /// The status code.
    pub status: u16,
    /// The `Content-Type` header ("" when absent).
    pub content_type: String,
    /// The body, lossily decoded as UTF-8.
    pub body: String,
    /// Every header.
    pub headers: hyper::HeaderMap,
}

impl Resp {
    /// The body as JSON (panics with the body when it is not JSON).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?} (status {})", self.body, self.status))
    }
}

/// Sends one request on a fresh connection.
pub async fn request(addr: SocketAddr, method: &str, path: &str, body: impl Into<Bytes>) -> Resp {
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .unwrap_or_else(|e| panic!("connecting to {addr}: {e}"));
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("HTTP handshake");
    tokio::spawn(conn);
    let req = hyper::Request::builder()
        .method(method)
        .uri(path)
        .header(hyper::header::HOST, addr.to_string())
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .body(Full::new(body.into()))
        .unwrap();
    let resp = tokio::time::timeout(Duration::from_secs(60), sender.send_request(req))
        .await
        .unwrap_or_else(|_| panic!("{method} {path}: no answer within 60 s"))
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
    let status = resp.status().as_u16();
    let content_type = resp
        .headers()
        .get(hyper::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let headers = resp.headers().clone();
    let body = resp.into_body().collect().await.unwrap().to_bytes();
    Resp {
        status,
        content_type,
        body: String::from_utf8_lossy(&body).into_owned(),
        headers,
    }
}

/// `POST <path>` with a body.
pub async fn post(addr: SocketAddr, path: &str, body: impl Into<Bytes>) -> Resp {
    request(addr, "POST", path, body).await
}

/// `GET <path>`.
pub async fn get(addr: SocketAddr, path: &str) -> Resp {
    request(addr, "GET", path, Bytes::new()).await
}

/// A client that opens a connection, sends `head` and `body`, then stalls; returns what the
/// gateway answered (empty if it closed unanswered) and when, or None if still open after `limit`.
pub async fn stalled_client(
    addr: SocketAddr,
    head: String,
    body: Vec<u8>,
    limit: Duration,
) -> Option<(String, Duration)> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let t = Instant::now();
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    let _ = s.write_all(head.as_bytes()).await;
    let _ = s.write_all(&body).await;
    let mut reply = Vec::new();
    let read = tokio::time::timeout(limit, s.read_to_end(&mut reply)).await;
    // A reset after the answer still counts as closed.
    read.ok()
        .map(|_| (String::from_utf8_lossy(&reply).into_owned(), t.elapsed()))
}

/// `n` clients at once, each a [`stalled_client`]; their tasks.
pub fn stalled_clients(
    addr: SocketAddr,
    n: usize,
    head: &str,
    body: &[u8],
    limit: Duration,
) -> Vec<tokio::task::JoinHandle<Option<(String, Duration)>>> {
    (0..n)
        .map(|_| tokio::spawn(stalled_client(addr, head.to_string(), body.to_vec(), limit)))
        .collect()
}

/// What each of `clients` was answered and when (panics if one was still connected at its limit).
pub async fn replies(
    clients: Vec<tokio::task::JoinHandle<Option<(String, Duration)>>>,
) -> Vec<(String, Duration)> {
    let mut replies = Vec::new();
    for c in clients {
        let reply = c.await.expect("the client task finished");
        replies.push(reply.expect("a stalled client was still connected at its limit"));
    }
    replies
}

/// The value of the sample `name{labels}` in Prometheus text (labels in any order; other labels of
/// the sample are ignored).
pub fn metric(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (metric_name, label_text) = match series.split_once('{') {
                Some((n, rest)) => (n, rest.trim_end_matches('}')),
                None => (series, ""),
            };
            if metric_name != name {
                return None;
            }
            let all = labels
                .iter()
                .all(|(k, v)| label_text.split(',').any(|p| p == format!("{k}=\"{v}\"")));
            if all {
                value.parse().ok()
            } else {
                None
            }
        })
}

/// The sum of every sample `name{labels}` in Prometheus text (over the values of its other
/// labels, e.g. every status code).
pub fn metric_sum(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|line| metric(line, name, labels))
        .sum()
}

/// A metric of a running platform (0 when absent).
pub async fn metric_of(addr: SocketAddr, name: &str, labels: &[(&str, &str)]) -> f64 {
    metric(&get(addr, "/metrics").await.body, name, labels).unwrap_or(0.0)
}

/// How many requests the gateway at `addr` has routed to `function`
/// (`quilt_gateway_requests_total`; 0 when absent).
pub async fn requests(addr: SocketAddr, function: &str) -> u64 {
    metric_of(
        addr,
        "quilt_gateway_requests_total",
        &[("function", function)],
    )
    .await as u64
}

/// The socket address of a URL such as `http://127.0.0.1:8080/route` (panics on anything else).
pub fn addr_of(url: &str) -> SocketAddr {
    let rest = url.strip_prefix("http://").unwrap_or(url);
    let authority = rest.split('/').next().unwrap_or(rest);
    authority
        .parse()
        .unwrap_or_else(|e| panic!("not an http://<ip>:<port> URL ({e}): {url}"))
}

/// The environment of a process, as `KEY=value` strings (empty when unreadable).
fn environ(pid: u32) -> Vec<String> {
    std::fs::read(format!("/proc/{pid}/environ"))
        .map(|b| {
            b.split(|&c| c == 0)
                .map(|s| String::from_utf8_lossy(s).into_owned())
                .collect()
        })
        .unwrap_or_default()
}

/// Live (not zombie) processes whose environment says they are instances started by the gateway at
/// `gateway` (`QUILT_GATEWAY`), optionally of one function (`QUILT_FUNCTION`).
pub fn instance_pids(gateway: SocketAddr, function: Option<&str>) -> Vec<u32> {
    let want_gw = format!("QUILT_GATEWAY={gateway}");
    let want_fn = function.map(|f| format!("QUILT_FUNCTION={f}"));
    let mut pids = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        if !is_running(pid) {
            continue;
        }
        let env = environ(pid);
        if env.contains(&want_gw) && want_fn.as_ref().is_none_or(|f| env.contains(f)) {
            pids.push(pid);
        }
    }
    pids.sort();
    pids
}

/// Whether `pid` exists and is not a zombie.
pub fn is_running(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // The state follows the parenthesised command name.
        Ok(stat) => stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().next())
            .is_some_and(|state| state != "Z" && state != "X"),
        Err(_) => false,
    }
}

/// Polls `cond` every 50 ms until it holds or `limit` passes; returns whether it held.
pub async fn eventually(limit: Duration, mut cond: impl AsyncFnMut() -> bool) -> bool {
    let end = Instant::now() + limit;
    loop {
        if cond().await {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
