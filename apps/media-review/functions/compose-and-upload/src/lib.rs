//! `compose-and-upload` (§3.2): assembles review `req_id` from its components in memcached and
//! stores it: store-review, upload-user-review, upload-movie-review (sync: one after another;
//! async: all three forked). Fake database: a random review and 3 ms.

use media_lib::{fake_movie_id, ReqId, ReviewEntry};
use quilt_apps_common::{alnum, fake_sleep, fakedb, is_async, now_s, rand_i64, store};
use quilt_sdk::{invoke, invoke_async, Error};
use rand::RngExt;
use serde::de::IgnoredAny;
use serde::Serialize;

#[derive(Serialize)]
struct UserReview {
    user_id: i64,
    review_id: i64,
    timestamp: i64,
}

#[derive(Serialize)]
struct MovieReview<'a> {
    movie_id: &'a str,
    review_id: i64,
    timestamp: i64,
}

fn compose_and_upload(req: ReqId) -> Result<(), Error> {
    let review = if fakedb() {
        let review = ReviewEntry {
            review_id: rand_i64(),
            user_id: rand_i64(),
            req_id: req.req_id,
            text: alnum(30),
            movie_id: fake_movie_id(),
            rating: rand::rng().random_range(0..=5),
            timestamp: rand_i64(),
        };
        fake_sleep(3);
        review
    } else {
        load(req.req_id)?
    };
    let user = UserReview {
        user_id: review.user_id,
        review_id: review.review_id,
        timestamp: review.timestamp,
    };
    let movie = MovieReview {
        movie_id: &review.movie_id,
        review_id: review.review_id,
        timestamp: review.timestamp,
    };
    if is_async() {
        let a = invoke_async("store-review", &review);
        let b = invoke_async("upload-user-review", &user);
        let c = invoke_async("upload-movie-review", &movie);
        let results = [a.join::<IgnoredAny>(), b.join(), c.join()];
        results.into_iter().try_for_each(|r| r.map(drop))
    } else {
        invoke::<_, IgnoredAny>("store-review", &review)?;
        invoke::<_, IgnoredAny>("upload-user-review", &user)?;
        invoke::<_, IgnoredAny>("upload-movie-review", &movie)?;
        Ok(())
    }
}

/// The review from memcached `<req_id>:review_id`, `:movie_id`, `:user_id`, `:text`, `:rating`
/// (absent parts stay 0 or empty), stamped now.
fn load(req_id: i64) -> Result<ReviewEntry, Error> {
    let keys: Vec<String> = ["review_id", "movie_id", "user_id", "text", "rating"]
        .iter()
        .map(|f| format!("{req_id}:{f}"))
        .collect();
    let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    let parts = store::mc_gets(&refs)?;
    let text = |i: usize| parts.get(&keys[i]).cloned().unwrap_or_default();
    let num = |i: usize| text(i).trim().parse::<i64>().unwrap_or(0);
    Ok(ReviewEntry {
        review_id: num(0),
        user_id: num(2),
        req_id,
        text: text(3),
        movie_id: text(1),
        rating: num(4) as i32,
        timestamp: now_s(),
    })
}

quilt_sdk::handler!(compose_and_upload);
