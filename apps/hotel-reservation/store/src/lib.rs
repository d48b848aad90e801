//! Storage access shared by check-availability and make-reservation (real mode only): hotel
//! capacities and the reservation count of each night, with the reference's key layout.
//!
//! - capacity: Redis `number:<hid>` (decimal), cached in memcached as `<hid>_cap` (JSON
//!   `HotelCapacity`), by both functions (the reference's make-reservation cached it under `<hid>`
//!   and check-availability re-read every capacity on every call, §7.13/§7.14);
//! - night count: Redis `reservation:<hid>:<d>:<d+1>` (decimal), cached in memcached as
//!   `<hid>_<d>_<d+1>` (decimal) by both functions (the reference cached JSON in one and parsed
//!   integers in the other, and dropped every key of an id with an underscore, §7.14/§7.15).

use hotel_lib::{HotelCapacity, Night};
use quilt_apps_common::store;
use quilt_sdk::Error;

/// The capacity of each hotel, in order; `None` where the hotel has no capacity record.
pub fn capacities(hotel_ids: &[String]) -> Result<Vec<Option<i32>>, Error> {
    let keys: Vec<String> = hotel_ids.iter().map(|h| format!("{h}_cap")).collect();
    let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    let cached = store::mc_gets(&refs)?;
    let mut out = Vec::with_capacity(hotel_ids.len());
    for (hid, key) in hotel_ids.iter().zip(&keys) {
        let hit = cached
            .get(key)
            .and_then(|v| serde_json::from_str::<HotelCapacity>(v).ok());
        if let Some(c) = hit {
            out.push(Some(c.capacity));
            continue;
        }
        let number: Option<String> =
            store::redis(|c| redis::cmd("GET").arg(format!("number:{hid}")).query(c))?;
        let capacity = match number.and_then(|n| n.trim().parse::<i32>().ok()) {
            Some(n) => n,
            None => {
                out.push(None);
                continue;
            }
        };
        let record = HotelCapacity {
            hotel_id: hid.clone(),
            capacity,
        };
        store::mc_set(
            key,
            &serde_json::to_string(&record).map_err(quilt_apps_common::err)?,
        )?;
        out.push(Some(capacity));
    }
    Ok(out)
}

/// The rooms already reserved in `hotel_id` on each night, in order (absent: 0). Misses in
/// memcached are read from Redis and cached.
pub fn night_counts(hotel_id: &str, nights: &[Night]) -> Result<Vec<i64>, Error> {
    let keys: Vec<String> = nights.iter().map(|n| n.cache_key(hotel_id)).collect();
    let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    let cached = store::mc_gets(&refs)?;
    let mut out = Vec::with_capacity(nights.len());
    for (night, key) in nights.iter().zip(&keys) {
        if let Some(n) = cached.get(key).and_then(|v| v.trim().parse::<i64>().ok()) {
            out.push(n);
            continue;
        }
        let stored: Option<String> =
            store::redis(|c| redis::cmd("GET").arg(night.redis_key(hotel_id)).query(c))?;
        let n = stored.and_then(|s| s.trim().parse().ok()).unwrap_or(0);
        store::mc_set(key, &n.to_string())?;
        out.push(n);
    }
    Ok(out)
}
