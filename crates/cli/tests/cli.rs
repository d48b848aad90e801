//! The `quilt` binary as a user runs it: `quilt up` as a child process serving examples/hello and
//! tests/apps/faults, `quilt invoke` against it, SIGTERM/SIGINT leaving no process behind, and
//! `quilt build` reporting manifest errors.

use quilt_harness as common;
use quilt_harness::cli::{quilt, text, Up};
use std::path::Path;
use std::process::{Command, Output};

fn run(cmd: &mut Command) -> Output {
    cmd.output().expect("running quilt")
}

/// Runs `cmd` and expects success (its stderr otherwise).
fn ok(cmd: &mut Command) {
    let out = run(cmd);
    assert!(out.status.success(), "{}", text(&out.stderr));
}

/// `quilt new <tmp>/<name>` in a new temporary folder, then `quilt add` of each (function,
/// language): the folder and the app's path.
fn scaffold(name: &str, functions: &[(&str, &str)]) -> (tempfile::TempDir, std::path::PathBuf) {
    common::quilt_target_dir();
    let tmp = tempfile::tempdir().unwrap();
    let app = tmp.path().join(name);
    ok(quilt().arg("new").arg(&app));
    for (function, lang) in functions {
        ok(quilt()
            .args(["add", function, "--lang", lang, "--app"])
            .arg(&app));
    }
    (tmp, app)
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

/// The parent pid of a process.
fn ppid(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    stat.rsplit_once(')')?
        .1
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Memory cgroups (v1) named after process `pid`, as the platform names its instances' groups.
fn memory_cgroups_named_after(pid: u32) -> Vec<String> {
    let own = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let Some(path) = own
        .lines()
        .find_map(|l| l.split_once(":memory:").map(|x| x.1))
    else {
        return Vec::new();
    };
    let dir = Path::new("/sys/fs/cgroup/memory").join(path.trim_start_matches('/'));
    let prefix = format!("quilt-{pid}-");
    std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .filter_map(|e| e.file_name().to_str().map(str::to_string))
                .filter(|n| n.starts_with(&prefix))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn hello_end_to_end_through_quilt_up_then_sigterm_leaves_nothing() {
    let up = Up::start("examples/hello");
    let rt = rt();

    let r = rt.block_on(common::post(up.gateway, "/hello", r#"{"name":"quilt"}"#));
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body, r#"{"message":"Hello, QUILT!"}"#);

    // quilt invoke prints the reply.
    let out = run(quilt()
        .args([
            "invoke",
            "hello",
            "--data",
            r#"{"name":"quilt"}"#,
            "--gateway",
        ])
        .arg(up.url()));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(
        text(&out.stdout).trim_end(),
        r#"{"message":"Hello, QUILT!"}"#
    );

    // --data-file, and the gateway from the environment.
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), r#"{"text":"abc-xyz"}"#).unwrap();
    let out = run(quilt()
        .args(["invoke", "upper", "--data-file"])
        .arg(file.path())
        .env("QUILT_GATEWAY_URL", up.url()));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim_end(), r#"{"text":"ABC-XYZ"}"#);

    // Failure: non-zero exit and the error on stderr.
    let out = run(quilt()
        .args(["invoke", "no-such-function", "--gateway"])
        .arg(up.url()));
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("404") && err.contains("unknown function"),
        "{err}"
    );
    assert!(out.stdout.is_empty());

    // The instances: one process per function, children of quilt up, running the built binaries.
    let pids = common::instance_pids(up.gateway, None);
    assert_eq!(pids.len(), 3, "hello, upper, decorate: {pids:?}");
    let bin = common::root().join("examples/hello/.quilt/bin");
    for &pid in &pids {
        assert_eq!(ppid(pid), Some(up.pid()), "instance {pid}'s parent");
        let exe = std::fs::read_link(format!("/proc/{pid}/exe")).unwrap();
        assert!(
            exe.starts_with(&bin),
            "instance {pid} runs {}",
            exe.display()
        );
    }
    let up_pid = up.pid();
    let gateway = up.gateway;
    let groups = memory_cgroups_named_after(up_pid);

    up.stop("TERM");
    for &pid in &pids {
        assert!(!common::is_running(pid), "instance {pid} outlived quilt up");
    }
    assert_eq!(common::instance_pids(gateway, None), Vec::<u32>::new());
    assert_eq!(
        memory_cgroups_named_after(up_pid),
        Vec::<String>::new(),
        "cgroups left behind (were: {groups:?})"
    );
}

#[test]
fn invoke_reports_function_failures_and_sigint_stops_everything() {
    let up = Up::start("tests/apps/faults");

    let out = run(quilt()
        .args(["invoke", "echo", "--data", r#"{"a":[1,2]}"#, "--gateway"])
        .arg(up.url()));
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim_end(), r#"{"a":[1,2]}"#);

    let out = run(quilt()
        .args([
            "invoke",
            "crash",
            "--data",
            r#"{"how":"exit"}"#,
            "--gateway",
        ])
        .arg(up.url()));
    assert!(!out.status.success());
    let err = text(&out.stderr);
    assert!(
        err.contains("HTTP 502") && err.contains("exit code 3"),
        "{err}"
    );

    let out = run(quilt()
        .args([
            "invoke",
            "crash",
            "--data",
            r#"{"how":"none"}"#,
            "--gateway",
        ])
        .arg(up.url()));
    assert!(out.status.success(), "after a crash: {}", text(&out.stderr));

    let pids = common::instance_pids(up.gateway, None);
    assert_eq!(pids.len(), 2, "echo and the restarted crash: {pids:?}");
    let gateway = up.gateway;
    up.stop("INT");
    for &pid in &pids {
        assert!(!common::is_running(pid), "instance {pid} outlived quilt up");
    }

    // Nothing listens any more: invoke fails with a clear error.
    let out = run(quilt()
        .args(["invoke", "echo", "--gateway"])
        .arg(format!("http://{gateway}")));
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("cannot reach"),
        "{}",
        text(&out.stderr)
    );
}

/// Writes an app with this manifest (and sources `f.c`, `crate/Cargo.toml`) and runs `quilt build`
/// on it; returns stderr, asserting that the build failed.
fn build_error(manifest: Option<&str>) -> String {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("f.c"), "").unwrap();
    std::fs::create_dir(dir.path().join("crate")).unwrap();
    std::fs::write(dir.path().join("crate/Cargo.toml"), "").unwrap();
    if let Some(m) = manifest {
        std::fs::write(dir.path().join("quilt.toml"), m).unwrap();
    }
    let out = run(quilt().arg("build").arg(dir.path()));
    assert!(!out.status.success(), "quilt build accepted:\n{manifest:?}");
    assert!(
        !dir.path().join(".quilt").exists(),
        "a build started from an invalid manifest"
    );
    text(&out.stderr)
}

#[test]
fn build_reports_manifest_errors_with_file_field_and_value() {
    let app = "[app]\nname = \"demo\"\n";
    let func = |name: &str, lang: &str, source: &str, extra: &str| {
        format!(
            "[[functions]]\nname = \"{name}\"\nlanguage = \"{lang}\"\n\
             source = \"{source}\"\n{extra}\n"
        )
    };
    let ok = func("a", "c", "f.c", "");
    let cases: Vec<(String, &str, &str)> = vec![
        (
            format!("{app}{}", func("a", "cobol", "f.c", "")),
            "functions[0].language",
            "cobol",
        ),
        (
            format!("{app}{}", func("Bad_Name", "c", "f.c", "")),
            "functions[0].name",
            "Bad_Name",
        ),
        (
            format!("{app}{}", func("a", "c", "nowhere.c", "")),
            "functions[0].source",
            "nowhere.c",
        ),
        (
            format!("{app}{}", func("a", "rust", "f.c", "")),
            "functions[0].source",
            "not a Rust crate",
        ),
        (
            format!("{app}{ok}{ok}"),
            "functions[1].name",
            "duplicate function name 'a'",
        ),
        (
            format!("{app}{ok}[[workflows]]\nname = \"w\"\nentry = \"missing\"\n"),
            "workflows[0].entry",
            "missing",
        ),
        (
            format!("{app}{}", func("a", "c", "f.c", "max_instances = 0")),
            "functions[0].max_instances",
            "0",
        ),
        (
            format!("{app}{}", func("a", "c", "f.c", "min_instances = 5")),
            "functions[0].min_instances",
            "5",
        ),
        (
            format!("{app}{}", func("a", "c", "f.c", "memroy_mb = 64")),
            "syntax",
            "memroy_mb",
        ),
        (
            format!("{app}{ok}[platform]\nidle_timeout_s = -1.0\n"),
            "platform.idle_timeout_s",
            "-1",
        ),
        (
            "[app]\nname = \"demo\"\n".to_string(),
            "functions",
            "no functions",
        ),
    ];
    for (manifest, field, value) in &cases {
        let err = build_error(Some(manifest));
        assert!(err.contains("quilt.toml"), "no file in: {err}");
        assert!(
            err.contains(&format!(": {field}: ")),
            "no field {field} in: {err}"
        );
        assert!(err.contains(value), "no value {value} in: {err}");
    }
    let err = build_error(None);
    assert!(
        err.contains("quilt.toml") && err.contains("cannot read"),
        "{err}"
    );
}

#[test]
fn completions_load_in_bash_and_name_every_command() {
    let out = run(quilt().args(["completions", "bash"]));
    assert!(out.status.success(), "{}", text(&out.stderr));
    let script = text(&out.stdout);
    for command in [
        "build",
        "up",
        "merge",
        "plan",
        "profile",
        "bench",
        "completions",
    ] {
        assert!(
            script.contains(command),
            "no '{command}' in the bash completions"
        );
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("quilt.bash");
    std::fs::write(&file, &script).unwrap();
    let loaded = run(Command::new("bash")
        .arg("-c")
        .arg(format!("source {} && complete -p quilt", file.display())));
    assert!(
        loaded.status.success() && text(&loaded.stdout).contains("quilt"),
        "bash did not register the completion: {}",
        text(&loaded.stderr)
    );
    let bad = run(quilt().args(["completions", "cmd.exe"]));
    assert!(!bad.status.success());
    assert!(text(&bad.stderr).contains("zsh"), "{}", text(&bad.stderr));
}

/// Every environment variable the `quilt` command reads (its own sources and the build crate's)
/// is documented under `quilt --help`.
#[test]
fn help_documents_every_environment_variable_quilt_reads() {
    let help = text(&run(quilt().arg("--help")).stdout);
    let documented: std::collections::BTreeSet<&str> = help
        .split(|c: char| !(c.is_ascii_uppercase() || c == '_'))
        .collect();
    let mut read = std::collections::BTreeSet::new();
    for dir in ["crates/cli/src", "crates/build/src"] {
        let mut stack = vec![common::root().join(dir)];
        while let Some(d) = stack.pop() {
            for entry in std::fs::read_dir(&d).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    stack.push(path);
                    continue;
                }
                let source = std::fs::read_to_string(&path).unwrap();
                for (i, _) in source.match_indices("\"QUILT_") {
                    let name: String = source[i + 1..]
                        .chars()
                        .take_while(|c| c.is_ascii_uppercase() || *c == '_')
                        .collect();
                    let before = &source[..i];
                    if before.ends_with("var_os(")
                        || before.ends_with("var(")
                        || before.ends_with("from_env(")
                        || before.ends_with("env = ")
                    {
                        read.insert(name);
                    }
                }
            }
        }
    }
    assert!(
        read.contains("QUILT_LOG") && read.contains("QUILT_HOME"),
        "{read:?}"
    );
    for name in &read {
        assert!(
            documented.contains(name.as_str()),
            "{name} is read but not in quilt --help"
        );
    }
}

/// `quilt new` and `quilt add` outside the repository: every template builds as it is and
/// answers through `quilt up`; bad names, an existing folder and a duplicate function are refused
/// with nothing changed.
#[test]
fn new_and_add_scaffold_an_app_anywhere_that_builds_and_answers() {
    let (tmp, app) = scaffold(
        "first-app",
        &[("shout", "c"), ("count-cpp", "cpp"), ("relay", "rust")],
    );

    // Refusals: each names what was wrong, and leaves the app as it was.
    let before = std::fs::read_to_string(app.join("quilt.toml")).unwrap();
    let refused = |cmd: &mut Command, expect: &str| {
        let out = run(cmd);
        assert!(!out.status.success());
        let e = text(&out.stderr);
        assert!(e.contains(expect), "expected {expect:?} in: {e}");
    };
    refused(quilt().arg("new").arg(&app), "already exists");
    refused(
        quilt()
            .args(["add", "shout", "--lang", "rust", "--app"])
            .arg(&app),
        "already has a function 'shout'",
    );
    refused(
        quilt()
            .args(["add", "Bad_Name", "--lang", "c", "--app"])
            .arg(&app),
        "[a-z0-9-]",
    );
    refused(
        quilt()
            .args(["add", "x", "--lang", "cobol", "--app"])
            .arg(&app),
        "rust, c, cpp",
    );
    refused(quilt().arg("new").arg(tmp.path().join("Upper")), "app name");
    assert_eq!(
        std::fs::read_to_string(app.join("quilt.toml")).unwrap(),
        before
    );
    let leftovers: Vec<_> = std::fs::read_dir(&app)
        .unwrap()
        .chain(std::fs::read_dir(tmp.path()).unwrap())
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".quilt-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");

    let up = Up::with_args(&app, &[]);
    let invoke = |function: &str| {
        let out = run(quilt()
            .args([
                "invoke",
                function,
                "--data",
                r#"{"name":"you"}"#,
                "--gateway",
            ])
            .arg(up.url()));
        assert!(out.status.success(), "{function}: {}", text(&out.stderr));
        serde_json::from_str::<serde_json::Value>(&text(&out.stdout)).unwrap()
    };
    assert_eq!(
        invoke("hello"),
        serde_json::json!({"function": "hello", "received": {"name": "you"}})
    );
    assert_eq!(
        invoke("relay"),
        serde_json::json!({"function": "relay", "received": {"name": "you"}})
    );
    assert_eq!(
        invoke("shout"),
        serde_json::json!({"function": "shout", "bytes": 14})
    );
    assert_eq!(
        invoke("count-cpp"),
        serde_json::json!({"function": "count-cpp", "bytes": 14})
    );

    // The workflow `quilt new` declares profiles with the body it declares, against the
    // manifest's instance limits, and the plan explains itself.
    let graph = tmp.path().join("graph.json");
    ok(quilt()
        .args(["profile"])
        .arg(&app)
        .args([
            "--workflow",
            "hello",
            "--requests",
            "2",
            "--gateway",
            &up.url(),
        ])
        .arg("--out")
        .arg(&graph));
    let sent = std::fs::read_to_string(tmp.path().join("graph.requests.jsonl")).unwrap();
    assert_eq!(sent.lines().collect::<Vec<_>>(), [r#"{"name": "you"}"#; 2]);
    let limits: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&graph).unwrap()).unwrap();
    assert_eq!(limits["graph"]["memory_limit"], 1024.0);
    assert_eq!(limits["graph"]["cpu_limit"], 2.0);
    let plan = run(quilt().arg("plan").arg(&graph).arg("--explain"));
    assert!(plan.status.success(), "{}", text(&plan.stderr));
    let explained = text(&plan.stdout);
    assert!(
        explained.contains("memory 1024 (from the graph's memory_limit)"),
        "{explained}"
    );
    up.stop("TERM");
}

/// POSTs `body` to `<url>/<route>`: status and body.
fn post(url: &str, route: &str, body: &str) -> (u16, String) {
    let (status, reply) =
        quilt_cli::http::post_blocking(&format!("{url}/{route}"), body.as_bytes().to_vec())
            .unwrap();
    (status, String::from_utf8_lossy(&reply).into_owned())
}

/// Asserts that `quilt up` said `text` on stderr.
fn assert_logged(up: &Up, text: &str) {
    let log = up.log();
    assert!(log.contains(text), "no {text:?} in:\n{log}");
}

/// Polls `f` every 100 ms for up to 30 s until it holds.
fn eventually(mut f: impl FnMut() -> bool) -> bool {
    let end = std::time::Instant::now() + std::time::Duration::from_secs(30);
    while std::time::Instant::now() < end {
        if f() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    false
}

/// A running `quilt up` follows the app: a group merged by `quilt merge` is served without a
/// restart, a function rebuilt by `quilt build` replaces its instances without failing a request
/// sent meanwhile, and a merged group whose files are removed is retired.
#[test]
fn a_running_app_serves_new_merges_and_rebuilds_without_a_restart() {
    let (_tmp, app) = scaffold("live", &[("shout", "c")]);
    hello_calls_shout(&app);
    let shout = app.join("functions/shout.c");
    let original = std::fs::read_to_string(&shout).unwrap();
    let up = Up::with_args(&app, &[]);
    let url = up.url();
    let unmerged = post(&url, "hello", "{}");
    assert_eq!(unmerged.0, 200, "{unmerged:?}");
    assert_eq!(post(&url, "hello-merged", "{}").0, 404);

    // quilt merge while quilt up runs.
    std::fs::create_dir_all(app.join("workflows")).unwrap();
    std::fs::write(app.join("workflows/hello.tree"), "hello shout\n").unwrap();
    let merged = {
        let _lock = common::build_lock(&app);
        run(quilt()
            .arg("merge")
            .arg(&app)
            .arg("--tree")
            .arg(app.join("workflows/hello.tree")))
    };
    let stderr = text(&merged.stderr);
    assert!(merged.status.success(), "{stderr}");
    // Each stage of the merge reports its time on a line of its own.
    for stage in [
        "compile (cargo, clang-22)",
        "find the objects to rewrite",
        "rewrite and generate code",
        "link",
    ] {
        let line = format!("quilt: merge hello: {stage}: ");
        assert!(
            stderr.lines().any(|l| l
                .strip_prefix(&line)
                .and_then(|rest| rest.split_once(" s"))
                .is_some_and(|(seconds, _)| seconds.parse::<f64>().is_ok())),
            "no line {line:?}<seconds> s in:\n{stderr}"
        );
    }
    assert!(
        eventually(|| post(&url, "hello-merged", "{}") == unmerged),
        "hello-merged not served: {}",
        up.log()
    );
    assert_logged(&up, "serving new route /hello-merged");

    // quilt build of a changed function, under a steady stream of requests to it.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let loader = {
        let (url, stop) = (url.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut answers = Vec::new();
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                answers.push(post(&url, "shout", "abc"));
            }
            answers
        })
    };
    std::fs::write(&shout, original.replace("\\\"bytes\\\"", "\\\"length\\\"")).unwrap();
    let built = {
        let _lock = common::build_lock(&app);
        run(quilt().arg("build").arg(&app))
    };
    let stderr = text(&built.stderr);
    assert!(built.status.success(), "{stderr}");
    assert!(
        stderr.contains("quilt: build live: cargo build of 2 function binaries: "),
        "{stderr}"
    );
    let updated = r#"{"function": "shout", "length": 3}"#;
    assert!(
        eventually(|| post(&url, "shout", "abc") == (200, updated.to_string())),
        "shout not updated: {}",
        up.log()
    );
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let answers = loader.join().unwrap();
    let failed: Vec<_> = answers.iter().filter(|a| a.0 != 200).collect();
    assert!(
        failed.is_empty(),
        "{} of {} failed: {failed:?}",
        failed.len(),
        answers.len()
    );
    assert!(answers.len() > 10, "{} requests", answers.len());

    // The merged group's files removed: the route goes.
    let merged = app.join(".quilt/merged");
    std::fs::remove_file(merged.join("hello-merged.json")).unwrap();
    assert!(
        eventually(|| post(&url, "hello-merged", "{}").0 == 404),
        "hello-merged still served: {}",
        up.log()
    );
    assert_eq!(post(&url, "hello", "{}").0, 200);
    up.stop("TERM");
}

