//! `caller`: times `n` invocations of `callee` through the SDK against `n` direct calls of the
//! callee's entry with the same JSON encoding, and reports nanoseconds per call of each.

use callcost_callee::{In, Out};
use quilt_sdk::abi::QuiltBuf;
use quilt_sdk::{invoke, Error};
use serde::{Deserialize, Serialize};
use std::time::Instant;

#[derive(Deserialize)]
struct Request {
    n: u64,
}

#[derive(Serialize)]
struct Reply {
    invoke_ns: f64,
    direct_ns: f64,
    checksum: u64,
}

fn direct(x: u64) -> Result<Out, Error> {
    let input = serde_json::to_vec(&In { x }).map_err(Error::msg)?;
    let mut out = QuiltBuf::EMPTY;
    // SAFETY: the entry follows the ABI; `input` lives across the call.
    let status =
        unsafe { callcost_callee::__quilt_entry(input.as_ptr(), input.len(), &mut out) };
    let reply = serde_json::from_slice(out.as_slice()).map_err(Error::msg);
    out.release();
    if status != 0 {
        return Err(Error::msg("callee failed"));
    }
    reply
}

fn caller(req: Request) -> Result<Reply, Error> {
    let mut checksum = 0;
    let t = Instant::now();
    for x in 0..req.n {
        let out: Out = invoke("callee", &In { x })?;
        checksum += out.v;
    }
    let invoke_ns = t.elapsed().as_nanos() as f64 / req.n.max(1) as f64;
    let t = Instant::now();
    for x in 0..req.n {
        checksum += direct(x)?.v;
    }
    let direct_ns = t.elapsed().as_nanos() as f64 / req.n.max(1) as f64;
    Ok(Reply {
        invoke_ns,
        direct_ns,
        checksum,
    })
}

quilt_sdk::handler!(caller);
