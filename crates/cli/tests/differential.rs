//! Differential testing of the merging compiler, in the manner of Csmith and YARPGen: random
//! workflows of Rust, C and C++ functions (quilt-wfgen) are built, merged into one group rooted at
//! their dispatcher, served unmerged and merged on one platform, and every request's status and
//! bytes are compared.
//!
//! Seeds 1..=25 run by default; `QUILT_DIFF_SEEDS` picks others (`1-200`, `7,9`, `1-5,40`).
//! `QUILT_DIFF_KEEP=1` keeps the generated app (under the cargo target folder) and prints where.

use quilt_cli::{http, up};
use quilt_manifest::Manifest;
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

/// The merges every workflow is compared under.
fn variants() -> [(&'static str, MergeOptions); 3] {
    [
        ("plain", MergeOptions::default()),
        // Every asynchronous call beyond the first in flight per callee falls back to the gateway
        // and the callee's own deployment.
        (
            "fan-out threshold 1",
            MergeOptions {
                fanout_threshold: 1,
                ..MergeOptions::default()
            },
        ),
        (
            "hardened",
            MergeOptions {
                harden: true,
                ..MergeOptions::default()
            },
        ),
    ]
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

/// How many requests the gateway routed to the app's own functions (not to merged deployments).
async fn member_requests(p: &Platform, manifest: &Manifest) -> u64 {
    let mut total = 0;
    for f in &manifest.functions {
        total += common::requests(p.addr(), &f.name).await;
    }
    total
}

/// Every request's answer from `route`, `PARALLEL` requests at a time, in order.
async fn ask_all(
    platform: &Arc<Platform>,
    route: &str,
    requests: &[Request],
) -> Vec<(u16, Vec<u8>)> {
    let slots = Arc::new(tokio::sync::Semaphore::new(PARALLEL));
    let mut tasks = tokio::task::JoinSet::new();
    for (i, request) in requests.iter().enumerate() {
        let (platform, slots, route, body) = (
            platform.clone(),
            slots.clone(),
            route.to_string(),
            request.body.clone(),
        );
        tasks.spawn(async move {
            let _slot = slots.acquire().await.unwrap();
            (i, post(&platform, &route, &body).await)
        });
    }
    let mut answers = tasks.join_all().await;
    answers.sort_by_key(|(i, _)| *i);
    answers.into_iter().map(|(_, a)| a).collect()
}

/// Merges the group with `opts`, serves the app, asks the unmerged root every request unless
/// `unmerged` holds its answers already, then asks the merged route. Returns the outcomes and how
/// many requests reached the app's own functions while only the merged route was asked (calls that
/// fell back to the gateway).
async fn answers(
    manifest: &Manifest,
    tree: &Tree,
    opts: &MergeOptions,
    requests: &[Request],
    unmerged: Option<&[(u16, Vec<u8>)]>,
) -> (Vec<Outcome>, u64) {
    let report = {
        let _lock = common::build_lock(&manifest.dir);
        merge_group(manifest, tree, opts).expect("the group merges")
    };
    let platform = Arc::new(
        Platform::start(PlatformConfig {
            bind: "127.0.0.1:0".parse().unwrap(),
            deployables: up::deployables(manifest).unwrap(),
            idle_timeout: Duration::from_secs(300),
            ..PlatformConfig::from_settings(&manifest.platform)
        })
        .await
        .unwrap(),
    );
    let unmerged = match unmerged {
        Some(known) => known.to_vec(),
        None => ask_all(&platform, ROOT, requests).await,
    };
    let before = member_requests(&platform, manifest).await;
    let merged = ask_all(&platform, &report.name, requests).await;
    let fell_back = member_requests(&platform, manifest).await - before;
    Arc::into_inner(platform)
        .expect("every request has finished")
        .shutdown()
        .await;
    let outcomes = requests
        .iter()
        .zip(unmerged.into_iter().zip(merged))
        .map(|(request, (unmerged, merged))| Outcome {
            request: request.clone(),
            unmerged,
            merged,
        })
        .collect();
    (outcomes, fell_back)
}

#[tokio::test(flavor = "multi_thread")]
async fn merged_random_workflows_answer_as_unmerged() {
    let seeds = seeds();
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("quilt-diff");
    let t = Instant::now();
    let app = quilt_wfgen::write_app(&dir, &seeds, &common::root().join("crates/sdk"))
        .expect("writing the generated app");
    let manifest = common::built_at(&app.dir);
    println!("differential: build {:.1} s", t.elapsed().as_secs_f64());
    let tree = Tree::read(&app.tree).expect("the generated funcTree");
    let requests: Vec<Request> = seeds
        .iter()
        .flat_map(|&s| quilt_wfgen::requests(s))
        .collect();

    let mut unmerged: Option<Vec<(u16, Vec<u8>)>> = None;
    let mut differed_total = 0;
    for (variant, opts) in variants() {
        let t = Instant::now();
        let (outcomes, fell_back) =
            answers(&manifest, &tree, &opts, &requests, unmerged.as_deref()).await;
        let differed: Vec<&Outcome> = outcomes.iter().filter(|o| o.unmerged != o.merged).collect();
        for o in &differed {
            let workflow = app.workflows.iter().find(|w| w.seed == o.request.seed);
            println!(
                "differs ({variant}): seed {} request {} {}\n  unmerged: {}\n  merged:   {}\n  workflow: {workflow:?}",
                o.request.seed,
                o.request.label,
                String::from_utf8_lossy(&o.request.body[..o.request.body.len().min(120)]),
                excerpt(&o.unmerged, 600),
                excerpt(&o.merged, 600),
            );
        }
        let failed = outcomes.iter().filter(|o| o.unmerged.0 != 200).count();
        println!(
            "differential ({variant}): {} workflows, {} requests, {} differed ({failed} answered an \
             error alike; {} functions; {fell_back} calls fell back to the gateway; merge and \
             requests {:.1} s)",
            seeds.len(),
            outcomes.len(),
            differed.len(),
            manifest.functions.len(),
            t.elapsed().as_secs_f64(),
        );
        if opts.fanout_threshold == 0 {
            assert_eq!(fell_back, 0, "{variant}: a merged call went to the gateway");
        } else if std::env::var_os("QUILT_DIFF_SEEDS").is_none() {
            assert!(fell_back > 0, "{variant}: no call fell back to the gateway");
        }
        differed_total += differed.len();
        unmerged.get_or_insert_with(|| outcomes.into_iter().map(|o| o.unmerged).collect());
    }
    if std::env::var_os("QUILT_DIFF_KEEP").is_some_and(|v| v == "1") {
        println!(
            "differential: the generated app is in {}",
            app.dir.display()
        );
    } else {
        let _ = std::fs::remove_dir_all(&app.dir);
    }
    assert_eq!(
        differed_total, 0,
        "{differed_total} answers differed merged (details above)"
    );
}
