//! `register-movie-id` (§3.3, population): `HSET movie_id:<title>` `movie_id`, `title`; an
//! existing title is refused with `Movie <title> is already in redis;`.

use quilt_apps_common::store;
use quilt_sdk::Error;
use serde::Deserialize;

#[derive(Deserialize)]
struct Request {
    movie_id: String,
    title: String,
}

fn register_movie_id(req: Request) -> Result<(), Error> {
    let key = format!("movie_id:{}", req.title);
    let existing: Option<String> =
        store::redis(|c| redis::cmd("HGET").arg(&key).arg("movie_id").query(c))?;
    if existing.is_some() {
        return Err(Error::msg(format!(
            "Movie {} is already in redis;",
            req.title
        )));
    }
    store::redis(|c| {
        redis::cmd("HSET")
            .arg(&key)
            .arg("movie_id")
            .arg(&req.movie_id)
            .arg("title")
            .arg(&req.title)
            .query::<()>(c)
    })
}

quilt_sdk::handler!(register_movie_id);
