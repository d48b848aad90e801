//! The app manifest, `quilt.toml`: an app's functions, their limits and its workflows.
//!
//! [`Manifest::load`] parses and validates a manifest; every error names the file, the field and the
//! offending value.

use serde::Deserialize;
use std::collections::HashSet;
use std::fmt;
use std::path::{Path, PathBuf};

/// File name of the manifest inside an app folder.
pub const MANIFEST_FILE: &str = "quilt.toml";

/// An error in a manifest, naming the file and the field.
#[derive(Debug, thiserror::Error)]
#[error("{}: {field}: {message}", file.display())]
pub struct ManifestError {
    /// The manifest file.
    pub file: PathBuf,
    /// The field path, e.g. `functions[2].name`, or `syntax` for parse errors.
    pub field: String,
    /// What is wrong, with the offending value.
    pub message: String,
}

/// The language a function is written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    /// A Rust library crate using `quilt-sdk`.
    Rust,
    /// C sources using `quilt.h`.
    C,
    /// C++ sources using `quilt.h`.
    Cpp,
}

impl fmt::Display for Language {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Language::Rust => "rust",
            Language::C => "c",
            Language::Cpp => "cpp",
        })
    }
}

/// Default of `pids`: processes and threads per instance.
pub const DEFAULT_PIDS: u64 = 512;
/// Smallest `pids` accepted: the runtime's own threads and a few requests.
pub const MIN_PIDS: u64 = 16;

/// One function of an app, with its resource limits and scaling bounds.
#[derive(Debug, Clone, PartialEq)]
pub struct Function {
    /// Name, also its route (`POST /<name>`); made of `[a-z0-9-]`.
    pub name: String,
    /// Source language.
    pub language: Language,
    /// Source path, absolute and inside the app folder once symlinks are resolved (a crate folder
    /// for Rust; a file or folder for C/C++).
    pub source: PathBuf,
    /// Memory limit per instance in MiB.
    pub memory_mb: u64,
    /// CPU limit per instance in cores (fractional).
    pub cpu: f64,
    /// Instances kept running even when idle.
    pub min_instances: u32,
    /// Most instances the platform starts.
    pub max_instances: u32,
    /// Requests one instance serves at once.
    pub concurrency: u32,
    /// Requests waiting for an instance before the gateway answers 503.
    pub queue: u32,
    /// Per-request timeout in milliseconds (504 after it).
    pub timeout_ms: u64,
    /// Most processes and threads one instance may have at once (cgroup pids controller).
    pub pids: u64,
    /// Trust domain: functions of different domains are never merged.
    pub domain: Option<String>,
    /// Never merged with anything.
    pub isolate: bool,
}

impl Function {
    /// The C identifier of the function: its name with `-` replaced by `_`.
    pub fn ident(&self) -> String {
        ident_of(&self.name)
    }
}

/// The C identifier of a function name (`-` becomes `_`).
pub fn ident_of(name: &str) -> String {
    name.replace('-', "_")
}

/// A workflow: a named entry point into the app's call graph.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Workflow {
    /// Workflow name.
    pub name: String,
    /// The function that receives the workflow's requests.
    pub entry: String,
    /// The request body `quilt profile` and `quilt optimize` send when no generator is built in
    /// for the workflow: `body` (text) or the contents of `body_file` (inside the app folder).
    pub body: Option<RequestBody>,
}

/// A workflow's request body as the manifest declares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RequestBody {
    /// `body = '…'`: the text itself.
    Text(String),
    /// `body_file = "…"`: a file, absolute and inside the app folder.
    File(PathBuf),
}

impl RequestBody {
    /// The body's bytes (a file is read now; the error names it).
    pub fn bytes(&self) -> std::io::Result<Vec<u8>> {
        match self {
            RequestBody::Text(text) => Ok(text.clone().into_bytes()),
            RequestBody::File(path) => std::fs::read(path).map_err(|e| {
                std::io::Error::new(e.kind(), format!("reading {}: {e}", path.display()))
            }),
        }
    }
}

