//! The social network's request generators and population plan (docs/BENCHMARKS.md §6.2).
//!
//! Bodies follow the reference's wrk2 scripts field for field, without their bugs (§7.19): every
//! body is valid JSON, and the counts are the ones the scripts meant (1..=6 mentions, 1..=6 URLs,
//! 1..=5 media). Fields are emitted in the scripts' order.

use crate::{Generator, PopulateStep};
use rand::distr::{Alphanumeric, SampleString};
use rand::rngs::StdRng;
use rand::Rng;
use serde_json::Value;

/// The app's name.
pub const APP: &str = "social-network";

/// Every route with a generator.
pub const ROUTES: &[&str] = &[
    "compose-post",
    "compose-post-merged",
    "compose-post-2",
    "container-merge-compose-post",
    "read-home-timeline",
    "read-home-timeline-merged",
    "social-graph-follow-with-username",
    "social-graph-follow-with-username-merged",
    "social-graph-follow",
    "text-service",
    "text-service-merged",
    "write-home-timeline",
    "write-home-timeline-merged",
    "register-user",
    "register-user-with-id",
    "noop",
];

/// The reference's user ids: `username_0` … `username_999`.
pub const USERS: usize = 1000;
/// Follow requests of the population at scale 1.
pub const FOLLOWS: usize = 2000;
/// Posts of the population at scale 1.
pub const POSTS: usize = 500;

