//! The gateway: HTTP/1.1 on one address, routing `POST /<function>` to its instance pool, plus
//! `GET /metrics` (Prometheus text) and `GET /healthz`.

use crate::instances::{ForwardError, Pool, Shared};
use bytes::Bytes;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

/// Routing state of the gateway.
pub(crate) struct Gateway {
    pub pools: HashMap<String, Arc<Pool>>,
    pub shared: Arc<Shared>,
    pub max_body: usize,
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

impl Gateway {
    /// Answers one request.
    pub async fn handle(&self, req: Request<Incoming>) -> Response<Full<Bytes>> {
        let path = req.uri().path().to_string();
        match (req.method(), path.as_str()) {
            (&Method::GET, "/healthz") => return text(StatusCode::OK, "text/plain", "ok".into()),
            (&Method::GET, "/metrics") => {
                return text(
                    StatusCode::OK,
                    "text/plain; version=0.0.4",
                    self.shared.metrics.render(),
                )
            }
            _ => {}
        }
        let name = path.trim_start_matches('/');
        let Some(pool) = self.pools.get(name) else {
            return json_error(
                StatusCode::NOT_FOUND,
                &format!("unknown function '{}'", name.escape_debug()),
                name,
            );
        };
        let started = Instant::now();
        let m = &self.shared.metrics;
        m.requests.with_label_values(&[name]).inc();
        let resp = self.invoke(pool, req).await;
        m.latency
            .with_label_values(&[name])
            .observe(started.elapsed().as_secs_f64());
        m.responses
            .with_label_values(&[name, resp.status().as_str()])
            .inc();
        resp
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
        let too_large = || {
            json_error(
                StatusCode::PAYLOAD_TOO_LARGE,
                &format!("request body is larger than {} bytes", self.max_body),
                name,
            )
        };
        let declared = req
            .headers()
            .get(hyper::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok()?.parse::<usize>().ok());
        if declared.is_some_and(|n| n > self.max_body) {
            return too_large();
        }
        let traceparent = req.headers().get("traceparent").cloned();
        let body = match Limited::new(req.into_body(), self.max_body).collect().await {
            Ok(b) => b.to_bytes(),
            Err(e)
                if e.downcast_ref::<http_body_util::LengthLimitError>()
                    .is_some() =>
            {
                return too_large()
            }
            Err(e) => {
                return json_error(
                    StatusCode::BAD_REQUEST,
                    &format!("cannot read request: {e}"),
                    name,
                )
            }
        };
        match pool.forward(body, traceparent).await {
            Ok((status, body)) => {
                let mut resp = Response::new(Full::new(body));
                *resp.status_mut() =
                    StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_GATEWAY);
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
