//! `read-movie-info` (§3.2): a movie's information. Real: memcached `movie_info:<id>` (JSON),
//! else Redis hash `movie_info:<id>`, then cached. Fake database: a random entry and 4 ms.

use media_lib::{Cast, MovieInfoEntry};
use quilt_apps_common::{alnum, err, fake_sleep, fakedb, rand_i64, store};
use quilt_sdk::Error;
use rand::RngExt;
use serde::Deserialize;

#[derive(Deserialize)]
struct Request {
    movie_id: String,
}

const FIELDS: [&str; 9] = [
    "movie_id",
    "title",
    "plot_id",
    "avg_rating",
    "num_rating",
    "casts",
    "thumbnail_ids",
    "photo_ids",
    "video_ids",
];

fn read_movie_info(req: Request) -> Result<MovieInfoEntry, Error> {
    if fakedb() {
        let entry = fake(req.movie_id);
        fake_sleep(4);
        return Ok(entry);
    }
    let key = format!("movie_info:{}", req.movie_id);
    if let Some(entry) = store::mc_get(&key)?.and_then(|v| serde_json::from_str(&v).ok()) {
        return Ok(entry);
    }
    let row: Vec<Option<String>> =
        store::redis(|c| redis::cmd("HMGET").arg(&key).arg(&FIELDS[..]).query(c))?;
    if row.first().is_none_or(Option::is_none) {
        return Err(Error::msg(format!(
            "error: cannot find the movie: {} in redis",
            req.movie_id
        )));
    }
    let entry = parse(row).map_err(|e| err(format!("movie {}: {e}", req.movie_id)))?;
    store::mc_set(&key, &serde_json::to_string(&entry).map_err(err)?)?;
    Ok(entry)
}

fn parse(row: Vec<Option<String>>) -> Result<MovieInfoEntry, String> {
    let field = |i: usize| -> Result<&str, String> {
        row.get(i)
            .and_then(|v| v.as_deref())
            .ok_or_else(|| format!("field '{}' is missing", FIELDS[i]))
    };
    let bad = |i: usize| move |e: &dyn std::fmt::Display| format!("field '{}': {e}", FIELDS[i]);
    Ok(MovieInfoEntry {
        movie_id: field(0)?.to_string(),
        title: field(1)?.to_string(),
        plot_id: field(2)?.trim().parse().map_err(|e| bad(2)(&e))?,
        avg_rating: field(3)?.trim().parse().map_err(|e| bad(3)(&e))?,
        num_rating: field(4)?.trim().parse().map_err(|e| bad(4)(&e))?,
        casts: serde_json::from_str(field(5)?).map_err(|e| bad(5)(&e))?,
        thumbnail_ids: serde_json::from_str(field(6)?).map_err(|e| bad(6)(&e))?,
        photo_ids: serde_json::from_str(field(7)?).map_err(|e| bad(7)(&e))?,
        video_ids: serde_json::from_str(field(8)?).map_err(|e| bad(8)(&e))?,
    })
}

fn fake(movie_id: String) -> MovieInfoEntry {
    let mut rng = rand::rng();
    let ids = |rng: &mut rand::rngs::ThreadRng| -> Vec<String> {
        (0..rng.random_range(0..20)).map(|_| alnum(15)).collect()
    };
    MovieInfoEntry {
        movie_id,
        title: alnum(8),
        plot_id: rand_i64(),
        avg_rating: rng.random_range(0.0..5.0),
        num_rating: rng.random(),
        casts: (0..rng.random_range(0..20))
            .map(|_| Cast {
                cast_id: rand::rng().random(),
                character: alnum(15),
                cast_info_id: rand_i64(),
            })
            .collect(),
        thumbnail_ids: ids(&mut rng),
        photo_ids: ids(&mut rng),
        video_ids: ids(&mut rng),
    }
}

quilt_sdk::handler!(read_movie_info);
