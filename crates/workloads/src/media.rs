//! The media review's request generators and population plan (docs/BENCHMARKS.md §6.3).
//!
//! Bodies follow the reference's wrk2 scripts field for field and range for range, as valid JSON
//! with their fields in the scripts' order, without their bugs:
//! - `register-user-with-id` registers `username_<i>` (the script wrote `user_<i>`, which no
//!   workflow looks up, §7.22), so user `username_<i>` has id `i` for compose-review,
//!   compose-review-user-id and read-user-review alike;
//! - the `req_id` counters start at the script's value plus a random multiple of 10^6 drawn on the
//!   first request, so runs within one database lifetime do not reuse `req_id`s (§7.10);
//! - the compose-and-upload script's rotating four-route cycle (whose first body was a bare number,
//!   §7.19) is offered as one generator per route: `unique-id-service` (`{"req_id"}`),
//!   `text-service`, `upload-user-with-username`, `upload-movie-id`.

use crate::hotel::{object, rfloat, rstr};
use crate::{Generator, PopulateStep};
use rand::rngs::StdRng;
use rand::Rng;
use serde_json::Value;

/// The app's name.
pub const APP: &str = "media-review";

/// Every route with a generator.
pub const ROUTES: &[&str] = &[
    "register-movie-id",
    "write-movie-info",
    "write-cast-info",
    "write-plot",
    "register-user",
    "register-user-with-id",
    "compose-review",
    "compose-review-merged",
    "compose-review-run-merged",
    "compose-review-user-id",
    "compose-review-user-id-merged",
    "page-service",
    "page-service-merged",
    "read-user-review",
    "read-user-review-merged",
    "unique-id-service",
    "unique-id-service-merged",
    "text-service",
    "text-service-merged",
    "upload-user-with-username",
    "upload-user-with-username-merged",
    "upload-movie-id",
    "upload-movie-id-merged",
];

/// The reference's movies, users, plots and cast entries: ids 0 … 999.
pub const IDS: u64 = 1000;
/// Reviews composed by the population at scale 1 (the reference ran compose-review-user-id for
/// 300 s instead).
pub const REVIEWS: u64 = 300;

/// A counter-driven generator: the counter starts at 0 and is incremented before each request,
/// `i = counter mod n`, so `n` requests write each id once.
fn cycling(n: u64, body: fn(&mut StdRng, u64) -> Vec<u8>) -> Generator {
    let mut counter = 0u64;
    Box::new(move |rng| {
        counter += 1;
        body(rng, counter % n)
    })
}

/// A `req_id`-driven generator: `req_id` starts at `base + 1 + 10^6·k` (`k` drawn once) and
/// grows by one per request.
fn with_req_id(base: i64, body: fn(&mut StdRng, i64) -> Vec<u8>) -> Generator {
    let mut next: Option<i64> = None;
    Box::new(move |rng| {
        let id = match next {
            Some(n) => n,
            None => base + 1 + 1_000_000 * rng.random_range(0..1_000_000i64),
        };
        next = Some(id + 1);
        body(rng, id)
    })
}

fn register_movie_id(_: &mut StdRng, i: u64) -> Vec<u8> {
    object(&[
        ("movie_id", format!("tt{}", 5_999_000 + i).into()),
        ("title", format!("movie_{i}").into()),
    ])
}

fn write_movie_info(rng: &mut StdRng, i: u64) -> Vec<u8> {
    let casts: Vec<Value> = (0..rng.random_range(1..=10) + 1)
        .map(|_| {
            let cast_id = rng.random_range(1..=999);
            let character = rstr(rng, 10);
            let cast_info_id = rng.random_range(1..=999);
            serde_json::from_slice(&object(&[
                ("cast_id", cast_id.into()),
                ("character", character.into()),
                ("cast_info_id", cast_info_id.into()),
            ]))
            .expect("valid JSON")
        })
        .collect();
    let mut ids = |len: usize| -> Value {
        let n = rng.random_range(1..=4) + 1;
        (0..n).map(|_| Value::from(rstr(rng, len))).collect()
    };
    let (thumbnails, photos, videos) = (ids(10), ids(8), ids(8));
    object(&[
        ("movie_id", format!("tt{}", 5_999_000 + i).into()),
        ("title", format!("movie_{i}").into()),
        ("casts", casts.into()),
        ("plot_id", rng.random_range(1..=999).into()),
        ("thumbnail_ids", thumbnails),
        ("photo_ids", photos),
        ("video_ids", videos),
        ("avg_rating", rfloat(rng, 0.0, 5.0).to_string().into()),
        ("num_rating", rng.random_range(20..=99_999).into()),
    ])
}

fn write_cast_info(rng: &mut StdRng, i: u64) -> Vec<u8> {
    object(&[
        ("cast_info_id", i.into()),
        ("name", rstr(rng, 15).into()),
        ("gender", true.into()),
        ("intro", rstr(rng, 50).into()),
    ])
}

