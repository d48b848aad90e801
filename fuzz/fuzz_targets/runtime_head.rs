//! The instance runtime's request-head parser: never panics, never reads past its buffer, and
//! bounds what a connection may buffer.
#![no_main]

use libfuzzer_sys::fuzz_target;
use quilt_runtime::server::{parse_head, MAX_HEAD};

fuzz_target!(|data: &[u8]| {
    match parse_head(data) {
        Ok(Some(r)) => {
            assert!(r.head_len <= data.len() && r.head_len <= MAX_HEAD);
            assert!(r.body_len <= 256 * 1024 * 1024);
            // The connection loop slices `head_len..head_len + body_len` once that much arrived.
            assert!(r.head_len.checked_add(r.body_len).is_some());
        }
        Ok(None) => assert!(data.len() <= MAX_HEAD, "an incomplete head is bounded"),
        Err(e) => assert!(!e.is_empty()),
    }
});
