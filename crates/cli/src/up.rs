//! `quilt up`: build an app and serve it on the local platform until SIGINT or SIGTERM.

use anyhow::{bail, Context, Result};
use clap::Args;
use quilt_manifest::Manifest;
use quilt_merge::deployment::{Kind, MergedDeployment};
use quilt_platform::services::Service;
use quilt_platform::{Deployable, Placement, Platform, PlatformConfig};
use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

/// Environment variable set to `1` in fake-database mode.
pub const FAKEDB_ENV: &str = "QUILT_FAKEDB";
/// Environment variable naming the app variant (e.g. `async`).
pub const VARIANT_ENV: &str = "QUILT_VARIANT";

/// Arguments of `quilt up`.
#[derive(Args)]
pub struct UpArgs {
    /// The app folder (holds quilt.toml).
    pub app: PathBuf,
    /// Gateway port on 127.0.0.1.
    #[arg(long, default_value_t = 8080)]
    pub port: u16,
    /// Serve the binaries already built instead of building first.
    #[arg(long)]
    pub no_build: bool,
    /// Rebuild when a function's sources change (the rebuilt functions are then served without a
    /// restart, as every new binary is).
    #[arg(long, conflicts_with = "no_build")]
    pub watch: bool,
    /// Seconds an instance above the minimum may stay idle (default: the manifest's).
    #[arg(long)]
    pub idle_timeout: Option<f64>,
    /// Fake-database mode: storage calls become the reference's sleeps; no services are started.
    #[arg(long)]
    pub fakedb: bool,
    /// The app variant to run (sets QUILT_VARIANT; the benchmark apps know `sync` and `async`).
    #[arg(long)]
    pub variant: Option<String>,
    /// Trace every request from the start (switchable later: `POST /_quilt/tracing` with the token
    /// in .quilt/admin-token).
    #[arg(long)]
    pub tracing: bool,
    /// Export every span to an OTLP/HTTP collector (Tempo, Jaeger, OpenTelemetry Collector),
    /// e.g. http://127.0.0.1:4318.
    #[arg(long)]
    pub otlp_endpoint: Option<String>,
    /// Extra environment for every instance, KEY=VALUE (repeatable).
    #[arg(long = "env", value_name = "KEY=VALUE", value_parser = parse_env)]
    pub env: Vec<(String, String)>,
    /// Run the instances on K emulated hosts: network namespaces linked to the gateway's by links
    /// that add --rtt to every remote hop (needs root and iproute2; without them: one host).
    #[arg(long, value_name = "K")]
    pub hosts: Option<usize>,
    /// Round-trip time between the gateway and an emulated host (with --hosts).
    #[arg(long, default_value = "200us", value_parser = humantime::parse_duration)]
    pub rtt: Duration,
    /// Bandwidth of each emulated host's link, each way, e.g. 1gbit, 100mbit (with --hosts).
    #[arg(long, value_parser = quilt_netem::parse_bandwidth)]
    pub bandwidth: Option<u64>,
    /// How emulated hosts are linked: auto, veth (tc netem) or tun (a delay line in quilt).
    #[arg(long, default_value = "auto")]
    pub link: quilt_netem::LinkKind,
    /// Run Redis and memcached on one more emulated host, --rtt away from the gateway and from
    /// every instance's host (with --hosts; without it they run in the gateway's namespace).
    #[arg(long, requires = "hosts")]
    pub storage_host: bool,
}

/// How to start an app.
#[derive(Debug, Clone, Default)]
pub struct UpOptions {
    /// Gateway port (0: any free port).
    pub port: u16,
    /// Environment for every instance.
    pub env: Vec<(String, String)>,
    /// Fake-database mode.
    pub fakedb: bool,
    /// Idle timeout override.
    pub idle_timeout: Option<Duration>,
    /// Trace requests from the start.
    pub tracing: bool,
    /// OTLP/HTTP collector for spans.
    pub otlp_endpoint: Option<String>,
    /// Emulated hosts (`--hosts`): instances run on them, round-robin, and the gateway listens on
    /// the gateway namespace's address, which the calling thread must be in; the services run on
    /// the layout's storage host, or beside the gateway when it has none.
    pub hosts: Option<quilt_netem::Layout>,
}

impl UpOptions {
    /// Options of a verb that starts the app itself: fake-database mode and an app variant.
    pub fn for_app(fakedb: bool, variant: Option<&str>) -> UpOptions {
        UpOptions {
            env: variant
                .map(|v| vec![(VARIANT_ENV.to_string(), v.to_string())])
                .unwrap_or_default(),
            fakedb,
            ..UpOptions::default()
        }
    }
}

