//! What every experiment of `quilt experiment` shares: the [`Experiment`] trait and the
//! [`Registry`] the command line, `all` and the docs derive from, the arguments every experiment
//! takes, run modes, the [`Recorder`] that writes an experiment's typed result rows and summary,
//! the machine's description, and the figures' formatting.

use anyhow::{anyhow, Context, Result};
use clap::{Args, FromArgMatches};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::Instant;

/// An experiment: its name, what it measures, the columns of its result rows, and how it runs.
pub trait Experiment: Sync {
    /// Its name on the command line (`quilt experiment <name>`) and of its results folder.
    fn name(&self) -> &'static str;
    /// What it measures, one line (the command line's help and the docs' table).
    fn about(&self) -> &'static str;
    /// The reference's figure or table it reproduces ("—" when none).
    fn reference(&self) -> &'static str;
    /// The columns of its CSV, in order: fields of its result rows.
    fn columns(&self) -> &'static [&'static str];
    /// Its command line: by default the arguments every experiment takes.
    fn command(&self) -> clap::Command {
        ExperimentArgs::augment_args(clap::Command::new(self.name())).about(self.about())
    }
    /// Runs it from its parsed command line (as [`Experiment::command`] describes it).
    fn run_matches(&self, matches: &clap::ArgMatches) -> Result<()> {
        self.run(ExperimentArgs::from_arg_matches(matches)?)
    }
    /// Runs it with the arguments every experiment takes (its own at their defaults).
    fn run(&self, args: ExperimentArgs) -> Result<()>;
}

/// An experiment that takes just the arguments every experiment takes.
pub struct Basic {
    /// [`Experiment::name`].
    pub name: &'static str,
    /// [`Experiment::reference`].
    pub reference: &'static str,
    /// [`Experiment::about`].
    pub about: &'static str,
    /// [`Experiment::columns`].
    pub columns: &'static [&'static str],
    /// [`Experiment::run`].
    pub run: fn(ExperimentArgs) -> Result<()>,
}

impl Experiment for Basic {
    fn name(&self) -> &'static str {
        self.name
    }

    fn about(&self) -> &'static str {
        self.about
    }

    fn reference(&self) -> &'static str {
        self.reference
    }

    fn columns(&self) -> &'static [&'static str] {
        self.columns
    }

    fn run(&self, args: ExperimentArgs) -> Result<()> {
        (self.run)(args)
    }
}

/// Every experiment, in the order `quilt experiment all` runs them.
#[derive(Clone, Copy)]
pub struct Registry(pub &'static [&'static dyn Experiment]);

impl Registry {
    /// The names, in order.
    pub fn names(&self) -> Vec<&'static str> {
        self.0.iter().map(|e| e.name()).collect()
    }

    /// The experiment called `name`, or an error listing the known ones.
    pub fn find(&self, name: &str) -> Result<&'static dyn Experiment> {
        self.0
            .iter()
            .copied()
            .find(|e| e.name() == name)
            .ok_or_else(|| {
                anyhow!(
                    "no such experiment '{name}' (known: {})",
                    self.names().join(", ")
                )
            })
    }

    /// The docs' table: name, reference, what it measures.
    pub fn table(&self) -> String {
        let mut out = String::from("| name | reference | what |\n|---|---|---|\n");
        for e in self.0 {
            let _ = writeln!(
                out,
                "| `{}` | {} | {} |",
                e.name(),
                e.reference(),
                e.about()
            );
        }
        out
    }
}

