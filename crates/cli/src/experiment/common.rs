//! What every experiment shares: run modes, the output files, the machine's description, cached
//! merges, platforms with overridden limits, and a load generator on its own runtime.

use anyhow::{anyhow, bail, Context, Result};
use quilt_bench::{Bodies, Load, Outcome, Spec};
use quilt_manifest::Manifest;
use quilt_merge::deployment::MergedDeployment;
use quilt_merge::tree::Tree;
use quilt_merge::{merge_group, MergeOptions};
use quilt_platform::{Deployable, Platform, PlatformConfig};
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::ExperimentArgs;

/// How long an experiment runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    /// Seconds, for the test suite (`--smoke`, hidden).
    Smoke,
    /// About a minute (`--quick`).
    Quick,
    /// The run that feeds docs/RESULTS.md.
    Full,
}

impl Mode {
    /// The mode the flags ask for (`--smoke` wins).
    pub fn from_flags(quick: bool, smoke: bool) -> Mode {
        match (smoke, quick) {
            (true, _) => Mode::Smoke,
            (false, true) => Mode::Quick,
            (false, false) => Mode::Full,
        }
    }

    /// One value per mode.
    pub fn pick<T>(self, smoke: T, quick: T, full: T) -> T {
        match self {
            Mode::Smoke => smoke,
            Mode::Quick => quick,
            Mode::Full => full,
        }
    }

    /// The command-line flag of the mode (with a leading space), or "".
    pub fn flag(self) -> &'static str {
        self.pick(" --smoke", " --quick", "")
    }
}

/// The Quilt source tree (apps, examples, the shared target folder).
pub fn home() -> PathBuf {
    let home = quilt_build::paths::quilt_home();
    home.canonicalize().unwrap_or(home)
}

/// Exports what builds and container merges need, unless already set: `QUILT_TARGET_DIR` (app
/// builds share compiled dependencies) and `QUILT_EXE` (the `quilt` binary runs container merges).
pub fn prepare_env() -> Result<()> {
    if std::env::var_os("QUILT_TARGET_DIR").is_none() {
        let dir = home().join("target/quilt-apps");
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        std::env::set_var("QUILT_TARGET_DIR", dir);
    }
    if std::env::var_os("QUILT_EXE").is_none() {
        std::env::set_var("QUILT_EXE", std::env::current_exe()?);
    }
    Ok(())
}

