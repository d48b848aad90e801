//! Shared code of the hotel-reservation functions (docs/BENCHMARKS.md §4): the record
//! shapes, dates and the nights of a stay, the two KNN searches and the cinema fan-out leaves.
//!
//! Storage-free on purpose: the cinema fan-out family depends on this crate only, so that its
//! merged binary stays small.

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use serde::{Deserialize, Serialize};

/// A point of interest (hotel or cinema).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Point {
    pub id: String,
    pub latitude: f64,
    pub longitude: f64,
}

/// A room type of a rate plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoomType {
    pub bookable_rate: f64,
    pub total_rate: f64,
    pub total_rate_inclusive: f64,
    pub code: String,
    pub currency: String,
    pub room_description: String,
}

/// A hotel's rate plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RatePlan {
    pub hotel_id: String,
    pub code: String,
    pub in_date: String,
    pub out_date: String,
    pub room_type: RoomType,
}

/// A hotel's address.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Address {
    pub street_number: String,
    pub street_name: String,
    pub city: String,
    pub state: String,
    pub country: String,
    pub postal_code: String,
    pub latitude: f32,
    pub longitude: f32,
}

/// An image of a hotel.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Image {
    pub url: String,
    pub default: bool,
}

/// A hotel's profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HotelProfile {
    pub hotel_id: String,
    pub name: String,
    pub phone_number: String,
    pub description: String,
    pub address: Address,
    pub images: Vec<Image>,
}

/// A hotel's capacity (rooms per night).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HotelCapacity {
    pub hotel_id: String,
    pub capacity: i32,
}

/// Capacity every hotel has in fake-database mode.
pub const FAKE_CAPACITY: i32 = 400;

/// Nights of one stay above which a request is refused (a guard against runaway date ranges).
pub const MAX_NIGHTS: i64 = 3660;

/// Days since 1970-01-01 of a `YYYY-MM-DD` date.
pub fn parse_date(s: &str) -> Result<i64, String> {
    let bad = || format!("bad date '{s}': expected YYYY-MM-DD");
    let parts: Vec<&str> = s.split('-').collect();
    if parts.len() != 3 || parts[0].len() != 4 || parts[1].len() != 2 || parts[2].len() != 2 {
        return Err(bad());
    }
    let num = |p: &str| -> Result<i64, String> {
        if p.bytes().all(|b| b.is_ascii_digit()) {
            p.parse().map_err(|_| bad())
        } else {
            Err(bad())
        }
    };
    let (y, m, d) = (num(parts[0])?, num(parts[1])?, num(parts[2])?);
    if !(1..=12).contains(&m) || d < 1 {
        return Err(bad());
    }
    let days = days_from_civil(y, m, d);
    if civil_from_days(days) != (y, m, d) {
        return Err(bad());
    }
    Ok(days)
}

/// `YYYY-MM-DD` of a day count since 1970-01-01.
pub fn format_date(days: i64) -> String {
    let (y, m, d) = civil_from_days(days);
    format!("{y:04}-{m:02}-{d:02}")
}

fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146097 + doe - 719468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719468;
    let era = if z >= 0 { z } else { z - 146096 } / 146097;
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// One night of a stay: the day and the next day, both `YYYY-MM-DD`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Night {
    pub from: String,
    pub to: String,
}

impl Night {
    /// The memcached key of this night's reservation count: `<hid>_<d>_<d+1>`.
    pub fn cache_key(&self, hotel_id: &str) -> String {
        format!("{hotel_id}_{}_{}", self.from, self.to)
    }

    /// The Redis key of this night's reservation count: `reservation:<hid>:<d>:<d+1>`.
    pub fn redis_key(&self, hotel_id: &str) -> String {
        format!("reservation:{hotel_id}:{}:{}", self.from, self.to)
    }
}

/// The nights of a stay: each day pair `(d, d+1)` from `in_date` while `d+1 <= out_date` (none
/// when `out_date <= in_date`).
pub fn nights(in_date: &str, out_date: &str) -> Result<Vec<Night>, String> {
    let a = parse_date(in_date)?;
    let b = parse_date(out_date)?;
    if b - a > MAX_NIGHTS {
        return Err(format!(
            "stay {in_date}..{out_date} is longer than {MAX_NIGHTS} nights"
        ));
    }
    Ok((a..b)
        .map(|d| Night {
            from: format_date(d),
            to: format_date(d + 1),
        })
        .collect())
}

/// Most results of the hotel radius search (`maxSearchResults`).
pub const MAX_SEARCH_RESULTS: usize = 5;
/// Radius of the hotel search, compared with the *squared* distance (`maxSearchRadius`).
pub const MAX_SEARCH_RADIUS: f64 = 10.0;

/// The hotel search of nearby-hotel: points whose squared Euclidean distance to the query is at
/// most [`MAX_SEARCH_RADIUS`], nearest first (ties by id), at most [`MAX_SEARCH_RESULTS`]. The
/// reference builds a KD-tree per request; a scan gives the same answer.
pub fn radius_search(points: &[Point], latitude: f64, longitude: f64) -> Vec<String> {
    let mut within: Vec<(f64, &Point)> = points
        .iter()
        .map(|p| (dist2(p.latitude, p.longitude, latitude, longitude), p))
        .filter(|(d, _)| *d <= MAX_SEARCH_RADIUS)
        .collect();
    within.sort_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.id.cmp(&b.1.id)));
    within
        .into_iter()
        .take(MAX_SEARCH_RESULTS)
        .map(|(_, p)| p.id.clone())
        .collect()
}

