//! `get-rates` (§4.2): the rate plan of each hotel, in input order (the dates are ignored).
//! Real: memcached `<hid>:rate` (JSON), else Redis hash `rate:<hid>`, then cached. Fake database:
//! random plans.

use hotel_lib::{RatePlan, RoomType};
use quilt_apps_common::{alnum, err, fakedb, store};
use quilt_sdk::Error;
use rand::RngExt;
use serde::Deserialize;

#[derive(Deserialize)]
struct Request {
    hotel_ids: Vec<String>,
}

fn get_rates(req: Request) -> Result<Vec<RatePlan>, Error> {
    if fakedb() {
        return Ok(req.hotel_ids.iter().map(|h| fake_plan(h)).collect());
    }
    let keys: Vec<String> = req.hotel_ids.iter().map(|h| format!("{h}:rate")).collect();
    let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    let cached = store::mc_gets(&refs)?;
    let mut out = Vec::with_capacity(keys.len());
    for (hid, key) in req.hotel_ids.iter().zip(&keys) {
        if let Some(plan) = cached.get(key).and_then(|v| serde_json::from_str(v).ok()) {
            out.push(plan);
            continue;
        }
        let row: Vec<Option<String>> = store::redis(|c| {
            redis::cmd("HMGET")
                .arg(format!("rate:{hid}"))
                .arg(&["hotel_id", "code", "in_date", "out_date", "room_type"])
                .query(c)
        })?;
        let plan = parse(row)
            .ok_or_else(|| Error::msg(format!("error in loading rating info, with id: {hid}")))?;
        store::mc_set(key, &serde_json::to_string(&plan).map_err(err)?)?;
        out.push(plan);
    }
    Ok(out)
}

fn parse(row: Vec<Option<String>>) -> Option<RatePlan> {
    let mut it = row.into_iter();
    let mut next = || it.next().flatten();
    Some(RatePlan {
        hotel_id: next()?,
        code: next()?,
        in_date: next()?,
        out_date: next()?,
        room_type: serde_json::from_str(&next()?).ok()?,
    })
}

fn fake_plan(hotel_id: &str) -> RatePlan {
    let mut rng = rand::rng();
    RatePlan {
        hotel_id: hotel_id.to_string(),
        code: alnum(6),
        in_date: alnum(10),
        out_date: alnum(10),
        room_type: RoomType {
            bookable_rate: rng.random_range(80.0..500.0),
            total_rate: rng.random_range(80.0..500.0),
            total_rate_inclusive: rng.random_range(80.0..500.0),
            code: alnum(6),
            currency: alnum(3),
            room_description: alnum(25),
        },
    }
}

quilt_sdk::handler!(get_rates);
