//! The hotel reservation's request generators and population plan (docs/BENCHMARKS.md §6.4).
//!
//! Bodies follow the reference's wrk2 scripts field for field and range for range, as valid JSON
//! with their fields in the scripts' order. Not generated: `nearby-cinema-parallel` and
//! `nearby-cinema-serial`, whose scripts send `{"hotel_id"}` to functions that need `{"num"}` and
//! always fail (§7.6); the fan-out family is driven through `nearby-cinema-top`.

use crate::{Generator, PopulateStep};
use rand::distr::{Alphanumeric, SampleString};
use rand::rngs::StdRng;
use rand::Rng;
use serde_json::Value;

/// The app's name.
pub const APP: &str = "hotel-reservation";

/// Every route with a generator.
pub const ROUTES: &[&str] = &[
    "search-handler",
    "search-handler-merged",
    "reservation-handler",
    "reservation-handler-merged",
    "nearby-cinema",
    "nearby-cinema-merged",
    "nearby-cinema-top",
    "nearby-cinema-top-merged",
    "nearby-cinema-top-2",
    "set-hotel-point",
    "register-user",
    "set-cinema",
    "set-capacity",
    "set-profile",
    "set-rate",
];

/// The reference's hotels: `hotel_0` … `hotel_99`.
pub const HOTELS: u64 = 100;
/// The reference's users: `username_0` … `username_999`.
pub const USERS: u64 = 1000;
/// The reference's cinemas: `cinema_0` … `cinema_499`.
pub const CINEMAS: u64 = 500;
/// The id range of the reference's `set-capacity` script (`hotel_<counter mod 1000>`).
pub const CAPACITY_IDS: u64 = 1000;
/// Points per leaf of the cinema fan-out family.
pub const CINEMA_POINTS: i64 = 300_000;

/// A JSON object with its fields in this order.
pub(crate) fn object(fields: &[(&str, Value)]) -> Vec<u8> {
    let mut out = b"{".to_vec();
    for (i, (k, v)) in fields.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        serde_json::to_writer(&mut out, k).expect("strings always serialize");
        out.push(b':');
        serde_json::to_writer(&mut out, v).expect("values always serialize");
    }
    out.push(b'}');
    out
}

/// `rstr(n)`: `n` characters uniform from the 62 alphanumerics.
pub(crate) fn rstr(rng: &mut StdRng, n: usize) -> String {
    Alphanumeric.sample_string(rng, n)
}

/// `rfloat(a, b)`: `a + (b - a)·u`, u uniform [0,1), kept to 14 significant digits as Lua prints.
pub(crate) fn rfloat(rng: &mut StdRng, a: f64, b: f64) -> f64 {
    let v = a + (b - a) * rng.random::<f64>();
    format!("{v:.13e}").parse().unwrap_or(v)
}

/// Days since 1970-01-01 of a date (proleptic Gregorian).
pub(crate) fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

