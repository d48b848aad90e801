//! Cargo features as each function has them when built alone.
//!
//! Cargo unifies the features of a crate across every package one `cargo build` selects, so a
//! function built together with others could see a feature another function enables on a shared
//! crate. The rule Quilt keeps: **a function is built as if it were alone**. Each generated package's
//! own resolution is read with `cargo tree -p <package>` (the crates linked into its binary and its
//! procedural macros, not the crates the macros use); `quilt build` builds
//! packages in as few batches as keep every package's resolution ([`batches`]), and `quilt merge`
//! refuses a group whose members link a shared crate with different features
//! ([`Resolution::conflicts`]).
//!
//! Resolutions are cached in `<workspace>/features.cache`, keyed on the contents of the workspace's
//! `Cargo.toml` and `Cargo.lock` and of the `Cargo.toml` of every path package the resolution
//! contains, so a build with nothing changed runs no `cargo tree`.

use crate::{paths, write_if_changed};
use anyhow::{bail, Context, Result};
use quilt_manifest::Manifest;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::{DefaultHasher, Hasher};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The features of every crate linked into one package's binary, by cargo package id (`name
/// version`, and the folder of a path package).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resolution {
    crates: BTreeMap<String, BTreeSet<String>>,
}

/// A crate two resolutions both link, with different features.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    /// The crate's cargo package id (`name version (path)` for a path package).
    pub krate: String,
    /// Its features in the first resolution.
    pub ours: Vec<String>,
    /// Its features in the second resolution.
    pub theirs: Vec<String>,
}

impl Resolution {
    /// Parses `cargo tree --prefix depth -f '{p}|{f}'` output: every crate, a procedural macro with
    /// its features but without the crates below it (they run in the compiler, not in the binary).
    fn parse(tree: &str) -> Resolution {
        let mut r = Resolution::default();
        // The depth of the procedural macro whose dependencies are being skipped.
        let mut macro_depth: Option<usize> = None;
        for line in tree.lines() {
            let digits = line.bytes().take_while(u8::is_ascii_digit).count();
            let Ok(depth) = line[..digits].parse::<usize>() else {
                continue;
            };
            if macro_depth.is_some_and(|d| depth > d) {
                continue;
            }
            let entry = &line[digits..];
            macro_depth = entry
                .split_once('|')
                .is_some_and(|(id, _)| id.contains(" (proc-macro)"))
                .then_some(depth);
            r.add(entry);
        }
        r
    }

    /// Adds one `<package id>|<feature>,<feature>` line (a line without `|` is not a package).
    fn add(&mut self, line: &str) {
        let Some((id, features)) = line.split_once('|') else {
            return;
        };
        let features = features.trim_end_matches(" (*)");
        self.crates.entry(id.to_string()).or_default().extend(
            features
                .split(',')
                .filter(|f| !f.is_empty())
                .map(str::to_string),
        );
    }

    /// The crates linked by both `self` and `other` with different features, by package id.
    pub fn conflicts(&self, other: &Resolution) -> Vec<Conflict> {
        self.crates
            .iter()
            .filter_map(|(krate, ours)| {
                let theirs = other.crates.get(krate)?;
                (ours != theirs).then(|| Conflict {
                    krate: krate.clone(),
                    ours: ours.iter().cloned().collect(),
                    theirs: theirs.iter().cloned().collect(),
                })
            })
            .collect()
    }

    /// The folders of the path packages in the resolution.
    fn path_packages(&self) -> impl Iterator<Item = &str> {
        self.crates.keys().filter_map(|id| {
            let (_, source) = id.rsplit_once(" (")?;
            source.strip_suffix(')').filter(|s| s.starts_with('/'))
        })
    }
}

