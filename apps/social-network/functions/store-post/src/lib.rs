//! `store-post`: `HSET post:<post_id>` with the post's 8 fields, nested records and the post type
//! as JSON text (docs/BENCHMARKS.md §2.2). Fake database: a 7 ms sleep. Answers `""`.

use quilt_apps_common::{fake_sleep, fakedb, store};
use quilt_sdk::Error;
use social_network_shared::{to_json, Post};

fn store_post(post: Post) -> Result<String, Error> {
    if fakedb() {
        fake_sleep(7);
        return Ok(String::new());
    }
    store::redis(|c| {
        redis::cmd("HSET")
            .arg(format!("post:{}", post.post_id))
            .arg("post_id")
            .arg(post.post_id)
            .arg("creator")
            .arg(to_json(&post.creator))
            .arg("text")
            .arg(&post.text)
            .arg("user_mentions")
            .arg(to_json(&post.user_mentions))
            .arg("media")
            .arg(to_json(&post.media))
            .arg("urls")
            .arg(to_json(&post.urls))
            .arg("timestamp")
            .arg(post.timestamp)
            .arg("post_type")
            .arg(to_json(&post.post_type))
            .query::<()>(c)
    })?;
    Ok(String::new())
}

quilt_sdk::handler!(store_post);
