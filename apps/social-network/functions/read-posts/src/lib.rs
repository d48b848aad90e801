//! `read-posts`: the posts of the given ids, in the given order (docs/BENCHMARKS.md §2.2).
//!
//! Real: one memcached multi-get of `<pid>:post` (JSON `Post`); every miss from `HMGET post:<pid>`
//! of the 8 fields (the reference re-read the hits too and answered them twice, §7.13). A missing
//! post fails with `Post_id: <pid> doesn't exist in redis`. Fake database: a random post per id and
//! one 4 ms sleep.

use quilt_apps_common::{fake_sleep, fakedb, store};
use quilt_sdk::Error;
use social_network_shared::{from_stored, random_post, Post, PostIdsRequest};
use std::collections::HashMap;

type StoredPost = (
    Option<i64>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<String>,
    Option<i64>,
    Option<String>,
);

fn from_redis(pid: i64) -> Result<Post, Error> {
    let fields: StoredPost = store::redis(|c| {
        redis::cmd("HMGET")
            .arg(format!("post:{pid}"))
            .arg(&[
                "post_id",
                "creator",
                "text",
                "user_mentions",
                "media",
                "urls",
                "timestamp",
                "post_type",
            ])
            .query(c)
    })?;
    let missing = || Error::msg(format!("Post_id: {pid} doesn't exist in redis"));
    let (
        Some(post_id),
        Some(creator),
        Some(text),
        Some(mentions),
        Some(media),
        Some(urls),
        Some(timestamp),
        Some(post_type),
    ) = fields
    else {
        return Err(missing());
    };
    Ok(Post {
        post_id,
        creator: from_stored("creator", &creator)?,
        text,
        user_mentions: from_stored("user_mentions", &mentions)?,
        media: from_stored("media", &media)?,
        urls: from_stored("urls", &urls)?,
        timestamp,
        post_type: from_stored("post_type", &post_type)?,
    })
}

fn read_posts(req: PostIdsRequest) -> Result<Vec<Post>, Error> {
    if fakedb() {
        let posts = req.post_ids.iter().map(|&id| random_post(id)).collect();
        fake_sleep(4);
        return Ok(posts);
    }
    if req.post_ids.is_empty() {
        return Ok(Vec::new());
    }
    let keys: Vec<String> = req.post_ids.iter().map(|p| format!("{p}:post")).collect();
    let key_refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    let cached: HashMap<String, String> = store::mc_gets(&key_refs)?;
    let mut posts = Vec::with_capacity(req.post_ids.len());
    for (pid, key) in req.post_ids.iter().zip(&keys) {
        let post = match cached.get(key) {
            Some(text) => from_stored("post", text)?,
            None => from_redis(*pid)?,
        };
        posts.push(post);
    }
    Ok(posts)
}

quilt_sdk::handler!(read_posts);
