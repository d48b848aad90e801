//! The remote path: a minimal HTTP/1.1 client that sends invocations to the gateway over kept-alive
//! connections and maps the answer onto ABI statuses.

use crate::trace;
use quilt_sdk::abi::{self as sdk, QuiltBuf};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

/// Environment variable holding the gateway's `host:port`.
pub const GATEWAY_ENV: &str = "QUILT_GATEWAY";
/// Environment variable holding the client's read timeout in milliseconds (default 300 000).
pub const TIMEOUT_ENV: &str = "QUILT_INVOKE_TIMEOUT_MS";

/// Environment variable holding the largest request body the gateway takes, in bytes (unset: no
/// limit is checked here).
pub const MAX_BODY_ENV: &str = "QUILT_MAX_BODY_BYTES";

/// What the gateway answers when `function` does not answer within `ms` milliseconds.
pub fn timeout_message(function: &str, ms: u64) -> String {
    format!("function '{function}' did not answer within {ms} ms")
}

/// What the gateway answers to a request body of more than `max` bytes.
pub fn body_too_large_message(max: usize) -> String {
    format!("request body is larger than {max} bytes")
}

/// What the gateway answers to a request for a function it does not have.
pub fn unknown_function_message(name: &str) -> String {
    format!("unknown function '{}'", name.escape_debug())
}

/// The gateway's largest request body ([`MAX_BODY_ENV`]).
fn max_body() -> Option<usize> {
    static MAX_BODY: OnceLock<Option<usize>> = OnceLock::new();
    *MAX_BODY.get_or_init(|| std::env::var(MAX_BODY_ENV).ok()?.parse().ok())
}

/// The answer the gateway gives an invocation with an `input_len`-byte body, if it refuses it for
/// its size; local calls check it too, so that they refuse what a remote call would.
pub fn refused_body(input_len: usize) -> Option<(i32, QuiltBuf)> {
    let max = max_body()?;
    (input_len > max).then(|| fail(sdk::ERR_BAD_PAYLOAD, body_too_large_message(max)))
}

/// Whether `name` can be a function's name (`[a-z0-9-]`); anything else would change the request
/// line it is written into, or route somewhere else than to a function of that name.
fn is_function_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

struct Client {
    gateway: Option<String>,
    timeout: Duration,
    idle: Mutex<Vec<TcpStream>>,
}

fn client() -> &'static Client {
    static CLIENT: OnceLock<Client> = OnceLock::new();
    CLIENT.get_or_init(|| Client {
        gateway: std::env::var(GATEWAY_ENV).ok().filter(|g| !g.is_empty()),
        timeout: Duration::from_millis(
            std::env::var(TIMEOUT_ENV)
                .ok()
                .and_then(|t| t.parse().ok())
                .unwrap_or(300_000),
        ),
        idle: Mutex::new(Vec::new()),
    })
}

/// Invokes `name` through the gateway; returns the ABI status and the reply or error message.
pub fn invoke(name: &str, input: &[u8], kind: trace::Kind) -> (i32, QuiltBuf) {
    if !is_function_name(name) {
        return fail(sdk::ERR_UNKNOWN, unknown_function_message(name));
    }
    if let Some(refused) = refused_body(input.len()) {
        return refused;
    }
    let c = client();
    let Some(gateway) = c.gateway.as_deref() else {
        return fail(sdk::ERR_UNAVAILABLE, format!("{GATEWAY_ENV} is not set"));
    };
    let request = encode_request(name, input, kind);
    // A kept-alive connection may have been closed by the gateway: retry once on a fresh one when
    // nothing at all came back on a reused connection.
    let reused = c.idle.lock().unwrap().pop();
    if let Some(stream) = reused {
        match exchange(stream, &request) {
            Ok(reply) => return finish(c, reply),
            Err(Failure::Stale) => {}
            Err(Failure::Io(e)) => return io_failure(name, e),
        }
    }
    let stream = match TcpStream::connect(gateway) {
        Ok(s) => s,
        Err(e) => {
            return fail(
                sdk::ERR_UNAVAILABLE,
                format!("cannot reach gateway {gateway}: {e}"),
            )
        }
    };
    let _ = stream.set_nodelay(true);
    let _ = stream.set_read_timeout(Some(c.timeout));
    match exchange(stream, &request) {
        Ok(reply) => finish(c, reply),
        Err(Failure::Stale) => fail(
            sdk::ERR_UNAVAILABLE,
            format!("gateway closed the connection while invoking '{name}'"),
        ),
        Err(Failure::Io(e)) => io_failure(name, e),
    }
}

fn encode_request(name: &str, input: &[u8], kind: trace::Kind) -> Vec<u8> {
    let mut req = Vec::with_capacity(input.len() + 160);
    let traceparent = trace::traceparent();
    let trace = traceparent
        .as_deref()
        .map(|tp| (tp.as_bytes(), kind.as_str().as_bytes()));
    write_request_head(&mut req, name, input.len(), trace);
    req.extend_from_slice(input);
    req
}

