//! `set-hotel-point` (§4.4, population): `HSET geo:<id>` `id`, `latitude`, `longitude`.

use quilt_apps_common::store;
use quilt_sdk::Error;
use serde::Deserialize;

#[derive(Deserialize)]
struct Request {
    id: String,
    latitude: f64,
    longitude: f64,
}

fn set_hotel_point(req: Request) -> Result<(), Error> {
    store::redis(|c| {
        redis::cmd("HSET")
            .arg(format!("geo:{}", req.id))
            .arg("id")
            .arg(&req.id)
            .arg("latitude")
            .arg(req.latitude.to_string())
            .arg("longitude")
            .arg(req.longitude.to_string())
            .query::<()>(c)
    })
}

quilt_sdk::handler!(set_hotel_point);
