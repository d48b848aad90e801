//! `noop`: accepts anything and answers `""` (docs/BENCHMARKS.md §2.2), the platform-overhead
//! probe.

use quilt_sdk::Error;

fn noop(_input: &[u8]) -> Result<Vec<u8>, Error> {
    Ok(b"\"\"".to_vec())
}

quilt_sdk::handler_bytes!(noop);
