//! The social network (apps/social-network, docs/BENCHMARKS.md §2, §5) end to end: real Redis
//! and memcached started by `quilt up`'s services, the fake-database mode, the sync and the async
//! variant, and merged compose-post / read-home-timeline answering like the unmerged workflows.

use quilt_cli::{http, up};
use quilt_harness::apps::{self, App};
use quilt_harness::storage;
use quilt_merge::rewrite::SiteKind;
use quilt_merge::tree::Tree;
use quilt_merge::GroupReport;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::time::Duration;

const APP: App = App("apps/social-network");

/// A running social network.
struct Sn {
    app: up::RunningApp,
}

impl Sn {
    async fn start(variant: &str, fakedb: bool) -> Sn {
        Sn {
            app: APP.start(fakedb, variant).await,
        }
    }

    async fn post(&self, route: &str, body: &Value) -> (u16, String) {
        let url = format!("{}/{route}", self.app.url());
        let (status, body) = http::post(&url, body.to_string().into_bytes())
            .await
            .unwrap();
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    /// Posts and expects success; returns the JSON answer.
    async fn ok(&self, route: &str, body: Value) -> Value {
        let (status, text) = self.post(route, &body).await;
        assert_eq!(status, 200, "{route} {body}: {text}");
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{route}: {e}: {text}"))
    }

    /// Posts and expects a failure whose answer contains `message`.
    async fn fails(&self, route: &str, body: Value, message: &str) {
        let (status, text) = self.post(route, &body).await;
        assert_eq!(status, 500, "{route} {body}: {text}");
        assert!(text.contains(message), "{route}: {text}");
    }

    fn service(&self, kind: &str) -> SocketAddr {
        apps::service(&self.app, kind)
    }

    /// A Redis command through redis-cli; its raw output without the final newline.
    fn redis(&self, args: &[&str]) -> String {
        storage::redis_cli(self.service("redis"), args)
    }

    /// A memcached value, read with the text protocol.
    fn memcached(&self, key: &str) -> Option<String> {
        storage::memcached_get(self.service("memcached"), key)
    }

    async fn requests(&self, function: &str) -> u64 {
        apps::requests(&self.app, function).await
    }

    async fn stop(self) {
        self.app.shutdown().await;
    }
}

fn user(i: i64) -> Value {
    json!({
        "first_name": format!("first{i}"),
        "last_name": format!("last{i}"),
        "username": format!("username_{i}"),
        "password": "123456",
        "user_id": i,
    })
}

fn follow(a: i64, b: i64) -> Value {
    json!({"user_name": format!("username_{a}"), "followee_name": format!("username_{b}")})
}

fn compose(u: i64, text: &str) -> Value {
    json!({
        "username": format!("username_{u}"),
        "user_id": u,
        "text": text,
        "media_ids": [5, 6],
        "media_types": ["png", "jpg"],
        "post_type": "POST",
    })
}

fn timeline(u: i64, start: i64, stop: i64) -> Value {
    json!({"user_id": u, "start": start, "stop": stop})
}

/// Registers A (1), B (2), C (3); A follows B; B posts mentioning C and an unknown user with two
/// URLs: the post reaches A's (follower) and C's (mentioned) home timelines with the URLs shortened
/// and the mention resolved, and storage holds what the reference's layout says.
async fn real_mode(variant: &str) {
    let sync = variant == "sync";
    let sn = Sn::start(variant, false).await;
    for i in 1..=3 {
        assert_eq!(sn.ok("register-user-with-id", user(i)).await, json!(""));
    }
    let salt = sn.redis(&["HGET", "user:username_1", "salt"]);
    let hash = sn.redis(&["HGET", "user:username_1", "password"]);
    assert_eq!(salt.len(), 32);
    assert!(hash.len() == 64 && hash.chars().all(|c| c.is_ascii_hexdigit()));
    assert_eq!(sn.redis(&["HGET", "user:username_1", "user_id"]), "1");
    assert_eq!(sn.redis(&["HGET", "user:username_1", "last_name"]), "last1");
    assert_eq!(sn.redis(&["HGET", "social-graph:1", "followers"]), "[]");
    sn.fails(
        "register-user-with-id",
        user(1),
        "User username_1 already existed",
    )
    .await;

    // A follows B (twice: listed once).
    for _ in 0..2 {
        assert_eq!(
            sn.ok("social-graph-follow-with-username", follow(1, 2))
                .await,
            json!("")
        );
    }
    let followees: Value =
        serde_json::from_str(&sn.redis(&["HGET", "social-graph:1", "followees"])).unwrap();
    assert_eq!(followees.as_array().unwrap().len(), 1);
    assert_eq!(followees[0]["followee_id"], 2);
    let followers: Value =
        serde_json::from_str(&sn.redis(&["HGET", "social-graph:2", "followers"])).unwrap();
    assert_eq!(followers.as_array().unwrap().len(), 1);
    assert_eq!(followers[0]["follower_id"], 1);
    assert_eq!(
        sn.memcached("1:followees")
            .map(|t| serde_json::from_str::<Value>(&t).unwrap()),
        Some(followees)
    );
    assert_eq!(
        sn.memcached("2:followers")
            .map(|t| serde_json::from_str::<Value>(&t).unwrap()),
        Some(followers)
    );
    assert_eq!(sn.memcached("username_1:user_id").as_deref(), Some("1"));
    sn.fails(
        "social-graph-follow-with-username",
        follow(1, 9),
        "User: username_9 doesn't exist in redis",
    )
    .await;
    sn.fails(
        "social-graph-follow",
        json!({"user_id": 1, "followee_id": 77}),
        "UserID = 77 is not registered.",
    )
    .await;
    assert_eq!(
        sn.ok("social-graph-get-followers", json!({"user_id": 2}))
            .await,
        json!([1])
    );

    // B posts.
    let text =
        "hi @username_3 and @ghost, see http://quilt.example and https://docs.quilt.example now";
    assert_eq!(sn.ok("compose-post", compose(2, text)).await, json!(""));
    let posts = sn.ok("read-home-timeline", timeline(1, 0, 1)).await;
    let posts = posts.as_array().unwrap();
    assert_eq!(posts.len(), 1, "{posts:?}");
    let post = &posts[0];
    assert_eq!(
        post["creator"],
        json!({"user_id": 2, "username": "username_2"})
    );
    assert_eq!(
        post["user_mentions"],
        json!([{"user_id": 3, "user_name": "username_3"}])
    );
    assert_eq!(
        post["media"],
        json!([{"media_type": "png", "media_id": 5}, {"media_type": "jpg", "media_id": 6}])
    );
    assert_eq!(post["post_type"], "POST");
    let urls = post["urls"].as_array().unwrap();
    let expanded: Vec<&str> = urls
        .iter()
        .map(|u| u["expanded_url"].as_str().unwrap())
        .collect();
    assert_eq!(
        expanded,
        ["http://quilt.example", "https://docs.quilt.example"]
    );
    let short: Vec<&str> = urls
        .iter()
        .map(|u| u["shortened_url"].as_str().unwrap())
        .collect();
    for s in &short {
        let code = s.strip_prefix("http://short-url.com/").unwrap();
        assert!(code.len() == 10 && code.chars().all(|c| c.is_ascii_alphanumeric()));
    }
    assert_eq!(
        post["text"],
        format!(
            "hi @username_3 and @ghost, see {} and {} now",
            short[0], short[1]
        )
    );
    let post_id = post["post_id"].as_i64().unwrap();
    assert!(post_id >= 0);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!((now - post["timestamp"].as_i64().unwrap()).abs() < 60);
    // Storage.
    assert_eq!(sn.redis(&["HGET", "url-shorten", short[0]]), expanded[0]);
    assert_eq!(
        sn.redis(&["HGET", &format!("post:{post_id}"), "post_type"]),
        "\"POST\""
    );
    assert_eq!(
        sn.redis(&["HGET", &format!("post:{post_id}"), "text"]),
        post["text"].as_str().unwrap()
    );
    assert_eq!(
        sn.redis(&["ZRANGE", "user-timeline:2", "0", "-1"]),
        post_id.to_string()
    );
    // The mentioned user sees it too; the author's home timeline stays empty.
    assert_eq!(
        sn.ok("read-home-timeline", timeline(3, 0, 1)).await,
        json!([post])
    );
    assert_eq!(
        sn.ok("read-home-timeline", timeline(2, 0, 1)).await,
        json!([])
    );
    // A second post comes first; `stop` is inclusive.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    assert_eq!(sn.ok("compose-post", compose(2, "second")).await, json!(""));
    let newest = sn.ok("read-home-timeline", timeline(1, 0, 0)).await;
    assert_eq!(newest.as_array().unwrap().len(), 1);
    assert_eq!(newest[0]["text"], "second");
    let both = sn.ok("read-home-timeline", timeline(1, 0, 1)).await;
    assert_eq!(both.as_array().unwrap().len(), 2);
    assert_eq!(both[1], *post);

    // Other routes and errors.
    let written = sn
        .ok(
            "write-home-timeline",
            json!({"post_id": post_id, "user_id": 2, "timestamp": 7, "user_mentions_id": [3]}),
        )
        .await;
    assert_eq!(written, if sync { json!([1]) } else { json!("") });
    let registered = sn
        .ok(
            "register-user",
            json!({"first_name": "x", "last_name": "y", "username": "bob", "password": "pw"}),
        )
        .await;
    assert_eq!(
        registered,
        json!(if sync {
            "from social-graph-insert-user"
        } else {
            ""
        })
    );
    let bob: i64 = sn.redis(&["HGET", "user:bob", "user_id"]).parse().unwrap();
    assert!(bob >= 0);
    assert_eq!(
        sn.redis(&["HGET", &format!("social-graph:{bob}"), "followees"]),
        "[]"
    );
    sn.fails(
        "read-posts",
        json!({"post_ids": [post_id, 42]}),
        "Post_id: 42 doesn't exist in redis",
    )
    .await;
    let mut bad = compose(2, "x");
    bad["media_types"] = json!([]);
    sn.fails(
        "compose-post",
        bad,
        "the length of media_id and media_type are not equal",
    )
    .await;
    assert_eq!(
        sn.ok("noop", json!({"msg": "", "err": ""})).await,
        json!("")
    );
    sn.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn real_storage_sync() {
    real_mode("sync").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn real_storage_async() {
    real_mode("async").await;
}

/// The shape of a post.
fn check_post(p: &Value) {
    let keys: Vec<&String> = p.as_object().unwrap().keys().collect();
    assert_eq!(keys.len(), 8, "{p}");
    assert!(p["post_id"].is_i64() && p["timestamp"].is_i64());
    assert!(p["creator"]["user_id"].is_i64() && p["creator"]["username"].is_string());
    assert!(p["text"].is_string());
    for m in p["user_mentions"].as_array().unwrap() {
        assert_eq!(
            m["user_name"],
            format!("username_{}", m["user_id"].as_i64().unwrap())
        );
    }
    for m in p["media"].as_array().unwrap() {
        assert!(m["media_type"].is_string() && m["media_id"].is_i64());
    }
    for u in p["urls"].as_array().unwrap() {
        assert!(u["shortened_url"].is_string() && u["expanded_url"].is_string());
    }
    assert_eq!(p["post_type"], "POST");
}

/// Fake-database mode: no services, the reference's sleeps, answers of the right shapes.
async fn fake_mode(variant: &str) {
    let sync = variant == "sync";
    let sn = Sn::start(variant, true).await;
    assert!(sn.app.services.is_empty());
    let text = "a @username_5 b @username_7 c http://x.example d";
    let took = sn.ok("compose-post", compose(5, text)).await;
    let took = took.as_str().unwrap();
    // Critical path with one URL and F ≥ 1: sync 17 + 4 + F ms, async 4 + 6 + F ms.
    if sync {
        let ms: u64 = took.strip_suffix(" ms").unwrap().parse().unwrap();
        assert!(ms >= 22, "{took}");
    } else {
        let us: u64 = took.strip_suffix("μs").unwrap().parse().unwrap();
        assert!(us >= 11_000, "{took}");
    }
    let posts = sn.ok("read-home-timeline", timeline(1, 0, 1)).await;
    let posts = posts.as_array().unwrap();
    assert!(posts.len() <= 4);
    posts.iter().for_each(check_post);
    let posts = sn.ok("read-posts", json!({"post_ids": [4, 9]})).await;
    assert_eq!(posts[0]["post_id"], 4);
    assert_eq!(posts[1]["post_id"], 9);
    posts.as_array().unwrap().iter().for_each(check_post);
    let t = sn.ok("text-service", json!({"text": text})).await;
    assert_eq!(
        t["user_mentions"],
        json!([{"user_id": 5, "user_name": "username_5"}, {"user_id": 7, "user_name": "username_7"}])
    );
    assert_eq!(t["urls"][0]["expanded_url"], "http://x.example");
    let short = t["urls"][0]["shortened_url"].as_str().unwrap();
    assert_eq!(t["text"], text.replace("http://x.example", short));
    assert_eq!(
        sn.ok("social-graph-follow-with-username", follow(1, 2))
            .await,
        json!("")
    );
    assert_eq!(
        sn.ok("get-user-id", json!({"username": "username_42"}))
            .await,
        json!(42)
    );
    let followers = sn
        .ok("social-graph-get-followers", json!({"user_id": 1}))
        .await;
    let followers: Vec<i64> = serde_json::from_value(followers).unwrap();
    assert!(followers.len() <= 19 && followers.iter().all(|f| (1..=100).contains(f)));
    assert_eq!(
        sn.ok(
            "write-home-timeline",
            json!({"post_id": 1, "user_id": 2, "timestamp": 3, "user_mentions_id": [4]})
        )
        .await,
        json!("")
    );
    // Population functions keep real storage, which --fakedb does not start.
    sn.fails("register-user-with-id", user(1), "QUILT_REDIS_ADDR")
        .await;
    sn.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn fake_database_sync() {
    fake_mode("sync").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn fake_database_async() {
    fake_mode("async").await;
}

fn count(r: &GroupReport, kind: SiteKind) -> usize {
    r.sites.iter().filter(|s| s.kind == kind).count()
}

/// Merged compose-post and read-home-timeline (their funcTrees) answer like the unmerged
/// workflows, in both variants, without calling their members remotely.
#[tokio::test(flavor = "multi_thread")]
async fn merged_workflows_answer_like_unmerged() {
    let compose_report = APP.merge("compose-post.tree");
    assert_eq!(compose_report.members.len(), 11);
    assert_eq!(
        count(&compose_report, SiteKind::Direct),
        10,
        "{:?}",
        compose_report.sites
    );
    assert_eq!(count(&compose_report, SiteKind::LocalAsync), 10);
    assert_eq!(count(&compose_report, SiteKind::Remote), 0);
    assert_eq!(count(&compose_report, SiteKind::Dynamic), 0);
    let timeline_report = APP.merge("read-home-timeline.tree");
    assert_eq!(count(&timeline_report, SiteKind::Direct), 1);
    assert_eq!(count(&timeline_report, SiteKind::LocalAsync), 1);

    for variant in ["sync", "async"] {
        let sn = Sn::start(variant, false).await;
        for i in 1..=5 {
            sn.ok("register-user-with-id", user(i)).await;
        }
        for (a, b) in [(1, 2), (3, 2), (4, 2), (2, 1), (5, 1), (5, 3)] {
            sn.ok("social-graph-follow-with-username", follow(a, b))
                .await;
        }
        for (u, text) in [
            (2, "first by 2 @username_5 http://a.example"),
            (1, "by 1 @username_4"),
        ] {
            assert_eq!(sn.ok("compose-post", compose(u, text)).await, json!(""));
        }
        // Merged: same answer, the post lands, and no member is invoked through the gateway.
        let before: Vec<u64> = member_requests(&sn).await;
        let text = "merged by 2 @username_3 https://b.example @username_1";
        assert_eq!(
            sn.ok("compose-post-merged", compose(2, text)).await,
            json!("")
        );
        assert_eq!(
            member_requests(&sn).await,
            before,
            "{variant}: a member went remote"
        );
        let posts = sn.ok("read-home-timeline", timeline(1, 0, 10)).await;
        let post = posts
            .as_array()
            .unwrap()
            .iter()
            .find(|p| {
                p["text"]
                    .as_str()
                    .unwrap()
                    .starts_with("merged by 2 @username_3 http")
            })
            .unwrap_or_else(|| panic!("{variant}: merged post missing from {posts}"));
        assert_eq!(
            post["user_mentions"],
            json!([{"user_id": 3, "user_name": "username_3"}, {"user_id": 1, "user_name": "username_1"}])
        );
        let mut bad = compose(2, "x");
        bad["media_ids"] = json!([1, 2, 3]);
        let base = sn.post("compose-post", &bad).await;
        let merged = sn.post("compose-post-merged", &bad).await;
        assert_eq!((base.0, merged.0), (500, 500));
        assert!(merged
            .1
            .contains("the length of media_id and media_type are not equal"));
        // Deterministic reads: identical answers.
        let reads = sn.requests("read-posts").await;
        for u in 1..=5 {
            for (start, stop) in [(0, 0), (0, 1), (0, 10), (1, 2)] {
                let body = timeline(u, start, stop);
                let base = sn.post("read-home-timeline", &body).await;
                let merged = sn.post("read-home-timeline-merged", &body).await;
                assert_eq!(base.0, 200, "{}", base.1);
                assert_eq!(merged, base, "{variant} {body}");
            }
        }
        assert_eq!(sn.requests("read-posts").await, reads + 20);
        sn.stop().await;
    }

    let sn = Sn::start("sync", true).await;
    let took = sn
        .ok(
            "compose-post-merged",
            compose(1, "@username_2 http://c.example"),
        )
        .await;
    let ms: u64 = took
        .as_str()
        .unwrap()
        .strip_suffix(" ms")
        .unwrap()
        .parse()
        .unwrap();
    assert!(ms >= 22, "{took}");
    sn.stop().await;
}

/// A text-service answer with its randomly shortened URLs replaced by their position, so that two
/// answers for one text compare equal.
fn unshortened(mut t: Value) -> Value {
    let urls = t["urls"].as_array().cloned().unwrap_or_default();
    for (i, u) in urls.iter().enumerate() {
        let short = u["shortened_url"].as_str().unwrap();
        assert!(short.starts_with("http://short-url.com/"), "{short}");
        let text = t["text"]
            .as_str()
            .unwrap()
            .replace(short, &format!("<url {i}>"));
        t["text"] = text.into();
        t["urls"][i]["shortened_url"] = format!("<url {i}>").into();
    }
    t
}

/// What `route` (text-service or its merged group) answers for `text`: the answer without its
/// random short URLs, or the status and error message of a failure.
async fn text_answer(sn: &Sn, route: &str, text: &str) -> Value {
    let (status, body) = sn.post(route, &json!({"text": text})).await;
    let body: Value = serde_json::from_str(&body).unwrap();
    match status {
        200 => unshortened(body),
        _ => json!({"status": status, "error": body["error"]}),
    }
}

/// The other social-network workflows merged: social-graph-follow-with-username (its three
/// funcTrees name one member set, so one merged binary serves all three: sync and async over real
/// storage, and the fake-database sync variant) and text-service. Same answers and errors as the
/// unmerged workflows, the same stored graph, and no member invoked through the gateway.
#[tokio::test(flavor = "multi_thread")]
async fn follow_and_text_service_merged_answer_like_unmerged() {
    let members = |t: &str| -> std::collections::BTreeSet<String> {
        let tree = Tree::read(&APP.dir().join("workflows").join(t)).unwrap();
        tree.members.into_iter().collect()
    };
    let follow_tree = "social-graph-follow-with-username.tree";
    for other in ["async", "fakedb-sync"] {
        let other = format!("social-graph-follow-with-username.{other}.tree");
        assert_eq!(members(&other), members(follow_tree), "{other}");
    }
    for tree in [follow_tree, "text-service.tree"] {
        let report = APP.merge(tree);
        let mut callees = members(tree);
        callees.remove(tree.split('.').next().unwrap());
        let sites = report
            .sites
            .iter()
            .filter_map(|s| s.callee.clone())
            .collect();
        assert_eq!(callees, sites, "{tree}: every member is called, by name");
        assert_eq!(count(&report, SiteKind::Remote), 0, "{tree}");
        assert_eq!(count(&report, SiteKind::Dynamic), 0, "{tree}");
    }
    let members_of = [
        "social-graph-follow",
        "get-user-id",
        "url-shorten-service",
        "user-mention-service",
    ];
    async fn counts(sn: &Sn, functions: &[&str]) -> Vec<u64> {
        let mut out = Vec::new();
        for f in functions {
            out.push(sn.requests(f).await);
        }
        out
    }
    let texts = [
        "plain",
        "@username_1 meets @username_3 at http://a.example and https://b.example/x",
        "@ghost only",
    ];

    for variant in ["sync", "async"] {
        let sn = Sn::start(variant, false).await;
        for i in 1..=4 {
            sn.ok("register-user-with-id", user(i)).await;
        }
        let before = counts(&sn, &members_of).await;
        let base = sn
            .ok("social-graph-follow-with-username", follow(1, 2))
            .await;
        let after_base = counts(&sn, &members_of).await;
        assert_ne!(
            after_base, before,
            "the unmerged workflow calls its members"
        );
        let merged = sn
            .ok("social-graph-follow-with-username-merged", follow(3, 2))
            .await;
        assert_eq!(merged, base, "{variant}");
        sn.ok("social-graph-follow-with-username-merged", follow(3, 4))
            .await;
        assert_eq!(
            sn.ok("social-graph-get-followers", json!({"user_id": 2}))
                .await,
            json!([1, 3]),
            "{variant}"
        );
        let followees: Value =
            serde_json::from_str(&sn.redis(&["HGET", "social-graph:3", "followees"])).unwrap();
        let ids: Vec<i64> = followees
            .as_array()
            .unwrap()
            .iter()
            .map(|f| f["followee_id"].as_i64().unwrap())
            .collect();
        assert_eq!(ids, [2, 4], "{variant}");
        assert_eq!(
            counts(&sn, &members_of).await,
            after_base,
            "the merged follow stayed local"
        );
        let bad = follow(1, 9);
        let base = sn.post("social-graph-follow-with-username", &bad).await;
        let after_bad = counts(&sn, &members_of).await;
        let merged = sn
            .post("social-graph-follow-with-username-merged", &bad)
            .await;
        assert_eq!(counts(&sn, &members_of).await, after_bad);
        assert_eq!(base.0, 500);
        assert_eq!(merged.0, base.0);
        for answer in [&base.1, &merged.1] {
            assert!(
                answer.contains("User: username_9 doesn't exist in redis"),
                "{answer}"
            );
        }
        let mut bases = Vec::new();
        for text in texts {
            bases.push(text_answer(&sn, "text-service", text).await);
        }
        let before_merged = counts(&sn, &members_of).await;
        for (text, base) in texts.iter().zip(&bases) {
            let merged = text_answer(&sn, "text-service-merged", text).await;
            assert_eq!(&merged, base, "{variant}: {text}");
        }
        assert_eq!(counts(&sn, &members_of).await, before_merged);
        sn.stop().await;
    }

    // Fake database, sync: the same answers from the merged binary, nothing through the gateway.
    let sn = Sn::start("sync", true).await;
    let before = counts(&sn, &members_of).await;
    for (a, b) in [(1, 2), (5, 6)] {
        assert_eq!(
            sn.ok("social-graph-follow-with-username-merged", follow(a, b))
                .await,
            json!("")
        );
    }
    let mut bases = Vec::new();
    for text in texts {
        bases.push(text_answer(&sn, "text-service", text).await);
    }
    let before_merged = counts(&sn, &members_of).await;
    assert_eq!(
        before_merged[..2],
        before[..2],
        "the merged follow stayed local"
    );
    for (text, base) in texts.iter().zip(&bases) {
        let merged = text_answer(&sn, "text-service-merged", text).await;
        assert_eq!(&merged, base, "fake database: {text}");
    }
    assert_eq!(counts(&sn, &members_of).await, before_merged);
    sn.stop().await;
}

/// Gateway request counts of compose-post's members.
async fn member_requests(sn: &Sn) -> Vec<u64> {
    let mut out = Vec::new();
    for f in [
        "unique-id-service",
        "compose-creator-with-userid",
        "text-service",
        "user-mention-service",
        "url-shorten-service",
        "media-service",
        "store-post",
        "write-user-timeline",
        "write-home-timeline",
        "social-graph-get-followers",
    ] {
        out.push(sn.requests(f).await);
    }
    out
}

/// `quilt populate` (docs/BENCHMARKS.md §6.2 plan, 8 requests at a time) on the async variant:
/// every request succeeds, the follow graph is symmetric, memcached holds the lists Redis holds,
/// and every home timeline reads back.
#[tokio::test(flavor = "multi_thread")]
async fn population_builds_a_consistent_graph() {
    let sn = Sn::start("async", false).await;
    let done = quilt_cli::populate::populate(&sn.app.url(), "social-network", 0.05, 7)
        .await
        .unwrap();
    assert_eq!(done.requests, 50 + 100 + 25);
    assert_eq!(done.errors, 0);
    let (mut edges_out, mut edges_in, mut timelines) = (0, 0, 0);
    for u in 0..50i64 {
        let key = format!("social-graph:{u}");
        let followees: Vec<Value> =
            serde_json::from_str(&sn.redis(&["HGET", &key, "followees"])).unwrap();
        let followers_text = sn.redis(&["HGET", &key, "followers"]);
        let followers: Vec<Value> = serde_json::from_str(&followers_text).unwrap();
        edges_out += followees.len();
        edges_in += followers.len();
        if let Some(cached) = sn.memcached(&format!("{u}:followers")) {
            assert_eq!(cached, followers_text, "user {u}");
        }
        let ids = sn
            .ok("social-graph-get-followers", json!({"user_id": u}))
            .await;
        let expected: Vec<Value> = followers.iter().map(|f| f["follower_id"].clone()).collect();
        assert_eq!(ids, Value::Array(expected), "user {u}");
        let posts = sn.ok("read-home-timeline", timeline(u, 0, 1000)).await;
        let stored: usize = sn
            .redis(&["ZCARD", &format!("home-timeline:{u}")])
            .parse()
            .unwrap();
        assert_eq!(posts.as_array().unwrap().len(), stored, "user {u}");
        timelines += stored;
    }
    assert_eq!(edges_out, edges_in);
    assert!(edges_out > 50, "{edges_out} follow edges");
    assert!(timelines >= 25, "{timelines} timeline entries");
    sn.stop().await;
}

/// The profiled compose-post graph has exactly the funcTree's ten edges, each taken once per run.
#[tokio::test(flavor = "multi_thread")]
async fn profiled_compose_post_graph_matches_the_reference_tree() {
    for variant in ["sync", "async"] {
        let sn = Sn::start(variant, true).await;
        let m = APP.built();
        let runs = 12;
        let body = compose(5, "hi @username_7 see http://x.example").to_string();
        let url = sn.app.url();
        let g = quilt_cli::profile::profile(&quilt_cli::profile::Profiling {
            gateway: &url,
            admin_token: sn.app.platform.admin_token(),
            app: &m.name,
            workflow: "compose-post",
            entry: "compose-post",
            body: Some(body.into_bytes()),
            requests: runs,
            concurrency: 2,
            limits: (None, None),
        })
        .await
        .unwrap();
        let tree = Tree::read(&APP.dir().join("workflows/compose-post.tree")).unwrap();
        let mut expected: Vec<(String, String)> = tree
            .edges
            .iter()
            .map(|(a, b, _)| (a.clone(), b.clone()))
            .collect();
        expected.sort();
        let mut got: Vec<(String, String)> = g
            .links
            .iter()
            .map(|e| (e.source.clone(), e.target.clone()))
            .collect();
        got.sort();
        assert_eq!(got, expected, "{variant}");
        assert_eq!(got.len(), 10);
        assert_eq!(g.graph.runs, runs);
        for e in &g.links {
            assert_eq!(e.weight, runs, "{variant}: {} -> {}", e.source, e.target);
            let want = if variant == "async" { "async" } else { "sync" };
            assert_eq!(e.kind, want, "{variant}: {} -> {}", e.source, e.target);
        }
        sn.app.shutdown().await;
    }
}
