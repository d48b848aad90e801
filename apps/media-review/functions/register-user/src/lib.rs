//! `register-user` (§3.3, population): a new user with a unique id, stored as Redis hash
//! `user:<username>` with a salted password; an existing user is refused with
//! `User <u> already existed`.

use media_lib::{register, Registration};
use quilt_apps_common::unique_id;
use quilt_sdk::Error;

fn register_user(req: Registration) -> Result<(), Error> {
    register(&req, unique_id())
}

quilt_sdk::handler!(register_user);
