//! `set-rate` (§4.4, population): `HSET rate:<hotel_id>` `hotel_id`, `code`, `in_date`,
//! `out_date`, `room_type` (JSON).

use hotel_lib::RoomType;
use quilt_apps_common::{err, store};
use quilt_sdk::Error;
use serde::Deserialize;

#[derive(Deserialize)]
struct Request {
    hotel_id: String,
    code: String,
    in_date: String,
    out_date: String,
    room_type: RoomType,
}

fn set_rate(req: Request) -> Result<(), Error> {
    let room_type = serde_json::to_string(&req.room_type).map_err(err)?;
    store::redis(|c| {
        redis::cmd("HSET")
            .arg(format!("rate:{}", req.hotel_id))
            .arg("hotel_id")
            .arg(&req.hotel_id)
            .arg("code")
            .arg(&req.code)
            .arg("in_date")
            .arg(&req.in_date)
            .arg("out_date")
            .arg(&req.out_date)
            .arg("room_type")
            .arg(&room_type)
            .query::<()>(c)
    })
}

quilt_sdk::handler!(set_rate);
