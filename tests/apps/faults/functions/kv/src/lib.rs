//! `kv`: `{"key": k, "value": v}` stores v under k in Redis, `{"key": k}` reads it back; returns
//! `{"key": k, "value": v|null}`. Redis is at `QUILT_REDIS_ADDR`; every request opens its own
//! connection with a 1 s timeout, so a stopped Redis gives a prompt error (naming Redis and the
//! address) and a restarted one serves again.

use quilt_sdk::Error;
use serde::{Deserialize, Serialize};
use std::time::Duration;

#[derive(Deserialize, Serialize)]
struct Request {
    key: String,
    #[serde(default)]
    value: Option<String>,
}

fn kv(req: Request) -> Result<Request, Error> {
    let addr = std::env::var("QUILT_REDIS_ADDR")
        .map_err(|_| Error::msg("QUILT_REDIS_ADDR is not set"))?;
    let redis_err = |e: redis::RedisError| Error::msg(format!("redis at {addr}: {e}"));
    let client = redis::Client::open(format!("redis://{addr}/")).map_err(redis_err)?;
    let timeout = Duration::from_secs(1);
    let mut con = client
        .get_connection_with_timeout(timeout)
        .map_err(redis_err)?;
    con.set_read_timeout(Some(timeout)).map_err(redis_err)?;
    con.set_write_timeout(Some(timeout)).map_err(redis_err)?;
    let value: Option<String> = match &req.value {
        Some(v) => {
            redis::cmd("SET")
                .arg(&req.key)
                .arg(v)
                .query::<()>(&mut con)
                .map_err(redis_err)?;
            Some(v.clone())
        }
        None => redis::cmd("GET")
            .arg(&req.key)
            .query(&mut con)
            .map_err(redis_err)?,
    };
    Ok(Request {
        key: req.key,
        value,
    })
}

quilt_sdk::handler!(kv);
