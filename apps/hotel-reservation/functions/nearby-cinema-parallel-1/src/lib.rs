//! `nearby-cinema-parallel-1` (§4.3): forks leaves 1, 2 and 3 with its own request, joins them and reports
//! how long it waited and what they answered.

use hotel_lib::{CinemaRequest, ParallelReply};
use quilt_sdk::{invoke_async_bytes, Error};

fn parallel(input: &[u8]) -> Result<Vec<u8>, Error> {
    let _: CinemaRequest =
        serde_json::from_slice(input).map_err(|e| Error::BadPayload(format!("request: {e}")))?;
    let start = std::time::Instant::now();
    let a = invoke_async_bytes("get-nearby-points-cinema-1", input);
    let b = invoke_async_bytes("get-nearby-points-cinema-2", input);
    let c = invoke_async_bytes("get-nearby-points-cinema-3", input);
    let (a, b, c) = (a.join_bytes()?, b.join_bytes()?, c.join_bytes()?);
    let wait_us = start.elapsed().as_micros() as u64;
    let results = [&a, &b, &c]
        .iter()
        .map(|r| serde_json::from_slice(r))
        .collect::<Result<Vec<serde_json::Value>, _>>()
        .map_err(|e| Error::BadPayload(format!("leaf reply: {e}")))?;
    serde_json::to_vec(&ParallelReply { wait_us, results })
        .map_err(|e| Error::BadPayload(e.to_string()))
}

quilt_sdk::handler_bytes!(parallel);
