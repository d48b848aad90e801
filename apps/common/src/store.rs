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
    // One pooled connection per concurrent request of the instance, not the crate's default of one.
    let client = memcache::Client::builder()
        .add_server(url)
        .and_then(|b| b.with_max_pool_size(64).build())
        .map_err(|e| Error::msg(format!("memcached: {e}")))?;
    Ok(CLIENT.get_or_init(|| client))
}

/// Every key matching `pattern` (a full `SCAN 0 MATCH pattern` iteration; order is Redis's).
pub fn scan(c: &mut redis::Connection, pattern: &str) -> redis::RedisResult<Vec<String>> {
    let mut keys = Vec::new();
    let mut cursor: u64 = 0;
    loop {
        let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(1000)
            .query(c)?;
        keys.extend(batch);
        if next == 0 {
            return Ok(keys);
        }
        cursor = next;
    }
}

fn mc_err(e: memcache::MemcacheError) -> Error {
    Error::msg(format!("memcached: {e}"))
}

/// memcached GET of a text value.
pub fn mc_get(key: &str) -> Result<Option<String>, Error> {
    memcached()?.get(key).map_err(mc_err)
}

/// memcached multi-key GET of text values; absent keys are absent from the map.
pub fn mc_gets(keys: &[&str]) -> Result<std::collections::HashMap<String, String>, Error> {
    if keys.is_empty() {
        return Ok(Default::default());
    }
    memcached()?.gets(keys).map_err(mc_err)
}

/// memcached SET with expiry 0 (never).
pub fn mc_set(key: &str, value: &str) -> Result<(), Error> {
    memcached()?.set(key, value, 0).map_err(mc_err)
}

/// memcached ADD with expiry 0: `false` when the key already existed.
pub fn mc_add(key: &str, value: &str) -> Result<bool, Error> {
    match memcached()?.add(key, value, 0) {
        Ok(()) => Ok(true),
        Err(memcache::MemcacheError::CommandError(memcache::CommandError::KeyExists)) => Ok(false),
        Err(e) => Err(mc_err(e)),
    }
}

/// memcached INCR by `amount`: the new value.
pub fn mc_incr(key: &str, amount: u64) -> Result<u64, Error> {
    memcached()?.increment(key, amount).map_err(mc_err)
}
