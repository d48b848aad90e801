//! The media review (apps/media-review, docs/BENCHMARKS.md §3, §5) end to end: real Redis and
//! memcached started by `quilt up`'s services, the fake-database mode, the sync and the async
//! variant, and a merged page-service answering like the unmerged workflow.

use quilt_cli::up;
use quilt_harness as common;
use quilt_harness::apps::{call, ok, redis_get, App};
use quilt_merge::rewrite::SiteKind;
use quilt_merge::tree::Tree;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const APP: App = App("apps/media-review");

async fn start(fakedb: bool, variant: &str) -> up::RunningApp {
    APP.start(fakedb, variant).await
}

async fn populate(app: &up::RunningApp) {
    for m in 1..=3i64 {
        let movie_id = format!("tt{}", 5_999_000 + m);
        ok(
            app,
            "register-movie-id",
            json!({"movie_id": movie_id, "title": format!("movie_{m}")}),
        )
        .await;
        let casts: Vec<Value> = (1..=2)
            .map(|c| {
                json!({"cast_id": c, "character": format!("role {c} of {m}"),
                    "cast_info_id": 10 * m + c})
            })
            .collect();
        ok(
            app,
            "write-movie-info",
            json!({"movie_id": movie_id, "title": format!("movie_{m}"), "casts": casts,
                "plot_id": m, "thumbnail_ids": ["t1"], "photo_ids": ["p1", "p2"],
                "video_ids": [], "avg_rating": "3.5", "num_rating": 12}),
        )
        .await;
        for c in 1..=2 {
            ok(
                app,
                "write-cast-info",
                json!({"cast_info_id": 10 * m + c, "name": format!("actor {}", 10 * m + c),
                    "gender": c == 1, "intro": "hello"}),
            )
            .await;
        }
        ok(
            app,
            "write-plot",
            json!({"plot_id": m, "plot": format!("the plot of movie {m}")}),
        )
        .await;
        ok(
            app,
            "register-user-with-id",
            json!({"user_id": m, "username": format!("username_{m}"), "first_name": "F",
                "last_name": "L", "password": "123456"}),
        )
        .await;
    }
}

fn review(req_id: i64, user: &str, movie: i64, rating: i64, text: &str) -> Value {
    json!({"req_id": req_id, "username": user, "password": "123456",
        "title": format!("movie_{movie}"), "rating": rating, "text": text})
}

