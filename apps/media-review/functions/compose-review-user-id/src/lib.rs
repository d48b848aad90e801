//! `compose-review-user-id` (§3.2): composes a review of a known user id. Sync: unique-id-service,
//! text-service, upload-user-with-userid, upload-movie-id one after another; async: all four
//! forked at once, then joined. The password is not used.

use quilt_apps_common::is_async;
use quilt_sdk::{invoke, invoke_async, Error};
use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
struct Request {
    req_id: i64,
    user_id: i64,
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
struct User {
    user_id: i64,
    req_id: i64,
}

#[derive(Serialize)]
struct Movie<'a> {
    title: &'a str,
    rating: i32,
    req_id: i64,
}

fn compose_review_user_id(req: Request) -> Result<(), Error> {
    let req_id = req.req_id;
    let uid = ReqId { req_id };
    let text = Text {
        req_id,
        text: &req.text,
    };
    let user = User {
        user_id: req.user_id,
        req_id,
    };
    let movie = Movie {
        title: &req.title,
        rating: req.rating,
        req_id,
    };
    if is_async() {
        let a = invoke_async("unique-id-service", &uid);
        let b = invoke_async("text-service", &text);
        let c = invoke_async("upload-user-with-userid", &user);
        let d = invoke_async("upload-movie-id", &movie);
        let results = [a.join::<IgnoredAny>(), b.join(), c.join(), d.join()];
        results.into_iter().try_for_each(|r| r.map(drop))
    } else {
        invoke::<_, IgnoredAny>("unique-id-service", &uid)?;
        invoke::<_, IgnoredAny>("text-service", &text)?;
        invoke::<_, IgnoredAny>("upload-user-with-userid", &user)?;
        invoke::<_, IgnoredAny>("upload-movie-id", &movie)?;
        Ok(())
    }
}

quilt_sdk::handler!(compose_review_user_id);