/// Arguments every experiment takes.
#[derive(Debug, Clone, Default, Args)]
pub struct ExperimentArgs {
    /// A short run (about a minute of measurement; ≤ 3 minutes once the apps are built).
    #[arg(long)]
    pub quick: bool,
    /// Seconds of measurement, for the test suite.
    #[arg(long, hide = true)]
    pub smoke: bool,
    /// Output folder [default: results/<name>].
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Merge again even where the merge cache holds a merged binary of the same bitcode.
    #[arg(long)]
    pub remerge: bool,
    /// Redraw the summary and plot of the run in --out from its JSON, measuring nothing.
    #[arg(long, hide = true)]
    pub replot: bool,
    /// Run every deployment on K emulated hosts (network namespaces; needs root and iproute2),
    /// with Redis and memcached on a host of their own (`quilt up --hosts K --storage-host`).
    #[arg(long, value_name = "K")]
    pub hosts: Option<usize>,
    /// Round-trip time between any two emulated hosts, gateway's included [default with --hosts:
    /// 200us].
    #[arg(long, requires = "hosts", value_parser = humantime::parse_duration)]
    pub rtt: Option<std::time::Duration>,
}

/// The round trip between emulated hosts when `--hosts` is given without `--rtt`: the reference's
/// cluster's.
pub const DEFAULT_RTT: std::time::Duration = std::time::Duration::from_micros(200);

/// The emulated network an experiment ran on (`--hosts K --rtt D`), as its results record it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkSetting {
    /// Hosts the instances run on.
    pub hosts: usize,
    /// Round trip between any two hosts (the gateway's and the storage host's included), µs.
    pub rtt_us: u64,
    /// Redis and memcached ran on a host of their own.
    pub storage_host: bool,
}

impl NetworkSetting {
    /// The round trip.
    pub fn rtt(&self) -> std::time::Duration {
        std::time::Duration::from_micros(self.rtt_us)
    }

    /// The command-line flags that ask for it (with a leading space).
    pub fn flags(&self) -> String {
        format!(" --hosts {} --rtt {}us", self.hosts, self.rtt_us)
    }

    /// One line for a summary.
    pub fn describe(&self) -> String {
        format!(
            "{} emulated hosts for the instances{}, round trip {} µs between any two hosts (the \
             gateway's included)",
            self.hosts,
            if self.storage_host {
                " and one for Redis and memcached"
            } else {
                ""
            },
            self.rtt_us
        )
    }
}

impl ExperimentArgs {
    /// The emulated network asked for (`--hosts`, with `--rtt` or [`DEFAULT_RTT`]), or None.
    pub fn network(&self) -> Option<NetworkSetting> {
        self.hosts.map(|hosts| NetworkSetting {
            hosts,
            rtt_us: self.rtt.unwrap_or(DEFAULT_RTT).as_micros() as u64,
            storage_host: true,
        })
    }
}

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
            "{} cores ({}), {} GiB, Linux {}, shared with other work (load average {} at the \
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
pub struct Recorder<R> {
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
    /// Result rows: structs of the experiment whose fields are its columns.
    pub rows: Vec<R>,
    /// Remarks for the summary (skipped parts, how limits were set).
    pub notes: Vec<String>,
    /// Structured extras for the JSON (merge reports, plans).
    pub extra: Map<String, Value>,
    /// The emulated network the run asked for (None: one host, loopback).
    pub network: Option<NetworkSetting>,
    columns: Vec<&'static str>,
    machine: Machine,
    started: Instant,
    started_unix: u64,
    /// Seconds the run took, when known from an earlier run (`--replot`).
    seconds: Option<f64>,
}