/// Platform settings of an app.
#[derive(Debug, Clone, PartialEq)]
pub struct PlatformSettings {
    /// Seconds an instance above `min_instances` stays idle before it is stopped.
    pub idle_timeout_s: f64,
    /// Largest request body the gateway accepts, in bytes (413 above it).
    pub max_body_bytes: usize,
    /// Seconds a client may take to send a request's headers before the gateway closes the
    /// connection (slow or idle clients cannot hold connections open).
    pub header_timeout_s: f64,
    /// Seconds the gateway waits for the next bytes of a request body before it answers 408 and
    /// closes the connection (nginx's `client_body_timeout`).
    pub body_timeout_s: f64,
    /// Client connections the gateway holds at most (more are answered 503 and closed); unset:
    /// as many as the open file limit allows.
    pub max_connections: Option<usize>,
    /// MiB that request bodies still being received may hold together (503 beyond).
    pub body_memory_mb: u64,
    /// The largest instance the platform runs, MiB: what a merged group must fit in (`quilt
    /// profile` writes it into the call graph as the solver's memory limit).
    pub max_instance_memory_mb: u64,
    /// The largest instance the platform runs, cores: the solver's CPU limit.
    pub max_instance_cpu: f64,
}

/// Storage services `quilt up` starts for an app and passes to its functions.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Services {
    /// A Redis server (address in `QUILT_REDIS_ADDR` as `host:port`).
    #[serde(default)]
    pub redis: bool,
    /// A memcached server (address in `QUILT_MEMCACHED_ADDR` as `host:port`).
    #[serde(default)]
    pub memcached: bool,
}

/// A parsed and validated `quilt.toml`.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    /// The app folder (holds `quilt.toml`).
    pub dir: PathBuf,
    /// App name.
    pub name: String,
    /// Functions, in manifest order.
    pub functions: Vec<Function>,
    /// Workflows, in manifest order.
    pub workflows: Vec<Workflow>,
    /// Platform settings.
    pub platform: PlatformSettings,
    /// Storage services the app needs.
    pub services: Services,
}

impl Manifest {
    /// Reads and validates `<dir>/quilt.toml`.
    pub fn load(dir: &Path) -> Result<Manifest, ManifestError> {
        let dir = &std::path::absolute(dir).unwrap_or_else(|_| dir.to_path_buf());
        let file = dir.join(MANIFEST_FILE);
        let text = std::fs::read_to_string(&file).map_err(|e| ManifestError {
            file: file.clone(),
            field: "file".into(),
            message: format!("cannot read: {e}"),
        })?;
        Manifest::parse(dir, &file, &text)
    }

    /// Parses and validates manifest text; `file` is used in errors, `dir` resolves sources.
    pub fn parse(dir: &Path, file: &Path, text: &str) -> Result<Manifest, ManifestError> {
        let raw: RawManifest = toml::from_str(text).map_err(|e| ManifestError {
            file: file.to_path_buf(),
            field: "syntax".into(),
            message: e.to_string().trim_end().replace('\n', " "),
        })?;
        Validator { file, dir }.validate(raw)
    }

    /// The function with this name.
    pub fn function(&self, name: &str) -> Option<&Function> {
        self.functions.iter().find(|f| f.name == name)
    }

    /// The workflow with this name.
    pub fn workflow(&self, name: &str) -> Option<&Workflow> {
        self.workflows.iter().find(|w| w.name == name)
    }

    /// Where build outputs and runtime state of this app live (`<dir>/.quilt`).
    pub fn work_dir(&self) -> PathBuf {
        self.dir.join(".quilt")
    }
}

/// The package name in a Rust function's `Cargo.toml`, when it names one.
fn rust_package(f: &Function) -> Option<String> {
    if f.language != Language::Rust {
        return None;
    }
    let text = std::fs::read_to_string(f.source.join("Cargo.toml")).ok()?;
    let manifest: toml::Table = toml::from_str(&text).ok()?;
    Some(manifest.get("package")?.get("name")?.as_str()?.to_string())
}

