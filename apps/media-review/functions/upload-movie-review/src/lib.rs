//! `upload-movie-review` (§3.2): `ZADD movie-review:<movie_id> <timestamp> <review_id>`. Fake
//! database: 2 ms.

use quilt_apps_common::{fake_sleep, fakedb, store};
use quilt_sdk::Error;
use serde::Deserialize;

#[derive(Deserialize)]
struct Request {
    movie_id: String,
    review_id: i64,
    timestamp: i64,
}

fn upload_movie_review(req: Request) -> Result<(), Error> {
    if fakedb() {
        fake_sleep(2);
        return Ok(());
    }
    store::redis(|c| {
        redis::cmd("ZADD")
            .arg(format!("movie-review:{}", req.movie_id))
            .arg(req.timestamp)
            .arg(req.review_id)
            .query::<()>(c)
    })
}

quilt_sdk::handler!(upload_movie_review);