/// `YYYY-MM-DD` of a day count since 1970-01-01.
pub(crate) fn format_date(z: i64) -> String {
    let z = z + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

/// `rdate(D1, D2)`: the date of a uniform random second between noon of `d1` and noon of `d2`
/// (so `d1` and `d2` come up half as often as the days between).
pub(crate) fn rdate(rng: &mut StdRng, d1: (i64, i64, i64), d2: (i64, i64, i64)) -> String {
    let a = days_from_civil(d1.0, d1.1, d1.2);
    let b = days_from_civil(d2.0, d2.1, d2.2);
    let s = rng.random_range(0..(b - a) * 86_400);
    format_date(a + (43_200 + s) / 86_400)
}

/// A counter-driven generator: the counter starts at 0 and is incremented before each request,
/// `i = counter mod n`, so `n` requests write each id once.
fn cycling(n: u64, body: fn(&mut StdRng, u64) -> Vec<u8>) -> Generator {
    let mut counter = 0u64;
    Box::new(move |rng| {
        counter += 1;
        body(rng, counter % n)
    })
}

fn hotel_point(rng: &mut StdRng, i: u64) -> Vec<u8> {
    object(&[
        ("latitude", rfloat(rng, 32.0, 35.0).into()),
        ("longitude", rfloat(rng, 116.0, 119.0).into()),
        ("id", format!("hotel_{i}").into()),
    ])
}

fn register_user(_: &mut StdRng, i: u64) -> Vec<u8> {
    object(&[
        ("username", format!("username_{i}").into()),
        ("password", "123456".into()),
    ])
}

fn cinema(rng: &mut StdRng, i: u64) -> Vec<u8> {
    object(&[
        ("latitude", rfloat(rng, 32.0, 35.0).into()),
        ("longitude", rfloat(rng, 116.0, 119.0).into()),
        ("cinema_id", format!("cinema_{i}").into()),
        ("cinema_name", rstr(rng, 10).into()),
        ("cinema_type", rstr(rng, 5).into()),
    ])
}

fn capacity(rng: &mut StdRng, i: u64) -> Vec<u8> {
    object(&[
        ("hotel_id", format!("hotel_{i}").into()),
        ("capacity", rng.random_range(200..=300).into()),
    ])
}

fn profile(rng: &mut StdRng, i: u64) -> Vec<u8> {
    let address = object(&[
        ("street_number", rstr(rng, 5).into()),
        ("street_name", rstr(rng, 8).into()),
        ("city", rstr(rng, 10).into()),
        ("state", rstr(rng, 2).into()),
        ("country", rstr(rng, 10).into()),
        ("postal_code", rstr(rng, 6).into()),
        ("latitude", rfloat(rng, 32.0, 35.0).into()),
        ("longitude", rfloat(rng, 116.0, 119.0).into()),
    ]);
    let images: Vec<Value> = (0..rng.random_range(0..=4) + 1)
        .map(|_| {
            serde_json::json!({"url": format!("http://{}.png", rstr(rng, 10)), "default": false})
        })
        .collect();
    object(&[
        ("hotel_id", format!("hotel_{i}").into()),
        ("name", rstr(rng, 15).into()),
        ("phone_number", rstr(rng, 12).into()),
        ("description", rstr(rng, 20).into()),
        (
            "address",
            serde_json::from_slice(&address).expect("valid JSON"),
        ),
        ("images", images.into()),
    ])
}

fn rate(rng: &mut StdRng, i: u64) -> Vec<u8> {
    let room_type = serde_json::json!({
        "bookable_rate": rfloat(rng, 100.0, 500.0),
        "total_rate": rfloat(rng, 200.0, 600.0),
        "total_rate_inclusive": rfloat(rng, 200.0, 600.0),
        "code": rstr(rng, 8),
        "currency": rstr(rng, 3),
        "room_description": rstr(rng, 20),
    });
    object(&[
        ("hotel_id", format!("hotel_{i}").into()),
        ("code", rstr(rng, 5).into()),
        ("in_date", "2023-01-01".into()),
        ("out_date", "2025-12-31".into()),
        ("room_type", room_type),
    ])
}

fn search(rng: &mut StdRng) -> Vec<u8> {
    object(&[
        ("latitude", rfloat(rng, 32.0, 35.0).into()),
        ("longitude", rfloat(rng, 116.0, 119.0).into()),
        ("in_date", rdate(rng, (2024, 11, 5), (2024, 11, 10)).into()),
        (
            "out_date",
            rdate(rng, (2024, 11, 11), (2024, 11, 15)).into(),
        ),
    ])
}

fn reservation(rng: &mut StdRng) -> Vec<u8> {
    object(&[
        ("customer_name", rstr(rng, 15).into()),
        (
            "username",
            format!("username_{}", rng.random_range(1..=999)).into(),
        ),
        ("password", "123456".into()),
        (
            "hotel_id",
            format!("hotel_{}", rng.random_range(1..=99)).into(),
        ),
        ("in_date", rdate(rng, (2024, 11, 1), (2024, 11, 30)).into()),
        ("out_date", rdate(rng, (2024, 12, 1), (2024, 12, 31)).into()),
        ("room_number", rng.random_range(1..=5).into()),
    ])
}

/// The generator of a hotel-reservation route (docs/BENCHMARKS.md §6.4), or None.
pub fn generator(route: &str) -> Option<Generator> {
    Some(match route {
        "search-handler" | "search-handler-merged" => Box::new(search),
        "reservation-handler" | "reservation-handler-merged" => Box::new(reservation),
        "nearby-cinema" | "nearby-cinema-merged" => Box::new(|rng| {
            object(&[(
                "hotel_id",
                format!("hotel_{}", rng.random_range(0..=99)).into(),
            )])
        }),
        "nearby-cinema-top" | "nearby-cinema-top-merged" | "nearby-cinema-top-2" => {
            Box::new(|_| object(&[("num", CINEMA_POINTS.into())]))
        }
        "set-hotel-point" => cycling(HOTELS, hotel_point),
        "register-user" => cycling(USERS, register_user),
        "set-cinema" => cycling(CINEMAS, cinema),
        "set-capacity" => cycling(CAPACITY_IDS, capacity),
        "set-profile" => cycling(HOTELS, profile),
        "set-rate" => cycling(HOTELS, rate),
        _ => return None,
    })
}

/// `count · scale` rounded, at least 1 and at most `count` (the id range).
fn scaled(count: u64, scale: f64) -> usize {
    ((count as f64 * scale).round() as usize).clamp(1, count as usize)
}

/// The population, in the reference's order: `set-hotel-point`, `register-user`, `set-cinema`,
/// `set-capacity`, `set-profile`, `set-rate`, each id written once (at scale 1: 100 hotels, 1000
/// users, 500 cinemas; capacities only for the 100 hotels that exist, not the script's 1000).
/// `scale` below 1 writes a prefix of each id range (requests for other ids then find nothing).
pub fn populate_plan(scale: f64) -> Vec<PopulateStep> {
    let step = |route: &str, n: u64, body: fn(&mut StdRng, u64) -> Vec<u8>| PopulateStep {
        route: route.into(),
        count: scaled(n, scale),
        generator: cycling(n, body),
    };
    vec![
        step("set-hotel-point", HOTELS, hotel_point),
        step("register-user", USERS, register_user),
        step("set-cinema", CINEMAS, cinema),
        step("set-capacity", HOTELS, capacity),
        step("set-profile", HOTELS, profile),
        step("set-rate", HOTELS, rate),
    ]
}

/// Every `hotel-reservation/<route>` with a generator.
pub fn known() -> Vec<String> {
    ROUTES.iter().map(|r| format!("{APP}/{r}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use serde_json::Map;

    fn bodies(route: &str, n: usize) -> Vec<Map<String, Value>> {
        let mut g = generator(route).unwrap();
        let mut rng = StdRng::seed_from_u64(11);
        (0..n)
            .map(|_| match serde_json::from_slice(&g(&mut rng)) {
                Ok(Value::Object(m)) => m,
                other => panic!("{route}: not a JSON object: {other:?}"),
            })
            .collect()
    }

    fn f(m: &Map<String, Value>, k: &str) -> f64 {
        m[k].as_f64().unwrap_or_else(|| panic!("{k} in {m:?}"))
    }

    fn s<'a>(m: &'a Map<String, Value>, k: &str) -> &'a str {
        m[k].as_str().unwrap_or_else(|| panic!("{k} in {m:?}"))
    }

    fn days(d: &str) -> i64 {
        let p: Vec<i64> = d.split('-').map(|x| x.parse().unwrap()).collect();
        assert_eq!(format_date(days_from_civil(p[0], p[1], p[2])), d);
        days_from_civil(p[0], p[1], p[2])
    }

    #[test]
    fn every_route_generates_json_objects() {
        for r in ROUTES {
            assert_eq!(bodies(r, 20).len(), 20);
        }
        assert!(generator("nearby-cinema-serial").is_none());
        assert_eq!(known().len(), ROUTES.len());
    }

    #[test]
    fn dates() {
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(format_date(days_from_civil(2024, 2, 29)), "2024-02-29");
        assert_eq!(format_date(days_from_civil(2024, 12, 31) + 1), "2025-01-01");
    }

    #[test]
    fn search_ranges() {
        let (mut first_in, mut last_out) = (i64::MAX, 0);
        for m in bodies("search-handler", 2000) {
            assert!((32.0..35.0).contains(&f(&m, "latitude")));
            assert!((116.0..119.0).contains(&f(&m, "longitude")));
            let (a, b) = (days(s(&m, "in_date")), days(s(&m, "out_date")));
            assert!((days("2024-11-05")..=days("2024-11-10")).contains(&a));
            assert!((days("2024-11-11")..=days("2024-11-15")).contains(&b));
            assert!((1..=10).contains(&(b - a)));
            first_in = first_in.min(a);
            last_out = last_out.max(b);
        }
        assert_eq!(first_in, days("2024-11-05"));
        assert_eq!(last_out, days("2024-11-15"));
    }

    #[test]
    fn reservation_ranges() {
        for m in bodies("reservation-handler", 1000) {
            assert_eq!(s(&m, "customer_name").len(), 15);
            let u: u64 = s(&m, "username")["username_".len()..].parse().unwrap();
            assert!((1..=999).contains(&u));
            assert_eq!(s(&m, "password"), "123456");
            let h: u64 = s(&m, "hotel_id")["hotel_".len()..].parse().unwrap();
            assert!((1..=99).contains(&h));
            let (a, b) = (days(s(&m, "in_date")), days(s(&m, "out_date")));
            assert!((days("2024-11-01")..=days("2024-11-30")).contains(&a));
            assert!((days("2024-12-01")..=days("2024-12-31")).contains(&b));
            assert!((1..=5).contains(&m["room_number"].as_i64().unwrap()));
        }
        for m in bodies("nearby-cinema", 300) {
            let h: u64 = s(&m, "hotel_id")["hotel_".len()..].parse().unwrap();
            assert!(h <= 99);
        }
        let top = bodies("nearby-cinema-top", 1);
        assert_eq!(top[0]["num"], 300_000);
    }

    #[test]
    fn population_writes_each_id_once() {
        let plan = populate_plan(1.0);
        let routes: Vec<&str> = plan.iter().map(|s| s.route.as_str()).collect();
        assert_eq!(
            routes,
            [
                "set-hotel-point",
                "register-user",
                "set-cinema",
                "set-capacity",
                "set-profile",
                "set-rate"
            ]
        );
        let mut rng = StdRng::seed_from_u64(3);
        for mut step in plan {
            let key = match step.route.as_str() {
                "set-hotel-point" => "id",
                "register-user" => "username",
                "set-cinema" => "cinema_id",
                _ => "hotel_id",
            };
            let mut ids = std::collections::HashSet::new();
            for _ in 0..step.count {
                let body: Map<String, Value> =
                    serde_json::from_slice(&(step.generator)(&mut rng)).unwrap();
                match step.route.as_str() {
                    "set-cinema" | "set-hotel-point" => {
                        assert!((32.0..35.0).contains(&f(&body, "latitude")));
                        assert!((116.0..119.0).contains(&f(&body, "longitude")));
                    }
                    "set-capacity" => {
                        assert!((200..=300).contains(&body["capacity"].as_i64().unwrap()))
                    }
                    "set-profile" => {
                        let images = body["images"].as_array().unwrap();
                        assert!((1..=5).contains(&images.len()));
                        assert!(
                            s(&body["address"].as_object().unwrap().clone(), "state").len() == 2
                        );
                    }
                    "set-rate" => {
                        let rt = body["room_type"].as_object().unwrap();
                        assert!((100.0..500.0).contains(&f(rt, "bookable_rate")));
                        assert!((200.0..600.0).contains(&f(rt, "total_rate")));
                    }
                    _ => {}
                }
                assert!(ids.insert(s(&body, key).to_string()), "{key} twice");
            }
        }
        let small = populate_plan(0.1);
        assert_eq!(small[0].count, 10);
        assert_eq!(populate_plan(5.0)[1].count, 1000);
    }
}
