//! `upload-user-with-username` (§3.2): resolves the user id of a username and hands it to
//! compose-review-upload-user-id. Real: memcached `<username>:user_id`, else Redis hash
//! `user:<username>`, then cached. Fake database: a random id in 1..=1000 and 3 ms.

use quilt_apps_common::{fake_sleep, fakedb, store};
use quilt_sdk::{invoke, Error};
use rand::RngExt;
use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
struct Request {
    username: String,
    req_id: i64,
}

#[derive(Serialize)]
struct Upload {
    req_id: i64,
    user_id: i64,
}

fn upload_user_with_username(req: Request) -> Result<(), Error> {
    let user_id = if fakedb() {
        let id = rand::rng().random_range(1..=1000);
        fake_sleep(3);
        id
    } else {
        user_id(&req.username)?
    };
    let up = Upload {
        req_id: req.req_id,
        user_id,
    };
    invoke::<_, IgnoredAny>("compose-review-upload-user-id", &up)?;
    Ok(())
}

fn user_id(username: &str) -> Result<i64, Error> {
    let key = format!("{username}:user_id");
    if let Some(id) = store::mc_get(&key)?.and_then(|v| v.parse().ok()) {
        return Ok(id);
    }
    let row: Vec<Option<String>> = store::redis(|c| {
        redis::cmd("HMGET")
            .arg(format!("user:{username}"))
            .arg(&["user_id", "username"])
            .query(c)
    })?;
    let id: i64 = row
        .first()
        .cloned()
        .flatten()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| Error::msg(format!("User {username} is not found in redis;")))?;
    store::mc_set(&key, &id.to_string())?;
    Ok(id)
}

quilt_sdk::handler!(upload_user_with_username);
