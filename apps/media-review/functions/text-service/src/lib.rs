//! `text-service` (§3.2): hands the review text to compose-review-upload-text.

use quilt_sdk::{invoke, Error};
use serde::de::IgnoredAny;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize)]
struct Text {
    req_id: i64,
    text: String,
}

fn text_service(req: Text) -> Result<(), Error> {
    invoke::<_, IgnoredAny>("compose-review-upload-text", &req)?;
    Ok(())
}

quilt_sdk::handler!(text_service);