/// Splits packages into batches that one `cargo build` each can build without changing any
/// package's features: within a batch, every two packages link each crate they share with the same
/// features, so cargo's unification adds nothing. First fit, in order; returns indices.
pub fn batches(resolutions: &[Resolution]) -> Vec<Vec<usize>> {
    let mut batches: Vec<Vec<usize>> = Vec::new();
    for (i, r) in resolutions.iter().enumerate() {
        let fits = |batch: &&mut Vec<usize>| {
            batch
                .iter()
                .all(|&j| resolutions[j].conflicts(r).is_empty())
        };
        match batches.iter_mut().find(fits) {
            Some(batch) => batch.push(i),
            None => batches.push(vec![i]),
        }
    }
    batches
}

/// The resolutions of the functions `names` of an app, each as `quilt build` builds it alone (its
/// generated crate in `<app>/.quilt/build`, written if needed; nothing is compiled).
pub fn of_functions(manifest: &Manifest, names: &[String]) -> Result<Vec<Resolution>> {
    let (dir, crates) = crate::write_function_workspace(manifest)?;
    let mut packages = Vec::new();
    for name in names {
        let index = manifest
            .functions
            .iter()
            .position(|f| f.name == *name)
            .with_context(|| format!("app '{}' has no function '{name}'", manifest.name))?;
        packages.push(crates[index].package_name());
    }
    resolve(&dir, &packages)
}

/// A cached resolution and what it was resolved from.
struct Cached {
    fingerprint: u64,
    manifests: Vec<PathBuf>,
    resolution: Resolution,
}

/// Resolves each package of the generated workspace `dir` as if it were built alone, through the
/// cache in `dir/features.cache`.
pub fn resolve(dir: &Path, packages: &[String]) -> Result<Vec<Resolution>> {
    let cache_path = dir.join("features.cache");
    let mut cache = read_cache(&cache_path);
    let missing: Vec<&String> = packages
        .iter()
        .filter(|p| {
            cache
                .get(*p)
                .is_none_or(|c| fingerprint(dir, &c.manifests) != c.fingerprint)
        })
        .collect();
    for (package, resolution) in missing.iter().zip(cargo_trees(dir, &missing)?) {
        let manifests: Vec<PathBuf> = resolution
            .path_packages()
            .map(|p| Path::new(p).join("Cargo.toml"))
            .collect();
        let cached = Cached {
            fingerprint: fingerprint(dir, &manifests),
            manifests,
            resolution,
        };
        cache.insert((*package).clone(), cached);
    }
    if !missing.is_empty() {
        write_if_changed(&cache_path, &cache_text(&cache))?;
    }
    Ok(packages
        .iter()
        .map(|p| cache[p].resolution.clone())
        .collect())
}

/// [`cargo_tree`] of each package, in order: the first alone (it may write the workspace's
/// `Cargo.lock`), the others on as many threads as there are CPUs.
fn cargo_trees(dir: &Path, packages: &[&String]) -> Result<Vec<Resolution>> {
    let Some((first, rest)) = packages.split_first() else {
        return Ok(Vec::new());
    };
    let mut out = vec![cargo_tree(dir, first)?];
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    let chunk = rest.len().div_ceil(threads).max(1);
    std::thread::scope(|scope| {
        let handles: Vec<_> = rest
            .chunks(chunk)
            .map(|chunk| {
                scope.spawn(move || {
                    chunk
                        .iter()
                        .map(|p| cargo_tree(dir, p))
                        .collect::<Result<Vec<_>>>()
                })
            })
            .collect();
        for handle in handles {
            out.extend(handle.join().expect("a cargo tree thread panicked")?);
        }
        Ok(out)
    })
}

/// The dependencies a resolution follows (`cargo tree -e`): what is linked into the binary and the
/// procedural macros, whose own features can change the code they generate. The crates macros and
/// build scripts use are left out ([`Resolution::parse`]): their features add to what a macro can
/// call, and the members of a group often differ there (`syn` with or without `visit`).
const EDGES: &str = "normal";

