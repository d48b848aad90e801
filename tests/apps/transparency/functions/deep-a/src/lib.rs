//! `deep-a`: holds 1 MiB on its stack while it calls `deep-b`, then answers a checksum of that
//! buffer and deep-b's reply. Input "recurse" recurses without end instead (a real overflow).

use quilt_sdk::Error;
use std::hint::black_box;

#[inline(never)]
#[allow(unconditional_recursion)]
fn recurse(depth: u64) -> u64 {
    let frame = black_box([depth as u8; 4096]);
    recurse(depth + 1).wrapping_add(frame[0] as u64)
}

fn deep_a(req: &[u8]) -> Result<Vec<u8>, Error> {
    if req == b"recurse" {
        return Ok(recurse(0).to_string().into_bytes());
    }
    let mut buf = [0u8; 1 << 20];
    for (i, b) in buf.iter_mut().enumerate() {
        *b = (i % 251) as u8;
    }
    black_box(&mut buf);
    let next = quilt_sdk::invoke_bytes("deep-b", req)?;
    let sum: u64 = buf.iter().map(|&b| b as u64).sum();
    Ok(format!("a:{sum}/{}", String::from_utf8_lossy(&next)).into_bytes())
}

quilt_sdk::handler_bytes!(deep_a);
