//! `set-capacity` (§4.4, population): `SET number:<hotel_id> <capacity>`.

use quilt_apps_common::store;
use quilt_sdk::Error;
use serde::Deserialize;

#[derive(Deserialize)]
struct Request {
    hotel_id: String,
    capacity: i32,
}

fn set_capacity(req: Request) -> Result<(), Error> {
    store::redis(|c| {
        redis::cmd("SET")
            .arg(format!("number:{}", req.hotel_id))
            .arg(req.capacity)
            .query::<()>(c)
    })
}

quilt_sdk::handler!(set_capacity);
