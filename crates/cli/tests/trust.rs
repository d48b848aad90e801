//! Trust boundaries through the `quilt` binary: `quilt merge` refuses groups that cross a trust
//! domain or include an isolated function, from a funcTree (`--tree`) and from a plan (`--plan`),
//! unless `--allow-cross-domain` is given, which is logged; group names that could escape a folder
//! are refused; `quilt up` listens on loopback only.

use quilt_harness as common;
use quilt_harness::cli::{text, Up};
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// `quilt`, logging what it decides (the tests read its log).
fn quilt() -> Command {
    let mut cmd = quilt_harness::cli::quilt();
    cmd.env("QUILT_LOG", "info");
    cmd
}

/// examples/hello in a temporary folder, with `upper` in the `payments` domain and `decorate`
/// isolated.
fn guarded_app() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let src = common::root().join("examples/hello");
    let manifest = std::fs::read_to_string(src.join("quilt.toml"))
        .unwrap()
        .replace(
            "name = \"upper\"\nlanguage = \"c\"",
            "name = \"upper\"\ndomain = \"payments\"\nlanguage = \"c\"",
        )
        .replace(
            "name = \"decorate\"\nlanguage = \"rust\"",
            "name = \"decorate\"\nisolate = true\nlanguage = \"rust\"",
        );
    assert!(manifest.contains("domain = \"payments\"") && manifest.contains("isolate = true"));
    std::fs::write(dir.path().join("quilt.toml"), manifest).unwrap();
    common::copy_dir(&src.join("functions"), &dir.path().join("functions"));
    dir
}

/// A plan with one group, `root` first.
fn plan(dir: &Path, members: &[&str]) -> std::path::PathBuf {
    let edges: Vec<[&str; 2]> = members[1..].iter().map(|m| [members[0], *m]).collect();
    let plan = serde_json::json!({
        "algorithm": "exact", "cost": 0, "baseline_cost": 1, "roots": [members[0]],
        "groups": [{"root": members[0], "members": members, "edges": edges,
                    "memory": 1, "cpu": 1}],
        "optimal": true, "seconds": 0.0
    });
    let file: String = members
        .join("_")
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    let path = dir.join(format!("plan-{file}.json"));
    std::fs::write(&path, plan.to_string()).unwrap();
    path
}

fn merge(app: &Path, source: (&str, &Path), extra: &[&str]) -> Output {
    quilt()
        .arg("merge")
        .arg(app)
        .arg(source.0)
        .arg(source.1)
        .arg("--no-build")
        .args(extra)
        .output()
        .expect("running quilt merge")
}

