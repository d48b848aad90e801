//! Clients of the storage services `quilt up` starts (Redis, memcached), for tests that read what
//! the functions stored.

use quilt_platform::services::Service;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;

/// The address of the service of this kind (`redis`, `memcached`); panics when there is none.
pub fn service(services: &[Service], kind: &str) -> SocketAddr {
    services
        .iter()
        .find(|s| s.kind == kind)
        .unwrap_or_else(|| panic!("no {kind} service"))
        .addr
}

/// `GET key` from the Redis at `addr` (RESP by hand).
pub fn redis_get(addr: SocketAddr, key: &str) -> Option<String> {
    let mut s = TcpStream::connect(addr).unwrap();
    write!(s, "*2\r\n$3\r\nGET\r\n${}\r\n{key}\r\n", key.len()).unwrap();
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n") {
        s.read_exact(&mut byte).unwrap();
        buf.push(byte[0]);
    }
    let head = String::from_utf8(buf).unwrap();
    let len: i64 = head.trim()[1..].parse().unwrap();
    if len < 0 {
        return None;
    }
    let mut body = vec![0u8; len as usize + 2];
    s.read_exact(&mut body).unwrap();
    body.truncate(len as usize);
    Some(String::from_utf8(body).unwrap())
}

/// A Redis command through `redis-cli` against `addr`; its raw output without the final newline.
pub fn redis_cli(addr: SocketAddr, args: &[&str]) -> String {
    let out = Command::new("redis-cli")
        .args(["-h", &addr.ip().to_string(), "-p", &addr.port().to_string()])
        .arg("--raw")
        .args(args)
        .output()
        .unwrap();
    assert!(out.status.success(), "redis-cli {args:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    text.strip_suffix('\n').unwrap_or(&text).to_string()
}

/// A value from the memcached at `addr`, read with the text protocol.
pub fn memcached_get(addr: SocketAddr, key: &str) -> Option<String> {
    let mut s = TcpStream::connect(addr).unwrap();
    s.write_all(format!("get {key}\r\n").as_bytes()).unwrap();
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    while !buf.ends_with(b"END\r\n") {
        let n = s.read(&mut chunk).unwrap();
        assert!(n > 0, "memcached closed the connection");
        buf.extend_from_slice(&chunk[..n]);
    }
    let text = String::from_utf8(buf).unwrap();
    let (_, rest) = text
        .split_once("\r\n")
        .filter(|_| text.starts_with("VALUE"))?;
    Some(rest.strip_suffix("\r\nEND\r\n").unwrap().to_string())
}
