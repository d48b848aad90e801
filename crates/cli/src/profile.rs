//! `quilt profile`: drive a workflow with tracing on, then turn its spans and resource samples into
//! the call graph that `quilt plan` reads.

use crate::{http, up};
use anyhow::{bail, Context, Result};
use clap::Args;
use quilt_manifest::Manifest;
use quilt_platform::spans::Span;
use quilt_platform::Resources;
use quilt_profile::ProfileGraph;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Arguments of `quilt profile`.
#[derive(Args)]
pub struct ProfileArgs {
    /// The app folder (holds quilt.toml).
    pub app: PathBuf,
    /// The workflow to profile.
    #[arg(long)]
    pub workflow: String,
    /// Workflow runs to drive.
    #[arg(long, default_value_t = 100)]
    pub requests: u64,
    /// Requests in flight at once.
    #[arg(long, default_value_t = 1)]
    pub concurrency: usize,
    /// Where to write the call graph (node-link JSON).
    #[arg(long)]
    pub out: PathBuf,
    /// Also write the graph in Graphviz dot.
    #[arg(long)]
    pub dot: Option<PathBuf>,
    /// Also draw the graph as SVG (needs Graphviz's `dot`).
    #[arg(long)]
    pub svg: Option<PathBuf>,
    /// How the app is reached.
    #[command(flatten)]
    pub reach: up::ReachArgs,
    /// A fixed request body, as JSON text, instead of the workflow's generator (as `quilt invoke
    /// --data`).
    #[arg(long, value_name = "JSON", conflicts_with = "body")]
    pub data: Option<String>,
    /// A file holding a fixed request body, instead of the workflow's generator.
    #[arg(long, value_name = "FILE")]
    pub body: Option<PathBuf>,
    /// Per-instance memory limit (MiB) written into the graph for the solver [default: the
    /// manifest's platform.max_instance_memory_mb].
    #[arg(long)]
    pub memory: Option<f64>,
    /// Per-instance CPU limit (cores) written into the graph for the solver [default: the
    /// manifest's platform.max_instance_cpu].
    #[arg(long)]
    pub cpu: Option<f64>,
}

/// One profiling run against a gateway.
pub struct Profiling<'a> {
    /// The gateway's base URL.
    pub gateway: &'a str,
    /// Its admin token (to switch tracing on).
    pub admin_token: &'a str,
    /// The app's name (for its generators).
    pub app: &'a str,
    /// The workflow.
    pub workflow: &'a str,
    /// The workflow's entry function.
    pub entry: &'a str,
    /// A fixed body, or None for the workflow's generator.
    pub body: Option<Vec<u8>>,
    /// Runs.
    pub requests: u64,
    /// Requests in flight.
    pub concurrency: usize,
    /// Limits written into the graph.
    pub limits: (Option<f64>, Option<f64>),
}

impl Profiling<'_> {
    /// The request bodies the run sends: the fixed body, or the workflow's generator with seed 1.
    pub fn bodies(&self) -> Result<Vec<Vec<u8>>> {
        let n = self.requests as usize;
        Ok(match &self.body {
            Some(b) => vec![b.clone(); n],
            None => quilt_workloads::bodies(self.app, self.workflow, 1, n)?,
        })
    }
}

async fn get_json<T: serde::de::DeserializeOwned>(url: &str) -> Result<T> {
    let (status, body) = http::get(url).await?;
    if status != 200 {
        bail!(
            "{url} answered HTTP {status}: {}",
            String::from_utf8_lossy(&body)
        );
    }
    serde_json::from_slice(&body).with_context(|| format!("reading {url}"))
}

#[derive(serde::Deserialize)]
struct SpanPage {
    next: u64,
    spans: Vec<Span>,
}

#[derive(serde::Deserialize)]
struct ResourcePage {
    functions: HashMap<String, Resources>,
}

async fn set_tracing(gateway: &str, token: &str, on: bool) -> Result<()> {
    let (status, body) = http::request_with(
        hyper::Method::POST,
        &format!("{gateway}/_quilt/tracing"),
        if on { "on" } else { "off" }.into(),
        &[("authorization", &format!("Bearer {token}"))],
    )
    .await?;
    if status != 200 {
        bail!(
            "switching tracing failed: HTTP {status}: {}",
            String::from_utf8_lossy(&body)
        );
    }
    Ok(())
}