/// The `k` points nearest to the query by Euclidean distance, nearest first (ties by id).
pub fn k_nearest(points: Vec<Point>, latitude: f64, longitude: f64, k: usize) -> Vec<Point> {
    let mut scored: Vec<(f64, Point)> = points
        .into_iter()
        .map(|p| {
            (
                dist2(p.latitude, p.longitude, latitude, longitude).sqrt(),
                p,
            )
        })
        .collect();
    scored.sort_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.id.cmp(&b.1.id)));
    scored.into_iter().take(k).map(|(_, p)| p).collect()
}

fn dist2(a_lat: f64, a_lon: f64, b_lat: f64, b_lon: f64) -> f64 {
    let (dx, dy) = (a_lat - b_lat, a_lon - b_lon);
    dx * dx + dy * dy
}

/// A uniform draw from `[lo, hi)`.
pub fn uniform(lo: f64, hi: f64) -> f64 {
    rand::rng().random_range(lo..hi)
}

/// The request of the cinema fan-out family (§4.3): `num` random points per leaf. `seed` is ours:
/// when present the leaves draw their points from a generator seeded with `seed + K`, so answers
/// are reproducible (used to compare merged and unmerged deployments).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CinemaRequest {
    pub num: i32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
}

/// The answer of leaf `get-nearby-points-cinema-K`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LeafReply {
    /// K.
    pub thread: u32,
    /// The CPU the computation ran on.
    pub core: i32,
    /// Microseconds the computation took (whole duration, not only its sub-second part).
    pub time_us: u64,
    /// The 5 nearest points to (36.0, 119.0) as `[distance, [x, y]]`, nearest first.
    pub result: Vec<(f64, [f64; 2])>,
}

/// The centre the cinema leaves search around.
pub const CINEMA_CENTRE: (f64, f64) = (36.0, 119.0);

/// The work of leaf K: `num` random points, x uniform [32,40), y uniform [116,122), and their 5
/// nearest to [`CINEMA_CENTRE`] by brute force.
pub fn cinema_leaf(k: u32, req: &CinemaRequest) -> LeafReply {
    let start = std::time::Instant::now();
    let n = req.num.max(0) as usize;
    let points = match req.seed {
        Some(seed) => random_points(&mut StdRng::seed_from_u64(seed.wrapping_add(k.into())), n),
        None => random_points(&mut rand::rng(), n),
    };
    let (cx, cy) = CINEMA_CENTRE;
    let mut scored: Vec<(f64, [f64; 2])> = points
        .into_iter()
        .map(|[x, y]| (dist2(x, y, cx, cy).sqrt(), [x, y]))
        .collect();
    let k_nn = 5.min(scored.len());
    if k_nn > 0 && scored.len() > k_nn {
        scored.select_nth_unstable_by(k_nn - 1, |a, b| a.0.total_cmp(&b.0));
    }
    scored.truncate(k_nn);
    scored.sort_by(|a, b| a.0.total_cmp(&b.0));
    LeafReply {
        thread: k,
        // SAFETY: sched_getcpu has no preconditions.
        core: unsafe { libc::sched_getcpu() },
        time_us: start.elapsed().as_micros() as u64,
        result: scored,
    }
}

fn random_points(rng: &mut impl RngExt, n: usize) -> Vec<[f64; 2]> {
    (0..n)
        .map(|_| [rng.random_range(32.0..40.0), rng.random_range(116.0..122.0)])
        .collect()
}

/// The answer of `nearby-cinema-parallel-*`: the time spent waiting for the three leaves (fork to
/// last join, whole microseconds) and their answers in order.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ParallelReply {
    pub wait_us: u64,
    pub results: Vec<serde_json::Value>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_round_trip_and_nights() {
        assert_eq!(parse_date("1970-01-01"), Ok(0));
        assert_eq!(format_date(parse_date("2024-02-29").unwrap()), "2024-02-29");
        assert!(parse_date("2023-02-29").is_err());
        assert!(parse_date("2024-1-05").is_err());
        let n = nights("2024-11-30", "2024-12-02").unwrap();
        assert_eq!(
            n,
            vec![
                Night {
                    from: "2024-11-30".into(),
                    to: "2024-12-01".into()
                },
                Night {
                    from: "2024-12-01".into(),
                    to: "2024-12-02".into()
                }
            ]
        );
        assert_eq!(n[0].cache_key("hotel_1"), "hotel_1_2024-11-30_2024-12-01");
        assert!(nights("2024-11-05", "2024-11-05").unwrap().is_empty());
    }

    #[test]
    fn searches() {
        let p = |id: &str, la, lo| Point {
            id: id.into(),
            latitude: la,
            longitude: lo,
        };
        let pts = vec![
            p("a", 0.0, 3.0),
            p("b", 0.0, 1.0),
            p("c", 0.0, 4.0),
            p("d", 1.0, 0.0),
        ];
        assert_eq!(radius_search(&pts, 0.0, 0.0), vec!["b", "d", "a"]);
        let near = k_nearest(pts, 0.0, 0.0, 2);
        assert_eq!(near[0].id, "b");
        assert_eq!(near[1].id, "d");
        let r = cinema_leaf(
            2,
            &CinemaRequest {
                num: 1000,
                seed: Some(7),
            },
        );
        assert_eq!(r.result.len(), 5);
        assert!(r.result.windows(2).all(|w| w[0].0 <= w[1].0));
    }
}
