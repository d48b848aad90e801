//! `register-user-with-id`: registers a user under a given id (docs/BENCHMARKS.md §2.3); real
//! storage in every mode.
//!
//! `HSETNX user:<username> user_id <id>` claims the name atomically (an existing user fails with
//! `User <username> already existed`), then `HSET user:<username>` stores the names and the salted
//! password, then social-graph-insert-user (async variant: a fork group of one). Answers `""`.

use quilt_apps_common::{is_async, salted_hash, store};
use quilt_sdk::{invoke, invoke_async, Error};
use serde::de::IgnoredAny;
use serde::Deserialize;
use social_network_shared::UserIdRequest;

#[derive(Deserialize)]
struct Request {
    first_name: String,
    last_name: String,
    username: String,
    password: String,
    user_id: i64,
}

fn register_user_with_id(req: Request) -> Result<String, Error> {
    let key = format!("user:{}", req.username);
    let (salt, hash) = salted_hash(&req.password);
    let claimed: bool = store::redis(|c| {
        redis::cmd("HSETNX")
            .arg(&key)
            .arg("user_id")
            .arg(req.user_id)
            .query(c)
    })?;
    if !claimed {
        return Err(Error::msg(format!("User {} already existed", req.username)));
    }
    store::redis(|c| {
        redis::cmd("HSET")
            .arg(&key)
            .arg("first_name")
            .arg(&req.first_name)
            .arg("last_name")
            .arg(&req.last_name)
            .arg("username")
            .arg(&req.username)
            .arg("salt")
            .arg(&salt)
            .arg("password")
            .arg(&hash)
            .query::<()>(c)
    })?;
    let who = UserIdRequest {
        user_id: req.user_id,
    };
    let _: IgnoredAny = if is_async() {
        invoke_async("social-graph-insert-user", &who).join()?
    } else {
        invoke("social-graph-insert-user", &who)?
    };
    Ok(String::new())
}

quilt_sdk::handler!(register_user_with_id);
