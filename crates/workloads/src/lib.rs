//! Request generators and population steps of the benchmark apps, with the reference's field
//! ranges (docs/BENCHMARKS.md §6). The load generator (`quilt bench --generator app/workflow`),
//! the profiler and `quilt populate` draw their requests from here.

use rand::rngs::StdRng;

pub mod examples;
pub mod hotel;
pub mod media;
pub mod social;

/// Makes request bodies for one route; keeps its own counters.
pub type Generator = Box<dyn FnMut(&mut StdRng) -> Vec<u8> + Send>;

/// One population step: `count` requests to `route`.
pub struct PopulateStep {
    /// The function to call.
    pub route: String,
    /// How many requests.
    pub count: usize,
    /// Their bodies.
    pub generator: Generator,
}

/// An app or workflow this crate has no generator for.
#[derive(Debug, thiserror::Error)]
#[error("no request generator for '{app}/{workflow}' (known: {known})")]
pub struct UnknownWorkload {
    /// The app asked for.
    pub app: String,
    /// The workflow asked for.
    pub workflow: String,
    /// What exists.
    pub known: String,
}

/// A generator for a workflow (or any route with a generator) of an app.
pub fn generator(app: &str, workflow: &str) -> Result<Generator, UnknownWorkload> {
    let found = match app {
        social::APP => social::generator(workflow),
        hotel::APP => hotel::generator(workflow),
        media::APP => media::generator(workflow),
        _ => examples::generator(app, workflow),
    };
    found.ok_or_else(|| UnknownWorkload {
        app: app.into(),
        workflow: workflow.into(),
        known: known().join(", "),
    })
}

/// `n` request bodies of a workflow's generator seeded with `seed`: the same bodies for the same
/// arguments (`quilt profile` records them; `quilt verify` replays them).
pub fn bodies(
    app: &str,
    workflow: &str,
    seed: u64,
    n: usize,
) -> Result<Vec<Vec<u8>>, UnknownWorkload> {
    use rand::SeedableRng;
    let mut generator = generator(app, workflow)?;
    let mut rng = StdRng::seed_from_u64(seed);
    Ok((0..n).map(|_| generator(&mut rng)).collect())
}

/// The population steps of an app (empty for apps without storage), scaled by `scale` (1.0: the
/// reference's id ranges, each id written once).
pub fn populate_plan(app: &str, scale: f64) -> Vec<PopulateStep> {
    let _ = scale;
    match app {
        social::APP => social::populate_plan(scale),
        hotel::APP => hotel::populate_plan(scale),
        media::APP => media::populate_plan(scale),
        _ => Vec::new(),
    }
}

/// Every `app/workflow` with a generator.
pub fn known() -> Vec<String> {
    let mut all = examples::known();
    all.extend(social::known());
    all.extend(hotel::known());
    all.extend(media::known());
    all
}
