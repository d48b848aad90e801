//! `read-movie-reviews` (§3.2): a movie's reviews, newest first, positions `start..stop`: the ids
//! from `ZREVRANGE movie-review:<movie_id>`, the reviews from read-reviews. Fake database: 0 to 4
//! random ids and 2 ms.

use media_lib::{fake_review_ids, review_ids, ReviewEntry, ReviewIds};
use quilt_apps_common::{fake_sleep, fakedb};
use quilt_sdk::{invoke, Error};
use serde::Deserialize;

#[derive(Deserialize)]
struct Request {
    movie_id: String,
    start: i32,
    stop: i32,
}

fn read_movie_reviews(req: Request) -> Result<Vec<ReviewEntry>, Error> {
    let ids = if fakedb() {
        let ids = fake_review_ids();
        fake_sleep(2);
        ids
    } else {
        review_ids(
            &format!("movie-review:{}", req.movie_id),
            req.start,
            req.stop,
        )?
    };
    invoke("read-reviews", &ReviewIds { review_ids: ids })
}

quilt_sdk::handler!(read_movie_reviews);
