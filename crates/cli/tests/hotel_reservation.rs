//! The hotel reservation (apps/hotel-reservation, docs/BENCHMARKS.md §4, §5) end to end: real
//! Redis and memcached started by `quilt up`'s services, the fake-database mode, the cinema fan-out
//! family, and merged search-handler / nearby-cinema-top answering like the unmerged workflows.

use quilt_cli::up;
use quilt_harness as common;
use quilt_harness::apps::{call, ok, redis_get, requests, App};
use quilt_merge::rewrite::SiteKind;
use quilt_merge::tree::Tree;
use quilt_merge::{merge_group, GroupReport, MergeOptions};
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const APP: App = App("apps/hotel-reservation");

async fn start(fakedb: bool, variant: &str) -> up::RunningApp {
    APP.start(fakedb, variant).await
}

/// Deterministic pseudo-random numbers in [0, 1) (xorshift).
struct Rand(u64);

impl Rand {
    fn next(&mut self) -> f64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 11) as f64 / (1u64 << 53) as f64
    }
}

const HOTELS: usize = 40;
const CINEMAS: usize = 60;

struct World {
    hotels: Vec<(String, f64, f64)>,
    cinemas: Vec<(String, f64, f64)>,
}

fn world() -> World {
    let mut r = Rand(0x9e37_79b9_7f4a_7c15);
    let mut points = |prefix: &str, n: usize| -> Vec<(String, f64, f64)> {
        (0..n)
            .map(|i| {
                let (la, lo) = (32.0 + 3.0 * r.next(), 116.0 + 3.0 * r.next());
                (format!("{prefix}_{i}"), la, lo)
            })
            .collect()
    };
    World {
        hotels: points("hotel", HOTELS),
        cinemas: points("cinema", CINEMAS),
    }
}

/// Hotel 0 has 3 rooms, the others 200.
async fn populate(app: &up::RunningApp, w: &World) {
    for (i, (id, la, lo)) in w.hotels.iter().enumerate() {
        ok(
            app,
            "set-hotel-point",
            json!({"id": id, "latitude": la, "longitude": lo}),
        )
        .await;
        let capacity = if i == 0 { 3 } else { 200 };
        ok(
            app,
            "set-capacity",
            json!({"hotel_id": id, "capacity": capacity}),
        )
        .await;
        let room_type = json!({"bookable_rate": 100.0 + i as f64, "total_rate": 250.5,
            "total_rate_inclusive": 260.25, "code": "KNG", "currency": "USD",
            "room_description": format!("room of {id}")});
        ok(
            app,
            "set-rate",
            json!({"hotel_id": id, "code": format!("R{i}"), "in_date": "2023-01-01",
                "out_date": "2025-12-31", "room_type": room_type}),
        )
        .await;
        let address = json!({"street_number": "12", "street_name": "Main", "city": "Town",
            "state": "CA", "country": "US", "postal_code": "94000", "latitude": la,
            "longitude": lo});
        ok(
            app,
            "set-profile",
            json!({"hotel_id": id, "name": format!("name of {id}"), "phone_number": "555",
                "description": "quiet", "address": address,
                "images": [{"url": format!("http://{id}.png"), "default": false}]}),
        )
        .await;
    }
    for (id, la, lo) in &w.cinemas {
        ok(
            app,
            "set-cinema",
            json!({"cinema_id": id, "latitude": la, "longitude": lo,
                "cinema_name": format!("name of {id}"), "cinema_type": "IMAX"}),
        )
        .await;
    }
    ok(
        app,
        "register-user",
        json!({"username": "username_1", "password": "123456"}),
    )
    .await;
}

/// The reference's hotel search: squared distance at most 10, nearest first, at most 5.
fn expected_search(w: &World, la: f64, lo: f64) -> Vec<String> {
    let mut v: Vec<(f64, &String)> = w
        .hotels
        .iter()
        .map(|(id, a, b)| ((a - la).powi(2) + (b - lo).powi(2), id))
        .filter(|(d, _)| *d <= 10.0)
        .collect();
    v.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(b.1)));
    v.into_iter().take(5).map(|(_, id)| id.clone()).collect()
}

