//! `read-user-review` (§3.2): a user's reviews, newest first, positions `start..stop`: the ids
//! from `ZREVRANGE user_review:<user_id>`, the reviews from read-reviews. Fake database: 0 to 4
//! random ids and 2 ms.

use media_lib::{fake_review_ids, review_ids, ReviewEntry, ReviewIds};
use quilt_apps_common::{fake_sleep, fakedb};
use quilt_sdk::{invoke, Error};
use serde::Deserialize;

#[derive(Deserialize)]
struct Request {
    user_id: i64,
    start: i32,
    stop: i32,
}

fn read_user_review(req: Request) -> Result<Vec<ReviewEntry>, Error> {
    let ids = if fakedb() {
        let ids = fake_review_ids();
        fake_sleep(2);
        ids
    } else {
        review_ids(&format!("user_review:{}", req.user_id), req.start, req.stop)?
    };
    invoke("read-reviews", &ReviewIds { review_ids: ids })
}

quilt_sdk::handler!(read_user_review);
