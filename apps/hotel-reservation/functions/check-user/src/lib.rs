//! `check-user` (§4.2): whether the password's unsalted SHA-256 equals the one stored in Redis
//! hash `user:<username>` (a missing user: `false`). Fake database: always `true` after 2 ms.

use quilt_apps_common::{fake_sleep, fakedb, sha256_hex, store};
use quilt_sdk::Error;
use serde::Deserialize;

#[derive(Deserialize)]
struct Request {
    username: String,
    password: String,
}

fn check_user(req: Request) -> Result<bool, Error> {
    if fakedb() {
        fake_sleep(2);
        return Ok(true);
    }
    let stored: Option<String> = store::redis(|c| {
        redis::cmd("HGET")
            .arg(format!("user:{}", req.username))
            .arg("password")
            .query(c)
    })?;
    Ok(stored.is_some_and(|s| s == sha256_hex(req.password.as_bytes())))
}

quilt_sdk::handler!(check_user);