fn cargo_tree(dir: &Path, package: &str) -> Result<Resolution> {
    let output = Command::new(paths::cargo())
        .arg("tree")
        .arg("--manifest-path")
        .arg(dir.join("Cargo.toml"))
        .args(["-p", package, "-e", EDGES, "--prefix", "depth"])
        .args(["-f", "{p}|{f}"])
        .output()
        .context("running cargo tree")?;
    if !output.status.success() {
        bail!(
            "resolving the features of {package} in {} (cargo tree) failed:\n{}",
            dir.display(),
            String::from_utf8_lossy(&output.stderr).trim_end()
        );
    }
    Ok(Resolution::parse(&String::from_utf8_lossy(&output.stdout)))
}

/// A hash of the workspace's `Cargo.toml` and `Cargo.lock` and of `manifests` (a missing file
/// hashes differently from any content).
fn fingerprint(dir: &Path, manifests: &[PathBuf]) -> u64 {
    let mut hasher = DefaultHasher::new();
    hasher.write(EDGES.as_bytes());
    let own = [dir.join("Cargo.toml"), dir.join("Cargo.lock")];
    for path in own.iter().chain(manifests) {
        hasher.write(path.as_os_str().as_encoded_bytes());
        match std::fs::read(path) {
            Ok(bytes) => {
                hasher.write_u8(1);
                hasher.write(&bytes);
            }
            Err(_) => hasher.write_u8(0),
        }
    }
    hasher.finish()
}

const CACHE_HEADER: &str =
    "# Generated by quilt build: each package's own cargo features (see quilt_build::features).";

fn cache_text(cache: &HashMap<String, Cached>) -> String {
    let mut names: Vec<&String> = cache.keys().collect();
    names.sort();
    let mut s = format!("{CACHE_HEADER}\n");
    for name in names {
        let c = &cache[name];
        s.push_str(&format!("package {name} {:016x}\n", c.fingerprint));
        for m in &c.manifests {
            s.push_str(&format!("manifest {}\n", m.display()));
        }
        for (krate, features) in &c.resolution.crates {
            let features: Vec<&str> = features.iter().map(String::as_str).collect();
            s.push_str(&format!("crate {krate}|{}\n", features.join(",")));
        }
    }
    s
}

/// Reads the cache; an unreadable or malformed cache is empty (everything is resolved again).
fn read_cache(path: &Path) -> HashMap<String, Cached> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    parse_cache(&text).unwrap_or_default()
}

