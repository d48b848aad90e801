//! The instance's HTTP/1.1 server: `POST /<name>` runs an entry, `GET /healthz` answers `ok`.
//!
//! One thread per connection; the gateway bounds an instance's concurrency by the connections it
//! opens to it. When no thread can be made (the instance is at its pids or memory limit), the
//! accepting thread serves the connection's first request itself (waiting at most 2 s for its
//! bytes) and closes it. The server binds `$QUILT_BIND:$QUILT_PORT` (default address 127.0.0.1;
//! port 0: any free port) and announces the port it got on standard output as
//! `QUILT_LISTENING <port>`.
//! `POST /` runs the entry named by `$QUILT_ENTRY`, or the only one (Fission's router forwards a
//! trigger's requests to `/`).

use crate::{abi, trace, Entry, Mode};
use quilt_sdk::abi::{self as sdk, QuiltBuf};
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};

/// Environment variable with the port to listen on.
pub const PORT_ENV: &str = "QUILT_PORT";
/// Environment variable with the address to listen on (default 127.0.0.1): an emulated host's
/// address under `quilt up --hosts`, 0.0.0.0 in a container.
pub const BIND_ENV: &str = "QUILT_BIND";
/// Environment variable naming the entry that serves `POST /` (a merged binary has several).
pub const ENTRY_ENV: &str = "QUILT_ENTRY";
/// The line prefix announcing the bound port on standard output.
pub const LISTENING: &str = "QUILT_LISTENING";
/// Largest request body an instance reads (the gateway enforces the configured limit first).
const MAX_BODY: usize = 256 * 1024 * 1024;

/// Serves `entries` until the process is killed.
pub fn serve(entries: &'static [Entry], mode: Mode) -> ! {
    abi::install(entries, mode);
    let port: u16 = std::env::var(PORT_ENV)
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    let host = std::env::var(BIND_ENV)
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "127.0.0.1".to_string());
    let listener = TcpListener::bind((host.as_str(), port)).unwrap_or_else(|e| {
        eprintln!("quilt runtime: cannot listen on {host}:{port}: {e}");
        std::process::exit(70)
    });
    let port = listener.local_addr().map(|a| a.port()).unwrap_or(port);
    println!("{LISTENING} {port}");
    let _ = std::io::stdout().flush();
    for stream in listener.incoming() {
        let Ok(stream) = stream else { continue };
        // Handed over through a slot, so that it is not lost when no thread can be made.
        let slot = std::sync::Arc::new(std::sync::Mutex::new(Some(stream)));
        let theirs = std::sync::Arc::clone(&slot);
        let spawned = std::thread::Builder::new()
            .name("quilt-conn".into())
            .stack_size(crate::stack::thread_stack())
            .spawn(move || {
                if let Some(stream) = theirs.lock().unwrap().take() {
                    serve_connection(stream, entries, true);
                }
            });
        if spawned.is_err() {
            // At its process or memory limit (a pids cgroup counts threads): the request is still
            // served, here, and the connection closed after it.
            if let Some(stream) = slot.lock().unwrap().take() {
                let _ = stream.set_read_timeout(Some(INLINE_STALL));
                let _ = stream.set_write_timeout(Some(INLINE_STALL));
                serve_connection(stream, entries, false);
            }
        }
    }
    unreachable!("TcpListener::incoming never ends")
}

/// How long the accepting thread waits for a connection it serves itself to send or take bytes: a
/// client that stalls must not keep the instance from accepting.
const INLINE_STALL: std::time::Duration = std::time::Duration::from_secs(2);

/// Largest request head (request line and headers) an instance reads.
pub const MAX_HEAD: usize = 64 * 1024;

/// A parsed request head (public for the fuzz targets in `fuzz/`).
#[derive(Debug)]
pub struct Request {
    /// Bytes of the head, blank line included.
    pub head_len: usize,
    /// Bytes of the body (`Content-Length`).
    pub body_len: usize,
    /// Whether the method is POST.
    pub post: bool,
    /// The request target.
    pub path: String,
    /// Whether the connection closes after the answer.
    pub close: bool,
    /// The W3C trace context, when given.
    pub traceparent: Option<String>,
    /// Synchronous or asynchronous invocation.
    pub kind: trace::Kind,
}

