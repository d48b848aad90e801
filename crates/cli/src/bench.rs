//! `quilt bench`: load a function through the gateway and report throughput and latency.

use anyhow::{Context, Result};
use clap::Args;
use quilt_bench::{Bodies, Load, Outcome, Spec};
use std::path::PathBuf;
use std::time::Duration;

/// Arguments of `quilt bench`.
#[derive(Args)]
pub struct BenchArgs {
    /// The URL to POST to, e.g. http://127.0.0.1:8080/compose-post.
    #[arg(long)]
    pub url: String,
    /// A file holding the request body (default: `{}`).
    #[arg(long, conflicts_with = "generator")]
    pub body: Option<PathBuf>,
    /// The request body itself, as JSON text (as `quilt invoke --data`).
    #[arg(long, value_name = "JSON", conflicts_with_all = ["body", "generator"])]
    pub data: Option<String>,
    /// Draw bodies from a workload generator, `<app>/<workflow>`.
    #[arg(long, value_name = "APP/WORKFLOW")]
    pub generator: Option<String>,
    /// Closed loop: this many connections, one request in flight each.
    #[arg(long, short = 'c')]
    pub connections: Option<usize>,
    /// Open loop: this many requests per second (latency corrected for coordinated omission).
    #[arg(long, short = 'R')]
    pub rate: Option<f64>,
    /// Measured duration, e.g. 30s, 2m.
    #[arg(long, short = 'd', value_parser = humantime::parse_duration)]
    pub duration: Duration,
    /// Warm-up before measuring, excluded from the figures.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "0s")]
    pub warmup: Duration,
    /// Seed of the workload generator.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Print the outcome as JSON.
    #[arg(long)]
    pub json: bool,
}

/// Where bodies come from, from `--body` / `--generator`.
pub fn bodies(body: Option<&PathBuf>, generator: Option<&str>, seed: u64) -> Result<Bodies> {
    Ok(match (body, generator) {
        (Some(file), _) => Bodies::Fixed(
            std::fs::read(file)
                .with_context(|| format!("reading {}", file.display()))?
                .into(),
        ),
        (None, Some(g)) => {
            let (app, workflow) = g
                .split_once('/')
                .with_context(|| format!("--generator '{g}': expected <app>/<workflow>"))?;
            // Fail now, with the list of known generators, rather than at the first request.
            drop(quilt_workloads::generator(app, workflow)?);
            Bodies::Workload {
                app: app.into(),
                workflow: workflow.into(),
                seed,
            }
        }
        (None, None) => Bodies::Fixed("{}".into()),
    })
}

/// Runs `quilt bench`.
pub fn run(args: BenchArgs) -> Result<()> {
    let load = match (args.connections, args.rate) {
        (_, Some(rate)) => Load::Open {
            rate,
            connections: args.connections.unwrap_or(32),
        },
        (Some(connections), None) => Load::Closed { connections },
        (None, None) => anyhow::bail!("give --connections C (closed loop) or --rate R (open loop)"),
    };
    let spec = Spec {
        url: args.url.clone(),
        bodies: match &args.data {
            Some(data) => Bodies::Fixed(data.clone().into()),
            None => bodies(args.body.as_ref(), args.generator.as_deref(), args.seed)?,
        },
        load,
        duration: args.duration,
        warmup: args.warmup,
        progress: !args.json,
    };
    let outcome = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(quilt_bench::run(spec))?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&outcome)?);
    } else {
        print_text(&args.url, &outcome);
    }
    if let Some(why) = &outcome.partial {
        anyhow::bail!("run ended early ({why}); the figures above cover what was measured");
    }
    Ok(())
}

fn print_text(url: &str, o: &Outcome) {
    println!(
        "{url}: {} requests, {} errors in {:.1}s = {:.0} req/s; latency ms p50 {:.3} p90 {:.3} p99 {:.3} p99.9 {:.3} max {:.3}",
        o.requests,
        o.errors,
        o.duration_s,
        o.throughput_rps,
        o.latency_ms.p50,
        o.latency_ms.p90,
        o.latency_ms.p99,
        o.latency_ms.p999,
        o.latency_ms.max
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_body_sources_are_named() {
        let err = |r: Result<Bodies>| format!("{:#}", r.err().expect("an error"));
        let e = err(bodies(None, Some("social-network/nope"), 1));
        assert!(
            e.contains("no request generator for 'social-network/nope'")
                && e.contains("social-network/compose-post"),
            "{e}"
        );
        let e = err(bodies(None, Some("compose-post"), 1));
        assert!(e.contains("expected <app>/<workflow>"), "{e}");
        let missing = PathBuf::from("/nonexistent/body.json");
        let e = err(bodies(Some(&missing), None, 1));
        assert!(e.contains("reading /nonexistent/body.json"), "{e}");
        assert!(bodies(None, Some("social-network/compose-post"), 1).is_ok());
    }
}
