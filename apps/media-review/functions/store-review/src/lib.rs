//! `store-review` (§3.2): `HSET review:<review_id>` with the seven fields of the review. Fake
//! database: 4 ms.

use media_lib::ReviewEntry;
use quilt_apps_common::{fake_sleep, fakedb, store};
use quilt_sdk::Error;

fn store_review(r: ReviewEntry) -> Result<(), Error> {
    if fakedb() {
        fake_sleep(4);
        return Ok(());
    }
    store::redis(|c| {
        redis::cmd("HSET")
            .arg(format!("review:{}", r.review_id))
            .arg("review_id")
            .arg(r.review_id)
            .arg("user_id")
            .arg(r.user_id)
            .arg("req_id")
            .arg(r.req_id)
            .arg("text")
            .arg(&r.text)
            .arg("movie_id")
            .arg(&r.movie_id)
            .arg("rating")
            .arg(r.rating)
            .arg("timestamp")
            .arg(r.timestamp)
            .query::<()>(c)
    })
}

quilt_sdk::handler!(store_review);