/// Appends the head of `POST /<name>` with a JSON body of `body_len` bytes to `out`, with the
/// trace context (`traceparent` and the invocation kind) when given. The remote path and the
/// platform's connections to instances both send requests this way.
pub fn write_request_head(
    out: &mut Vec<u8>,
    name: &str,
    body_len: usize,
    trace: Option<(&[u8], &[u8])>,
) {
    let _ = write!(
        out,
        "POST /{name} HTTP/1.1\r\nHost: quilt\r\nContent-Type: application/json\r\nContent-Length: {body_len}\r\n"
    );
    if let Some((traceparent, kind)) = trace {
        out.extend_from_slice(b"traceparent: ");
        out.extend_from_slice(traceparent);
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(trace::KIND_HEADER.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(kind);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
}

/// Largest response head read (status line and headers).
pub const MAX_RESPONSE_HEAD: usize = 64 * 1024;

/// A parsed response head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseHead {
    /// Bytes of the head, blank line included.
    pub head_len: usize,
    /// The status code.
    pub code: u16,
    /// `Content-Length`, when given.
    pub length: Option<usize>,
    /// False when the answer says `Connection: close`.
    pub keep_alive: bool,
    /// Where the `quilt-spans` header's value lies in the buffer, when present.
    pub spans: Option<std::ops::Range<usize>>,
}

/// Parses the response head at the start of `buf`: `Ok(None)` while it is incomplete, an error
/// for a malformed head, a bad `Content-Length`, or a head longer than [`MAX_RESPONSE_HEAD`].
pub fn parse_response_head(buf: &[u8]) -> Result<Option<ResponseHead>, String> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut resp = httparse::Response::new(&mut headers);
    let head_len = match resp.parse(buf) {
        Ok(httparse::Status::Complete(n)) if n <= MAX_RESPONSE_HEAD => n,
        Ok(_) if buf.len() > MAX_RESPONSE_HEAD => {
            return Err(format!(
                "response head is longer than {MAX_RESPONSE_HEAD} bytes"
            ))
        }
        Ok(_) => return Ok(None),
        Err(e) => return Err(format!("bad response: {e}")),
    };
    let mut head = ResponseHead {
        head_len,
        code: resp.code.unwrap_or(500),
        length: None,
        keep_alive: true,
        spans: None,
    };
    for h in resp.headers.iter() {
        if h.name.eq_ignore_ascii_case("content-length") {
            let length = std::str::from_utf8(h.value)
                .ok()
                .and_then(|v| v.trim().parse().ok())
                .ok_or_else(|| "bad response: bad content-length".to_string())?;
            if head.length.is_some_and(|l| l != length) {
                return Err("bad response: two different content-lengths".into());
            }
            head.length = Some(length);
        } else if h.name.eq_ignore_ascii_case("connection") {
            head.keep_alive = !h.value.eq_ignore_ascii_case(b"close");
        } else if h.name.eq_ignore_ascii_case(trace::SPANS_HEADER) {
            let start = h.value.as_ptr() as usize - buf.as_ptr() as usize;
            head.spans = Some(start..start + h.value.len());
        }
    }
    Ok(Some(head))
}

fn fail(status: i32, message: String) -> (i32, QuiltBuf) {
    (status, QuiltBuf::copy_from(message.as_bytes()))
}

fn io_failure(name: &str, e: std::io::Error) -> (i32, QuiltBuf) {
    let status = match e.kind() {
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => sdk::ERR_TIMEOUT,
        _ => sdk::ERR_UNAVAILABLE,
    };
    fail(
        status,
        format!("invoking '{name}' through the gateway: {e}"),
    )
}

enum Failure {
    /// The connection gave no byte back: it was closed before our request reached anyone.
    Stale,
    Io(std::io::Error),
}

struct Reply {
    stream: TcpStream,
    code: u16,
    body: Vec<u8>,
    keep_alive: bool,
}

/// Sends `request` and reads the answer. A server may answer before it has read the whole request
/// (the gateway's 413 for a body over its limit) and close: its answer is still readable after the
/// write failed, and is taken (the connection is not kept). A failed write with nothing to read
/// means the connection was closed before the request reached anyone.
fn exchange(mut stream: TcpStream, request: &[u8]) -> Result<Reply, Failure> {
    if stream.write_all(request).is_ok() {
        return read_reply(stream);
    }
    match read_reply(stream) {
        Ok(reply) => Ok(Reply {
            keep_alive: false,
            ..reply
        }),
        Err(_) => Err(Failure::Stale),
    }
}