/// What instances write on stdout and stderr is prefixed with function and instance, shown by
/// `quilt up` and kept for `quilt logs`, which also follows it.
#[test]
fn function_output_is_prefixed_kept_and_followed_by_quilt_logs() {
    use std::io::BufRead;
    let (_tmp, app) = scaffold("chatty", &[("talk", "c")]);
    std::fs::write(
        app.join("functions/talk.c"),
        "#include <quilt.h>\n#include <stdio.h>\n\
         static int32_t talk(const uint8_t *in, size_t len, quilt_buf *out) {\n\
         (void)in;\n  fprintf(stderr, \"seen %zu bytes\\n\", len);\n\
         printf(\"to stdout\\n\");\n  fflush(stdout);\n  return quilt_buf_set_str(out, \"{}\");\n}\n\
         QUILT_FUNCTION(talk, talk)\n",
    )
    .unwrap();
    let up = Up::with_args(&app, &[]);
    let url = up.url();
    assert_eq!(post(&url, "talk", "abc").0, 200);
    let logs = |args: &[&str]| {
        let mut cmd = quilt();
        cmd.arg("logs").args(args).arg("--app").arg(&app);
        cmd
    };
    assert!(eventually(|| {
        let out = run(&mut logs(&["talk"]));
        let text = text(&out.stdout);
        text.contains("[talk#1] seen 3 bytes") && text.contains("[talk#1] to stdout")
    }));
    assert_logged(&up, "[talk#1] seen 3 bytes");

    let mut follow = logs(&["talk", "-f", "-n", "0"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let stdout = follow.stdout.take().unwrap();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            let _ = tx.send(line.unwrap());
        }
    });
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert_eq!(post(&url, "talk", "hello").0, 200);
    // Its stdout and stderr lines come in either order.
    let mut seen = Vec::new();
    let end = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while seen.len() < 2 {
        let left = end.saturating_duration_since(std::time::Instant::now());
        let Ok(line) = rx.recv_timeout(left) else {
            break;
        };
        seen.push(line);
    }
    let _ = follow.kill();
    let _ = follow.wait();
    seen.sort();
    assert_eq!(seen, ["[talk#1] seen 5 bytes", "[talk#1] to stdout"]);

    let out = run(&mut logs(&["nobody"]));
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("no function 'nobody'"),
        "{}",
        text(&out.stderr)
    );
    up.stop("TERM");
}