fn merged_files(app: &Path) -> Vec<String> {
    std::fs::read_dir(app.join(".quilt/merged"))
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn merge_refuses_cross_domain_and_isolated_groups_from_trees_and_plans() {
    let app = guarded_app();
    let dir = app.path();
    let tree = |name: &str, text: &str| {
        let path = dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    };
    let cross_tree = tree("cross.tree", "hello upper\n");
    let isolated_tree = tree("isolated.tree", "hello decorate\n");
    let cross_plan = plan(dir, &["hello", "upper"]);
    let isolated_plan = plan(dir, &["hello", "decorate"]);
    let cases = [
        ("--tree", &cross_tree, "different trust domains"),
        ("--tree", &isolated_tree, "'decorate' is isolated"),
        ("--plan", &cross_plan, "different trust domains"),
        ("--plan", &isolated_plan, "'decorate' is isolated"),
    ];
    for (flag, file, why) in cases {
        let out = merge(dir, (flag, file), &[]);
        let err = text(&out.stderr);
        assert!(!out.status.success(), "{flag} {}: merged", file.display());
        assert!(
            err.contains("refusing to merge group 'hello'") && err.contains(why),
            "{flag}: {err}"
        );
        assert!(
            err.contains("--allow-cross-domain"),
            "names the override: {err}"
        );
        assert!(
            merged_files(dir).is_empty(),
            "a refused merge installs nothing"
        );
    }
    // With the override the group passes the check, and the crossing is logged. (The container
    // merge installs a deployment file without compiling, so this stays fast.)
    for (flag, file, why) in cases {
        let out = merge(dir, (flag, file), &["--allow-cross-domain", "--container"]);
        let err = text(&out.stderr);
        assert!(out.status.success(), "{flag} {}: {err}", file.display());
        assert!(
            err.contains("WARN") && err.contains("merging across a trust boundary by request"),
            "{flag}: the override is logged: {err}"
        );
        assert!(
            err.contains(why),
            "{flag}: the log says what was crossed: {err}"
        );
    }
}

#[test]
fn merge_refuses_group_names_that_could_escape_a_folder() {
    let app = guarded_app();
    let dir = app.path();
    for bad in ["../hello", "hello/../../x", "hel\u{1b}lo", "a\\b"] {
        let path = plan(dir, &[bad, "upper"]);
        let out = merge(dir, ("--plan", &path), &["--allow-cross-domain"]);
        let err = text(&out.stderr);
        assert!(!out.status.success(), "{bad:?}: merged");
        assert!(err.contains("bad function name"), "{bad:?}: {err}");
        let tree = dir.join("bad.tree");
        std::fs::write(&tree, format!("{bad} upper\n")).unwrap();
        let out = merge(dir, ("--tree", &tree), &["--allow-cross-domain"]);
        assert!(!out.status.success(), "{bad:?}: merged");
        assert!(text(&out.stderr).contains("bad function name"), "{bad:?}");
    }
    assert!(merged_files(dir).is_empty());
    assert!(!dir.join("x").exists() && !dir.parent().unwrap().join("x").exists());
}

/// Whether a TCP socket listens on `port`, and on which IPv4 addresses (from /proc/net/tcp).
fn listening_on(port: u16) -> Vec<std::net::Ipv4Addr> {
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap_or_default();
    table
        .lines()
        .skip(1)
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            let (addr, p) = f.get(1)?.split_once(':')?;
            // State 0A is LISTEN; the address is little-endian hex.
            if f.get(3) != Some(&"0A") || u16::from_str_radix(p, 16).ok()? != port {
                return None;
            }
            let raw = u32::from_str_radix(addr, 16).ok()?;
            Some(std::net::Ipv4Addr::from(raw.swap_bytes()))
        })
        .collect()
}

#[test]
fn quilt_up_listens_on_loopback_only() {
    let app = common::built("tests/apps/faults");
    let up = Up::with_args(&app.dir, &["--no-build"]);
    let addr = up.gateway;
    let listening = listening_on(addr.port());
    drop(up);
    assert!(addr.ip().is_loopback(), "{addr}");
    assert_eq!(
        listening,
        [std::net::Ipv4Addr::LOCALHOST],
        "port {}",
        addr.port()
    );
}

/// User and system CPU time of a process, seconds (from /proc/<pid>/stat).
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .unwrap()
        .1
        .split_whitespace()
        .collect();
    let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
    // SAFETY: sysconf has no preconditions.
    ticks as f64 / unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64
}

