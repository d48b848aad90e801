//! `noop`: ignores its input and returns `{}` (the gateway benchmark's function).

use quilt_sdk::Error;

fn noop(_req: &[u8]) -> Result<Vec<u8>, Error> {
    Ok(b"{}".to_vec())
}

quilt_sdk::handler_bytes!(noop);
