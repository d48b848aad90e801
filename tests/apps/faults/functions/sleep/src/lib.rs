//! `sleep`: `{"ms": n}` sleeps n milliseconds, then returns `{"slept": n}`.

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
}

fn sleep(req: Request) -> Result<Reply, Error> {
    std::thread::sleep(Duration::from_millis(req.ms));
    Ok(Reply { slept: req.ms })
}

quilt_sdk::handler!(sleep);
