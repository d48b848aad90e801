//! `compose-review-upload-text` (§3.2): stores the `text` component of review `req_id` in memcached and
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
    text: String,
}

fn compose_review_upload_text(req: Request) -> Result<(), Error> {
    if fakedb() {
        // The reference's fake database never triggers compose-and-upload here (§5.5).
        fake_sleep(2);
        return Ok(());
    }
    let count = upload_component(req.req_id, "text", &req.text)?;
    if count == NUM_COMPONENTS {
        invoke::<_, IgnoredAny>("compose-and-upload", &ReqId { req_id: req.req_id })?;
    }
    Ok(())
}

quilt_sdk::handler!(compose_review_upload_text);