/// Parses the head at the start of `buf`: `Ok(None)` while it is incomplete, an error for a
/// malformed head, a body over the limit, or a head longer than [`MAX_HEAD`].
pub fn parse_head(buf: &[u8]) -> Result<Option<Request>, String> {
    let mut headers = [httparse::EMPTY_HEADER; 64];
    let mut req = httparse::Request::new(&mut headers);
    let status = req.parse(buf).map_err(|e| format!("bad request: {e}"))?;
    let head_len = match status {
        httparse::Status::Complete(n) if n <= MAX_HEAD => n,
        // A complete head over the limit, or an incomplete one already over it.
        _ if buf.len() > MAX_HEAD => {
            return Err(format!("request head is longer than {MAX_HEAD} bytes"))
        }
        _ => return Ok(None),
    };
    let mut r = Request {
        head_len,
        body_len: 0,
        post: req.method == Some("POST"),
        path: req.path.unwrap_or("/").to_string(),
        close: req.version == Some(0),
        traceparent: None,
        kind: trace::Kind::Sync,
    };
    for h in req.headers.iter() {
        if h.name.eq_ignore_ascii_case("content-length") {
            r.body_len = std::str::from_utf8(h.value)
                .ok()
                .and_then(|v| v.trim().parse().ok())
                .ok_or("bad content-length")?;
        } else if h.name.eq_ignore_ascii_case("transfer-encoding") {
            return Err("chunked bodies are not supported; send content-length".into());
        } else if h.name.eq_ignore_ascii_case("connection") {
            r.close = h.value.eq_ignore_ascii_case(b"close");
        } else if h.name.eq_ignore_ascii_case("traceparent") {
            r.traceparent = std::str::from_utf8(h.value).ok().map(str::to_string);
        } else if h.name.eq_ignore_ascii_case(trace::KIND_HEADER) && h.value == b"async" {
            r.kind = trace::Kind::Async;
        }
    }
    if r.body_len > MAX_BODY {
        return Err(format!("body of {} bytes is too large", r.body_len));
    }
    Ok(Some(r))
}

/// Serves the requests of one connection; only its first when `keep_alive` is false (answered
/// with `Connection: close`).
fn serve_connection(mut stream: TcpStream, entries: &'static [Entry], keep_alive: bool) {
    let _ = stream.set_nodelay(true);
    let mut buf: Vec<u8> = Vec::with_capacity(8192);
    let mut chunk = vec![0u8; 64 * 1024];
    loop {
        let req = loop {
            match parse_head(&buf) {
                Ok(Some(r)) if buf.len() >= r.head_len + r.body_len => break r,
                Ok(_) => {}
                Err(message) => {
                    let _ = respond(&mut stream, 400, &error_body("", &message), None, true);
                    return;
                }
            }
            match stream.read(&mut chunk) {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let body = &buf[req.head_len..req.head_len + req.body_len];
        let (code, reply, spans) = dispatch(entries, &req, body);
        let close = req.close || !keep_alive;
        if respond(&mut stream, code, &reply, spans.as_deref(), close).is_err() || close {
            return;
        }
        buf.drain(..req.head_len + req.body_len);
    }
}

/// Status, body, and the spans recorded while serving (when traced).
type Reply = (u16, Vec<u8>, Option<String>);

/// The entry serving `/`: the one named by `$QUILT_ENTRY`, or the only one.
fn default_entry(entries: &[Entry]) -> Option<&Entry> {
    static NAME: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    match NAME.get_or_init(|| std::env::var(ENTRY_ENV).ok().filter(|n| !n.is_empty())) {
        Some(n) => entries.iter().find(|e| e.name == n.as_str()),
        None if entries.len() == 1 => entries.first(),
        None => None,
    }
}

fn dispatch(entries: &[Entry], req: &Request, body: &[u8]) -> Reply {
    let path = req.path.split('?').next().unwrap_or("");
    if path == "/healthz" {
        return (200, b"ok".to_vec(), None);
    }
    let name = path.trim_start_matches('/');
    let entry = match entries.iter().find(|e| e.name == name) {
        Some(e) => e,
        None if name.is_empty() => match default_entry(entries) {
            Some(e) => e,
            None => {
                let msg = format!(
                    "no entry serves /: POST /<function>, or set {ENTRY_ENV} to one of this \
                     instance's functions"
                );
                return (404, error_body(name, &msg), None);
            }
        },
        None => {
            let msg = format!("no function '{name}' in this instance");
            return (404, error_body(name, &msg), None);
        }
    };
    if !req.post {
        return (
            405,
            error_body(entry.name, "use POST to invoke a function"),
            None,
        );
    }
    let spans = trace::begin_request(req.traceparent.as_deref());
    let mut out = QuiltBuf::EMPTY;
    // SAFETY: the entry follows the ABI; `body` is live for the call.
    let call = || unsafe { (entry.func)(body.as_ptr(), body.len(), &mut out) };
    let status = trace::execute(entry.name, req.kind, false, call);
    trace::set(None);
    let reply = if status == sdk::OK {
        out.as_slice().to_vec()
    } else {
        error_body(entry.name, &String::from_utf8_lossy(out.as_slice()))
    };
    out.release();
    let spans = spans.map(|s| trace::take_spans(&s));
    (http_status(status), reply, spans)
}

/// The HTTP status that carries an ABI status.
pub fn http_status(status: i32) -> u16 {
    match status {
        sdk::OK => 200,
        sdk::ERR_BAD_PAYLOAD => 400,
        sdk::ERR_UNKNOWN => 404,
        sdk::ERR_TIMEOUT => 504,
        sdk::ERR_UNAVAILABLE => 503,
        _ => 500,
    }
}

fn error_body(function: &str, message: &str) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({ "error": message, "function": function }))
        .unwrap_or_default()
}

