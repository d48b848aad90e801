//! quilt.toml validation: every error names the file, the field and the value that was wrong.

use quilt_manifest::{Language, Manifest};
use std::path::Path;

fn app(files: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for f in files {
        let p = dir.path().join(f);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, "").unwrap();
    }
    dir
}

fn parse(dir: &Path, text: &str) -> Result<Manifest, String> {
    Manifest::parse(dir, &dir.join("quilt.toml"), text).map_err(|e| e.to_string())
}

const GOOD: &str = r#"
[app]
name = "demo"

[defaults]
memory_mb = 64

[[functions]]
name = "front-door"
language = "rust"
source = "front"
cpu = 0.5
max_instances = 3

[[functions]]
name = "upper"
language = "c"
source = "upper.c"
domain = "payments"

[[workflows]]
name = "main"
entry = "front-door"
"#;

#[test]
fn valid_manifest_applies_defaults_and_resolves_sources() {
    let dir = app(&["front/Cargo.toml", "upper.c"]);
    let m = parse(dir.path(), GOOD).unwrap();
    assert_eq!(m.name, "demo");
    let f = m.function("front-door").unwrap();
    assert_eq!(f.memory_mb, 64);
    assert_eq!(f.cpu, 0.5);
    assert_eq!(f.max_instances, 3);
    assert_eq!(f.ident(), "front_door");
    assert_eq!(f.source, dir.path().join("front"));
    let u = m.function("upper").unwrap();
    assert_eq!(u.language, Language::C);
    assert_eq!(u.domain.as_deref(), Some("payments"));
    assert_eq!(m.workflow("main").unwrap().entry, "front-door");
}

/// `s` as a TOML basic string (control characters as `\uXXXX`, which TOML accepts).
fn toml_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn err_of(files: &[&str], text: &str) -> String {
    let dir = app(files);
    let e = parse(dir.path(), text).unwrap_err();
    assert!(e.contains("quilt.toml"), "error names the file: {e}");
    e
}

#[test]
fn unknown_workflow_entry_is_named() {
    let e = err_of(
        &["front/Cargo.toml", "upper.c"],
        &GOOD.replace("entry = \"front-door\"", "entry = \"nope\""),
    );
    assert!(
        e.contains("workflows[0].entry") && e.contains("'nope'"),
        "{e}"
    );
}

#[test]
fn duplicate_function_is_named() {
    let e = err_of(
        &["front/Cargo.toml", "upper.c"],
        &GOOD.replace("name = \"upper\"", "name = \"front-door\""),
    );
    assert!(
        e.contains("functions[1].name") && e.contains("duplicate"),
        "{e}"
    );
}

#[test]
fn bad_names_are_rejected() {
    for bad in ["Upper", "a/b", "..", "a_b", "-a", "x\u{7}"] {
        let text = GOOD.replace("name = \"upper\"", &format!("name = {}", toml_string(bad)));
        let e = err_of(&["front/Cargo.toml", "upper.c"], &text);
        assert!(e.contains("functions[1].name"), "{bad}: {e}");
    }
}

#[test]
fn missing_source_is_named() {
    let e = err_of(&["front/Cargo.toml"], GOOD);
    assert!(
        e.contains("functions[1].source") && e.contains("upper.c"),
        "{e}"
    );
}

#[test]
fn rust_source_must_be_a_crate() {
    let e = err_of(&["front/lib.rs", "upper.c"], GOOD);
    assert!(
        e.contains("functions[0].source") && e.contains("Cargo.toml"),
        "{e}"
    );
}

#[test]
fn two_crates_of_one_package_name_are_refused_and_one_crate_may_serve_two_functions() {
    let dir = app(&["upper.c"]);
    for (folder, package) in [("front", "shop"), ("back", "shop"), ("other", "other")] {
        std::fs::create_dir_all(dir.path().join(folder)).unwrap();
        std::fs::write(
            dir.path().join(folder).join("Cargo.toml"),
            format!("[package]\nname = \"{package}\"\nversion = \"0.1.0\"\n"),
        )
        .unwrap();
    }
    let with = |name: &str, source: &str| {
        format!("{GOOD}\n[[functions]]\nname = \"{name}\"\nlanguage = \"rust\"\nsource = \"{source}\"\n")
    };
    let e = parse(dir.path(), &with("back-door", "back")).unwrap_err();
    assert!(
        e.contains("functions[2].source")
            && e.contains("cargo package 'shop'")
            && e.contains("function 'front-door'"),
        "{e}"
    );
    // Two functions of one crate, and two crates of different names, are fine.
    assert_eq!(
        parse(dir.path(), &with("twin", "front"))
            .unwrap()
            .functions
            .len(),
        3
    );
    assert_eq!(
        parse(dir.path(), &with("other", "other"))
            .unwrap()
            .functions
            .len(),
        3
    );
}

#[test]
fn unknown_language_is_named() {
    let e = err_of(
        &["front/Cargo.toml", "upper.c"],
        &GOOD.replace("language = \"c\"", "language = \"cobol\""),
    );
    assert!(
        e.contains("functions[1].language") && e.contains("cobol"),
        "{e}"
    );
}

