//! `nearby-hotel` (§4.2): up to 5 hotels whose squared distance to the point is at most 10,
//! nearest first. Real: every `geo:*` hash from Redis. Fake database: 100 random hotels.

use hotel_lib::{radius_search, uniform, Point};
use quilt_apps_common::{fakedb, store};
use quilt_sdk::Error;
use serde::Deserialize;

#[derive(Deserialize)]
struct Query {
    latitude: f64,
    longitude: f64,
}

fn nearby_hotel(q: Query) -> Result<Vec<String>, Error> {
    let points = if fakedb() {
        (0..100)
            .map(|i| Point {
                id: format!("hotel_{i}"),
                latitude: uniform(32.0, 39.9),
                longitude: uniform(112.0, 119.9),
            })
            .collect()
    } else {
        load()?
    };
    Ok(radius_search(&points, q.latitude, q.longitude))
}

fn load() -> Result<Vec<Point>, Error> {
    let keys = store::redis(|c| store::scan(c, "geo:*"))
        .map_err(|_| Error::msg("Error: finding any of the hotel record"))?;
    if keys.is_empty() {
        return Ok(Vec::new());
    }
    let rows: Vec<Vec<Option<String>>> = store::redis(|c| {
        let mut p = redis::pipe();
        for k in &keys {
            p.cmd("HMGET").arg(k).arg(&["id", "latitude", "longitude"]);
        }
        p.query(c)
    })?;
    keys.iter()
        .zip(rows)
        .map(|(key, row)| {
            let num = |v: &Option<String>| v.as_deref().and_then(|s| s.parse::<f64>().ok());
            match (&row[..], row.get(1).and_then(num), row.get(2).and_then(num)) {
                ([Some(id), _, _], Some(latitude), Some(longitude)) => Ok(Point {
                    id: id.clone(),
                    latitude,
                    longitude,
                }),
                _ => Err(Error::msg(format!(
                    "error in loading hotel info, with id: {key}"
                ))),
            }
        })
        .collect()
}

quilt_sdk::handler!(nearby_hotel);
