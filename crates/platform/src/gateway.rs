//! The gateway: HTTP/1.1 on one address, routing `POST /<function>` to its instance pool, plus
//! `GET /metrics` (Prometheus text) and `GET /healthz`.

use crate::instances::{ForwardError, Pool, Shared};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

/// The routes served and their instance pools.
pub(crate) type Routes = HashMap<String, Arc<Pool>>;

/// Routing state of the gateway.
pub(crate) struct Gateway {
    /// The routing table, replaced whole when a route is added, replaced or retired (a request
    /// takes the table current when it arrives and holds no lock while it runs).
    pub routes: RwLock<Arc<Routes>>,
    pub shared: Arc<Shared>,
    pub max_body: usize,
    /// How long a client may take to send a request's headers.
    pub header_timeout: Duration,
    /// How long the gateway waits for the next bytes of a request body (408 beyond).
    pub body_timeout: Duration,
    /// Bytes held in incomplete request bodies, across connections, and their bound.
    pub body_memory: BodyMemory,
    /// Where requests for routes this gateway does not serve go (an outer gateway).
    pub upstream: Option<String>,
    /// The folder of the dashboard's files (last profile, plan, report).
    pub dashboard_dir: Option<std::path::PathBuf>,
}

/// The memory held by request bodies still being received, and its bound (503 beyond).
pub(crate) struct BodyMemory {
    held: AtomicUsize,
    limit: usize,
}

impl BodyMemory {
    pub fn new(limit: usize) -> Self {
        BodyMemory {
            held: AtomicUsize::new(0),
            limit,
        }
    }
}

/// One body's part of the [`BodyMemory`], given back when dropped.
struct BodyHold<'a> {
    memory: &'a BodyMemory,
    gauge: &'a prometheus::IntGauge,
    bytes: usize,
}

impl BodyHold<'_> {
    /// Holds `n` more bytes; false (and nothing held) when the bound would be passed.
    fn grow(&mut self, n: usize) -> bool {
        let limit = self.memory.limit;
        let grown = self
            .memory
            .held
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |held| {
                (held + n <= limit).then_some(held + n)
            })
            .is_ok();
        if grown {
            self.bytes += n;
            self.gauge.add(n as i64);
        }
        grown
    }
}

impl Drop for BodyHold<'_> {
    fn drop(&mut self) {
        self.memory.held.fetch_sub(self.bytes, Ordering::AcqRel);
        self.gauge.sub(self.bytes as i64);
    }
}

/// Why a request body was not read.
enum BodyError {
    /// Over `max_body` (413).
    TooLarge,
    /// No bytes for `body_timeout` (408).
    Timeout,
    /// Incomplete bodies hold the whole body memory (503).
    NoMemory,
    /// The connection failed (400).
    Read(String),
}

/// Counts a request whose client went away before it was answered (dropped unanswered: hyper
/// drops the request's future when its connection closes).
struct Unanswered<'a> {
    metrics: &'a crate::metrics::Metrics,
    function: &'a str,
    answered: bool,
}

impl Drop for Unanswered<'_> {
    fn drop(&mut self) {
        if !self.answered {
            self.metrics
                .aborted
                .with_label_values(&[self.function])
                .inc();
        }
    }
}

/// An error answer after which the connection is closed (the client is slow, or the gateway is
/// short of memory), with `Retry-After` when retrying later may succeed.
fn closing_error(
    code: StatusCode,
    message: &str,
    function: &str,
    retry_after: Option<u64>,
) -> Response<Full<Bytes>> {
    let mut resp = json_error(code, message, function);
    let headers = resp.headers_mut();
    headers.insert(
        hyper::header::CONNECTION,
        hyper::header::HeaderValue::from_static("close"),
    );
    if let Some(seconds) = retry_after {
        headers.insert(hyper::header::RETRY_AFTER, seconds.into());
    }
    resp
}

fn json_error(code: StatusCode, message: &str, function: &str) -> Response<Full<Bytes>> {
    let body = serde_json::json!({ "error": message, "function": function });
    let mut resp = Response::new(Full::new(Bytes::from(body.to_string())));
    *resp.status_mut() = code;
    resp.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    resp
}

fn text(code: StatusCode, content_type: &'static str, body: String) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(body)));
    *resp.status_mut() = code;
    resp.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static(content_type),
    );
    resp
}

