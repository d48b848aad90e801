//! `work`: computes for `spin_ms` milliseconds, then sleeps `ms` milliseconds holding `mb` MiB, and
//! reports its process and the most
//! executions of itself it saw in flight at once in that process.

use quilt_sdk::Error;
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicUsize, Ordering};

static IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);
static MAX_IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);

#[derive(Deserialize)]
struct Job {
    ms: u64,
    #[serde(default)]
    mb: u64,
    #[serde(default)]
    spin_ms: u64,
}

#[derive(Serialize)]
struct Reply {
    pid: u32,
    max_in_flight: usize,
}

fn work(job: Job) -> Result<Reply, Error> {
    let now = IN_FLIGHT.fetch_add(1, Ordering::AcqRel) + 1;
    MAX_IN_FLIGHT.fetch_max(now, Ordering::AcqRel);
    let spin = std::time::Instant::now();
    let mut x = 0u64;
    while spin.elapsed().as_millis() < u128::from(job.spin_ms) {
        x = std::hint::black_box(x.wrapping_mul(6364136223846793005).wrapping_add(1));
    }
    let held = vec![1u8; (job.mb as usize) << 20];
    std::thread::sleep(std::time::Duration::from_millis(job.ms));
    std::hint::black_box(&held);
    let max_in_flight = MAX_IN_FLIGHT.load(Ordering::Acquire);
    IN_FLIGHT.fetch_sub(1, Ordering::AcqRel);
    Ok(Reply {
        pid: std::process::id(),
        max_in_flight,
    })
}

quilt_sdk::handler!(work);
