//! `leaf`: returns `n * 2 + 1`, and the process it ran in.

use quilt_sdk::Error;
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
struct In {
    n: i64,
}

#[derive(Serialize)]
struct Out {
    v: i64,
    pid: u32,
}

fn leaf(req: In) -> Result<Out, Error> {
    Ok(Out {
        v: req.n * 2 + 1,
        pid: std::process::id(),
    })
}

quilt_sdk::handler!(leaf);