/// `quilt up --watch` rebuilds a function whose source changed and serves it without a restart; a
/// source that does not compile is reported and the last binary keeps serving.
#[test]
fn watch_rebuilds_a_changed_function_and_keeps_serving_through_a_broken_edit() {
    let (_tmp, app) = scaffold("watched", &[("shout", "c")]);
    let up = Up::with_args(&app, &["--watch"]);
    let url = up.url();
    let answer = |key: &str| (200, format!(r#"{{"function": "shout", "{key}": 3}}"#));
    assert_eq!(post(&url, "shout", "abc"), answer("bytes"));
    let shout = app.join("functions/shout.c");
    let source = std::fs::read_to_string(&shout).unwrap();
    std::fs::write(&shout, source.replace("\\\"bytes\\\"", "\\\"size\\\"")).unwrap();
    assert!(
        eventually(|| post(&url, "shout", "abc") == answer("size")),
        "{}",
        up.log()
    );
    assert_logged(&up, "sources changed; building");

    std::fs::write(&shout, "this is not C\n").unwrap();
    assert!(
        eventually(|| up.log().contains("build failed")),
        "{}",
        up.log()
    );
    assert_eq!(post(&url, "shout", "abc"), answer("size"));
    up.stop("TERM");
}

/// Makes the scaffolded `hello` of `app` answer with what `shout` answers for its input.
fn hello_calls_shout(app: &Path) {
    std::fs::write(
        app.join("functions/hello/src/lib.rs"),
        "fn handle(input: serde_json::Value) -> Result<serde_json::Value, quilt_sdk::Error> {\n\
         quilt_sdk::invoke(\"shout\", &input)\n}\nquilt_sdk::handler!(handle);\n",
    )
    .unwrap();
}

/// The newcomer's path in the README: `quilt new`, `quilt add`, a call between the two functions,
/// then `quilt optimize` with the body the workflow declares — profiled, planned within the
/// manifest's instance limits, merged, verified, measured, and shown on the dashboard.
#[test]
fn a_new_app_goes_from_quilt_new_to_a_merged_benchmarked_deployment() {
    let (tmp, app) = scaffold("newcomer", &[("shout", "c")]);
    hello_calls_shout(&app);
    let report = tmp.path().join("report");
    let out = run(quilt()
        .args(["optimize"])
        .arg(&app)
        .args(["--workflow", "hello", "--quick", "--out"])
        .arg(&report));
    let stderr = text(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(report.join("report.json")).unwrap())
            .unwrap();
    assert_eq!(json["merged"]["route"], "hello-merged", "{json}");
    assert_eq!(
        json["merges"][0]["members"],
        serde_json::json!(["hello", "shout"])
    );
    let verification = &json["verification"];
    assert!(
        verification["requests"].as_u64().unwrap() > 0,
        "{verification}"
    );
    assert_eq!(
        verification["equal"], verification["requests"],
        "{verification}"
    );
    for run in ["baseline", "merged"] {
        assert!(
            json[run]["saturation"]["requests"].as_u64().unwrap() > 0,
            "{run}: {json}"
        );
    }
    // The dashboard of the app shows this report, its plan and its graph.
    for file in ["graph.json", "plan.json", "report.json", "latency.svg"] {
        assert!(
            app.join(".quilt/dashboard").join(file).is_file(),
            "{file} not on the dashboard"
        );
    }
    // `quilt up` serves the merged route, and `quilt bench --data` loads it.
    let up = Up::with_args(&app, &["--no-build"]);
    let bench = run(quilt()
        .args(["bench", "--url", &format!("{}/hello-merged", up.url())])
        .args([
            "--data",
            r#"{"name":"bench"}"#,
            "-c",
            "2",
            "-d",
            "1s",
            "--json",
        ]));
    assert!(bench.status.success(), "{}", text(&bench.stderr));
    let outcome: serde_json::Value = serde_json::from_slice(&bench.stdout).unwrap();
    assert!(outcome["requests"].as_u64().unwrap() > 0, "{outcome}");
    assert_eq!(outcome["errors"], 0, "{outcome}");
    up.stop("TERM");
}

/// `quilt merge` builds the group's members (whose binaries the report compares sizes with), not
/// every function of the app; `quilt up --no-build` then names what is not built.
#[test]
fn merge_builds_the_members_only() {
    let (tmp, app) = scaffold("partial", &[("shout", "c"), ("spare", "c")]);
    hello_calls_shout(&app);
    let tree = tmp.path().join("hello.tree");
    std::fs::write(&tree, "hello shout\n").unwrap();
    ok(quilt().arg("merge").arg(&app).arg("--tree").arg(&tree));
    let bin = app.join(".quilt/bin");
    for member in ["hello", "shout"] {
        assert!(bin.join(member).is_file(), "{member} not built");
    }
    assert!(!bin.join("spare").exists(), "spare is no member");
    assert!(app.join(".quilt/merged/hello-merged").is_file());
    // Serving what is built refuses to start without spare's binary, and says which and why.
    let out = run(quilt().args(["up", "--no-build"]).arg(&app));
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("not built: spare") && stderr.contains("quilt build"),
        "{stderr}"
    );
}
