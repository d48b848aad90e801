//! `compose-review-run-merged` (§3.2, async only): compose-review over the merged deployments of
//! its four branches, forked at once: unique-id-service-merged, text-service-merged,
//! upload-user-with-username-merged, upload-movie-id-merged. Those exist once the four branch
//! trees (`workflows/unique-id-service.tree` and others) are merged.

use quilt_sdk::{invoke_async, Error};
use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
struct Request {
    req_id: i64,
    username: String,
    title: String,
    rating: i32,
    text: String,
}

#[derive(Serialize)]
struct ReqId {
    req_id: i64,
}

#[derive(Serialize)]
struct Text<'a> {
    req_id: i64,
    text: &'a str,
}

#[derive(Serialize)]
struct User<'a> {
    username: &'a str,
    req_id: i64,
}

#[derive(Serialize)]
struct Movie<'a> {
    title: &'a str,
    rating: i32,
    req_id: i64,
}

fn compose_review_run_merged(req: Request) -> Result<(), Error> {
    let req_id = req.req_id;
    let a = invoke_async("unique-id-service-merged", &ReqId { req_id });
    let b = invoke_async(
        "text-service-merged",
        &Text {
            req_id,
            text: &req.text,
        },
    );
    let c = invoke_async(
        "upload-user-with-username-merged",
        &User {
            username: &req.username,
            req_id,
        },
    );
    let d = invoke_async(
        "upload-movie-id-merged",
        &Movie {
            title: &req.title,
            rating: req.rating,
            req_id,
        },
    );
    let results = [a.join::<IgnoredAny>(), b.join(), c.join(), d.join()];
    results.into_iter().try_for_each(|r| r.map(drop))
}

quilt_sdk::handler!(compose_review_run_merged);
