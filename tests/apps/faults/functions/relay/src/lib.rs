//! `relay`: invokes `noop` through the gateway with its own input and returns noop's reply, so
//! that relay's latency minus noop's is the cost of one extra hop.

use quilt_sdk::Error;

fn relay(req: &[u8]) -> Result<Vec<u8>, Error> {
    let reply = quilt_sdk::invoke_bytes("noop", req)?;
    Ok(reply.to_vec())
}

quilt_sdk::handler_bytes!(relay);
