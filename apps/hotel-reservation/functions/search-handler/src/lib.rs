//! `search-handler` (§4.2): the profiles of the hotels near a point that have a room for the
//! stay. Calls search-nearby, then check-availability, then get-profiles (sync only).

use hotel_lib::HotelProfile;
use quilt_sdk::{invoke, Error};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct Search {
    latitude: f64,
    longitude: f64,
    in_date: String,
    out_date: String,
}

#[derive(Serialize)]
struct Availability<'a> {
    customer_name: &'a str,
    hotel_id: &'a [String],
    in_date: &'a str,
    out_date: &'a str,
    room_number: i32,
}

#[derive(Serialize)]
struct Profiles<'a> {
    hotel_ids: &'a [String],
}

fn search_handler(req: Search) -> Result<Vec<HotelProfile>, Error> {
    let nearby: Vec<String> = invoke("search-nearby", &req)?;
    let available: Vec<String> = invoke(
        "check-availability",
        &Availability {
            customer_name: "",
            hotel_id: &nearby,
            in_date: &req.in_date,
            out_date: &req.out_date,
            room_number: 1,
        },
    )?;
    invoke(
        "get-profiles",
        &Profiles {
            hotel_ids: &available,
        },
    )
}

quilt_sdk::handler!(search_handler);