fn parse_cache(text: &str) -> Option<HashMap<String, Cached>> {
    let mut entries: Vec<(String, Cached)> = Vec::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let (kind, rest) = line.split_once(' ')?;
        if kind == "package" {
            let (name, fingerprint) = rest.split_once(' ')?;
            let cached = Cached {
                fingerprint: u64::from_str_radix(fingerprint, 16).ok()?,
                manifests: Vec::new(),
                resolution: Resolution::default(),
            };
            entries.push((name.to_string(), cached));
            continue;
        }
        let (_, cached) = entries.last_mut()?;
        match kind {
            "manifest" => cached.manifests.push(PathBuf::from(rest)),
            "crate" => cached.resolution.add(rest),
            _ => return None,
        }
    }
    Some(entries.into_iter().collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A workspace of path crates only (no registry): `shared` has a feature `loud`, which `a`
    /// enables and `b` does not; `c` does not use `shared`.
    fn workspace() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        let write = |path: &str, text: &str| {
            let path = dir.path().join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        };
        write(
            "Cargo.toml",
            "[workspace]\nresolver = \"2\"\nmembers = [\"a\", \"b\", \"c\"]\n",
        );
        write(
            "shared/Cargo.toml",
            "[package]\nname = \"shared\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n[features]\nloud = []\n",
        );
        write("shared/src/lib.rs", "");
        for (name, dep) in [
            (
                "a",
                "shared = { path = \"../shared\", features = [\"loud\"] }",
            ),
            ("b", "shared = { path = \"../shared\" }"),
            ("c", ""),
        ] {
            write(
                &format!("{name}/Cargo.toml"),
                &format!(
                    "[package]\nname = \"{name}\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n\
                     [dependencies]\n{dep}\n"
                ),
            );
            write(&format!("{name}/src/lib.rs"), "");
        }
        dir
    }

    fn shared(dir: &Path) -> String {
        format!("shared v0.1.0 ({})", dir.join("shared").display())
    }

    fn packages() -> Vec<String> {
        ["a", "b", "c"].map(String::from).to_vec()
    }

    #[test]
    fn a_procedural_macro_counts_with_its_features_and_the_crates_below_it_do_not() {
        let tree = "0fn-a v0.0.0 (/w/fn-a)|\n\
                    1serde v1.0.0|derive,std\n\
                    2serde_derive v1.0.0 (proc-macro)|default\n\
                    3syn v3.0.0|derive,visit\n\
                    4quote v1.0.0|default\n\
                    1greet v0.1.0 (proc-macro) (/w/greet)|loud\n\
                    2syn v3.0.0|derive (*)\n\
                    1memchr v2.0.0|std\n";
        let r = Resolution::parse(tree);
        let names: Vec<&str> = r.crates.keys().map(String::as_str).collect();
        assert_eq!(
            names,
            [
                "fn-a v0.0.0 (/w/fn-a)",
                "greet v0.1.0 (proc-macro) (/w/greet)",
                "memchr v2.0.0",
                "serde v1.0.0",
                "serde_derive v1.0.0 (proc-macro)"
            ]
        );
        assert_eq!(
            r.crates["greet v0.1.0 (proc-macro) (/w/greet)"],
            BTreeSet::from(["loud".into()])
        );
    }

    #[test]
    fn each_package_is_resolved_alone_and_batched_with_those_that_agree() {
        let ws = workspace();
        let r = resolve(ws.path(), &packages()).unwrap();
        assert_eq!(
            r[0].conflicts(&r[1]),
            [Conflict {
                krate: shared(ws.path()),
                ours: vec!["loud".into()],
                theirs: vec![],
            }],
            "b does not see a's feature: {r:?}"
        );
        assert!(r[0].conflicts(&r[2]).is_empty() && r[1].conflicts(&r[2]).is_empty());
        assert_eq!(batches(&r), [vec![0, 2], vec![1]]);
    }

    #[test]
    fn the_cache_answers_until_a_manifest_of_the_resolution_changes() {
        let ws = workspace();
        let dir = ws.path();
        let fresh = resolve(dir, &packages()).unwrap();
        // Mark the cached resolutions: a hit returns the mark, a miss asks cargo again.
        let cache = dir.join("features.cache");
        let text = std::fs::read_to_string(&cache).unwrap();
        let marked = text.replace("|loud\n", "|marked\n");
        assert_ne!(marked, text, "a's feature is in the cache: {text}");
        std::fs::write(&cache, marked).unwrap();
        let cached = resolve(dir, &packages()).unwrap();
        assert_eq!(
            cached[0].crates[&shared(dir)],
            BTreeSet::from(["marked".into()])
        );
        assert_eq!(cached[1..], fresh[1..]);
        // b now enables `loud` too: b is resolved again, a (whose manifests are unchanged) is not.
        std::fs::write(
            dir.join("b/Cargo.toml"),
            "[package]\nname = \"b\"\nversion = \"0.1.0\"\nedition = \"2021\"\n\n\
             [dependencies]\nshared = { path = \"../shared\", features = [\"loud\"] }\n",
        )
        .unwrap();
        let after = resolve(dir, &packages()).unwrap();
        assert_eq!(
            after[1].crates[&shared(dir)],
            BTreeSet::from(["loud".into()])
        );
        assert_eq!(after[0], cached[0]);
        // A malformed cache is resolved again from scratch.
        std::fs::write(&cache, "nonsense\n").unwrap();
        assert_eq!(resolve(dir, &packages()).unwrap()[0], fresh[0]);
    }
}