/// An exclusive lock on app builds and merges, shared with the test suite (the same lock file):
/// two builds of one app would race on its generated files. Released on drop.
pub fn build_lock() -> Result<std::fs::File> {
    let dir = std::env::var_os("QUILT_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| home().join("target/quilt-apps"));
    std::fs::create_dir_all(&dir)?;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join(".quilt-test-build.lock"))
        .context("opening the build lock")?;
    file.lock().context("locking the build lock")?;
    Ok(file)
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

/// A load generator on its own single-worker runtime (as `wrk -t1` is its own process), so that it
/// does not share the gateway's worker threads. Drop it outside any runtime.
pub struct Loader {
    rt: tokio::runtime::Runtime,
}

impl Loader {
    /// A generator runtime with one worker.
    pub fn new() -> Result<Loader> {
        Ok(Loader {
            rt: tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .thread_name("quilt-loadgen")
                .enable_all()
                .build()?,
        })
    }

    /// A closed-loop run against `url`: `connections` connections, one request in flight each.
    pub async fn closed(
        &self,
        url: &str,
        bodies: Bodies,
        connections: usize,
        (duration, warmup): (Duration, Duration),
    ) -> Result<Outcome> {
        let spec = Spec {
            url: url.to_string(),
            bodies,
            load: Load::Closed { connections },
            duration,
            warmup,
            progress: false,
        };
        let outcome = self.rt.spawn(quilt_bench::run(spec)).await??;
        eprintln!(
            "  {url} c={connections}: {} ok, {} failed, {:.1} req/s, p50 {:.3} ms, p99 {:.3} ms",
            outcome.requests,
            outcome.errors,
            outcome.throughput_rps,
            outcome.latency_ms.p50,
            outcome.latency_ms.p99
        );
        if let Some(why) = &outcome.partial {
            bail!("the run against {url} ended early: {why}");
        }
        Ok(outcome)
    }
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

/// The figures of an outcome, flattened into a row.
pub fn outcome_fields(o: &Outcome) -> Map<String, Value> {
    let v = json!({
        "requests": o.requests,
        "errors": o.errors,
        "duration_s": round(o.duration_s, 2),
        "throughput_rps": round(o.throughput_rps, 1),
        "p50_ms": round(o.latency_ms.p50, 3),
        "p90_ms": round(o.latency_ms.p90, 3),
        "p99_ms": round(o.latency_ms.p99, 3),
        "max_ms": round(o.latency_ms.max, 3),
    });
    let Value::Object(mut m) = v else {
        unreachable!()
    };
    if o.requests == 0 {
        // No successful request: there is no latency to report.
        for k in ["p50_ms", "p90_ms", "p99_ms", "max_ms"] {
            m.insert(k.into(), Value::Null);
        }
    }
    m
}

/// A row: `labels` (an object) followed by `fields`.
pub fn row(labels: Value, fields: Map<String, Value>) -> Value {
    let mut m = match labels {
        Value::Object(m) => m,
        _ => Map::new(),
    };
    m.extend(fields);
    Value::Object(m)
}

/// Rounds for display and JSON.
pub fn round(v: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (v * f).round() / f
}

/// The median of some values (NaN when empty).
pub fn median(values: &[f64]) -> f64 {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// `new/old − 1` as a signed percentage, e.g. `−45.6%`.
pub fn change(new: f64, old: f64) -> String {
    if !(old > 0.0 && new.is_finite()) {
        return "n/a".into();
    }
    let pct = (new / old - 1.0) * 100.0;
    format!("{}{:.1}%", if pct < 0.0 { "−" } else { "+" }, pct.abs())
}

/// A fraction as a signed percentage: `-0.456` is `−45.6%`.
pub fn pct(fraction: f64) -> String {
    if !fraction.is_finite() {
        return "n/a".into();
    }
    let p = fraction * 100.0;
    format!("{}{:.1}%", if p < 0.0 { "−" } else { "+" }, p.abs())
}

/// `new/old` as `×1.23`.
pub fn times(new: f64, old: f64) -> String {
    if !(old > 0.0 && new.is_finite()) {
        return "n/a".into();
    }
    format!("×{:.2}", new / old)
}

/// A field of a row as a number (NaN when absent).
pub fn num(row: &Value, key: &str) -> f64 {
    row.get(key).and_then(Value::as_f64).unwrap_or(f64::NAN)
}

/// A field of a row as text ("" when absent).
pub fn text<'a>(row: &'a Value, key: &str) -> &'a str {
    row.get(key).and_then(Value::as_str).unwrap_or("")
}

/// A counter of the platform's Prometheus metrics, per function label (0 when absent).
pub async fn metric(gateway: &str, name: &str, function: &str) -> u64 {
    let Ok((200, body)) = crate::http::get(&format!("{gateway}/metrics")).await else {
        return 0;
    };
    let key = format!("{name}{{function=\"{function}\"}} ");
    String::from_utf8_lossy(&body)
        .lines()
        .find_map(|l| l.strip_prefix(&key)?.trim().parse::<f64>().ok())
        .map_or(0, |v| v as u64)
}

/// The machine an experiment ran on.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Machine {
    /// Cores this process may use.
    pub cores: usize,
    /// CPU model.
    pub cpu: String,
    /// Memory, GiB.
    pub memory_gib: f64,
    /// Kernel release.
    pub kernel: String,
    /// 1-, 5- and 15-minute load averages when the experiment started.
    pub load_start: Vec<f64>,
    /// The same when it ended.
    pub load_end: Vec<f64>,
    /// How per-instance limits are enforced.
    pub limits: String,
}

fn load_average() -> Vec<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .filter_map(|v| v.parse().ok())
        .collect()
}

