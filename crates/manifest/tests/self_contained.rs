//! The repository stands on its own: no tracked file refers to a path outside it.
//!
//! Every file `git ls-files` lists is read (binary files are skipped) and each line is checked:
//! - no line names a folder of notes kept beside the repository instead of in it (the patterns
//!   are in [`FORBIDDEN`]);
//! - relative paths that the build or a reader follows stay inside the repository root, resolved
//!   against the folder of the file that holds them: markdown link targets (which must also
//!   exist), `path = "..."` in `Cargo.toml` files, `#[path = "..."]`, `include_str!` and
//!   `include_bytes!` (which must also exist), and any path with a parent step (`..` followed by
//!   a slash) in a comment or in markdown text.
//!
//! Outside a git checkout (a packaged crate, a source tarball) the test says so and passes.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Text that names files kept outside the repository. Built with `concat!` so that this file
/// does not match itself.
const FORBIDDEN: &[&str] = &[
    concat!("..", "/shared/"),
    concat!("shared/", "BENCHMARKS"),
    concat!("shared/", "DESIGN"),
];

/// The repository root, or why the test cannot run.
fn repository_root() -> Result<PathBuf, String> {
    let crate_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let expected = crate_dir
        .join("../..")
        .canonicalize()
        .map_err(|e| format!("cannot resolve the workspace root: {e}"))?;
    let out = Command::new("git")
        .arg("-C")
        .arg(&expected)
        .args(["rev-parse", "--show-toplevel"])
        .output()
        .map_err(|e| format!("git is not available: {e}"))?;
    if !out.status.success() {
        return Err(format!("{} is not in a git checkout", expected.display()));
    }
    let top = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
    let top = top.canonicalize().unwrap_or(top);
    if top != expected {
        return Err(format!(
            "the git checkout at {} is not this workspace ({})",
            top.display(),
            expected.display()
        ));
    }
    Ok(expected)
}

/// Tracked files, relative to the root.
fn tracked_files(root: &Path) -> Vec<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(root)
        .args(["ls-files", "-z"])
        .output()
        .expect("git ls-files runs");
    assert!(out.status.success(), "git ls-files failed");
    out.stdout
        .split(|&b| b == 0)
        .filter(|name| !name.is_empty())
        .map(|name| String::from_utf8_lossy(name).into_owned())
        .collect()
}

/// `rel` resolved against `dir` (both relative to the root), or None if it climbs above the root.
fn resolve(dir: &str, rel: &str) -> Option<String> {
    let mut parts: Vec<&str> = if rel.starts_with('/') {
        Vec::new()
    } else {
        dir.split('/').filter(|p| !p.is_empty()).collect()
    };
    for part in rel.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            p => parts.push(p),
        }
    }
    Some(parts.join("/"))
}

fn is_path_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.' | '/' | '~')
}

/// Every maximal run of path characters in `text` that takes a parent step.
fn parent_paths(text: &str) -> Vec<&str> {
    let mut found = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find(|c: char| is_path_char(c)) {
        let run_len = rest[start..]
            .find(|c: char| !is_path_char(c))
            .unwrap_or(rest.len() - start);
        let run = &rest[start..start + run_len];
        if run.split('/').any(|p| p == "..") && run.contains('/') {
            found.push(run);
        }
        rest = &rest[start + run_len..];
    }
    found
}

/// The first double-quoted string after `key` in `line`, if `key` occurs and the string is a path.
fn quoted_after<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    let at = line.find(key)?;
    let after = &line[at + key.len()..];
    let open = after.find('"')?;
    let value = &after[open + 1..];
    let close = value.find('"')?;
    let value = &value[..close];
    // Only a literal path counts: `include_str!(concat!(..))` and the like are not followed.
    (!value.is_empty() && value.chars().all(is_path_char)).then_some(value)
}

/// The value of a `path = "..."` entry in a Cargo.toml line (also inside an inline table).
fn cargo_path(line: &str) -> Option<&str> {
    let code = line.split('#').next().unwrap_or("");
    let mut search = code;
    while let Some(at) = search.find("path") {
        let before = search[..at].chars().last();
        let after = search[at + 4..].trim_start();
        if !before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            && after.starts_with('=')
        {
            let value = after[1..].trim_start();
            let value = value.strip_prefix('"')?;
            return value.find('"').map(|end| &value[..end]);
        }
        search = &search[at + 4..];
    }
    None
}

/// Targets of the inline markdown links `[text](target)` in a line.
fn markdown_links(line: &str) -> Vec<&str> {
    let mut targets = Vec::new();
    let mut rest = line;
    while let Some(at) = rest.find("](") {
        let target = &rest[at + 2..];
        let end = target.find([')', ' ']).unwrap_or(target.len());
        targets.push(&target[..end]);
        rest = &target[end..];
    }
    targets
}

