//! `wait`: `{"ms": n}` sleeps n milliseconds, then returns `{"slept": n, "pid": <pid>}`. Unlike
//! `sleep` it has room for concurrent load (fault and soak tests).

use quilt_sdk::Error;
use serde::{Deserialize, Serialize};
use std::time::Duration;

#[derive(Deserialize)]
struct Request {
    ms: u64,
}

#[derive(Serialize)]
struct Reply {
    slept: u64,
    pid: u32,
}

fn wait(req: Request) -> Result<Reply, Error> {
    std::thread::sleep(Duration::from_millis(req.ms));
    Ok(Reply {
        slept: req.ms,
        pid: std::process::id(),
    })
}

quilt_sdk::handler!(wait);