/// Drives the workflow with tracing on and builds its call graph.
pub async fn profile(p: &Profiling<'_>) -> Result<ProfileGraph> {
    let base = p.gateway.trim_end_matches('/');
    let bodies = p.bodies()?;
    set_tracing(base, p.admin_token, true).await?;
    let start: SpanPage = get_json(&format!("{base}/_quilt/spans?after={}", u64::MAX)).await?;
    let before: ResourcePage = get_json(&format!("{base}/_quilt/resources")).await?;
    let queue = Arc::new(Mutex::new(bodies));
    let failed = Arc::new(AtomicU64::new(0));
    let url = format!("{base}/{}", p.entry);
    let mut workers = Vec::new();
    for _ in 0..p.concurrency.max(1) {
        let (queue, failed, url) = (Arc::clone(&queue), Arc::clone(&failed), url.clone());
        workers.push(tokio::spawn(async move {
            loop {
                let Some(body) = queue.lock().unwrap().pop() else {
                    return;
                };
                match http::post(&url, body).await {
                    Ok((s, _)) if (200..300).contains(&s) => {}
                    _ => {
                        failed.fetch_add(1, Ordering::Relaxed);
                    }
                }
            }
        }));
    }
    for w in workers {
        w.await?;
    }
    let after: ResourcePage = get_json(&format!("{base}/_quilt/resources")).await?;
    let page: SpanPage = get_json(&format!("{base}/_quilt/spans?after={}", start.next)).await?;
    set_tracing(base, p.admin_token, false).await?;
    let failed = failed.load(Ordering::Relaxed);
    if failed * 2 > p.requests {
        bail!(
            "{failed} of {} requests to {} failed: is the app populated and its storage running?",
            p.requests,
            p.entry
        );
    }
    let delta = quilt_profile::resource_delta(&before.functions, &after.functions);
    Ok(quilt_profile::build_graph(
        &page.spans,
        p.entry,
        &delta,
        p.limits,
    ))
}

/// Writes the graph (JSON, and dot/SVG when asked) atomically.
pub fn write_graph(
    g: &ProfileGraph,
    out: &Path,
    dot: Option<&Path>,
    svg: Option<&Path>,
) -> Result<()> {
    write_atomic(out, g.to_json().as_bytes())?;
    if let Some(dot) = dot {
        write_atomic(dot, g.to_dot().as_bytes())?;
    }
    if let Some(svg) = svg {
        let mut child = std::process::Command::new("dot")
            .arg("-Tsvg")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .context("running Graphviz's dot (scripts/setup.sh installs graphviz)")?;
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(g.to_dot().as_bytes())?;
        let output = child.wait_with_output()?;
        if !output.status.success() {
            bail!("dot failed to draw the graph");
        }
        write_atomic(svg, &output.stdout)?;
    }
    Ok(())
}

/// Writes `bytes` to `path` through a temporary file beside it (creating its folder); the error
/// names the file.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    quilt_atomic_file::write(path, bytes).with_context(|| format!("writing {}", path.display()))
}

/// The body to send for a workflow when none is given on the command line: the one its manifest
/// declares, else None for its built-in generator; an error naming `--data`, `--body` and the
/// manifest's `body` when it has neither.
pub fn workflow_body(
    manifest: &Manifest,
    workflow: &quilt_manifest::Workflow,
) -> Result<Option<Vec<u8>>> {
    if let Some(body) = &workflow.body {
        return Ok(Some(body.bytes()?));
    }
    if quilt_workloads::generator(&manifest.name, &workflow.name).is_err() {
        anyhow::bail!(
            "{}: workflow '{}' has no built-in request generator and declares no request body; \
             give one with --data '<json>' or --body <file>, or declare it in the workflow \
             (body = '<json>' or body_file = \"<file>\")",
            manifest.dir.join("quilt.toml").display(),
            workflow.name
        );
    }
    Ok(None)
}

