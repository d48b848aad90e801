//! `get-user-id`: the id of a username (docs/BENCHMARKS.md §2.2).
//!
//! Real: memcached `<u>:user_id`, else `HGET user:<u> user_id` (missing: `User: <u> doesn't exist
//! in redis`) and the id is cached in memcached. Fake database: the integer after the first 9
//! characters of `username_<n>` and a 4 ms sleep.

use quilt_apps_common::{fake_sleep, fakedb, store};
use quilt_sdk::Error;
use social_network_shared::{id_from_username, UsernameRequest};

fn get_user_id(req: UsernameRequest) -> Result<i64, Error> {
    let u = &req.username;
    if fakedb() {
        fake_sleep(4);
        return id_from_username(u);
    }
    let key = format!("{u}:user_id");
    let cached = store::mc_get(&key)?;
    if let Some(id) = cached.and_then(|v| v.parse().ok()) {
        return Ok(id);
    }
    let id: Option<i64> = store::redis(|c| {
        redis::cmd("HGET")
            .arg(format!("user:{u}"))
            .arg("user_id")
            .query(c)
    })?;
    let id = id.ok_or_else(|| Error::msg(format!("User: {u} doesn't exist in redis")))?;
    store::mc_set(&key, &id.to_string())?;
    Ok(id)
}

quilt_sdk::handler!(get_user_id);
