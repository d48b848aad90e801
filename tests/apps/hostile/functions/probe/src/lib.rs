//! `probe`: what a hostile function tries from inside its instance. `{"op": ...}`:
//! - `"read", "path"`: the file's text, or the error;
//! - `"steal", "path", "gateway"`: reads the admin token at `path` and uses it to switch tracing on
//!   through the gateway (the HTTP status, or the error);
//! - `"proc", "pid"`: reads `/proc/<pid>/environ` and `/proc/<pid>/maps` (each: bytes read, or the
//!   error);
//! - `"pids"`: the process ids listed in `/proc`;
//! - `"status"`: the `Uid`, `NoNewPrivs` and `Seccomp` lines of `/proc/self/status` and its pid;
//! - `"syscalls"`: the errno of `ptrace(PTRACE_ATTACH)` on a pid that does not exist,
//!   `process_vm_readv` of itself, `mount` on a folder that does not exist, `unshare(CLONE_NEWUTS)`
//!   (0: it succeeded);
//! - anything else: `{"ok": true}`.

use quilt_sdk::Error;
use serde::Deserialize;
use serde_json::{json, Value};
use std::io::{Read, Write};

#[derive(Deserialize)]
struct Request {
    op: String,
    #[serde(default)]
    path: String,
    #[serde(default)]
    pid: u32,
}

fn read(path: &str) -> Value {
    match std::fs::read_to_string(path) {
        Ok(text) => json!({ "ok": text }),
        Err(e) => json!({ "err": e.to_string() }),
    }
}

fn steal(path: &str) -> Value {
    let token = match std::fs::read_to_string(path) {
        Ok(t) => t.trim().to_string(),
        Err(e) => return json!({ "err": format!("reading the token: {e}") }),
    };
    let gateway = std::env::var("QUILT_GATEWAY").unwrap_or_default();
    let mut s = match std::net::TcpStream::connect(&gateway) {
        Ok(s) => s,
        Err(e) => return json!({ "err": format!("connecting to {gateway}: {e}") }),
    };
    let req = format!(
        "POST /_quilt/tracing HTTP/1.1\r\nHost: q\r\nAuthorization: Bearer {token}\r\n\
         Content-Length: 2\r\nConnection: close\r\n\r\non"
    );
    let mut reply = String::new();
    let _ = s.write_all(req.as_bytes());
    let _ = s.read_to_string(&mut reply);
    let status: u16 = reply
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or(0);
    json!({ "status": status })
}

fn bytes_of(path: String) -> Value {
    match std::fs::read(&path) {
        Ok(b) => json!({ "ok": b.len() }),
        Err(e) => json!({ "err": e.to_string() }),
    }
}

fn errno_of(rc: i64) -> i32 {
    if rc < 0 {
        std::io::Error::last_os_error().raw_os_error().unwrap_or(-1)
    } else {
        0
    }
}

fn syscalls() -> Value {
    // SAFETY: system calls whose failure is the point; arguments are valid or ignored.
    unsafe {
        let ptrace = errno_of(libc::ptrace(libc::PTRACE_ATTACH, 0x3fff_fff0, 0, 0));
        let mut buf = [0u8; 8];
        let local = libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: buf.len(),
        };
        let remote = libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: buf.len(),
        };
        let vm = errno_of(libc::process_vm_readv(libc::getpid(), &local, 1, &remote, 1, 0) as i64);
        let mount = errno_of(libc::mount(
            c"none".as_ptr(),
            c"/nonexistent-quilt-probe".as_ptr(),
            c"tmpfs".as_ptr(),
            0,
            std::ptr::null(),
        ) as i64);
        let unshare = errno_of(libc::unshare(libc::CLONE_NEWUTS) as i64);
        json!({ "ptrace": ptrace, "process_vm_readv": vm, "mount": mount, "unshare": unshare })
    }
}

fn probe(req: Request) -> Result<Value, Error> {
    Ok(match req.op.as_str() {
        "read" => read(&req.path),
        "steal" => steal(&req.path),
        // The variable named by `path` in the instance's environment.
        "env" => json!({ "value": std::env::var(&req.path).ok() }),
        "proc" => json!({
            "environ": bytes_of(format!("/proc/{}/environ", req.pid)),
            "maps": bytes_of(format!("/proc/{}/maps", req.pid)),
        }),
        "pids" => {
            let pids: Vec<u32> = std::fs::read_dir("/proc")
                .map_err(Error::msg)?
                .flatten()
                .filter_map(|e| e.file_name().to_str()?.parse().ok())
                .collect();
            json!({ "pids": pids })
        }
        "status" => {
            let status = std::fs::read_to_string("/proc/self/status").map_err(Error::msg)?;
            let field = |name: &str| {
                status
                    .lines()
                    .find_map(|l| l.strip_prefix(name))
                    .map(|v| v.split_whitespace().collect::<Vec<_>>().join(" "))
            };
            json!({
                "pid": std::process::id(),
                "uid": field("Uid:"),
                "no_new_privs": field("NoNewPrivs:"),
                "seccomp": field("Seccomp:"),
            })
        }
        "syscalls" => syscalls(),
        _ => json!({ "ok": true }),
    })
}

quilt_sdk::handler!(probe);