impl Machine {
    fn describe() -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu = cpuinfo
            .lines()
            .find_map(|l| l.strip_prefix("model name")?.split(':').nth(1))
            .map(|s| s.trim().to_string())
            .unwrap_or_else(|| "unknown".into());
        let memory_gib = std::fs::read_to_string("/proc/meminfo")
            .unwrap_or_default()
            .lines()
            .find_map(|l| {
                l.strip_prefix("MemTotal:")?
                    .split_whitespace()
                    .next()?
                    .parse::<f64>()
                    .ok()
            })
            .map_or(f64::NAN, |kb| round(kb / 1024.0 / 1024.0, 1));
        let limits = match quilt_platform::Enforcement::detect() {
            quilt_platform::Enforcement::NotEnforced(why) => format!("not enforced ({why})"),
            how => format!("enforced ({how:?})"),
        };
        Machine {
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            cpu,
            memory_gib,
            kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
                .unwrap_or_default()
                .trim()
                .to_string(),
            load_start: load_average(),
            load_end: Vec::new(),
            limits,
        }
    }

    /// One line for a summary.
    pub fn line(&self) -> String {
        let load = |l: &[f64]| {
            l.iter()
                .map(|v| format!("{v:.1}"))
                .collect::<Vec<_>>()
                .join("/")
        };
        format!(
            "{} cores ({}), {} GiB, Linux {}, shared with other sessions (load average {} at the \
             start, {} at the end); per-instance limits {}",
            self.cores,
            self.cpu,
            self.memory_gib,
            self.kernel,
            load(&self.load_start),
            load(&self.load_end),
            self.limits
        )
    }
}

/// What an experiment's summary says besides the machine and the command.
#[derive(Debug, Default)]
pub struct Report {
    /// A markdown table of the results.
    pub table: String,
    /// The headline figures, one line each.
    pub headlines: Vec<String>,
    /// Headline figures for the JSON.
    pub summary: Map<String, Value>,
}

/// Collects an experiment's rows and writes its files: `<name>.json`, `<name>.csv`, `<name>.svg`
/// (drawn by the experiment) and `summary.md`. A failed run still writes what it measured, marked
/// partial.
pub struct Recorder {
    /// Experiment name.
    pub name: &'static str,
    /// Run mode.
    pub mode: Mode,
    /// Output folder.
    pub out: PathBuf,
    /// The command that reproduces the run.
    pub command: String,
    /// Merge again instead of using cached merges.
    pub fresh: bool,
    /// What was run (durations, sweeps, limits).
    pub config: Map<String, Value>,
    /// Result rows (flat objects).
    pub rows: Vec<Value>,
    /// Remarks for the summary (skipped parts, how limits were set).
    pub notes: Vec<String>,
    /// Structured extras for the JSON (merge reports, plans).
    pub extra: Map<String, Value>,
    columns: Vec<&'static str>,
    machine: Machine,
    started: Instant,
    started_unix: u64,
    /// Seconds the run took, when known from an earlier run (`--replot`).
    seconds: Option<f64>,
}

