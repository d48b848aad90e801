//! A one-shot HTTP/1.1 POST for the CLI, on hyper.

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;

/// POSTs `body` to `url` (`http://host:port/path`); returns the status and body.
pub async fn post(url: &str, body: Vec<u8>) -> Result<(u16, Bytes)> {
    request(hyper::Method::POST, url, body).await
}

/// GETs `url`; returns the status and body.
pub async fn get(url: &str) -> Result<(u16, Bytes)> {
    request(hyper::Method::GET, url, Vec::new()).await
}

async fn request(method: hyper::Method, url: &str, body: Vec<u8>) -> Result<(u16, Bytes)> {
    request_with(method, url, body, &[]).await
}

/// Sends a request with extra headers; returns the status and body.
pub async fn request_with(
    method: hyper::Method,
    url: &str,
    body: Vec<u8>,
    headers: &[(&str, &str)],
) -> Result<(u16, Bytes)> {
    let uri: hyper::Uri = url.parse().with_context(|| format!("bad URL '{url}'"))?;
    if uri.scheme_str() != Some("http") {
        bail!("bad URL '{url}': only http:// is supported");
    }
    let host = uri.host().context("URL has no host")?.to_string();
    let port = uri.port_u16().unwrap_or(80);
    let stream = tokio::net::TcpStream::connect((host.as_str(), port))
        .await
        .with_context(|| format!("cannot reach {host}:{port}"))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let mut req = hyper::Request::builder()
        .method(method)
        .uri(uri.path_and_query().map_or("/", |p| p.as_str()));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req
        .header(hyper::header::HOST, format!("{host}:{port}"))
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(body)))?;
    let resp = sender.send_request(req).await?;
    let status = resp.status().as_u16();
    let body = resp.into_body().collect().await?.to_bytes();
    Ok((status, body))
}

/// [`post`] on a private single-threaded runtime.
pub fn post_blocking(url: &str, body: Vec<u8>) -> Result<(u16, Bytes)> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(post(url, body))
}
