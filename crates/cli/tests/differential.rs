//! Differential testing of the merging compiler, in the manner of Csmith and YARPGen: random
//! workflows of Rust, C and C++ functions (quilt-wfgen) are built, merged into one group rooted at
//! their dispatcher, served unmerged and merged on one platform, and every request's status and
//! bytes are compared.
//!
//! Seeds 1..=25 run by default; `QUILT_DIFF_SEEDS` picks others (`1-200`, `7,9`, `1-5,40`).
//! `QUILT_DIFF_KEEP=1` keeps the generated app (under the cargo target folder) and prints where.

use quilt_cli::{http, up};
use quilt_merge::tree::Tree;
use quilt_merge::{merge_group, MergeOptions};
use quilt_platform::{Platform, PlatformConfig};
use quilt_wfgen::{Request, ROOT};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use quilt_harness as common;

/// The seeds run when `QUILT_DIFF_SEEDS` is not set.
const DEFAULT_SEEDS: std::ops::RangeInclusive<u64> = 1..=25;

/// Requests in flight at once (each one a whole workflow, unmerged then merged).
const PARALLEL: usize = 4;

/// Seeds from `QUILT_DIFF_SEEDS`: comma-separated seeds and `a-b` ranges.
fn seeds() -> Vec<u64> {
    let Ok(spec) = std::env::var("QUILT_DIFF_SEEDS") else {
        return DEFAULT_SEEDS.collect();
    };
    let number = |t: &str| {
        t.trim()
            .parse::<u64>()
            .unwrap_or_else(|e| panic!("QUILT_DIFF_SEEDS={spec:?}: {t:?}: {e}"))
    };
    let mut seeds: Vec<u64> = spec
        .split(',')
        .filter(|part| !part.trim().is_empty())
        .flat_map(|part| match part.split_once('-') {
            Some((a, b)) => number(a)..=number(b),
            None => number(part)..=number(part),
        })
        .collect();
    seeds.sort();
    seeds.dedup();
    assert!(!seeds.is_empty(), "QUILT_DIFF_SEEDS={spec:?} names no seed");
    seeds
}

/// One request's answers, unmerged and merged.
struct Outcome {
    request: Request,
    unmerged: (u16, Vec<u8>),
    merged: (u16, Vec<u8>),
}

async fn post(p: &Platform, route: &str, body: &[u8]) -> (u16, Vec<u8>) {
    match http::post(&format!("http://{}/{route}", p.addr()), body.to_vec()).await {
        Ok((status, body)) => (status, body.to_vec()),
        Err(e) => (0, format!("no answer: {e:#}").into_bytes()),
    }
}

/// At most `limit` bytes of an answer, as text.
fn excerpt(answer: &(u16, Vec<u8>), limit: usize) -> String {
    let (status, body) = answer;
    let text = String::from_utf8_lossy(&body[..body.len().min(limit)]);
    let more = if body.len() > limit { " …" } else { "" };
    format!("{status} ({} bytes) {text}{more}", body.len())
}

#[tokio::test(flavor = "multi_thread")]
async fn merged_random_workflows_answer_as_unmerged() {
    let seeds = seeds();
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("quilt-diff");
    let t = Instant::now();
    let app = quilt_wfgen::write_app(&dir, &seeds, &common::root().join("crates/sdk"))
        .expect("writing the generated app");
    let manifest = common::built_at(&app.dir);
    let build_s = t.elapsed().as_secs_f64();

    let t = Instant::now();
    let tree = Tree::read(&app.tree).expect("the generated funcTree");
    let report = {
        let _lock = common::build_lock(&manifest.dir);
        merge_group(&manifest, &tree, &MergeOptions::default()).expect("the group merges")
    };
    let merge_s = t.elapsed().as_secs_f64();

    let t = Instant::now();
    let platform = Arc::new(
        Platform::start(PlatformConfig {
            bind: "127.0.0.1:0".parse().unwrap(),
            deployables: up::deployables(&manifest).unwrap(),
            idle_timeout: Duration::from_secs(300),
            ..PlatformConfig::from_settings(&manifest.platform)
        })
        .await
        .unwrap(),
    );
    let merged_route = report.name.clone();
    let slots = Arc::new(tokio::sync::Semaphore::new(PARALLEL));
    let mut tasks = tokio::task::JoinSet::new();
    for (i, request) in seeds
        .iter()
        .flat_map(|&s| quilt_wfgen::requests(s))
        .enumerate()
    {
        let (platform, slots, merged_route) =
            (platform.clone(), slots.clone(), merged_route.clone());
        tasks.spawn(async move {
            let _slot = slots.acquire().await.unwrap();
            let unmerged = post(&platform, ROOT, &request.body).await;
            let merged = post(&platform, &merged_route, &request.body).await;
            (
                i,
                Outcome {
                    request,
                    unmerged,
                    merged,
                },
            )
        });
    }
    let mut outcomes: Vec<(usize, Outcome)> = tasks.join_all().await;
    outcomes.sort_by_key(|(i, _)| *i);
    let requests_s = t.elapsed().as_secs_f64();

    let differed: Vec<&Outcome> = outcomes
        .iter()
        .map(|(_, o)| o)
        .filter(|o| o.unmerged != o.merged)
        .collect();
    for o in &differed {
        let workflow = app.workflows.iter().find(|w| w.seed == o.request.seed);
        println!(
            "differs: seed {} request {} {}\n  unmerged: {}\n  merged:   {}\n  workflow: {workflow:?}",
            o.request.seed,
            o.request.label,
            String::from_utf8_lossy(&o.request.body[..o.request.body.len().min(120)]),
            excerpt(&o.unmerged, 600),
            excerpt(&o.merged, 600),
        );
    }
    let failed = outcomes.iter().filter(|(_, o)| o.unmerged.0 != 200).count();
    println!(
        "differential: {} workflows, {} requests, {} differed ({failed} answered an error alike; \
         {} functions, {} call sites; build {build_s:.1} s, merge {merge_s:.1} s, requests {requests_s:.1} s)",
        seeds.len(),
        outcomes.len(),
        differed.len(),
        manifest.functions.len(),
        report.sites.len(),
    );
    Arc::into_inner(platform)
        .expect("every request has finished")
        .shutdown()
        .await;
    if std::env::var_os("QUILT_DIFF_KEEP").is_some_and(|v| v == "1") {
        println!(
            "differential: the generated app is in {}",
            app.dir.display()
        );
    } else {
        let _ = std::fs::remove_dir_all(&app.dir);
    }
    assert!(
        differed.is_empty(),
        "{} of {} requests answered differently merged (details above)",
        differed.len(),
        outcomes.len()
    );
}
