//! What the experiments of this crate share besides the harness: app builds, cached merges,
//! platforms with overridden limits, request bodies and metrics.

use anyhow::{anyhow, Context, Result};
use quilt_bench::Bodies;
pub use quilt_harness::experiment::NetworkSetting;
pub use quilt_harness::experiment::{
    change, fmt, home, md_table, median, pct, prepare_env, replot, round, times, Mode, Recorder,
    Report,
};
pub use quilt_harness::load::Loader;
use quilt_manifest::Manifest;
use quilt_merge::tree::Tree;
use quilt_merge::{merge_group, MergeOptions};
use quilt_platform::{Deployable, Platform, PlatformConfig};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// An exclusive lock on the builds and merges of the app in `dir`, shared with the test suite (the
/// same lock file): two builds of one app would race on its generated files. Released on drop.
pub fn build_lock(dir: &Path) -> Result<std::fs::File> {
    quilt_harness::try_build_lock(dir).context("locking the build lock")
}

/// Loads and builds an app (under the build lock).
pub fn build(app_dir: &Path) -> Result<Manifest> {
    let manifest = Manifest::load(app_dir)?;
    let _lock = build_lock(app_dir)?;
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
    /// Seconds in the post-merge pipeline (dead-code elimination).
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
    /// Taken from the merge cache (merge, optimize and link skipped).
    #[serde(default)]
    pub cached: bool,
}

/// Merges a group (the app must be built) and installs it as `<root>-merged`; the merge cache
/// serves an unchanged group unless `fresh`.
pub fn merged(
    manifest: &Manifest,
    tree: &Tree,
    threshold: usize,
    fresh: bool,
) -> Result<MergeInfo> {
    let _lock = build_lock(&manifest.dir)?;
    eprintln!(
        "experiment: merging {} ({} members)",
        tree.root,
        tree.members.len()
    );
    let opts = MergeOptions {
        fanout_threshold: threshold,
        refresh: fresh,
        ..MergeOptions::default()
    };
    let r = merge_group(manifest, tree, &opts)?;
    use quilt_merge::rewrite::SiteKind;
    let count = |k: SiteKind| r.sites.iter().filter(|s| s.kind == k).count();
    Ok(MergeInfo {
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
        cached: r.cached,
    })
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

/// Fails early, before anything is built, when the run asks for emulated hosts (`--hosts`) and
/// they cannot be made here.
pub fn check_network<R>(rec: &Recorder<R>) -> Result<()> {
    match (rec.network, quilt_netem::unsupported_reason()) {
        (Some(n), Some(why)) => Err(anyhow!("--hosts {}: {why}", n.hosts)),
        _ => Ok(()),
    }
}

/// The emulated network a run asked for (`--hosts`), created with a host for the storage services
/// and entered by the calling thread: the runtimes, the load generator and the platform started
/// afterwards live in the gateway's namespace. Recorded in the run's config. None without
/// `--hosts`; an error where emulated hosts cannot be made.
pub fn emulated_network<R: Serialize + serde::de::DeserializeOwned>(
    rec: &mut Recorder<R>,
) -> Result<Option<quilt_netem::Network>> {
    let Some(n) = rec.network else {
        return Ok(None);
    };
    let net = quilt_netem::Network::create(&quilt_netem::HostsConfig {
        hosts: n.hosts,
        rtt: n.rtt(),
        bandwidth_bps: None,
        link: quilt_netem::LinkKind::Auto,
        storage_host: n.storage_host,
    })
    .with_context(|| format!("--hosts {}", n.hosts))?;
    net.enter_hub()?;
    let described = net.layout().describe();
    eprintln!("experiment {}: {described}", rec.name);
    rec.set("network_layout", described);
    Ok(Some(net))
}
