//! `get-nearby-points-cinema` (§4.2): the 5 cinemas nearest to a point (Euclidean, brute force),
//! nearest first. Real: every `cinema:*` hash from Redis; each result keeps its own id (the
//! reference recovered ids by coordinates, §7.23). Fake database: 100 random cinemas.

use hotel_lib::{k_nearest, uniform, Point};
use quilt_apps_common::{alnum, fakedb, store};
use quilt_sdk::Error;
use serde::Deserialize;

#[derive(Deserialize)]
struct Query {
    latitude: f64,
    longitude: f64,
}

fn get_nearby_points_cinema(q: Query) -> Result<Vec<Point>, Error> {
    let cinemas = if fakedb() {
        (0..100)
            .map(|i| {
                // The reference draws a name and a type per cinema; they are not returned.
                std::hint::black_box((alnum(10), alnum(10)));
                Point {
                    id: format!("c{i}"),
                    latitude: uniform(32.0, 39.9),
                    longitude: uniform(112.0, 119.9),
                }
            })
            .collect()
    } else {
        load()?
    };
    Ok(k_nearest(cinemas, q.latitude, q.longitude, 5))
}

fn load() -> Result<Vec<Point>, Error> {
    let keys = store::redis(|c| store::scan(c, "cinema:*"))?;
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<Vec<Option<String>>> = store::redis(|c| {
        let mut p = redis::pipe();
        for k in &keys {
            p.cmd("HMGET").arg(k).arg(&[
                "cinema_id",
                "latitude",
                "longitude",
                "cinema_name",
                "cinema_type",
            ]);
        }
        p.query(c)
    })?;
    keys.iter()
        .zip(rows)
        .map(|(key, row)| {
            let num = |i: usize| row.get(i)?.as_deref()?.parse::<f64>().ok();
            match (row.first().cloned().flatten(), num(1), num(2)) {
                (Some(id), Some(latitude), Some(longitude)) => Ok(Point {
                    id,
                    latitude,
                    longitude,
                }),
                _ => Err(Error::msg(format!(
                    "error in loading cinema info, with id: {key}"
                ))),
            }
        })
        .collect()
}

quilt_sdk::handler!(get_nearby_points_cinema);
