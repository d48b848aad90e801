//! `quilt up`: build an app and serve it on the local platform until SIGINT or SIGTERM.

use anyhow::Result;
use clap::Args;
use quilt_manifest::Manifest;
use quilt_merge::deployment::MergedDeployment;
use quilt_platform::{Deployable, Platform, PlatformConfig};
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

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
    /// Seconds an instance above the minimum may stay idle (default: the manifest's).
    #[arg(long)]
    pub idle_timeout: Option<f64>,
}

/// The deployables of an app's functions, from their built binaries.
pub fn function_deployables(manifest: &Manifest) -> Vec<Deployable> {
    manifest
        .functions
        .iter()
        .map(|f| Deployable {
            name: f.name.clone(),
            binary: manifest.work_dir().join("bin").join(&f.name),
            entry: f.name.clone(),
            memory_mb: f.memory_mb,
            cpu: f.cpu,
            min_instances: f.min_instances,
            max_instances: f.max_instances,
            concurrency: f.concurrency,
            queue: f.queue,
            timeout: Duration::from_millis(f.timeout_ms),
            env: Vec::new(),
        })
        .collect()
}

/// The deployables of an app's installed merged binaries (`<root>-merged`), scaled like their root.
pub fn merged_deployables(manifest: &Manifest) -> Result<Vec<Deployable>> {
    let mut out = Vec::new();
    for (d, binary) in MergedDeployment::installed(manifest)? {
        let root = manifest
            .function(&d.root)
            .expect("installed() checks members");
        out.push(Deployable {
            name: d.name,
            binary,
            entry: d.root.clone(),
            memory_mb: d.memory_mb,
            cpu: d.cpu,
            min_instances: root.min_instances,
            max_instances: root.max_instances,
            concurrency: root.concurrency,
            queue: root.queue,
            timeout: Duration::from_millis(root.timeout_ms),
            env: Vec::new(),
        });
    }
    Ok(out)
}

/// Every deployable of an app: its functions and its installed merged binaries.
pub fn deployables(manifest: &Manifest) -> Result<Vec<Deployable>> {
    let mut all = function_deployables(manifest);
    all.extend(merged_deployables(manifest)?);
    Ok(all)
}

/// Runs `quilt up`.
pub fn run(args: UpArgs) -> Result<()> {
    let manifest = Manifest::load(&args.app)?;
    if !args.no_build {
        quilt_build::build_app(&manifest)?;
    }
    let config = PlatformConfig {
        bind: SocketAddr::from((Ipv4Addr::LOCALHOST, args.port)),
        deployables: deployables(&manifest)?,
        idle_timeout: Duration::from_secs_f64(
            args.idle_timeout
                .unwrap_or(manifest.platform.idle_timeout_s),
        ),
        max_body_bytes: manifest.platform.max_body_bytes,
    };
    let routes: Vec<String> = config.deployables.iter().map(|d| d.name.clone()).collect();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(async move {
            let platform = Platform::start(config).await?;
            let limits = match platform.enforcement() {
                quilt_platform::Enforcement::NotEnforced(why) => format!("not enforced ({why})"),
                how => format!("enforced ({how:?})"),
            };
            eprintln!(
                "quilt: app '{}' serving on http://{} — routes: {}; memory/CPU limits {limits}",
                manifest.name,
                platform.addr(),
                routes.join(", ")
            );
            println!("QUILT_GATEWAY http://{}", platform.addr());
            wait_for_signal().await;
            eprintln!("quilt: stopping");
            platform.shutdown().await;
            Ok(())
        })
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
