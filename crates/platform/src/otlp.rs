//! OTLP export: spans from the store are batched and sent to a collector (Tempo, Jaeger, the
//! OpenTelemetry Collector) as OTLP/HTTP protobuf `POST <endpoint>/v1/traces`.

use crate::spans::Span;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{
    span, status, ResourceSpans, ScopeSpans, Span as OtlpSpan, Status,
};
use prost::Message;
use std::collections::BTreeMap;
use std::time::Duration;
use tokio::sync::mpsc;

/// Spans sent in one export request at most.
const BATCH: usize = 512;

/// A running exporter; dropping it stops the export task after a last flush.
pub struct OtlpExporter {
    tx: mpsc::UnboundedSender<Vec<Span>>,
}

impl OtlpExporter {
    /// Starts exporting to `endpoint` (e.g. `http://127.0.0.1:4318`).
    pub fn start(endpoint: &str) -> Result<OtlpExporter, String> {
        let url = format!("{}/v1/traces", endpoint.trim_end_matches('/'));
        let uri: hyper::Uri = url
            .parse()
            .map_err(|e| format!("bad OTLP endpoint '{endpoint}': {e}"))?;
        if uri.scheme_str() != Some("http") || uri.host().is_none() {
            return Err(format!(
                "bad OTLP endpoint '{endpoint}': expected http://host:port"
            ));
        }
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(export_loop(uri, rx));
        Ok(OtlpExporter { tx })
    }

    /// Queues spans for export.
    pub fn export(&self, spans: &[Span]) {
        let _ = self.tx.send(spans.to_vec());
    }
}

async fn export_loop(uri: hyper::Uri, mut rx: mpsc::UnboundedReceiver<Vec<Span>>) {
    let mut pending: Vec<Span> = Vec::new();
    loop {
        let next = tokio::time::timeout(Duration::from_millis(500), rx.recv()).await;
        let (idle, closed) = (next.is_err(), matches!(next, Ok(None)));
        if let Ok(Some(spans)) = next {
            pending.extend(spans);
        }
        while pending.len() >= BATCH || (!pending.is_empty() && (idle || closed)) {
            let batch: Vec<Span> = pending.drain(..pending.len().min(BATCH)).collect();
            if let Err(e) = send(&uri, encode(&batch)).await {
                tracing::warn!("OTLP export of {} spans to {uri} failed: {e}", batch.len());
            }
        }
        if closed {
            return;
        }
    }
}

async fn send(uri: &hyper::Uri, body: Vec<u8>) -> Result<(), String> {
    let host = uri.host().unwrap_or("127.0.0.1");
    let port = uri.port_u16().unwrap_or(80);
    let stream = tokio::net::TcpStream::connect((host, port))
        .await
        .map_err(|e| e.to_string())?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    let req = hyper::Request::post(uri.path())
        .header(hyper::header::HOST, format!("{host}:{port}"))
        .header(hyper::header::CONTENT_TYPE, "application/x-protobuf")
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| e.to_string())?;
    let resp = sender.send_request(req).await.map_err(|e| e.to_string())?;
    let status = resp.status();
    let _ = resp.into_body().collect().await;
    if !status.is_success() {
        return Err(format!("collector answered HTTP {status}"));
    }
    Ok(())
}

fn hex_bytes(hex: &str) -> Vec<u8> {
    (0..hex.len() / 2)
        .filter_map(|i| u8::from_str_radix(hex.get(2 * i..2 * i + 2)?, 16).ok())
        .collect()
}

fn attr(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

/// The OTLP request for a batch of spans: one resource (service) per function.
pub fn encode(spans: &[Span]) -> Vec<u8> {
    let mut by_function: BTreeMap<&str, Vec<OtlpSpan>> = BTreeMap::new();
    for s in spans {
        let start = s.start_us * 1000;
        let mut attributes = vec![
            attr("quilt.call", any_value::Value::StringValue(s.kind.clone())),
            attr("quilt.local", any_value::Value::BoolValue(s.local)),
            attr(
                "quilt.instance",
                any_value::Value::StringValue(s.instance.clone()),
            ),
            attr("quilt.status", any_value::Value::IntValue(s.status as i64)),
        ];
        for (key, value) in [("quilt.cpu_us", s.cpu_us), ("quilt.wait_us", s.wait_us)] {
            if let Some(v) = value {
                attributes.push(attr(key, any_value::Value::IntValue(v as i64)));
            }
        }
        let otlp = OtlpSpan {
            trace_id: hex_bytes(&s.trace),
            span_id: hex_bytes(&s.span),
            parent_span_id: hex_bytes(&s.parent),
            name: s.function.clone(),
            kind: if s.local {
                span::SpanKind::Internal
            } else {
                span::SpanKind::Server
            } as i32,
            start_time_unix_nano: start,
            end_time_unix_nano: start + s.dur_us * 1000,
            attributes,
            status: Some(Status {
                code: if s.status == 0 {
                    status::StatusCode::Ok
                } else {
                    status::StatusCode::Error
                } as i32,
                ..Default::default()
            }),
            ..Default::default()
        };
        by_function.entry(&s.function).or_default().push(otlp);
    }
    let resource_spans = by_function
        .into_iter()
        .map(|(function, spans)| ResourceSpans {
            resource: Some(Resource {
                attributes: vec![attr(
                    "service.name",
                    any_value::Value::StringValue(function.to_string()),
                )],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "quilt".into(),
                    version: env!("CARGO_PKG_VERSION").into(),
                    ..Default::default()
                }),
                spans,
                ..Default::default()
            }],
            ..Default::default()
        })
        .collect();
    ExportTraceServiceRequest { resource_spans }.encode_to_vec()
}
