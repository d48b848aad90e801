//! `compose-post`: composes a post from its parts and writes it to storage and timelines
//! (docs/BENCHMARKS.md §2.2, §5.1).
//!
//! Sync: unique-id-service → compose-creator-with-userid → text-service → media-service →
//! store-post → write-user-timeline → write-home-timeline. Async: the first four as one fork
//! group, then the last three as another.
//!
//! Answers `""`; in fake-database mode the elapsed time instead (`"<N> ms"` sync, `"<N>μs"` async).

use quilt_apps_common::{fakedb, is_async, now_s};
use quilt_sdk::{invoke, invoke_async, Error};
use serde::de::IgnoredAny;
use serde::Deserialize;
use social_network_shared::{
    Creator, HomeTimelineWrite, Media, MediaRequest, MsgRequest, Post, PostType, TextRequest,
    TextServiceReturn, UserTimelineWrite,
};
use std::time::Instant;

#[derive(Deserialize)]
struct Request {
    username: String,
    user_id: i64,
    text: String,
    media_ids: Vec<i64>,
    media_types: Vec<String>,
    post_type: PostType,
}

fn compose_post(req: Request) -> Result<String, Error> {
    let start = Instant::now();
    let id_req = MsgRequest { msg: String::new() };
    let creator_req = Creator {
        user_id: req.user_id,
        username: req.username,
    };
    let text_req = TextRequest { text: req.text };
    let media_req = MediaRequest {
        media_id: req.media_ids,
        media_type: req.media_types,
    };
    let (post_id, creator, text, media): (i64, Creator, TextServiceReturn, Vec<Media>) =
        if is_async() {
            let id = invoke_async("unique-id-service", &id_req);
            let creator = invoke_async("compose-creator-with-userid", &creator_req);
            let text = invoke_async("text-service", &text_req);
            let media = invoke_async("media-service", &media_req);
            (id.join()?, creator.join()?, text.join()?, media.join()?)
        } else {
            (
                invoke("unique-id-service", &id_req)?,
                invoke("compose-creator-with-userid", &creator_req)?,
                invoke("text-service", &text_req)?,
                invoke("media-service", &media_req)?,
            )
        };
    let post = Post {
        post_id,
        creator,
        text: text.text,
        user_mentions: text.user_mentions,
        media,
        urls: text.urls,
        timestamp: now_s(),
        post_type: req.post_type,
    };
    let user_timeline = UserTimelineWrite {
        post_id,
        user_id: req.user_id,
        timestamp: post.timestamp,
    };
    let home_timeline = HomeTimelineWrite {
        post_id,
        user_id: req.user_id,
        timestamp: post.timestamp,
        user_mentions_id: post.user_mentions.iter().map(|m| m.user_id).collect(),
    };
    if is_async() {
        let store = invoke_async("store-post", &post);
        let user = invoke_async("write-user-timeline", &user_timeline);
        let home = invoke_async("write-home-timeline", &home_timeline);
        let _: IgnoredAny = store.join()?;
        let _: IgnoredAny = user.join()?;
        let _: IgnoredAny = home.join()?;
    } else {
        let _: IgnoredAny = invoke("store-post", &post)?;
        let _: IgnoredAny = invoke("write-user-timeline", &user_timeline)?;
        let _: IgnoredAny = invoke("write-home-timeline", &home_timeline)?;
    }
    Ok(match (fakedb(), is_async()) {
        (false, _) => String::new(),
        (true, false) => format!("{} ms", start.elapsed().as_millis()),
        (true, true) => format!("{}μs", start.elapsed().as_micros()),
    })
}

quilt_sdk::handler!(compose_post);
