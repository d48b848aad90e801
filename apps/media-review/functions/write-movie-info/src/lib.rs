//! `write-movie-info` (§3.3, population): `HSET movie_info:<movie_id>` with the nine fields of
//! the movie (`plot_id`, `num_rating` as decimal text, `avg_rating` as given, the lists as JSON).

use media_lib::Cast;
use quilt_apps_common::{err, store};
use quilt_sdk::Error;
use serde::Deserialize;

#[derive(Deserialize)]
struct Request {
    movie_id: String,
    title: String,
    casts: Vec<Cast>,
    plot_id: i64,
    thumbnail_ids: Vec<String>,
    photo_ids: Vec<String>,
    video_ids: Vec<String>,
    avg_rating: String,
    num_rating: i32,
}

fn write_movie_info(req: Request) -> Result<(), Error> {
    if req.avg_rating.trim().parse::<f64>().is_err() {
        return Err(Error::msg(format!(
            "avg_rating '{}' is not a number",
            req.avg_rating
        )));
    }
    let json = |v: &Vec<String>| serde_json::to_string(v).map_err(err);
    let casts = serde_json::to_string(&req.casts).map_err(err)?;
    let (thumbnails, photos, videos) = (
        json(&req.thumbnail_ids)?,
        json(&req.photo_ids)?,
        json(&req.video_ids)?,
    );
    store::redis(|c| {
        redis::cmd("HSET")
            .arg(format!("movie_info:{}", req.movie_id))
            .arg("movie_id")
            .arg(&req.movie_id)
            .arg("title")
            .arg(&req.title)
            .arg("plot_id")
            .arg(req.plot_id)
            .arg("avg_rating")
            .arg(&req.avg_rating)
            .arg("num_rating")
            .arg(req.num_rating)
            .arg("casts")
            .arg(&casts)
            .arg("thumbnail_ids")
            .arg(&thumbnails)
            .arg("photo_ids")
            .arg(&photos)
            .arg("video_ids")
            .arg(&videos)
            .query::<()>(c)
    })
}

quilt_sdk::handler!(write_movie_info);
