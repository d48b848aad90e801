//! `quilt deploy`: an OCI image for every deployable of an app (each function, each merged group)
//! and the specs of a FaaS platform (Fission), written atomically into one folder; `--apply`
//! pushes the images and applies the specs.

use crate::up;
use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use quilt_deploy::fission::{self, FissionOptions};
use quilt_deploy::{Plan, Target, Unit};
use quilt_manifest::Manifest;
use std::path::PathBuf;

/// Deployment targets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum TargetArg {
    /// Fission on Kubernetes: container functions with HTTP triggers.
    Fission,
}

/// Arguments of `quilt deploy`.
#[derive(Args, Debug)]
pub struct DeployArgs {
    /// The app folder (holds quilt.toml).
    pub app: PathBuf,
    /// The platform to deploy to.
    #[arg(long, value_enum)]
    pub target: TargetArg,
    /// Output folder: OCI image layouts in DIR/images/<name>, specs in DIR/specs. Replaced whole
    /// (it must be empty or an earlier output of quilt deploy).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Registry (and path) of the image references in the specs, e.g. registry.example.com/team;
    /// without it the specs use bare names, for clusters that load images locally.
    #[arg(long, value_name = "R")]
    pub registry: Option<String>,
    /// Image tag (default: derived from each image's digest, so a changed binary is rolled out).
    #[arg(long)]
    pub tag: Option<String>,
    /// Kubernetes namespace of the resources.
    #[arg(long, default_value = "default")]
    pub namespace: String,
    /// Fission's router (`host:port`): the functions' gateway for remote invocations.
    #[arg(long, default_value = fission::DEFAULT_ROUTER)]
    pub router: String,
    /// Where functions send traces (OTEL_EXPORTER_OTLP_ENDPOINT).
    #[arg(long, default_value = fission::DEFAULT_OTLP_ENDPOINT)]
    pub otlp_endpoint: String,
    /// Extra environment for every function, KEY=VALUE (repeatable), e.g. storage addresses.
    #[arg(long = "env", value_name = "KEY=VALUE", value_parser = up::parse_env)]
    pub env: Vec<(String, String)>,
    /// Deploy only these deployables (repeatable; default: every function and merged group).
    #[arg(long = "only", value_name = "NAME")]
    pub only: Vec<String>,
    /// Package the binaries already built instead of building first.
    #[arg(long)]
    pub no_build: bool,
    /// Then push the images (with --registry, by skopeo) and apply the specs (`fission spec
    /// apply`, or `kubectl apply` without the fission CLI).
    #[arg(long)]
    pub apply: bool,
}

/// The deployables of an app as deploy units (container merges, which run the quilt binary itself
/// around the members' binaries, are not packaged).
pub fn units(manifest: &Manifest, only: &[String]) -> Result<Vec<Unit>> {
    let mut units = Vec::new();
    let merged = quilt_merge::deployment::MergedDeployment::installed(manifest)?;
    for d in up::deployables(manifest)? {
        if !only.is_empty() && !only.contains(&d.name) {
            continue;
        }
        if !d.args.is_empty() {
            eprintln!(
                "quilt: skipping '{}': container merges are not packaged as images",
                d.name
            );
            continue;
        }
        if !d.binary.is_file() {
            bail!(
                "'{}': no binary at {} (run `quilt build` or drop --no-build)",
                d.name,
                d.binary.display()
            );
        }
        // A merged group's route, or a root's route that its merged group serves: the group's
        // members; otherwise the function alone.
        let members = merged
            .iter()
            .find(|(m, _)| m.name == d.name || (m.serves_root && m.root == d.name))
            .map_or_else(|| vec![d.name.clone()], |(m, _)| m.members.clone());
        units.push(Unit {
            name: d.name,
            entry: d.entry,
            binary: d.binary,
            memory_mb: d.memory_mb,
            cpu: d.cpu,
            min_scale: d.min_instances,
            max_scale: d.max_instances,
            concurrency: d.concurrency,
            timeout_ms: d.timeout.as_millis() as u64,
            members,
        });
    }
    for name in only {
        if !units.iter().any(|u| &u.name == name) {
            bail!("--only {name}: the app has no deployable of that name");
        }
    }
    Ok(units)
}

/// Runs `quilt deploy`.
pub fn run(args: DeployArgs) -> Result<()> {
    let manifest = Manifest::load(&args.app)?;
    let env = args.env.clone();
    if let Some(t) = &args.tag {
        quilt_deploy::oci::check_tag(t)?;
    }
    if args.apply {
        // Say what is missing before the work, not after.
        quilt_deploy::check_apply(&args.out, args.registry.is_some())?;
    }
    if !args.no_build {
        quilt_build::build_app(&manifest)?;
    }
    let plan = Plan {
        app: manifest.name.clone(),
        target: match args.target {
            TargetArg::Fission => Target::Fission,
        },
        units: units(&manifest, &args.only)?,
        registry: args.registry.clone(),
        tag: args.tag.clone(),
        fission: FissionOptions {
            namespace: args.namespace.clone(),
            router: args.router.clone(),
            otlp_endpoint: args.otlp_endpoint.clone(),
            idle_timeout_s: manifest.platform.idle_timeout_s.ceil() as u64,
            env,
        },
    };
    let report = quilt_deploy::write(&plan, &args.out)
        .with_context(|| format!("writing {}", args.out.display()))?;
    for image in &report.images {
        println!(
            "{}\t{}\t{:.1} MiB\t{}",
            image.name,
            image.image,
            image.layers_bytes as f64 / (1 << 20) as f64,
            args.out.join(&image.layout).display()
        );
    }
    let specs = args.out.join("specs");
    eprintln!(
        "quilt: {} images in {}, Fission specs in {}",
        report.images.len(),
        args.out.join("images").display(),
        specs.display()
    );
    if args.apply {
        let applied = quilt_deploy::apply(&report, &args.out)?;
        for c in applied.commands {
            eprintln!("quilt: ran {c}");
        }
    } else {
        if report.registry.is_some() {
            eprintln!(
                "quilt: push the images with {}",
                args.out.join("images/push.sh").display()
            );
        }
        eprintln!(
            "quilt: apply with `fission spec apply --specdir {}` (or quilt deploy --apply)",
            specs.display()
        );
    }
    Ok(())
}
