//! `search-nearby` (§4.2): the ids of the hotels near a point that have a rate plan. Calls
//! nearby-hotel, then get-rates; answers the hotel id of each rate plan, in order.

use hotel_lib::RatePlan;
use quilt_sdk::{invoke, Error};
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
struct Search {
    latitude: f64,
    longitude: f64,
    in_date: String,
    out_date: String,
}

#[derive(Serialize)]
struct Query {
    latitude: f64,
    longitude: f64,
}

#[derive(Serialize)]
struct Rates<'a> {
    hotel_ids: &'a [String],
    in_date: &'a str,
    out_date: &'a str,
}

fn search_nearby(req: Search) -> Result<Vec<String>, Error> {
    let ids: Vec<String> = invoke(
        "nearby-hotel",
        &Query {
            latitude: req.latitude,
            longitude: req.longitude,
        },
    )?;
    let rates: Vec<RatePlan> = invoke(
        "get-rates",
        &Rates {
            hotel_ids: &ids,
            in_date: &req.in_date,
            out_date: &req.out_date,
        },
    )?;
    Ok(rates.into_iter().map(|r| r.hotel_id).collect())
}

quilt_sdk::handler!(search_nearby);