fn write_plot(rng: &mut StdRng, i: u64) -> Vec<u8> {
    object(&[("plot_id", i.into()), ("plot", rstr(rng, 256).into())])
}

fn register_user(rng: &mut StdRng, i: u64) -> Vec<u8> {
    object(&[
        ("username", format!("username_{i}").into()),
        ("first_name", rstr(rng, 8).into()),
        ("last_name", rstr(rng, 8).into()),
        ("password", "123456".into()),
    ])
}

fn register_user_with_id(rng: &mut StdRng, i: u64) -> Vec<u8> {
    object(&[
        ("user_id", i.into()),
        ("username", format!("username_{i}").into()),
        ("first_name", rstr(rng, 8).into()),
        ("last_name", rstr(rng, 8).into()),
        ("password", "123456".into()),
    ])
}

fn title(rng: &mut StdRng) -> Value {
    format!("movie_{}", rng.random_range(1..=999)).into()
}

fn compose_review(rng: &mut StdRng, req_id: i64) -> Vec<u8> {
    object(&[
        ("req_id", req_id.into()),
        ("title", title(rng)),
        ("rating", rng.random_range(1..=5).into()),
        (
            "username",
            format!("username_{}", rng.random_range(1..=999)).into(),
        ),
        ("password", "123456".into()),
        ("text", rstr(rng, 100).into()),
    ])
}

fn compose_review_user_id(rng: &mut StdRng, req_id: i64) -> Vec<u8> {
    object(&[
        ("req_id", req_id.into()),
        ("title", title(rng)),
        ("rating", rng.random_range(1..=5).into()),
        ("user_id", rng.random_range(1..=999).into()),
        ("password", "123456".into()),
        ("text", rstr(rng, 100).into()),
    ])
}

/// The generator of a media-review route (docs/BENCHMARKS.md §6.3), or None.
pub fn generator(route: &str) -> Option<Generator> {
    Some(match route {
        "register-movie-id" => cycling(IDS, register_movie_id),
        "write-movie-info" => cycling(IDS, write_movie_info),
        "write-cast-info" => cycling(IDS, write_cast_info),
        "write-plot" => cycling(IDS, write_plot),
        "register-user" => cycling(IDS, register_user),
        "register-user-with-id" => cycling(IDS, register_user_with_id),
        "compose-review" | "compose-review-run-merged" => with_req_id(21_000, compose_review),
        "compose-review-merged" => with_req_id(199_000, compose_review),
        "compose-review-user-id" | "compose-review-user-id-merged" => {
            with_req_id(2_000, compose_review_user_id)
        }
        "page-service" | "page-service-merged" => Box::new(|rng| {
            object(&[
                (
                    "movie_id",
                    format!("tt{}", 5_999_000 + rng.random_range(1..=999)).into(),
                ),
                ("review_start", 0.into()),
                ("review_stop", 1.into()),
            ])
        }),
        "read-user-review" | "read-user-review-merged" => Box::new(|rng| {
            object(&[
                ("user_id", rng.random_range(1..=999).into()),
                ("start", 0.into()),
                ("stop", 1.into()),
            ])
        }),
        "unique-id-service" | "unique-id-service-merged" => {
            with_req_id(77_890, |_, r| object(&[("req_id", r.into())]))
        }
        "text-service" | "text-service-merged" => with_req_id(77_890, |rng, r| {
            object(&[("req_id", r.into()), ("text", rstr(rng, 256).into())])
        }),
        "upload-user-with-username" | "upload-user-with-username-merged" => {
            with_req_id(77_890, |rng, r| {
                object(&[
                    (
                        "username",
                        format!("username_{}", rng.random_range(1..=999)).into(),
                    ),
                    ("req_id", r.into()),
                ])
            })
        }
        "upload-movie-id" | "upload-movie-id-merged" => with_req_id(77_890, |rng, r| {
            object(&[
                ("title", title(rng)),
                ("rating", rng.random_range(0..=5).into()),
                ("req_id", r.into()),
            ])
        }),
        _ => return None,
    })
}

fn scaled(count: u64, scale: f64) -> usize {
    ((count as f64 * scale).round() as usize).max(1)
}

