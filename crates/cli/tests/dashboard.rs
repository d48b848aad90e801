//! The gateway's web dashboard in a real browser: Debian's headless Chromium driven through
//! chromedriver (WebDriver), against `quilt up` serving examples/hello.

use fantoccini::{Client, ClientBuilder, Locator};
use quilt_harness as common;
use quilt_harness::cli::{quilt, text, Up};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";
/// The admin token of the tests' `quilt up` (another test's `quilt up` of the same app would
/// replace the token file that `quilt profile --gateway` reads otherwise).
const TOKEN: &str = "dashboard-test-token";

/// `quilt up examples/hello` with [`TOKEN`].
fn up() -> Up {
    Up::with_env(
        &common::root().join("examples/hello"),
        &[],
        &[("QUILT_ADMIN_TOKEN", TOKEN)],
    )
}

/// When the gateway says `name` was last written (ms since the epoch), if it is there.
async fn modified(up: &Up, name: &str) -> Option<u64> {
    let status = common::get(up.gateway, "/_quilt/status").await.json();
    status["files"]
        .as_array()?
        .iter()
        .find(|f| f["name"] == name)?["modified"]
        .as_u64()
}

/// A chromedriver process on a free port, killed on drop.
struct Driver {
    child: Child,
    url: String,
}

impl Driver {
    fn start() -> Driver {
        assert!(
            std::path::Path::new(CHROMEDRIVER).is_file(),
            "{CHROMEDRIVER} is missing: scripts/setup.sh installs chromium and chromium-driver"
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting chromedriver");
        let end = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < end,
                "chromedriver did not listen on {port}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Driver {
            child,
            url: format!("http://127.0.0.1:{port}"),
        }
    }

