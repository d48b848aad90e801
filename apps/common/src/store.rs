//! Storage connections: Redis (the reference used KeyDB, which speaks the same protocol) and
//! memcached, addressed by `QUILT_REDIS_ADDR` and `QUILT_MEMCACHED_ADDR` (`host:port`), which
//! `quilt up` sets when the app's manifest asks for `[services]`.
//!
//! Each instance thread keeps its own Redis connection; the memcached client pools its own.

use quilt_sdk::Error;
use std::cell::RefCell;
use std::sync::OnceLock;

fn addr(key: &str) -> Result<String, Error> {
    std::env::var(key).map_err(|_| {
        Error::msg(format!(
            "{key} is not set: start the app with `quilt up` (its [services] start Redis and memcached) or use --fakedb"
        ))
    })
}

thread_local! {
    static REDIS: RefCell<Option<redis::Connection>> = const { RefCell::new(None) };
}

/// Runs `f` with this thread's Redis connection (opened on first use, reopened after an error).
pub fn redis<T>(f: impl FnOnce(&mut redis::Connection) -> redis::RedisResult<T>) -> Result<T, Error> {
    REDIS.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            let url = format!("redis://{}/", addr("QUILT_REDIS_ADDR")?);
            let client = redis::Client::open(url).map_err(crate::err)?;
            *slot = Some(client.get_connection().map_err(|e| Error::msg(format!("redis: {e}")))?);
        }
        let result = f(slot.as_mut().unwrap());
        if result.is_err() {
            *slot = None;
        }
        result.map_err(|e| Error::msg(format!("redis: {e}")))
    })
}

/// The process's memcached client.
pub fn memcached() -> Result<&'static memcache::Client, Error> {
    static CLIENT: OnceLock<memcache::Client> = OnceLock::new();
    if let Some(c) = CLIENT.get() {
        return Ok(c);
    }
    let url = format!("memcache://{}?tcp_nodelay=true&timeout=10", addr("QUILT_MEMCACHED_ADDR")?);
    let client = memcache::Client::connect(url).map_err(|e| Error::msg(format!("memcached: {e}")))?;
    Ok(CLIENT.get_or_init(|| client))
}
