//! `callee`: returns `{"v": x + 1}`.

use quilt_sdk::Error;
use serde::{Deserialize, Serialize};

/// The request.
#[derive(Serialize, Deserialize)]
pub struct In {
    /// A number.
    pub x: u64,
}

/// The reply.
#[derive(Serialize, Deserialize)]
pub struct Out {
    /// `x + 1`.
    pub v: u64,
}

fn callee(req: In) -> Result<Out, Error> {
    Ok(Out { v: req.x + 1 })
}

quilt_sdk::handler!(callee);
