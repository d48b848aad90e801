//! `quilt populate`: load a running app with the reference's population steps (users, follow
//! graph, movies, casts, plots, hotels, rates, profiles), so that a fresh platform can be measured.

use crate::http;
use anyhow::{bail, Result};
use clap::Args;
use quilt_manifest::Manifest;
use rand::SeedableRng;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

/// Arguments of `quilt populate`.
#[derive(Args)]
pub struct PopulateArgs {
    /// The app folder (holds quilt.toml).
    pub app: PathBuf,
    /// The gateway's URL.
    #[arg(
        long,
        env = "QUILT_GATEWAY_URL",
        default_value = "http://127.0.0.1:8080"
    )]
    pub gateway: String,
    /// Multiplies the number of requests of each step.
    #[arg(long, default_value_t = 1.0)]
    pub scale: f64,
    /// Seed of the request generators.
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
}

/// What a population run did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Populated {
    /// Requests sent.
    pub requests: u64,
    /// Requests that did not answer 2xx (re-registrations answer errors, as in the reference).
    pub errors: u64,
}

/// Runs every population step of `app` against `gateway`, 8 requests at a time.
pub async fn populate(gateway: &str, app: &str, scale: f64, seed: u64) -> Result<Populated> {
    let mut total = Populated::default();
    for step in quilt_workloads::populate_plan(app, scale) {
        let url = format!("{}/{}", gateway.trim_end_matches('/'), step.route);
        let generator = Arc::new(Mutex::new((
            step.generator,
            rand::rngs::StdRng::seed_from_u64(seed),
            step.count,
        )));
        let mut workers = Vec::new();
        for _ in 0..8 {
            let generator = Arc::clone(&generator);
            let url = url.clone();
            workers.push(tokio::spawn(async move {
                let mut done = Populated::default();
                loop {
                    let body = {
                        let mut g = generator.lock().unwrap();
                        if g.2 == 0 {
                            break;
                        }
                        g.2 -= 1;
                        let (gen, rng, _) = &mut *g;
                        gen(rng)
                    };
                    done.requests += 1;
                    match http::post(&url, body).await {
                        Ok((status, _)) if (200..300).contains(&status) => {}
                        Ok(_) => done.errors += 1,
                        Err(e) => return Err(e),
                    }
                }
                Ok(done)
            }));
        }
        let mut step_total = Populated::default();
        for w in workers {
            let d = w.await??;
            step_total.requests += d.requests;
            step_total.errors += d.errors;
        }
        eprintln!(
            "populate: {} requests to {}, {} errors",
            step_total.requests, step.route, step_total.errors
        );
        if step_total.requests > 0 && step_total.errors == step_total.requests {
            bail!(
                "every request to {} failed: is the app running with its storage?",
                step.route
            );
        }
        total.requests += step_total.requests;
        total.errors += step_total.errors;
    }
    Ok(total)
}

/// Runs `quilt populate`.
pub fn run(args: PopulateArgs) -> Result<()> {
    let manifest = Manifest::load(&args.app)?;
    let done = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(populate(
            &args.gateway,
            &manifest.name,
            args.scale,
            args.seed,
        ))?;
    if done.requests == 0 {
        eprintln!("populate: app '{}' has no population steps", manifest.name);
    }
    Ok(())
}
