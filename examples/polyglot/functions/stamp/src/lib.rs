//! `stamp`: answers `{"leaf": <reply of c-leaf>, "at_ns": <the time>}`, a reply with a field that
//! differs on every call (what `quilt verify` must mask).

use quilt_sdk::{invoke_bytes, Error};
use std::time::{SystemTime, UNIX_EPOCH};

fn handle(input: &[u8]) -> Result<Vec<u8>, Error> {
    let leaf = invoke_bytes("c-leaf", input)?;
    let at_ns = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let reply = serde_json::json!({ "leaf": String::from_utf8_lossy(&leaf), "at_ns": at_ns });
    Ok(reply.to_string().into_bytes())
}

quilt_sdk::handler_bytes!(handle);