/// The 5 cinemas nearest to hotel `h`.
fn expected_cinemas(w: &World, h: usize) -> Vec<String> {
    let (_, la, lo) = &w.hotels[h];
    let mut v: Vec<(f64, &String)> = w
        .cinemas
        .iter()
        .map(|(id, a, b)| (((a - la).powi(2) + (b - lo).powi(2)).sqrt(), id))
        .collect();
    v.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(b.1)));
    v.into_iter().take(5).map(|(_, id)| id.clone()).collect()
}

fn ids(v: &Value, key: &str) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|p| p[key].as_str().unwrap().to_string())
        .collect()
}

fn reservation(user: &str, password: &str, hotel: &str, dates: (&str, &str), rooms: i32) -> Value {
    json!({"customer_name": "Ada", "username": user, "password": password, "hotel_id": hotel,
        "in_date": dates.0, "out_date": dates.1, "room_number": rooms})
}

fn strings(v: &Value) -> Vec<String> {
    serde_json::from_value(v.clone()).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn real_storage_search_reserve_and_nearby_cinemas() {
    let w = world();
    let app = start(false, "sync").await;
    populate(&app, &w).await;

    // Search: the nearest hotels within the radius, as their stored profiles; hits from
    // memcached on the second call answer the same.
    for h in [3usize, 17, 29] {
        let (la, lo) = (w.hotels[h].1 + 0.05, w.hotels[h].2 - 0.05);
        let expected = expected_search(&w, la, lo);
        assert!(!expected.is_empty());
        let body = json!({"latitude": la, "longitude": lo, "in_date": "2024-11-05",
            "out_date": "2024-11-08"});
        let first = ok(&app, "search-handler", body.clone()).await;
        assert_eq!(ids(&first, "hotel_id"), expected, "search near hotel_{h}");
        for p in first.as_array().unwrap() {
            let id = p["hotel_id"].as_str().unwrap();
            assert_eq!(p["name"], format!("name of {id}"));
            assert_eq!(p["images"][0]["url"], format!("http://{id}.png"));
        }
        assert_eq!(ok(&app, "search-handler", body).await, first);
    }

    // Nearby cinemas: the 5 nearest to the hotel's stored coordinates.
    for h in [0usize, 11, 39] {
        let got = ok(
            &app,
            "nearby-cinema",
            json!({"hotel_id": format!("hotel_{h}")}),
        )
        .await;
        assert_eq!(
            strings(&got),
            expected_cinemas(&w, h),
            "cinemas of hotel_{h}"
        );
    }
    let missing = call(&app, "nearby-cinema", &json!({"hotel_id": "hotel_x"})).await;
    assert!(missing
        .unwrap_err()
        .1
        .contains("Hotel hotel_x does not exist"));

    // Reservations: stored per night in Redis, capacity (3 rooms) respected.
    let nov = |a: u32, b: u32| (format!("2024-11-{a:02}"), format!("2024-11-{b:02}"));
    let (a, b) = nov(1, 3);
    let r = ok(
        &app,
        "reservation-handler",
        reservation("username_1", "123456", "hotel_0", (&a, &b), 2),
    )
    .await;
    assert_eq!(r, json!(["hotel_0"]));
    let night = |d1: &str, d2: &str| redis_get(&app, &format!("reservation:hotel_0:{d1}:{d2}"));
    assert_eq!(night("2024-11-01", "2024-11-02").as_deref(), Some("2"));
    assert_eq!(night("2024-11-02", "2024-11-03").as_deref(), Some("2"));
    assert_eq!(night("2024-11-03", "2024-11-04"), None);
    let (a, b) = nov(2, 4);
    let full = reservation("username_1", "123456", "hotel_0", (&a, &b), 2);
    assert_eq!(ok(&app, "reservation-handler", full).await, json!([]));
    assert_eq!(night("2024-11-03", "2024-11-04"), None, "nothing stored");
    let one = reservation("username_1", "123456", "hotel_0", (&a, &b), 1);
    assert_eq!(
        ok(&app, "reservation-handler", one).await,
        json!(["hotel_0"])
    );
    assert_eq!(night("2024-11-02", "2024-11-03").as_deref(), Some("3"));
    assert_eq!(night("2024-11-03", "2024-11-04").as_deref(), Some("1"));
    // Wrong password and unknown user: refused, nothing stored.
    let (a, b) = nov(10, 11);
    for (user, pw) in [("username_1", "wrong"), ("username_9", "123456")] {
        let r = reservation(user, pw, "hotel_1", (&a, &b), 1);
        assert_eq!(ok(&app, "reservation-handler", r).await, json!([]));
    }
    assert_eq!(
        redis_get(&app, "reservation:hotel_1:2024-11-10:2024-11-11"),
        None
    );
    let unknown = reservation("username_1", "123456", "hotel_x", (&a, &b), 1);
    let err = call(&app, "reservation-handler", &unknown)
        .await
        .unwrap_err();
    assert!(
        err.1.contains("Hotel hotel_x is not found in redis;"),
        "{err:?}"
    );

    // Availability sees the reservations (through memcached now).
    let avail = |a: &str, b: &str| {
        json!({"customer_name": "", "hotel_id": ["hotel_0", "hotel_1"], "in_date": a,
            "out_date": b, "room_number": 1})
    };
    let got = ok(
        &app,
        "check-availability",
        avail("2024-11-02", "2024-11-03"),
    )
    .await;
    assert_eq!(got, json!(["hotel_1"]));
    let got = ok(
        &app,
        "check-availability",
        avail("2024-11-03", "2024-11-05"),
    )
    .await;
    assert_eq!(got, json!(["hotel_0", "hotel_1"]));
    app.shutdown().await;
}

fn leaf_points(leaf: &Value, k: u64) -> Vec<(f64, f64, f64)> {
    assert_eq!(leaf["thread"], k);
    let pts: Vec<(f64, [f64; 2])> = serde_json::from_value(leaf["result"].clone()).unwrap();
    assert_eq!(pts.len(), 5);
    for (d, [x, y]) in &pts {
        assert!((32.0..40.0).contains(x) && (116.0..122.0).contains(y));
        assert!((d - ((x - 36.0).powi(2) + (y - 119.0).powi(2)).sqrt()).abs() < 1e-9);
    }
    assert!(pts.windows(2).all(|w| w[0].0 <= w[1].0));
    pts.into_iter().map(|(d, [x, y])| (d, x, y)).collect()
}

fn check_top(top: &Value) {
    let parallels = top.as_array().unwrap();
    assert_eq!(parallels.len(), 2);
    for (p, par) in parallels.iter().enumerate() {
        let leaves = par["results"].as_array().unwrap();
        assert_eq!(leaves.len(), 3);
        for (l, leaf) in leaves.iter().enumerate() {
            leaf_points(leaf, (3 * p + l + 1) as u64);
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn fake_database_answers_with_the_right_shapes() {
    for variant in ["sync", "async"] {
        let app = start(true, variant).await;
        let search = json!({"latitude": 35.5, "longitude": 116.0, "in_date": "2024-11-05",
            "out_date": "2024-11-08"});
        let got = ok(&app, "search-handler", search.clone()).await;
        let got = got.as_array().unwrap();
        assert!(got.len() <= 5);
        for p in got {
            assert!(p["hotel_id"].as_str().unwrap().starts_with("hotel_"));
            assert_eq!(p["images"].as_array().unwrap().len(), 5);
            let la = p["address"]["latitude"].as_f64().unwrap();
            assert!((32.0..39.9).contains(&la), "latitude {la}");
        }
        // 3 nights: at least check-user's 2 ms and 2 ms per night.
        let t = Instant::now();
        let r = reservation("u", "p", "hotel_7", ("2024-11-01", "2024-11-04"), 5);
        assert_eq!(ok(&app, "reservation-handler", r).await, json!(["hotel_7"]));
        assert!(t.elapsed() >= Duration::from_millis(8));
        let cinemas = strings(&ok(&app, "nearby-cinema", json!({"hotel_id": "hotel_3"})).await);
        assert_eq!(cinemas.len(), 5);
        assert!(cinemas.iter().all(|c| c.starts_with('c')));
        let rates = ok(
            &app,
            "get-rates",
            json!({"hotel_ids": ["hotel_1", "hotel_2"], "in_date": "", "out_date": ""}),
        )
        .await;
        assert_eq!(ids(&rates, "hotel_id"), ["hotel_1", "hotel_2"]);
        check_top(&ok(&app, "nearby-cinema-top", json!({"num": 3000})).await);
        check_top(&ok(&app, "nearby-cinema-top-2", json!({"num": 3000})).await);
        let bad = call(&app, "nearby-cinema-top", &json!({"hotel_id": "hotel_1"})).await;
        assert!(bad.is_err());
        app.shutdown().await;
    }
}

/// Drops what depends on timing and placement (`time_us`, `core`, `wait_us`).
fn untimed(mut v: Value) -> Value {
    if let Value::Array(items) = &mut v {
        for p in items {
            let obj = p.as_object_mut().unwrap();
            obj.remove("wait_us");
            for leaf in obj["results"].as_array_mut().unwrap() {
                let leaf = leaf.as_object_mut().unwrap();
                leaf.remove("time_us");
                leaf.remove("core");
            }
        }
    }
    v
}

#[tokio::test(flavor = "multi_thread")]
async fn merged_workflows_answer_like_unmerged() {
    let cinema = APP.merge("nearby-cinema-top.tree");
    assert_eq!(cinema.name, "nearby-cinema-top-merged");
    let sites = |r: &GroupReport, k: SiteKind| r.sites.iter().filter(|s| s.kind == k).count();
    assert_eq!(
        sites(&cinema, SiteKind::LocalAsync),
        8,
        "{:?}",
        cinema.sites
    );
    let search = APP.merge("search-handler.tree");
    assert_eq!(sites(&search, SiteKind::Direct), 5, "{:?}", search.sites);

    // The fan-out family with seeded leaves: equal answers, and no leaf runs behind the gateway.
    let app = start(true, "async").await;
    for (num, seed) in [(2000, 1), (50_000, 42)] {
        let body = json!({"num": num, "seed": seed});
        let base = untimed(ok(&app, "nearby-cinema-top", body.clone()).await);
        check_top(&base);
        let leaf = requests(&app, "get-nearby-points-cinema-4").await;
        let merged = untimed(ok(&app, "nearby-cinema-top-merged", body).await);
        assert_eq!(merged, base);
        assert_eq!(requests(&app, "get-nearby-points-cinema-4").await, leaf);
    }
    app.shutdown().await;

    // search-handler over real storage.
    let w = world();
    let app = start(false, "sync").await;
    populate(&app, &w).await;
    for h in [1usize, 8, 21, 33] {
        let body = json!({"latitude": w.hotels[h].1, "longitude": w.hotels[h].2,
            "in_date": "2024-11-05", "out_date": "2024-11-06"});
        let base = ok(&app, "search-handler", body.clone()).await;
        assert!(!base.as_array().unwrap().is_empty());
        let merged = ok(&app, "search-handler-merged", body).await;
        assert_eq!(merged, base);
    }
    let bad = json!({"latitude": 33.0, "longitude": 117.0, "in_date": "soon", "out_date": "x"});
    fail_alike(&app, "search-handler", &bad, "bad date 'soon'").await;
    app.shutdown().await;
}

/// `route` and its merged group `<route>-merged` both fail on `body`, with one status and answers
/// that name `message`.
async fn fail_alike(app: &up::RunningApp, route: &str, body: &Value, message: &str) {
    let base = call(app, route, body).await.unwrap_err();
    let merged = call(app, &format!("{route}-merged"), body)
        .await
        .unwrap_err();
    assert_eq!(merged.0, base.0, "{route}");
    for answer in [&base.1, &merged.1] {
        assert!(answer.contains(message), "{route}: {answer}");
    }
}

/// The other hotel workflows merged: nearby-cinema and reservation-handler over real storage
/// (equal answers, equal stored reservations, equal errors), the parallel node alone, and the
/// reference's split of nearby-cinema-top into two units — unit A `nearby-cinema-top-2-merged`,
/// unit B serving the route `nearby-cinema-parallel-2-2` that unit A calls — in fake-database mode.
#[tokio::test(flavor = "multi_thread")]
async fn remaining_workflows_and_the_split_merged_answer_like_unmerged() {
    let remote = |r: &GroupReport| {
        r.sites
            .iter()
            .filter(|s| s.kind == SiteKind::Remote)
            .count()
    };
    for tree in [
        "nearby-cinema.tree",
        "reservation-handler.tree",
        "nearby-cinema-parallel-2.tree",
    ] {
        let report = APP.merge(tree);
        assert_eq!(remote(&report), 0, "{tree}: {:?}", report.sites);
    }
    let unit_b = {
        let tree =
            Tree::read(&APP.dir().join("workflows/nearby-cinema-parallel-2-2.tree")).unwrap();
        let _lock = common::build_lock(&APP.dir());
        let opts = MergeOptions {
            serve_root: true,
            ..MergeOptions::default()
        };
        merge_group(&APP.built(), &tree, &opts).unwrap()
    };
    assert_eq!(remote(&unit_b), 0);
    let unit_a = APP.merge("nearby-cinema-top-2.tree");
    assert_eq!(
        unit_a
            .sites
            .iter()
            .filter(|s| s.kind == SiteKind::Remote)
            .map(|s| s.callee.as_deref())
            .collect::<Vec<_>>(),
        [Some("nearby-cinema-parallel-2-2")],
        "unit A calls unit B remotely, and nothing else"
    );

    // The split, fake database, async (the reference's fan-out workflow).
    let app = start(true, "async").await;
    async fn leaf_requests(app: &up::RunningApp) -> Vec<u64> {
        let mut out = Vec::new();
        for i in 1..=6 {
            out.push(requests(app, &format!("get-nearby-points-cinema-{i}")).await);
        }
        out
    }
    for (num, seed) in [(2000, 3), (20_000, 11)] {
        let body = json!({"num": num, "seed": seed});
        let base = untimed(ok(&app, "nearby-cinema-top", body.clone()).await);
        check_top(&base);
        let before = leaf_requests(&app).await;
        let unit_b_calls = requests(&app, "nearby-cinema-parallel-2-2").await;
        let split = untimed(ok(&app, "nearby-cinema-top-2-merged", body.clone()).await);
        assert_eq!(split, base, "the split answers like the whole");
        assert_eq!(
            leaf_requests(&app).await,
            before,
            "no leaf ran behind the gateway"
        );
        assert_eq!(
            requests(&app, "nearby-cinema-parallel-2-2").await,
            unit_b_calls + 1,
            "unit A reached unit B through the gateway"
        );
        let part = untimed(json!([
            ok(&app, "nearby-cinema-parallel-2", body.clone()).await
        ]));
        let merged = untimed(json!([
            ok(&app, "nearby-cinema-parallel-2-merged", body).await
        ]));
        assert_eq!(merged, part);
    }
    app.shutdown().await;

    // nearby-cinema and reservation-handler over real storage.
    let w = world();
    let app = start(false, "sync").await;
    populate(&app, &w).await;
    for h in [0usize, 11, 39] {
        let body = json!({"hotel_id": format!("hotel_{h}")});
        let base = ok(&app, "nearby-cinema", body.clone()).await;
        assert_eq!(strings(&base), expected_cinemas(&w, h));
        assert_eq!(ok(&app, "nearby-cinema-merged", body).await, base);
    }
    let missing = json!({"hotel_id": "hotel_x"});
    fail_alike(
        &app,
        "nearby-cinema",
        &missing,
        "Hotel hotel_x does not exist",
    )
    .await;

    // The same reservations through both: the same answers, the same nights stored.
    let night = |hotel: &str, d: u32| {
        redis_get(
            &app,
            &format!("reservation:{hotel}:2024-12-{d:02}:2024-12-{:02}", d + 1),
        )
    };
    for (route, hotel) in [
        ("reservation-handler", "hotel_1"),
        ("reservation-handler-merged", "hotel_2"),
    ] {
        let r = |user: &str, pw: &str, rooms: i32| {
            reservation(user, pw, hotel, ("2024-12-01", "2024-12-03"), rooms)
        };
        assert_eq!(
            ok(&app, route, r("username_1", "123456", 2)).await,
            json!([hotel])
        );
        assert_eq!(
            ok(&app, route, r("username_1", "wrong", 1)).await,
            json!([])
        );
        assert_eq!(
            ok(&app, route, r("username_9", "123456", 1)).await,
            json!([])
        );
        assert_eq!(
            (night(hotel, 1), night(hotel, 2), night(hotel, 3)),
            (Some("2".into()), Some("2".into()), None),
            "{route}"
        );
    }
    let unknown = reservation(
        "username_1",
        "123456",
        "hotel_x",
        ("2024-12-01", "2024-12-02"),
        1,
    );
    let message = "Hotel hotel_x is not found in redis;";
    fail_alike(&app, "reservation-handler", &unknown, message).await;
    app.shutdown().await;
}