#[test]
fn unknown_field_and_syntax_errors_are_reported() {
    let e = err_of(
        &["front/Cargo.toml", "upper.c"],
        &GOOD.replace("cpu = 0.5", "cpus = 0.5"),
    );
    assert!(e.contains("cpus"), "{e}");
    let e = err_of(&[], "[app\nname=1");
    assert!(e.contains("syntax") && e.contains("line"), "{e}");
}

#[test]
fn limits_are_checked() {
    let files = ["front/Cargo.toml", "upper.c"];
    let e = err_of(&files, &GOOD.replace("cpu = 0.5", "cpu = -1.0"));
    assert!(e.contains("functions[0].cpu") && e.contains("-1"), "{e}");
    let e = err_of(
        &files,
        &GOOD.replace("max_instances = 3", "max_instances = 3\nmin_instances = 5"),
    );
    assert!(e.contains("functions[0].min_instances"), "{e}");
    let e = err_of(
        &files,
        &GOOD.replace("max_instances = 3", "max_instances = 3\nqueue = 0"),
    );
    assert!(
        e.contains("functions[0].queue") && e.contains("0 with min_instances 0"),
        "{e}"
    );
    let no_queue = GOOD.replace(
        "max_instances = 3",
        "max_instances = 3\nqueue = 0\nmin_instances = 1",
    );
    assert_eq!(
        parse(app(&files).path(), &no_queue).unwrap().functions[0].queue,
        0
    );
    let e = err_of(
        &files,
        &GOOD.replace("max_instances = 3", "max_instances = 3\npids = 8"),
    );
    assert!(
        e.contains("functions[0].pids") && e.contains("8 is below the minimum of 16"),
        "{e}"
    );
    for (field, value) in [
        ("header_timeout_s", "0.0"),
        ("idle_timeout_s", "-3.0"),
        ("body_timeout_s", "0.0"),
    ] {
        let e = err_of(&files, &format!("{GOOD}\n[platform]\n{field} = {value}\n"));
        assert!(
            e.contains(&format!("platform.{field}")) && e.contains("not a positive number"),
            "{e}"
        );
    }
    let dir = app(&files);
    let m = parse(
        dir.path(),
        &format!("{GOOD}\n[platform]\nheader_timeout_s = 2.5\n"),
    )
    .unwrap();
    assert_eq!(m.platform.header_timeout_s, 2.5);
    let pids = |m: &Manifest| m.functions.iter().map(|f| f.pids).collect::<Vec<_>>();
    assert!(pids(&m).iter().all(|&p| p == quilt_manifest::DEFAULT_PIDS));
    let with_pids = parse(
        dir.path(),
        &GOOD.replace("max_instances = 3", "max_instances = 3\npids = 64"),
    )
    .unwrap();
    assert_eq!(pids(&with_pids)[0], 64);
    let defaults = parse(dir.path(), GOOD).unwrap().platform;
    assert_eq!(defaults.header_timeout_s, 10.0);
    assert_eq!(
        (
            defaults.body_timeout_s,
            defaults.max_connections,
            defaults.body_memory_mb
        ),
        (60.0, None, 256)
    );
    let e = err_of(
        &files,
        &format!("{GOOD}\n[platform]\nmax_connections = 0\n"),
    );
    assert!(e.contains("platform.max_connections"), "{e}");
    let e = err_of(
        &files,
        &format!("{GOOD}\n[platform]\nbody_memory_mb = 1\nmax_body_bytes = 2000000\n"),
    );
    assert!(
        e.contains("platform.body_memory_mb") && e.contains("2000000"),
        "{e}"
    );
    let m = parse(
        dir.path(),
        &format!(
            "{GOOD}\n[platform]\nbody_timeout_s = 5.0\nmax_connections = 100\nbody_memory_mb = 8\n"
        ),
    )
    .unwrap();
    assert_eq!(
        (
            m.platform.body_timeout_s,
            m.platform.max_connections,
            m.platform.body_memory_mb
        ),
        (5.0, Some(100), 8)
    );
}

#[test]
fn every_name_that_becomes_a_path_refuses_escapes_and_control_characters() {
    // App, function, workflow and domain names: each may become a folder or file name.
    let fields = [
        ("name = \"demo\"", "app.name"),
        ("name = \"upper\"", "functions[1].name"),
        ("name = \"main\"", "workflows[0].name"),
        ("domain = \"payments\"", "functions[1].domain"),
    ];
    for (field, place) in fields {
        let key = field.split(' ').next().unwrap();
        for bad in [
            "..", "../x", "a/b", "/abs", "a\\b", "x\u{0}y", "x\ny", "x\u{1b}", "é",
        ] {
            let text = GOOD.replace(field, &format!("{key} = {}", toml_string(bad)));
            let e = err_of(&["front/Cargo.toml", "upper.c"], &text);
            assert!(e.contains(place), "{place} = {bad:?}: {e}");
            assert!(
                !e.contains('\n'),
                "one line, control characters escaped: {e:?}"
            );
        }
    }
}

