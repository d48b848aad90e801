//! `nearby-cinema-top` (§4.3): forks `nearby-cinema-parallel-1` and `nearby-cinema-parallel-2` with its own request and
//! answers their two replies as a JSON list (the reference printed them as raw text, §7.6).

use hotel_lib::CinemaRequest;
use quilt_sdk::{invoke_async_bytes, Error};

fn top(input: &[u8]) -> Result<Vec<u8>, Error> {
    let _: CinemaRequest =
        serde_json::from_slice(input).map_err(|e| Error::BadPayload(format!("request: {e}")))?;
    let a = invoke_async_bytes("nearby-cinema-parallel-1", input);
    let b = invoke_async_bytes("nearby-cinema-parallel-2", input);
    let (a, b) = (a.join_bytes()?, b.join_bytes()?);
    let replies = [&a, &b]
        .iter()
        .map(|r| serde_json::from_slice(r))
        .collect::<Result<Vec<serde_json::Value>, _>>()
        .map_err(|e| Error::BadPayload(format!("parallel reply: {e}")))?;
    serde_json::to_vec(&replies).map_err(|e| Error::BadPayload(e.to_string()))
}

quilt_sdk::handler_bytes!(top);