fn respond(
    stream: &mut TcpStream,
    code: u16,
    body: &[u8],
    spans: Option<&str>,
    close: bool,
) -> std::io::Result<()> {
    let reason = match code {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        _ => "Internal Server Error",
    };
    let mut out = Vec::with_capacity(body.len() + 128);
    let _ = write!(
        out,
        "HTTP/1.1 {code} {reason}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{}",
        body.len(),
        if close { "Connection: close\r\n" } else { "" }
    );
    if let Some(spans) = spans {
        let _ = write!(out, "{}: {spans}\r\n", trace::SPANS_HEADER);
    }
    out.extend_from_slice(b"\r\n");
    out.extend_from_slice(body);
    stream.write_all(&out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_head_reads_a_complete_head() {
        let r =
            parse_head(b"POST /f HTTP/1.1\r\nContent-Length: 3\r\nquilt-kind: async\r\n\r\nabc")
                .unwrap()
                .unwrap();
        assert_eq!((r.post, r.path.as_str(), r.body_len), (true, "/f", 3));
        assert_eq!(r.head_len, 58);
        assert_eq!(r.kind, trace::Kind::Async);
        assert!(parse_head(b"POST /f HTTP/1.1\r\nContent-Le")
            .unwrap()
            .is_none());
    }

    #[test]
    fn parse_head_refuses_hostile_heads() {
        assert!(parse_head(b"\x00\x01 / HTTP/1.1\r\n\r\n").is_err());
        let chunked = b"POST /f HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert!(parse_head(chunked).unwrap_err().contains("chunked"));
        let huge = b"POST /f HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n";
        assert!(parse_head(huge).is_err());
        let over = format!(
            "POST /f HTTP/1.1\r\nContent-Length: {}\r\n\r\n",
            MAX_BODY + 1
        );
        assert!(parse_head(over.as_bytes())
            .unwrap_err()
            .contains("too large"));
        // A head that never ends is refused once it passes the limit instead of growing the
        // connection's buffer without bound.
        let mut endless = b"POST /f HTTP/1.1\r\nX-Pad: ".to_vec();
        endless.resize(MAX_HEAD, b'a');
        assert!(parse_head(&endless).unwrap().is_none());
        endless.push(b'a');
        assert!(parse_head(&endless).unwrap_err().contains("longer than"));
    }
}