impl Recorder {
    /// Starts an experiment: prepares the environment and the output folder.
    pub fn new(
        name: &'static str,
        args: &ExperimentArgs,
        columns: &[&'static str],
    ) -> Result<Recorder> {
        prepare_env()?;
        let mode = Mode::from_flags(args.quick, args.smoke);
        let out = args
            .out
            .clone()
            .unwrap_or_else(|| PathBuf::from("results").join(name));
        std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
        let mut command = format!("quilt experiment {name}{}", mode.flag());
        if let Some(o) = &args.out {
            let _ = write!(command, " --out {}", o.display());
        }
        eprintln!("experiment {name} ({mode:?}): results in {}", out.display());
        Ok(Recorder {
            name,
            mode,
            out,
            command,
            fresh: args.remerge,
            config: Map::new(),
            rows: Vec::new(),
            notes: Vec::new(),
            extra: Map::new(),
            columns: columns.to_vec(),
            machine: Machine::describe(),
            started: Instant::now(),
            started_unix: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            seconds: None,
        })
    }

    /// A config entry.
    pub fn set(&mut self, key: &str, value: impl Serialize) {
        self.config.insert(
            key.to_string(),
            serde_json::to_value(value).unwrap_or(Value::Null),
        );
    }

    /// Adds a result row.
    pub fn push(&mut self, row: Value) {
        self.rows.push(row);
    }

    /// `<out>/<name>.<ext>`.
    pub fn path(&self, ext: &str) -> PathBuf {
        self.out.join(format!("{}.{ext}", self.name))
    }

    /// The tokio runtime the platform runs on.
    pub fn runtime(&self) -> Result<tokio::runtime::Runtime> {
        Ok(tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?)
    }

    /// Writes every file and returns `result` (a failure keeps its rows, marked partial).
    pub fn finish(mut self, result: Result<()>, report: Result<Report>) -> Result<()> {
        if self.seconds.is_none() {
            self.machine.load_end = load_average();
        }
        let partial = result.as_ref().err().map(|e| format!("{e:#}"));
        let (report, report_error) = match report {
            Ok(r) => (r, None),
            Err(e) => (Report::default(), Some(format!("{e:#}"))),
        };
        if let Some(e) = &report_error {
            self.notes.push(format!("summarising failed: {e}"));
        }
        let seconds = self
            .seconds
            .unwrap_or_else(|| round(self.started.elapsed().as_secs_f64(), 1));
        let doc = json!({
            "experiment": self.name,
            "mode": self.mode,
            "command": self.command,
            "started_unix": self.started_unix,
            "seconds": seconds,
            "partial": partial,
            "machine": self.machine,
            "config": self.config,
            "summary": report.summary,
            "rows": self.rows,
            "notes": self.notes,
            "extra": self.extra,
        });
        let mut written = Vec::new();
        let json_path = self.path("json");
        quilt_build::write_if_changed(&json_path, &serde_json::to_string_pretty(&doc)?)?;
        written.push(json_path);
        let csv_path = self.path("csv");
        quilt_build::write_if_changed(&csv_path, &csv(&self.columns, &self.rows))?;
        written.push(csv_path);
        let mut md = format!("# Experiment `{}`\n\n", self.name);
        if let Some(p) = &partial {
            let _ = writeln!(
                md,
                "**PARTIAL RESULTS**: the run stopped early: {p}\n\nThe figures below cover what was \
                 measured before that.\n"
            );
        }
        let _ = writeln!(md, "- Command: `{}`", self.command);
        let _ = writeln!(md, "- Machine: {}", self.machine.line());
        let _ = writeln!(md, "- Mode: {:?}; took {seconds} s", self.mode);
        let _ = writeln!(
            md,
            "- Files: `{0}.json` (every figure), `{0}.csv` (the rows), `{0}.svg` (the plot)\n",
            self.name
        );
        if !report.headlines.is_empty() {
            md.push_str("## Headlines\n\n");
            for h in &report.headlines {
                let _ = writeln!(md, "- {h}");
            }
            md.push('\n');
        }
        if !report.table.is_empty() {
            md.push_str("## Results\n\n");
            md.push_str(&report.table);
            md.push('\n');
        }
        if !self.notes.is_empty() {
            md.push_str("## Notes\n\n");
            for n in &self.notes {
                let _ = writeln!(md, "- {n}");
            }
            md.push('\n');
        }
        let summary_path = self.out.join("summary.md");
        quilt_build::write_if_changed(&summary_path, &md)?;
        written.push(summary_path);
        println!("{}", report.headlines.join("\n"));
        for p in written {
            println!("wrote {}", p.display());
        }
        match result {
            Ok(()) => Ok(()),
            Err(e) => Err(e.context(format!(
                "experiment {} stopped early; partial results in {}",
                self.name,
                self.out.display()
            ))),
        }
    }
}

/// `--replot`: reads an earlier run's `<out>/<name>.json` and writes its summary, CSV and plot
/// again with the current code, measuring nothing.
pub fn replot(
    name: &'static str,
    args: &ExperimentArgs,
    columns: &[&'static str],
    report: fn(&Recorder) -> Result<Report>,
) -> Result<()> {
    let mut rec = Recorder::new(name, args, columns)?;
    let path = rec.path("json");
    let text = std::fs::read_to_string(&path)
        .with_context(|| format!("--replot: reading {}", path.display()))?;
    let doc: Value =
        serde_json::from_str(&text).with_context(|| format!("reading {}", path.display()))?;
    let obj = |k: &str| doc[k].as_object().cloned().unwrap_or_default();
    rec.mode = serde_json::from_value(doc["mode"].clone())?;
    rec.command = doc["command"].as_str().unwrap_or_default().to_string();
    rec.config = obj("config");
    rec.extra = obj("extra");
    rec.rows = doc["rows"].as_array().cloned().unwrap_or_default();
    rec.notes = serde_json::from_value(doc["notes"].clone()).unwrap_or_default();
    rec.machine = serde_json::from_value(doc["machine"].clone())?;
    rec.started_unix = doc["started_unix"].as_u64().unwrap_or_default();
    rec.seconds = doc["seconds"].as_f64();
    let result = match doc["partial"].as_str() {
        Some(why) => Err(anyhow!("{why}")),
        None => Ok(()),
    };
    let r = report(&rec);
    rec.finish(result, r)
}

fn csv(columns: &[&str], rows: &[Value]) -> String {
    let mut out = columns.join(",");
    out.push('\n');
    for r in rows {
        let cells: Vec<String> = columns
            .iter()
            .map(|c| match r.get(*c) {
                None | Some(Value::Null) => String::new(),
                Some(Value::String(s)) => csv_cell(s),
                Some(v) => csv_cell(&v.to_string()),
            })
            .collect();
        out.push_str(&cells.join(","));
        out.push('\n');
    }
    out
}

fn csv_cell(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// A markdown table.
pub fn md_table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut out = format!("| {} |\n|", header.join(" | "));
    for (i, _) in header.iter().enumerate() {
        out.push_str(if i == 0 { "---|" } else { "---:|" });
    }
    out.push('\n');
    for r in rows {
        let _ = writeln!(out, "| {} |", r.join(" | "));
    }
    out
}

/// Fails with a clear message when an app folder is missing.
pub fn require_app(rel: &str) -> Result<PathBuf> {
    app_dir(rel).ok_or_else(|| anyhow!("{} not found under {}", rel, home().display()))
}

/// A number with `digits` decimals, or "—" when it is not a number.
pub fn fmt(v: f64, digits: usize) -> String {
    if v.is_finite() {
        format!("{v:.digits$}")
    } else {
        "—".into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_run_keeps_its_rows_marked_partial() {
        let dir = tempfile::tempdir().unwrap();
        let args = ExperimentArgs {
            smoke: true,
            out: Some(dir.path().join("x")),
            ..Default::default()
        };
        let mut rec = Recorder::new("latency", &args, &["a", "b"]).unwrap();
        rec.push(json!({"a": 1, "b": "x,y"}));
        let err = rec
            .finish(
                Err(anyhow!("platform died")),
                Ok(Report {
                    table: md_table(&["a"], &[vec!["1".into()]]),
                    ..Default::default()
                }),
            )
            .unwrap_err();
        assert!(format!("{err:#}").contains("partial results in"));
        let out = dir.path().join("x");
        let doc: Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("latency.json")).unwrap())
                .unwrap();
        assert_eq!(doc["partial"], "platform died");
        assert_eq!(doc["rows"][0]["a"], 1);
        let csv = std::fs::read_to_string(out.join("latency.csv")).unwrap();
        assert_eq!(csv, "a,b\n1,\"x,y\"\n");
        let md = std::fs::read_to_string(out.join("summary.md")).unwrap();
        assert!(md.contains("PARTIAL RESULTS") && md.contains("platform died"));
        assert!(md.contains("quilt experiment latency --smoke --out"));
    }

    #[test]
    fn figures_format_as_the_summaries_show_them() {
        assert_eq!(change(54.4, 100.0), "−45.6%");
        assert_eq!(change(205.0, 100.0), "+105.0%");
        assert_eq!(times(1290.0, 100.0), "×12.90");
        assert_eq!(pct(-0.71), "−71.0%");
        assert_eq!(fmt(f64::NAN, 1), "—");
        assert_eq!(median(&[3.0, 1.0, 2.0, f64::NAN]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(Mode::from_flags(true, true), Mode::Smoke);
        assert_eq!(Mode::Quick.flag(), " --quick");
    }
}
