//! Trust boundaries through the `quilt` binary: `quilt merge` refuses groups that cross a trust
//! domain or include an isolated function, from a funcTree (`--tree`) and from a plan (`--plan`),
//! unless `--allow-cross-domain` is given, which is logged; group names that could escape a folder
//! are refused; `quilt up` listens on loopback only.

use quilt_harness as common;
use quilt_harness::cli::{text, Up};
use std::path::Path;
use std::process::{Command, Output};

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
            "source = \"functions/",
            &format!("source = \"{}/functions/", src.display()),
        )
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