/// Checks that `name` is a valid function, app or workflow name: 1–63 characters of `[a-z0-9-]`,
/// not starting or ending with `-`. Such a name is safe to use as a path component.
pub fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("empty name".into());
    }
    if name.len() > 63 {
        return Err(format!("'{name}' is longer than 63 characters"));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        return Err(format!(
            "'{}' has {:?}; names are made of [a-z0-9-]",
            name.escape_debug(),
            c
        ));
    }
    if name.starts_with('-') || name.ends_with('-') {
        return Err(format!("'{name}' starts or ends with '-'"));
    }
    Ok(())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawManifest {
    app: RawApp,
    #[serde(default)]
    defaults: RawLimits,
    #[serde(default)]
    functions: Vec<RawFunction>,
    #[serde(default)]
    workflows: Vec<RawWorkflow>,
    #[serde(default)]
    platform: RawPlatform,
    #[serde(default)]
    services: Services,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawApp {
    name: String,
}

#[derive(Deserialize, Default, Clone)]
#[serde(deny_unknown_fields)]
struct RawLimits {
    memory_mb: Option<u64>,
    cpu: Option<f64>,
    min_instances: Option<u32>,
    max_instances: Option<u32>,
    concurrency: Option<u32>,
    queue: Option<u32>,
    timeout_ms: Option<u64>,
    pids: Option<u64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFunction {
    name: String,
    language: String,
    source: PathBuf,
    #[serde(flatten)]
    limits: RawLimits,
    domain: Option<String>,
    #[serde(default)]
    isolate: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWorkflow {
    name: String,
    entry: String,
    body: Option<String>,
    body_file: Option<PathBuf>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawPlatform {
    idle_timeout_s: Option<f64>,
    max_body_bytes: Option<usize>,
    header_timeout_s: Option<f64>,
    body_timeout_s: Option<f64>,
    max_connections: Option<usize>,
    body_memory_mb: Option<u64>,
    max_instance_memory_mb: Option<u64>,
    max_instance_cpu: Option<f64>,
}

struct Validator<'a> {
    file: &'a Path,
    dir: &'a Path,
}

impl Validator<'_> {
    /// `path` (relative to the app folder) if it exists and lies inside the app folder once
    /// symlinks are resolved; else what is wrong, naming `what`.
    fn inside_app(&self, path: &Path, what: &str) -> Result<PathBuf, String> {
        let full = self.dir.join(path);
        if !full.exists() {
            return Err(format!("'{}' does not exist", full.display()));
        }
        match (self.dir.canonicalize(), full.canonicalize()) {
            (Ok(dir), Ok(resolved)) if resolved.starts_with(&dir) => Ok(full),
            (Ok(dir), Ok(resolved)) => Err(format!(
                "'{}' ({what}) lies outside the app folder '{}' (it resolves to '{}')",
                path.display(),
                dir.display(),
                resolved.display()
            )),
            (Err(e), _) | (_, Err(e)) => {
                Err(format!("cannot resolve '{}' ({what}): {e}", full.display()))
            }
        }
    }

    fn err(&self, field: impl Into<String>, message: impl Into<String>) -> ManifestError {
        ManifestError {
            file: self.file.to_path_buf(),
            field: field.into(),
            message: message.into(),
        }
    }

    fn validate(&self, raw: RawManifest) -> Result<Manifest, ManifestError> {
        check_name(&raw.app.name).map_err(|m| self.err("app.name", m))?;
        let mut seen = HashSet::new();
        let mut functions: Vec<Function> = Vec::with_capacity(raw.functions.len());
        // The cargo package of each Rust function's crate, where its Cargo.toml names one.
        let mut packages: Vec<(String, usize)> = Vec::new();
        for (i, f) in raw.functions.into_iter().enumerate() {
            let func = self.function(i, f, &raw.defaults)?;
            if !seen.insert(func.name.clone()) {
                return Err(self.err(
                    format!("functions[{i}].name"),
                    format!("duplicate function name '{}'", func.name),
                ));
            }
            if let Some(package) = rust_package(&func) {
                let clash = packages
                    .iter()
                    .find(|(p, j)| *p == package && functions[*j].source != func.source);
                if let Some((_, j)) = clash {
                    let other = &functions[*j];
                    return Err(self.err(
                        format!("functions[{i}].source"),
                        format!(
                            "the crate in '{}' is cargo package '{package}', as is the crate of \
                             function '{}' in '{}': cargo builds only one package of a name in a \
                             workspace; rename one of them in its Cargo.toml",
                            func.source.display(),
                            other.name,
                            other.source.display()
                        ),
                    ));
                }
                packages.push((package, i));
            }
            functions.push(func);
        }
        if functions.is_empty() {
            return Err(self.err("functions", "the app has no functions"));
        }
        let mut workflow_names = HashSet::new();
        let mut workflows = Vec::with_capacity(raw.workflows.len());
        for (i, w) in raw.workflows.into_iter().enumerate() {
            check_name(&w.name).map_err(|m| self.err(format!("workflows[{i}].name"), m))?;
            if !workflow_names.insert(w.name.clone()) {
                return Err(self.err(
                    format!("workflows[{i}].name"),
                    format!("duplicate workflow name '{}'", w.name),
                ));
            }
            if !seen.contains(&w.entry) {
                return Err(self.err(
                    format!("workflows[{i}].entry"),
                    format!("unknown function '{}'", w.entry.escape_debug()),
                ));
            }
            let body = match (w.body, w.body_file) {
                (Some(_), Some(_)) => {
                    return Err(self.err(
                        format!("workflows[{i}].body_file"),
                        "give the request body as `body` or as `body_file`, not both",
                    ))
                }
                (Some(text), None) => Some(RequestBody::Text(text)),
                (None, Some(file)) => Some(RequestBody::File(
                    self.inside_app(&file, &format!("body file of workflow '{}'", w.name))
                        .map_err(|m| self.err(format!("workflows[{i}].body_file"), m))?,
                )),
                (None, None) => None,
            };
            workflows.push(Workflow {
                name: w.name,
                entry: w.entry,
                body,
            });
        }
        let platform = PlatformSettings {
            idle_timeout_s: raw.platform.idle_timeout_s.unwrap_or(300.0),
            max_body_bytes: raw.platform.max_body_bytes.unwrap_or(6 * 1024 * 1024),
            header_timeout_s: raw.platform.header_timeout_s.unwrap_or(10.0),
            body_timeout_s: raw.platform.body_timeout_s.unwrap_or(60.0),
            max_connections: raw.platform.max_connections,
            body_memory_mb: raw.platform.body_memory_mb.unwrap_or(256),
            max_instance_memory_mb: raw.platform.max_instance_memory_mb.unwrap_or(1024),
            max_instance_cpu: raw.platform.max_instance_cpu.unwrap_or(2.0),
        };
        if platform.max_instance_memory_mb == 0 {
            return Err(self.err("platform.max_instance_memory_mb", "0: must be at least 1"));
        }
        for (field, value) in [
            ("platform.idle_timeout_s", platform.idle_timeout_s),
            ("platform.header_timeout_s", platform.header_timeout_s),
            ("platform.body_timeout_s", platform.body_timeout_s),
            ("platform.max_instance_cpu", platform.max_instance_cpu),
        ] {
            if !value.is_finite() || value <= 0.0 {
                return Err(self.err(field, format!("{value} is not a positive number")));
            }
        }
        if platform.max_connections == Some(0) {
            return Err(self.err("platform.max_connections", "0: must be at least 1"));
        }
        if platform.body_memory_mb.saturating_mul(1 << 20) < platform.max_body_bytes as u64 {
            return Err(self.err(
                "platform.body_memory_mb",
                format!(
                    "{} MiB cannot hold one body of max_body_bytes ({} bytes)",
                    platform.body_memory_mb, platform.max_body_bytes
                ),
            ));
        }
        Ok(Manifest {
            dir: self.dir.to_path_buf(),
            name: raw.app.name,
            functions,
            workflows,
            platform,
            services: raw.services,
        })
    }

    fn function(
        &self,
        i: usize,
        f: RawFunction,
        defaults: &RawLimits,
    ) -> Result<Function, ManifestError> {
        let at = |field: &str| format!("functions[{i}].{field}");
        check_name(&f.name).map_err(|m| self.err(at("name"), m))?;
        let language = match f.language.as_str() {
            "rust" => Language::Rust,
            "c" => Language::C,
            "cpp" | "c++" => Language::Cpp,
            other => {
                return Err(self.err(
                    at("language"),
                    format!(
                        "unknown language '{}' (expected rust, c or cpp)",
                        other.escape_debug()
                    ),
                ))
            }
        };
        // Sources are read and compiled by `quilt build`: a manifest must not reach outside its
        // app (`/etc/passwd`, `../other`, or a symlink pointing elsewhere).
        let source = self
            .inside_app(&f.source, &format!("source of function '{}'", f.name))
            .map_err(|m| self.err(at("source"), m))?;
        if language == Language::Rust && !source.join("Cargo.toml").is_file() {
            return Err(self.err(
                at("source"),
                format!("'{}' is not a Rust crate (no Cargo.toml)", source.display()),
            ));
        }
        let pick = |own: Option<u64>, default: Option<u64>, fallback: u64| {
            own.or(default).unwrap_or(fallback)
        };
        let l = &f.limits;
        let d = defaults;
        let memory_mb = pick(l.memory_mb, d.memory_mb, 128);
        let cpu = l.cpu.or(d.cpu).unwrap_or(1.0);
        let min_instances = l.min_instances.or(d.min_instances).unwrap_or(0);
        let max_instances = l.max_instances.or(d.max_instances).unwrap_or(4);
        let concurrency = l.concurrency.or(d.concurrency).unwrap_or(16);
        let queue = l.queue.or(d.queue).unwrap_or(256);
        let timeout_ms = pick(l.timeout_ms, d.timeout_ms, 30_000);
        let pids = pick(l.pids, d.pids, DEFAULT_PIDS);
        if memory_mb < 4 {
            return Err(self.err(
                at("memory_mb"),
                format!("{memory_mb} MiB is below the 4 MiB minimum"),
            ));
        }
        if !(cpu > 0.0 && cpu.is_finite()) {
            return Err(self.err(
                at("cpu"),
                format!("{cpu} is not a positive number of cores"),
            ));
        }
        if max_instances == 0 {
            return Err(self.err(at("max_instances"), "0: must be at least 1"));
        }
        if min_instances > max_instances {
            return Err(self.err(
                at("min_instances"),
                format!("{min_instances} is above max_instances {max_instances}"),
            ));
        }
        if concurrency == 0 {
            return Err(self.err(at("concurrency"), "0: must be at least 1"));
        }
        if timeout_ms == 0 {
            return Err(self.err(at("timeout_ms"), "0: must be at least 1"));
        }
        if queue == 0 && min_instances == 0 {
            return Err(self.err(
                at("queue"),
                "0 with min_instances 0: no request could wait for an instance to start, so none                  would be served; set queue to at least 1 or min_instances to at least 1",
            ));
        }
        if pids < MIN_PIDS {
            return Err(self.err(
                at("pids"),
                format!(
                    "{pids} is below the minimum of {MIN_PIDS} (an instance needs a few threads \
                     to serve)"
                ),
            ));
        }
        if let Some(domain) = &f.domain {
            check_name(domain).map_err(|m| self.err(at("domain"), m))?;
        }
        Ok(Function {
            name: f.name,
            language,
            source,
            memory_mb,
            cpu,
            min_instances,
            max_instances,
            concurrency,
            queue,
            timeout_ms,
            pids,
            domain: f.domain,
            isolate: f.isolate,
        })
    }
}
