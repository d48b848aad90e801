//! `write-user-timeline`: `ZADD user-timeline:<user_id> <timestamp> <post_id>`
//! (docs/BENCHMARKS.md §2.2). Fake database: a 2 ms sleep. Answers `""`.

use quilt_apps_common::{fake_sleep, fakedb, store};
use quilt_sdk::Error;
use social_network_shared::UserTimelineWrite;

fn write_user_timeline(req: UserTimelineWrite) -> Result<String, Error> {
    if fakedb() {
        fake_sleep(2);
        return Ok(String::new());
    }
    store::redis(|c| {
        redis::cmd("ZADD")
            .arg(format!("user-timeline:{}", req.user_id))
            .arg(req.timestamp)
            .arg(req.post_id)
            .query::<()>(c)
    })?;
    Ok(String::new())
}

quilt_sdk::handler!(write_user_timeline);