/// How a verb that starts an app itself starts it.
#[derive(Args, Clone, Debug, Default)]
pub struct StartArgs {
    /// Fake-database mode (when starting the platform).
    #[arg(long)]
    pub fakedb: bool,
    /// App variant, e.g. `async` (when starting the platform).
    #[arg(long)]
    pub variant: Option<String>,
    /// Run the app's population steps first.
    #[arg(long)]
    pub populate: bool,
}

/// How a verb reaches an app (`quilt profile`, `quilt verify`): a running gateway, or a platform it
/// starts itself.
#[derive(Args, Clone, Debug, Default)]
pub struct ReachArgs {
    /// Attach to a running gateway (started by `quilt up`) instead of starting the platform.
    #[arg(long)]
    pub gateway: Option<String>,
    /// How the app is started when no gateway is given.
    #[command(flatten)]
    pub start: StartArgs,
}

/// The gateway's URL and, when none was given, the app started for the purpose (built first; the
/// caller shuts it down). Populates the app when asked.
pub async fn reach(manifest: &Manifest, args: &ReachArgs) -> Result<(String, Option<RunningApp>)> {
    let start_args = &args.start;
    let (url, running) = match &args.gateway {
        Some(g) => (g.trim_end_matches('/').to_string(), None),
        None => {
            quilt_build::build_app(manifest)?;
            let opts = UpOptions::for_app(start_args.fakedb, start_args.variant.as_deref());
            let app = start(manifest, &opts).await?;
            (app.url(), Some(app))
        }
    };
    if start_args.populate {
        crate::populate::populate(&url, &manifest.name, 1.0, 1).await?;
    }
    Ok((url, running))
}

/// A running app: its platform and the services started for it.
pub struct RunningApp {
    /// The platform.
    pub platform: Platform,
    /// Storage services, stopped on shutdown.
    pub services: Vec<Service>,
    /// The environment every instance gets (options and service addresses).
    env: Vec<(String, String)>,
    opts: UpOptions,
}

impl quilt_harness::apps::Running for RunningApp {
    async fn start(
        manifest: &Manifest,
        variant: &str,
        fakedb: bool,
        idle: Duration,
    ) -> Result<RunningApp> {
        let opts = UpOptions {
            idle_timeout: Some(idle),
            ..UpOptions::for_app(fakedb, Some(variant))
        };
        crate::up::start(manifest, &opts).await
    }

    fn gateway(&self) -> SocketAddr {
        self.platform.addr()
    }

    fn services(&self) -> &[Service] {
        &self.services
    }
}

impl RunningApp {
    /// The gateway's base URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.platform.addr())
    }

    /// Replaces the platform with a new one serving the app's current binaries (merged ones
    /// included), on the same port, keeping the services and their data.
    pub async fn restart_platform(self, manifest: &Manifest) -> Result<RunningApp> {
        let port = self.platform.addr().port();
        let RunningApp {
            platform,
            services,
            env,
            opts,
        } = self;
        platform.shutdown().await;
        let same_port = UpOptions {
            port,
            ..opts.clone()
        };
        let platform = start_platform(manifest, &env, &same_port).await?;
        Ok(RunningApp {
            platform,
            services,
            env,
            opts,
        })
    }

    /// Follows the app's binaries while it runs: every second, a deployable that is new (a group
    /// merged by `quilt merge`), changed (rebuilt by `quilt build`, re-merged) or gone is deployed
    /// or retired on the running platform, without a restart and without dropping a request
    /// ([`Platform::deploy`]). Each change is said on stderr. Never returns.
    ///
    /// With `watch`, a change to a function's sources first rebuilds the app (`quilt build`);
    /// build errors are said on stderr and the running binaries stay.
    pub async fn follow_deployments(&self, manifest: &Manifest, watch: bool) {
        let mut known = fingerprints(served(manifest, &self.env, &self.opts).unwrap_or_default());
        let mut sources = sources_fingerprint(manifest);
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            if watch {
                let now = sources_fingerprint(manifest);
                if now != sources {
                    sources = now;
                    eprintln!("quilt: sources changed; building");
                    let m = manifest.clone();
                    match tokio::task::spawn_blocking(move || quilt_build::build_app(&m)).await {
                        Ok(Ok(_)) => warn_of_stale_merges(manifest),
                        Ok(Err(e)) => {
                            eprintln!("quilt: build failed, still serving the last binaries: {e:#}")
                        }
                        Err(e) => eprintln!("quilt: build failed: {e}"),
                    }
                }
            }
            let now = match served(manifest, &self.env, &self.opts) {
                Ok(now) => now,
                Err(e) => {
                    eprintln!("quilt: reading the app's deployments: {e:#}");
                    continue;
                }
            };
            let next = fingerprints(now.clone());
            for d in now {
                let name = d.name.clone();
                let Some(print) = next.get(&name) else {
                    continue;
                };
                if known.get(&name) == Some(print) {
                    continue;
                }
                let what = if known.contains_key(&name) {
                    "updated"
                } else {
                    "new"
                };
                match self.platform.deploy(d).await {
                    Ok(()) => eprintln!("quilt: serving {what} route /{name}"),
                    Err(e) => eprintln!("quilt: cannot serve {what} route /{name}: {e:#}"),
                }
            }
            for name in known.keys().filter(|n| !next.contains_key(*n)) {
                if self.platform.retire(name) {
                    eprintln!("quilt: route /{name} retired (its binary is gone)");
                }
            }
            known = next;
        }
    }

    /// Stops the platform, its instances and its services.
    pub async fn shutdown(self) {
        self.platform.shutdown().await;
        drop(self.services);
    }
}

