//! `page-service` (§3.2): a movie's page. Sync: read-movie-info, read-movie-reviews,
//! read-cast-info, read-plot one after another; async: `[read-movie-info ‖ read-movie-reviews]`
//! then `[read-cast-info ‖ read-plot]`.

use media_lib::{CastInfoEntry, MovieInfoEntry, Page, ReviewEntry};
use quilt_apps_common::is_async;
use quilt_sdk::{invoke, invoke_async, Error};
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
struct Request {
    movie_id: String,
    review_start: i32,
    review_stop: i32,
}

#[derive(Serialize)]
struct MovieId<'a> {
    movie_id: &'a str,
}

#[derive(Serialize)]
struct Reviews<'a> {
    movie_id: &'a str,
    start: i32,
    stop: i32,
}

#[derive(Serialize)]
struct CastIds {
    cast_ids: Vec<i64>,
}

#[derive(Serialize)]
struct PlotId {
    plot_id: i64,
}

fn page_service(req: Request) -> Result<Page, Error> {
    let id = MovieId {
        movie_id: &req.movie_id,
    };
    let reviews = Reviews {
        movie_id: &req.movie_id,
        start: req.review_start,
        stop: req.review_stop,
    };
    let cast_ids = |m: &MovieInfoEntry| CastIds {
        cast_ids: m.casts.iter().map(|c| c.cast_info_id).collect(),
    };
    if is_async() {
        let a = invoke_async("read-movie-info", &id);
        let b = invoke_async("read-movie-reviews", &reviews);
        let (movie_info, reviews) = (a.join::<MovieInfoEntry>(), b.join::<Vec<ReviewEntry>>());
        let (movie_info, reviews) = (movie_info?, reviews?);
        let c = invoke_async("read-cast-info", &cast_ids(&movie_info));
        let d = invoke_async(
            "read-plot",
            &PlotId {
                plot_id: movie_info.plot_id,
            },
        );
        let (cast_info, plot) = (c.join::<Vec<CastInfoEntry>>(), d.join::<String>());
        Ok(Page {
            movie_info,
            reviews,
            cast_info: cast_info?,
            plot: plot?,
        })
    } else {
        let movie_info: MovieInfoEntry = invoke("read-movie-info", &id)?;
        let reviews: Vec<ReviewEntry> = invoke("read-movie-reviews", &reviews)?;
        let cast_info: Vec<CastInfoEntry> = invoke("read-cast-info", &cast_ids(&movie_info))?;
        let plot: String = invoke(
            "read-plot",
            &PlotId {
                plot_id: movie_info.plot_id,
            },
        )?;
        Ok(Page {
            movie_info,
            reviews,
            cast_info,
            plot,
        })
    }
}

quilt_sdk::handler!(page_service);
