//! What the experiments of this crate share besides the harness: app builds, cached merges,
//! platforms with overridden limits, request bodies and metrics.

use anyhow::{anyhow, Context, Result};
use quilt_bench::Bodies;
pub use quilt_harness::experiment::{
    change, fmt, home, md_table, median, pct, prepare_env, replot, round, times, Mode, Recorder,
    Report,
};
pub use quilt_harness::load::Loader;
use quilt_manifest::Manifest;
use quilt_merge::deployment::MergedDeployment;
use quilt_merge::tree::Tree;
use quilt_merge::{merge_group, MergeOptions};
use quilt_platform::{Deployable, Platform, PlatformConfig};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// An exclusive lock on app builds and merges, shared with the test suite (the same lock file):
/// two builds of one app would race on its generated files. Released on drop.
pub fn build_lock() -> Result<std::fs::File> {
    quilt_harness::try_build_lock().context("locking the build lock")
}

/// Loads and builds an app (under the build lock).
pub fn build(app_dir: &Path) -> Result<Manifest> {
    let manifest = Manifest::load(app_dir)?;
    let _lock = build_lock()?;
    let t = Instant::now();
    quilt_build::build_app(&manifest).with_context(|| format!("building {}", app_dir.display()))?;
    eprintln!(
        "experiment: built {} in {:.1}s",
        manifest.name,
        t.elapsed().as_secs_f64()
    );
    Ok(manifest)
}

/// A benchmark app folder under the source tree (`apps/<name>`), if it exists.
pub fn app_dir(rel: &str) -> Option<PathBuf> {
    let dir = home().join(rel);
    dir.join("quilt.toml").is_file().then_some(dir)
}

/// Reads `<app>/workflows/<name>.tree`.
pub fn tree(manifest: &Manifest, name: &str) -> Result<Tree> {
    let path = manifest.dir.join("workflows").join(format!("{name}.tree"));
    Ok(Tree::read(&path)?)
}

/// What a merge cost, as the reference's merge-time table reports it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct MergeInfo {
    /// `<root>-merged`.
    pub name: String,
    /// Members, root first.
    pub members: Vec<String>,
    /// Seconds compiling members to bitcode.
    pub compile_s: f64,
    /// Seconds linking modules and rewriting call sites.
    pub merge_s: f64,
    /// Seconds in LLVM's O3 pipeline.
    pub optimize_s: f64,
    /// Seconds emitting code and linking.
    pub link_s: f64,
    /// Size of the merged binary.
    pub merged_bytes: u64,
    /// Sizes of the members' own binaries, added up.
    pub originals_bytes: u64,
    /// Call sites by what became of them: direct, local async, remote, dynamic.
    pub sites: [usize; 4],
    /// Fan-out threshold compiled in.
    pub fanout_threshold: usize,
    /// Taken from the experiment cache instead of merged now.
    #[serde(default)]
    pub cached: bool,
}

#[derive(Serialize, Deserialize)]
struct CacheKey {
    members: Vec<String>,
    fanout_threshold: usize,
    member_hashes: Vec<u64>,
    binary_hash: u64,
    info: MergeInfo,
}

fn file_hash(path: &Path) -> Result<u64> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    // FNV-1a, 64 bits, eight bytes at a time for speed: a change detector, not a checksum.
    let mut h: u64 = 0xcbf29ce484222325 ^ bytes.len() as u64;
    let mut chunks = bytes.chunks_exact(8);
    for c in &mut chunks {
        h ^= u64::from_le_bytes(c.try_into().unwrap());
        h = h.wrapping_mul(0x100000001b3).rotate_left(29);
    }
    for b in chunks.remainder() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x100000001b3);
    }
    Ok(h)
}

fn member_hashes(manifest: &Manifest, members: &[String]) -> Result<Vec<u64>> {
    members
        .iter()
        .map(|m| file_hash(&manifest.work_dir().join("bin").join(m)))
        .collect()
}

fn cache_dir(manifest: &Manifest, tree: &Tree, threshold: usize) -> PathBuf {
    manifest
        .work_dir()
        .join("experiment-cache")
        .join(format!("{}-merged-t{threshold}", tree.root))
}

