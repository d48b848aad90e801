//! Shared code of the benchmark apps (social network, media review, hotel reservation).
//!
//! - [`store`]: Redis and memcached connections from `QUILT_REDIS_ADDR` / `QUILT_MEMCACHED_ADDR`.
//! - [`fakedb`]: whether the app runs in fake-database mode (`QUILT_FAKEDB=1`, chosen at deploy
//!   time): storage calls are replaced by the reference's sleeps ([`fake_sleep`]).
//! - [`is_async`]: whether the fork-join variant runs (`QUILT_VARIANT=async`).
//! - Ids, random strings, password hashing and time as the reference defines them.

pub mod store;

use rand::RngExt;
use sha2::{Digest, Sha256};
use std::sync::OnceLock;
use std::time::Duration;

fn env_flag(key: &str, value: &str) -> bool {
    std::env::var(key).map(|v| v == value).unwrap_or(false)
}

/// Fake-database mode: storage is replaced by sleeps and random data.
pub fn fakedb() -> bool {
    static FAKE: OnceLock<bool> = OnceLock::new();
    *FAKE.get_or_init(|| env_flag("QUILT_FAKEDB", "1"))
}

/// The fork-join (async) variant of the workflows.
pub fn is_async() -> bool {
    static ASYNC: OnceLock<bool> = OnceLock::new();
    *ASYNC.get_or_init(|| env_flag("QUILT_VARIANT", "async"))
}

/// Sleeps `ms` milliseconds, the reference's stand-in for a storage access.
pub fn fake_sleep(ms: u64) {
    std::thread::sleep(Duration::from_millis(ms));
}

/// A unique id: a random i64, made non-negative.
pub fn unique_id() -> i64 {
    rand::rng().random::<i64>().checked_abs().unwrap_or(i64::MAX)
}

/// A random i64 over the full range.
pub fn rand_i64() -> i64 {
    rand::rng().random()
}

/// `n` characters drawn uniformly from `[A-Za-z0-9]`.
pub fn alnum(n: usize) -> String {
    rand::rng()
        .sample_iter(rand::distr::Alphanumeric)
        .take(n)
        .map(char::from)
        .collect()
}

/// Lowercase hex SHA-256 of `data`.
pub fn sha256_hex(data: &[u8]) -> String {
    Sha256::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A salted password: `(salt, sha256_hex(password ++ salt))` with a 32-character salt.
pub fn salted_hash(password: &str) -> (String, String) {
    let salt = alnum(32);
    let hash = sha256_hex(format!("{password}{salt}").as_bytes());
    (salt, hash)
}

/// Unix time in seconds.
pub fn now_s() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Turns any displayable error into a handler error.
pub fn err(e: impl std::fmt::Display) -> quilt_sdk::Error {
    quilt_sdk::Error::msg(e)
}
