//! `register-user`: registers a user under a new random id (docs/BENCHMARKS.md §2.3); real
//! storage in every mode.
//!
//! As register-user-with-id, with `user_id` a non-negative random id (the reference kept negative
//! ones, §7.17). Answers social-graph-insert-user's answer in the sync variant, `""` in the async
//! one, as the reference does.

use quilt_apps_common::{is_async, salted_hash, store, unique_id};
use quilt_sdk::{invoke, invoke_async, Error};
use serde::Deserialize;
use serde_json::Value;
use social_network_shared::UserIdRequest;

#[derive(Deserialize)]
struct Request {
    first_name: String,
    last_name: String,
    username: String,
    password: String,
}

fn register_user(req: Request) -> Result<Value, Error> {
    let key = format!("user:{}", req.username);
    let user_id = unique_id();
    let (salt, hash) = salted_hash(&req.password);
    let claimed: bool = store::redis(|c| {
        redis::cmd("HSETNX")
            .arg(&key)
            .arg("user_id")
            .arg(user_id)
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
    let who = UserIdRequest { user_id };
    if is_async() {
        let _: Value = invoke_async("social-graph-insert-user", &who).join()?;
        Ok(Value::String(String::new()))
    } else {
        invoke("social-graph-insert-user", &who)
    }
}

quilt_sdk::handler!(register_user);