/// Merges a group (the app must be built), or reuses the merged binary the experiments cached for
/// exactly these member binaries and threshold (`fresh` forces a merge). Installs it as
/// `<root>-merged` either way.
pub fn merged(
    manifest: &Manifest,
    tree: &Tree,
    threshold: usize,
    fresh: bool,
) -> Result<MergeInfo> {
    let _lock = build_lock()?;
    let dir = cache_dir(manifest, tree, threshold);
    let hashes = member_hashes(manifest, &tree.members)?;
    if !fresh {
        if let Some(info) = from_cache(manifest, tree, threshold, &dir, &hashes)? {
            eprintln!("experiment: {} from the cache", info.name);
            return Ok(info);
        }
    }
    eprintln!(
        "experiment: merging {} ({} members)",
        tree.root,
        tree.members.len()
    );
    let opts = MergeOptions {
        fanout_threshold: threshold,
        ..MergeOptions::default()
    };
    let r = merge_group(manifest, tree, &opts)?;
    use quilt_merge::rewrite::SiteKind;
    let count = |k: SiteKind| r.sites.iter().filter(|s| s.kind == k).count();
    let info = MergeInfo {
        name: r.name.clone(),
        members: r.members.clone(),
        compile_s: r.times.compile_s,
        merge_s: r.times.merge_s,
        optimize_s: r.times.optimize_s,
        link_s: r.times.link_s,
        merged_bytes: r.merged_bytes,
        originals_bytes: r.originals_bytes,
        sites: [
            count(SiteKind::Direct),
            count(SiteKind::LocalAsync),
            count(SiteKind::Remote),
            count(SiteKind::Dynamic),
        ],
        fanout_threshold: threshold,
        cached: false,
    };
    // Stash the binary and its deployment file so that another threshold can be installed and
    // this one brought back without merging again.
    std::fs::create_dir_all(&dir)?;
    quilt_build::install_file(&r.binary, &dir.join("binary"))?;
    let deployment = MergedDeployment::dir(manifest).join(format!("{}.json", r.name));
    quilt_build::install_file(&deployment, &dir.join("deployment.json"))?;
    let key = CacheKey {
        members: tree.members.clone(),
        fanout_threshold: threshold,
        member_hashes: hashes,
        binary_hash: file_hash(&r.binary)?,
        info: info.clone(),
    };
    quilt_build::write_if_changed(&dir.join("key.json"), &serde_json::to_string_pretty(&key)?)?;
    Ok(info)
}

fn from_cache(
    manifest: &Manifest,
    tree: &Tree,
    threshold: usize,
    dir: &Path,
    hashes: &[u64],
) -> Result<Option<MergeInfo>> {
    let Ok(text) = std::fs::read_to_string(dir.join("key.json")) else {
        return Ok(None);
    };
    let Ok(key) = serde_json::from_str::<CacheKey>(&text) else {
        return Ok(None);
    };
    if key.members != tree.members
        || key.fanout_threshold != threshold
        || key.member_hashes != hashes
    {
        return Ok(None);
    }
    let stash = dir.join("binary");
    if !stash.is_file() || file_hash(&stash)? != key.binary_hash {
        return Ok(None);
    }
    let installed = MergedDeployment::dir(manifest).join(format!("{}-merged", tree.root));
    let current = installed
        .is_file()
        .then(|| file_hash(&installed))
        .transpose()?;
    if current != Some(key.binary_hash) {
        let d: MergedDeployment =
            serde_json::from_str(&std::fs::read_to_string(dir.join("deployment.json"))?)?;
        d.install(manifest, &stash)?;
    } else {
        // The binary is in place; make sure its deployment file says the same.
        let d: MergedDeployment =
            serde_json::from_str(&std::fs::read_to_string(dir.join("deployment.json"))?)?;
        let json = serde_json::to_string_pretty(&d)?;
        quilt_build::write_if_changed(
            &MergedDeployment::dir(manifest).join(format!("{}.json", d.name)),
            &json,
        )?;
    }
    Ok(Some(MergeInfo {
        cached: true,
        ..key.info
    }))
}

/// Starts a platform on any free port serving `deployables`, each given `env`.
pub async fn start_platform(
    manifest: &Manifest,
    mut deployables: Vec<Deployable>,
    env: &[(String, String)],
    idle_timeout: Duration,
) -> Result<Platform> {
    for d in &mut deployables {
        d.env.extend(env.iter().cloned());
    }
    Platform::start(PlatformConfig {
        bind: "127.0.0.1:0".parse().unwrap(),
        deployables,
        idle_timeout,
        ..PlatformConfig::from_settings(&manifest.platform)
    })
    .await
}

/// Request bodies for a route: its generator `<app>/<route>` if one exists, else the workflow's.
pub fn bodies_for(app: &str, route: &str, workflow: &str, seed: u64) -> Result<Bodies> {
    let name = if quilt_workloads::generator(app, route).is_ok() {
        route
    } else {
        workflow
    };
    crate::bench::bodies(None, Some(&format!("{app}/{name}")), seed)
}

/// A counter of the platform's Prometheus metrics, per function label (0 when absent).
pub async fn metric(gateway: &str, name: &str, function: &str) -> u64 {
    let Ok((200, body)) = crate::http::get(&format!("{gateway}/metrics")).await else {
        return 0;
    };
    quilt_harness::metric(
        &String::from_utf8_lossy(&body),
        name,
        &[("function", function)],
    )
    .map_or(0, |v| v as u64)
}

/// Fails with a clear message when an app folder is missing.
pub fn require_app(rel: &str) -> Result<PathBuf> {
    app_dir(rel).ok_or_else(|| anyhow!("{} not found under {}", rel, home().display()))
}
