//! `rust-to-c`: answers "rust-to-c(<reply of c-leaf>)".

use quilt_sdk::{invoke_bytes, Error};

fn handle(input: &[u8]) -> Result<Vec<u8>, Error> {
    let reply = invoke_bytes("c-leaf", input)?;
    let mut out = b"rust-to-c(".to_vec();
    out.extend_from_slice(&reply);
    out.push(b')');
    Ok(out)
}

quilt_sdk::handler_bytes!(handle);
