//! `quilt`: build functions, run them on the local platform, invoke them, merge them.

use quilt_cli::{
    bench, deploy, http, logs, merge, optimize, populate, profile, scaffold, up, verify,
};

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use std::path::PathBuf;

/// The environment variables `quilt` reads, shown under `quilt --help`.
const ENVIRONMENT: &str = "\
Environment:
  QUILT_LOG          Log filter for quilt's own messages on stderr, e.g. debug, quilt_platform=trace
                     [default: info]
  QUILT_HOME         The Quilt source tree whose runtime and SDK functions are built against
                     [default: the tree this quilt was built from]
  QUILT_TARGET_DIR   A cargo target folder shared by every app's generated crates, so that apps
                     share compiled dependencies [default: <app>/.quilt/target]
  QUILT_GATEWAY_URL  The gateway `quilt invoke` calls [default: http://127.0.0.1:8080]
  QUILT_EXE          The quilt executable that runs container merges [default: this program]
  QUILT_ADMIN_TOKEN  The admin token `quilt up` gives its gateway, and the one `quilt profile
                     --gateway` presents [default: a random token, left in <app>/.quilt/admin-token]
Set by the platform for the instances it starts (a container merge reads them too):
  QUILT_PORT, QUILT_BIND, QUILT_GATEWAY, QUILT_FUNCTION  its port, address, gateway and function
  QUILT_VARIANT, QUILT_FAKEDB, QUILT_REDIS_ADDR, QUILT_MEMCACHED_ADDR  the app's variant, fake-database
                     mode and storage addresses (`quilt up --variant`, `--fakedb`, its services)";

#[derive(Parser)]
#[command(
    name = "quilt",
    version,
    about = "Resource-aware merging of serverless workflows",
    after_help = ENVIRONMENT
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create a new app: a folder with quilt.toml and a first function, `hello`.
    New(scaffold::NewArgs),
    /// Add a function to an app, from a template that builds as it is.
    Add(scaffold::AddArgs),
    /// Print a function's log (what its instances wrote on stdout and stderr under `quilt up`).
    Logs(logs::LogsArgs),
    /// Build every function of an app as its own binary.
    Build {
        /// The app folder (holds quilt.toml).
        app: PathBuf,
    },
    /// Run an app on the local platform: a gateway and one process per function instance.
    Up(up::UpArgs),
    /// Package every deployable as an OCI image and write a FaaS platform's specs (Fission).
    Deploy(deploy::DeployArgs),
    /// Merge a workflow's functions into one binary at the LLVM IR level.
    Merge(merge::MergeArgs),
    /// Runs a container merge inside one instance (started by the platform).
    #[command(name = "__container", hide = true)]
    Container {
        /// The app folder.
        app: PathBuf,
        /// The members, comma-separated, root first.
        #[arg(long)]
        members: String,
    },
    /// Replay requests against a function and its merged group and report every difference.
    Verify(verify::VerifyArgs),
    /// Choose which functions to merge under per-instance memory and CPU limits.
    Plan(quilt_solver::cli::PlanCommand),
    /// Run an experiment and write its results under results/<name>/.
    Experiment(quilt_cli::experiment::ExperimentCommand),
    /// The whole job: build, profile, plan, merge, and measure merged against baseline.
    Optimize(optimize::OptimizeArgs),
    /// Drive a workflow with tracing on and write its call graph for `quilt plan`.
    Profile(profile::ProfileArgs),
    /// Load a running app with its population steps (users, movies, hotels, ...).
    Populate(populate::PopulateArgs),
    /// Load a function with requests and report throughput and latency.
    Bench(bench::BenchArgs),
    /// Print a shell completion script, e.g. `quilt completions bash > ~/.local/share/bash-completion/completions/quilt`.
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    /// Invoke a function through a running gateway and print its reply.
    Invoke {
        /// The function (route) to invoke.
        function: String,
        /// The JSON request body.
        #[arg(long, conflicts_with = "data_file")]
        data: Option<String>,
        /// A file holding the request body.
        #[arg(long)]
        data_file: Option<PathBuf>,
        /// The gateway's URL.
        #[arg(
            long,
            env = "QUILT_GATEWAY_URL",
            default_value = "http://127.0.0.1:8080"
        )]
        gateway: String,
    },
}

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("QUILT_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();
    if let Err(e) = run(Cli::parse()) {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn run(cli: Cli) -> Result<()> {
    // A line per build and merge stage; spinners too for the commands that only build and merge
    // (on a terminal: a running platform's own output would interleave with them).
    use std::io::IsTerminal;
    let builds_only = matches!(
        cli.command,
        Command::Build { .. } | Command::Merge(_) | Command::Optimize(_)
    );
    quilt_build::progress::show(true, builds_only && std::io::stderr().is_terminal());
    match cli.command {
        Command::Build { app } => {
            let manifest = quilt_manifest::Manifest::load(&app)?;
            for (name, path) in quilt_build::build_app(&manifest)? {
                println!("{name}\t{}", path.display());
            }
            Ok(())
        }
        Command::New(args) => scaffold::new_app(&args),
        Command::Add(args) => scaffold::add_function(&args),
        Command::Logs(args) => logs::run(&args),
        Command::Up(args) => up::run(args),
        Command::Deploy(args) => deploy::run(args),
        Command::Container { app, members } => up::run_container(&app, &members),
        Command::Merge(args) => merge::run(args),
        Command::Verify(args) => verify::run(args),
        Command::Bench(args) => bench::run(args),
        Command::Profile(args) => profile::run(args),
        Command::Optimize(args) => optimize::run(args),
        Command::Populate(args) => populate::run(args),
        Command::Plan(cmd) => quilt_solver::cli::run(cmd),
        Command::Experiment(e) => e.run(),
        Command::Completions { shell } => {
            use clap::CommandFactory;
            clap_complete::generate(shell, &mut Cli::command(), "quilt", &mut std::io::stdout());
            Ok(())
        }
        Command::Invoke {
            function,
            data,
            data_file,
            gateway,
        } => {
            let body = match (data, data_file) {
                (Some(d), _) => d.into_bytes(),
                (None, Some(f)) => {
                    std::fs::read(&f).with_context(|| format!("reading {}", f.display()))?
                }
                (None, None) => b"{}".to_vec(),
            };
            let url = format!("{}/{function}", gateway.trim_end_matches('/'));
            let (status, reply) = http::post_blocking(&url, body)?;
            let text = String::from_utf8_lossy(&reply);
            if (200..300).contains(&status) {
                println!("{text}");
                Ok(())
            } else {
                anyhow::bail!("{function} answered HTTP {status}: {text}")
            }
        }
    }
}