#[test]
fn sources_outside_the_app_folder_are_refused() {
    // A sibling app next to this one, a file elsewhere, and symlinks pointing out of the app.
    let parent = tempfile::tempdir().unwrap();
    let dir = parent.path().join("app");
    for f in ["front/Cargo.toml", "upper.c", "inner/upper.c"] {
        let p = dir.join(f);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, "").unwrap();
    }
    std::fs::create_dir_all(parent.path().join("other")).unwrap();
    std::fs::write(parent.path().join("other/upper.c"), "").unwrap();
    std::os::unix::fs::symlink(parent.path().join("other"), dir.join("linked")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", dir.join("passwd.c")).unwrap();
    for bad in [
        "/etc/passwd",
        "../other/upper.c",
        "inner/../../other/upper.c",
        "linked/upper.c",
        "passwd.c",
    ] {
        let text = GOOD.replace("source = \"upper.c\"", &format!("source = {bad:?}"));
        let e = parse(&dir, &text).unwrap_err();
        assert!(e.contains("quilt.toml"), "names the file: {e}");
        assert!(
            e.contains("functions[1].source") && e.contains("function 'upper'"),
            "{bad}: names the field and the function: {e}"
        );
        assert!(
            e.contains(bad) && e.contains("outside the app folder"),
            "{bad}: {e}"
        );
    }
    // Paths that stay inside, through `..` or a symlink within the app, are fine.
    std::os::unix::fs::symlink(dir.join("inner"), dir.join("alias")).unwrap();
    for good in ["inner/../upper.c", "alias/upper.c", "./inner/upper.c"] {
        let text = GOOD.replace("source = \"upper.c\"", &format!("source = {good:?}"));
        assert!(parse(&dir, &text).is_ok(), "{good}");
    }
}

#[test]
fn workflows_declare_request_bodies_inside_the_app() {
    use quilt_manifest::RequestBody;
    let dir = app(&["front/Cargo.toml", "upper.c", "requests/main.json"]);
    std::fs::write(dir.path().join("requests/main.json"), r#"{"n": 1}"#).unwrap();
    let with = |line: &str| {
        GOOD.replace(
            "entry = \"front-door\"",
            &format!("entry = \"front-door\"\n{line}"),
        )
    };

    let m = parse(dir.path(), GOOD).unwrap();
    assert_eq!(m.workflow("main").unwrap().body, None);
    let m = parse(dir.path(), &with(r#"body = '{"name": "x"}'"#)).unwrap();
    let body = m.workflow("main").unwrap().body.clone().unwrap();
    assert_eq!(body, RequestBody::Text(r#"{"name": "x"}"#.into()));
    assert_eq!(body.bytes().unwrap(), br#"{"name": "x"}"#);
    let m = parse(dir.path(), &with(r#"body_file = "requests/main.json""#)).unwrap();
    let body = m.workflow("main").unwrap().body.clone().unwrap();
    assert_eq!(
        body,
        RequestBody::File(dir.path().join("requests/main.json"))
    );
    assert_eq!(body.bytes().unwrap(), br#"{"n": 1}"#);

    let e = parse(
        dir.path(),
        &with("body = '{}'\nbody_file = \"requests/main.json\""),
    )
    .unwrap_err();
    assert!(
        e.contains("workflows[0].body_file") && e.contains("not both"),
        "{e}"
    );
    let e = parse(dir.path(), &with(r#"body_file = "requests/none.json""#)).unwrap_err();
    assert!(
        e.contains("workflows[0].body_file") && e.contains("does not exist"),
        "{e}"
    );
    let e = parse(dir.path(), &with(r#"body_file = "../../etc/passwd""#)).unwrap_err();
    assert!(
        e.contains("workflows[0].body_file")
            && e.contains("workflow 'main'")
            && e.contains("outside the app folder"),
        "{e}"
    );
}

#[test]
fn instance_limits_default_and_are_checked() {
    let dir = app(&["front/Cargo.toml", "upper.c"]);
    let m = parse(dir.path(), GOOD).unwrap();
    assert_eq!(m.platform.max_instance_memory_mb, 1024);
    assert_eq!(m.platform.max_instance_cpu, 2.0);
    let text =
        format!("{GOOD}\n[platform]\nmax_instance_memory_mb = 256\nmax_instance_cpu = 1.5\n");
    let m = parse(dir.path(), &text).unwrap();
    assert_eq!(m.platform.max_instance_memory_mb, 256);
    assert_eq!(m.platform.max_instance_cpu, 1.5);
    for (line, field) in [
        (
            "max_instance_memory_mb = 0",
            "platform.max_instance_memory_mb",
        ),
        ("max_instance_cpu = 0", "platform.max_instance_cpu"),
        ("max_instance_cpu = -1.0", "platform.max_instance_cpu"),
    ] {
        let e = parse(dir.path(), &format!("{GOOD}\n[platform]\n{line}\n")).unwrap_err();
        assert!(e.contains(field), "{line}: {e}");
    }
}