    /// A headless Chromium session with a fresh profile (as root it needs --no-sandbox; the
    /// background services stay off on a machine without outside network).
    async fn browser(&self, profile: &std::path::Path) -> Client {
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({
                "binary": CHROMIUM,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-background-networking", "--disable-component-update",
                    "--disable-sync", "--no-first-run", "--window-size=1200,1000",
                    format!("--user-data-dir={}", profile.display()),
                ]
            }),
        );
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        ClientBuilder::new(connector)
            .capabilities(caps)
            .connect(&self.url)
            .await
            .expect("a Chromium session through chromedriver")
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Evaluates `script` in the page until it returns a value `accept` takes (20 s at most).
async fn wait_for<T>(
    browser: &Client,
    what: &str,
    script: &str,
    accept: impl Fn(&serde_json::Value) -> Option<T>,
) -> T {
    let end = Instant::now() + Duration::from_secs(20);
    loop {
        let value = browser.execute(script, vec![]).await.expect("script runs");
        if let Some(v) = accept(&value) {
            return v;
        }
        assert!(Instant::now() < end, "{what}: last value {value}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The `data-requests` count the page shows for `route`, when it shows the route.
fn requests_script(route: &str) -> String {
    format!(
        "const row = document.querySelector('tr[data-route=\"{route}\"]'); \
         return row ? Number(row.dataset.requests) : null;"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_routes_updates_after_an_invoke_and_draws_the_profiled_graph() {
    let up = up();
    let driver = Driver::start();
    let profile = tempfile::tempdir().unwrap();
    let browser = driver.browser(profile.path()).await;

    // A browser opening the gateway's address is sent to the dashboard.
    browser.goto(&up.url()).await.unwrap();
    let url = browser.current_url().await.unwrap();
    assert_eq!(url.path(), "/_quilt/ui", "{url}");

    // Every route of the app is listed, the merged one with its members if it is installed.
    let routes = wait_for(
        &browser,
        "the routes table",
        "return [...document.querySelectorAll('tr[data-route]')].map(r => r.dataset.route);",
        |v| {
            let names: Vec<String> = serde_json::from_value(v.clone()).ok()?;
            (!names.is_empty()).then_some(names)
        },
    )
    .await;
    for f in ["hello", "upper", "decorate"] {
        assert!(routes.iter().any(|r| r == f), "{f} missing from {routes:?}");
    }
    let before = wait_for(&browser, "hello's count", &requests_script("hello"), |v| {
        v.as_u64()
    })
    .await;

    // An invoke shows up within a poll or two, and its instance appears.
    let r = common::post(up.gateway, "/hello", r#"{"name":"dashboard"}"#).await;
    assert_eq!(r.status, 200, "{r:?}");
    let after = wait_for(
        &browser,
        "hello's count after an invoke",
        &requests_script("hello"),
        |v| v.as_u64().filter(|&n| n > before),
    )
    .await;
    assert_eq!(after, before + 1);
    // The instances table may be drawn a poll after the counts.
    wait_for(
        &browser,
        "an instance listed after an invoke",
        "return document.querySelectorAll('#instances tbody tr').length;",
        |v| v.as_u64().filter(|&n| n > 0),
    )
    .await;

    // `quilt profile` publishes the call graph and the solver's plan, which the page draws.
    let before = modified(&up, "graph.json").await;
    let out = tempfile::tempdir().unwrap();
    let profiled = quilt()
        .args([
            "profile",
            "examples/hello",
            "--workflow",
            "hello",
            "--requests",
            "3",
        ])
        .args([
            "--data",
            r#"{"name":"graph"}"#,
            "--gateway",
            &up.url(),
            "--out",
        ])
        .arg(out.path().join("graph.json"))
        .env("QUILT_ADMIN_TOKEN", TOKEN)
        .output()
        .unwrap();
    assert!(profiled.status.success(), "{}", text(&profiled.stderr));
    let after = modified(&up, "graph.json").await;
    assert!(
        after.is_some() && after > before,
        "graph.json not published anew"
    );
    let nodes = wait_for(
        &browser,
        "the call graph",
        "return [...document.querySelectorAll('#callgraph [data-node]')].map(n => n.dataset.node).sort();",
        |v| {
            let nodes: Vec<String> = serde_json::from_value(v.clone()).ok()?;
            (!nodes.is_empty()).then_some(nodes)
        },
    )
    .await;
    assert_eq!(nodes, ["decorate", "hello", "upper"]);
    // The plan is drawn with it (it may come a poll later than the graph).
    wait_for(
        &browser,
        "the plan's legend",
        "const l = document.querySelector('#graph .legend'); return l ? l.textContent : '';",
        |v| {
            v.as_str()
                .filter(|t| t.contains("calls stay remote"))
                .map(str::to_string)
        },
    )
    .await;

    // Read-only without the admin token: the tracing switch is refused and tracing stays off.
    browser
        .find(Locator::Id("tracing-toggle"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let error = wait_for(
        &browser,
        "the refusal",
        "return document.getElementById('tracing-error').textContent;",
        |v| v.as_str().filter(|s| !s.is_empty()).map(str::to_string),
    )
    .await;
    assert!(error.contains("admin token"), "{error}");
    let status = common::get(up.gateway, "/_quilt/status").await;
    let status: serde_json::Value = serde_json::from_str(&status.body).unwrap();
    assert_eq!(status["tracing"], false);

    browser.close().await.unwrap();
}

#[tokio::test]
async fn dashboard_files_are_served_only_by_name_and_with_a_strict_policy() {
    let up = up();
    let page = common::get(up.gateway, "/_quilt/ui").await;
    assert_eq!(page.status, 200);
    let csp = page
        .headers
        .get("content-security-policy")
        .and_then(|v| v.to_str().ok())
        .expect("a content security policy");
    assert!(csp.contains("script-src 'self'"), "{csp}");
    // Only the dashboard's own files, by exact name: no path escapes, no other file of .quilt.
    for path in [
        "/_quilt/ui/files/../admin-token",
        "/_quilt/ui/files/admin-token",
        "/_quilt/ui/files/%2e%2e%2fadmin-token",
        "/_quilt/ui/files/graph.json/../../admin-token",
    ] {
        let r = common::get(up.gateway, path).await;
        assert_eq!(r.status, 404, "{path}: {r:?}");
        assert!(!r.body.contains(TOKEN), "{path} leaked the token");
    }
}