/// A JSON object with its fields in this order.
fn object(fields: &[(&str, Value)]) -> Vec<u8> {
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

fn rstr(rng: &mut StdRng, n: usize) -> String {
    Alphanumeric.sample_string(rng, n)
}

fn username(i: u64) -> String {
    format!("username_{i}")
}

/// A post text: 256 random characters, 1..=6 mentions of `username_<m>` with `m` in
/// `1..=max_mention`, never `u` itself, then 1..=6 `http://` URLs of 64 random characters.
pub fn post_text(rng: &mut StdRng, u: u64, max_mention: u64) -> String {
    let mut text = rstr(rng, 256);
    for _ in 0..rng.random_range(0..=5) + 1 {
        let m = loop {
            let m = rng.random_range(1..=max_mention);
            if m != u || max_mention <= 1 {
                break m;
            }
        };
        text.push_str(&format!(" @{}", username(m)));
    }
    for _ in 0..rng.random_range(0..=5) + 1 {
        let url = rstr(rng, 64);
        text.push_str(&format!(" http://{url}"));
    }
    text
}

/// A compose-post body by user `u`, mentioning users up to `max_mention`.
fn compose_post_body(rng: &mut StdRng, u: u64, max_mention: u64) -> Vec<u8> {
    let text = post_text(rng, u, max_mention);
    let media = rng.random_range(0..=4) + 1;
    let media_ids: Vec<Value> = (0..media)
        .map(|_| {
            let id = (0..10).fold(0u64, |acc, _| acc * 10 + rng.random_range(1..=9));
            Value::from(id)
        })
        .collect();
    object(&[
        ("username", username(u).into()),
        ("user_id", u.into()),
        ("text", text.into()),
        ("media_ids", media_ids.into()),
        ("media_types", vec![Value::from("png"); media].into()),
        ("post_type", "POST".into()),
    ])
}

/// Registration bodies for `username_<i>`, `i = counter mod users` with the counter starting at 1
/// (so `1, 2, …, users-1, 0`: each id once per `users` requests).
fn register(users: u64, with_id: bool) -> Generator {
    let mut counter = 0u64;
    Box::new(move |rng| {
        counter += 1;
        let i = counter % users;
        let mut fields = vec![
            ("first_name", rstr(rng, 8).into()),
            ("last_name", rstr(rng, 8).into()),
            ("username", username(i).into()),
            ("password", "123456".into()),
        ];
        if with_id {
            fields.push(("user_id", i.into()));
        }
        object(&fields)
    })
}

/// Follow-by-name bodies between users `1..users`.
fn follow_with_username(users: u64) -> Generator {
    Box::new(move |rng| {
        object(&[
            ("user_name", username(rng.random_range(1..users)).into()),
            ("followee_name", username(rng.random_range(1..users)).into()),
        ])
    })
}

/// Compose-post bodies by users `1..users`, mentioning users up to `min(962, users-1)`.
fn compose_post(users: u64) -> Generator {
    let max_mention = 962.min(users - 1);
    Box::new(move |rng| {
        let u = rng.random_range(1..users);
        compose_post_body(rng, u, max_mention)
    })
}

/// The generator of a social-network route (docs/BENCHMARKS.md §6.2), or None.
pub fn generator(route: &str) -> Option<Generator> {
    let users = USERS as u64;
    Some(match route {
        "compose-post" | "compose-post-2" | "container-merge-compose-post" => compose_post(users),
        "compose-post-merged" => Box::new(|rng| {
            let u = rng.random_range(1..=962);
            compose_post_body(rng, u, 962)
        }),
        "text-service" | "text-service-merged" => Box::new(|rng| {
            let u = rng.random_range(1..=962);
            object(&[("text", post_text(rng, u, 962).into())])
        }),
        "read-home-timeline" | "read-home-timeline-merged" => Box::new(|rng| {
            object(&[
                ("user_id", rng.random_range(1..=999).into()),
                ("start", 0.into()),
                ("stop", 1.into()),
            ])
        }),
        "social-graph-follow-with-username" | "social-graph-follow-with-username-merged" => {
            follow_with_username(users)
        }
        "social-graph-follow" => Box::new(|rng| {
            object(&[
                ("user_id", rng.random_range(1..=999).into()),
                ("followee_id", rng.random_range(1..=999).into()),
            ])
        }),
        "write-home-timeline" | "write-home-timeline-merged" => Box::new(|rng| {
            let k = rng.random_range(0..=5) + 1;
            let mentions: Vec<Value> = (0..k).map(|_| rng.random_range(1..=962).into()).collect();
            object(&[
                ("post_id", rng.random_range(1..=65535).into()),
                ("user_id", rng.random_range(1..=962).into()),
                ("timestamp", rng.random_range(1..=100_000_000).into()),
                ("user_mentions_id", mentions.into()),
            ])
        }),
        "register-user-with-id" => register(users, true),
        "register-user" => register(users, false),
        "noop" => Box::new(|_| br#"{"msg":"", "err":""}"#.to_vec()),
        _ => return None,
    })
}

fn scaled(count: usize, scale: f64) -> usize {
    ((count as f64 * scale).round() as usize).max(1)
}

/// The population: `register-user-with-id` for users `0..U` (each once), then
/// `social-graph-follow-with-username` between random users, then `compose-post`. At scale 1:
/// U = 1000 (the reference's `username_0..999`), 2000 follows, 500 posts; `scale` multiplies
/// the follows and posts, and the users up to the reference's 1000 (at least 3).
pub fn populate_plan(scale: f64) -> Vec<PopulateStep> {
    let users = scaled(USERS, scale).clamp(3, USERS);
    vec![
        PopulateStep {
            route: "register-user-with-id".into(),
            count: users,
            generator: register(users as u64, true),
        },
        PopulateStep {
            route: "social-graph-follow-with-username".into(),
            count: scaled(FOLLOWS, scale),
            generator: follow_with_username(users as u64),
        },
        PopulateStep {
            route: "compose-post".into(),
            count: scaled(POSTS, scale),
            generator: compose_post(users as u64),
        },
    ]
}

/// Every `social-network/<route>` with a generator.
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
        let mut rng = StdRng::seed_from_u64(7);
        (0..n)
            .map(|_| {
                let body = g(&mut rng);
                match serde_json::from_slice(&body) {
                    Ok(Value::Object(m)) => m,
                    other => panic!("{route}: not a JSON object: {other:?}"),
                }
            })
            .collect()
    }

    fn int(m: &Map<String, Value>, k: &str) -> i64 {
        m[k].as_i64().unwrap_or_else(|| panic!("{k} in {m:?}"))
    }

    fn check_text(text: &str, u: Option<i64>) {
        let words: Vec<&str> = text.split(' ').collect();
        assert_eq!(words[0].len(), 256);
        assert!(words[0].chars().all(|c| c.is_ascii_alphanumeric()));
        let mentions: Vec<i64> = words
            .iter()
            .filter_map(|w| w.strip_prefix("@username_"))
            .map(|n| n.parse().unwrap())
            .collect();
        let urls: Vec<&str> = words
            .iter()
            .filter_map(|w| w.strip_prefix("http://"))
            .collect();
        assert!((1..=6).contains(&mentions.len()), "{text}");
        assert!((1..=6).contains(&urls.len()), "{text}");
        assert_eq!(words.len(), 1 + mentions.len() + urls.len());
        assert!(mentions.iter().all(|m| (1..=962).contains(m)));
        if let Some(u) = u {
            assert!(!mentions.contains(&u));
        }
        assert!(urls
            .iter()
            .all(|u| u.len() == 64 && u.chars().all(|c| c.is_ascii_alphanumeric())));
    }

    #[test]
    fn compose_post_bodies_have_the_reference_fields_and_ranges() {
        for route in ["compose-post", "compose-post-merged"] {
            for m in bodies(route, 300) {
                let u = int(&m, "user_id");
                let max = if route == "compose-post" { 999 } else { 962 };
                assert!((1..=max).contains(&u), "{route}: {u}");
                assert_eq!(m["username"], format!("username_{u}"));
                assert_eq!(m["post_type"], "POST");
                check_text(m["text"].as_str().unwrap(), Some(u));
                let ids = m["media_ids"].as_array().unwrap();
                let types = m["media_types"].as_array().unwrap();
                assert!((1..=5).contains(&ids.len()));
                assert_eq!(ids.len(), types.len());
                assert!(types.iter().all(|t| t == "png"));
                for id in ids {
                    let s = id.as_i64().unwrap().to_string();
                    assert!(s.len() == 10 && !s.contains('0'), "{s}");
                }
            }
        }
        let body = generator("compose-post").unwrap()(&mut StdRng::seed_from_u64(1));
        let text = String::from_utf8(body).unwrap();
        assert!(
            text.starts_with(r#"{"username":"username_"#),
            "field order: {text}"
        );
    }

    #[test]
    fn other_routes_have_the_reference_ranges() {
        for m in bodies("text-service", 200) {
            check_text(m["text"].as_str().unwrap(), None);
        }
        for m in bodies("read-home-timeline", 200) {
            assert!((1..=999).contains(&int(&m, "user_id")));
            assert_eq!((int(&m, "start"), int(&m, "stop")), (0, 1));
        }
        for m in bodies("social-graph-follow-with-username", 200) {
            for k in ["user_name", "followee_name"] {
                let n: i64 = m[k].as_str().unwrap()[9..].parse().unwrap();
                assert!((1..=999).contains(&n));
            }
        }
        for m in bodies("social-graph-follow", 200) {
            assert!((1..=999).contains(&int(&m, "user_id")));
            assert!((1..=999).contains(&int(&m, "followee_id")));
        }
        for m in bodies("write-home-timeline", 200) {
            assert!((1..=65535).contains(&int(&m, "post_id")));
            assert!((1..=962).contains(&int(&m, "user_id")));
            assert!((1..=100_000_000).contains(&int(&m, "timestamp")));
            let ids = m["user_mentions_id"].as_array().unwrap();
            assert!((1..=6).contains(&ids.len()));
            assert!(ids.iter().all(|i| (1..=962).contains(&i.as_i64().unwrap())));
        }
        let noop = generator("noop").unwrap()(&mut StdRng::seed_from_u64(0));
        assert_eq!(noop, br#"{"msg":"", "err":""}"#);
        assert!(generator("nope").is_none());
        for r in ROUTES {
            assert!(generator(r).is_some(), "{r}");
        }
    }

    #[test]
    fn registrations_cycle_through_the_ids_once() {
        let ms = bodies("register-user-with-id", 1001);
        let ids: Vec<i64> = ms.iter().map(|m| int(m, "user_id")).collect();
        assert_eq!(ids[0], 1);
        assert_eq!(ids[998], 999);
        assert_eq!(ids[999], 0);
        assert_eq!(ids[1000], 1);
        for m in &ms {
            assert_eq!(m["username"], format!("username_{}", int(m, "user_id")));
            assert_eq!(m["password"], "123456");
            assert_eq!(m["first_name"].as_str().unwrap().len(), 8);
            assert_eq!(m["last_name"].as_str().unwrap().len(), 8);
        }
        let plain = bodies("register-user", 3);
        assert!(plain.iter().all(|m| !m.contains_key("user_id")));
    }

    #[test]
    fn the_population_registers_every_user_once_before_using_them() {
        let plan = populate_plan(1.0);
        let routes: Vec<&str> = plan.iter().map(|s| s.route.as_str()).collect();
        assert_eq!(
            routes,
            [
                "register-user-with-id",
                "social-graph-follow-with-username",
                "compose-post"
            ]
        );
        assert_eq!(
            plan.iter().map(|s| s.count).collect::<Vec<_>>(),
            [1000, 2000, 500]
        );
        let small = populate_plan(0.01);
        assert_eq!(small[0].count, 10);
        let mut rng = StdRng::seed_from_u64(3);
        let mut steps = small.into_iter();
        let mut reg = steps.next().unwrap();
        let mut ids: Vec<i64> = (0..reg.count)
            .map(|_| {
                let m: Value = serde_json::from_slice(&(reg.generator)(&mut rng)).unwrap();
                m["user_id"].as_i64().unwrap()
            })
            .collect();
        ids.sort();
        assert_eq!(ids, (0..10).collect::<Vec<_>>());
        for mut step in steps {
            for _ in 0..step.count {
                let m: Value = serde_json::from_slice(&(step.generator)(&mut rng)).unwrap();
                let text = m.to_string();
                for name in text.split("username_").skip(1) {
                    let n: i64 = name
                        .chars()
                        .take_while(char::is_ascii_digit)
                        .collect::<String>()
                        .parse()
                        .unwrap();
                    assert!((1..10).contains(&n), "{} uses user {n}", step.route);
                }
            }
        }
        assert_eq!(populate_plan(3.0)[0].count, 1000);
        assert_eq!(populate_plan(3.0)[2].count, 1500);
    }
}