/// The per-instance limits (MiB, cores) a profile of the app gives the solver: those given, else
/// the largest instance of the manifest's platform.
pub fn instance_limits(manifest: &Manifest, memory: Option<f64>, cpu: Option<f64>) -> (f64, f64) {
    (
        memory.unwrap_or(manifest.platform.max_instance_memory_mb as f64),
        cpu.unwrap_or(manifest.platform.max_instance_cpu),
    )
}

/// Shows a profiled graph, and the solver's plan for it when there is one, on the app's dashboard.
pub fn publish(
    manifest: &Manifest,
    graph: &ProfileGraph,
    plan: Option<&quilt_solver::Plan>,
) -> Result<()> {
    up::publish_to_dashboard(manifest, "graph.json", graph.to_json().as_bytes())?;
    match plan {
        Some(plan) => up::publish_to_dashboard(manifest, "plan.json", plan.to_json().as_bytes()),
        None => Ok(()),
    }
}

/// The solver's plan for a profiled graph within its own limits (the solver picks the algorithm,
/// 10 s at most), as `quilt optimize` makes it.
pub fn plan(graph: &ProfileGraph) -> Result<quilt_solver::Plan> {
    let call_graph =
        quilt_solver::CallGraph::from_json_str(&graph.to_json(), "profiled call graph")?;
    let limits = call_graph.limits(None, None, None)?;
    Ok(quilt_solver::solve(
        &call_graph,
        &limits,
        &quilt_solver::SolveOptions {
            algorithm: quilt_solver::Algorithm::Auto,
            time_limit: std::time::Duration::from_secs(10),
            seed: 1,
        },
    )?)
}

/// Runs `quilt profile`.
pub fn run(args: ProfileArgs) -> Result<()> {
    let manifest = Manifest::load(&args.app)?;
    let workflow = manifest.workflow(&args.workflow).with_context(|| {
        format!(
            "app '{}' has no workflow '{}' (it has: {})",
            manifest.name,
            args.workflow,
            manifest
                .workflows
                .iter()
                .map(|w| w.name.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        )
    })?;
    let body = match (&args.data, &args.body) {
        (Some(data), _) => Some(data.clone().into_bytes()),
        (None, Some(file)) => {
            Some(std::fs::read(file).with_context(|| format!("reading {}", file.display()))?)
        }
        (None, None) => workflow_body(&manifest, workflow)?,
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let (graph, bodies) = rt.block_on(async {
        let (gateway, running) = up::reach(&manifest, &args.reach).await?;
        let token = match &running {
            Some(app) => app.platform.admin_token().to_string(),
            None => match up::admin_token_in_env() {
                Some(token) => token,
                None => std::fs::read_to_string(up::admin_token_path(&manifest))
                    .context("reading the admin token that `quilt up` wrote")?
                    .trim()
                    .to_string(),
            },
        };
        let profiling = Profiling {
            gateway: &gateway,
            admin_token: &token,
            app: &manifest.name,
            workflow: &workflow.name,
            entry: &workflow.entry,
            body,
            requests: args.requests,
            concurrency: args.concurrency,
            limits: {
                let (memory, cpu) = instance_limits(&manifest, args.memory, args.cpu);
                (Some(memory), Some(cpu))
            },
        };
        let result = profile(&profiling).await;
        if let Some(app) = running {
            app.shutdown().await;
        }
        Ok::<_, anyhow::Error>((result?, profiling.bodies()?))
    })?;
    write_graph(&graph, &args.out, args.dot.as_deref(), args.svg.as_deref())?;
    let plan = plan(&graph)
        .map_err(|e| eprintln!("profile: no plan for the dashboard: {e:#}"))
        .ok();
    if let Err(e) = publish(&manifest, &graph, plan.as_ref()) {
        eprintln!("profile: not shown on the dashboard: {e:#}");
    }
    let requests = args.out.with_extension("requests.jsonl");
    match crate::verify::requests_jsonl(&bodies) {
        Some(lines) => write_atomic(&requests, lines.as_bytes())?,
        None => eprintln!(
            "profile: the request body is not JSON, so no {} for `quilt verify --requests`",
            requests.display()
        ),
    }
    eprintln!(
        "profile: {} runs of '{}': {} functions, {} edges → {}",
        graph.graph.runs,
        args.workflow,
        graph.nodes.len(),
        graph.links.len(),
        args.out.display()
    );
    Ok(())
}
