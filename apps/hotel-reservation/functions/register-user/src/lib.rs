//! `register-user` (§4.4, population): `HSET user:<username>` `username`, `password` (unsalted
//! SHA-256 hex); an existing user is refused with `User <u> already existed`.

use quilt_apps_common::{sha256_hex, store};
use quilt_sdk::Error;
use serde::Deserialize;

#[derive(Deserialize)]
struct Request {
    username: String,
    password: String,
}

fn register_user(req: Request) -> Result<(), Error> {
    let key = format!("user:{}", req.username);
    let existing: Option<String> =
        store::redis(|c| redis::cmd("HGET").arg(&key).arg("password").query(c))?;
    if existing.is_some() {
        return Err(Error::msg(format!("User {} already existed", req.username)));
    }
    store::redis(|c| {
        redis::cmd("HSET")
            .arg(&key)
            .arg("username")
            .arg(&req.username)
            .arg("password")
            .arg(sha256_hex(req.password.as_bytes()))
            .query::<()>(c)
    })
}

quilt_sdk::handler!(register_user);
