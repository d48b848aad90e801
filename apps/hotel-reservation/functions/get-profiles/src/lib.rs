//! `get-profiles` (§4.2): the profile of each hotel, in input order. Real: memcached
//! `<hid>:profile` (JSON), else Redis hash `profile:<hid>`, then cached. Fake database: random
//! profiles.

use hotel_lib::{Address, HotelProfile, Image};
use quilt_apps_common::{alnum, err, fakedb, store};
use quilt_sdk::Error;
use rand::RngExt;
use serde::Deserialize;

#[derive(Deserialize)]
struct Request {
    hotel_ids: Vec<String>,
}

fn get_profiles(req: Request) -> Result<Vec<HotelProfile>, Error> {
    if fakedb() {
        return Ok(req.hotel_ids.iter().map(|h| fake_profile(h)).collect());
    }
    let keys: Vec<String> = req
        .hotel_ids
        .iter()
        .map(|h| format!("{h}:profile"))
        .collect();
    let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    let cached = store::mc_gets(&refs)?;
    let mut out = Vec::with_capacity(keys.len());
    for (hid, key) in req.hotel_ids.iter().zip(&keys) {
        if let Some(p) = cached.get(key).and_then(|v| serde_json::from_str(v).ok()) {
            out.push(p);
            continue;
        }
        let row: Vec<Option<String>> = store::redis(|c| {
            redis::cmd("HMGET")
                .arg(format!("profile:{hid}"))
                .arg(&[
                    "hotel_id",
                    "name",
                    "phone_number",
                    "description",
                    "address",
                    "images",
                ])
                .query(c)
        })?;
        let profile = parse(row)
            .ok_or_else(|| Error::msg(format!("profile of hotel {hid} is not found in redis")))?;
        store::mc_set(key, &serde_json::to_string(&profile).map_err(err)?)?;
        out.push(profile);
    }
    Ok(out)
}

fn parse(row: Vec<Option<String>>) -> Option<HotelProfile> {
    let mut it = row.into_iter();
    let mut next = || it.next().flatten();
    Some(HotelProfile {
        hotel_id: next()?,
        name: next()?,
        phone_number: next()?,
        description: next()?,
        address: serde_json::from_str(&next()?).ok()?,
        images: serde_json::from_str(&next()?).ok()?,
    })
}

fn fake_profile(hotel_id: &str) -> HotelProfile {
    let mut rng = rand::rng();
    HotelProfile {
        hotel_id: hotel_id.to_string(),
        name: alnum(6),
        phone_number: alnum(10),
        description: alnum(20),
        address: Address {
            street_number: alnum(2),
            street_name: alnum(10),
            city: alnum(6),
            state: alnum(2),
            country: alnum(6),
            postal_code: alnum(6),
            latitude: rng.random_range(32.0..39.9),
            longitude: rng.random_range(112.0..119.9),
        },
        images: (0..5)
            .map(|_| Image {
                url: alnum(10),
                default: true,
            })
            .collect(),
    }
}

quilt_sdk::handler!(get_profiles);
