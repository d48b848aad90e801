//! `chain`: answers "chain(<reply of c-to-cpp>)".

use quilt_sdk::{invoke_bytes, Error};

fn handle(input: &[u8]) -> Result<Vec<u8>, Error> {
    let reply = invoke_bytes("c-to-cpp", input)?;
    let mut out = b"chain(".to_vec();
    out.extend_from_slice(&reply);
    out.push(b')');
    Ok(out)
}

quilt_sdk::handler_bytes!(handle);
