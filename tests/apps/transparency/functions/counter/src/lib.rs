//! `counter`: a static counter of the requests this copy of the function served. Merged, the copy
//! inside the merged instance counts on its own: statics belong to the instance.

use quilt_sdk::Error;
use std::sync::atomic::{AtomicU64, Ordering};

static SERVED: AtomicU64 = AtomicU64::new(0);

fn counter(_req: &[u8]) -> Result<Vec<u8>, Error> {
    Ok((SERVED.fetch_add(1, Ordering::SeqCst) + 1).to_string().into_bytes())
}

quilt_sdk::handler_bytes!(counter);
