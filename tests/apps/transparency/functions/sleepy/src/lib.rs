//! `sleepy`: `sleep:<ms>` sleeps that long and answers `slept`; any other input answers
//! `len=<its length>`. Its `timeout_ms` is short, so a caller waiting for a long sleep times out.

use quilt_sdk::Error;

fn sleepy(req: &[u8]) -> Result<Vec<u8>, Error> {
    let ms = std::str::from_utf8(req)
        .ok()
        .and_then(|r| r.strip_prefix("sleep:"))
        .and_then(|ms| ms.parse::<u64>().ok());
    Ok(match ms {
        Some(ms) => {
            std::thread::sleep(std::time::Duration::from_millis(ms));
            b"slept".to_vec()
        }
        None => format!("len={}", req.len()).into_bytes(),
    })
}

quilt_sdk::handler_bytes!(sleepy);
