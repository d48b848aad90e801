//! `recurse`: input n > 0 holds 1 MiB on its stack while it invokes itself with n − 1, and answers
//! the depth it reached. Merged, the recursion runs through the group on one thread's stack until it
//! runs low, then on fresh stacks; unmerged, every level is a request to its own deployment.

use quilt_sdk::Error;
use std::hint::black_box;

fn recurse(req: &[u8]) -> Result<Vec<u8>, Error> {
    let n: u32 = std::str::from_utf8(req)
        .ok()
        .and_then(|t| t.trim().parse().ok())
        .ok_or_else(|| Error::BadPayload("want a depth".into()))?;
    if n == 0 {
        return Ok(b"0".to_vec());
    }
    let mut buf = [n as u8; 1 << 20];
    black_box(&mut buf);
    let below = quilt_sdk::invoke_bytes("recurse", (n - 1).to_string().as_bytes())?;
    let below: u32 = String::from_utf8_lossy(&below).parse().unwrap_or(0);
    Ok((below + 1 + u32::from(buf[n as usize % buf.len()] != n as u8)).to_string().into_bytes())
}

quilt_sdk::handler_bytes!(recurse);
