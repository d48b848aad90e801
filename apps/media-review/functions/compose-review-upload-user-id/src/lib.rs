//! `compose-review-upload-user-id` (§3.2): stores the `user_id` component of review `req_id` in memcached and
//! counts it; the fifth component to arrive triggers compose-and-upload. Fake database: 2 ms, no
//! trigger.

use media_lib::{upload_component, ReqId, NUM_COMPONENTS};
use quilt_apps_common::{fake_sleep, fakedb};
use quilt_sdk::{invoke, Error};
use serde::de::IgnoredAny;
use serde::Deserialize;

#[derive(Deserialize)]
struct Request {
    req_id: i64,
    user_id: i64,
}

fn compose_review_upload_user_id(req: Request) -> Result<(), Error> {
    if fakedb() {
        // The reference's fake database never triggers compose-and-upload here (§5.5).
        fake_sleep(2);
        return Ok(());
    }
    let count = upload_component(req.req_id, "user_id", &req.user_id.to_string())?;
    if count == NUM_COMPONENTS {
        invoke::<_, IgnoredAny>("compose-and-upload", &ReqId { req_id: req.req_id })?;
    }
    Ok(())
}

quilt_sdk::handler!(compose_review_upload_user_id);