/// A fresh random id of `bytes` bytes, as hex.
fn random_hex(bytes: usize) -> String {
    use rand::Rng;
    let mut rng = rand::rng();
    (0..bytes)
        .map(|_| format!("{:02x}", rng.random::<u8>()))
        .collect()
}

/// Whether a request comes from a browser asking for a page: `Accept` names `text/html` and not
/// JSON (a client that takes either keeps the JSON index).
fn wants_html(headers: &hyper::HeaderMap) -> bool {
    headers
        .get(hyper::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html") && !v.contains("application/json"))
}

fn valid_traceparent(v: &hyper::header::HeaderValue) -> bool {
    let parts: Vec<&str> = v.to_str().unwrap_or("").split('-').collect();
    parts.len() == 4 && parts[1].len() == 32 && parts[2].len() == 16
}

impl Gateway {
    /// The routing table as it is now.
    pub fn routes(&self) -> Arc<Routes> {
        Arc::clone(&self.routes.read().unwrap())
    }

    /// The trace headers to forward: the caller's context, or a new trace for a workflow request;
    /// none while tracing is off.
    fn trace_headers(
        &self,
        headers: &hyper::HeaderMap,
    ) -> Option<(hyper::header::HeaderValue, hyper::header::HeaderValue)> {
        use std::sync::atomic::Ordering;
        if !self.shared.tracing.load(Ordering::Acquire) {
            return None;
        }
        let traceparent = match headers.get("traceparent") {
            Some(v) if valid_traceparent(v) => v.clone(),
            _ => {
                let tp = format!("00-{}-{}-01", random_hex(16), random_hex(8));
                hyper::header::HeaderValue::from_str(&tp).expect("hex is a valid header")
            }
        };
        let kind = match headers.get("quilt-kind") {
            Some(k) if k == "async" => hyper::header::HeaderValue::from_static("async"),
            _ => hyper::header::HeaderValue::from_static("sync"),
        };
        Some((traceparent, kind))
    }

    /// Passes a request for a route served elsewhere to the upstream gateway, headers included.
    async fn to_upstream(&self, upstream: &str, req: Request<Incoming>) -> Response<Full<Bytes>> {
        let path = req.uri().path().to_string();
        let name = path.trim_start_matches('/').to_string();
        let (parts, body) = req.into_parts();
        let body = match self.read_body(&parts.headers, body).await {
            Ok(body) => body,
            Err(e) => return self.body_error(e, &name),
        };
        let result = async {
            let stream = tokio::net::TcpStream::connect(upstream).await?;
            let _ = stream.set_nodelay(true);
            let (mut sender, conn) =
                hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
            tokio::spawn(conn);
            let resp = sender
                .send_request(Request::from_parts(parts, Full::new(body)))
                .await?;
            let (parts, body) = resp.into_parts();
            let body = body.collect().await?.to_bytes();
            Ok::<_, Box<dyn std::error::Error + Send + Sync>>(Response::from_parts(
                parts,
                Full::new(body),
            ))
        }
        .await;
        result.unwrap_or_else(|e| {
            json_error(
                StatusCode::BAD_GATEWAY,
                &format!("upstream gateway {upstream} failed: {e}"),
                &name,
            )
        })
    }

    /// The platform's own endpoints under `/_quilt/`: spans, resources, status, the dashboard, and
    /// the tracing switch (which needs the admin token).
    async fn admin(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        use std::sync::atomic::Ordering;
        let path = req.uri().path().to_string();
        let query = req.uri().query().unwrap_or("").to_string();
        let json = |v: serde_json::Value| text(StatusCode::OK, "application/json", v.to_string());
        match (req.method().clone(), path.as_str()) {
            (Method::GET, "/_quilt/spans") => {
                let after = query
                    .split('&')
                    .find_map(|kv| kv.strip_prefix("after=")?.parse().ok())
                    .unwrap_or(0);
                let (spans, next) = self.shared.spans.since(after);
                json(serde_json::json!({ "next": next, "spans": spans }))
            }
            (Method::GET, "/_quilt/resources") => {
                let functions: serde_json::Map<String, serde_json::Value> = self
                    .routes()
                    .iter()
                    .map(|(name, pool)| {
                        (
                            name.clone(),
                            serde_json::to_value(pool.resources()).unwrap(),
                        )
                    })
                    .collect();
                json(serde_json::json!({ "functions": functions }))
            }
            (Method::GET, "/_quilt/status") => json(crate::dashboard::status(self)),
            (Method::GET, p) if p.starts_with("/_quilt/ui/files/") => {
                let name = &p["/_quilt/ui/files/".len()..];
                crate::dashboard::file(self.dashboard_dir.as_deref(), name).await
            }
            (Method::GET, p) if crate::dashboard::asset(p).is_some() => {
                crate::dashboard::asset(p).expect("checked")
            }
            (Method::GET, "/_quilt/tracing") => json(serde_json::json!({
                "tracing": self.shared.tracing.load(Ordering::Acquire)
            })),
            (Method::POST, "/_quilt/tracing") => {
                let expected = format!("Bearer {}", self.shared.admin_token);
                // In constant time: how long the comparison takes says nothing about the token.
                let authorized = req
                    .headers()
                    .get(hyper::header::AUTHORIZATION)
                    .is_some_and(|v| {
                        bool::from(subtle::ConstantTimeEq::ct_eq(
                            v.as_bytes(),
                            expected.as_bytes(),
                        ))
                    });
                if !authorized {
                    return json_error(
                        StatusCode::UNAUTHORIZED,
                        "this endpoint needs the admin token (Authorization: Bearer <token>)",
                        "",
                    );
                }
                let body = Limited::new(req.into_body(), 64).collect();
                let body = tokio::time::timeout(self.body_timeout, body).await;
                let on = match body.map(|b| b.map(|b| b.to_bytes())) {
                    Ok(Ok(b)) if b.as_ref() == b"on" || b.as_ref() == b"true" => true,
                    Ok(Ok(b)) if b.as_ref() == b"off" || b.as_ref() == b"false" => false,
                    _ => {
                        return json_error(
                            StatusCode::BAD_REQUEST,
                            "body must be 'on' or 'off'",
                            "",
                        )
                    }
                };
                self.shared.tracing.store(on, Ordering::Release);
                json(serde_json::json!({ "tracing": on }))
            }
            _ => json_error(StatusCode::NOT_FOUND, &format!("no endpoint {path}"), ""),
        }
    }

    /// Answers one request.
    pub async fn handle(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        let path = req.uri().path().to_string();
        match (req.method(), path.as_str()) {
            (&Method::GET, "/healthz") => return text(StatusCode::OK, "text/plain", "ok".into()),
            (&Method::GET, "/") if wants_html(req.headers()) => {
                // A browser that opens the gateway's address finds the dashboard.
                let mut resp = text(StatusCode::SEE_OTHER, "text/plain", String::new());
                resp.headers_mut().insert(
                    hyper::header::LOCATION,
                    hyper::header::HeaderValue::from_static("/_quilt/ui"),
                );
                return resp;
            }
            (&Method::GET, "/") => {
                // What a client that opens the gateway's address finds: its routes and endpoints.
                let mut routes: Vec<String> = self.routes().keys().cloned().collect();
                routes.sort();
                let index = serde_json::json!({
                    "routes": routes,
                    "invoke": "POST /<route> with the request body",
                    "metrics": "/metrics",
                    "health": "/healthz",
                    "dashboard": "/_quilt/ui",
                    "status": "/_quilt/status",
                });
                return text(StatusCode::OK, "application/json", index.to_string());
            }
            (&Method::GET, "/metrics") => {
                return text(
                    StatusCode::OK,
                    "text/plain; version=0.0.4",
                    self.shared.metrics.render(),
                )
            }
            (_, p) if p.starts_with("/_quilt/") => return self.admin(req).await,
            _ => {}
        }
        let name = path.trim_start_matches('/');
        let Some(pool) = self.routes().get(name).cloned() else {
            if let Some(upstream) = &self.upstream {
                return self.to_upstream(upstream, req).await;
            }
            return json_error(
                StatusCode::NOT_FOUND,
                &quilt_runtime::client::unknown_function_message(name),
                name,
            );
        };
        let started = Instant::now();
        let m = &self.shared.metrics;
        pool.series.requests(m).inc();
        let mut unanswered = Unanswered {
            metrics: m,
            function: name,
            answered: false,
        };
        let resp = self.invoke(&pool, req).await;
        unanswered.answered = true;
        pool.series
            .latency(m)
            .observe(started.elapsed().as_secs_f64());
        pool.series.count_response(m, resp.status());
        resp
    }

    /// Reads a request body: at most `max_body` bytes, each read within `body_timeout` of the
    /// previous one, and only while incomplete bodies hold less than the body memory.
    async fn read_body(
        &self,
        headers: &hyper::HeaderMap,
        mut body: Incoming,
    ) -> Result<Bytes, BodyError> {
        let declared = headers
            .get(hyper::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
        if declared.is_some_and(|n| n > self.max_body) {
            return Err(BodyError::TooLarge);
        }
        let mut hold = BodyHold {
            memory: &self.body_memory,
            gauge: &self.shared.metrics.body_bytes,
            bytes: 0,
        };
        let mut chunks: Vec<Bytes> = Vec::new();
        let mut len = 0;
        loop {
            let frame = match tokio::time::timeout(self.body_timeout, body.frame()).await {
                Err(_) => return Err(BodyError::Timeout),
                Ok(None) => break,
                Ok(Some(Err(e))) => return Err(BodyError::Read(e.to_string())),
                Ok(Some(Ok(frame))) => frame,
            };
            let Ok(data) = frame.into_data() else {
                continue; // trailers
            };
            len += data.len();
            if len > self.max_body {
                return Err(BodyError::TooLarge);
            }
            if !hold.grow(data.len()) {
                return Err(BodyError::NoMemory);
            }
            chunks.push(data);
            // The whole declared body is here: no read for its end.
            if hyper::body::Body::is_end_stream(&body) {
                break;
            }
        }
        Ok(match chunks.len() {
            1 => chunks.pop().expect("one chunk"),
            _ => chunks.concat().into(),
        })
    }

    /// The answer to a body that was not read.
    fn body_error(&self, e: BodyError, name: &str) -> Response<Full<Bytes>> {
        match e {
            BodyError::TooLarge => json_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                &quilt_runtime::client::body_too_large_message(self.max_body),
                name,
            ),
            BodyError::Timeout => closing_error(
                StatusCode::REQUEST_TIMEOUT,
                &format!(
                    "the request body stalled: no bytes for {} s (body_timeout_s)",
                    self.body_timeout.as_secs_f64()
                ),
                name,
                None,
            ),
            BodyError::NoMemory => {
                self.shared.metrics.body_memory_refusals.inc();
                closing_error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    &format!(
                        "the gateway holds its limit of {} MiB of incomplete request bodies \
                         (body_memory_mb); retry later",
                        self.body_memory.limit as f64 / (1 << 20) as f64
                    ),
                    name,
                    Some(1),
                )
            }
            BodyError::Read(e) => json_error(
                StatusCode::BAD_REQUEST,
                &format!("cannot read request: {e}"),
                name,
            ),
        }
    }

    async fn invoke(&self, pool: &Arc<Pool>, req: Request<Incoming>) -> Response<Full<Bytes>> {
        let name = pool.spec.name.as_str();
        if req.method() != Method::POST {
            return json_error(
                StatusCode::METHOD_NOT_ALLOWED,
                "use POST to invoke a function",
                name,
            );
        }
        let trace = self.trace_headers(req.headers());
        let (parts, body) = req.into_parts();
        let body = match self.read_body(&parts.headers, body).await {
            Ok(body) => body,
            Err(e) => return self.body_error(e, name),
        };
        if self
            .shared
            .stopping
            .load(std::sync::atomic::Ordering::Acquire)
        {
            // A connection kept alive across a shutdown: answer at once and close it, so that the
            // client reconnects (to a platform started in this one's place).
            let mut resp = json_error(
                StatusCode::SERVICE_UNAVAILABLE,
                &format!("function '{name}' is unavailable: the platform is stopping"),
                name,
            );
            resp.headers_mut().insert(
                hyper::header::CONNECTION,
                hyper::header::HeaderValue::from_static("close"),
            );
            return resp;
        }
        match pool.forward(body, trace).await {
            Ok(answer) => {
                if let Some(spans) = &answer.spans {
                    self.shared.spans.add_header(spans);
                }
                let mut resp = Response::new(Full::new(answer.body));
                *resp.status_mut() =
                    StatusCode::from_u16(answer.status).unwrap_or(StatusCode::BAD_GATEWAY);
                resp.headers_mut().insert(
                    hyper::header::CONTENT_TYPE,
                    hyper::header::HeaderValue::from_static("application/json"),
                );
                resp
            }
            Err(e) => {
                let code = match e {
                    ForwardError::Overloaded(..) => StatusCode::SERVICE_UNAVAILABLE,
                    ForwardError::Timeout(..) => StatusCode::GATEWAY_TIMEOUT,
                    ForwardError::Failed(..) => StatusCode::BAD_GATEWAY,
                };
                json_error(code, &e.to_string(), name)
            }
        }
    }
}
