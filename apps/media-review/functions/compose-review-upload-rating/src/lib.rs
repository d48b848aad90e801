//! `compose-review-upload-rating` (§3.2): stores the `rating` component of review `req_id` in memcached and
//! counts it; the fifth component to arrive triggers compose-and-upload. Fake database: 2 ms, then
//! always compose-and-upload.

use media_lib::{upload_component, ReqId, NUM_COMPONENTS};
use quilt_apps_common::{fake_sleep, fakedb};
use quilt_sdk::{invoke, Error};
use serde::de::IgnoredAny;
use serde::Deserialize;

#[derive(Deserialize)]
struct Request {
    req_id: i64,
    rating: i32,
}

fn compose_review_upload_rating(req: Request) -> Result<(), Error> {
    if fakedb() {
        // The reference's fake database always triggers compose-and-upload here (§5.5).
        fake_sleep(2);
        invoke::<_, IgnoredAny>("compose-and-upload", &ReqId { req_id: req.req_id })?;
        return Ok(());
    }
    let count = upload_component(req.req_id, "rating", &req.rating.to_string())?;
    if count == NUM_COMPONENTS {
        invoke::<_, IgnoredAny>("compose-and-upload", &ReqId { req_id: req.req_id })?;
    }
    Ok(())
}

quilt_sdk::handler!(compose_review_upload_rating);
