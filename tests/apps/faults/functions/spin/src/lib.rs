//! `spin`: `{"ms": n}` keeps a core busy for n milliseconds of wall time, then returns
//! `{"spun": n, "pid": <pid>}`; without `ms` it spins forever (a handler that never returns).

use quilt_sdk::Error;
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};

#[derive(Deserialize)]
struct Request {
    ms: Option<u64>,
}

#[derive(Serialize)]
struct Reply {
    spun: u64,
    pid: u32,
}

fn spin(req: Request) -> Result<Reply, Error> {
    let until = req.ms.map(|ms| Instant::now() + Duration::from_millis(ms));
    let mut x = 0u64;
    while until.is_none_or(|t| Instant::now() < t) {
        x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
    }
    Ok(Reply {
        spun: req.ms.unwrap_or(0),
        pid: std::process::id(),
    })
}

quilt_sdk::handler!(spin);
