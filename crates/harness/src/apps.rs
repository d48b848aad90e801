//! What the benchmark apps' end-to-end tests share: the app built once and its funcTrees merged,
//! JSON calls through the gateway of a running app, and reads from its storage and metrics.

use quilt_manifest::Manifest;
use quilt_merge::tree::Tree;
use quilt_merge::{merge_group, GroupReport, MergeOptions};
use quilt_platform::services::Service;
use serde_json::Value;
use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// A running app: its gateway and its storage services (implemented by `quilt up`'s
/// `RunningApp`).
pub trait Running: Sized {
    /// Starts an app as `quilt up` does, on any free port: its `variant` (`QUILT_VARIANT`), in
    /// fake-database mode or with its storage services, instances above the minimum scaled down
    /// after `idle`.
    fn start(
        manifest: &Manifest,
        variant: &str,
        fakedb: bool,
        idle: Duration,
    ) -> impl Future<Output = anyhow::Result<Self>>;
    /// The gateway's address.
    fn gateway(&self) -> SocketAddr;
    /// The storage services started for the app.
    fn services(&self) -> &[Service];
}

/// An app of the workspace, by its folder relative to the root (e.g. `apps/hotel-reservation`).
#[derive(Debug, Clone, Copy)]
pub struct App(pub &'static str);

impl App {
    /// The app's folder.
    pub fn dir(&self) -> PathBuf {
        crate::root().join(self.0)
    }

    /// The app, built once per process.
    pub fn built(&self) -> Manifest {
        crate::built(self.0)
    }

    /// Starts the built app's `variant` (in fake-database mode or with real storage); instances stay
    /// up for two idle minutes.
    pub async fn start<R: Running>(&self, fakedb: bool, variant: &str) -> R {
        R::start(&self.built(), variant, fakedb, Duration::from_secs(120))
            .await
            .unwrap_or_else(|e| panic!("starting {} ({variant}): {e:#}", self.0))
    }

    /// Merges the group of `<app>/workflows/<tree>` (under the build lock) and installs it.
    pub fn merge(&self, tree: &str) -> GroupReport {
        let manifest = self.built();
        let tree = Tree::read(&self.dir().join("workflows").join(tree)).unwrap();
        let _lock = crate::build_lock(&self.dir());
        merge_group(&manifest, &tree, &MergeOptions::default()).unwrap()
    }
}

/// POSTs `body` to `route`: the JSON reply, or the status and text of a failure.
pub async fn call(app: &impl Running, route: &str, body: &Value) -> Result<Value, (u16, String)> {
    let r = crate::post(
        app.gateway(),
        &format!("/{route}"),
        serde_json::to_vec(body).unwrap(),
    )
    .await;
    if r.status == 200 {
        Ok(serde_json::from_str(&r.body).unwrap_or_else(|e| panic!("{route}: {e}: {}", r.body)))
    } else {
        Err((r.status, r.body))
    }
}

/// POSTs `body` to `route` and expects success; the JSON reply.
pub async fn ok(app: &impl Running, route: &str, body: Value) -> Value {
    call(app, route, &body)
        .await
        .unwrap_or_else(|e| panic!("{route} {body}: {e:?}"))
}

/// The address of the app's service of this kind (`redis`, `memcached`).
pub fn service(app: &impl Running, kind: &str) -> SocketAddr {
    crate::storage::service(app.services(), kind)
}

/// `GET key` straight from the app's Redis.
pub fn redis_get(app: &impl Running, key: &str) -> Option<String> {
    crate::storage::redis_get(service(app, "redis"), key)
}

/// How many requests the app's gateway has routed to `function`.
pub async fn requests(app: &impl Running, function: &str) -> u64 {
    crate::requests(app.gateway(), function).await
}