/// The population, in the reference's order: `register-movie-id`, `write-movie-info`,
/// `write-cast-info`, `write-plot`, `register-user-with-id` (ids 0..999, each once; at most the
/// range, a prefix of it below scale 1), then `compose-review-user-id` ([`REVIEWS`] × `scale`
/// reviews). `register-user` is left out: its users would collide with `register-user-with-id`'s.
pub fn populate_plan(scale: f64) -> Vec<PopulateStep> {
    let step = |route: &str, body: fn(&mut StdRng, u64) -> Vec<u8>| PopulateStep {
        route: route.into(),
        count: scaled(IDS, scale).min(IDS as usize),
        generator: cycling(IDS, body),
    };
    vec![
        step("register-movie-id", register_movie_id),
        step("write-movie-info", write_movie_info),
        step("write-cast-info", write_cast_info),
        step("write-plot", write_plot),
        step("register-user-with-id", register_user_with_id),
        PopulateStep {
            route: "compose-review-user-id".into(),
            count: scaled(REVIEWS, scale),
            generator: with_req_id(2_000, compose_review_user_id),
        },
    ]
}

/// Every `media-review/<route>` with a generator.
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
        let mut rng = StdRng::seed_from_u64(5);
        (0..n)
            .map(|_| match serde_json::from_slice(&g(&mut rng)) {
                Ok(Value::Object(m)) => m,
                other => panic!("{route}: not a JSON object: {other:?}"),
            })
            .collect()
    }

    fn int(m: &Map<String, Value>, k: &str) -> i64 {
        m[k].as_i64().unwrap_or_else(|| panic!("{k} in {m:?}"))
    }

    fn suffix(m: &Map<String, Value>, k: &str, prefix: &str) -> i64 {
        m[k].as_str().unwrap()[prefix.len()..].parse().unwrap()
    }

    #[test]
    fn every_route_generates_json_objects() {
        for r in ROUTES {
            assert_eq!(bodies(r, 20).len(), 20);
        }
        assert_eq!(known().len(), ROUTES.len());
    }

    #[test]
    fn compose_ranges_and_req_ids() {
        let all = bodies("compose-review", 500);
        let first = int(&all[0], "req_id");
        assert_eq!((first - 21_001) % 1_000_000, 0);
        for (k, m) in all.iter().enumerate() {
            assert_eq!(int(m, "req_id"), first + k as i64);
            assert!((1..=999).contains(&suffix(m, "title", "movie_")));
            assert!((1..=999).contains(&suffix(m, "username", "username_")));
            assert!((1..=5).contains(&int(m, "rating")));
            assert_eq!(m["text"].as_str().unwrap().len(), 100);
        }
        for m in bodies("compose-review-user-id", 300) {
            assert!((1..=999).contains(&int(&m, "user_id")));
        }
        for m in bodies("upload-movie-id", 300) {
            assert!((0..=5).contains(&int(&m, "rating")));
        }
        let first = int(&bodies("compose-review-merged", 1)[0], "req_id");
        assert_eq!((first - 199_001) % 1_000_000, 0);
    }

    #[test]
    fn read_ranges() {
        for m in bodies("page-service", 300) {
            assert!((5_999_001..=5_999_999).contains(&suffix(&m, "movie_id", "tt")));
            assert_eq!((int(&m, "review_start"), int(&m, "review_stop")), (0, 1));
        }
        for m in bodies("read-user-review", 300) {
            assert!((1..=999).contains(&int(&m, "user_id")));
        }
    }

    #[test]
    fn movie_info_ranges() {
        for m in bodies("write-movie-info", 300) {
            let casts = m["casts"].as_array().unwrap();
            assert!((2..=11).contains(&casts.len()));
            for c in casts {
                let c = c.as_object().unwrap();
                assert!((1..=999).contains(&int(c, "cast_info_id")));
                assert!((1..=999).contains(&int(c, "cast_id")));
            }
            for (k, len) in [("thumbnail_ids", 10), ("photo_ids", 8), ("video_ids", 8)] {
                let ids = m[k].as_array().unwrap();
                assert!((2..=5).contains(&ids.len()));
                assert!(ids.iter().all(|i| i.as_str().unwrap().len() == len));
            }
            let avg: f64 = m["avg_rating"].as_str().unwrap().parse().unwrap();
            assert!((0.0..5.0).contains(&avg));
            assert!((20..=99_999).contains(&int(&m, "num_rating")));
            assert!((1..=999).contains(&int(&m, "plot_id")));
        }
    }

    #[test]
    fn population_writes_each_id_once() {
        let plan = populate_plan(1.0);
        assert_eq!(plan.len(), 6);
        let mut rng = StdRng::seed_from_u64(9);
        for mut step in plan.into_iter().take(5) {
            assert_eq!(step.count, 1000);
            let mut seen = std::collections::HashSet::new();
            for _ in 0..step.count {
                let body: Map<String, Value> =
                    serde_json::from_slice(&(step.generator)(&mut rng)).unwrap();
                let id = body
                    .get("movie_id")
                    .or(body.get("cast_info_id"))
                    .or(body.get("plot_id"))
                    .or(body.get("username"))
                    .unwrap()
                    .to_string();
                assert!(seen.insert(id), "{}: an id twice", step.route);
            }
        }
        assert_eq!(populate_plan(0.5)[5].count, 150);
    }
}
