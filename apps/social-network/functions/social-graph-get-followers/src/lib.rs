//! `social-graph-get-followers`: the follower ids of a user (docs/BENCHMARKS.md §2.2).
//!
//! Real: memcached `<uid>:followers` (JSON `[Follower]`), else `HGET social-graph:<uid> followers`,
//! else `[]`. Fake database: 1..=20 distinct random ids in 1..=100 (the reference's draw) and a
//! 6 ms sleep.

use quilt_apps_common::{fake_sleep, fakedb, store};
use quilt_sdk::Error;
use rand::RngExt;
use social_network_shared::{dedup, from_stored, Follower, UserIdRequest};

fn social_graph_get_followers(req: UserIdRequest) -> Result<Vec<i64>, Error> {
    if fakedb() {
        let mut rng = rand::rng();
        let r = rng.random_range(1..=20);
        let draws: Vec<i64> = (1..r).map(|_| rng.random_range(1..=100)).collect();
        fake_sleep(6);
        return Ok(dedup(&draws));
    }
    let uid = req.user_id;
    let cached = store::mc_get(&format!("{uid}:followers"))?;
    let text = match cached {
        Some(t) => Some(t),
        None => store::redis(|c| {
            redis::cmd("HGET")
                .arg(format!("social-graph:{uid}"))
                .arg("followers")
                .query::<Option<String>>(c)
        })?,
    };
    let followers: Vec<Follower> = match text {
        Some(t) => from_stored("followers", &t)?,
        None => Vec::new(),
    };
    Ok(followers.into_iter().map(|f| f.follower_id).collect())
}

quilt_sdk::handler!(social_graph_get_followers);
