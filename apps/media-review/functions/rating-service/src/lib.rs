//! `rating-service` (§3.2): hands the rating to compose-review-upload-rating, then adds it to the
//! movie's uncommitted sum and count (`INCRBY <movie_id>:uncommit_sum`, `:uncommit_num`). Fake
//! database: 4 ms after the call.

use quilt_apps_common::{fake_sleep, fakedb, store};
use quilt_sdk::{invoke, Error};
use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
struct Request {
    movie_id: String,
    rating: i32,
    req_id: i64,
}

#[derive(Serialize)]
struct Upload {
    rating: i32,
    req_id: i64,
}

fn rating_service(req: Request) -> Result<(), Error> {
    let up = Upload {
        rating: req.rating,
        req_id: req.req_id,
    };
    invoke::<_, IgnoredAny>("compose-review-upload-rating", &up)?;
    if fakedb() {
        fake_sleep(4);
        return Ok(());
    }
    store::redis(|c| {
        redis::pipe()
            .cmd("INCRBY")
            .arg(format!("{}:uncommit_sum", req.movie_id))
            .arg(req.rating)
            .ignore()
            .cmd("INCRBY")
            .arg(format!("{}:uncommit_num", req.movie_id))
            .arg(1)
            .ignore()
            .query::<()>(c)
    })
}

quilt_sdk::handler!(rating_service);
