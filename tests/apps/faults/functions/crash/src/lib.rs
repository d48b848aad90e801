//! `crash`: `{"how": "exit"}` exits with code 3, `"abort"` aborts, `"panic"` panics (contained by
//! the SDK: a 500), anything else (e.g. `"none"`) returns `{"ok": true, "pid": <pid>}`.

use quilt_sdk::Error;
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
struct Request {
    how: String,
}

#[derive(Serialize)]
struct Reply {
    ok: bool,
    pid: u32,
}

fn crash(req: Request) -> Result<Reply, Error> {
    match req.how.as_str() {
        "exit" => std::process::exit(3),
        "abort" => std::process::abort(),
        "panic" => panic!("crash was asked to panic"),
        _ => Ok(Reply {
            ok: true,
            pid: std::process::id(),
        }),
    }
}

quilt_sdk::handler!(crash);