fn texts(reviews: &Value) -> Vec<String> {
    reviews
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["text"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn real_storage_reviews_are_composed_and_read_back() {
    for (variant, base) in [("sync", 1000i64), ("async", 2000)] {
        let app = start(false, variant).await;
        populate(&app).await;
        let registered = call(
            &app,
            "register-movie-id",
            &json!({"movie_id": "tt1", "title": "movie_1"}),
        )
        .await;
        assert!(registered
            .unwrap_err()
            .1
            .contains("Movie movie_1 is already in redis;"));

        // Three reviews of movie 2 (two by user 1, one by user 3 with a known id); one of movie 1.
        let r = ok(
            &app,
            "compose-review",
            review(base + 1, "username_1", 2, 4, "first"),
        )
        .await;
        assert_eq!(r, Value::Null);
        ok(
            &app,
            "compose-review",
            review(base + 2, "username_1", 1, 5, "second"),
        )
        .await;
        let by_id = json!({"req_id": base + 3, "user_id": 3, "password": "123456",
            "title": "movie_2", "rating": 2, "text": "third"});
        ok(&app, "compose-review-user-id", by_id).await;
        tokio::time::sleep(Duration::from_millis(1100)).await;
        ok(
            &app,
            "compose-review",
            review(base + 4, "username_1", 2, 3, "fourth"),
        )
        .await;

        // Every component arrived once: the review exists and the rating was counted.
        assert_eq!(
            redis_get(&app, "tt5999002:uncommit_sum").as_deref(),
            Some("9")
        );
        assert_eq!(
            redis_get(&app, "tt5999002:uncommit_num").as_deref(),
            Some("3")
        );

        // A user's reviews, newest first, `start..stop`.
        let mine = ok(
            &app,
            "read-user-review",
            json!({"user_id": 1, "start": 0, "stop": 10}),
        )
        .await;
        let mine_texts = texts(&mine);
        assert_eq!(mine_texts.len(), 3, "{mine}");
        assert_eq!(mine_texts[0], "fourth");
        let first = mine
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["text"] == "first")
            .unwrap();
        assert_eq!(first["req_id"], base + 1);
        assert_eq!(first["user_id"], 1);
        assert_eq!(first["movie_id"], "tt5999002");
        assert_eq!(first["rating"], 4);
        assert!(first["review_id"].as_i64().unwrap() >= 0);
        let newest = ok(
            &app,
            "read-user-review",
            json!({"user_id": 1, "start": 0, "stop": 1}),
        )
        .await;
        assert_eq!(texts(&newest), ["fourth"]);
        let none = ok(
            &app,
            "read-user-review",
            json!({"user_id": 2, "start": 0, "stop": 5}),
        )
        .await;
        assert_eq!(none, json!([]));

        // A movie's page: info, reviews, cast info in cast order, plot.
        let page = ok(
            &app,
            "page-service",
            json!({"movie_id": "tt5999002", "review_start": 0, "review_stop": 10}),
        )
        .await;
        assert_eq!(page["movie_info"]["title"], "movie_2");
        assert_eq!(page["movie_info"]["avg_rating"], 3.5);
        assert_eq!(page["movie_info"]["photo_ids"], json!(["p1", "p2"]));
        let mut got = texts(&page["reviews"]);
        assert_eq!(got[0], "fourth");
        got.sort();
        assert_eq!(got, ["first", "fourth", "third"]);
        let cast: Vec<i64> = page["cast_info"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["cast_info_id"].as_i64().unwrap())
            .collect();
        assert_eq!(cast, [21, 22]);
        assert_eq!(page["cast_info"][0]["name"], "actor 21");
        assert_eq!(page["cast_info"][0]["gender"], true);
        assert_eq!(page["cast_info"][1]["gender"], false);
        assert_eq!(page["plot"], "the plot of movie 2");
        // Served from memcached the second time: the same page.
        let again = ok(
            &app,
            "page-service",
            json!({"movie_id": "tt5999002", "review_start": 0, "review_stop": 10}),
        )
        .await;
        assert_eq!(again, page);

        // Soft errors of the reference.
        let err = call(
            &app,
            "compose-review",
            &review(base + 5, "nobody", 1, 1, "x"),
        )
        .await;
        assert!(err
            .unwrap_err()
            .1
            .contains("User nobody is not found in redis;"));
        let err = call(
            &app,
            "compose-review",
            &review(base + 6, "username_2", 9, 1, "x"),
        )
        .await;
        assert!(err
            .unwrap_err()
            .1
            .contains("Movie movie_9 is not found in redis;"));
        let err = call(
            &app,
            "page-service",
            &json!({"movie_id": "tt0", "review_start": 0, "review_stop": 1}),
        )
        .await;
        assert!(err
            .unwrap_err()
            .1
            .contains("error: cannot find the movie: tt0 in redis"));
        let err = call(
            &app,
            "register-user",
            &json!({"username": "username_1",
            "first_name": "a", "last_name": "b", "password": "x"}),
        )
        .await;
        assert!(err
            .unwrap_err()
            .1
            .contains("User username_1 already existed"));
        app.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn fake_database_answers_with_the_right_shapes() {
    // Critical-path sleeps (§5.5): 32 ms sync, 15 ms async.
    for (variant, least) in [("sync", 32u64), ("async", 15)] {
        let app = start(true, variant).await;
        let t = Instant::now();
        let r = ok(
            &app,
            "compose-review",
            review(1, "username_1", 1, 3, "text"),
        )
        .await;
        assert_eq!(r, Value::Null);
        let elapsed = t.elapsed();
        assert!(
            elapsed >= Duration::from_millis(least),
            "{variant}: {elapsed:?}"
        );
        let by_id = json!({"req_id": 2, "user_id": 7, "password": "p", "title": "t",
            "rating": 1, "text": "x"});
        assert_eq!(ok(&app, "compose-review-user-id", by_id).await, Value::Null);
        let page = ok(
            &app,
            "page-service",
            json!({"movie_id": "tt5999123", "review_start": 0, "review_stop": 1}),
        )
        .await;
        let info = &page["movie_info"];
        assert_eq!(info["movie_id"], "tt5999123");
        let casts: Vec<i64> = info["casts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["cast_info_id"].as_i64().unwrap())
            .collect();
        let cast_info: Vec<i64> = page["cast_info"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["cast_info_id"].as_i64().unwrap())
            .collect();
        assert_eq!(cast_info, casts);
        assert!(casts.len() < 20);
        assert_eq!(page["plot"].as_str().unwrap().len(), 50);
        assert!(page["reviews"].as_array().unwrap().len() <= 4);
        let reviews = ok(
            &app,
            "read-user-review",
            json!({"user_id": 5, "start": 0, "stop": 1}),
        )
        .await;
        for r in reviews.as_array().unwrap() {
            let m: i64 = r["movie_id"].as_str().unwrap()["movie_".len()..]
                .parse()
                .unwrap();
            assert!((1..=100).contains(&m));
            assert!((1..5).contains(&r["rating"].as_i64().unwrap()));
            assert_eq!(r["text"].as_str().unwrap().len(), 20);
        }
        app.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn merged_page_service_answers_like_unmerged() {
    let report = APP.merge("page-service.tree");
    assert_eq!(report.name, "page-service-merged");
    let direct = report
        .sites
        .iter()
        .filter(|s| s.kind == SiteKind::Direct)
        .count();
    let local = report
        .sites
        .iter()
        .filter(|s| s.kind == SiteKind::LocalAsync)
        .count();
    assert_eq!(direct, 5, "{:?}", report.sites);
    assert_eq!(local, 4, "{:?}", report.sites);
    for (variant, base) in [("sync", 100i64), ("async", 200)] {
        let app = start(false, variant).await;
        populate(&app).await;
        ok(
            &app,
            "compose-review",
            review(base + 1, "username_1", 1, 4, "one"),
        )
        .await;
        ok(
            &app,
            "compose-review",
            review(base + 2, "username_2", 1, 2, "two"),
        )
        .await;
        for (movie, stop) in [(1, 10), (1, 1), (2, 5), (3, 0)] {
            let body = json!({"movie_id": format!("tt{}", 5_999_000 + movie), "review_start": 0,
                "review_stop": stop});
            let base = ok(&app, "page-service", body.clone()).await;
            let merged = ok(&app, "page-service-merged", body).await;
            assert_eq!(merged, base, "{variant}: movie {movie}");
        }
        let missing = json!({"movie_id": "tt0", "review_start": 0, "review_stop": 1});
        let base = call(&app, "page-service", &missing).await.unwrap_err();
        let merged = call(&app, "page-service-merged", &missing)
            .await
            .unwrap_err();
        assert_eq!(merged.0, base.0);
        assert!(merged
            .1
            .contains("error: cannot find the movie: tt0 in redis"));
        app.shutdown().await;
    }
}

/// A user's reviews as (text, movie, rating), newest first.
async fn user_reviews(app: &up::RunningApp, route: &str, user: i64) -> Vec<(String, String, i64)> {
    let reviews = ok(app, route, json!({"user_id": user, "start": 0, "stop": 50})).await;
    reviews
        .as_array()
        .unwrap()
        .iter()
        .map(|r| {
            (
                r["text"].as_str().unwrap().to_string(),
                r["movie_id"].as_str().unwrap().to_string(),
                r["rating"].as_i64().unwrap(),
            )
        })
        .collect()
}

/// Gateway request counts of every compose-review member but its root.
async fn compose_member_requests(app: &up::RunningApp) -> Vec<u64> {
    let tree = Tree::read(&APP.dir().join("workflows/compose-review.tree")).unwrap();
    let text = common::get(app.platform.addr(), "/metrics").await.body;
    tree.members[1..]
        .iter()
        .map(|f| {
            common::metric(&text, "quilt_gateway_requests_total", &[("function", f)])
                .map_or(0, |v| v as u64)
        })
        .collect()
}

/// The other media-review workflows merged: compose-review (its sync and fake-database async
/// funcTrees name one member set, so one merged binary serves both), compose-review-user-id,
/// read-user-review, and the four branch trees that compose-review-run-merged calls. A review
/// composed through a merged workflow is stored as the unmerged one stores it, errors are the
/// same, reads answer the same, and no member is invoked through the gateway.
#[tokio::test(flavor = "multi_thread")]
async fn compose_and_read_workflows_merged_answer_like_unmerged() {
    let members = |t: &str| -> std::collections::BTreeSet<String> {
        let tree = Tree::read(&APP.dir().join("workflows").join(t)).unwrap();
        tree.members.into_iter().collect()
    };
    assert_eq!(
        members("compose-review-fakedb-async.tree"),
        members("compose-review.tree")
    );
    for tree in [
        "compose-review.tree",
        "compose-review-user-id.tree",
        "read-user-review.tree",
        "unique-id-service.tree",
        "text-service.tree",
        "upload-user-with-username.tree",
        "upload-movie-id.tree",
    ] {
        let report = APP.merge(tree);
        let remote = report.sites.iter().filter(|s| s.kind == SiteKind::Remote);
        assert_eq!(remote.count(), 0, "{tree}: {:?}", report.sites);
    }

    for (variant, base) in [("sync", 300i64), ("async", 400)] {
        let app = start(false, variant).await;
        populate(&app).await;
        // The same reviews through the unmerged and the merged workflows.
        let composed = [
            (
                "compose-review",
                review(base + 1, "username_1", 1, 4, "plain 1"),
            ),
            (
                "compose-review-merged",
                review(base + 2, "username_1", 1, 2, "merged 1"),
            ),
        ];
        for (route, body) in composed {
            assert_eq!(
                ok(&app, route, body).await,
                Value::Null,
                "{variant} {route}"
            );
        }
        tokio::time::sleep(Duration::from_millis(1100)).await;
        // Merged workflows only (run-merged calls the four branch groups, whose members then run
        // in-process): no member of compose-review is invoked through the gateway.
        let members_before = compose_member_requests(&app).await;
        ok(
            &app,
            "compose-review-merged",
            review(base + 3, "username_2", 2, 5, "merged 2"),
        )
        .await;
        if variant == "async" {
            ok(
                &app,
                "compose-review-run-merged",
                review(base + 6, "username_2", 3, 3, "run merged"),
            )
            .await;
        }
        assert_eq!(
            compose_member_requests(&app).await,
            members_before,
            "{variant}: a member went remote"
        );
        tokio::time::sleep(Duration::from_millis(1100)).await;
        let by_id = |req: i64, text: &str| {
            json!({"req_id": req, "user_id": 3, "password": "123456", "title": "movie_3",
                "rating": 1, "text": text})
        };
        ok(&app, "compose-review-user-id", by_id(base + 4, "plain 3")).await;
        ok(
            &app,
            "compose-review-user-id-merged",
            by_id(base + 5, "merged 3"),
        )
        .await;
        // What was stored: every review where the unmerged workflow would have put it.
        let mut one = user_reviews(&app, "read-user-review", 1).await;
        one.sort();
        assert_eq!(
            one,
            [
                ("merged 1".to_string(), "tt5999001".to_string(), 2),
                ("plain 1".to_string(), "tt5999001".to_string(), 4)
            ],
            "{variant}"
        );
        let mut two = user_reviews(&app, "read-user-review", 2).await;
        two.sort();
        let mut expected_two = vec![("merged 2".to_string(), "tt5999002".to_string(), 5)];
        if variant == "async" {
            expected_two.push(("run merged".to_string(), "tt5999003".to_string(), 3));
        }
        assert_eq!(two, expected_two, "{variant}");
        let mut three = user_reviews(&app, "read-user-review", 3).await;
        three.sort();
        assert_eq!(
            three.iter().map(|r| r.0.as_str()).collect::<Vec<_>>(),
            ["merged 3", "plain 3"]
        );
        assert_eq!(
            redis_get(&app, "tt5999001:uncommit_num").as_deref(),
            Some("2"),
            "{variant}: both ratings counted"
        );
        // Reads: the merged read-user-review answers exactly the same.
        for user in 1..=3 {
            for (start, stop) in [(0, 10), (0, 1), (1, 2), (0, 0)] {
                let body = json!({"user_id": user, "start": start, "stop": stop});
                let base = ok(&app, "read-user-review", body.clone()).await;
                let merged = ok(&app, "read-user-review-merged", body).await;
                assert_eq!(merged, base, "{variant}: user {user} {start}..{stop}");
            }
        }
        // Errors: the same soft errors of the reference.
        for (route, message) in [
            ("compose-review", "User nobody is not found in redis;"),
            (
                "compose-review-merged",
                "User nobody is not found in redis;",
            ),
        ] {
            let err = call(&app, route, &review(base + 9, "nobody", 1, 1, "x")).await;
            assert!(err.unwrap_err().1.contains(message), "{variant} {route}");
        }
        let err = call(
            &app,
            "compose-review-merged",
            &review(base + 9, "username_1", 9, 1, "x"),
        )
        .await;
        assert!(err
            .unwrap_err()
            .1
            .contains("Movie movie_9 is not found in redis;"));
        app.shutdown().await;
    }

    // Fake database, async: the merged compose-review answers as the unmerged one, locally.
    let app = start(true, "async").await;
    let before = compose_member_requests(&app).await;
    for i in 0..3 {
        let body = review(i, "username_1", 1, 3, "fake");
        assert_eq!(ok(&app, "compose-review-merged", body).await, Value::Null);
    }
    assert_eq!(compose_member_requests(&app).await, before);
    assert_eq!(
        ok(
            &app,
            "compose-review",
            review(9, "username_1", 1, 3, "fake")
        )
        .await,
        Value::Null
    );
    assert_ne!(compose_member_requests(&app).await, before);
    app.shutdown().await;
}
