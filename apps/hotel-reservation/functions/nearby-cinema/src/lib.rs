//! `nearby-cinema` (§4.2): the ids of the 5 cinemas nearest to a hotel, nearest first. Real: the
//! hotel's coordinates from Redis hash `geo:<hid>`. Fake database: a random query point.

use hotel_lib::{uniform, Point};
use quilt_apps_common::{fakedb, store};
use quilt_sdk::{invoke, Error};
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
struct Request {
    hotel_id: String,
}

#[derive(Serialize)]
struct Query {
    latitude: f64,
    longitude: f64,
}

fn nearby_cinema(req: Request) -> Result<Vec<String>, Error> {
    let query = if fakedb() {
        Query {
            latitude: uniform(31.0, 39.0),
            longitude: uniform(112.0, 119.9),
        }
    } else {
        let row: Vec<Option<String>> = store::redis(|c| {
            redis::cmd("HMGET")
                .arg(format!("geo:{}", req.hotel_id))
                .arg(&["latitude", "longitude"])
                .query(c)
        })?;
        let num = |i: usize| row.get(i)?.as_deref()?.parse::<f64>().ok();
        match (num(0), num(1)) {
            (Some(latitude), Some(longitude)) => Query {
                latitude,
                longitude,
            },
            _ => return Err(Error::msg(format!("Hotel {} does not exist", req.hotel_id))),
        }
    };
    let points: Vec<Point> = invoke("get-nearby-points-cinema", &query)?;
    Ok(points.into_iter().map(|p| p.id).collect())
}

quilt_sdk::handler!(nearby_cinema);
