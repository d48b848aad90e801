//! `upload-movie-id` (§3.2): resolves the movie id of a title, then hands it to
//! compose-review-upload-movie-id and the rating to rating-service (sync: one after the other;
//! async: both forked). Real: memcached `<title>`, else Redis `movie_id:<title>`, then cached.
//! Fake database: a random `tt` id and 2 ms.

use media_lib::fake_movie_id;
use quilt_apps_common::{fake_sleep, fakedb, is_async, store};
use quilt_sdk::{invoke, invoke_async, Error};
use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
struct Request {
    title: String,
    rating: i32,
    req_id: i64,
}

#[derive(Serialize)]
struct Upload<'a> {
    req_id: i64,
    movie_id: &'a str,
}

#[derive(Serialize)]
struct Rating<'a> {
    movie_id: &'a str,
    rating: i32,
    req_id: i64,
}

fn upload_movie_id(req: Request) -> Result<(), Error> {
    let movie_id = if fakedb() {
        let id = fake_movie_id();
        fake_sleep(2);
        id
    } else {
        movie_id(&req.title)?
    };
    let up = Upload {
        req_id: req.req_id,
        movie_id: &movie_id,
    };
    let rating = Rating {
        movie_id: &movie_id,
        rating: req.rating,
        req_id: req.req_id,
    };
    if is_async() {
        let a = invoke_async("compose-review-upload-movie-id", &up);
        let b = invoke_async("rating-service", &rating);
        let results = [a.join::<IgnoredAny>(), b.join()];
        results.into_iter().try_for_each(|r| r.map(drop))
    } else {
        invoke::<_, IgnoredAny>("compose-review-upload-movie-id", &up)?;
        invoke::<_, IgnoredAny>("rating-service", &rating)?;
        Ok(())
    }
}

fn movie_id(title: &str) -> Result<String, Error> {
    if let Some(id) = store::mc_get(title)? {
        return Ok(id);
    }
    let id: Option<String> = store::redis(|c| {
        redis::cmd("HGET")
            .arg(format!("movie_id:{title}"))
            .arg("movie_id")
            .query(c)
    })?;
    let id = id.ok_or_else(|| Error::msg(format!("Movie {title} is not found in redis;")))?;
    store::mc_set(title, &id)?;
    Ok(id)
}

quilt_sdk::handler!(upload_movie_id);
