//! `make-reservation` (§4.2): reserves `room_number` rooms in a hotel for every night of the stay
//! when all of them fit in its capacity; answers `[hotel_id]` on success, `[]` otherwise. Real:
//! counts through memcached and Redis (`hotel-store`), on success written to both. Fake database:
//! capacity 400, random counts, 2 ms per night, nothing written.
//!
//! Like the reference, the read-check-write is not atomic: concurrent reservations of one hotel
//! and night may overbook.

use hotel_lib::{nights, FAKE_CAPACITY};
use quilt_apps_common::{fake_sleep, fakedb, store};
use quilt_sdk::Error;
use rand::RngExt;
use serde::Deserialize;

#[derive(Deserialize)]
struct Request {
    hotel_id: String,
    in_date: String,
    out_date: String,
    room_number: i32,
}

fn make_reservation(req: Request) -> Result<Vec<String>, Error> {
    let nights = nights(&req.in_date, &req.out_date).map_err(Error::msg)?;
    let rooms = i64::from(req.room_number);
    if fakedb() {
        let mut rng = rand::rng();
        let mut fits = true;
        for _ in &nights {
            let number: i64 = rng.random_range(50..395);
            fake_sleep(2);
            fits &= number + rooms <= i64::from(FAKE_CAPACITY);
        }
        return Ok(if fits { vec![req.hotel_id] } else { Vec::new() });
    }
    let hid = &req.hotel_id;
    let cap = hotel_store::capacities(std::slice::from_ref(hid))?[0]
        .ok_or_else(|| Error::msg(format!("Hotel {hid} is not found in redis;")))?;
    let counts = hotel_store::night_counts(hid, &nights)?;
    if !counts.iter().all(|n| n + rooms <= i64::from(cap)) {
        return Ok(Vec::new());
    }
    for (night, n) in nights.iter().zip(counts) {
        let now = (n + rooms).to_string();
        store::mc_set(&night.cache_key(hid), &now)?;
        store::redis(|c| {
            redis::cmd("SET")
                .arg(night.redis_key(hid))
                .arg(&now)
                .query::<()>(c)
        })?;
    }
    Ok(vec![req.hotel_id])
}

quilt_sdk::handler!(make_reservation);
