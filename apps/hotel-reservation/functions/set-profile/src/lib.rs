//! `set-profile` (§4.4, population): `HSET profile:<hotel_id>` `hotel_id`, `name`,
//! `phone_number`, `description`, `address` (JSON), `images` (JSON).

use hotel_lib::{Address, Image};
use quilt_apps_common::{err, store};
use quilt_sdk::Error;
use serde::Deserialize;

#[derive(Deserialize)]
struct Request {
    hotel_id: String,
    name: String,
    phone_number: String,
    description: String,
    address: Address,
    images: Vec<Image>,
}

fn set_profile(req: Request) -> Result<(), Error> {
    let address = serde_json::to_string(&req.address).map_err(err)?;
    let images = serde_json::to_string(&req.images).map_err(err)?;
    store::redis(|c| {
        redis::cmd("HSET")
            .arg(format!("profile:{}", req.hotel_id))
            .arg("hotel_id")
            .arg(&req.hotel_id)
            .arg("name")
            .arg(&req.name)
            .arg("phone_number")
            .arg(&req.phone_number)
            .arg("description")
            .arg(&req.description)
            .arg("address")
            .arg(&address)
            .arg("images")
            .arg(&images)
            .query::<()>(c)
    })
}

quilt_sdk::handler!(set_profile);