/// `quilt up` started with an open file limit of 256 (hard 512) and flooded by more clients than
/// it has files, each sending a head that announces a body and never sending it: the platform
/// raises its limit to 512, holds what fits and answers the others 503 at once (or closes them),
/// cuts the held ones after the body timeout, answers /healthz and requests throughout, and does
/// not spin (its CPU time over the flood stays a fraction of the wall time).
#[test]
fn a_slow_body_flood_under_a_low_file_limit_is_shed_without_spinning() {
    use std::os::unix::process::CommandExt;
    // This process opens the flood: its own soft limit goes up to its hard one.
    let mut own = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit and setrlimit read and write the struct given.
    unsafe {
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut own);
        own.rlim_cur = own.rlim_max;
        libc::setrlimit(libc::RLIMIT_NOFILE, &own);
    }
    let flood = 600;
    assert!(
        own.rlim_cur > flood as u64 + 200,
        "this test needs more files: {own:?}"
    );
    let app = common::built("tests/apps/faults");
    assert_eq!(app.platform.body_timeout_s, 1.5);
    let mut cmd = quilt();
    cmd.arg("up")
        .arg(&app.dir)
        .args(["--port", "0", "--no-build"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    // SAFETY: setrlimit is async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            let lim = libc::rlimit {
                rlim_cur: 256,
                rlim_max: 512,
            };
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let mut child = cmd.spawn().expect("starting quilt up");
    let pid = child.id();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    let log = std::thread::spawn(move || stderr.lines().map_while(Result::ok).collect::<Vec<_>>());
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let addr: std::net::SocketAddr = loop {
        let line = lines.next().expect("quilt up printed its gateway").unwrap();
        if let Some(url) = line.strip_prefix("QUILT_GATEWAY http://") {
            break url.trim().parse().unwrap();
        }
    };
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let files = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap()
        .to_string();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let started = Instant::now();
    let cpu_before = cpu_seconds(pid);
    let (shed, cut, closed) = rt.block_on(async {
        let head = "POST /echo HTTP/1.1\r\nHost: q\r\nContent-Length: 10\r\n\r\n";
        let clients = common::stalled_clients(addr, flood, head, &[], Duration::from_secs(6));
        tokio::time::sleep(Duration::from_millis(500)).await;
        let health = tokio::time::timeout(Duration::from_secs(2), common::get(addr, "/healthz"))
            .await
            .expect("/healthz answers during the flood");
        assert_eq!((health.status, health.body.as_str()), (200, "ok"));
        let r = tokio::time::timeout(Duration::from_secs(2), common::post(addr, "/echo", "{}"))
            .await
            .expect("a request is answered during the flood");
        assert!(r.status == 200 || r.status == 503, "{r:?}");
        let (mut shed, mut cut, mut closed) = (0, 0, 0);
        for (reply, took) in common::replies(clients).await {
            if reply.starts_with("HTTP/1.1 503") {
                shed += 1;
            } else if reply.starts_with("HTTP/1.1 408") {
                assert!(took < Duration::from_secs(4), "cut after {took:?}");
                cut += 1;
            } else {
                assert!(reply.is_empty(), "{reply}");
                closed += 1;
            }
        }
        (shed, cut, closed)
    });
    let wall = started.elapsed().as_secs_f64();
    let cpu = cpu_seconds(pid) - cpu_before;
    let after = rt.block_on(common::post(addr, "/echo", r#"{"after":1}"#));
    let metrics = rt.block_on(common::get(addr, "/metrics")).body;
    let _ = child.kill();
    let _ = child.wait();
    let log = log.join().unwrap();
    println!("{files}; flood of {flood}: {shed} shed (503), {cut} cut (408), {closed} closed; gateway CPU {cpu:.2} s over {wall:.2} s");
    assert!(
        files.contains(" 512 "),
        "the soft limit was raised to the hard one: {files}"
    );
    let max = common::metric(&metrics, "quilt_gateway_max_connections", &[]).unwrap();
    assert!(max > 0.0 && max < 512.0, "{max}");
    assert!(
        log.iter()
            .any(|l| l.contains(&format!("holds up to {max} client connections"))),
        "the limit is logged: {log:?}"
    );
    assert!(cut as f64 <= max && cut > 0, "{cut} held and cut");
    assert!(shed > 0, "none shed");
    assert!(
        cpu < 0.5 * wall,
        "the gateway used {cpu:.2} s of CPU in {wall:.2} s"
    );
    assert_eq!((after.status, after.body.as_str()), (200, r#"{"after":1}"#));
}
