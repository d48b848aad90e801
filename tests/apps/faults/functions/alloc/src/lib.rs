//! `alloc`: `{"mb": n}` allocates n MiB, writes to every byte, and returns `{"mb": n}`.

use quilt_sdk::Error;
use serde::{Deserialize, Serialize};

#[derive(Deserialize, Serialize)]
struct Request {
    mb: usize,
}

fn alloc(req: Request) -> Result<Request, Error> {
    // A non-zero fill is written byte by byte (zeroed memory could come untouched from calloc).
    let block = vec![0x5au8; req.mb * 1024 * 1024];
    std::hint::black_box(&block);
    Ok(req)
}

quilt_sdk::handler!(alloc);