/// Whether `line` of a file with extension `ext` is a comment (markdown counts as all text).
fn is_comment(ext: &str, line: &str) -> bool {
    let t = line.trim_start();
    match ext {
        "md" => true,
        "rs" | "c" | "h" | "cc" | "cpp" | "hpp" => {
            t.starts_with("//") || t.starts_with("/*") || t.starts_with('*')
        }
        "toml" | "sh" | "py" | "yml" | "yaml" | "tree" | "gitignore" => t.starts_with('#'),
        _ => false,
    }
}

/// What is wrong with one tracked file, as `file:line: reason` lines.
fn check_file(root: &Path, file: &str, text: &str) -> Vec<String> {
    let dir = file.rsplit_once('/').map_or("", |(d, _)| d);
    let name = file.rsplit('/').next().unwrap_or(file);
    let ext = name.rsplit_once('.').map_or(name, |(_, e)| e);
    let mut problems = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let at = format!("{file}:{}", i + 1);
        for pattern in FORBIDDEN {
            if line.contains(pattern) {
                problems.push(format!("{at}: names `{pattern}`, outside the repository"));
            }
        }
        // Paths something follows, with whether the target must exist.
        let mut followed: Vec<(&str, bool)> = Vec::new();
        if ext == "md" {
            for target in markdown_links(line) {
                if target.contains("://")
                    || target.starts_with('#')
                    || target.starts_with("mailto:")
                {
                    continue;
                }
                let path = target.split('#').next().unwrap_or(target);
                if !path.is_empty() {
                    followed.push((path, true));
                }
            }
        }
        if name == "Cargo.toml" {
            if let Some(path) = cargo_path(line) {
                followed.push((path, false));
            }
        }
        if ext == "rs" {
            let t = line.trim_start();
            if t.starts_with("#[path") {
                if let Some(path) = quoted_after(t, "#[path") {
                    followed.push((path, true));
                }
            }
            for mac in ["include_str!(", "include_bytes!("] {
                if let Some(path) = quoted_after(line, mac) {
                    if !is_comment(ext, line) {
                        followed.push((path, true));
                    }
                }
            }
        }
        if is_comment(ext, line) {
            for path in parent_paths(line) {
                if !followed.iter().any(|(p, _)| *p == path) {
                    followed.push((path, false));
                }
            }
        }
        for (path, must_exist) in followed {
            match resolve(dir, path) {
                None => problems.push(format!("{at}: `{path}` leads outside the repository")),
                Some(inside) if must_exist && !root.join(&inside).exists() => {
                    problems.push(format!("{at}: `{path}` ({inside}) does not exist"))
                }
                Some(_) => {}
            }
        }
    }
    problems
}

#[test]
fn no_tracked_file_refers_outside_the_repository() {
    let root = match repository_root() {
        Ok(root) => root,
        Err(why) => {
            eprintln!("skipped: {why}; the check needs the git checkout of this repository");
            return;
        }
    };
    let mut problems = Vec::new();
    let mut checked = 0;
    for file in tracked_files(&root) {
        let Ok(bytes) = std::fs::read(root.join(&file)) else {
            continue; // deleted in the work tree
        };
        let Ok(text) = String::from_utf8(bytes) else {
            continue; // binary
        };
        if text.contains('\0') {
            continue;
        }
        checked += 1;
        problems.extend(check_file(&root, &file, &text));
    }
    assert!(
        checked > 0,
        "no tracked text files found under {}",
        root.display()
    );
    assert!(
        problems.is_empty(),
        "{} reference(s) to paths outside the repository:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[test]
fn the_checks_catch_what_they_should() {
    let root = Path::new("/nonexistent-root");
    let bad = check_file(
        root,
        "apps/x/README.md",
        &format!(
            "see ({}BENCHMARKS.md) and [up](../../../y.md)\n",
            FORBIDDEN[0]
        ),
    );
    assert_eq!(bad.len(), 3, "{bad:?}");
    assert!(bad[0].starts_with("apps/x/README.md:1: names"));
    let cargo = concat!(
        "[dependencies]\n",
        "sdk = { path = \"../../../../crates/sdk\" }\n",
        "x = { path = \"../../../../../x\" }\n",
    );
    let bad = check_file(root, "apps/a/functions/f/Cargo.toml", cargo);
    assert_eq!(bad.len(), 1, "{bad:?}");
    assert!(bad[0].starts_with("apps/a/functions/f/Cargo.toml:3:"));
    let rust = "//! After ../../../../outside.md.\nconst T: &str = \"../../../../fine-in-code\";\n";
    let bad = check_file(root, "crates/a/src/lib.rs", rust);
    assert_eq!(bad.len(), 1, "{bad:?}");
    let include = "const A: &str = include_str!(\"../../../../a.txt\");\n";
    let bad = check_file(root, "crates/a/src/lib.rs", include);
    assert_eq!(bad.len(), 1, "{bad:?}");
    assert!(bad[0].contains("leads outside"), "{bad:?}");
    assert_eq!(resolve("a/b", "../../c"), Some("c".into()));
    assert_eq!(resolve("a/b", "../../../c"), None);
}
