//! `check-availability` (§4.2): the hotels (input order) with `room_number` rooms free on every
//! night of the stay. Real: capacities and night counts through memcached and Redis
//! (`hotel-store`). Fake database: capacity 400, random counts, the reference's sleeps.

use hotel_lib::{nights, FAKE_CAPACITY};
use quilt_apps_common::{fake_sleep, fakedb};
use quilt_sdk::Error;
use rand::RngExt;
use serde::Deserialize;

#[derive(Deserialize)]
struct Request {
    hotel_id: Vec<String>,
    in_date: String,
    out_date: String,
    room_number: i32,
}

fn check_availability(req: Request) -> Result<Vec<String>, Error> {
    let nights = nights(&req.in_date, &req.out_date).map_err(Error::msg)?;
    let rooms = i64::from(req.room_number);
    let mut out = Vec::new();
    if fakedb() {
        fake_sleep(4);
        let mut rng = rand::rng();
        for hid in &req.hotel_id {
            let mut fits = true;
            for _ in &nights {
                let number: i64 = rng.random_range(50..395);
                fake_sleep(2);
                fits &= number + rooms <= i64::from(FAKE_CAPACITY);
            }
            fake_sleep(2);
            if fits {
                out.push(hid.clone());
            }
        }
        return Ok(out);
    }
    let caps = hotel_store::capacities(&req.hotel_id)?;
    for (hid, cap) in req.hotel_id.iter().zip(caps) {
        let cap = cap.ok_or_else(|| {
            Error::msg(format!(
                "Error: cannot find capacity record for hotel_id={hid}"
            ))
        })?;
        let counts = hotel_store::night_counts(hid, &nights)?;
        if counts.iter().all(|n| n + rooms <= i64::from(cap)) {
            out.push(hid.clone());
        }
    }
    Ok(out)
}

quilt_sdk::handler!(check_availability);