/// The deployables of an app's functions, from their built binaries.
pub use quilt_harness::deployables as function_deployables;

/// The deployables of an app's installed merged binaries (`<root>-merged`), as many instances as
/// their root may have; a group that serves its root's route also gets a deployable under the
/// root's name.
pub fn merged_deployables(manifest: &Manifest) -> Result<Vec<Deployable>> {
    let mut out = Vec::new();
    for (d, binary) in MergedDeployment::installed(manifest)? {
        out.extend(group_deployables(manifest, &d, binary)?);
    }
    Ok(out)
}

/// The deployables of one merged group `d` served by `binary`: `<root>-merged`, and the root's own
/// route too when the group serves it, as many instances as the root may have.
pub fn group_deployables(
    manifest: &Manifest,
    d: &MergedDeployment,
    binary: PathBuf,
) -> Result<Vec<Deployable>> {
    let mut out = Vec::new();
    let root = manifest
        .function(&d.root)
        .with_context(|| format!("{}: its root {} is not a function", d.name, d.root))?;
    // A merged instance runs what an instance of each member would: the members' budgets add
    // up — memory and CPU (in the deployment file), processes, requests in flight and queued —
    // so the group gets the budget its members had, and the deployment is not what caps it.
    // A container merge is a platform of its own, which sandboxes its members.
    let members: Vec<_> = d
        .members
        .iter()
        .filter_map(|m| manifest.function(m))
        .collect();
    let pids = members.iter().map(|f| f.pids).sum();
    let concurrency = members.iter().map(|f| f.concurrency).sum();
    let queue = members.iter().map(|f| f.queue).sum();
    let sandbox = d.kind == Kind::Merged;
    let (binary, args) = match d.kind {
        Kind::Merged => (binary, Vec::new()),
        Kind::Container => (
            quilt_exe()?,
            vec![
                "__container".to_string(),
                manifest.dir.display().to_string(),
                "--members".to_string(),
                d.members.join(","),
            ],
        ),
    };
    let deployable = Deployable {
        name: d.name.clone(),
        binary,
        args,
        entry: d.root.clone(),
        memory_mb: d.memory_mb,
        cpu: d.cpu,
        min_instances: root.min_instances,
        max_instances: root.max_instances,
        concurrency,
        queue,
        timeout: Duration::from_millis(root.timeout_ms),
        pids,
        sandbox,
        env: Vec::new(),
        members: d.members.clone(),
        placements: Vec::new(),
    };
    if d.serves_root {
        out.push(Deployable {
            name: d.root.clone(),
            ..deployable.clone()
        });
    }
    out.push(deployable);
    Ok(out)
}

/// The `quilt` executable (runs container merges): `$QUILT_EXE`, or this program.
pub fn quilt_exe() -> Result<PathBuf> {
    match std::env::var_os("QUILT_EXE") {
        Some(p) => Ok(PathBuf::from(p)),
        None => Ok(std::env::current_exe()?),
    }
}

/// Every deployable of an app: its functions and its installed merged binaries (a merged group
/// that serves its root's route takes the root's place).
pub fn deployables(manifest: &Manifest) -> Result<Vec<Deployable>> {
    Ok(with_groups(
        function_deployables(manifest),
        merged_deployables(manifest)?,
    ))
}

