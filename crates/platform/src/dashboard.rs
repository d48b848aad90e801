//! The web dashboard the gateway serves at `/_quilt/ui` (and at `/` to browsers): one static page
//! (HTML, script and style built into the binary) that polls `GET /_quilt/status` every second and
//! reads the app's last profile, plan and optimize report from the dashboard folder
//! ([`crate::PlatformConfig::dashboard_dir`]). Read-only: its one switch (tracing) needs the admin
//! token, as the endpoint behind it does.

use crate::gateway::Gateway;
use crate::instances::InstanceStatus;
use crate::metrics::RouteFigures;
use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE};
use hyper::{Response, StatusCode};
use serde::Serialize;
use std::path::Path;

const PAGE: &str = include_str!("dashboard/index.html");
const SCRIPT: &str = include_str!("dashboard/app.js");
const STYLE: &str = include_str!("dashboard/style.css");

/// The files of the dashboard folder the gateway serves (at `/_quilt/ui/files/<name>`), with their
/// content types: the last profiled call graph, the solver's plan for it, and the last `quilt
/// optimize` report with its plot. Nothing else in the folder is served.
pub const FILES: [(&str, &str); 4] = [
    ("graph.json", "application/json"),
    ("plan.json", "application/json"),
    ("report.json", "application/json"),
    ("latency.svg", "image/svg+xml"),
];

/// Largest dashboard file served.
const MAX_FILE_BYTES: u64 = 8 << 20;

/// One route as the dashboard shows it.
#[derive(Serialize)]
struct RouteStatus<'a> {
    route: &'a str,
    entry: &'a str,
    members: &'a [String],
    memory_mb: u64,
    cpu: f64,
    min_instances: u32,
    max_instances: u32,
    concurrency: u32,
    instances: Vec<InstanceStatus>,
    #[serde(flatten)]
    figures: RouteFigures,
}

/// `GET /_quilt/status`: every route with its deployment, instances and request figures.
pub(crate) fn status(gateway: &Gateway) -> serde_json::Value {
    use std::sync::atomic::Ordering;
    let routes = gateway.routes();
    let mut figures = gateway.shared.metrics.figures_by_route();
    let mut names: Vec<&String> = routes.keys().collect();
    names.sort();
    let routes: Vec<serde_json::Value> = names
        .into_iter()
        .map(|name| {
            let pool = &routes[name];
            let spec = &pool.spec;
            let route = RouteStatus {
                route: name,
                entry: &spec.entry,
                members: &spec.members,
                memory_mb: spec.memory_mb,
                cpu: spec.cpu,
                min_instances: spec.min_instances,
                max_instances: spec.max_instances,
                concurrency: spec.concurrency,
                instances: pool.instance_status(),
                figures: figures.remove(name.as_str()).unwrap_or_default(),
            };
            serde_json::to_value(route).expect("plain data serializes")
        })
        .collect();
    serde_json::json!({
        "routes": routes,
        "tracing": gateway.shared.tracing.load(Ordering::Acquire),
        "limits_enforced": gateway.shared.enforcement.enforced(),
        "files": gateway.dashboard_dir.as_ref().map(|dir| available(dir)).unwrap_or_default(),
    })
}

/// The dashboard files present in `dir`, each with its modification time (ms since the epoch), so
/// that an open page reloads a file that was written again.
fn available(dir: &Path) -> Vec<serde_json::Value> {
    FILES
        .iter()
        .filter_map(|(name, _)| {
            let meta = std::fs::metadata(dir.join(name))
                .ok()
                .filter(|m| m.is_file())?;
            let modified = meta
                .modified()
                .ok()?
                .duration_since(std::time::UNIX_EPOCH)
                .ok()?
                .as_millis() as u64;
            Some(serde_json::json!({ "name": name, "modified": modified }))
        })
        .collect()
}

/// `GET /_quilt/ui[/<asset>]`: the page and its script and style; None for another path.
pub(crate) fn asset(path: &str) -> Option<Response<Full<Bytes>>> {
    let (body, content_type) = match path {
        "/_quilt/ui" | "/_quilt/ui/" => (PAGE, "text/html; charset=utf-8"),
        "/_quilt/ui/app.js" => (SCRIPT, "text/javascript; charset=utf-8"),
        "/_quilt/ui/style.css" => (STYLE, "text/css; charset=utf-8"),
        _ => return None,
    };
    Some(respond(
        StatusCode::OK,
        content_type,
        Bytes::from_static(body.as_bytes()),
    ))
}

/// `GET /_quilt/ui/files/<name>`: a file of the dashboard folder, if `name` is one of [`FILES`].
pub(crate) async fn file(dir: Option<&Path>, name: &str) -> Response<Full<Bytes>> {
    let not_found = |why: String| respond(StatusCode::NOT_FOUND, "text/plain", why.into());
    let Some(&(name, content_type)) = FILES.iter().find(|(n, _)| *n == name) else {
        return not_found(format!("no dashboard file '{}'", name.escape_debug()));
    };
    let Some(dir) = dir else {
        return not_found("this platform has no dashboard folder".into());
    };
    let path = dir.join(name);
    let read = tokio::task::spawn_blocking(move || -> std::io::Result<Option<Vec<u8>>> {
        use std::io::Read;
        let file = std::fs::File::open(&path)?;
        if !file.metadata()?.is_file() {
            return Err(std::io::ErrorKind::NotFound.into());
        }
        let mut bytes = Vec::new();
        file.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes)?;
        Ok((bytes.len() as u64 <= MAX_FILE_BYTES).then_some(bytes))
    })
    .await
    .unwrap_or_else(|e| Err(std::io::Error::other(e)));
    match read {
        Ok(Some(bytes)) => respond(StatusCode::OK, content_type, bytes.into()),
        Ok(None) => respond(
            StatusCode::INTERNAL_SERVER_ERROR,
            "text/plain",
            format!("{name} is larger than {MAX_FILE_BYTES} bytes").into(),
        ),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            not_found(format!("{name} has not been written yet"))
        }
        Err(e) => not_found(format!("reading {name}: {e}")),
    }
}

/// A response with the dashboard's headers: no caching, and a content security policy that lets
/// the page load only its own script, style and images (an SVG shown as an image runs no script).
pub(crate) fn respond(
    code: StatusCode,
    content_type: &'static str,
    body: Bytes,
) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(body));
    *resp.status_mut() = code;
    let h = resp.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(
        "content-security-policy",
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; \
             connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
        ),
    );
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    resp
}
