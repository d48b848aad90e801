//! `deep-c`: the end of the deep chain; uses 1 MiB of stack and answers its checksum.

use quilt_sdk::Error;
use std::hint::black_box;

fn deep_c(req: &[u8]) -> Result<Vec<u8>, Error> {
    let mut buf = [0u8; 1 << 20];
    for (i, b) in buf.iter_mut().enumerate() {
        *b = (i % 13) as u8 ^ req.first().copied().unwrap_or(0);
    }
    black_box(&mut buf);
    let sum: u64 = buf.iter().map(|&b| b as u64).sum();
    Ok(format!("c:{sum}").into_bytes())
}

quilt_sdk::handler_bytes!(deep_c);
