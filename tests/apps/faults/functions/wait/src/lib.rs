//! `wait`: `{"ms": n}` sleeps n milliseconds, then returns `{"slept": n, "pid": <pid>, "peak": k}`,
//! k being the most executions this process has run at once so far. Unlike `sleep` it has room
//! for concurrent load (fault and soak tests).

use quilt_sdk::Error;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

#[derive(Deserialize)]
struct Request {
    ms: u64,
}

#[derive(Serialize)]
struct Reply {
    slept: u64,
    pid: u32,
    peak: usize,
}

static RUNNING: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

fn wait(req: Request) -> Result<Reply, Error> {
    let running = RUNNING.fetch_add(1, Ordering::AcqRel) + 1;
    PEAK.fetch_max(running, Ordering::AcqRel);
    std::thread::sleep(Duration::from_millis(req.ms));
    RUNNING.fetch_sub(1, Ordering::AcqRel);
    Ok(Reply {
        slept: req.ms,
        pid: std::process::id(),
        peak: PEAK.load(Ordering::Acquire),
    })
}

quilt_sdk::handler!(wait);
