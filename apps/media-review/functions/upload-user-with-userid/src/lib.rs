//! `upload-user-with-userid` (§3.2): hands a known user id to compose-review-upload-user-id.

use quilt_sdk::{invoke, Error};
use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct User {
    user_id: i64,
    req_id: i64,
}

fn upload_user_with_userid(req: User) -> Result<(), Error> {
    invoke::<_, IgnoredAny>("compose-review-upload-user-id", &req)?;
    Ok(())
}

quilt_sdk::handler!(upload_user_with_userid);