/// `functions` with `merged` deployables added, each taking the place of a function of its name.
pub fn with_groups(mut functions: Vec<Deployable>, merged: Vec<Deployable>) -> Vec<Deployable> {
    functions.retain(|f| !merged.iter().any(|m| m.name == f.name));
    functions.extend(merged);
    functions
}

/// Starts the app's services and platform (binaries must be built).
pub async fn start(manifest: &Manifest, opts: &UpOptions) -> Result<RunningApp> {
    let mut services = Vec::new();
    let mut env = opts.env.clone();
    if opts.fakedb {
        env.push((FAKEDB_ENV.into(), "1".into()));
    } else {
        let (ip, prefix) = match &opts.hosts {
            None => (Ipv4Addr::LOCALHOST, Vec::new()),
            Some(layout) => match &layout.storage {
                Some(host) => (host.addr, host.exec_prefix()),
                None => (layout.hub_addr, Vec::new()),
            },
        };
        if manifest.services.redis {
            services.push(Service::redis_at(ip, &prefix)?);
        }
        if manifest.services.memcached {
            services.push(Service::memcached_at(ip, &prefix)?);
        }
        env.extend(services.iter().map(Service::env));
    }
    let platform = start_platform(manifest, &env, opts).await?;
    Ok(RunningApp {
        platform,
        services,
        env,
        opts: opts.clone(),
    })
}

/// What a platform started with `env` and `opts` serves for the app: its deployables with the
/// environment and the emulated hosts' placements.
fn served(
    manifest: &Manifest,
    env: &[(String, String)],
    opts: &UpOptions,
) -> Result<Vec<Deployable>> {
    let mut deployables = deployables(manifest)?;
    for d in &mut deployables {
        d.env.extend(env.iter().cloned());
    }
    if let Some(layout) = &opts.hosts {
        place(&mut deployables, layout);
    }
    Ok(deployables)
}

/// The size and modification time of every file of the functions' sources (build output and
/// hidden folders left out), to notice edits.
fn sources_fingerprint(manifest: &Manifest) -> Vec<(PathBuf, u64, Option<std::time::SystemTime>)> {
    fn walk(path: &std::path::Path, out: &mut Vec<(PathBuf, u64, Option<std::time::SystemTime>)>) {
        let Ok(meta) = std::fs::metadata(path) else {
            return;
        };
        if meta.is_dir() {
            let Ok(entries) = std::fs::read_dir(path) else {
                return;
            };
            for entry in entries.flatten() {
                let name = entry.file_name();
                if name == "target" || name.to_string_lossy().starts_with('.') {
                    continue;
                }
                walk(&entry.path(), out);
            }
        } else {
            out.push((path.to_path_buf(), meta.len(), meta.modified().ok()));
        }
    }
    let mut out = Vec::new();
    for f in &manifest.functions {
        walk(&f.source, &mut out);
    }
    out.sort();
    out
}

/// A fingerprint per route: its deployable, and its binary's size and modification time.
fn fingerprints(served: Vec<Deployable>) -> HashMap<String, String> {
    served
        .into_iter()
        .map(|d| {
            let file = std::fs::metadata(&d.binary)
                .ok()
                .map(|m| (m.len(), m.modified().ok()));
            (d.name.clone(), format!("{d:?} {file:?}"))
        })
        .collect()
}

/// Says on stderr which merged deployments serve members' code older than their last build.
fn warn_of_stale_merges(manifest: &Manifest) {
    for (d, binary) in MergedDeployment::installed(manifest).unwrap_or_default() {
        let rebuilt = d.rebuilt_members(manifest, &binary);
        if !rebuilt.is_empty() {
            eprintln!(
                "quilt: warning: /{} serves the code {} had when it was merged; they have been \
                 built again since (merge again to serve their current code: quilt merge {} \
                 --tree <its funcTree>)",
                d.name,
                rebuilt.join(", "),
                manifest.dir.display()
            );
        }
    }
}

