//! `write-home-timeline`: adds a post to the home timeline of every follower of its author and
//! every mentioned user (docs/BENCHMARKS.md §2.2).
//!
//! Calls social-graph-get-followers (in the async variant as a fork group of one). Real:
//! `ZADD home-timeline:<target> <timestamp> <post_id>` per target of the union (the reference
//! wrote to `user-timeline:<target>`, mixing home and user timelines, §7.11). Fake database: a 1 ms
//! sleep per target. Answers the follower ids in the real sync variant, `""` otherwise, as the
//! reference does.

use quilt_apps_common::{fake_sleep, fakedb, is_async, store};
use quilt_sdk::{invoke, invoke_async, Error};
use serde_json::Value;
use social_network_shared::{dedup, HomeTimelineWrite, UserIdRequest};

fn write_home_timeline(req: HomeTimelineWrite) -> Result<Value, Error> {
    let who = UserIdRequest {
        user_id: req.user_id,
    };
    let followers: Vec<i64> = if is_async() {
        invoke_async("social-graph-get-followers", &who).join()?
    } else {
        invoke("social-graph-get-followers", &who)?
    };
    let mut targets = followers.clone();
    targets.extend_from_slice(&req.user_mentions_id);
    let targets = dedup(&targets);
    if fakedb() {
        fake_sleep(targets.len() as u64);
        return Ok(Value::String(String::new()));
    }
    if !targets.is_empty() {
        store::redis(|c| {
            let mut pipe = redis::pipe();
            for t in &targets {
                pipe.cmd("ZADD")
                    .arg(format!("home-timeline:{t}"))
                    .arg(req.timestamp)
                    .arg(req.post_id)
                    .ignore();
            }
            pipe.query::<()>(c)
        })?;
    }
    Ok(if is_async() {
        Value::String(String::new())
    } else {
        Value::from(followers)
    })
}

quilt_sdk::handler!(write_home_timeline);
