//! `read-home-timeline`: the posts of a user's home timeline from `start` to `stop` (inclusive),
//! newest first (docs/BENCHMARKS.md §2.2, §5.2).
//!
//! Real: `ZREVRANGE home-timeline:<uid> start stop`, then read-posts (in the async variant as a fork
//! group of one). Fake database: 0..=4 random post ids and a 4 ms sleep, then read-posts.

use quilt_apps_common::{fake_sleep, fakedb, is_async, rand_i64, store};
use quilt_sdk::{invoke, invoke_async, Error};
use rand::RngExt;
use serde::Deserialize;
use social_network_shared::{Post, PostIdsRequest};

#[derive(Deserialize)]
struct Request {
    user_id: i64,
    start: i64,
    stop: i64,
}

fn read_home_timeline(req: Request) -> Result<Vec<Post>, Error> {
    let post_ids: Vec<i64> = if fakedb() {
        let r = rand::rng().random_range(1..=5);
        let ids = (1..r).map(|_| rand_i64()).collect();
        fake_sleep(4);
        ids
    } else {
        store::redis(|c| {
            redis::cmd("ZREVRANGE")
                .arg(format!("home-timeline:{}", req.user_id))
                .arg(req.start)
                .arg(req.stop)
                .query(c)
        })?
    };
    let ids = PostIdsRequest { post_ids };
    if is_async() {
        invoke_async("read-posts", &ids).join()
    } else {
        invoke("read-posts", &ids)
    }
}

quilt_sdk::handler!(read_home_timeline);