async fn start_platform(
    manifest: &Manifest,
    env: &[(String, String)],
    opts: &UpOptions,
) -> Result<Platform> {
    let deployables = served(manifest, env, opts)?;
    let ip = opts
        .hosts
        .as_ref()
        .map_or(Ipv4Addr::LOCALHOST, |h| h.hub_addr);
    let config = PlatformConfig {
        bind: SocketAddr::from((ip, opts.port)),
        deployables,
        idle_timeout: opts
            .idle_timeout
            .unwrap_or(Duration::from_secs_f64(manifest.platform.idle_timeout_s)),
        tracing: opts.tracing,
        span_dir: Some(manifest.work_dir().join("spans")),
        log_dir: Some(log_dir(manifest)),
        dashboard_dir: Some(dashboard_dir(manifest)),
        admin_token: admin_token_in_env(),
        otlp_endpoint: opts.otlp_endpoint.clone(),
        ..PlatformConfig::from_settings(&manifest.platform)
    };
    let platform = Platform::start(config).await?;
    write_admin_token(manifest, platform.admin_token())?;
    Ok(platform)
}

/// Spreads instances over emulated hosts round-robin: deployable j's first instance on host j,
/// its next ones on the hosts after it.
fn place(deployables: &mut [Deployable], layout: &quilt_netem::Layout) {
    let k = layout.hosts.len();
    for (j, d) in deployables.iter_mut().enumerate() {
        d.placements = (0..k)
            .map(|i| {
                let host = &layout.hosts[(j + i) % k];
                Placement {
                    prefix: host.exec_prefix(),
                    addr: host.addr.into(),
                }
            })
            .collect();
    }
}

/// Where `quilt up` keeps each function's log (`<function>.log`, read by `quilt logs`).
pub fn log_dir(manifest: &Manifest) -> PathBuf {
    manifest.work_dir().join("logs")
}

/// The folder whose files the dashboard shows (`quilt_platform::DASHBOARD_FILES`).
pub fn dashboard_dir(manifest: &Manifest) -> PathBuf {
    manifest.work_dir().join("dashboard")
}

/// Writes `bytes` as the dashboard file `name` of the app (atomically: a dashboard open at the
/// time reads the old file or the new one). `name` is one of `quilt_platform::DASHBOARD_FILES`.
pub fn publish_to_dashboard(manifest: &Manifest, name: &str, bytes: &[u8]) -> Result<()> {
    debug_assert!(quilt_platform::DASHBOARD_FILES
        .iter()
        .any(|(file, _)| *file == name));
    crate::profile::write_atomic(&dashboard_dir(manifest).join(name), bytes)
}

/// `$QUILT_ADMIN_TOKEN`, when set and not empty.
pub fn admin_token_in_env() -> Option<String> {
    std::env::var("QUILT_ADMIN_TOKEN")
        .ok()
        .filter(|t| !t.is_empty())
}

/// Where `quilt up` leaves the running platform's admin token (readable by its owner only).
pub fn admin_token_path(manifest: &Manifest) -> PathBuf {
    manifest.work_dir().join("admin-token")
}

fn write_admin_token(manifest: &Manifest, token: &str) -> Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let path = admin_token_path(manifest);
    std::fs::create_dir_all(manifest.work_dir())?;
    quilt_atomic_file::replace_with(&path, |tmp| {
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(tmp)?
            .write_all(token.as_bytes())
    })?;
    Ok(())
}

/// Parses `KEY=VALUE`.
pub fn parse_env(item: &str) -> Result<(String, String)> {
    match item.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => bail!("'{item}': expected KEY=VALUE"),
    }
}

/// Runs a container merge inside one instance: the members' binaries as processes behind an
/// internal gateway on `$QUILT_PORT`, which sends calls to other functions to `$QUILT_GATEWAY`.
pub fn run_container(app: &std::path::Path, members: &str) -> Result<()> {
    let manifest = Manifest::load(app)?;
    let members: Vec<&str> = members.split(',').collect();
    let mut deployables: Vec<Deployable> = function_deployables(&manifest)
        .into_iter()
        .filter(|d| members.contains(&d.name.as_str()))
        .collect();
    for d in &mut deployables {
        d.min_instances = 1;
        d.max_instances = 1;
        d.env.extend(
            [
                "QUILT_REDIS_ADDR",
                "QUILT_MEMCACHED_ADDR",
                FAKEDB_ENV,
                VARIANT_ENV,
            ]
            .iter()
            .filter_map(|k| Some((k.to_string(), std::env::var(k).ok()?))),
        );
    }
    let port: u16 = std::env::var("QUILT_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    let config = PlatformConfig {
        // On an emulated host (`quilt up --hosts`) the platform gives the host's address.
        bind: SocketAddr::from((
            std::env::var("QUILT_BIND")
                .ok()
                .and_then(|a| a.parse::<Ipv4Addr>().ok())
                .unwrap_or(Ipv4Addr::LOCALHOST),
            port,
        )),
        deployables,
        idle_timeout: Duration::from_secs(3600),
        upstream: std::env::var("QUILT_GATEWAY").ok(),
        ..PlatformConfig::from_settings(&manifest.platform)
    };
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()?
        .block_on(async move {
            let platform = Platform::start(config).await?;
            println!(
                "{} {}",
                quilt_runtime::server::LISTENING,
                platform.addr().port()
            );
            wait_for_signal().await;
            platform.shutdown().await;
            Ok(())
        })
}

