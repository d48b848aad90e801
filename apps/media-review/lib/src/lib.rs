//! Shared code of the media-review functions (docs/BENCHMARKS.md §3): record shapes, the
//! counter protocol of the compose-review components, random records of the fake database, user
//! registration.

use quilt_apps_common::{alnum, err, rand_i64, salted_hash, store};
use quilt_sdk::Error;
use rand::RngExt;
use serde::{Deserialize, Serialize};

/// How many components make a review (`NUM_COMPONENTS`).
pub const NUM_COMPONENTS: u64 = 5;

/// A stored review (also the input of store-review).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReviewEntry {
    pub review_id: i64,
    pub user_id: i64,
    pub req_id: i64,
    pub text: String,
    pub movie_id: String,
    pub rating: i32,
    pub timestamp: i64,
}

/// A cast member of a movie.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cast {
    pub cast_id: i32,
    pub character: String,
    pub cast_info_id: i64,
}

/// A movie's information.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MovieInfoEntry {
    pub movie_id: String,
    pub title: String,
    pub plot_id: i64,
    pub avg_rating: f64,
    pub num_rating: i32,
    pub casts: Vec<Cast>,
    pub thumbnail_ids: Vec<String>,
    pub photo_ids: Vec<String>,
    pub video_ids: Vec<String>,
}

/// A cast member's information.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CastInfoEntry {
    pub cast_info_id: i64,
    pub name: String,
    pub gender: bool,
    pub intro: String,
}

/// A movie's page.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Page {
    pub movie_info: MovieInfoEntry,
    pub reviews: Vec<ReviewEntry>,
    pub cast_info: Vec<CastInfoEntry>,
    pub plot: String,
}

/// The request every compose-and-upload trigger sends.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReqId {
    pub req_id: i64,
}

/// The request of read-reviews.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReviewIds {
    pub review_ids: Vec<i64>,
}

/// Real mode: stores one component of review `req_id` in memcached and counts it: ADD
/// `<req_id>:counter` = 0 (kept if present), ADD `<req_id>:<field>` = `value`, INCR the counter.
/// Returns the count; the caller triggers compose-and-upload when it is [`NUM_COMPONENTS`].
pub fn upload_component(req_id: i64, field: &str, value: &str) -> Result<u64, Error> {
    let counter = format!("{req_id}:counter");
    store::mc_add(&counter, "0")?;
    store::mc_add(&format!("{req_id}:{field}"), value)?;
    store::mc_incr(&counter, 1)
}

/// A movie id of the fake database: `tt<5999000 + uniform 0..1000>`.
pub fn fake_movie_id() -> String {
    format!("tt{}", 5_999_000 + rand::rng().random_range(0..1000))
}

/// Fake database: `r - 1` random review ids, `r` uniform `1..6`.
pub fn fake_review_ids() -> Vec<i64> {
    let r = rand::rng().random_range(1..6);
    (1..r).map(|_| rand_i64()).collect()
}

/// Fake database: a random review with the given id.
pub fn fake_review(review_id: i64) -> ReviewEntry {
    let mut rng = rand::rng();
    ReviewEntry {
        review_id,
        user_id: rand_i64(),
        req_id: rand_i64(),
        text: alnum(20),
        movie_id: format!("movie_{}", rng.random_range(1..=100)),
        rating: rng.random_range(1..5),
        timestamp: rand_i64(),
    }
}

/// The registration of a media user, shared by register-user and register-user-with-id.
#[derive(Debug, Clone, Deserialize)]
pub struct Registration {
    pub first_name: String,
    pub last_name: String,
    pub username: String,
    pub password: String,
}

/// Stores user `r` with `user_id` as Redis hash `user:<username>` (`user_id`, `first_name`,
/// `last_name`, `username`, `salt`, `password` = salted SHA-256); refuses an existing user.
pub fn register(r: &Registration, user_id: i64) -> Result<(), Error> {
    let key = format!("user:{}", r.username);
    let exists: bool = store::redis(|c| redis::cmd("EXISTS").arg(&key).query(c))?;
    if exists {
        return Err(Error::msg(format!("User {} already existed", r.username)));
    }
    let (salt, hash) = salted_hash(&r.password);
    store::redis(|c| {
        redis::cmd("HSET")
            .arg(&key)
            .arg("user_id")
            .arg(user_id)
            .arg("first_name")
            .arg(&r.first_name)
            .arg("last_name")
            .arg(&r.last_name)
            .arg("username")
            .arg(&r.username)
            .arg("salt")
            .arg(&salt)
            .arg("password")
            .arg(&hash)
            .query::<()>(c)
    })
}

/// Reads a sorted set of review ids newest first, positions `start..stop` (`ZREVRANGE key start
/// stop-1`; an empty range when `stop <= start`).
pub fn review_ids(key: &str, start: i32, stop: i32) -> Result<Vec<i64>, Error> {
    if stop <= start || stop <= 0 {
        return Ok(Vec::new());
    }
    let ids: Vec<String> = store::redis(|c| {
        redis::cmd("ZREVRANGE")
            .arg(key)
            .arg(start.max(0))
            .arg(stop - 1)
            .query(c)
    })?;
    ids.iter()
        .map(|s| {
            s.parse()
                .map_err(|_| err(format!("bad review id '{s}' in {key}")))
        })
        .collect()
}