fn read_reply(mut stream: TcpStream) -> Result<Reply, Failure> {
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 16 * 1024];
    loop {
        let n = match stream.read(&mut chunk) {
            Ok(0) if buf.is_empty() => return Err(Failure::Stale),
            Ok(0) => return Err(Failure::Io(std::io::ErrorKind::UnexpectedEof.into())),
            Ok(n) => n,
            Err(e) if buf.is_empty() && e.kind() == std::io::ErrorKind::ConnectionReset => {
                return Err(Failure::Stale)
            }
            Err(e) => return Err(Failure::Io(e)),
        };
        buf.extend_from_slice(&chunk[..n]);
        let head = match parse_response_head(&buf) {
            Ok(Some(head)) => head,
            Ok(None) => continue,
            Err(e) => {
                return Err(Failure::Io(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("from the gateway: {e}"),
                )))
            }
        };
        let (head_len, code, keep_alive) = (head.head_len, head.code, head.keep_alive);
        let length = head.length.unwrap_or(0);
        let mut body = buf.split_off(head_len);
        while body.len() < length {
            let n = stream.read(&mut chunk).map_err(Failure::Io)?;
            if n == 0 {
                return Err(Failure::Io(std::io::ErrorKind::UnexpectedEof.into()));
            }
            body.extend_from_slice(&chunk[..n]);
        }
        body.truncate(length);
        return Ok(Reply {
            stream,
            code,
            body,
            keep_alive,
        });
    }
}

fn finish(c: &Client, reply: Reply) -> (i32, QuiltBuf) {
    if reply.keep_alive {
        c.idle.lock().unwrap().push(reply.stream);
    }
    match status_of(reply.code) {
        sdk::OK => (sdk::OK, QuiltBuf::copy_from(&reply.body)),
        status => (
            status,
            QuiltBuf::copy_from(error_message(&reply.body).as_bytes()),
        ),
    }
}

/// The ABI status an HTTP status code from the gateway stands for.
pub fn status_of(code: u16) -> i32 {
    match code {
        200..=299 => sdk::OK,
        400 | 413 => sdk::ERR_BAD_PAYLOAD,
        404 => sdk::ERR_UNKNOWN,
        504 => sdk::ERR_TIMEOUT,
        502 | 503 => sdk::ERR_UNAVAILABLE,
        _ => sdk::ERR_HANDLER,
    }
}

/// The `error` field of a JSON error body, or the body as text.
pub fn error_message(body: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("error")?.as_str().map(str::to_string))
        .unwrap_or_else(|| String::from_utf8_lossy(body).into_owned())
}

#[cfg(test)]
mod response_head_tests {
    use super::*;

    #[test]
    fn an_answer_sent_before_the_request_was_read_is_taken_after_a_failed_write() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let server = std::thread::spawn(move || {
            let (mut conn, _) = listener.accept().unwrap();
            let mut head = [0u8; 4096];
            let _ = conn.read(&mut head).unwrap();
            conn.write_all(b"HTTP/1.1 413 Payload Too Large\r\nContent-Length: 7\r\n\r\ntoo big")
                .unwrap();
            // Closed with most of the body unread: the client's write fails.
        });
        let request = encode_request("big", &vec![b'x'; 32 << 20], trace::Kind::Sync);
        let reply = match exchange(TcpStream::connect(addr).unwrap(), &request) {
            Ok(reply) => reply,
            Err(Failure::Stale) => panic!("the answer was lost (stale)"),
            Err(Failure::Io(e)) => panic!("the answer was lost: {e}"),
        };
        server.join().unwrap();
        assert_eq!((reply.code, reply.body.as_slice()), (413, &b"too big"[..]));
        assert!(!reply.keep_alive);
        assert_eq!(status_of(reply.code), sdk::ERR_BAD_PAYLOAD);
    }

    #[test]
    fn a_response_head_gives_its_length_connection_and_spans() {
        let buf = b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 5\r\nConnection: close\r\nquilt-spans: a,b\r\n\r\nhello";
        let head = parse_response_head(buf).unwrap().unwrap();
        assert_eq!(head.code, 502);
        assert_eq!(head.length, Some(5));
        assert!(!head.keep_alive);
        assert_eq!(&buf[head.spans.unwrap()], b"a,b");
        assert_eq!(&buf[head.head_len..], b"hello");
        assert_eq!(
            parse_response_head(b"HTTP/1.1 200 OK\r\nContent-Le").unwrap(),
            None
        );
    }

    #[test]
    fn conflicting_or_bad_lengths_and_huge_heads_are_refused() {
        for bad in [
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n".to_vec(),
            b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n".to_vec(),
            [
                b"HTTP/1.1 200 OK\r\nx: ".as_slice(),
                &vec![b'a'; MAX_RESPONSE_HEAD],
            ]
            .concat(),
        ] {
            assert!(parse_response_head(&bad).is_err());
        }
    }
}