/// With `--no-build`: every deployable's binary is there (a merge builds its members only).
fn check_built(manifest: &Manifest) -> Result<()> {
    let missing: Vec<String> = deployables(manifest)?
        .into_iter()
        .filter(|d| !d.binary.is_file())
        .map(|d| format!("{} ({})", d.name, d.binary.display()))
        .collect();
    if !missing.is_empty() {
        bail!(
            "--no-build, but not built: {}; run `quilt build {}` or drop --no-build",
            missing.join(", "),
            manifest.dir.display()
        );
    }
    Ok(())
}

/// Runs `quilt up`.
pub fn run(args: UpArgs) -> Result<()> {
    let manifest = Manifest::load(&args.app)?;
    if args.no_build {
        check_built(&manifest)?;
    } else {
        quilt_build::build_app(&manifest)?;
    }
    let mut env = args.env.clone();
    if let Some(v) = &args.variant {
        env.push((VARIANT_ENV.into(), v.clone()));
    }
    let watch = args.watch;
    let network = emulated_hosts(&args)?;
    // With emulated hosts, users still reach the gateway on 127.0.0.1 here: this listener is bound
    // before the process enters the gateway's namespace, and forwards to the gateway there.
    let front = match &network {
        Some(net) => {
            let front = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, args.port))?;
            net.enter_hub()?;
            eprintln!("quilt: {}", net.layout().describe());
            Some(front)
        }
        None => None,
    };
    let opts = UpOptions {
        port: match &front {
            Some(f) => f.local_addr()?.port(),
            None => args.port,
        },
        env,
        fakedb: args.fakedb,
        idle_timeout: args.idle_timeout.map(Duration::from_secs_f64),
        tracing: args.tracing,
        otlp_endpoint: args.otlp_endpoint.clone(),
        hosts: network.as_ref().map(|n| n.layout().clone()),
    };
    let served = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(async move {
            let app = start(&manifest, &opts).await?;
            let url = match front {
                Some(front) => {
                    let url = format!("http://{}", front.local_addr()?);
                    tokio::spawn(quilt_netem::forward(front, app.platform.addr()));
                    url
                }
                None => app.url(),
            };
            let limits = match app.platform.enforcement() {
                quilt_platform::Enforcement::NotEnforced(why) => format!("not enforced ({why})"),
                how => format!("enforced ({how:?})"),
            };
            let services: Vec<String> = app
                .services
                .iter()
                .map(|s| format!("{} on {}", s.kind, s.addr))
                .collect();
            eprintln!(
                "quilt: app '{}' serving on {} — routes: {}; memory/CPU limits {limits}{}",
                manifest.name,
                url,
                app.platform.routes().join(", "),
                if services.is_empty() {
                    String::new()
                } else {
                    format!("; services: {}", services.join(", "))
                }
            );
            warn_of_stale_merges(&manifest);
            println!("QUILT_GATEWAY {url}");
            tokio::select! {
                () = wait_for_signal() => {}
                () = app.follow_deployments(&manifest, watch) => {}
            }
            eprintln!("quilt: stopping");
            app.shutdown().await;
            Ok(())
        });
    // The namespaces go after the runtime and every instance.
    drop(network);
    served
}

/// The emulated hosts `--hosts` asks for, or None (not asked for, or not possible here: then the
/// app runs on one host, as said on stderr).
fn emulated_hosts(args: &UpArgs) -> Result<Option<quilt_netem::Network>> {
    let Some(k) = args.hosts else {
        return Ok(None);
    };
    let config = quilt_netem::HostsConfig {
        hosts: k,
        rtt: args.rtt,
        bandwidth_bps: args.bandwidth,
        link: args.link,
        storage_host: args.storage_host,
    };
    if let Some(why) = quilt_netem::unsupported_reason() {
        eprintln!("quilt: --hosts {k}: {why}; running on one host");
        return Ok(None);
    }
    Ok(Some(
        quilt_netem::Network::create(&config).with_context(|| format!("--hosts {k}"))?,
    ))
}

async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    let mut int = signal(SignalKind::interrupt()).expect("SIGINT handler");
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}
