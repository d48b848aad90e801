//! Storage connections: Redis (the reference used KeyDB, which speaks the same protocol) and
//! memcached, addressed by `QUILT_REDIS_ADDR` and `QUILT_MEMCACHED_ADDR` (`host:port`), which
//! `quilt up` sets when the app's manifest asks for `[services]`.
//!
//! Each instance thread keeps its own Redis connection and its own memcached connection, opened on
//! first use and reopened after an error: a command costs one round trip (a shared pool would
//! check each connection with a `version` round trip before every command).

use quilt_sdk::Error;
use scheduled_thread_pool::ScheduledThreadPool;
use std::cell::RefCell;
use std::sync::{Arc, OnceLock};

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
pub fn redis<T>(
    f: impl FnOnce(&mut redis::Connection) -> redis::RedisResult<T>,
) -> Result<T, Error> {
    REDIS.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            let url = format!("redis://{}/", addr("QUILT_REDIS_ADDR")?);
            let client = redis::Client::open(url).map_err(crate::err)?;
            *slot = Some(
                client
                    .get_connection()
                    .map_err(|e| Error::msg(format!("redis: {e}")))?,
            );
        }
        let result = f(slot.as_mut().unwrap());
        if result.is_err() {
            *slot = None;
        }
        result.map_err(|e| Error::msg(format!("redis: {e}")))
    })
}

thread_local! {
    static MEMCACHED: RefCell<Option<memcache::Client>> = const { RefCell::new(None) };
}

/// A memcached client over one connection, without a check before each command.
fn connect_memcached() -> Result<memcache::Client, Error> {
    // The pools of every thread share one helper thread (r2d2 would start three per pool).
    static HELPER: OnceLock<Arc<ScheduledThreadPool>> = OnceLock::new();
    let helper = HELPER.get_or_init(|| Arc::new(ScheduledThreadPool::new(1)));
    let url = format!(
        "memcache://{}?tcp_nodelay=true&timeout=10",
        addr("QUILT_MEMCACHED_ADDR")?
    );
    let url = memcache::Url::parse(&url).map_err(|e| Error::msg(format!("memcached: {e}")))?;
    let pool = r2d2::Pool::builder()
        .max_size(1)
        .test_on_check_out(false)
        .connection_timeout(std::time::Duration::from_secs(2))
        .thread_pool(Arc::clone(helper))
        .build(memcache::ConnectionManager::new(url))
        .map_err(|e| Error::msg(format!("memcached: {e}")))?;
    memcache::Client::with_pool(pool).map_err(mc_err)
}

/// Runs `f` with this thread's memcached client (connected on first use, reconnected after an
/// error).
fn memcached<T>(
    f: impl FnOnce(&memcache::Client) -> Result<T, memcache::MemcacheError>,
) -> Result<T, Error> {
    MEMCACHED.with(|cell| {
        let mut slot = cell.borrow_mut();
        if slot.is_none() {
            *slot = Some(connect_memcached()?);
        }
        let result = f(slot.as_ref().unwrap());
        if result.is_err() {
            *slot = None;
        }
        result.map_err(mc_err)
    })
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
    memcached(|c| c.get(key))
}

/// memcached multi-key GET of text values; absent keys are absent from the map.
pub fn mc_gets(keys: &[&str]) -> Result<std::collections::HashMap<String, String>, Error> {
    if keys.is_empty() {
        return Ok(Default::default());
    }
    memcached(|c| c.gets(keys))
}

/// memcached SET with expiry 0 (never).
pub fn mc_set(key: &str, value: &str) -> Result<(), Error> {
    memcached(|c| c.set(key, value, 0))
}

/// memcached ADD with expiry 0: `false` when the key already existed.
pub fn mc_add(key: &str, value: &str) -> Result<bool, Error> {
    memcached(|c| match c.add(key, value, 0) {
        Ok(()) => Ok(true),
        Err(memcache::MemcacheError::CommandError(memcache::CommandError::KeyExists)) => Ok(false),
        Err(e) => Err(e),
    })
}

/// memcached INCR by `amount`: the new value.
pub fn mc_incr(key: &str, amount: u64) -> Result<u64, Error> {
    memcached(|c| c.increment(key, amount))
}
