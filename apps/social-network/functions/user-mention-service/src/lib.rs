//! `user-mention-service`: resolves mentioned usernames to users (docs/BENCHMARKS.md §2.2).
//!
//! Real: one memcached multi-get of `<u>:user_id`; the misses from `HMGET user:<u> username
//! user_id`; unknown users are skipped. One entry per distinct username, in first-mention order.
//! Fake database: a 2 ms sleep and ids parsed from `username_<n>`, one entry per input username.

use quilt_apps_common::{fake_sleep, fakedb, store};
use quilt_sdk::Error;
use social_network_shared::{dedup, id_from_username, UserMention, UsernamesRequest};
use std::collections::HashMap;

fn user_mention_service(req: UsernamesRequest) -> Result<Vec<UserMention>, Error> {
    if fakedb() {
        fake_sleep(2);
        return req
            .usernames
            .iter()
            .map(|u| {
                Ok(UserMention {
                    user_id: id_from_username(u)?,
                    user_name: u.clone(),
                })
            })
            .collect();
    }
    let names = dedup(&req.usernames);
    if names.is_empty() {
        return Ok(Vec::new());
    }
    let keys: Vec<String> = names.iter().map(|u| format!("{u}:user_id")).collect();
    let key_refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    let cached: HashMap<String, String> = store::mc_gets(&key_refs)?;
    let mut out = Vec::with_capacity(names.len());
    for (name, key) in names.iter().zip(&keys) {
        if let Some(id) = cached.get(key).and_then(|v| v.parse().ok()) {
            out.push(UserMention {
                user_id: id,
                user_name: name.clone(),
            });
            continue;
        }
        let (username, user_id): (Option<String>, Option<i64>) = store::redis(|c| {
            redis::cmd("HMGET")
                .arg(format!("user:{name}"))
                .arg("username")
                .arg("user_id")
                .query(c)
        })?;
        if let (Some(user_name), Some(user_id)) = (username, user_id) {
            out.push(UserMention { user_id, user_name });
        }
    }
    Ok(out)
}

quilt_sdk::handler!(user_mention_service);