impl<R: Serialize + DeserializeOwned> Recorder<R> {
    /// Starts an experiment that runs on one host: prepares the environment and the output folder.
    /// Refuses `--hosts`.
    pub fn new(
        name: &'static str,
        args: &ExperimentArgs,
        columns: &[&'static str],
    ) -> Result<Recorder<R>> {
        if args.hosts.is_some() {
            anyhow::bail!(
                "--hosts: experiment {name} does not run on emulated hosts (it measures on one \
                 host only); leave --hosts and --rtt out"
            );
        }
        Recorder::on_network(name, args, columns)
    }

    /// Starts an experiment that can run on emulated hosts (`--hosts`, `--rtt`: recorded in
    /// [`Recorder::network`], the command and the results): as [`Recorder::new`] otherwise.
    pub fn on_network(
        name: &'static str,
        args: &ExperimentArgs,
        columns: &[&'static str],
    ) -> Result<Recorder<R>> {
        if args.hosts == Some(0) {
            anyhow::bail!("--hosts 0: at least one emulated host is needed");
        }
        prepare_env()?;
        let mode = Mode::from_flags(args.quick, args.smoke);
        let out = args
            .out
            .clone()
            .unwrap_or_else(|| PathBuf::from("results").join(name));
        std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
        let network = args.network();
        let mut command = format!("quilt experiment {name}{}", mode.flag());
        if let Some(n) = &network {
            command.push_str(&n.flags());
        }
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
            network,
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
    pub fn push(&mut self, row: R) {
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
            "network": self.network,
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
        let _ = writeln!(
            md,
            "- Network: {}",
            self.network.map_or_else(
                || "one host (gateway, instances and storage on loopback)".to_string(),
                |n| n.describe()
            )
        );
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
pub fn replot<R: Serialize + DeserializeOwned>(
    name: &'static str,
    args: &ExperimentArgs,
    columns: &[&'static str],
    report: fn(&Recorder<R>) -> Result<Report>,
) -> Result<()> {
    let mut rec = Recorder::on_network(name, args, columns)?;
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
    rec.rows = serde_json::from_value(doc["rows"].clone())
        .with_context(|| format!("reading the rows of {}", path.display()))?;
    rec.notes = serde_json::from_value(doc["notes"].clone()).unwrap_or_default();
    rec.machine = serde_json::from_value(doc["machine"].clone())?;
    rec.network = serde_json::from_value(doc["network"].clone()).unwrap_or_default();
    rec.started_unix = doc["started_unix"].as_u64().unwrap_or_default();
    rec.seconds = doc["seconds"].as_f64();
    let result = match doc["partial"].as_str() {
        Some(why) => Err(anyhow!("{why}")),
        None => Ok(()),
    };
    let r = report(&rec);
    rec.finish(result, r)
}

fn csv<R: Serialize>(columns: &[&str], rows: &[R]) -> String {
    let mut out = columns.join(",");
    out.push('\n');
    for r in rows {
        let r = serde_json::to_value(r).unwrap_or(Value::Null);
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
        let mut rec: Recorder<Value> = Recorder::new("latency", &args, &["a", "b"]).unwrap();
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
        assert!(md.contains("- Network: one host"), "{md}");
        assert_eq!(doc["network"], Value::Null);
    }

    #[test]
    fn hosts_are_refused_by_one_host_experiments_and_recorded_by_the_others() {
        let dir = tempfile::tempdir().unwrap();
        let args = ExperimentArgs {
            smoke: true,
            out: Some(dir.path().join("y")),
            hosts: Some(3),
            ..Default::default()
        };
        let err = Recorder::<Value>::new("tracing", &args, &["a"])
            .err()
            .expect("refused");
        assert!(
            format!("{err:#}").contains("--hosts: experiment tracing does not run on emulated"),
            "{err:#}"
        );
        let rec: Recorder<Value> = Recorder::on_network("latency", &args, &["a"]).unwrap();
        let expected = NetworkSetting {
            hosts: 3,
            rtt_us: 200,
            storage_host: true,
        };
        assert_eq!(rec.network, Some(expected));
        assert!(
            rec.command.contains("--hosts 3 --rtt 200us"),
            "{}",
            rec.command
        );
        rec.finish(Ok(()), Ok(Report::default())).unwrap();
        let out = dir.path().join("y");
        let doc: Value =
            serde_json::from_str(&std::fs::read_to_string(out.join("latency.json")).unwrap())
                .unwrap();
        assert_eq!(doc["network"]["hosts"], 3);
        assert_eq!(doc["network"]["rtt_us"], 200);
        let md = std::fs::read_to_string(out.join("summary.md")).unwrap();
        assert!(md.contains("- Network: 3 emulated hosts"), "{md}");
        let zero = ExperimentArgs {
            hosts: Some(0),
            ..args
        };
        assert!(Recorder::<Value>::on_network("latency", &zero, &["a"]).is_err());
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
