//! `set-cinema` (§4.4, population): `HSET cinema:<cinema_id>` with all five fields.

use quilt_apps_common::store;
use quilt_sdk::Error;
use serde::Deserialize;

#[derive(Deserialize)]
struct Request {
    cinema_id: String,
    latitude: f64,
    longitude: f64,
    cinema_name: String,
    cinema_type: String,
}

fn set_cinema(req: Request) -> Result<(), Error> {
    store::redis(|c| {
        redis::cmd("HSET")
            .arg(format!("cinema:{}", req.cinema_id))
            .arg("cinema_id")
            .arg(&req.cinema_id)
            .arg("latitude")
            .arg(req.latitude.to_string())
            .arg("longitude")
            .arg(req.longitude.to_string())
            .arg("cinema_name")
            .arg(&req.cinema_name)
            .arg("cinema_type")
            .arg(&req.cinema_type)
            .query::<()>(c)
    })
}

quilt_sdk::handler!(set_cinema);
