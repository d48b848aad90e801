//! `register-user-with-id` (§3.3, population): as register-user, with the given `user_id`.

use media_lib::{register, Registration};
use quilt_sdk::Error;
use serde::Deserialize;

#[derive(Deserialize)]
struct Request {
    user_id: i64,
    #[serde(flatten)]
    user: Registration,
}

fn register_user_with_id(req: Request) -> Result<(), Error> {
    register(&req.user, req.user_id)
}

quilt_sdk::handler!(register_user_with_id);
